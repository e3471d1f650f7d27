/**
 * Issue 17: close() with calls in flight, and the mode of the sqlite files the adapter
 * creates. A call made before close() must settle — complete, or reject with a typed
 * error — before close() resolves, also when more calls are queued than the pool has
 * connections (pg's pool never answers a queued request once it is ending).
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fullSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { availableDrivers, sqlite } from './drivers.js';

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

// Side by side, each driver's suite and the tests in it: most of the file is waiting out
// CLOSE_GRACE_MS (a constant of the adapter, 5 s), once per test and driver (~30 s one
// after another). Every test has a namespace, connections and a row lock of its own; the
// admin DataSource's 4 connections cover the two lockers of a driver and the cleanups.
// Concurrent tests assert through their own `expect` (the test context's).
for (const db of drivers) {
  describe.concurrent(`${db.name}: close() with calls in flight`, () => {
    it(`settles every call made before it, more calls than connections, within ${CLOSE_GRACE_MS} ms`, async ({ expect }) => {
      const namespace = randomNamespace();
      const options = { ...db.options(namespace), poolSize: 2 } as ReturnType<typeof db.options>;
      const storage = new TypeormStorage({ options, tablePrefix: db.prefix(namespace) });
      const server = new TypeormSessionStorage({ options, tablePrefix: db.prefix(namespace) });
      try {
        await storage.save(fullSession(1));
        await server.createSession(1n, 1n);
        const calls = [
          ...Array.from({ length: 40 }, (_, i) => storage.peers.upsert([peer('user', i + 1)])),
          ...Array.from({ length: 40 }, (_, i) => storage.authKeys.set(1 + (i % 5), fullSession(1).dcs[0]?.authKey as Uint8Array)),
          ...Array.from({ length: 40 }, () => storage.load()),
          ...Array.from({ length: 40 }, (_, i) => server.createSession(2n, BigInt(i))),
        ];
        const outcomes = Promise.allSettled(calls);
        const started = Date.now();
        await Promise.all([storage.close(), server.close()]);
        const closedAfter = Date.now() - started;
        // Every call settled before close() resolved: nothing is pending any more.
        const settled = await Promise.race([outcomes, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 0))]);
        expect(settled).not.toBe('pending');
        for (const outcome of settled as PromiseSettledResult<unknown>[]) {
          if (outcome.status === 'rejected') expect((outcome.reason as { code?: string }).code).toMatch(/^MTSTORE_(STORAGE_CLOSED|STORAGE_UNAVAILABLE)$/);
        }
        expect(closedAfter).toBeLessThan(CLOSE_GRACE_MS + 5000);
      } finally {
        await storage.close();
        await server.close();
        await db.cleanup(namespace);
      }
    }, 30_000);

    if (db.name !== 'sqlite') {
      it("on the application's DataSource, calls close() gave up on while they waited for a connection never run afterwards", async ({ expect }) => {
        const namespace = randomNamespace();
        const prefix = db.prefix(namespace);
        // No wait bound for a connection (the test drivers set one): the queued calls wait past the grace.
        const dataSource = new DataSource({ ...db.options(namespace), poolSize: 1, connectTimeoutMS: 0, connectTimeout: 0 } as unknown as DataSourceOptions);
        await dataSource.initialize();
        const storage = new TypeormStorage({ dataSource, tablePrefix: prefix, name: 'alice' });
        const admin = await db.admin();
        const locker = admin.createQueryRunner();
        try {
          await storage.kv.set('held', Uint8Array.of(1));
          await storage.peers.upsert([peer('user', 1)]);
          const kv = admin.driver.escape(`${prefix ?? ''}kv`);
          const peers = admin.driver.escape(`${prefix ?? ''}peers`);
          // Another connection holds the kv rows: the pool's one connection waits on that lock
          // past the grace, every other call waits for the connection.
          await locker.startTransaction();
          await locker.query(`SELECT * FROM ${kv} FOR UPDATE`);
          const held = storage.kv.set('held', Uint8Array.of(2)).catch(() => {});
          const code = (error: { code?: string }) => error.code;
          const queued = [
            ...Array.from({ length: 60 }, (_, i) => storage.kv.set(`q${i}`, Uint8Array.of(i)).then(() => 'done', code)),
            ...Array.from({ length: 20 }, (_, i) => storage.peers.upsert([peer('user', 100 + i)]).then(() => 'done', code)),
          ];
          await new Promise((resolve) => setTimeout(resolve, 200));
          const closing = storage.close();
          expect(new Set(await Promise.all(queued))).toEqual(new Set(['MTSTORE_STORAGE_UNAVAILABLE']));
          await locker.rollbackTransaction();
          await closing;
          await held;
          // The application's own query queues behind whatever mtstore left in the pool.
          await dataSource.query('SELECT 1');
          const [kvRows] = (await admin.query(`SELECT count(*) AS n FROM ${kv}`)) as { n: string | number }[];
          const [peerRows] = (await admin.query(`SELECT count(*) AS n FROM ${peers}`)) as { n: string | number }[];
          expect({ kv: Number(kvRows?.n), peers: Number(peerRows?.n) }, 'rows written by calls close() rejected').toEqual({ kv: 1, peers: 1 });
        } finally {
          if (locker.isTransactionActive) await locker.rollbackTransaction();
          await locker.release();
          await storage.close();
          await dataSource.destroy();
          await db.cleanup(namespace);
        }
      }, 30_000);

      it("the application destroys its DataSource while close() waits: close() resolves once the calls on the ended pool are rejected, not after the grace", async ({ expect }) => {
        const namespace = randomNamespace();
        const prefix = db.prefix(namespace);
        // One connection, no wait bound for it: pg never answers the calls queued for a pool that is ending.
        const dataSource = new DataSource({ ...db.options(namespace), poolSize: 1, connectTimeoutMS: 0, connectTimeout: 0 } as unknown as DataSourceOptions);
        await dataSource.initialize();
        const storage = new TypeormStorage({ dataSource, tablePrefix: prefix, name: 'alice' });
        const admin = await db.admin();
        const locker = admin.createQueryRunner();
        let destroyed: Promise<void> | undefined;
        try {
          await storage.kv.set('held', Uint8Array.of(1));
          // Another connection holds the kv rows: the pool's one connection waits on that lock, the other calls for the connection.
          await locker.startTransaction();
          await locker.query(`SELECT * FROM ${admin.driver.escape(`${prefix ?? ''}kv`)} FOR UPDATE`);
          const outcome = (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`;
          const calls = [storage.kv.set('held', Uint8Array.of(2)), ...Array.from({ length: 5 }, (_, i) => storage.kv.set(`q${i}`, Uint8Array.of(i)))].map((call) => call.then(() => 'done', outcome));
          await new Promise((resolve) => setTimeout(resolve, 200));
          const closing = storage.close();
          await new Promise((resolve) => setTimeout(resolve, 200));
          const started = Date.now();
          // Waits for the connection held in the lock: let go of it once close() resolved.
          destroyed = dataSource.destroy().catch(() => {});
          const closedAfter = await Promise.race([closing.then(() => Date.now() - started), new Promise<'pending'>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS - 1000, 'pending'))]);
          // The watch rejects them within DESTROYED_CHECK_MS (100 ms); the old close() then waited out the grace for the calls it had rejected.
          expect(closedAfter).not.toBe('pending');
          expect(closedAfter).toBeLessThan(2000);
          const settled = await Promise.race([Promise.all(calls), new Promise<'pending'>((resolve) => setTimeout(resolve, 0, 'pending'))]);
          expect(settled).not.toBe('pending');
          for (const result of settled as string[]) {
            if (result !== 'done') expect(result).toMatch(/^MTSTORE_STORAGE_UNAVAILABLE: TypeormStorage\.kv\.set\("alice"\) failed: /);
          }
          if (db.name === 'postgres') {
            expect(new Set(settled as string[])).toEqual(new Set(['MTSTORE_STORAGE_UNAVAILABLE: TypeormStorage.kv.set("alice") failed: the application destroyed its DataSource while this call was waiting for it; it may or may not have been applied']));
          }
        } finally {
          if (locker.isTransactionActive) await locker.rollbackTransaction();
          await locker.release();
          await destroyed;
          await storage.close();
          if (dataSource.isInitialized) await dataSource.destroy();
          await db.cleanup(namespace);
        }
      }, 30_000);

      it(`a call still blocked ${CLOSE_GRACE_MS} ms after close() rejects StorageUnavailableError (may or may not have been applied, naming the operation and session), and close() resolves`, async ({ expect }) => {
        const namespace = randomNamespace();
        const storage = new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name: 'alice' });
        const admin = await db.admin();
        const locker = admin.createQueryRunner();
        try {
          await storage.save(fullSession(1));
          // Another connection holds the session row: save() waits on the lock.
          await locker.startTransaction();
          const table = admin.driver.escape(`${db.prefix(namespace)}sessions`);
          await locker.query(`SELECT * FROM ${table} FOR UPDATE`);
          const blocked = storage.save(fullSession(2)).then(
            () => 'resolved',
            (error: { code?: string; message?: string }) => `${error.code}: ${error.message}`,
          );
          await new Promise((resolve) => setTimeout(resolve, 200));
          const started = Date.now();
          const closing = storage.close();
          // As every adapter's (docs/contract.md §8: messages name the operation and the session).
          expect(await blocked).toBe(`MTSTORE_STORAGE_UNAVAILABLE: TypeormStorage.save("alice") failed: closed while this call was still running (the database answered no call for ${CLOSE_GRACE_MS} ms); it may or may not have been applied`);
          expect(Date.now() - started).toBeGreaterThanOrEqual(CLOSE_GRACE_MS - 50);
          await locker.rollbackTransaction();
          await closing;
        } finally {
          if (locker.isTransactionActive) await locker.rollbackTransaction();
          await locker.release();
          await storage.close();
          await db.cleanup(namespace);
        }
      }, 30_000);
    }
  });
}

describe('sqlite files', () => {
  const db = sqlite();
  afterAll(() => db.dispose());

  it('a database file the adapter creates is 0600, its WAL too; an existing file keeps its mode', async () => {
    const namespace = randomNamespace();
    const options = db.options(namespace) as { database: string };
    const storage = new TypeormStorage({ options: db.options(namespace) });
    try {
      await storage.save(fullSession(1));
      await storage.authKeys.set(9, fullSession(1).dcs[0]?.authKey as Uint8Array);
      expect(statSync(options.database).mode & 0o777).toBe(0o600);
      expect(statSync(`${options.database}-wal`).mode & 0o777).toBe(0o600);
    } finally {
      await storage.close();
    }
    const nested = join(db.directory?.() as string, 'sub', 'dir', 'keys.db');
    const again = new TypeormStorage({ options: { type: 'better-sqlite3', database: nested } });
    await again.save(fullSession(2));
    await again.close();
    expect(statSync(nested).mode & 0o777).toBe(0o600);
    // The application's own file: the adapter does not change its mode.
    const own = join(db.directory?.() as string, 'own.db');
    writeFileSync(own, '', { mode: 0o640 });
    const borrowedFile = new TypeormStorage({ options: { type: 'better-sqlite3', database: own } });
    await borrowedFile.save(fullSession(3));
    await borrowedFile.close();
    expect(statSync(own).mode & 0o777).toBe(0o640);
  });
});
