/**
 * The driver's own save after one that failed for want of the database, on PostgreSQL
 * and Redis behind the shared loopback TCP proxy, under a real mtcute client
 * (StubTelegramClient). mtcute 0.29 saves only when something happens — an API result
 * with peers, an update batch, a disconnect, exit — so what a save left pending during
 * an outage stayed in memory until then, and a process killed in between lost it. Now:
 * stored by itself once the server is back, with no further call; the failures of the
 * background save are logged once; it stops with the driver's destroy(); and a process
 * with such a save pending and nothing else to do exits by itself
 * (test/children/idle-outage.mjs, the built bridge).
 */
import { fileURLToPath } from 'node:url';
import { Long } from '@mtcute/core';
import { getMe } from '@mtcute/core/methods.js';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import { describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { idleThroughOutage, proxiedOutage, proxiedTargets, serverAnswers } from '@mtstore/test-adapters/processes';
import { mtcuteStorage, type MtcuteStorageOptions } from '../src/index.js';
import { stubClient, type Call } from './helpers.js';

const IDLE_CHILD = fileURLToPath(new URL('./children/idle-outage.mjs', import.meta.url));
const SELF_ID = 7_001_234_570;
const self = createStub('user', { id: SELF_ID, self: true, accessHash: Long.fromInt(42), firstName: 'Me', username: 'me_retry' });
const news = createStub('channel', { id: 1_183_945_450, accessHash: Long.fromString('9223372036854775807'), title: 'News', username: 'news_retry' });
const key = (seed: number): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => (i * seed + 3) & 0xff);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** The whole update state, as mtcute writes it after every update batch (a state is stored only with all four). */
async function setState(tg: StubTelegramClient, pts: number): Promise<void> {
  await tg.storage.updates.setPts(pts);
  await tg.storage.updates.setQts(12);
  await tg.storage.updates.setDate(1_760_000_000);
  await tg.storage.updates.setSeq(34);
}
const DCS = { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } };

/** A client whose "server" answers getMe and resolveUsername; `logged`: what the bridge logged at warn or above. */
function client(storage: Storage, options: MtcuteStorageOptions = {}): { tg: StubTelegramClient; logged: string[] } {
  const logged: string[] = [];
  const tg = stubClient(mtcuteStorage(storage, options));
  tg.log.mgr.level = 2; // WARN
  tg.log.mgr.handler = (_color, _level, tag, fmt) => {
    if (tag.includes('mtstore')) logged.push(fmt);
  };
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    if (c._ === 'users.getUsers') return [self];
    if (c._ === 'contacts.resolveUsername') return { _: 'contacts.resolvedPeer', peer: { _: 'peerChannel', channelId: news.id }, users: [], chats: [news] };
    throw new Error(`unexpected API call ${c._}`);
  };
  return { tg, logged };
}

for (const target of proxiedTargets()) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`mtcute driver saving by itself after a ${target.name} outage`, () => {
    const outage = proxiedOutage(target, 'mtcute_retry');
    const { open } = outage;

    /** A started client with the state at pts 100 stored; then, while down, a peer cached and pts 4321 set, and the save refused. */
    async function throughOutage(name: string, options: MtcuteStorageOptions = {}) {
      const { tg, logged } = client(open(name), options);
      await tg.importSession({ primaryDcs: DCS, authKey: key(7) });
      await getMe(tg);
      await setState(tg, 100);
      await tg.mt.storage.save();
      outage.proxy.down();
      // An API result with a peer: mtcute caches it, then awaits a save, which fails.
      await tg.call({ _: 'contacts.resolveUsername', username: 'news_retry' }).catch(() => undefined);
      await setState(tg, 4321);
      await expect(tg.mt.storage.save()).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
      return { tg, logged };
    }

    /** The stored pts, as a second Storage reads it, once it is `expected` or `ms` passed; and when. */
    async function storedPts(name: string, expected: number, ms: number): Promise<{ pts: number | undefined; after: number }> {
      const reader = open(name);
      const from = Date.now();
      for (;;) {
        const pts = (await reader.load().catch(() => null))?.state?.pts;
        if (pts === expected || Date.now() - from >= ms) return { pts, after: Date.now() - from };
        await sleep(100);
      }
    }

    it('what a failed save left pending is stored by itself once the server is back, with no further call; the background failures are logged once', async () => {
      const { tg, logged } = await throughOutage('idle');
      // Several rounds of the background save (100 ms doubling), all refused.
      await sleep(1_500);
      expect(logged.filter((line) => line.includes('pending since the database was unavailable'))).toHaveLength(1);
      outage.proxy.up();
      const { pts, after } = await storedPts('idle', 4321, 10_000);
      expect(pts, `the state ${after} ms after the server came back`).toBe(4321);
      expect((await open('idle').peers.getByUsername('news_retry'))?.accessHash).toBe(2n ** 63n - 1n);
      await tg.destroy();
    });

    it("the driver's destroy() stops it: nothing is written once the server is back", async () => {
      const { tg } = await throughOutage('destroyed', { closeOnDestroy: false, lease: false });
      await tg.mt.storage.destroy(); // its last save fails and is logged
      outage.proxy.up();
      const { pts } = await storedPts('destroyed', 4321, 3_000);
      expect(pts).toBe(100);
    });

    it.runIf(target.name === 'postgres')('an idle process with a background save pending exits by itself (the timer is unref()ed)', async () => {
      const child = await idleThroughOutage(IDLE_CHILD, outage, /^(failed|saved)/);
      expect(child.result).toBe('failed MTSTORE_STORAGE_UNAVAILABLE');
      // The database stayed down: only the background save's timer could have kept the child alive.
      expect(child.exit).toBe(0);
    });
  });
}
