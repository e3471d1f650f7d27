/**
 * Pooled connections all reset while idle (a database host that restarted, a NAT that
 * lost the flows' state): the loopback proxy's `forget()` closes the server side of every
 * open connection, the monitor's included, and the client finds out only when it next
 * sends on one (RST). README, Lost connections, says what this pins (FerretDB 1.x, a
 * standalone server: no retryable writes; driver 7.9, the adapter's defaults):
 * - the first call that meets a dead connection gets ECONNRESET; the driver marks the
 *   server unknown and clears its pool (SDAM: a network error that is not a timeout), so
 *   every later call opens a fresh connection instead of finding a dead one of its own;
 * - a read is retried (retryReads) on a fresh connection: no call fails;
 * - a write is not (no retryable writes without a replica set): the first one rejects
 *   StorageUnavailableError, none after it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fullSession, peer } from '@mtstore/conformance/vitest';
import { settle } from '../../test-adapters/src/outcomes.js';
import { MongoSessionStorage, MongoStorage } from '../src/index.js';
import { openProxy, within, type Proxy } from './proxy.js';
import { scratch, server } from './server.js';

/** Calls at once that open the pool's connections (the driver opens at most two at a time: 6-12 here). */
const AT_ONCE = 30;
const CALLS = 14;

type Call = () => Promise<unknown>;

describe.runIf(server.available)('pooled connections reset while idle (proxy forget, FerretDB)', () => {
  const { fresh, track } = scratch();
  const proxies: Proxy[] = [];
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  async function open(): Promise<{ proxy: Proxy; storage: MongoStorage; sessions: MongoSessionStorage }> {
    const proxy = await openProxy();
    proxies.push(proxy);
    const database = fresh();
    const storage = track(new MongoStorage({ url: proxy.url(database), name: 'victim' }));
    const sessions = track(new MongoSessionStorage({ url: proxy.url(database) }));
    await storage.save(fullSession(1));
    await storage.kv.set('k', Uint8Array.of(1));
    await storage.peers.upsert([peer('user', 1)]);
    await sessions.createSession(1n, 1n);
    // Many calls at once leave several pooled connections open, idle afterwards.
    await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => (i % 2 === 0 ? storage.kv.get('k') : sessions.hasSession(1n, 1n))));
    expect(proxy.connections, 'connections through the proxy (two pools and two monitors)').toBeGreaterThanOrEqual(6);
    return { proxy, storage, sessions };
  }

  /** Runs `call` CALLS times one after another after forget(); returns the failures. */
  async function afterForget(proxy: Proxy, label: string, call: Call): Promise<string[]> {
    proxy.forget();
    const failed: string[] = [];
    for (let i = 0; i < CALLS; i++) {
      const result = await settle(within(20_000, `${label} #${i}`, call()));
      if (!result.ok) {
        expect(result.error.code, result.error.message).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        failed.push(`#${i}: ${result.error.message}`);
      }
    }
    return failed;
  }

  const reads: [string, (s: { storage: MongoStorage; sessions: MongoSessionStorage }) => Call][] = [
    ['kv.get', ({ storage }) => () => storage.kv.get('k')],
    ['load', ({ storage }) => () => storage.load()],
    ['peers.getById', ({ storage }) => () => storage.peers.getById('user', 1n)],
    ['server hasSession', ({ sessions }) => () => sessions.hasSession(1n, 1n)],
  ];
  for (const [label, make] of reads) {
    it(`${label} (a read): none of ${CALLS} calls one after another fails, the driver retries the one that met a dead connection`, async () => {
      const opened = await open();
      const failed = await afterForget(opened.proxy, label, make(opened));
      expect(failed, failed.join('\n')).toEqual([]);
    }, 60_000);
  }

  let n = 10;
  const writes: [string, (s: { storage: MongoStorage; sessions: MongoSessionStorage }) => Call][] = [
    ['kv.set', ({ storage }) => () => storage.kv.set('k', Uint8Array.of(2))],
    ['saveUpdateState', ({ storage }) => () => storage.saveUpdateState({ pts: 5, qts: 0, date: 1, seq: 1 })],
    ['peers.upsert', ({ storage }) => () => storage.peers.upsert([peer('user', 2)])],
    ['server createSession', ({ sessions }) => () => sessions.createSession(1n, BigInt(++n))],
  ];
  for (const [label, make] of writes) {
    it(`${label} (a write): of ${CALLS} calls one after another at most the first fails (ECONNRESET, StorageUnavailableError); the pool goes with it`, async () => {
      const opened = await open();
      const call = make(opened);
      const failed = await afterForget(opened.proxy, label, call);
      expect(failed.length, failed.join('\n')).toBeLessThanOrEqual(1);
      expect(failed.every((message) => message.startsWith('#0: ') && /ECONNRESET/.test(message)), failed.join('\n')).toBe(true);
      // Every dead connection went with the pool: ten at once all succeed.
      await within(10_000, `${label} x10`, Promise.all(Array.from({ length: 10 }, () => call())));
    }, 60_000);
  }
});
