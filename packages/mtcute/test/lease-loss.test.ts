/**
 * Losing the lease (contract §12) under a real mtcute client (StubTelegramClient), on
 * every backend: a second process (another Storage instance of the same name) starting
 * gets LeaseHeldError naming the first; once it takes the lease by force, the first
 * client's writes reject with LeaseLostError to their caller (auth keys at once, the
 * rest at save()), the bridge logs it and calls onLost once, nothing of the first
 * lands over the second's, and a new client of the first process takes the lease anew
 * once the second gave it back.
 */
import { Long } from '@mtcute/core';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseLostError, Storage } from '@mtstore/core';
import { adapters, type Backend } from '@mtstore/test-adapters';
import { mtcuteStorage, type MtcuteStorageOptions } from '../src/index.js';
import { stubClient } from './helpers.js';

const key = (seed: number): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => (i * seed + 1) & 0xff);
const userStub = (id: number, username: string) => createStub('user', { id, accessHash: Long.fromInt(id * 3), firstName: 'U', username });

type Call = { _: string } & Record<string, unknown>;

function client(storage: Storage, options: MtcuteStorageOptions = {}): { tg: StubTelegramClient; logged: string[] } {
  const tg = stubClient(mtcuteStorage(storage, options));
  const logged: string[] = [];
  tg.log.mgr.level = 2; // errors and warnings, to the handler below
  tg.log.mgr.handler = (_color, _level, tag, fmt, args) => logged.push(`${tag} ${fmt} ${args.map(String).join(' ')}`);
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    const username = String(c.username);
    const id = Number(username.replace(/\D/g, ''));
    return { _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: id }, users: [userStub(id, username)], chats: [] };
  };
  return { tg, logged };
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`mtcute client losing its lease on ${adapter.name}`, () => {
    let backend: Backend;
    beforeEach(async () => {
      backend = await adapter.backend();
    });
    afterEach(async () => {
      await backend.dispose();
    });

    it('a forced takeover: the first client’s writes reject, logged, onLost once, the second’s data kept; a new client takes it anew', async () => {
      const lost: LeaseLostError[] = [];
      const firstStorage = backend.open('lease');
      const first = client(firstStorage, { lease: { onLost: (error) => lost.push(error) } });
      await first.tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(1) });
      await first.tg.call({ _: 'contacts.resolveUsername', username: 'user_1' });

      const refused = await Promise.resolve(mtcuteStorage(backend.open('lease')).driver.load!()).then(
        () => null,
        (error: unknown) => error as { code?: string; holder?: { owner: { label?: string; pid: number } } },
      );
      expect([refused?.code, refused?.holder?.owner.label, refused?.holder?.owner.pid]).toEqual(['MTSTORE_LEASE_HELD', 'mtcute', process.pid]);

      const second = client(backend.open('lease'), { lease: { force: true } });
      await second.tg.mt.storage.load();
      await second.tg.mt.storage.provider.authKeys.set(2, key(2));
      await second.tg.call({ _: 'contacts.resolveUsername', username: 'user_2' });

      // The first client goes on: an API result to cache, a key, the update state.
      await expect(first.tg.call({ _: 'contacts.resolveUsername', username: 'user_3' })).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
      await expect(Promise.resolve(first.tg.mt.storage.provider.authKeys.set(2, key(3)))).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
      await expect(first.tg.mt.storage.save()).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
      expect(lost).toHaveLength(1);
      expect(first.logged.some((line) => line.startsWith('mtstore') && /lease/.test(line)), first.logged.join('\n')).toBe(true);

      const probe = backend.open('lease');
      expect(Array.from((await probe.authKeys.get(2)) ?? [])).toEqual(Array.from(key(2)));
      expect(await probe.peers.getByUsername('user_3')).toBeNull();
      expect((await probe.peers.getByUsername('user_2'))?.id).toBe(2n);

      // mtcute's destroy() saves first (MtClient.disconnect) and stops at a save that rejects,
      // before it destroys the storage: the bridge's storage is still open. mtcute's
      // StorageManager.destroy() finishes it (the driver logs the refused save and closes).
      await expect(first.tg.destroy()).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
      expect(await firstStorage.load().then(() => 'open')).toBe('open');
      await first.tg.mt.storage.destroy();
      await expect(firstStorage.load()).rejects.toThrow(/closed/);
      expect(lost).toHaveLength(1);
      await second.tg.destroy();
      const again = client(backend.open('lease'));
      await again.tg.mt.storage.load();
      expect((await probe.lease.holder())?.owner.label).toBe('mtcute');
      await again.tg.mt.storage.provider.authKeys.set(2, key(4));
      expect(Array.from((await probe.authKeys.get(2)) ?? [])).toEqual(Array.from(key(4)));
      await again.tg.destroy();
      await probe.close();
    });
  });
}
