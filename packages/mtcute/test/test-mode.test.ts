/**
 * Test mode. mtcute 0.29 tells its storage nothing of it (`driver.setup` gets a logger
 * and the platform; a client that never moved writes no `dc_main`; after a migration it
 * stores the server config's options, which carry no test flag), so the session the
 * bridge kept had no `testMode` and GramJS (through @mtstore/gramjs) and `mtstore export`
 * took it for production. The bridge's `testMode` option records it; a session stored
 * for the other server set is refused at load. A real mtcute client (StubTelegramClient:
 * mtcute's stub transport, never the network) and GramJS's real TelegramClient (never
 * connected), on every adapter.
 */
import { Long } from '@mtcute/core';
import { getMe } from '@mtcute/core/methods.js';
import { readStringSession, serializeBasicDcOption, type BasicDcOption } from '@mtcute/core/utils.js';
import { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import type { Storage } from '@mtstore/core';
import { StorageSession } from '@mtstore/gramjs';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage, type MtcuteStorageOptions } from '../src/index.js';
import { backendPerTest, getMeClient, logInWhereStarted } from './helpers.js';

const SELF_ID = 7_001_234_567;
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const self = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_user' });

function client(storage: Storage, testMode: boolean, bridge: MtcuteStorageOptions = {}): StubTelegramClient {
  return getMeClient(mtcuteStorage(storage, bridge), self, { testMode });
}

/** GramJS's view of the session, through @mtstore/gramjs: home DC, address, port. */
async function gramView(storage: Storage): Promise<[number, string, number]> {
  const session = new StorageSession(storage, { lease: false });
  await session.load();
  return [session.dcId, session.serverAddress, session.port];
}

async function refusal(storage: Storage, options: MtcuteStorageOptions): Promise<(Error & { code?: string }) | null> {
  const provider = mtcuteStorage(storage, options);
  const error = await Promise.resolve(provider.driver.load!()).then(
    () => null,
    (e: unknown) => e as Error & { code?: string },
  );
  await provider.driver.destroy!();
  return error;
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`mtcute test mode on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'test-mode');

    it('a test-mode client that logged in on its default DC 2 without moving is stored as a test session: GramJS reads the test DC', async () => {
      await logInWhereStarted(client(open(), true, { testMode: true }), AUTH_KEY);
      const stored = await open().load();
      expect(stored?.dcs.find((dc) => dc.id === 2 && dc.mediaOnly !== true)).toMatchObject({ id: 2, testMode: true });
      // Telegram's test DC 2 (port 80), not production 149.154.167.51:443.
      expect(await gramView(open())).toEqual([2, '149.154.167.40', 80]);

      // mtcute itself still finds no dc_main: its own default test DCs.
      const again = client(open(), true, { testMode: true });
      await again.prepare();
      expect(await again.mt.storage.dcs.fetch()).toBeNull();
      expect(readStringSession(await again.exportSession()).primaryDcs.main).toMatchObject({ id: 2, ipAddress: '149.154.167.40', testMode: true });
      await again.destroy();
    });

    it('a test-mode client that moved (options from the server config, no test flag) stores test entries and reads its own bytes back', async () => {
      // What NetworkManager.changePrimaryDc stores (storage.dcs.store): the config's dcOption
      // objects, which have no testMode. Through importSession, which stores them the same way.
      const moved: { main: BasicDcOption; media: BasicDcOption } = {
        main: { id: 1, ipAddress: '149.154.175.10', port: 443 },
        media: { id: 1, ipAddress: '149.154.175.11', port: 443, mediaOnly: true },
      };
      const first = client(open(), true, { testMode: true });
      await first.importSession({ primaryDcs: moved, authKey: AUTH_KEY });
      await getMe(first);
      await first.mt.storage.save();
      await first.destroy();

      const stored = await open().load();
      expect(stored?.homeDcId).toBe(1);
      expect(stored?.dcs.filter((dc) => dc.id === 1).map((dc) => [dc.mediaOnly === true, dc.testMode])).toEqual([
        [false, true],
        [true, true],
      ]);
      for (const round of [1, 2]) {
        const again = client(open(), true, { testMode: true });
        await again.prepare();
        const kv = again.mt.storage.provider.kv;
        expect(Array.from((await kv.get('dc_main')) ?? []), `dc_main, round ${round}`).toEqual(Array.from(serializeBasicDcOption(moved.main)));
        expect(Array.from((await kv.get('dc_media')) ?? []), `dc_media, round ${round}`).toEqual(Array.from(serializeBasicDcOption(moved.media)));
        await getMe(again);
        await again.mt.storage.save();
        await again.destroy();
      }
      expect((await open().load())?.dcs.every((dc) => dc.testMode === true)).toBe(true);
    });

    it('a session stored before the option (no flag) gets the mode at the next save', async () => {
      await logInWhereStarted(client(open(), true), AUTH_KEY);
      expect((await open().load())?.dcs.map((dc) => dc.testMode), 'the gap: no mode').toEqual([undefined]);
      const tg = client(open(), true, { testMode: true });
      await tg.prepare();
      await tg.destroy();
      expect((await open().load())?.dcs.map((dc) => dc.testMode)).toEqual([true]);
      expect(await gramView(open())).toEqual([2, '149.154.167.40', 80]);
    });

    it('a session stored for the other server set is refused at load (InvalidArgumentError), and nothing is written', async () => {
      await logInWhereStarted(client(open(), true, { testMode: true }), AUTH_KEY);
      const before = await open().load();
      const asProduction = await refusal(open(), { testMode: false });
      expect(asProduction?.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(asProduction?.message).toMatch(/test servers.*testMode: false.*testMode: true/s);
      expect(await open().load()).toEqual(before);

      const production = open('production');
      await logInWhereStarted(client(production, false, { testMode: false }), AUTH_KEY);
      expect((await open('production').load())?.dcs.map((dc) => dc.testMode)).toEqual([false]);
      const asTest = await refusal(open('production'), { testMode: true });
      expect(asTest?.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(asTest?.message).toMatch(/production servers/);

      // Without the option nothing is checked (as before it existed).
      expect(await refusal(open(), {})).toBeNull();
    });

    it('testMode must be a boolean', () => {
      expect(() => mtcuteStorage(open(), { testMode: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
    });
  });
}
