/**
 * A database that goes away while a real mtcute client (StubTelegramClient: mtcute's
 * client code over a stub transport) writes through the bridge: PostgreSQL and Redis
 * behind the shared loopback TCP proxy (@mtstore/test-adapters/proxy), which resets
 * every connection and refuses new ones while down. Failures reach the caller of
 * save() / authKeys.set; once the server is back the same client stores everything
 * it was told (nothing acknowledged is lost), without being restarted; destroy()
 * during the outage settles instead of hanging.
 */
import { Long } from '@mtcute/core';
import { getMe, resolvePeer } from '@mtcute/core/methods.js';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import { describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { proxiedOutage, proxiedTargets, serverAnswers } from '@mtstore/test-adapters/processes';
import { mtcuteStorage } from '../src/index.js';
import { stubClient } from './helpers.js';

const SELF_ID = 7_001_234_568;
const ALICE_ID = 5_550_002;
const CHANNEL_ID = 1_183_945_449;
const self = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_outage' });
const alice = createStub('user', { id: ALICE_ID, accessHash: Long.fromString('-9223372036854775808'), firstName: 'Alice', username: 'alice_outage' });
const channel = createStub('channel', { id: CHANNEL_ID, accessHash: Long.fromString('9223372036854775807'), title: 'News', username: 'news_outage' });
const key = (seed: number): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => (i * seed + 3) & 0xff);

type Call = { _: string } & Record<string, unknown>;

function answer(call: Call): unknown {
  switch (call._) {
    case 'users.getUsers':
      return [self];
    case 'contacts.resolveUsername':
      return call.username === 'alice_outage'
        ? { _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: ALICE_ID }, users: [alice], chats: [] }
        : { _: 'contacts.resolvedPeer', peer: { _: 'peerChannel', channelId: CHANNEL_ID }, users: [], chats: [channel] };
    default:
      throw new Error(`unexpected API call ${call._}`);
  }
}

function client(storage: Storage): { tg: StubTelegramClient; calls: string[] } {
  const calls: string[] = [];
  const tg = stubClient(mtcuteStorage(storage));
  tg.log.mgr.level = 0;
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    calls.push(c._);
    return answer(c);
  };
  return { tg, calls };
}

const targets = proxiedTargets();

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`mtcute client through a ${target.name} outage`, () => {
    const outage = proxiedOutage(target, 'mtcute_outage');
    const { open } = outage;

    it('save() and authKeys.set reject to their caller while down; the same client stores everything once the server is back', async () => {
      const { tg } = client(open('running'));
      await tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(7) });
      await getMe(tg);
      await resolvePeer(tg, 'alice_outage');
      await tg.mt.storage.save();

      outage.proxy.down();
      // An API result with a peer: BaseTelegramClient caches it, then awaits a save, which fails.
      const called = await tg.call({ _: 'contacts.resolveUsername', username: 'news_outage' }).then(
        () => 'resolved',
        (error: unknown) => (error as { code?: string }).code,
      );
      // mtcute reads its storage before asking the API: that read fails, so does the lookup.
      await expect(resolvePeer(tg, 'someone_else')).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
      // What mtcute writes after every update batch: the whole state.
      await tg.storage.updates.setPts(4321);
      await tg.storage.updates.setQts(12);
      await tg.storage.updates.setDate(1_760_000_000);
      await tg.storage.updates.setSeq(34);
      const saveError = await tg.mt.storage.save().then(
        () => null,
        (error: unknown) => error as { code?: string },
      );
      expect(saveError?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      const keyError = await Promise.resolve(tg.mt.storage.provider.authKeys.set(2, key(11))).then(
        () => null,
        (error: unknown) => error as { code?: string; message: string },
      );
      expect(keyError?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      outage.proxy.up();

      // No restart: the bridge and the adapter reconnect by themselves.
      await tg.mt.storage.save();
      await tg.mt.storage.provider.authKeys.set(2, key(13));
      await tg.destroy();

      const storage = open('running');
      const session = await storage.load();
      expect([session?.homeDcId, session?.user?.id, session?.state?.pts]).toEqual([2, BigInt(SELF_ID), 4321]);
      expect(Array.from((await storage.authKeys.get(2)) ?? [])).toEqual(Array.from(key(13)));
      expect((await storage.peers.getByUsername('news_outage'))?.accessHash, `the call during the outage: ${called}`).toBe(2n ** 63n - 1n);
      expect((await storage.peers.getByUsername('alice_outage'))?.accessHash).toBe(-(2n ** 63n));
      await storage.close();

      const again = client(open('running'));
      expect(await resolvePeer(again.tg, 'news_outage')).toMatchObject({ _: 'inputPeerChannel', channelId: CHANNEL_ID });
      expect(await again.tg.storage.updates.getState()).toEqual([4321, 12, 1_760_000_000, 34]);
      expect(again.calls).toEqual([]);
      await again.tg.destroy();
    });

    it('destroy() while the server is down settles (the failed save is logged), and the next client starts once it is back', async () => {
      const { tg } = client(open('destroyed'));
      await tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(7) });
      await getMe(tg);
      await tg.mt.storage.save();
      outage.proxy.down();
      // The read before the API call fails (mtcute reads its storage first): the call rejects.
      await expect(resolvePeer(tg, 'alice_outage')).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
      await tg.destroy(); // the vitest timeout is the hang this guards against
      outage.proxy.up();
      // The lease could not be given back: the next client on the name waits for it, or force.
      const next = stubClient(mtcuteStorage(open('destroyed'), { lease: { force: true } }));
      await next.mt.storage.load();
      expect(await next.storage.self.fetch()).toMatchObject({ userId: SELF_ID });
      await next.destroy();
    });

    it('destroy() with writes pending while down rejects before it closes the storage (mtcute saves first); StorageManager.destroy() then writes them and gives the lease back', async () => {
      const storage = open('pending');
      const { tg } = client(storage);
      await tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(7) });
      await getMe(tg);
      await tg.mt.storage.save();
      outage.proxy.down();
      await expect(tg.call({ _: 'contacts.resolveUsername', username: 'alice_outage' })).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
      await expect(tg.destroy()).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
      outage.proxy.up();
      // Still open, still leased (its heartbeat would renew it for as long as the process lives).
      expect(storage.lease.held?.owner.label).toBe('mtcute');
      await expect(Promise.resolve(mtcuteStorage(open('pending')).driver.load!())).rejects.toMatchObject({ code: 'MTSTORE_LEASE_HELD' });
      await tg.mt.storage.destroy();
      await expect(storage.load()).rejects.toThrow(/closed/);
      const next = stubClient(mtcuteStorage(open('pending')));
      await next.mt.storage.load();
      expect(await next.storage.peers.getByUsername('alice_outage')).toMatchObject({ _: 'inputPeerUser', userId: ALICE_ID });
      await next.destroy();
    });
  });
}
