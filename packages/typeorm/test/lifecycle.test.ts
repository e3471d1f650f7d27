/**
 * What an application does to its own DataSource while the storages use it: destroys it
 * with calls in flight, initializes it again, drops the tables (`dropSchema` on the next
 * `initialize()`, `dropDatabase()`), drops one table. On every driver; the tests that
 * drop whole schemas run in a database or postgres schema of their own.
 */
import { randomNamespace, fullSession } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { availableDrivers, MYSQL_URL, plain, type TestDriver } from './drivers.js';

type Outcome = { code?: string; message: string } | 'fulfilled' | 'pending';

/** How `call` ended within `ms`: fulfilled, the error's code and message, or still pending. */
async function within(call: Promise<unknown>, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  const settled = call.then(
    (): Outcome => 'fulfilled',
    (error: unknown): Outcome => ({ code: (error as { code?: string }).code, message: (error as Error).message }),
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const outcome = await within(promise, 10_000);
  if (typeof outcome === 'string') throw new Error(`expected a rejection, got ${outcome}`);
  return outcome;
}

/**
 * DataSource options on a database (MySQL), postgres schema or sqlite file of the test's
 * own, so that `dropSchema` drops nothing else on the shared servers; and its removal.
 */
async function isolated(db: TestDriver): Promise<{ options: DataSourceOptions; drop(): Promise<void> }> {
  const namespace = randomNamespace();
  if (db.name === 'sqlite') return { options: db.options(namespace), drop: () => db.cleanup(namespace) };
  const admin = await db.admin();
  const name = `mtstore_lifecycle_${namespace}`;
  if (db.name === 'postgres') {
    await admin.query(`CREATE SCHEMA "${name}"`);
    return { options: { ...db.options(namespace), schema: name } as DataSourceOptions, drop: async () => void (await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)) };
  }
  await admin.query(`CREATE DATABASE \`${name}\``);
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  return { options: { ...db.options(namespace), url: url.toString() } as DataSourceOptions, drop: async () => void (await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)) };
}

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

for (const db of drivers) {
  describe(`${db.name}: the application's DataSource changes under the storages`, () => {
    it('calls in flight when the application destroys its DataSource settle (StorageUnavailableError), and work once it initializes it again', async () => {
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace);
      // One connection, and no connectTimeoutMS: calls wait in the pool's queue, unbounded.
      const { connectTimeoutMS: _bound, ...options } = { ...db.options(namespace), poolSize: 1 } as DataSourceOptions & { connectTimeoutMS?: number };
      const app = await new DataSource(options as DataSourceOptions).initialize();
      const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
      const sessions = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
      try {
        await storage.save(fullSession(1));
        await storage.kv.set('a', Uint8Array.of(1));
        // A new instance whose first call (making the schema ready) is among them.
        const fresh = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'bob' });
        const calls = [storage.kv.get('a'), storage.kv.set('b', Uint8Array.of(2)), storage.load(), storage.save(fullSession(2)), sessions.createSession(1n, 2n), fresh.load(), storage.kv.get('a'), storage.authKeys.get(1)];
        const destroyed = app.destroy();
        const outcomes = await Promise.all(calls.map((call) => within(call, 2000)));
        await destroyed;
        expect(outcomes.filter((outcome) => outcome === 'pending')).toEqual([]);
        const failures = outcomes.filter((outcome) => typeof outcome === 'object');
        expect(failures.map((failure) => failure.code)).toEqual(failures.map(() => 'MTSTORE_STORAGE_UNAVAILABLE'));
        if (db.name !== 'sqlite') expect(failures.length).toBeGreaterThanOrEqual(calls.length - 1);

        await app.initialize();
        expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(1));
        await storage.kv.set('a', Uint8Array.of(3));
        expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(3));
        await storage.save(fullSession(3));
        expect(plain(await storage.load())).toEqual(fullSession(3));
        expect(await sessions.createSession(5n, 6n)).toBe(true);
        expect(await sessions.hasSession(5n, 6n)).toBe(true);
        await fresh.save(fullSession(4));
        expect(plain(await fresh.load())).toEqual(fullSession(4));
        await fresh.close();
      } finally {
        await storage.close();
        await sessions.close();
        if (app.isInitialized) await app.destroy();
        await db.cleanup(namespace);
      }
    });

    it('re-initialized with dropSchema, the storages make the schema ready again as a fresh open would: tables created (migrate: false MigrationError, create: false NotFoundError), the lost lease LeaseLostError', async () => {
      const { options, drop } = await isolated(db);
      const app = await new DataSource(options).initialize();
      const storage = new TypeormStorage({ dataSource: app, name: 'alice' });
      const sessions = new TypeormSessionStorage({ dataSource: app });
      const checking = new TypeormStorage({ dataSource: app, name: 'alice', migrate: false });
      const reading = new TypeormStorage({ dataSource: app, name: 'alice', create: false });
      try {
        await storage.save(fullSession(1));
        await storage.lease.acquire({ heartbeat: false });
        await storage.kv.set('a', Uint8Array.of(1));
        expect(await sessions.createSession(1n, 2n)).toBe(true);
        expect(plain(await checking.load())).toEqual(fullSession(1));
        expect(plain(await reading.load())).toEqual(fullSession(1));

        await app.destroy();
        app.setOptions({ dropSchema: true });
        await app.initialize();
        // What a new instance would say about a database without the tables.
        expect((await rejection(reading.load())).code).toBe('MTSTORE_NOT_FOUND');
        expect((await rejection(checking.load())).code).toBe('MTSTORE_MIGRATION');
        // The lease's row went with its table: the write is refused, nothing written.
        expect((await rejection(storage.kv.set('a', Uint8Array.of(2)))).code).toBe('MTSTORE_LEASE_LOST');
        expect(await storage.load()).toBeNull();
        expect(await storage.kv.get('a')).toBeNull();
        await storage.lease.acquire({ heartbeat: false });
        await storage.save(fullSession(2));
        await storage.kv.set('a', Uint8Array.of(3));
        await storage.lease.release();
        expect(plain(await storage.load())).toEqual(fullSession(2));
        expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(3));
        expect(await sessions.hasSession(1n, 2n)).toBe(false);
        expect(await sessions.createSession(1n, 2n)).toBe(true);
        // The tables are there again: the other two work.
        expect(plain(await reading.load())).toEqual(fullSession(2));
        expect(plain(await checking.load())).toEqual(fullSession(2));
      } finally {
        for (const instance of [storage, sessions, checking, reading]) await instance.close();
        if (app.isInitialized) await app.destroy();
        await drop();
      }
    });

    it('tables dropped under a live DataSource (dropDatabase(), as test suites do between tests): the next calls create them again', async () => {
      const { options, drop } = await isolated(db);
      const app = await new DataSource(options).initialize();
      const storage = new TypeormStorage({ dataSource: app, name: 'alice' });
      const sessions = new TypeormSessionStorage({ dataSource: app });
      try {
        await storage.save(fullSession(1));
        expect(await sessions.createSession(1n, 2n)).toBe(true);
        await app.dropDatabase();
        // Together: the schema is made ready once for all of them.
        const [loaded, kv, has] = await Promise.all([storage.load(), storage.kv.get('a'), sessions.hasSession(1n, 2n)]);
        expect([loaded, kv, has]).toEqual([null, null, false]);
        await storage.save(fullSession(2));
        await storage.peers.upsert([]);
        expect(plain(await storage.load())).toEqual(fullSession(2));
      } finally {
        await storage.close();
        await sessions.close();
        await app.destroy();
        await drop();
      }
    });

    it('one table dropped on its own, schema_version left: MigrationError naming what to do, not a failure forever read as an outage', async () => {
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace) ?? 'mtstore_';
      const app = await new DataSource(db.options(namespace)).initialize();
      const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
      try {
        await storage.save(fullSession(1));
        await app.query(`DROP TABLE ${app.driver.escape(`${prefix}kv`)}`);
        const failure = await rejection(storage.kv.get('a'));
        expect(failure.code).toBe('MTSTORE_MIGRATION');
        expect(failure.message).toContain('is missing although');
        // The rest of the store still works.
        expect(plain(await storage.load())).toEqual(fullSession(1));
      } finally {
        await storage.close();
        await app.destroy();
        await db.cleanup(namespace);
      }
    });

    if (db.name === 'sqlite') {
      it('a transaction of the application open on the one sqlite connection: calls wait for it to end instead of joining it (its rollback took a reported write with it), and fail StorageUnavailableError after the busy timeout', async () => {
        const namespace = randomNamespace();
        const app = await new DataSource({ ...db.options(namespace), timeout: 400 } as DataSourceOptions).initialize();
        const storage = new TypeormStorage({ dataSource: app, name: 'alice' });
        try {
          await storage.kv.set('a', Uint8Array.of(1));
          // The application's transaction is open across an await while mtstore writes, then rolls back.
          let write: Promise<Outcome> | undefined;
          await app
            .transaction(async (manager) => {
              await manager.query('SELECT 1');
              write = within(storage.kv.set('a', Uint8Array.of(2)), 5000);
              await new Promise((done) => setTimeout(done, 100));
              throw new Error('the application rolls back');
            })
            .catch(() => undefined);
          expect(await write).toBe('fulfilled');
          expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(2));
          // Awaited inside the transaction, the call cannot wait for it: it fails after the busy timeout, nothing written.
          const started = Date.now();
          const inside = await app.transaction(async () => within(storage.kv.set('a', Uint8Array.of(3)), 5000));
          expect(typeof inside === 'object' ? inside.code : inside).toBe('MTSTORE_STORAGE_UNAVAILABLE');
          expect(Date.now() - started).toBeGreaterThanOrEqual(400);
          expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(2));
          await storage.save(fullSession(1));
          expect(plain(await storage.load())).toEqual(fullSession(1));
        } finally {
          await storage.close();
          await app.destroy();
          await db.cleanup(namespace);
        }
      });
    }
  });
}
