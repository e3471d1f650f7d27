/**
 * The main pool (not the bus) when its TCP connections die silently: no FIN, no RST (a
 * NAT that dropped the flows, a frozen host), played by a proxy in blackhole mode. Calls
 * in flight reject StorageUnavailableError after query_timeout; once new connections get
 * through, the same instance works again at once — the dead connections left idle in the
 * pool are dropped when the first call times out, not found one call (and one
 * query_timeout) at a time; close() settles everything within its bound; a transaction
 * cut off rejects after one query_timeout (no ROLLBACK queued behind the lost statement)
 * and nothing of it is applied; and the server ends such a transaction by itself after
 * query_timeout, also when it never hears that the client gave up on it.
 */
import { Socket } from 'node:net';
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession, minimalSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { keepsWorking, settle, unhandledRejections, untilOneSucceeds, type Settled } from '../../test-adapters/src/outcomes.js';
import { openProxy, within, type Proxy } from '../../test-adapters/src/proxy.js';
import { PostgresSessionStorage, PostgresStorage, type PostgresStorageOptions } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, plain, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

/** query_timeout given through the adapter's `config`: short, to keep the tests fast. */
const QUERY_TIMEOUT = 1_000;
/** What the bounds allow for timers firing late on a loaded machine (two cores, packages tested side by side). */
const SLACK = 1_500;

describe.runIf(server.available)('pool whose connections die silently (a proxy that goes dark)', () => {
  const proxies: Proxy[] = [];
  const rejections = unhandledRejections();
  afterEach(async () => {
    // Before helpers.ts closes the storages and drops the schemas: frees every connection held through the proxy.
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  /** A client and a server storage on one schema, both through a fresh proxy (pools of their own). */
  async function setup(options: { queryTimeout?: number; config?: pg.PoolConfig; storage?: Partial<PostgresStorageOptions> } = {}) {
    const proxy = await openProxy(url);
    proxies.push(proxy);
    const schema = freshSchema();
    const application = applicationName('dark');
    const config: pg.PoolConfig = { connectionString: proxy.url(), application_name: application, query_timeout: options.queryTimeout ?? QUERY_TIMEOUT, ...options.config };
    const client = track(new PostgresStorage({ config, schema, name: 'victim', ...options.storage }));
    const sessions = track(new PostgresSessionStorage({ config, schema, ...options.storage }));
    return { proxy, schema, application, client, sessions };
  }

  it('calls in flight over a silent link reject StorageUnavailableError after query_timeout (a client and a server operation)', async () => {
    const { proxy, client, sessions } = await setup();
    await client.save(minimalSession());
    await sessions.createSession(1n, 1n);
    // Two idle connections in each pool, so every call below runs on a connection already open.
    await Promise.all([client.load(), client.load(), sessions.hasSession(1n, 1n), sessions.hasSession(1n, 1n)]);
    proxy.blackhole();
    const started = performance.now();
    const calls = await Promise.all(
      ([client.load(), client.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }), sessions.hasSession(1n, 1n), sessions.createSession(1n, 2n)] as Promise<unknown>[]).map((call) =>
        settle(within(QUERY_TIMEOUT + 5_000, 'a call over the dark link', call)),
      ),
    );
    for (const [i, result] of calls.entries()) {
      expect(result.ok, `call ${i}`).toBe(false);
      if (result.ok) continue;
      expect(result.error.code, `call ${i}: ${result.error.message}`).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.error.message).toMatch(/timeout/i);
      // query_timeout, not pg's 10 s connection timeout nor TCP's retransmission timeout.
      expect(result.at - started, `call ${i}`).toBeGreaterThanOrEqual(QUERY_TIMEOUT - 50);
      expect(result.at - started, `call ${i}`).toBeLessThan(QUERY_TIMEOUT + SLACK);
    }
    expect(rejections).toEqual([]);
    console.info(`postgres pool, silent link: calls in flight rejected after ${Math.max(...calls.map((c) => c.at - started)).toFixed(0)} ms (query_timeout ${QUERY_TIMEOUT} ms)`);
  });

  it('once new connections get through, the same instance works again after at most one call fails: the dead idle connections go at the first timeout, not one call (and one query_timeout) each', async () => {
    const { proxy, application, client, sessions } = await setup();
    await client.save(minimalSession());
    await sessions.createSession(1n, 1n);
    // Fill both pools: ten calls at once on an empty pool open ten connections (pg's default max).
    await Promise.all(Array.from({ length: 10 }, () => client.load()));
    await Promise.all(Array.from({ length: 10 }, () => sessions.hasSession(1n, 1n)));
    const before = await backends(application);
    expect(before).toHaveLength(20);

    // The flows are forgotten (a NAT dropped them): every open connection is silent for good, new ones get through.
    proxy.blackhole();
    proxy.up({ resume: false });
    const outages: string[] = [];
    const calls: [string, () => Promise<unknown>][] = [
      ['client load', () => client.load()],
      ['server hasSession', () => sessions.hasSession(1n, 1n)],
    ];
    for (const [label, call] of calls) {
      const { failures, recoveredMs: recovered } = await untilOneSucceeds(label, call, QUERY_TIMEOUT + 5_000);
      outages.push(`${label}: ${failures} failed call(s), working again after ${recovered.toFixed(0)} ms`);
      // The first call may pick a dead connection and wait out query_timeout; the next one works.
      expect(failures, `${label}: calls failed before one succeeded`).toBeLessThanOrEqual(1);
      expect(recovered, label).toBeLessThan(QUERY_TIMEOUT + SLACK);
      await keepsWorking(label, call, SLACK, SLACK);
    }
    // The dead connections were closed: none of those open before is left on the server.
    await until(async () => (await backends(application)).every((pid) => !before.includes(pid)), 'the dead connections to go', 5_000);
    expect(rejections).toEqual([]);
    console.info(`postgres pool, silent death of 10 pooled connections (query_timeout ${QUERY_TIMEOUT} ms): ${outages.join('; ')}`);
  });

  it('close() over a silent link settles every call in flight and resolves within closeTimeoutMillis + 1 s', async () => {
    const closeTimeoutMillis = 1_000;
    // pg's own timeouts (query 30 s, connect 10 s) are longer: only close() can settle these calls in time.
    const { proxy, application, client, sessions } = await setup({ queryTimeout: 30_000, config: { max: 2 }, storage: { closeTimeoutMillis } });
    await client.save(minimalSession());
    await Promise.all([client.load(), client.load()]);
    await sessions.createSession(1n, 1n);
    proxy.blackhole();
    const calls = [
      client.load(), // on an open connection
      client.save(fullSession(2)), // a transaction, on the other one
      client.kv.set('k', Uint8Array.of(1)), // waits for a connection (max 2)
      sessions.hasSession(1n, 1n), // on the open connection
      sessions.createSession(1n, 2n), // on a new connection, whose handshake goes nowhere
    ].map(settle);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await within(closeTimeoutMillis + 1_000 + SLACK + 2_000, 'close', Promise.all([client.close(), sessions.close()]));
    const closed = performance.now();
    expect(closed - started).toBeGreaterThanOrEqual(closeTimeoutMillis - 10);
    expect(closed - started).toBeLessThan(closeTimeoutMillis + 1_000 + SLACK);
    for (const [i, result] of (await Promise.all(calls)).entries()) {
      expect(result.ok, `call ${i}`).toBe(false);
      if (result.ok) continue;
      expect(result.error.code, `call ${i}: ${result.error.message}`).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.error.message).toContain('may or may not have been applied');
      expect(result.at, `call ${i} settled after close() resolved`).toBeLessThanOrEqual(closed);
    }
    await expect(client.load()).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
    // Once the proxy hears the closes, none of the instances' connections is left on the server.
    proxy.up({ resume: false });
    await until(async () => (await backends(application)).length === 0, 'no connection left', 5_000);
    expect(rejections).toEqual([]);
    console.info(`postgres pool, silent link: close() resolved after ${(closed - started).toFixed(0)} ms (closeTimeoutMillis ${closeTimeoutMillis} ms)`);
  });

  it('close() over a silent link with a lease held gives up on giving it back after 2 s, so it still resolves in bounded time (not after query_timeout); the lease then runs out by itself', async () => {
    const closeTimeoutMillis = 1_000;
    const { proxy, client } = await setup({ queryTimeout: 30_000, storage: { closeTimeoutMillis } });
    await client.save(minimalSession());
    await client.lease.acquire({ ttlSeconds: 60 });
    proxy.blackhole();
    const started = performance.now();
    // The release waits 2 s (core's RELEASE_ON_CLOSE_MS), then the pool closes under it.
    await within(2_000 + closeTimeoutMillis + 1_000 + SLACK + 2_000, 'close with a lease held', client.close());
    const closedMs = performance.now() - started;
    expect(closedMs).toBeGreaterThanOrEqual(2_000 - 10);
    expect(closedMs).toBeLessThan(2_000 + closeTimeoutMillis + 1_000 + SLACK);
    // Not given back: another instance (straight to the server) sees it held until its TTL.
    const other = track(new PostgresStorage({ connectionString: url, schema: client.schema, name: 'victim' }));
    expect(await other.lease.holder()).not.toBeNull();
    expect(rejections).toEqual([]);
    console.info(`postgres pool, silent link: close() with a lease held resolved after ${closedMs.toFixed(0)} ms (closeTimeoutMillis ${closeTimeoutMillis} ms, query_timeout 30 s)`);
  });

  /**
   * A transaction of another connection (`holder`) locks the session row of 'victim';
   * `client.save` (a second snapshot) then waits on it inside the server. Returns once
   * it waits, with the holder (its ROLLBACK lets the save's first statement run), when
   * the save began, and its outcome to come.
   */
  async function saveWaitingOnItsRow(schema: string, application: string, client: PostgresStorage): Promise<{ holder: pg.Client; started: number; saving: Promise<Settled> }> {
    const holder = track(new pg.Client({ connectionString: url, application_name: applicationName('holder') }));
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schema}".sessions WHERE name = 'victim' FOR UPDATE`);
    const started = performance.now();
    const saving = settle(within(2 * TX_QUERY_TIMEOUT + 5_000, 'save', client.save(fullSession(2))));
    await until(async () => {
      const { rows } = await admin().query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application]);
      return rows.length === 1;
    }, 'save to wait on the lock');
    return { holder, started, saving };
  }

  /**
   * Long enough that a transaction waiting out query_timeout twice (the lost statement,
   * then a ROLLBACK queued behind it on the same dead connection) cannot pass for one.
   */
  const TX_QUERY_TIMEOUT = 2_500;
  const TX_BOUND = TX_QUERY_TIMEOUT + 2_000;

  it('a peers.upsert batch cut off by a silent link rejects StorageUnavailableError after one query_timeout; nothing of it is stored and it succeeds once new connections get through', async () => {
    const { proxy, client } = await setup({ queryTimeout: TX_QUERY_TIMEOUT });
    await client.save(minimalSession());
    const batch = Array.from({ length: 100 }, (_, i) => peer('user', i + 1));
    proxy.blackhole();
    const started = performance.now();
    const result = await settle(within(2 * TX_QUERY_TIMEOUT + 5_000, 'peers.upsert', client.peers.upsert(batch)));
    const elapsed = result.at - started;
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code, result.error.message).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(elapsed).toBeLessThan(TX_BOUND);

    proxy.up({ resume: false });
    for (const p of [batch[0], batch[99]]) expect(await within(TX_BOUND, 'getById', client.peers.getById('user', p?.id ?? 0n))).toBeNull();
    await within(TX_BOUND, 'peers.upsert again', client.peers.upsert(batch));
    expect((await client.peers.getById('user', batch[99]?.id ?? 0n))?.id).toBe(batch[99]?.id);
    expect(rejections).toEqual([]);
    console.info(`postgres pool, silent link: peers.upsert rejected after ${elapsed.toFixed(0)} ms (query_timeout ${TX_QUERY_TIMEOUT} ms)`);
  });

  it('a save whose statements ran on the server but whose reply and COMMIT are lost rejects after one query_timeout; after recovery the old session is intact and saving works', async () => {
    const { proxy, schema, application, client } = await setup({ queryTimeout: TX_QUERY_TIMEOUT });
    await client.save(fullSession(1));
    // Holds save() inside the server on the session row, so the link goes dark mid-transaction.
    const { holder, started, saving } = await saveWaitingOnItsRow(schema, application, client);
    proxy.blackhole();
    // The save's first statement now runs (it writes the session row, uncommitted); its reply goes nowhere.
    await holder.query('ROLLBACK');
    await until(async () => {
      const { rows } = await admin().query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'", [application]);
      return rows.length === 1;
    }, 'the transaction to wait for its client');
    const result = await saving;
    const elapsed = result.at - started;
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code, result.error.message).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(elapsed).toBeLessThan(TX_BOUND);

    proxy.up({ resume: false });
    expect(plain(await within(TX_BOUND, 'load', client.load()))).toEqual(fullSession(1));
    await within(TX_BOUND, 'save again', client.save(fullSession(3)));
    expect(plain(await client.load())).toEqual(fullSession(3));
    expect(rejections).toEqual([]);
    console.info(`postgres pool, silent link mid-transaction: save rejected after ${elapsed.toFixed(0)} ms (query_timeout ${TX_QUERY_TIMEOUT} ms)`);
  });
  it('a transaction whose client gave up over a link that stays dark (the server never hears of it) is ended by the server after query_timeout: its row locks go, the session can be saved over a new route', async () => {
    const proxy = await openProxy(url);
    proxies.push(proxy);
    // New connections go where `route` says: through the proxy, then, once it is dark for
    // good, straight to the server (a new route, as after a NAT dropped its flows). The
    // connections the proxy holds stay open and silent: the client's close of them never
    // reaches the server, as over a real dead link (proxy.up() would pass it on).
    const server = new URL(url);
    let route = { host: proxy.host, port: proxy.port };
    const stream = (): Socket => {
      const socket = new Socket();
      const connect = socket.connect.bind(socket) as (port: number, host: string) => Socket;
      (socket as unknown as { connect: () => Socket }).connect = () => connect(route.port, route.host);
      return socket;
    };
    const schema = freshSchema();
    const application = applicationName('dark-route');
    const client = track(new PostgresStorage({ config: { connectionString: url, stream, application_name: application, query_timeout: TX_QUERY_TIMEOUT }, schema, name: 'victim' }));
    await client.save(fullSession(1));
    const { holder, saving } = await saveWaitingOnItsRow(schema, application, client);
    proxy.blackhole();
    route = { host: server.hostname, port: Number(server.port || 5432) };
    // The save's first statement runs and locks the session row; then its transaction waits for a client that is gone.
    await holder.query('ROLLBACK');
    const idle = performance.now();
    const result = await saving;
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code, result.error.message).toBe('MTSTORE_STORAGE_UNAVAILABLE');

    // Without a limit the server would hold it (and the row lock) until its TCP keep-alive gave up: hours.
    await until(
      async () => {
        const { rows } = await admin().query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'", [application]);
        return rows.length === 0;
      },
      'the server to end the abandoned transaction',
      TX_QUERY_TIMEOUT + SLACK + 2_000,
    );
    const endedMs = performance.now() - idle;
    expect(endedMs).toBeLessThan(TX_QUERY_TIMEOUT + SLACK);
    expect(plain(await within(TX_BOUND, 'load', client.load()))).toEqual(fullSession(1));
    await within(TX_BOUND, 'save over the new route', client.save(fullSession(3)));
    expect(plain(await client.load())).toEqual(fullSession(3));
    expect(rejections).toEqual([]);
    console.info(`postgres pool, transaction abandoned over a dead link: ended by the server ${endedMs.toFixed(0)} ms after it went idle (query_timeout ${TX_QUERY_TIMEOUT} ms)`);
  });
});
