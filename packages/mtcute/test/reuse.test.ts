/**
 * A provider used again by a new client after its first client was destroyed, as
 * mtcute's own storages allow (they open their database again on the next load), on
 * every adapter: with closeOnDestroy (the default) the storage is closed for good, and
 * the new client's start says so and what to do, as a StorageClosedError; with
 * closeOnDestroy: false the new client works on the same session.
 */
import { Long } from '@mtcute/core';
import { getMe } from '@mtcute/core/methods.js';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage, type MtcuteStorage } from '../src/index.js';
import { backendPerTest, loadProvider, stubClient } from './helpers.js';

const SELF_ID = 7_001_234_567;
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const DC2 = { main: { id: 2, ipAddress: '149.154.167.50', port: 443 }, media: { id: 2, ipAddress: '149.154.167.222', port: 443, mediaOnly: true } };

type Call = { _: string } & Record<string, unknown>;

function client(provider: MtcuteStorage): StubTelegramClient {
  const tg = stubClient(provider);
  tg.log.mgr.level = 0;
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    if (c._ === 'users.getUsers') return [createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), username: 'me_user' })];
    throw new Error(`unexpected API call ${c._}`);
  };
  return tg;
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`a provider used by a second client on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'reuse');

    it('after closeOnDestroy closed its storage: the start fails StorageClosedError naming closeOnDestroy', async () => {
      const provider = mtcuteStorage(open());
      const first = client(provider);
      await first.importSession({ primaryDcs: DC2, authKey: AUTH_KEY });
      await first.destroy();
      // What a second client's start does first (mtcute's StorageManager: setup, then load);
      // through a client, mtcute leaves its own copies of the rejection unhandled.
      const error = await loadProvider(provider).then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code).toBe('MTSTORE_STORAGE_CLOSED');
      expect(error?.message).toContain('closeOnDestroy');
      expect(error?.message).toContain('new provider');
    });

    it('with closeOnDestroy: false: the second client starts on the same session', async () => {
      const storage = open();
      const provider = mtcuteStorage(storage, { closeOnDestroy: false });
      const first = client(provider);
      await first.importSession({ primaryDcs: DC2, authKey: AUTH_KEY });
      await getMe(first);
      await first.destroy();
      const second = client(provider);
      await second.prepare();
      expect(await second.storage.self.fetch()).toMatchObject({ userId: SELF_ID, usernames: ['me_user'] });
      expect(Array.from((await second.mt.storage.provider.authKeys.get(2)) ?? [])).toEqual(Array.from(AUTH_KEY));
      await second.destroy();
      expect(storage.lease.held).toBeNull();
    });
  });
}
