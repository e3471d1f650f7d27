/**
 * The bridge's own behaviour on every adapter: write policy, the typed-session
 * mapping other mtstore clients read, logout paths and persistence across
 * providers. mtcute's data is made with mtcute's own writers. Adapters may return
 * bytes as any Uint8Array (a Buffer from MongoDB): compared as plain bytes.
 */
import { inspect } from 'node:util';
import { plainBytes } from '@mtstore/conformance';
import { InvalidArgumentError, type Storage } from '@mtstore/core';
import { Long } from '@mtcute/core';
import { __tlWriterMap, serializeBasicDcOption, TlBinaryWriter } from '@mtcute/core/utils.js';
import { createStub } from '@mtcute/test/stub.js';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage, type MtcuteStorage, type PeerInfo } from '../src/index.js';
import { adapters } from '@mtstore/test-adapters';
import { backendPerTest, loadProvider } from './helpers.js';

const int32 = (value: number): Uint8Array => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
};
const KEY = Uint8Array.from({ length: 256 }, (_, i) => (255 - i) & 0xff);

function peerInfo(id: number, overrides: Partial<PeerInfo> = {}): PeerInfo {
  const user = createStub('user', { id, accessHash: Long.fromInt(id * 3), firstName: `User ${id}` });
  return {
    id,
    accessHash: `${id * 3}|0`,
    isMin: false,
    usernames: [`user_${id}`],
    updated: 1_760_000_000_123,
    complete: TlBinaryWriter.serializeObject(__tlWriterMap, user),
    ...overrides,
  };
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`bridge on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'bridge');
    const provider = async (name = 'bridge'): Promise<MtcuteStorage> => {
      // These tests open several providers on one session at once on purpose: no lease.
      const p = mtcuteStorage(open(name), { closeOnDestroy: false, lease: false });
      await loadProvider(p);
      return p;
    };


    it('writes auth keys at once and everything else at save()', async () => {
      const p = await provider();
      const raw = open();
      await p.authKeys.set(2, KEY);
      expect(Array.from((await raw.authKeys.get(2)) ?? [])).toEqual(Array.from(KEY));

      p.peers.store(peerInfo(101));
      p.kv.set('salts:2', Uint8Array.of(1, 2, 3));
      p.refMessages.store(-1001183945448, -1001183945448, 5);
      // Visible through the provider, not yet stored.
      expect((await p.peers.getById(101))?.id).toBe(101);
      expect(plainBytes(await p.kv.get('salts:2'))).toEqual(Uint8Array.of(1, 2, 3));
      expect(await raw.peers.getById('user', 101n)).toBeNull();
      expect(await raw.kv.get('salts:2')).toBeNull();

      await p.driver.save?.();
      expect(await raw.peers.getById('user', 101n)).toMatchObject({ accessHash: 303n, usernames: ['user_101'], displayName: 'User 101', updatedAt: 1_760_000_000 });
      expect(plainBytes(await raw.kv.get('salts:2'))).toEqual(Uint8Array.of(1, 2, 3));
      expect(await raw.refMessages.getByPeer(-1001183945448n)).toEqual({ chatId: -1001183945448n, messageId: 5 });
    });

    it('maps access hashes, min peers, phones and times both ways', async () => {
      const p = await provider();
      const negative = peerInfo(7, { accessHash: `${Long.fromString('-2').low}|${Long.fromString('-2').high}`, phone: '4915123', isMin: true });
      p.peers.store(negative);
      p.peers.store(peerInfo(-55, { accessHash: '', usernames: [], complete: TlBinaryWriter.serializeObject(__tlWriterMap, createStub('chat', { id: 55, title: 'Group' })) }));
      await p.driver.save?.();
      const raw = open();
      expect(await raw.peers.getById('user', 7n)).toMatchObject({ accessHash: -2n, min: true, phone: '4915123' });
      expect(await raw.peers.getById('chat', 55n)).toMatchObject({ accessHash: 0n, displayName: 'Group' });

      const again = await provider();
      expect(plainBytes(await again.peers.getById(7))).toEqual({ ...negative, updated: 1_760_000_000_000 });
      expect(await again.peers.getById(-55)).toMatchObject({ id: -55, accessHash: '', isMin: false });
      // A min peer is found by id only.
      expect(await again.peers.getByPhone('4915123')).toBeNull();
      expect(await again.peers.getByUsername('user_7')).toBeNull();
    });

    it('stores the home DC, media DC and user in the typed session, merging into entries other clients wrote', async () => {
      const raw = open();
      await raw.save({
        version: 1,
        homeDcId: 2,
        dcs: [
          { id: 2, ipv4: '149.154.167.50', ipv6: '2001:67c:4e8:f002::a', port: 443 },
          { id: 1, ipv4: '149.154.175.53', port: 443 },
        ],
        channels: [],
      });
      const p = await provider();
      const main = await p.kv.get('dc_main');
      expect(main).not.toBeNull();
      // mtcute moves to DC 4 and writes its options and the logged-in user with its own writers.
      p.kv.set('dc_main', serializeBasicDcOption({ id: 4, ipAddress: '149.154.167.91', port: 443 }));
      p.kv.set('dc_media', serializeBasicDcOption({ id: 4, ipAddress: '149.154.165.120', port: 443, mediaOnly: true }));
      await p.driver.save?.();
      const session = await raw.load();
      expect(session?.homeDcId).toBe(4);
      expect(session?.dcs).toEqual(
        expect.arrayContaining([
          { id: 2, ipv4: '149.154.167.50', ipv6: '2001:67c:4e8:f002::a', port: 443 },
          { id: 1, ipv4: '149.154.175.53', port: 443 },
          { id: 4, ipv4: '149.154.167.91', port: 443 },
          { id: 4, ipv4: '149.154.165.120', port: 443, mediaOnly: true },
        ]),
      );
      // mtcute deletes dc_media when media = main: the media-only entry goes.
      p.kv.delete('dc_media');
      await p.driver.save?.();
      expect((await raw.load())?.dcs.some((dc) => dc.id === 4 && dc.mediaOnly === true)).toBe(false);
      expect(await (await provider()).kv.get('dc_media')).toBeNull();
    });

    it('keeps an update state that has no typed place yet in kv, and moves it once the session exists', async () => {
      const p = await provider();
      for (const [key, value] of [['updates_pts', 10], ['updates_qts', 2], ['updates_date', 1_700_000_000], ['updates_seq', 3]] as const) p.kv.set(key, int32(value));
      await p.driver.save?.();
      const raw = open();
      expect(await raw.load()).toBeNull();
      expect(plainBytes(await raw.kv.get('updates_pts'))).toEqual(int32(10));
      expect(plainBytes(await (await provider()).kv.get('updates_pts'))).toEqual(int32(10));

      p.kv.set('dc_main', serializeBasicDcOption({ id: 2, ipAddress: '149.154.167.50', port: 443 }));
      p.kv.set('updates_pts', int32(11));
      await p.driver.save?.();
      expect((await raw.load())?.state).toEqual({ pts: 11, qts: 2, date: 1_700_000_000, seq: 3 });
      expect(await raw.kv.get('updates_pts')).toBeNull();
      expect(await raw.kv.get('updates_qts')).toBeNull();
    });

    it('an update state set again unchanged is not written again at save', async () => {
      const storage = open();
      const p = mtcuteStorage(storage, { closeOnDestroy: false, lease: false });
      await loadProvider(p);
      p.kv.set('dc_main', serializeBasicDcOption({ id: 2, ipAddress: '149.154.167.50', port: 443 }));
      const state = (pts: number): void => {
        for (const [key, value] of [['updates_pts', pts], ['updates_qts', 2], ['updates_date', 1_700_000_000], ['updates_seq', 3]] as const) p.kv.set(key, int32(value));
        p.kv.set('updates_channel:123', int32(9));
      };
      state(10);
      await p.driver.save?.();
      const writes: string[] = [];
      for (const method of ['saveUpdateState', 'update'] as const) {
        const original = storage[method].bind(storage) as (...args: unknown[]) => Promise<void>;
        (storage as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
          writes.push(method);
          return original(...args);
        };
      }
      state(10);
      expect(p.pending).toBe(false);
      await p.driver.save?.();
      expect(writes).toEqual([]);
      state(11);
      await p.driver.save?.();
      expect(writes).toEqual(['saveUpdateState']);
      expect((await open().load())?.state).toEqual({ pts: 11, qts: 2, date: 1_700_000_000, seq: 3 });
    });

    it('under the lease, deleteByPeer of a peer without references is no write; references of earlier processes are found', async () => {
      // A reference an earlier process stored (peer -42 seen in chat -100 message 7).
      const earlier = open();
      await earlier.refMessages.store(-42n, -100n, 7);
      const run = async (lease: boolean): Promise<bigint[]> => {
        const storage = open();
        const p = mtcuteStorage(storage, { closeOnDestroy: false, lease });
        await loadProvider(p);
        const deleted: bigint[] = [];
        const repo = storage.refMessages;
        const original = repo.deleteByPeer.bind(repo);
        repo.deleteByPeer = (peerId: bigint) => {
          deleted.push(peerId);
          return original(peerId);
        };
        p.refMessages.store(77, -100, 8);
        await p.driver.save?.();
        // What PeersService does for each peer it caches.
        for (const id of [-42, 77, 101, 102, 103]) p.refMessages.deleteByPeer(id);
        await p.driver.save?.();
        expect(await p.refMessages.getByPeer(-42)).toBeNull();
        expect(await p.refMessages.getByPeer(77)).toBeNull();
        p.refMessages.store(101, -100, 9);
        p.refMessages.deleteByPeer(101);
        p.refMessages.deleteByPeer(102);
        await p.driver.save?.();
        expect(await p.refMessages.getByPeer(101)).toBeNull();
        await p.driver.destroy?.();
        return deleted.sort((a, b) => (a < b ? -1 : 1));
      };
      expect(await run(true)).toEqual([-42n, 77n, 101n]);
      await earlier.refMessages.store(-42n, -100n, 7);
      expect(await run(false), 'without the lease every deleteByPeer is written').toEqual([-42n, 77n, 101n, 101n, 102n, 102n, 103n]);
    });

    it('kv.deleteAll (logout) removes user, state, channels and kv entries but keeps keys and DCs', async () => {
      const p = await provider();
      await p.authKeys.set(2, KEY);
      p.kv.set('dc_main', serializeBasicDcOption({ id: 2, ipAddress: '149.154.167.50', port: 443 }));
      p.kv.set('current_user', Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0));
      for (const key of ['updates_pts', 'updates_qts', 'updates_date', 'updates_seq']) p.kv.set(key, int32(5));
      p.kv.set('updates_channel:123', int32(9));
      p.kv.set('salts:2', Uint8Array.of(9));
      await p.driver.save?.();
      const raw = open();
      expect(await raw.load()).toMatchObject({ user: { id: 12345n }, state: { pts: 5 }, channels: [{ id: 123n, pts: 9 }] });

      await p.kv.deleteAll();
      await p.driver.save?.();
      const session = await raw.load();
      expect(session?.user).toBeUndefined();
      expect(session?.state).toBeUndefined();
      expect(session?.channels).toEqual([]);
      expect(session?.homeDcId).toBe(2);
      expect(await raw.kv.entries()).toEqual([]);
      expect(Array.from((await raw.authKeys.get(2)) ?? [])).toEqual(Array.from(KEY));

      await p.authKeys.set(9, KEY);
      await p.authKeys.deleteAll();
      expect(await raw.authKeys.get(2)).toBeNull();
      expect(await raw.authKeys.get(9)).toBeNull();
    });

    it('temp keys: mtcute network layer times in milliseconds, documented times in seconds', async () => {
      const p = await provider();
      const expiresMs = 1_900_000_000_000;
      await p.authKeys.setTemp(2, 0, KEY, expiresMs);
      expect((await open().authKeys.getTemp(2, 0))?.expiresAt).toBe(1_900_000_000);
      expect(await p.authKeys.getTemp(2, 0, 1_899_999_999_000)).not.toBeNull();
      expect(await p.authKeys.getTemp(2, 0, 1_900_000_000_000)).toBeNull();
      expect(await p.authKeys.getTemp(2, 0, 1_899_999_999)).not.toBeNull();
    });

    it('never shows key bytes in util.inspect', async () => {
      const p = await provider();
      await p.authKeys.set(2, KEY);
      expect(inspect(p, { depth: 5 })).not.toContain('255, 254, 253');
    });
  });
}

describe('peers mtstore cannot hold', () => {
  it('are not cached, and never fail a save', async () => {
    const backend = await adapters[0]!.backend();
    const storage = backend.open('limits');
    const p = mtcuteStorage(storage);
    await loadProvider(p);
    p.peers.store(peerInfo(2 ** 41)); // above the marked user range
    p.peers.store(peerInfo(12, { complete: new Uint8Array(70_000) }));
    await p.driver.save?.();
    expect(await p.peers.getById(2 ** 41)).toBeNull();
    expect(await storage.peers.getById('user', 12n)).toMatchObject({ id: 12n });
    expect((await storage.peers.getById('user', 12n))?.complete).toBeUndefined();
    await p.driver.destroy?.();
    await backend.dispose();
  });
});

describe('pending peers', () => {
  it('save() stores a peer without the usernames and phone core rejects (built unchecked, rebuilt filtered only after core rejected the batch)', async () => {
    const backend = await adapters[0]!.backend();
    const storage = backend.open('filter');
    const upserts: number[] = [];
    const upsert = storage.peers.upsert.bind(storage.peers);
    storage.peers.upsert = async (peers) => {
      upserts.push(peers.length);
      return upsert(peers);
    };
    const p = mtcuteStorage(storage, { lease: false });
    await loadProvider(p);
    p.peers.store(peerInfo(31));
    p.peers.store(peerInfo(32, { usernames: ['good_name', '@bad', 'with space'], phone: '+4915123' }));
    p.peers.store(peerInfo(33, { phone: '4915124' }));
    await p.driver.save?.();
    expect(upserts).toEqual([3, 3]);
    expect(await storage.peers.getById('user', 32n)).toMatchObject({ usernames: ['good_name'], displayName: 'User 32' });
    expect(await storage.peers.getById('user', 32n).then((peer) => peer?.phone)).toBeUndefined();
    expect(await storage.peers.getByPhone('4915124')).toMatchObject({ id: 33n });
    expect(await storage.peers.getById('user', 31n)).toMatchObject({ usernames: ['user_31'] });
    // A valid batch is one upsert; an empty phone (mtcute's for a hidden one) is none, without a second upsert.
    p.peers.store(peerInfo(34, { phone: '' }));
    await p.driver.save?.();
    expect(upserts).toEqual([3, 3, 1]);
    expect(await storage.peers.getById('user', 34n).then((peer) => peer?.phone)).toBeUndefined();
    // A name given twice (which core rejects) is kept once: the save goes through.
    p.peers.store(peerInfo(35, { usernames: ['twice', 'TWICE'] }));
    await p.driver.save?.();
    expect(upserts).toEqual([3, 3, 1, 1, 1]);
    expect(p.peers.pending).toBe(false);
    expect(await storage.peers.getById('user', 35n)).toMatchObject({ usernames: ['twice'] });
    await p.driver.destroy?.();
    await backend.dispose();
  });

  it('a peer stored again moves behind the others: the latest pending owner of a username or phone wins, before and after save()', async () => {
    const backend = await adapters[0]!.backend();
    const storage = backend.open('order');
    const p = mtcuteStorage(storage, { lease: false });
    await loadProvider(p);
    const shared = { usernames: ['shared_name'], phone: '4915555' };
    p.peers.store(peerInfo(21, shared));
    p.peers.store(peerInfo(22, shared));
    p.peers.store(peerInfo(23));
    expect((await p.peers.getByUsername('shared_name'))?.id).toBe(22);
    // 21 again, with newer data: it is now the latest store of both keys.
    p.peers.store(peerInfo(21, { ...shared, updated: 1_760_000_009_000 }));
    expect((await p.peers.getByUsername('shared_name'))?.id).toBe(21);
    expect((await p.peers.getByPhone('4915555'))?.id).toBe(21);
    expect((await p.peers.getById(21))?.updated).toBe(1_760_000_009_000);
    await p.driver.save?.();
    expect(await storage.peers.getByUsername('shared_name')).toMatchObject({ id: 21n, updatedAt: 1_760_000_009 });
    expect(await storage.peers.getByPhone('4915555')).toMatchObject({ id: 21n });
    expect(await storage.peers.getById('user', 22n)).toMatchObject({ usernames: [] });
    expect(await storage.peers.getById('user', 22n).then((peer) => peer?.phone)).toBeUndefined();
    expect(await storage.peers.getById('user', 23n)).toMatchObject({ usernames: ['user_23'] });
    await p.driver.destroy?.();
    await backend.dispose();
  });
});
