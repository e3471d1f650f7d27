/**
 * A server that goes silent (a loopback proxy in front of the real server that keeps
 * accepting but forwards nothing: test/proxy.ts), on postgres and MariaDB with a
 * DataSource the adapter owns. Calls in flight reject with StorageUnavailableError within
 * the statement timeout, the next call after the server answers again succeeds by
 * itself, and close() resolves within a bound, settles every call and leaves no socket
 * open (a child process that closes while blackholed exits by itself). The defaults
 * behind that are checked on the DataSource's options and its driver pool's config;
 * a DataSource the application passes is left as it is.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { fullSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { DataSource, type DataSourceOptions, type Logger } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeormStorage } from '../src/index.js';
import { CLOSE_GRACE_MS, Connection } from '../src/connection.js';
import { DESTROY_TIMEOUT_MS, MYSQL_QUERY_TIMEOUT_MS } from '../src/timeouts.js';
import { availableDrivers, type TestDriver } from './drivers.js';
import { openProxy, type Proxy } from './proxy.js';

const here = dirname(fileURLToPath(import.meta.url));
const drivers = (await availableDrivers()).filter((db) => db.name !== 'sqlite');
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
/** The statement and connect timeouts the short-timeout tests give in their own options. */
const SHORT = 1000;

/** TypeORM logs a statement slower than maxQueryExecutionTime whatever `logging` says: not in the test output. */
const quiet: Logger = { logQuery() {}, logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };

function target(db: TestDriver): number {
  return Number(new URL(db.url).port || (db.name === 'postgres' ? 5432 : 3306));
}

/** Options of an owned DataSource through `proxy`, as a user would write them; `short`: 1 s timeouts. */
function throughProxy(db: TestDriver, proxy: Proxy, short: boolean): DataSourceOptions {
  const url = new URL(db.url);
  url.port = String(proxy.port);
  if (db.name === 'postgres') {
    return { type: 'postgres', url: url.href, poolSize: 3, ...(short ? { connectTimeoutMS: SHORT, extra: { query_timeout: SHORT } } : {}) };
  }
  return { type: 'mariadb', url: url.href, poolSize: 3, logger: quiet, ...(short ? { connectTimeout: SHORT, enableQueryTimeout: true, maxQueryExecutionTime: SHORT } : {}) };
}

const code = (error: unknown) => (error as { code?: string }).code;
/** Every call's outcome and how long it took to settle. */
const timed = (call: Promise<unknown>) => {
  const started = Date.now();
  return call.then(
    () => ({ ok: true, code: undefined as string | undefined, ms: Date.now() - started }),
    (error: unknown) => ({ ok: false, code: code(error), ms: Date.now() - started }),
  );
};

// Side by side, both drivers' suites and the tests in them: the file mostly waits, on
// statement and connect timeouts behind a silent proxy and on close() with the adapter's
// default timeouts (~9 s a driver, in a child process). Each test has its own proxy,
// namespace, connections (and child), and asserts through the test context's `expect`.
for (const db of drivers) {
  describe.concurrent(`${db.name}: owned DataSource, server silent`, () => {
    it('defaults: connect timeout 10 s, statement timeout 30 s (postgres: and keepAlive), under the caller\'s own values', async ({ expect }) => {
      const url = db.url;
      const namespace = randomNamespace();
      const tablePrefix = db.prefix(namespace);
      const plain = new Connection({ options: { type: db.name === 'postgres' ? 'postgres' : 'mariadb', url } as DataSourceOptions, tablePrefix }, 'test');
      const mine = new Connection(
        {
          tablePrefix,
          options:
            db.name === 'postgres'
              ? { type: 'postgres', url, connectTimeoutMS: 2500, extra: { query_timeout: 1234, application_name: 'mtstore-outage-test' } }
              : { type: 'mariadb', url, connectTimeout: 2500, enableQueryTimeout: true, maxQueryExecutionTime: 1234, logger: quiet },
        },
        'test',
      );
      try {
        await plain.ready();
        await mine.ready();
        if (db.name === 'postgres') {
          expect(plain.dataSource.options).toMatchObject({ connectTimeoutMS: 10_000, extra: { query_timeout: 30_000, keepAlive: true } });
          // What pg's pool was actually given.
          const pool = (connection: Connection) => (connection.dataSource.driver as unknown as { master: { options: Record<string, unknown> } }).master.options;
          expect(pool(plain)).toMatchObject({ connectionTimeoutMillis: 10_000, query_timeout: 30_000, keepAlive: true });
          expect(pool(mine)).toMatchObject({ connectionTimeoutMillis: 2500, query_timeout: 1234, keepAlive: true, application_name: 'mtstore-outage-test' });
        } else {
          expect(plain.dataSource.options).toMatchObject({ connectTimeout: 10_000 });
          const pool = (connection: Connection) => (connection.dataSource.driver as unknown as { pool: { config: { connectionConfig: Record<string, unknown> } } }).pool.config.connectionConfig;
          expect(pool(plain)).toMatchObject({ connectTimeout: 10_000 });
          expect(pool(mine)).toMatchObject({ connectTimeout: 2500 });
          // The statement bound the adapter enforces (see queryTimeoutOf).
          expect(plain.queryTimeout).toBe(MYSQL_QUERY_TIMEOUT_MS);
          expect(mine.queryTimeout).toBe(1234);
        }
      } finally {
        await plain.close();
        await mine.close();
        await db.cleanup(namespace);
      }
      // The caller's options object is not changed.
      const given = { type: 'postgres', url } as DataSourceOptions;
      const untouched = new Connection({ options: given }, 'test');
      expect(given).toEqual({ type: 'postgres', url });
      await untouched.close();
    });

    it('a borrowed DataSource keeps its options and is not destroyed by close()', async ({ expect }) => {
      const options = { ...db.options('x'), logger: quiet } as DataSourceOptions;
      const app = await new DataSource(options).initialize();
      const namespace = randomNamespace();
      try {
        const connection = new Connection({ dataSource: app, tablePrefix: db.prefix(namespace) }, 'test');
        expect(app.options).toBe(options);
        expect(connection.queryTimeout).toBe(0);
        await connection.ready();
        await connection.close();
        expect(app.isInitialized).toBe(true);
        expect(await app.query('SELECT 1 AS one')).toHaveLength(1);
        expect((app.options as { extra?: unknown }).extra).toBeUndefined();
      } finally {
        await app.destroy();
        await db.cleanup(namespace);
      }
    });

    it('calls in flight while the server is silent reject StorageUnavailableError within the statement timeout; the next call after it answers again succeeds', async ({ expect }) => {
      const proxy = await openProxy(target(db));
      const namespace = randomNamespace();
      const storage = new TypeormStorage({ options: throughProxy(db, proxy, true), tablePrefix: db.prefix(namespace), name: 'outage' });
      try {
        await storage.save(fullSession(1));
        await storage.peers.upsert([peer('user', 1)]);
        proxy.blackhole();
        // More calls than the pool has connections: some wait for one, which must be bounded too.
        const calls = [
          storage.load(),
          storage.saveUpdateState({ pts: 2, qts: 0, date: 1, seq: 1 }),
          storage.authKeys.set(3, fullSession(1).dcs[0]?.authKey as Uint8Array),
          storage.peers.upsert([peer('user', 2)]),
          storage.kv.set('k', new Uint8Array([1, 2, 3])),
          storage.load(),
        ].map(timed);
        const outcomes = await Promise.all(calls);
        for (const outcome of outcomes) {
          expect(outcome.ok).toBe(false);
          expect(outcome.code).toBe(UNAVAILABLE);
          // A statement timeout, plus one connect timeout for a call that waited for a fresh connection.
          expect(outcome.ms).toBeLessThan(4 * SHORT + 1500);
        }
        proxy.up();
        await storage.saveUpdateState({ pts: 77, qts: 0, date: 1, seq: 1 });
        expect((await storage.load())?.state?.pts).toBe(77);
        await storage.peers.upsert([peer('user', 3)]);
      } finally {
        proxy.up();
        await storage.close();
        await proxy.close();
        await db.cleanup(namespace);
      }
    });

    it('close() while the server is silent, calls in flight, default timeouts: resolves in < 10 s, settles every call, and the process exits by itself', async ({ expect }) => {
      const proxy = await openProxy(target(db));
      const namespace = randomNamespace();
      // The child runs the adapter's source, bundled (its dependencies stay external).
      const bundle = join(here, '..', `.outage-child-${process.pid}-${db.name}.mjs`);
      await build({ entryPoints: [join(here, '..', 'src', 'index.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: bundle, logLevel: 'silent' });
      const child = spawn(process.execPath, [join(here, 'fixtures', 'outage-child.mjs'), bundle, db.name, String(proxy.port), db.prefix(namespace) ?? ''], { stdio: ['pipe', 'pipe', 'inherit'] });
      const exited = new Promise<number | string>((resolve) => child.once('exit', (status, signal) => resolve(status ?? String(signal))));
      let report: { close: string; closeMs: number; calls: string[]; handles: string[] } | undefined;
      let endedAt = 0;
      try {
        let buffered = '';
        const ended = new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (chunk: Buffer) => {
            buffered += chunk.toString();
            let newline: number;
            while ((newline = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, newline);
              buffered = buffered.slice(newline + 1);
              if (line === 'warm') {
                proxy.blackhole();
                child.stdin.write('go\n');
              } else if (line === 'end') {
                endedAt = Date.now();
                resolve();
              } else if (line.startsWith('{')) report = JSON.parse(line);
            }
          });
          void exited.then((status) => reject(new Error(`the child exited (${status}) before closing`)));
        });
        await ended;
        expect(report?.close).toBe('ok');
        expect(report?.closeMs).toBeLessThan(10_000);
        expect(report?.closeMs).toBeLessThan(CLOSE_GRACE_MS + 2 * DESTROY_TIMEOUT_MS + 1000);
        // Every call settled before close() resolved: done, or rejected with a typed error.
        for (const call of report?.calls ?? []) expect(call).toMatch(/^(ok|MTSTORE_STORAGE_CLOSED|MTSTORE_STORAGE_UNAVAILABLE)$/);
        expect(report?.calls).toHaveLength(5);
        // Nothing holds the process: it exits by itself, with the proxy still silent.
        const status = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 5000))]);
        expect(status, `handles at the end: ${JSON.stringify(report?.handles)}`).toBe(0);
        expect(Date.now() - endedAt).toBeLessThan(5000);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        rmSync(bundle, { force: true });
        proxy.up();
        await proxy.close();
        await db.cleanup(namespace);
      }
    }, 40_000);
  });
}
