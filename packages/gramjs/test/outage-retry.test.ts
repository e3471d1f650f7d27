/**
 * The background retry of writes an outage refused, on PostgreSQL and Redis behind the
 * shared loopback TCP proxy, under a GramJS client (attach, its own start-up): a key
 * GramJS sets once while the database is down reaches onError once, and is stored by
 * itself once the server is back, with no further call on the session — an idle bot
 * killed after that no longer loses it. The retry stops with close(), with a lease that
 * ran out in the outage (LeaseLostError, reported once) and with a closed storage; and a
 * process that has nothing else to do exits while it is still pending (the timer is
 * unref()ed: test/children/idle-outage.mjs, the built bridge).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { authKey, plainBytes } from '@mtstore/conformance/vitest';
import { idleThroughOutage, proxiedOutage, proxiedTargets, serverAnswers } from '@mtstore/test-adapters/processes';
import { StorageSession, type StorageSessionOptions } from '../src/index.js';
import { gramKey, offlineClient, user } from './client.js';

const IDLE_CHILD = fileURLToPath(new URL('./children/idle-outage.mjs', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** `operation: code` of every onError call. */
type Reports = string[];

for (const target of proxiedTargets()) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`StorageSession retrying by itself after a ${target.name} outage`, () => {
    const outage = proxiedOutage(target, 'gramjs_retry');
    const { open } = outage;

    /** A client started on session `name` (connect()'s load() and default DC) with DC `dc`'s key stored; the proxy is up. */
    async function started(name: string, lease: StorageSessionOptions['lease'] = true) {
      const errors: Reports = [];
      const session = new StorageSession(open(name), { lease, onError: (error, operation) => errors.push(`${operation}: ${(error as { code?: string }).code}`) });
      const client = session.attach(offlineClient(session));
      await (client as unknown as { _initSession(): Promise<void> })._initSession();
      const dc = session.dcId;
      session.setAuthKey(await gramKey(authKey(1)));
      await session.save();
      expect(errors).toEqual([]);
      return { session, errors, dc, destroy: () => client.destroy() };
    }

    /** DC `dc`'s key as a second Storage on session `name` reads it, once it is `expected` or `ms` passed; and when. */
    async function storedKey(name: string, dc: number, expected: Uint8Array, ms: number): Promise<{ bytes: Uint8Array | null; after: number }> {
      const reader = open(name);
      const from = Date.now();
      for (;;) {
        const bytes = plainBytes(await reader.authKeys.get(dc).catch(() => null));
        if ((bytes !== null && Buffer.from(bytes).equals(Buffer.from(expected))) || Date.now() - from >= ms) return { bytes, after: Date.now() - from };
        await sleep(100);
      }
    }

    it('a key set once while down reaches onError once, and is stored by itself once the server is back, with no further call', async () => {
      const { session, errors, dc, destroy } = await started('idle');
      outage.proxy.down();
      session.setAuthKey(await gramKey(authKey(2)));
      session.processEntities([user({ id: 5, username: 'cached_while_down' })]);
      // Long enough for several rounds of the retry (100 ms doubling): refused again, and not reported again.
      await sleep(1_500);
      expect(errors.sort()).toEqual([`authKeys.set(${dc}): MTSTORE_STORAGE_UNAVAILABLE`, 'peers.upsert: MTSTORE_STORAGE_UNAVAILABLE']);
      outage.proxy.up();
      // Nothing is called on the session from here on: only its own timer can store them.
      const { bytes, after } = await storedKey('idle', dc, authKey(2), 10_000);
      expect(bytes, `DC ${dc}'s key ${after} ms after the server came back`).toEqual(authKey(2));
      // The peer is the round's next write, or, if the first connection after the outage
      // refused it too, the next round's (a quiet retry, up to 5 s later): wait for it as for the key.
      const reader = open('idle');
      const from = Date.now();
      let id: bigint | undefined;
      while ((id = (await reader.peers.getByUsername('cached_while_down').catch(() => null))?.id) === undefined && Date.now() - from < 10_000) await sleep(100);
      expect(id, `the peer ${Date.now() - from} ms after the key`).toBe(5n);
      expect(errors, 'nothing reported after the server came back').toHaveLength(2);
      await destroy();
    });

    it('close() (an attached destroy()) while down stops it: nothing is written once the server is back', async () => {
      const { session, errors, dc, destroy } = await started('closed');
      outage.proxy.down();
      session.setAuthKey(await gramKey(authKey(2)));
      await destroy(); // pending writes and the release refused, to onError
      const reported = errors.length;
      expect(reported).toBeGreaterThan(0);
      outage.proxy.up();
      // Past the first rounds of a retry that close() would have left running (0.1-1.5 s): still the key from before.
      const { bytes } = await storedKey('closed', dc, authKey(2), 3_000);
      expect(bytes).toEqual(authKey(1));
      expect(errors).toHaveLength(reported);
    });

    it('a delete() (logout) made while a retry is pending is not followed by the retry: the key is not written back after it', async () => {
      const { session, errors, dc, destroy } = await started('deleted');
      outage.proxy.down();
      session.setAuthKey(await gramKey(authKey(2)));
      await session.save(); // refused: the retry's first round is due in 50-100 ms
      expect(errors).toEqual([`authKeys.set(${dc}): MTSTORE_STORAGE_UNAVAILABLE`]);
      // The delete's connection is held (not refused) past that round, then goes through.
      outage.proxy.blackhole();
      const deleted = session.delete();
      await sleep(400);
      outage.proxy.up();
      await deleted;
      await sleep(1_500);
      const reader = open('deleted');
      expect(await reader.load()).toBeNull();
      expect(await reader.authKeys.get(dc), 'a key written back after the logout').toBeNull();
      expect(errors).toHaveLength(1);
      await destroy();
    });

    it('a lease that ran out during the outage stops it: LeaseLostError reported once, then nothing', async () => {
      // A 1 s lease is safe for 0.75 s without a renewal: the outage outlasts it.
      const { session, errors, dc } = await started('lapsed', { ttlSeconds: 1 });
      outage.proxy.down();
      session.setAuthKey(await gramKey(authKey(2)));
      await sleep(2_000);
      outage.proxy.up();
      await sleep(2_000);
      expect(errors).toEqual([`authKeys.set(${dc}): MTSTORE_STORAGE_UNAVAILABLE`, `authKeys.set(${dc}): MTSTORE_LEASE_LOST`]);
      const { bytes } = await storedKey('lapsed', dc, authKey(2), 0);
      expect(bytes, 'a write refused for a lost lease is not made later').toEqual(authKey(1));
      await session.close();
    });

    it('a storage closed during the outage stops it: StorageClosedError reported once, then nothing', async () => {
      const { session, errors, dc } = await started('storage-closed', false);
      outage.proxy.down();
      session.setAuthKey(await gramKey(authKey(2)));
      await session.storage.close();
      await sleep(1_500);
      outage.proxy.up();
      await sleep(1_500);
      expect(errors).toEqual([`authKeys.set(${dc}): MTSTORE_STORAGE_UNAVAILABLE`, `authKeys.set(${dc}): MTSTORE_STORAGE_CLOSED`]);
      const { bytes } = await storedKey('storage-closed', dc, authKey(2), 0);
      expect(bytes).toEqual(authKey(1));
    });

    it.runIf(target.name === 'postgres')('an idle process whose retry is pending exits by itself (the timer is unref()ed)', async () => {
      const child = await idleThroughOutage(IDLE_CHILD, outage, /^reported /);
      expect(child.result).toBe('reported 1');
      // The database stayed down: only the retry's timer could have kept the child alive.
      expect(child.exit).toBe(0);
      expect(child.lines).toContain('exit 1');
    });
  });
}
