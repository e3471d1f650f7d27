/**
 * A call waiting for a connection of an owned DataSource's pool. A burst far longer than
 * the pool serves in its connect timeout, on a server that keeps answering, is served
 * whole (postgres: pg-pool used to fail every call still queued after
 * `connectTimeoutMS`: src/pool.ts; MariaDB: mysql2's queue has no timeout). On a silent
 * postgres server, calls queued behind stuck connections or behind a connection attempt
 * nobody answers still reject with StorageUnavailableError after about the connect
 * timeout, and a call so rejected never runs afterwards.
 */
import { peer, randomNamespace } from '@mtstore/conformance/vitest';
import type { DataSourceOptions } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeormStorage } from '../src/index.js';
import { availableDrivers, type TestDriver } from './drivers.js';
import { trackedEachTest } from './tracked.js';
// By path, as ./proxy.js is: this package cannot depend on @mtstore/test-adapters.
import { settle, unhandledRejections, type Settled } from '../../test-adapters/src/outcomes.js';
import { openProxy, within } from './proxy.js';

const drivers = (await availableDrivers()).filter((db) => db.name !== 'sqlite');
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

/** Short, so a burst of a few thousand calls on two connections lasts several times as long. */
const CONNECT_TIMEOUT = 500;
const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';

const failures = (results: Settled[]): string[] => results.flatMap((r, i) => (r.ok ? [] : [`call ${i}: ${r.error.message}`]));

async function until(check: () => Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** An owned DataSource of two connections with a short connect timeout, as a user would write it; `url` may be a proxy's. */
function smallPool(db: TestDriver, url: string, extra: Record<string, unknown> = {}): DataSourceOptions {
  return db.name === 'postgres'
    ? { type: 'postgres', url, poolSize: 2, connectTimeoutMS: CONNECT_TIMEOUT, extra }
    : { type: 'mariadb', url, poolSize: 2, connectTimeout: CONNECT_TIMEOUT, extra };
}

for (const db of drivers) {
  describe(`${db.name}: a call waiting for a connection of an owned DataSource`, () => {
    const { proxies, namespaces, storages } = trackedEachTest(db);
    const rejections = unhandledRejections();

    function open(options: DataSourceOptions, name: string): { storage: TypeormStorage; namespace: string } {
      const namespace = randomNamespace();
      namespaces.push(namespace);
      const storage = new TypeormStorage({ options, tablePrefix: db.prefix(namespace), name });
      storages.push(storage);
      return { storage, namespace };
    }

    async function count(namespace: string, table: string): Promise<number> {
      const admin = await db.admin();
      const rows: { n: number | string }[] = await admin.query(`SELECT COUNT(*) AS n FROM ${admin.driver.escape(`${db.prefix(namespace)}${table}`)}`);
      return Number(rows[0]?.n);
    }

    /** The kv keys stored in `namespace`, sorted. */
    async function keys(namespace: string): Promise<string[]> {
      const admin = await db.admin();
      const rows: { kv_key: string }[] = await admin.query(`SELECT kv_key FROM ${admin.driver.escape(`${db.prefix(namespace)}kv`)}`);
      return rows.map((r) => r.kv_key).sort();
    }

    it('a burst many times longer than the connect timeout on a server that keeps answering: every call resolves and is stored', async () => {
      const { storage, namespace } = open(smallPool(db, db.url), 'herd');
      await storage.kv.set('first', Uint8Array.of(0));
      const half = 1_000;
      const started = performance.now();
      // A thundering herd: far more calls at once than two connections serve in 500 ms,
      // single statements and transactions (peers.upsert) alike.
      const results = await Promise.all([
        ...Array.from({ length: half }, (_, i) => settle(storage.kv.set(`k${String(i).padStart(5, '0')}`, Uint8Array.of(i & 255)))),
        ...Array.from({ length: half }, (_, i) => settle(storage.peers.upsert([peer('user', i + 1)]))),
      ]);
      const seconds = (performance.now() - started) / 1000;
      const failed = failures(results);
      expect(failed.length, failed.slice(0, 3).join('; ')).toBe(0);
      expect(await count(namespace, 'kv')).toBe(half + 1);
      expect(await count(namespace, 'peers')).toBe(half);
      expect(rejections).toEqual([]);
      console.info(`${db.name} owned DataSource (poolSize 2, connect timeout ${CONNECT_TIMEOUT} ms): ${2 * half} writes at once, all stored in ${seconds.toFixed(1)} s`);
    }, 120_000);

    it.runIf(db.name === 'postgres')('calls queued behind connections stuck on a silent server reject StorageUnavailableError after about the connect timeout, and never run afterwards', async () => {
      const proxy = await openProxy(db.url);
      proxies.push(proxy);
      // query_timeout far longer than the test: only the queue's bound can fail the queued calls in time.
      const { storage, namespace } = open(smallPool(db, proxy.url(), { query_timeout: 120_000 }), 'stuck');
      await storage.kv.set('first', Uint8Array.of(0));
      // Both connections open, so the two first calls below run on them at once.
      await Promise.all([storage.kv.get('first'), storage.kv.get('first')]);
      proxy.blackhole();
      const stuck = [storage.kv.set('stuck-1', Uint8Array.of(1)), storage.kv.set('stuck-2', Uint8Array.of(2))].map(settle);
      // Single statements (pg's pool.query) and transactions (TypeORM's query runner) queue alike.
      const queued = Array.from({ length: 20 }, (_, i) =>
        settle(within(15_000, `queued call ${i}`, i % 2 === 0 ? storage.kv.set(`queued-${i}`, Uint8Array.of(i)) : storage.peers.upsert([peer('user', i)]))),
      );
      const rejected = await Promise.all(queued);
      for (const [i, result] of rejected.entries()) {
        expect(result.ok, `queued call ${i}`).toBe(false);
        if (result.ok) continue;
        expect(result.error.code, `queued call ${i}: ${result.error.message}`).toBe(UNAVAILABLE);
        expect(result.error.message).toMatch(/timeout exceeded when trying to connect/);
      }

      // The server answers again: the stuck calls complete and their connections go back
      // to the pool, which must not hand them to the calls it already failed.
      proxy.up();
      expect(failures(await Promise.all(stuck))).toEqual([]);
      await storage.kv.set('after', Uint8Array.of(3));
      await until(async () => (await keys(namespace)).includes('after'), 'the write after recovery');
      // Released connections are handed over from a microtask: a few more turns for any straggler to show.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await keys(namespace)).toEqual(['after', 'first', 'stuck-1', 'stuck-2']);
      expect(await count(namespace, 'peers')).toBe(0);
      expect(rejections).toEqual([]);
    }, 60_000);

    it('a stuck statement that times out on a silent server is no answer: the queued calls still reject about the connect timeout after they queued, and never run', async () => {
      const proxy = await openProxy(db.url);
      proxies.push(proxy);
      // A statement timeout a little shorter than the queue's bound: the stuck statements
      // time out (their connections closed) while the calls below wait.
      const statementTimeout = 900;
      const connectTimeout = 1_000;
      const options: DataSourceOptions =
        db.name === 'postgres'
          ? { type: 'postgres', url: proxy.url(), poolSize: 2, connectTimeoutMS: connectTimeout, extra: { query_timeout: statementTimeout } }
          : { type: 'mariadb', url: proxy.url(), poolSize: 2, connectTimeout, enableQueryTimeout: true, maxQueryExecutionTime: statementTimeout };
      const { storage, namespace } = open(options, 'timed-out');
      await storage.kv.set('first', Uint8Array.of(0));
      await Promise.all([storage.kv.get('first'), storage.kv.get('first')]);
      proxy.blackhole();
      const stuck = [storage.kv.set('stuck-1', Uint8Array.of(1)), storage.peers.upsert([peer('user', 1)])].map(settle);
      const queuedAt = performance.now();
      const queued = Array.from({ length: 40 }, (_, i) =>
        settle(within(15_000, `queued call ${i}`, i % 2 === 0 ? storage.kv.set(`queued-${i}`, Uint8Array.of(i)) : storage.peers.upsert([peer('user', i + 100)]))),
      );
      const rejected = await Promise.all(queued);
      const timedOut = await Promise.all(stuck);
      for (const [i, result] of timedOut.entries()) {
        expect(result.ok, `stuck call ${i}`).toBe(false);
        if (!result.ok) expect(result.error.code, `stuck call ${i}: ${result.error.message}`).toBe(UNAVAILABLE);
      }
      for (const [i, result] of rejected.entries()) {
        expect(result.ok, `queued call ${i}`).toBe(false);
        if (result.ok) continue;
        expect(result.error.code, `queued call ${i}: ${result.error.message}`).toBe(UNAVAILABLE);
        expect(result.error.message).toMatch(/timeout exceeded when trying to connect/);
      }
      const lastRejected = Math.max(...rejected.map((r) => r.at));
      const stuckFailed = Math.max(...timedOut.map((r) => r.at));
      console.info(
        `${db.name} owned DataSource (poolSize 2, statement timeout ${statementTimeout} ms, connect timeout ${connectTimeout} ms), silent server: stuck statements failed after ${(stuckFailed - queuedAt).toFixed(0)} ms, the 40 queued calls rejected by ${(lastRejected - queuedAt).toFixed(0)} ms`,
      );
      // Counted as the server's answer, the timed-out statements' connections coming back
      // restarted the silence: then no queued call could fail before the connect timeout after them.
      expect(lastRejected - stuckFailed).toBeLessThan(connectTimeout / 2);

      // The server answers again: nothing of the rejected calls runs.
      proxy.up();
      await storage.kv.set('after', Uint8Array.of(3));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await keys(namespace)).filter((key) => key.startsWith('queued-'))).toEqual([]);
      const admin = await db.admin();
      const peers: { n: number | string }[] = await admin.query(`SELECT COUNT(*) AS n FROM ${admin.driver.escape(`${db.prefix(namespace)}peers`)} WHERE peer_id > 1`);
      expect(Number(peers[0]?.n)).toBe(0);
      expect(rejections).toEqual([]);
    }, 60_000);

    it.runIf(db.name === 'postgres')('calls queued behind a connection attempt the server never answers reject after about the connect timeout', async () => {
      const proxy = await openProxy(db.url);
      proxies.push(proxy);
      // One connection, closed 100 ms after it goes idle: the calls below must open a new one.
      const { storage } = open({ ...smallPool(db, proxy.url(), { idleTimeoutMillis: 100 }), poolSize: 1 } as DataSourceOptions, 'connect');
      await storage.kv.set('first', Uint8Array.of(0));
      await until(async () => proxy.connections === 0, 'the idle connection to close');
      // New connections are accepted and never answered.
      proxy.blackhole();
      // The first call waits on the connection attempt, the rest in the pool's queue behind
      // it: all fail after about the connect timeout (pg's Client bounds its own connect:
      // the pool's queue has no timer of its own), not one connection attempt each one after another.
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => settle(within(10_000, `call ${i}`, storage.kv.set(`k${i}`, Uint8Array.of(i))))));
      for (const [i, result] of results.entries()) {
        expect(result.ok, `call ${i}`).toBe(false);
        if (result.ok) continue;
        expect(result.error.code, `call ${i}: ${result.error.message}`).toBe(UNAVAILABLE);
        expect(result.error.message).toMatch(/timeout/i);
      }
      // The attempts nobody answered gave up by themselves: once new connections get
      // through, the pool's one slot is free for them again.
      proxy.up({ resume: false });
      await until(() => storage.kv.set('after', Uint8Array.of(1)).then(() => true, () => false), 'a call to succeed once connections get through', 10_000);
      expect(rejections).toEqual([]);
    }, 60_000);
  });
}
