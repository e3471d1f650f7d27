/**
 * One session, any client: a session GramJS wrote through @mtstore/gramjs opens in
 * mtcute through this bridge, and one mtcute wrote opens in GramJS — same home DC,
 * auth key and user (also one mtcute logged in on its default DC, where it stores no
 * DC option), and the peers resolve from storage without an API call. Both
 * sides are the real client libraries: GramJS's TelegramClient (npm `telegram`,
 * never connected) and mtcute's StubTelegramClient (mtcute's stub transport, its
 * API answered at the MtClient boundary). Runs on every adapter; PostgreSQL is the
 * case the issue names.
 *
 * GramJS writes peers without `complete` (TL bytes) by default
 * (`completeObjects: false`): mtcute resolves them all the same, since an input
 * peer needs only the id and access hash; only `getCompleteById` (the full User /
 * Chat object, which mtcute fetches from the API when it needs one) is null. With
 * `completeObjects: true` it is null too: GramJS 2.26 serializes TL layer 198,
 * which mtcute 0.29's reader does not know.
 */
import { Long } from '@mtcute/core';
import { getMe, resolvePeer, resolvePhoneNumber } from '@mtcute/core/methods.js';
import { readStringSession } from '@mtcute/core/utils.js';
import { createStub } from '@mtcute/test/stub.js';
import { plainBytes } from '@mtstore/conformance';
import { StorageSession } from '@mtstore/gramjs';
import { Api, helpers } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { adapters, type Backend } from '@mtstore/test-adapters';
import { gramClient } from './gram-client.js';
import { stubClient } from './helpers.js';

const SELF_ID = 7_001_234_567;
const ALICE_ID = 5_550_001;
const ALICE_HASH = -6_917_529_027_641_081_856n;
const CHAT_ID = 4242;
const CHANNEL_ID = 1_183_945_448;
const MARKED_CHANNEL_ID = -1_001_183_945_448;
const CHANNEL_HASH = 1_234_567_890_123_456_789n;
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);
const MEDIA_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 13 + 1) & 0xff);

async function gramKey(bytes: Uint8Array): Promise<AuthKey> {
  const key = new AuthKey();
  await key.setKey(Buffer.from(bytes));
  return key;
}

type Call = { _: string } & Record<string, unknown>;

/** A StubTelegramClient on the bridge whose "server" answers `answer`; `calls` lists what it sent. */
function mtcuteClient(backend: Backend, answer: (call: Call) => unknown = (call) => { throw new Error(`unexpected API call ${call._}`); }) {
  const calls: string[] = [];
  const tg = stubClient(mtcuteStorage(backend.open('shared')));
  tg.log.mgr.level = 0;
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    calls.push(c._);
    return answer(c);
  };
  return { tg, calls };
}

const inputUser = (id: number, hash: bigint) => ({ _: 'inputPeerUser', userId: id, accessHash: Long.fromString(hash.toString()) });
const inputChannel = (id: number, hash: bigint) => ({ _: 'inputPeerChannel', channelId: id, accessHash: Long.fromString(hash.toString()) });

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`one session, any client, on ${adapter.name}`, () => {
    let backend: Backend;
    beforeEach(async () => {
      backend = await adapter.backend();
    });
    afterEach(async () => {
      await backend.dispose();
    });

    it('a session GramJS wrote opens in mtcute: home DC, auth key, user, and its peers resolve without an API call', async () => {
      const gram = new StorageSession(backend.open('shared'), { onError: (error) => { throw error; } });
      const client = gramClient(gram);
      await gram.load();
      gram.setDC(4, '149.154.167.91', 443);
      gram.setAuthKey(await gramKey(AUTH_KEY));
      gram.setAuthKey(await gramKey(MEDIA_KEY), 2);
      // What GramJS caches from API results: the logged-in user, a contact, a group, a channel.
      gram.processEntities(
        new Api.contacts.ResolvedPeer({
          peer: new Api.PeerUser({ userId: helpers.returnBigInt(ALICE_ID) }),
          users: [
            new Api.User({ id: helpers.returnBigInt(SELF_ID), self: true, accessHash: helpers.returnBigInt(42), firstName: 'Me', username: 'me_user' }),
            new Api.User({ id: helpers.returnBigInt(ALICE_ID), accessHash: helpers.returnBigInt(ALICE_HASH), firstName: 'Alice', lastName: 'Liddell', username: 'alice', phone: '15550001' }),
          ],
          chats: [
            new Api.Chat({ id: helpers.returnBigInt(CHAT_ID), title: 'Book club', photo: new Api.ChatPhotoEmpty(), participantsCount: 3, date: 1_700_000_000, version: 1 }),
            new Api.Channel({ id: helpers.returnBigInt(CHANNEL_ID), accessHash: helpers.returnBigInt(CHANNEL_HASH), title: 'News', username: 'news_channel', photo: new Api.ChatPhotoEmpty(), date: 1_700_000_000, broadcast: true }),
          ],
        }),
      );
      await gram.save();
      expect(client.connected).toBeFalsy();
      // The GramJS process stops (close() gives back the session's lease) before mtcute starts.
      await gram.close();

      const { tg, calls } = mtcuteClient(backend);
      const exported = readStringSession(await tg.exportSession());
      expect(exported.primaryDcs.main).toMatchObject({ id: 4, ipAddress: '149.154.167.91', port: 443 });
      expect(Array.from(exported.authKey)).toEqual(Array.from(AUTH_KEY));
      expect(plainBytes(await backend.open('shared').authKeys.get(2))).toEqual(MEDIA_KEY);
      expect(await tg.storage.self.fetch()).toEqual({ userId: SELF_ID, isBot: false, isPremium: false, usernames: ['me_user'] });

      const alice = inputUser(ALICE_ID, ALICE_HASH);
      expect(await resolvePeer(tg, ALICE_ID)).toEqual(alice);
      expect(await resolvePeer(tg, 'alice')).toEqual(alice);
      expect(await resolvePeer(tg, '@Alice')).toEqual(alice);
      expect(await resolvePhoneNumber(tg, '+15550001')).toEqual(alice);
      expect(await resolvePeer(tg, -CHAT_ID)).toEqual({ _: 'inputPeerChat', chatId: CHAT_ID });
      const news = inputChannel(CHANNEL_ID, CHANNEL_HASH);
      expect(await resolvePeer(tg, MARKED_CHANNEL_ID)).toEqual(news);
      expect(await resolvePeer(tg, 'news_channel')).toEqual(news);
      // Without `complete` (completeObjects: false) mtcute has no full object: the one thing it would ask the API for.
      expect(await tg.storage.peers.getCompleteById(ALICE_ID)).toBeNull();
      expect(calls).toEqual([]);
      await tg.destroy();
    });

    it('GramJS TL bytes (completeObjects: true) are of its own layer: mtcute resolves those peers the same, and cannot read the bytes', async () => {
      const gram = new StorageSession(backend.open('shared'), { completeObjects: true, onError: (error) => { throw error; } });
      await gram.load();
      gram.setDC(2, '149.154.167.51', 443);
      gram.processEntities([
        new Api.User({ id: helpers.returnBigInt(ALICE_ID), accessHash: helpers.returnBigInt(ALICE_HASH), firstName: 'Alice', lastName: 'Liddell', username: 'alice' }),
      ]);
      await gram.save();
      await gram.close();
      const stored = await backend.open('shared').peers.getById('user', BigInt(ALICE_ID));
      expect(stored?.complete?.length).toBeGreaterThan(0);

      const { tg, calls } = mtcuteClient(backend);
      expect(await resolvePeer(tg, 'alice')).toEqual(inputUser(ALICE_ID, ALICE_HASH));
      // GramJS 2.26 writes layer 198 (user#4b46c37e); mtcute 0.29 reads layer 225, whose user
      // constructor differs, so it gets no object out of them: storing them buys mtcute nothing.
      const constructorId = new DataView(stored!.complete!.buffer, stored!.complete!.byteOffset).getUint32(0, true);
      expect(constructorId.toString(16)).toBe('4b46c37e');
      expect(await tg.storage.peers.getCompleteById(ALICE_ID)).toBeNull();
      expect(calls).toEqual([]);
      await tg.destroy();
    });

    it('a session mtcute logged in on its default DC (no migration, so no dc_main) opens in GramJS on that DC, and in mtcute again', async () => {
      const self = createStub('user', { id: SELF_ID, self: true, bot: true, accessHash: Long.fromInt(42), firstName: 'Bot', username: 'my_bot' });
      const first = mtcuteClient(backend, (call) => {
        if (call._ === 'users.getUsers') return [self];
        throw new Error(`unexpected API call ${call._}`);
      });
      await first.tg.prepare();
      // What mtcute's network layer does on a fresh session: the primary DC (mtcute's default, 2) gets a key.
      await first.tg.mt.storage.provider.authKeys.set(2, AUTH_KEY);
      await getMe(first.tg);
      const updates = first.tg.storage.updates;
      await updates.setPts(10);
      await updates.setQts(0);
      await updates.setDate(1_760_000_000);
      await updates.setSeq(3);
      await first.tg.mt.storage.save();
      await first.tg.destroy();

      const storage = backend.open('shared');
      expect(await storage.load()).toMatchObject({ homeDcId: 2, user: { id: BigInt(SELF_ID), dcId: 2, bot: true }, state: { pts: 10, qts: 0, seq: 3 } });
      // Nothing typed is left in kv but the empty dc_main that says mtcute has none (so it keeps its own default DCs).
      expect((await storage.kv.entries()).map(({ key, value }) => [key, value.length]), 'nothing else left in kv').toEqual([['dc_main', 0]]);
      await storage.close();

      const gram = new StorageSession(backend.open('shared'), { lease: false });
      const client = gramClient(gram);
      // GramJS's start-up: load(), then its default DC 4 when it finds no home DC address.
      expect(await client.connect()).toBe(false);
      expect([gram.dcId, gram.serverAddress]).toEqual([2, '149.154.167.51']);
      expect(gram.getAuthKey()?.getKey()).toEqual(Buffer.from(AUTH_KEY));
      await client.destroy();
      await gram.save();

      // mtcute again: no dc_main, so its own default DC 2 (with its IPv6 / test-mode settings), with the key.
      const second = mtcuteClient(backend);
      await second.tg.prepare();
      expect(await second.tg.mt.storage.dcs.fetch()).toBeNull();
      expect(await second.tg.storage.self.fetch()).toMatchObject({ userId: SELF_ID, isBot: true });
      expect(await second.tg.storage.updates.getState()).toEqual([10, 0, 1_760_000_000, 3]);
      expect(Array.from(readStringSession(await second.tg.exportSession()).authKey)).toEqual(Array.from(AUTH_KEY));
      expect(second.calls).toEqual([]);
      await second.tg.destroy();
    });

    it('a session mtcute wrote opens in GramJS: home DC, auth key, and its peers resolve through getInputEntity', async () => {
      const self = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_user' });
      const aliceTl = createStub('user', { id: ALICE_ID, accessHash: Long.fromString(ALICE_HASH.toString()), firstName: 'Alice', username: 'alice', phone: '15550001' });
      const channelTl = createStub('channel', { id: CHANNEL_ID, accessHash: Long.fromString(CHANNEL_HASH.toString()), title: 'News', username: 'news_channel' });
      const { tg, calls } = mtcuteClient(backend, (call) => {
        switch (call._) {
          case 'users.getUsers':
            return [self];
          case 'contacts.resolveUsername':
            return call.username === 'alice'
              ? { _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: ALICE_ID }, users: [aliceTl], chats: [] }
              : { _: 'contacts.resolvedPeer', peer: { _: 'peerChannel', channelId: CHANNEL_ID }, users: [], chats: [channelTl] };
          default:
            throw new Error(`unexpected API call ${call._}`);
        }
      });
      await tg.importSession({
        primaryDcs: {
          main: { id: 4, ipAddress: '149.154.167.91', port: 443 },
          media: { id: 4, ipAddress: '149.154.164.250', port: 443, mediaOnly: true },
        },
        authKey: AUTH_KEY,
      });
      await getMe(tg);
      await resolvePeer(tg, 'alice');
      await resolvePeer(tg, 'news_channel');
      expect(calls).toEqual(['users.getUsers', 'contacts.resolveUsername', 'contacts.resolveUsername']);
      await tg.mt.storage.save();
      await tg.destroy();

      const gram = new StorageSession(backend.open('shared'));
      const client = gramClient(gram);
      await gram.load();
      // The main entry of the home DC, not mtcute's media-only one.
      expect([gram.dcId, gram.serverAddress, gram.port]).toEqual([4, '149.154.167.91', 443]);
      expect(gram.getAuthKey()?.getKey()).toEqual(Buffer.from(AUTH_KEY));
      expect(gram.getAuthKey(4)?.getKey()).toEqual(Buffer.from(AUTH_KEY));
      for (const key of [ALICE_ID, String(ALICE_ID), 'alice', '@alice', 't.me/alice', '+15550001', 'Alice']) {
        const input = await client.getInputEntity(key);
        expect(input, `key ${String(key)}`).toBeInstanceOf(Api.InputPeerUser);
        expect(String((input as Api.InputPeerUser).userId)).toBe(String(ALICE_ID));
        expect(String((input as Api.InputPeerUser).accessHash)).toBe(String(ALICE_HASH));
      }
      for (const key of [MARKED_CHANNEL_ID, String(MARKED_CHANNEL_ID), 'news_channel', 'News']) {
        const input = await client.getInputEntity(key);
        expect(input, `key ${String(key)}`).toBeInstanceOf(Api.InputPeerChannel);
        expect(String((input as Api.InputPeerChannel).channelId)).toBe(String(CHANNEL_ID));
        expect(String((input as Api.InputPeerChannel).accessHash)).toBe(String(CHANNEL_HASH));
      }
      const me = await client.getInputEntity(SELF_ID);
      expect(String((me as Api.InputPeerUser).accessHash)).toBe('42');
      expect(client.connected).toBeFalsy();
    });
  });
}
