/**
 * End to end with mtcute's client code: StubTelegramClient (@mtcute/test: a real
 * mtcute client over a stub transport, never the network) with the bridge as its
 * storage. API results are answered at the MtClient boundary, so BaseTelegramClient
 * caches their peers itself. A second client on the same backend then resolves
 * everything from storage without an API call.
 */
import { Long, type tl } from '@mtcute/core';
import { getMe, resolvePeer } from '@mtcute/core/methods.js';
import { readStringSession } from '@mtcute/core/utils.js';
import { createStub } from '@mtcute/test/stub.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { adapters, type Backend } from '@mtstore/test-adapters';
import { stubClient } from './helpers.js';

const SELF_ID = 7_001_234_567;
const ALICE_ID = 5_550_001;
const CHANNEL_ID = 1_183_945_448;
const MARKED_CHANNEL_ID = -1_001_183_945_448;
const ALICE_HASH = Long.fromString('-6917529027641081856');
const CHANNEL_HASH = Long.fromString('1234567890123456789');
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);

const self = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_user', premium: true });
const alice = createStub('user', { id: ALICE_ID, accessHash: ALICE_HASH, firstName: 'Alice', lastName: 'Liddell', username: 'alice', phone: '15550001' });
const channel = createStub('channel', { id: CHANNEL_ID, accessHash: CHANNEL_HASH, title: 'News', username: 'news_channel' });

type Call = { _: string } & Record<string, unknown>;

/** What the "server" answers; anything else is a test failure. */
function answer(call: Call): unknown {
  switch (call._) {
    case 'users.getUsers':
      return [self];
    case 'contacts.resolveUsername':
      return call.username === 'alice'
        ? { _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: ALICE_ID }, users: [alice], chats: [] }
        : { _: 'contacts.resolvedPeer', peer: { _: 'peerChannel', channelId: CHANNEL_ID }, users: [], chats: [channel] };
    default:
      throw new Error(`unexpected API call ${call._}`);
  }
}

/** A StubTelegramClient on the bridge; `calls` lists every API method the client sent. */
function client(backend: Backend) {
  const calls: string[] = [];
  const tg = stubClient(mtcuteStorage(backend.open('e2e')));
  tg.log.mgr.level = 0;
  // The network boundary: BaseTelegramClient.call still runs in full (peer caching included).
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    calls.push(c._);
    return answer(c);
  };
  return { tg, calls };
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`StubTelegramClient on the bridge over ${adapter.name}`, () => {
    let backend: Backend;
    beforeEach(async () => {
      backend = await adapter.backend();
    });
    afterEach(async () => {
      await backend.dispose();
    });

    it('a second client on the same session fails at start with LeaseHeldError naming the first, until the first is destroyed', async () => {
      const first = client(backend);
      await first.tg.mt.storage.load();
      const held = backend.open('e2e');
      expect((await held.lease.holder())?.owner).toMatchObject({ pid: process.pid, label: 'mtcute' });
      // Straight to the driver: mtcute's own load wrapper (asyncResettable) leaves a
      // failed driver.load() as an unhandled rejection besides rejecting start().
      const second = mtcuteStorage(backend.open('e2e'));
      const error = await Promise.resolve(second.driver.load!()).then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code).toBe('MTSTORE_LEASE_HELD');
      expect(error?.message).toMatch(/session "e2e" is in use by pid \d+ on host .* \("mtcute"\).*AUTH_KEY_DUPLICATED/s);
      // Opted out: no lease is taken or checked.
      const unleased = stubClient(mtcuteStorage(backend.open('e2e'), { lease: false }));
      await unleased.mt.storage.load();
      await unleased.destroy();
      await first.tg.destroy();
      expect(await held.lease.holder(), 'destroy gave the lease back').toBeNull();
      const third = client(backend);
      await third.tg.mt.storage.load();
      expect((await held.lease.holder())?.owner.label).toBe('mtcute');
      await third.tg.destroy();
      await Promise.resolve(second.driver.destroy!());
      await held.close();
    });

    it("a home DC stored without its address (a Pyrogram import) is the one mtcute starts from, at Telegram's well-known address", async () => {
      // What `mtstore import` stores for a Pyrogram session: the DC id and key, no address.
      const storage = backend.open('e2e');
      await storage.save({ version: 1, homeDcId: 4, dcs: [{ id: 4, authKey: AUTH_KEY }], channels: [], user: { id: BigInt(SELF_ID), dcId: 4, bot: true } });
      const before = await storage.load();
      const { tg, calls } = client(backend);
      await tg.prepare();
      // Not mtcute's default DC 2, where this session has no key.
      expect((await tg.mt.storage.dcs.fetch())?.main).toMatchObject({ id: 4, ipAddress: '149.154.167.91', port: 443 });
      const exported = readStringSession(await tg.exportSession());
      expect(exported.primaryDcs.main).toMatchObject({ id: 4, ipAddress: '149.154.167.91' });
      expect(Array.from(exported.authKey)).toEqual(Array.from(AUTH_KEY));
      expect(exported.self).toMatchObject({ userId: SELF_ID, isBot: true });
      await tg.mt.storage.save();
      await tg.destroy();
      expect(await storage.load(), 'the stored session is left as it was').toEqual(before);
      expect(calls).toEqual([]);
      await storage.close();
    });

    it('keeps auth key, home DC, current user, update state and peers across a restart', async () => {
      const first = client(backend);
      await first.tg.importSession({
        primaryDcs: {
          main: { id: 4, ipAddress: '149.154.167.91', port: 443 },
          media: { id: 4, ipAddress: '149.154.164.250', port: 443, mediaOnly: true },
        },
        authKey: AUTH_KEY,
      });
      await getMe(first.tg);
      const aliceInput = await resolvePeer(first.tg, 'alice');
      const channelInput = await resolvePeer(first.tg, '@news_channel');
      expect(first.calls).toEqual(['users.getUsers', 'contacts.resolveUsername', 'contacts.resolveUsername']);
      const updates = first.tg.storage.updates;
      await updates.setPts(1200);
      await updates.setQts(34);
      await updates.setDate(1_760_000_000);
      await updates.setSeq(56);
      await updates.setManyChannelPts(new Map([[CHANNEL_ID, 777]]));
      await first.tg.mt.storage.save();
      await first.tg.destroy();

      // The typed session every mtstore client sees.
      const storage = backend.open('e2e');
      const session = await storage.load();
      expect(session).toMatchObject({
        homeDcId: 4,
        user: { id: BigInt(SELF_ID), dcId: 4, bot: false, premium: true, usernames: ['me_user'] },
        state: { pts: 1200, qts: 34, date: 1_760_000_000, seq: 56 },
        channels: [{ id: BigInt(CHANNEL_ID), pts: 777 }],
      });
      expect(session?.dcs).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: 4, ipv4: '149.154.167.91', port: 443 }),
          expect.objectContaining({ id: 4, ipv4: '149.154.164.250', port: 443, mediaOnly: true }),
        ]),
      );
      expect(Array.from((await storage.authKeys.get(4)) ?? [])).toEqual(Array.from(AUTH_KEY));
      const storedAlice = await storage.peers.getByUsername('Alice');
      expect(storedAlice).toMatchObject({ type: 'user', id: BigInt(ALICE_ID), accessHash: -6917529027641081856n, phone: '15550001', displayName: 'Alice Liddell' });
      expect(await storage.peers.getById('channel', BigInt(CHANNEL_ID))).toMatchObject({ accessHash: 1234567890123456789n, usernames: ['news_channel'], displayName: 'News' });
      await storage.close();

      // A new client on the same backend: everything from storage, no API call.
      const second = client(backend);
      expect(await resolvePeer(second.tg, 'alice')).toEqual(aliceInput);
      expect(await resolvePeer(second.tg, ALICE_ID)).toEqual(aliceInput);
      expect(await resolvePeer(second.tg, MARKED_CHANNEL_ID)).toEqual(channelInput);
      expect(await resolvePeer(second.tg, 'news_channel')).toEqual(channelInput);
      const complete = (await second.tg.storage.peers.getCompleteById(ALICE_ID)) as tl.RawUser;
      expect(complete).toMatchObject({ _: 'user', firstName: 'Alice', lastName: 'Liddell' });
      expect(await second.tg.storage.self.fetch()).toEqual({ userId: SELF_ID, isBot: false, isPremium: true, usernames: ['me_user'] });
      expect(await second.tg.storage.updates.getState()).toEqual([1200, 34, 1_760_000_000, 56]);
      expect(await second.tg.storage.updates.getChannelPts(CHANNEL_ID)).toBe(777);
      const exported = readStringSession(await second.tg.exportSession());
      expect(exported.primaryDcs.main).toMatchObject({ id: 4, ipAddress: '149.154.167.91', port: 443 });
      expect(exported.primaryDcs.media).toMatchObject({ id: 4, ipAddress: '149.154.164.250', mediaOnly: true });
      expect(Array.from(exported.authKey)).toEqual(Array.from(AUTH_KEY));
      expect(second.calls).toEqual([]);
      await second.tg.destroy();
    });
  });
}
