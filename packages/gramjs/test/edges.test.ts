/**
 * Values at the edges, as GramJS hands them to its session, on every backend: the
 * logged-in user seen before any snapshot exists, access hashes at the ends of the
 * int64 range, usernames in another case, phone numbers, min channels, every DC id a
 * client uses, an auth key of the wrong length, a home DC stored without its address,
 * logout then a new login on the same session object. Each case is a restart away from what it checks: a new Storage
 * instance and session read back what the first one wrote.
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Api, helpers } from 'telegram';
import { authKey } from '@mtstore/conformance/vitest';
import type { Storage } from '@mtstore/core';
import { StorageSession } from '../src/index.js';
import { backends, type Backend } from './backends.js';
import { channel, gramKey, offlineClient, user } from './client.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

for (const factory of backends) {
  const backend = await factory.create();
  describe.skipIf(backend === null)(`StorageSession edges on ${factory.name}`, () => {
    const live = backend as Backend;
    let names = 0;
    let name: string;
    const errors: [unknown, string][] = [];

    async function restart(): Promise<{ session: StorageSession; storage: Storage }> {
      const storage = await live.open(name);
      const session = new StorageSession(storage, { onError: (error, operation) => errors.push([error, operation]), lease: false });
      await session.load();
      return { session, storage };
    }

    beforeEach(() => {
      name = `gramjs-edges-${process.pid}-${++names}`;
      errors.length = 0;
    });
    afterEach(() => {
      expect(errors.map(([error, operation]) => `${operation}: ${String(error)}`)).toEqual([]);
    });
    afterAll(() => live.dispose());

    it('keeps the logged-in user seen before any snapshot and stores it with the snapshot setDC creates', async () => {
      const first = await restart();
      // A session built by hand (or logged in again after delete()): GramJS caches the
      // user of getMe / signIn results before the first setDC.
      first.session.processEntities([user({ id: 4242, username: 'early_me', self: true, bot: true })]);
      first.session.setDC(4, '149.154.167.91', 443);
      first.session.setAuthKey(await gramKey(authKey(4)));
      await first.session.save();
      const { storage } = await restart();
      expect((await storage.load())?.user).toEqual({ id: 4242n, dcId: 4, bot: true, usernames: ['early_me'] });
    });

    it('writes the logged-in user seen before load() into the snapshot that load() finds', async () => {
      const writer = await restart();
      writer.session.setDC(2, '149.154.167.51', 443);
      await writer.session.save();
      const storage = await live.open(name);
      const session = new StorageSession(storage, { onError: (error, operation) => errors.push([error, operation]), lease: false });
      session.processEntities([user({ id: 4343, username: 'me_before_load', self: true })]);
      await session.load();
      await session.save();
      expect((await storage.load())?.user).toEqual({ id: 4343n, dcId: 2, bot: false, usernames: ['me_before_load'] });
    });

    it('writes the logged-in user seen while a load() that finds a snapshot is reading', async () => {
      const writer = await restart();
      writer.session.setDC(3, '149.154.175.100', 443);
      await writer.session.save();
      const storage = await live.open(name);
      const session = new StorageSession(storage, { onError: (error, operation) => errors.push([error, operation]), lease: false });
      const loading = session.load();
      session.processEntities([user({ id: 4545, username: 'me_during_load', self: true })]);
      await loading;
      await session.save();
      expect((await storage.load())?.user).toEqual({ id: 4545n, dcId: 3, bot: false, usernames: ['me_during_load'] });
    });

    it('keeps a self user held through a load() that finds no snapshot', async () => {
      const { session, storage } = await restart();
      session.processEntities([user({ id: 4444, self: true })]);
      await session.load();
      session.setDC(1, '149.154.175.53', 443);
      await session.save();
      expect((await storage.load())?.user).toMatchObject({ id: 4444n, dcId: 1 });
    });

    it('access hashes at both ends of int64 and the largest ids come back exactly', async () => {
      const first = await restart();
      first.session.setDC(2, '149.154.167.51', 443);
      const bigChannel = 999_999_999_999n;
      first.session.processEntities([
        user({ id: 1, accessHash: INT64_MIN, username: 'min_hash' }),
        user({ id: 0xff_ffff_ffffn, accessHash: INT64_MAX, username: 'max_hash' }),
        user({ id: 77, accessHash: -1n, username: 'minus_one' }),
        new Api.Channel({ id: helpers.returnBigInt(bigChannel), accessHash: helpers.returnBigInt(INT64_MIN + 1n), title: 'big', photo: new Api.ChatPhotoEmpty(), date: 1_700_000_000 }),
      ]);
      await first.session.save();
      const { session } = await restart();
      const hashOf = (key: string): string => String((session.getInputEntity(key) as Api.InputPeerUser | Api.InputPeerChannel).accessHash);
      expect(hashOf('min_hash')).toBe(String(INT64_MIN));
      expect(hashOf('max_hash')).toBe(String(INT64_MAX));
      expect(hashOf('minus_one')).toBe('-1');
      expect(String((session.getInputEntity(0xff_ffff_ffff) as Api.InputPeerUser).userId)).toBe(String(0xff_ffff_ffffn));
      expect(hashOf(`-100${bigChannel}`)).toBe(String(INT64_MIN + 1n));
      // The client resolves the same way GramJS's own lookup does, through the session.
      const client = offlineClient(session);
      expect(String(((await client.getInputEntity('MAX_HASH')) as Api.InputPeerUser).accessHash)).toBe(String(INT64_MAX));
    });

    it('usernames resolve in any case and as t.me links; a username moving to another peer in another case moves', async () => {
      const first = await restart();
      first.session.setDC(2, '149.154.167.51', 443);
      first.session.processEntities([user({ id: 10, username: 'MiXeD_Case' })]);
      first.session.processEntities([user({ id: 11, username: 'mixed_CASE' })]); // now 11's
      await first.session.save();
      const { session, storage } = await restart();
      for (const key of ['mixed_case', '@MIXED_CASE', 'https://t.me/Mixed_Case', 't.me/mixed_case']) {
        expect(String((session.getInputEntity(key) as Api.InputPeerUser).userId), key).toBe('11');
      }
      expect((await storage.peers.getById('user', 10n))?.usernames).toEqual([]);
    });

    it('phone numbers resolve by +digits after a restart, and a phone moving to another user moves', async () => {
      const first = await restart();
      first.session.setDC(2, '149.154.167.51', 443);
      first.session.processEntities([user({ id: 20, phone: '15550002020' }), user({ id: 21, phone: '88800021' })]);
      first.session.processEntities([user({ id: 22, phone: '88800021' })]);
      await first.session.save();
      const { session } = await restart();
      expect(String((session.getInputEntity('+15550002020') as Api.InputPeerUser).userId)).toBe('20');
      expect(String((session.getInputEntity('+88800021') as Api.InputPeerUser).userId)).toBe('22');
    });

    it('a min channel (or user) never replaces the access hash of the full one, in memory or stored', async () => {
      const first = await restart();
      first.session.setDC(2, '149.154.167.51', 443);
      first.session.processEntities([channel(5_000_000_001n, 'full_channel'), user({ id: 31, username: 'full_user' })]);
      const minChannel = new Api.Channel({
        id: helpers.returnBigInt(5_000_000_001n),
        accessHash: helpers.returnBigInt(123n),
        min: true,
        title: 'min',
        username: 'min_name',
        photo: new Api.ChatPhotoEmpty(),
        date: 1_700_000_000,
      });
      first.session.processEntities([minChannel, user({ id: 31, accessHash: 999n, min: true, username: 'min_user' })]);
      const expectFull = (session: StorageSession): void => {
        expect(String((session.getInputEntity('full_channel') as Api.InputPeerChannel).accessHash)).toBe(String(5_000_000_001n * 11n + 5n));
        expect(String((session.getInputEntity('full_user') as Api.InputPeerUser).accessHash)).toBe(String(31n * 7n + 3n));
        expect(() => session.getInputEntity('min_name')).toThrow(/Could not find/);
      };
      expectFull(first.session);
      await first.session.save();
      expectFull((await restart()).session);
    });

    it('every DC id a client uses (1-5, test DCs, a media DC beside the main one) keeps its key and address', async () => {
      const first = await restart();
      for (const dc of [1, 2, 3, 4, 5]) {
        first.session.setDC(dc, `149.154.167.${dc}`, 443);
        first.session.setAuthKey(await gramKey(authKey(dc)));
      }
      // What other clients store as separate DC ids (Telegram Desktop's test DCs are 10000 + id):
      // beyond mtstore's range, refused before anything changes.
      expect(() => first.session.setDC(10_002, '149.154.167.40', 443)).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
      first.session.setAuthKey(await gramKey(authKey(100)), 1000);
      await first.session.save();
      const { session, storage } = await restart();
      expect([session.dcId, session.serverAddress]).toEqual([5, '149.154.167.5']);
      for (const dc of [1, 2, 3, 4, 5, 1000]) expect(session.getAuthKey(dc)?.getKey(), `DC ${dc}`).toEqual(Buffer.from(authKey(dc === 1000 ? 100 : dc)));
      // A media-only entry another client (mtcute) stored for DC 2 beside its main one: not GramJS's key.
      const snapshot = await storage.load();
      await storage.save({ ...snapshot!, dcs: [...snapshot!.dcs, { id: 2, ipv4: '149.154.167.222', port: 443, mediaOnly: true, authKey: authKey(50) }] });
      const again = await restart();
      expect(again.session.getAuthKey(2)?.getKey()).toEqual(Buffer.from(authKey(2)));
      again.session.setAuthKey(await gramKey(authKey(52)), 2);
      await again.session.save();
      const entries = await storage.authKeys.entries();
      expect(entries.filter((e) => e.dcId === 2).map((e) => [e.mediaOnly, Buffer.from(e.authKey!).equals(Buffer.from(authKey(e.mediaOnly ? 50 : 52)))])).toEqual([
        [false, true],
        [true, true],
      ]);
    });

    it('an auth key of the wrong length is refused with InvalidArgumentError at setAuthKey, changing nothing, and never shown', async () => {
      const { session, storage } = await restart();
      session.setDC(2, '149.154.167.51', 443);
      const good = await gramKey(authKey(2));
      session.setAuthKey(good);
      await session.save();
      for (const length of [0, 255, 257]) {
        const bytes = Buffer.alloc(length, 0xab);
        const bad = await gramKey(bytes);
        let thrown: unknown;
        try {
          session.setAuthKey(bad);
        } catch (error) {
          thrown = error;
        }
        expect((thrown as { code?: string } | undefined)?.code, `${length} bytes`).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(String(thrown)).not.toMatch(/abab/i);
        expect(session.authKey, 'memory unchanged').toBe(good);
      }
      await session.save();
      expect(Buffer.from((await storage.authKeys.get(2)) as Uint8Array)).toEqual(Buffer.from(authKey(2)));
    });

    it("a home DC stored without its address (a Pyrogram import) keeps the client on that DC with its key: Telegram's well-known address, nothing rewritten", async () => {
      for (const testMode of [false, true]) {
        name = `gramjs-edges-${process.pid}-${++names}`;
        // What `mtstore import` stores for a Pyrogram session: the DC id and key, no address.
        const storage = await live.open(name);
        const home = testMode ? { id: 2, testMode: true, authKey: authKey(22) } : { id: 2, authKey: authKey(2) };
        await storage.save({ version: 1, homeDcId: 2, dcs: [home], channels: [], user: { id: 77n, dcId: 2, bot: false } });
        const before = await storage.load();
        const session = new StorageSession(await live.open(name), { onError: (error, operation) => errors.push([error, operation]), lease: false });
        const client = offlineClient(session);
        // GramJS's start-up (load(), then setDC(4, …) when it finds no serverAddress); the offline socket stops it there.
        expect(await client.connect()).toBe(false);
        expect([session.dcId, session.serverAddress, session.port], `testMode ${testMode}`).toEqual(testMode ? [2, '149.154.167.40', 80] : [2, '149.154.167.51', 443]);
        expect(session.getAuthKey()?.getKey()).toEqual(Buffer.from(home.authKey));
        await client.destroy();
        await session.save();
        expect(await storage.load(), 'the stored session is left as it was').toEqual(before);
      }
    });

    it('delete() (logout) then a new login on the same session object stores the new DC, key and self user', async () => {
      const first = await restart();
      first.session.setDC(2, '149.154.167.51', 443);
      first.session.setAuthKey(await gramKey(authKey(2)));
      first.session.processEntities([user({ id: 51, self: true, username: 'old_me' }), user({ id: 52, username: 'old_contact' })]);
      await first.session.delete();
      // A client logging in again without a restart: self arrives with the sign-in
      // result, before or after GramJS sets the DC again.
      first.session.processEntities([user({ id: 61, self: true, username: 'new_me' })]);
      first.session.setDC(4, '149.154.167.91', 443);
      first.session.setAuthKey(await gramKey(authKey(4)));
      await first.session.save();
      const { session, storage } = await restart();
      const stored = await storage.load();
      expect([stored?.homeDcId, stored?.user?.id, stored?.user?.dcId]).toEqual([4, 61n, 4]);
      expect(await storage.authKeys.get(2)).toBeNull();
      expect(() => session.getInputEntity('old_contact')).toThrow(/Could not find/);
      expect(session.authKey?.getKey()).toEqual(Buffer.from(authKey(4)));
      expect(inspect(session)).not.toMatch(/[0-9a-f]{32}/i);
    });
  });
}
