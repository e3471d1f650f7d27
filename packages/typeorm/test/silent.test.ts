/**
 * An owned DataSource (postgres, MariaDB) whose TCP connections die silently: no FIN,
 * no RST (a NAT that dropped the flows, a route change, a frozen host), played by the
 * loopback proxy in blackhole mode and then `up({ resume: false })`: connections made
 * from then on reach the server, those open before stay silent for good (plain `up()`
 * would resume them and hide what follows).
 *
 * - Once new connections get through, the same instance works again after at most one
 *   failed call: the first statement timeout closes the pool's idle connections (all
 *   as dead as the one that timed out) instead of leaving each to a call, and a
 *   statement timeout, of its own.
 * - A transaction cut off after its statements ran on the server rejects after one
 *   statement timeout (no ROLLBACK queued behind the lost statement), and nothing of it
 *   is applied.
 * - A transaction whose client vanished while the server never heard of it (old
 *   connections kept dark, new ones routed straight to the server) is ended by the
 *   server after about the statement timeout (postgres: `SET LOCAL
 *   idle_in_transaction_session_timeout` sent with the BEGIN; MariaDB: the session's
 *   `idle_transaction_timeout`), so its row locks do not block the session's later
 *   writes for hours (TCP keep-alive, `wait_timeout`).
 */
import { connect, Socket } from 'node:net';
import { fullSession, randomNamespace } from '@mtstore/conformance/vitest';
import { plainBytes } from '@mtstore/conformance';
import type { DataSourceOptions, Logger } from 'typeorm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TypeormStorage } from '../src/index.js';
import { availableDrivers, type TestDriver } from './drivers.js';
// By path, as ./proxy.js is: this package cannot depend on @mtstore/test-adapters.
import { keepsWorking, settle, unhandledRejections, untilOneSucceeds } from '../../test-adapters/src/outcomes.js';
import { openProxy, within, type Proxy } from './proxy.js';

const drivers = (await availableDrivers()).filter((db) => db.name !== 'sqlite');
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

/** The statement timeout of the recovery tests. */
const SHORT = 1_000;
/** Long enough that a transaction waiting out the timeout twice (ROLLBACK behind the lost statement) cannot pass for once. */
const TX_TIMEOUT = 2_500;
/** What the bounds allow for timers firing late on a loaded machine (two cores, test files side by side). */
const SLACK = 1_500;
/** MariaDB's idle_transaction_timeout counts whole seconds (the adapter rounds up). */
const SECOND = 1_000;
const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';

/** TypeORM logs a statement slower than maxQueryExecutionTime whatever `logging` says: not in the test output. */
const quiet: Logger = { logQuery() {}, logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };

async function until(check: () => Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const port = (db: TestDriver): number => Number(new URL(db.url).port || (db.name === 'postgres' ? 5432 : 3306));

/**
 * Options of an owned DataSource with statement timeout `timeout`, whose new connections
 * go where `route()` says (both drivers take a `stream` in `extra`).
 */
function ownedOptions(db: TestDriver, timeout: number, route: () => { host: string; port: number }, poolSize: number): DataSourceOptions {
  if (db.name === 'postgres') {
    const stream = (): Socket => {
      const socket = new Socket();
      const open = socket.connect.bind(socket) as (port: number, host: string) => Socket;
      // pg calls connect(port, host) itself: the route decides instead.
      (socket as unknown as { connect: () => Socket }).connect = () => open(route().port, route().host);
      return socket;
    };
    return { type: 'postgres', url: db.url, poolSize, connectTimeoutMS: SHORT, extra: { query_timeout: timeout, stream } };
  }
  const stream = (): Socket => connect(route().port, route().host);
  return { type: 'mariadb', url: db.url, poolSize, logger: quiet, connectTimeout: SHORT, enableQueryTimeout: true, maxQueryExecutionTime: timeout, extra: { stream } };
}

// The two drivers' suites side by side (describe.concurrent), the tests within each one
// after another (it.sequential: they share the suite's proxies, storages and afterEach).
// The file mostly waits on statement timeouts and on the server ending a transaction;
// each suite has its own proxies, namespaces, admin connections and server. Assertions
// go through the test context's `expect`.
for (const db of drivers) {
  describe.concurrent(`${db.name}: owned DataSource whose connections die silently`, () => {
    const proxies: Proxy[] = [];
    const namespaces: string[] = [];
    const storages: TypeormStorage[] = [];
    const holders: (() => Promise<void>)[] = [];
    const rejections = unhandledRejections();
    afterEach(async () => {
      for (const release of holders.splice(0)) await release().catch(() => {});
      await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
      await Promise.all(storages.splice(0).map((storage) => storage.close()));
      for (const namespace of namespaces.splice(0)) await db.cleanup(namespace);
    });

    /** A storage named 'victim' on a fresh namespace through a fresh proxy; `route` may be switched to the server itself. */
    async function setup(timeout: number, poolSize = 10) {
      const proxy = await openProxy(port(db));
      proxies.push(proxy);
      const namespace = randomNamespace();
      namespaces.push(namespace);
      const through = { host: proxy.host, port: proxy.port };
      const direct = { host: new URL(db.url).hostname, port: port(db) };
      let route = through;
      const options = ownedOptions(db, timeout, () => route, poolSize);
      const storage = new TypeormStorage({ options, tablePrefix: db.prefix(namespace), name: 'victim' });
      storages.push(storage);
      return { proxy, namespace, storage, routeToServer: () => (route = direct) };
    }

    /** Another connection takes the victim's session row FOR UPDATE; the returned function rolls back. */
    async function holdSessionRow(namespace: string): Promise<() => Promise<void>> {
      const admin = await db.admin();
      const runner = admin.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      const table = admin.driver.escape(`${db.prefix(namespace)}sessions`);
      await runner.query(`SELECT 1 FROM ${table} WHERE session_name = 'victim' FOR UPDATE`);
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        await runner.rollbackTransaction();
        await runner.release();
      };
      holders.push(release);
      return release;
    }

    /** Whether the victim's write of its session row is under way on the server (it waits for the held row lock). */
    async function waitsOnLock(namespace: string): Promise<boolean> {
      const admin = await db.admin();
      const rows: { n: number | string }[] =
        db.name === 'postgres'
          ? await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [`%${db.prefix(namespace)}sessions%`])
          : // information_schema.INNODB_TRX does not always show the wait as LOCK WAIT on MariaDB 10.11: the statement running is enough.
            await admin.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND ID <> CONNECTION_ID() AND INFO LIKE ?", [`INSERT INTO %${db.prefix(namespace)}sessions%`]);
      return Number(rows[0]?.n) > 0;
    }

    it.sequential('once new connections get through, the same instance works again after at most one failed call: the idle connections, dead too, go at the first timeout', async ({ expect }) => {
      const { proxy, storage } = await setup(SHORT);
      await storage.save(fullSession(1));
      await storage.kv.set('k', Uint8Array.of(1));
      // Ten calls at once open ten pooled connections (poolSize 10), idle afterwards.
      await Promise.all(Array.from({ length: 10 }, () => storage.kv.get('k')));
      expect(proxy.connections).toBeGreaterThanOrEqual(8);

      // The flows are forgotten: every open connection is silent for good, new ones get through.
      proxy.blackhole();
      proxy.up({ resume: false });
      const outages: string[] = [];
      const calls: [string, () => Promise<unknown>][] = [
        ['kv.get', () => storage.kv.get('k')],
        ['saveUpdateState (a transaction)', () => storage.saveUpdateState({ pts: 5, qts: 0, date: 1, seq: 1 })],
      ];
      for (const [label, call] of calls) {
        const { failures, recoveredMs: recovered } = await untilOneSucceeds(label, call, SHORT + 5_000);
        outages.push(`${label}: ${failures} failed call(s), working again after ${recovered.toFixed(0)} ms`);
        expect(failures, `${label}: calls failed before one succeeded (${outages.join('; ')})`).toBeLessThanOrEqual(1);
        expect(recovered, label).toBeLessThan(SHORT + SLACK);
        await keepsWorking(label, call, SLACK, SLACK + SHORT);
      }
      expect((await storage.kv.get('k'))?.[0]).toBe(1);
      expect(rejections).toEqual([]);
      console.info(`${db.name}, silent death of 10 pooled connections (statement timeout ${SHORT} ms): ${outages.join('; ')}`);
    }, 90_000);

    it.sequential('a save whose statements ran on the server but whose reply is lost rejects after one statement timeout (no ROLLBACK behind it); after recovery the old session is intact and saving works', async ({ expect }) => {
      const { proxy, namespace, storage } = await setup(TX_TIMEOUT, 3);
      await storage.save(fullSession(1));
      // The save waits inside the server on the session row, so the link goes dark mid-transaction.
      const release = await holdSessionRow(namespace);
      const started = performance.now();
      const saving = settle(within(2 * TX_TIMEOUT + 5_000, 'save', storage.save(fullSession(2))));
      await until(() => waitsOnLock(namespace), 'the save to wait on the row lock');
      proxy.blackhole();
      // The save's statement now runs (it writes the session row, uncommitted); its reply goes nowhere.
      await release();
      const result = await saving;
      const elapsed = result.at - started;
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code, result.error.message).toBe(UNAVAILABLE);
      expect(elapsed).toBeGreaterThanOrEqual(TX_TIMEOUT - 50);
      expect(elapsed, 'one statement timeout, not two').toBeLessThan(TX_TIMEOUT + SLACK);

      proxy.up({ resume: false });
      expect(plainBytes(await within(TX_TIMEOUT + SLACK, 'load', storage.load()))).toEqual(plainBytes(fullSession(1)));
      await within(TX_TIMEOUT + SLACK, 'save again', storage.save(fullSession(3)));
      expect(plainBytes(await storage.load())).toEqual(plainBytes(fullSession(3)));
      expect(rejections).toEqual([]);
      console.info(`${db.name}, silent link mid-transaction: save rejected after ${elapsed.toFixed(0)} ms (statement timeout ${TX_TIMEOUT} ms)`);
    }, 60_000);

    it.sequential('a transaction whose client gave up over a link that stays dark (the server never hears of it) is ended by the server: its row lock goes, the session is saved over a new route', async ({ expect }) => {
      const { proxy, namespace, storage, routeToServer } = await setup(TX_TIMEOUT, 3);
      await storage.save(fullSession(1));
      const release = await holdSessionRow(namespace);
      const saving = settle(within(2 * TX_TIMEOUT + 5_000, 'save', storage.save(fullSession(2))));
      await until(() => waitsOnLock(namespace), 'the save to wait on the row lock');
      // The proxy holds the open connections silent for good, the client's close of them
      // included (it never reaches the server); new connections go straight to the server.
      proxy.blackhole();
      routeToServer();
      // The save's statement runs and locks the session row; then its transaction waits for a client that is gone.
      await release();
      const idle = performance.now();
      const result = await saving;
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code, result.error.message).toBe(UNAVAILABLE);

      // Without a limit the server would keep the transaction, and the row lock, for hours
      // (postgres: until TCP keep-alive gives up; MariaDB: wait_timeout, 8 h by default).
      const bound = TX_TIMEOUT + (db.name === 'postgres' ? 0 : SECOND) + SLACK;
      expect(plainBytes(await within(bound, 'load', storage.load()))).toEqual(plainBytes(fullSession(1)));
      const saved = await settle(within(bound + TX_TIMEOUT, 'save over the new route', storage.save(fullSession(3))));
      if (!saved.ok) throw new Error(`save over the new route failed ${(saved.at - idle).toFixed(0)} ms after the transaction went idle: ${saved.error.message}`);
      const endedMs = saved.at - idle;
      expect(endedMs).toBeLessThan(bound);
      expect(plainBytes(await storage.load())).toEqual(plainBytes(fullSession(3)));
      expect(rejections).toEqual([]);
      console.info(`${db.name}, transaction abandoned over a dead link: the session saved again ${endedMs.toFixed(0)} ms after it went idle (statement timeout ${TX_TIMEOUT} ms)`);
    }, 60_000);
  });
}
