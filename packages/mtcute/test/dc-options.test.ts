/**
 * mtcute's primary DC options read back exactly as mtcute wrote them (or did not write
 * them), through a StubTelegramClient (a real mtcute client over mtcute's stub
 * transport, never the network) on every adapter:
 * - a client that never migrated writes no `dc_main`: after a restart it must find
 *   none either and use its own default DCs (test mode, address and port included),
 *   not Telegram's well-known production address of the home DC;
 * - `dc_main` / `dc_media` bytes whose flags the typed entry cannot hold (a media
 *   option without `mediaOnly`, a main option with it, an IPv6 flag on an IPv4
 *   literal) come back as written; what other clients see is the typed entry.
 */
import { Long } from '@mtcute/core';
import { getMe } from '@mtcute/core/methods.js';
import { readStringSession, serializeBasicDcOption, type BasicDcOption } from '@mtcute/core/utils.js';
import { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import type { Storage } from '@mtstore/core';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { backendPerTest, getMeClient, logInWhereStarted } from './helpers.js';

const SELF_ID = 7_001_234_567;
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const self = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_user' });

type Dcs = { main: BasicDcOption; media: BasicDcOption };

/** A StubTelegramClient on the bridge over `storage`; the "server" answers getMe. */
function client(storage: Storage, options: { testMode?: boolean; defaultDcs?: Dcs } = {}): StubTelegramClient {
  return getMeClient(mtcuteStorage(storage), self, options);
}

const bytes = (option: BasicDcOption): number[] => Array.from(serializeBasicDcOption(option));
const read = async (tg: StubTelegramClient, key: string): Promise<number[] | null> => {
  const value = await tg.mt.storage.provider.kv.get(key);
  return value === null ? null : Array.from(value);
};

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`mtcute's DC options on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'dcs');

    it('a test-mode client that never migrated (its own test DC 1 as default) finds no dc_main after a restart: its test DC, not production DC 1', async () => {
      const testDc1: Dcs = {
        main: { id: 1, ipAddress: '149.154.175.10', port: 80, testMode: true },
        media: { id: 1, ipAddress: '149.154.175.10', port: 80, testMode: true, mediaOnly: true },
      };
      await logInWhereStarted(client(open(), { testMode: true, defaultDcs: testDc1 }), AUTH_KEY);
      expect(await open().load()).toMatchObject({ homeDcId: 1, user: { id: BigInt(SELF_ID), dcId: 1 } });

      const again = client(open(), { testMode: true, defaultDcs: testDc1 });
      await again.prepare();
      expect(await again.mt.storage.dcs.fetch(), 'mtcute wrote no dc_main').toBeNull();
      const exported = readStringSession(await again.exportSession());
      expect(exported.primaryDcs.main).toMatchObject({ id: 1, ipAddress: '149.154.175.10', port: 80, testMode: true });
      expect(Array.from(exported.authKey)).toEqual(Array.from(AUTH_KEY));
      await again.destroy();

      // A second restart, and one after a logout and a new login where it started, read the same.
      const third = client(open(), { testMode: true, defaultDcs: testDc1 });
      await third.prepare();
      expect(await third.mt.storage.dcs.fetch()).toBeNull();
      await third.mt.storage.clear(true);
      await third.destroy();
      await logInWhereStarted(client(open(), { testMode: true, defaultDcs: testDc1 }), AUTH_KEY);
      const fourth = client(open(), { testMode: true, defaultDcs: testDc1 });
      await fourth.prepare();
      expect(await fourth.mt.storage.dcs.fetch(), 'after a new login').toBeNull();
      expect(readStringSession(await fourth.exportSession()).primaryDcs.main).toMatchObject({ id: 1, port: 80, testMode: true });
      await fourth.destroy();
    });

    it('a test-mode client on its default test DC 2 finds no dc_main after a restart and exports its test DC', async () => {
      await logInWhereStarted(client(open(), { testMode: true }), AUTH_KEY);
      const again = client(open(), { testMode: true });
      await again.prepare();
      expect(await again.mt.storage.dcs.fetch()).toBeNull();
      expect(readStringSession(await again.exportSession()).primaryDcs.main).toMatchObject({ id: 2, ipAddress: '149.154.167.40', testMode: true });
      await again.destroy();
    });

    it('a session imported from a Pyrogram-like entry (key, no address, not written by mtcute) still gets the DC\'s well-known address', async () => {
      const storage = open();
      await storage.save({ version: 1, homeDcId: 4, dcs: [{ id: 4, authKey: AUTH_KEY }], channels: [] });
      const tg = client(open());
      await tg.prepare();
      expect(await tg.mt.storage.dcs.fetch()).toMatchObject({ main: { id: 4, ipAddress: '149.154.167.91', port: 443 } });
      await tg.destroy();
    });

    const flagCases: [string, Dcs][] = [
      ['a media option without mediaOnly', { main: { id: 2, ipAddress: '149.154.167.50', port: 443 }, media: { id: 2, ipAddress: '149.154.167.222', port: 443 } }],
      ['a main option with mediaOnly', { main: { id: 2, ipAddress: '149.154.167.50', port: 443, mediaOnly: true }, media: { id: 2, ipAddress: '149.154.167.222', port: 443, mediaOnly: true } }],
      ['test-mode options whose media lacks both flags', { main: { id: 2, ipAddress: '149.154.167.40', port: 443, testMode: true }, media: { id: 2, ipAddress: '149.154.167.41', port: 443, testMode: true } }],
      ['an IPv4 literal flagged ipv6', { main: { id: 4, ipAddress: '149.154.167.91', port: 443, ipv6: true }, media: { id: 4, ipAddress: '149.154.164.250', port: 443, ipv6: true, mediaOnly: true } }],
    ];
    for (const [what, dcs] of flagCases) {
      it(`${what}: dc_main and dc_media come back as the bytes mtcute wrote, through restarts and saves`, async () => {
        const first = client(open(), { testMode: dcs.main.testMode === true });
        await first.importSession({ primaryDcs: dcs, authKey: AUTH_KEY });
        await getMe(first);
        await first.mt.storage.save();
        await first.destroy();

        for (const round of [1, 2]) {
          const again = client(open(), { testMode: dcs.main.testMode === true });
          await again.prepare();
          expect(await read(again, 'dc_main'), `dc_main, round ${round}`).toEqual(bytes(dcs.main));
          expect(await read(again, 'dc_media'), `dc_media, round ${round}`).toEqual(bytes(dcs.media));
          await getMe(again);
          await again.mt.storage.save();
          await again.destroy();
        }
        // Other clients see the typed entries: the home DC's main and media-only addresses.
        const stored = await open().load();
        expect(stored?.homeDcId).toBe(dcs.main.id);
        const entry = (media: boolean) => stored?.dcs.find((dc) => dc.id === dcs.main.id && (dc.mediaOnly === true) === media);
        expect(entry(false)).toMatchObject({ port: 443 });
        expect(entry(true)).toMatchObject({ port: 443, mediaOnly: true });
      });
    }

    it('an address another client gives the home DC wins over the bytes mtcute wrote before', async () => {
      const dcs: Dcs = { main: { id: 2, ipAddress: '149.154.167.50', port: 443 }, media: { id: 2, ipAddress: '149.154.167.222', port: 443 } };
      const first = client(open());
      await first.importSession({ primaryDcs: dcs, authKey: AUTH_KEY });
      await first.destroy();
      const other = open();
      await other.update({ homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }, { id: 2, ipv4: '149.154.167.223', port: 443, mediaOnly: true }] });
      const again = client(open());
      await again.prepare();
      expect(await read(again, 'dc_main')).toEqual(bytes({ id: 2, ipAddress: '149.154.167.51', port: 443 }));
      expect(await read(again, 'dc_media')).toEqual(bytes({ id: 2, ipAddress: '149.154.167.223', port: 443, mediaOnly: true }));
      await again.destroy();
    });
  });
}
