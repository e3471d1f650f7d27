/**
 * close()'s grace (CLOSE_GRACE_MS) is the database's silence, as Redis's and MongoDB's
 * are (docs/contract.md §9): it counts from the last call in flight the database
 * answered, not from close(). Calls the database answers one after another all complete,
 * though the last comes long after the grace; a database that goes silent mid-close
 * still has the calls it did not answer rejected (StorageUnavailableError) and close()
 * resolves. A deadline from close() rejected calls while the database was answering them.
 */
import { fullSession, randomNamespace } from '@mtstore/conformance/vitest';
import { DataSource, type DataSourceOptions, type QueryRunner } from 'typeorm';
import { afterAll, describe, it } from 'vitest';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { TypeormStorage } from '../src/index.js';
import { availableDrivers } from './drivers.js';

const drivers = (await availableDrivers()).filter((db) => db.name !== 'sqlite');
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

/** Between two answers of the database in the first test: a fifth of the grace. */
const GAP_MS = CLOSE_GRACE_MS / 5;

type Outcome = 'done' | string | undefined;
const outcome = (call: Promise<unknown>): Promise<Outcome> => call.then(
  () => 'done',
  (error: { code?: string }) => error.code,
);

for (const db of drivers) {
  describe.concurrent(`${db.name}: close() allows CLOSE_GRACE_MS of the database's silence, not a deadline`, () => {
    it(`calls the database answers ${GAP_MS} ms apart all complete, the last ${(8 * GAP_MS) / 1000} s after close()`, async ({ expect }) => {
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace);
      // A connection per call: none waits in the pool's queue (the test drivers bound that wait at 3 s).
      const storage = new TypeormStorage({ options: { ...db.options(namespace), poolSize: 8 } as DataSourceOptions, tablePrefix: prefix, name: 'paced' });
      // The test's own connections, one per row lock: a query runner holds its connection.
      const lockers = new DataSource({ ...db.options(namespace), poolSize: 8 } as DataSourceOptions);
      const holders: QueryRunner[] = [];
      try {
        const keys = Array.from({ length: 8 }, (_, i) => `p${i}`);
        for (const key of keys) await storage.kv.set(key, Uint8Array.of(0));
        await lockers.initialize();
        const kv = lockers.driver.escape(`${prefix ?? ''}kv`);
        for (const key of keys) {
          const holder = lockers.createQueryRunner();
          holders.push(holder);
          await holder.startTransaction();
          expect(await holder.query(`SELECT kv_key FROM ${kv} WHERE session_name = 'paced' AND kv_key = '${key}' FOR UPDATE`)).toHaveLength(1);
        }
        // The whole key: MariaDB locks only that row then, not the gaps its scan went through.
        // Each call waits on a lock of its own; the test lets go of one every GAP_MS.
        const calls = keys.map((key) => outcome(storage.kv.set(key, Uint8Array.of(1))));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const closing = storage.close();
        for (const holder of holders) {
          await new Promise((resolve) => setTimeout(resolve, GAP_MS));
          await holder.rollbackTransaction();
        }
        await closing;
        // Counted from close(), the calls of the locks let go of after CLOSE_GRACE_MS were rejected.
        expect(await Promise.all(calls)).toEqual(keys.map(() => 'done'));
        const admin = await db.admin();
        const [row] = (await admin.query(`SELECT count(*) AS n FROM ${kv} WHERE kv_key LIKE 'p%' AND value = ${db.name === 'postgres' ? "'\\x01'::bytea" : 'X\'01\''}`)) as { n: string | number }[];
        expect(Number(row?.n)).toBe(keys.length);
      } finally {
        for (const holder of holders) {
          if (holder.isTransactionActive) await holder.rollbackTransaction();
          await holder.release();
        }
        if (lockers.isInitialized) await lockers.destroy();
        await storage.close();
        await db.cleanup(namespace);
      }
    }, 30_000);

    it('a database that goes silent mid-close: the calls it answered complete, the rest reject StorageUnavailableError, close() resolves', async ({ expect }) => {
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace);
      // One connection, no bound on waiting for it (the test drivers set one): the calls
      // queued behind the stuck one settle only when close() gives up on them.
      const options = { ...db.options(namespace), poolSize: 1, connectTimeoutMS: 0, connectTimeout: 0 } as unknown as DataSourceOptions;
      const storage = new TypeormStorage({ options, tablePrefix: prefix, name: 'silent' });
      const admin = await db.admin();
      const locker = admin.createQueryRunner();
      try {
        await storage.save(fullSession(1));
        await storage.kv.set('held', Uint8Array.of(0));
        const kv = admin.driver.escape(`${prefix ?? ''}kv`);
        await locker.startTransaction();
        await locker.query(`SELECT kv_key FROM ${kv} WHERE session_name = 'silent' AND kv_key = 'held' FOR UPDATE`);
        // In order on the one connection: 100 writes the database answers, one that waits
        // on the test's lock (the database says nothing more), and 100 queued behind it.
        const before = Array.from({ length: 100 }, (_, i) => outcome(storage.kv.set(`a${i}`, Uint8Array.of(1))));
        const stuck = outcome(storage.kv.set('held', Uint8Array.of(1)));
        const after = Array.from({ length: 100 }, (_, i) => outcome(storage.kv.set(`b${i}`, Uint8Array.of(1))));
        const started = Date.now();
        const closing = storage.close();
        expect(new Set(await Promise.all(before))).toEqual(new Set(['done']));
        expect(new Set([await stuck, ...(await Promise.all(after))])).toEqual(new Set(['MTSTORE_STORAGE_UNAVAILABLE']));
        await closing;
        const closedAfter = Date.now() - started;
        await locker.rollbackTransaction();
        // The calls queued behind the stuck one never ran (its own outcome is unknown: its statement was sent).
        const [row] = (await admin.query(`SELECT count(*) AS n FROM ${kv} WHERE kv_key LIKE 'b%'`)) as { n: string | number }[];
        expect(Number(row?.n)).toBe(0);
        console.info(`typeorm ${db.name}: database silent mid-close, close() resolved after ${closedAfter} ms (CLOSE_GRACE_MS ${CLOSE_GRACE_MS})`);
      } finally {
        if (locker.isTransactionActive) await locker.rollbackTransaction();
        await locker.release();
        await storage.close();
        await db.cleanup(namespace);
      }
    }, 30_000);
  });
}
