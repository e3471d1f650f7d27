/**
 * The logged-in user as mtcute's own code keeps it, through a StubTelegramClient (a
 * real mtcute client over mtcute's stub transport, never the network) on every
 * adapter. mtcute's `setMyUsername(null)` leaves `''` in the user's usernames (its
 * CurrentUserService sets `usernames[0] = ''`); a user with that name could not be
 * typed, so the whole `update()` it went in failed: the stored user kept the old
 * username for every client (and for mtcute after a restart), and a DC migration saved
 * later — mtcute rewrites the user with every home DC change — was lost with it.
 */
import { Long } from '@mtcute/core';
import { getMe, setMyUsername } from '@mtcute/core/methods.js';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import type { Storage } from '@mtstore/core';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { backendPerTest, stubClient } from './helpers.js';

const SELF_ID = 7_001_234_567;
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const named = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_user' });
const unnamed = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me' });
const DC2 = { main: { id: 2, ipAddress: '149.154.167.50', port: 443 }, media: { id: 2, ipAddress: '149.154.167.222', port: 443, mediaOnly: true } };
const DC4 = { main: { id: 4, ipAddress: '149.154.167.91', port: 443 }, media: { id: 4, ipAddress: '149.154.164.250', port: 443, mediaOnly: true } };

type Call = { _: string } & Record<string, unknown>;

/** A StubTelegramClient on the bridge over `storage`; the "server" answers getMe and the username change. */
function client(storage: Storage): StubTelegramClient {
  const tg = stubClient(mtcuteStorage(storage, { lease: false }));
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    if (c._ === 'users.getUsers') return [named];
    if (c._ === 'account.updateUsername') return unnamed;
    throw new Error(`unexpected API call ${c._}`);
  };
  return tg;
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`the logged-in user of a StubTelegramClient on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'self');

    it('setMyUsername(null) is stored as no username, and a DC migration saved after it is stored too', async () => {
      const first = client(open());
      await first.importSession({ primaryDcs: DC2, authKey: AUTH_KEY });
      await getMe(first);
      expect((await open().load())?.user?.usernames).toEqual(['me_user']);

      await setMyUsername(first, null);
      expect(first.storage.self.getCached()?.usernames, "mtcute's own value").toEqual(['']);
      const afterRemoval = await open().load();
      expect(afterRemoval?.user).toMatchObject({ id: BigInt(SELF_ID), dcId: 2, bot: false });
      expect(afterRemoval?.user?.usernames, 'other clients see the username gone').toBeUndefined();

      // The account moved (USER_MIGRATE): mtcute's network layer stores the new home DC this way.
      await first.mt.storage.dcs.store(DC4);
      await first.mt.storage.save();
      await first.destroy();
      const stored = await open().load();
      expect(stored?.homeDcId).toBe(4);
      expect(stored?.user).toMatchObject({ id: BigInt(SELF_ID), dcId: 4 });
      expect(await open().kv.entries(), 'nothing left behind in kv').toEqual([]);

      const second = client(open());
      await second.prepare();
      expect(await second.storage.self.fetch()).toEqual({ userId: SELF_ID, isBot: false, isPremium: false, usernames: [] });
      expect((await second.mt.storage.dcs.fetch())?.main).toMatchObject(DC4.main);
      await second.destroy();
    });
  });
}
