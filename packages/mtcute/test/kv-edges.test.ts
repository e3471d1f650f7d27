/**
 * What mtcute writes to its kv comes back after a restart exactly as it left it, in the
 * less common paths of the typed-session mapping (session-kv.ts, dcs.ts): an address
 * family switch, deletes, a media option of another DC, a DC option written after
 * logout, values mtstore cannot type. And a min peer stored over a full one answers
 * the same before and after save(). On every adapter; mtcute's bytes made with its
 * own writers.
 */
import { plainBytes } from '@mtstore/conformance';
import { parseBasicDcOption, serializeBasicDcOption, type BasicDcOption } from '@mtcute/core/utils.js';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage, type MtcuteStorage, type PeerInfo } from '../src/index.js';
import { adapters } from '@mtstore/test-adapters';
import { backendPerTest, loadProvider } from './helpers.js';

const int32 = (value: number): Uint8Array => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
};
const uint32 = (value: number): Uint8Array => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
};
const option = (value: BasicDcOption): Uint8Array => serializeBasicDcOption(value);
const V4 = { id: 2, ipAddress: '149.154.167.50', port: 443 };
const V6 = { id: 2, ipAddress: '2001:67c:4e8:f002::a', port: 443, ipv6: true };
const STATE = ['updates_pts', 'updates_qts', 'updates_date', 'updates_seq'];

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`mtcute kv edges on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'edges');
    /** A provider as mtcute opens one (setup, load); `restart` saves and destroys it first. */
    const provider = async (): Promise<MtcuteStorage> => {
      const p = mtcuteStorage(open(), { closeOnDestroy: false, lease: false });
      await loadProvider(p);
      return p;
    };
    const restart = async (p: MtcuteStorage): Promise<MtcuteStorage> => {
      await p.driver.save?.();
      await p.driver.destroy?.();
      return provider();
    };
    const dcOption = async (p: MtcuteStorage, key: string) => {
      const bytes = await p.kv.get(key);
      return bytes === null ? null : parseBasicDcOption(bytes);
    };

    it('a home DC that moved from IPv4 to IPv6 comes back as IPv6, an IPv4 one over IPv6 as IPv4', async () => {
      let p = await provider();
      p.kv.set('dc_main', option(V4));
      p = await restart(p);
      p.kv.set('dc_main', option(V6));
      p = await restart(p);
      expect(await dcOption(p, 'dc_main')).toMatchObject(V6);
      // Back to IPv4: the IPv6 address stays beside it for other clients, mtcute reads IPv4.
      p.kv.set('dc_main', option(V4));
      p = await restart(p);
      expect(await dcOption(p, 'dc_main')).toMatchObject({ ...V4, ipv6: false });
      expect((await open().load())?.dcs).toEqual([{ id: 2, ipv4: V4.ipAddress, ipv6: V6.ipAddress, port: 443 }]);
    });

    it('a deleted dc_main stays deleted; the home DC entry keeps no address', async () => {
      let p = await provider();
      p.kv.set('dc_main', option(V4));
      p = await restart(p);
      p.kv.delete('dc_main');
      p = await restart(p);
      expect(await p.kv.get('dc_main')).toBeNull();
      expect(await open().load()).toMatchObject({ homeDcId: 2, dcs: [{ id: 2 }] });
    });

    it('dc_media written after logout without dc_main, and one of another DC than the home DC, come back as written', async () => {
      let p = await provider();
      p.kv.set('dc_main', option(V4));
      await p.driver.save?.();
      await p.kv.deleteAll();
      await p.driver.save?.();
      const media = option({ id: 2, ipAddress: '149.154.167.222', port: 443, mediaOnly: true });
      p.kv.set('dc_media', media);
      p = await restart(p);
      expect(plainBytes(await p.kv.get('dc_media'))).toEqual(media);
      expect(plainBytes(await p.kv.get('dc_main'))).toEqual(option(V4));

      // Media on DC 4 while home is DC 2: no typed place (entries are read back by the
      // home DC's id), so it is kept as mtcute's bytes, and the home DC's media entry goes.
      const elsewhere = option({ id: 4, ipAddress: '149.154.167.92', port: 443, mediaOnly: true });
      p.kv.set('dc_media', elsewhere);
      p = await restart(p);
      expect(plainBytes(await p.kv.get('dc_media'))).toEqual(elsewhere);
      expect((await open().load())?.dcs).toEqual([{ id: 2, ipv4: V4.ipAddress, port: 443 }]);
    });

    it('deleted update state keys stay deleted, also while they had no typed place and sat in kv', async () => {
      let p = await provider();
      // No DC known yet: kept in storage.kv under mtcute's key.
      p.kv.set('updates_pts', int32(5));
      p = await restart(p);
      expect(plainBytes(await open().kv.get('updates_pts'))).toEqual(int32(5));
      p.kv.delete('updates_pts');
      p = await restart(p);
      expect(await p.kv.get('updates_pts')).toBeNull();
      expect(await open().kv.get('updates_pts')).toBeNull();

      // A snapshot, but a partial state: pts and a channel in kv, then deleted.
      p.kv.set('dc_main', option(V4));
      p.kv.set('updates_pts', int32(7));
      p.kv.set('updates_channel:123', int32(9));
      p = await restart(p);
      expect(plainBytes(await p.kv.get('updates_channel:123'))).toEqual(int32(9));
      p.kv.delete('updates_pts');
      p.kv.delete('updates_channel:123');
      p = await restart(p);
      expect(await p.kv.get('updates_pts')).toBeNull();
      expect(await p.kv.get('updates_channel:123')).toBeNull();
    });

    it('a channel pts mtstore cannot hold (above 2^31-1) is kept as mtcute wrote it; the others are typed', async () => {
      let p = await provider();
      p.kv.set('dc_main', option(V4));
      for (const key of STATE) p.kv.set(key, int32(1));
      p.kv.set('updates_channel:123', uint32(3_000_000_000));
      p.kv.set('updates_channel:124', uint32(77));
      p = await restart(p);
      expect(plainBytes(await p.kv.get('updates_channel:123'))).toEqual(uint32(3_000_000_000));
      expect(plainBytes(await p.kv.get('updates_channel:124'))).toEqual(uint32(77));
      expect((await open().load())?.channels).toEqual([{ id: 124n, pts: 77 }]);
    });

    it('a min peer stored over a full one answers the same before and after save()', async () => {
      const p = await provider();
      const full: PeerInfo = { id: 42, accessHash: '111|0', isMin: false, usernames: ['alice'], updated: 1_760_000_000_000, complete: Uint8Array.of(1, 2, 3) };
      const min: PeerInfo = { id: 42, accessHash: '222|0', isMin: true, usernames: ['alice2'], updated: 1_760_000_005_000, complete: Uint8Array.of(9, 9) };
      p.peers.store(full);
      await p.driver.save?.();
      p.peers.store(min);
      const before = [await p.peers.getById(42), await p.peers.getByUsername('alice2'), await p.peers.getByUsername('alice')];
      await p.driver.save?.();
      const after = [await p.peers.getById(42), await p.peers.getByUsername('alice2'), await p.peers.getByUsername('alice')];
      // The full peer's access hash, min flag and TL bytes stay; its username is the min peer's.
      expect(plainBytes(after[0])).toEqual({ ...full, usernames: ['alice2'], updated: 1_760_000_005_000 });
      expect(plainBytes(before)).toEqual(plainBytes(after));
      expect(after[2]).toBeNull();
    });
  });
}
