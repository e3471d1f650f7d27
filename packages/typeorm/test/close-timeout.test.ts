/**
 * closeTimeoutMillis: close()'s grace for calls in flight (docs/contract.md §9), the
 * option @mtstore/postgres has under the same name: the database's silence allowed,
 * default CLOSE_GRACE_MS, 0 for no wait. Each test holds two calls (a kv.set of
 * TypeormStorage and a destroySession of TypeormSessionStorage) that the database does
 * not answer: on postgres and MariaDB a row lock another connection holds; on
 * better-sqlite3, whose statements never wait asynchronously, a transaction of the
 * application open on the borrowed DataSource's one connection, which mtstore's calls
 * wait out (connection.ts, #outsideApplicationTransaction) — the one way a call stays
 * unanswered there.
 */
import { existsSync } from 'node:fs';
import { randomNamespace } from '@mtstore/conformance/vitest';
import { DataSource, type QueryRunner } from 'typeorm';
import { afterAll, describe, it } from 'vitest';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { availableDrivers, type TestDriver } from './drivers.js';

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

/** How a call settled, and when, in ms after `since`. */
interface Settled {
  readonly result: string;
  readonly after: number;
}

const settle = (call: Promise<unknown>, since: () => number): Promise<Settled> =>
  call.then(
    () => ({ result: 'done', after: Date.now() - since() }),
    (error: { code?: string; message?: string }) => ({ result: `${error.code}: ${error.message}`, after: Date.now() - since() }),
  );

/** Two instances with `closeTimeoutMillis`, each with one call the database leaves unanswered. */
interface Held {
  readonly storage: TypeormStorage;
  readonly sessions: TypeormSessionStorage;
  /** The kv.set and destroySession left unanswered, settling as `settle` says (from close()). */
  readonly calls: Promise<Settled>[];
  /** Lets the database answer again (the lock is let go of, the application's transaction rolled back). */
  release(): Promise<void>;
  /** What the two calls would have changed: kv 'held' still 0, the server session still there. */
  unchanged(): Promise<boolean>;
  dispose(): Promise<void>;
}

async function hold(db: TestDriver, namespace: string, closeTimeoutMillis: number, closedAt: () => number): Promise<Held> {
  const tablePrefix = db.prefix(namespace);
  let application: DataSource | undefined;
  let runner: QueryRunner;
  let storage: TypeormStorage;
  let sessions: TypeormSessionStorage;
  if (db.name === 'sqlite') {
    application = await new DataSource(db.options(namespace)).initialize();
    storage = new TypeormStorage({ dataSource: application, closeTimeoutMillis, name: 'held' });
    sessions = new TypeormSessionStorage({ dataSource: application, closeTimeoutMillis });
    runner = application.createQueryRunner();
  } else {
    storage = new TypeormStorage({ options: db.options(namespace), tablePrefix, closeTimeoutMillis, name: 'held' });
    sessions = new TypeormSessionStorage({ options: db.options(namespace), tablePrefix, closeTimeoutMillis });
    runner = (await db.admin()).createQueryRunner();
  }
  await storage.kv.set('held', Uint8Array.of(0));
  await sessions.createSession(1n, 1n);
  const table = (name: string) => runner.connection.driver.escape(`${tablePrefix ?? 'mtstore_'}${name}`);
  await runner.startTransaction();
  if (db.name !== 'sqlite') {
    await runner.query(`SELECT kv_key FROM ${table('kv')} WHERE session_name = 'held' AND kv_key = 'held' FOR UPDATE`);
    await runner.query(`SELECT session_id FROM ${table('server_sessions')} WHERE auth_key_id = 1 AND session_id = 1 FOR UPDATE`);
  }
  const calls = [settle(storage.kv.set('held', Uint8Array.of(1)), closedAt), settle(sessions.destroySession(1n, 1n), closedAt)];
  // Both sent (servers: waiting on the locks) or waiting for their turn (sqlite) before close().
  await new Promise((resolve) => setTimeout(resolve, 200));
  const release = async (): Promise<void> => {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
  };
  return {
    storage,
    sessions,
    calls,
    release,
    async unchanged() {
      const [kv] = (await runner.query(`SELECT value FROM ${table('kv')} WHERE session_name = 'held' AND kv_key = 'held'`)) as { value: Uint8Array }[];
      const found = (await runner.query(`SELECT session_id FROM ${table('server_sessions')} WHERE auth_key_id = 1 AND session_id = 1`)) as unknown[];
      return kv !== undefined && Buffer.from(kv.value).equals(Buffer.of(0)) && found.length === 1;
    },
    async dispose() {
      await release();
      await runner.release();
      await storage.close();
      await sessions.close();
      await application?.destroy();
      await db.cleanup(namespace);
    },
  };
}

const unavailable = (operation: string, why: string) =>
  `MTSTORE_STORAGE_UNAVAILABLE: ${operation} failed: closed while this call was still running (${why}); it may or may not have been applied`;

for (const db of drivers) {
  describe.concurrent(`${db.name}: closeTimeoutMillis`, () => {
    it('0: close() does not wait; the calls in flight reject StorageUnavailableError at once', async ({ expect }) => {
      let started = 0;
      const held = await hold(db, randomNamespace(), 0, () => started);
      try {
        started = Date.now();
        await Promise.all([held.storage.close(), held.sessions.close()]);
        const closedAfter = Date.now() - started;
        const [set, destroy] = await Promise.all(held.calls);
        expect(set?.result).toBe(unavailable('TypeormStorage.kv.set("held")', 'closeTimeoutMillis 0: close() does not wait'));
        expect(destroy?.result).toBe(unavailable('TypeormSessionStorage.destroySession(authKeyId=1, sessionId=1)', 'closeTimeoutMillis 0: close() does not wait'));
        for (const call of [set, destroy]) expect(call?.after).toBeLessThan(200);
        // Their connections closed at once: destroying an owned DataSource does not wait DESTROY_TIMEOUT_MS (1 s) for them.
        expect(closedAfter).toBeLessThan(500);
        console.info(`typeorm ${db.name}: closeTimeoutMillis 0, calls rejected after ${set?.after} / ${destroy?.after} ms, close() resolved after ${closedAfter} ms`);
        if (db.name === 'sqlite') {
          // A call given up on while it waited for its turn never runs, after the application's transaction too.
          await held.release();
          await new Promise((resolve) => setTimeout(resolve, 100));
          expect(await held.unchanged()).toBe(true);
        }
      } finally {
        await held.dispose();
      }
    }, 20_000);

    it(`300 ms: the calls the database leaves unanswered reject after 300 ms of its silence, not ${CLOSE_GRACE_MS}`, async ({ expect }) => {
      let started = 0;
      const held = await hold(db, randomNamespace(), 300, () => started);
      try {
        started = Date.now();
        await Promise.all([held.storage.close(), held.sessions.close()]);
        const closedAfter = Date.now() - started;
        const [set, destroy] = await Promise.all(held.calls);
        expect(set?.result).toBe(unavailable('TypeormStorage.kv.set("held")', 'the database answered no call for 300 ms'));
        expect(destroy?.result).toBe(unavailable('TypeormSessionStorage.destroySession(authKeyId=1, sessionId=1)', 'the database answered no call for 300 ms'));
        for (const call of [set, destroy]) {
          expect(call?.after).toBeGreaterThanOrEqual(290);
          expect(call?.after).toBeLessThan(1_500);
        }
        expect(closedAfter).toBeLessThan(800);
        console.info(`typeorm ${db.name}: closeTimeoutMillis 300, calls rejected after ${set?.after} / ${destroy?.after} ms, close() resolved after ${closedAfter} ms`);
      } finally {
        await held.dispose();
      }
    }, 20_000);

    it('a number of ms from 0 to 2^31 - 1, else InvalidArgumentError from the constructor, before any I/O', async ({ expect }) => {
      const namespace = randomNamespace();
      const options = { options: db.options(namespace), tablePrefix: db.prefix(namespace) };
      for (const closeTimeoutMillis of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 32, '5', true, {}] as unknown as number[]) {
        for (const [name, make] of [
          ['TypeormStorage', () => new TypeormStorage({ ...options, closeTimeoutMillis })],
          ['TypeormSessionStorage', () => new TypeormSessionStorage({ ...options, closeTimeoutMillis })],
        ] as const) {
          expect(make, `${name} ${String(closeTimeoutMillis)}`).toThrow(
            expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringMatching(new RegExp(`^${name}: closeTimeoutMillis must be a number of ms from 0 to ${2 ** 31 - 1}, got `)) }),
          );
        }
      }
      // sqlite: not even the database file was created.
      if (db.name === 'sqlite') expect(existsSync((db.options(namespace) as { database: string }).database)).toBe(false);
      for (const closeTimeoutMillis of [0, 1.5, 300, 2 ** 31 - 1, undefined]) {
        await new TypeormStorage({ ...options, closeTimeoutMillis }).close();
        await new TypeormSessionStorage({ ...options, closeTimeoutMillis }).close();
      }
      await db.cleanup(namespace);
    });
  });
}
