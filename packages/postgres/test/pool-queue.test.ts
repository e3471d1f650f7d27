/**
 * A call waiting for a connection of a pool mtstore creates: `connectionTimeoutMillis`
 * bounds that wait only while the server completes nothing (src/pool.ts). A backlog the
 * server keeps answering is served whole, however long it takes; calls queued behind
 * connections stuck on a silent server, or behind a connection attempt nobody answers,
 * still reject with StorageUnavailableError after about that long, and a call so
 * rejected never runs afterwards.
 */
import { checkServer, peer } from '@mtstore/conformance/vitest';
import { minimalSession } from '@mtstore/conformance';
import { afterEach, describe, expect, it } from 'vitest';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { settle, unhandledRejections, type Settled } from '../../test-adapters/src/outcomes.js';
import { openProxy, within, type Proxy } from '../../test-adapters/src/proxy.js';
import { PostgresStorage } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

/** Short, so a backlog of a few thousand calls on two connections lasts several times as long. */
const CONNECT_TIMEOUT = 500;
/** Commits not waiting for the disk: a shared machine's fsync stall is a real silence of the server, not what these tests arrange. */
const NO_FSYNC_WAIT = '-c synchronous_commit=off';

const failures = (results: Settled[]): string[] => results.flatMap((r, i) => (r.ok ? [] : [`call ${i}: ${r.error.message}`]));

/** The kv keys stored in `schema`, sorted. */
async function storedKeys(schema: string): Promise<string[]> {
  const { rows } = await admin().query<{ key: string }>(`SELECT key FROM "${schema}".kv ORDER BY key`);
  return rows.map((r) => r.key);
}

describe.runIf(server.available)('owned pool: connectionTimeoutMillis bounds a wait for a connection only while the server is silent', () => {
  const proxies: Proxy[] = [];
  const rejections = unhandledRejections();
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  it('a backlog many times longer than connectionTimeoutMillis on a server that keeps answering: every call resolves and is stored', async () => {
    const schema = freshSchema();
    const client = track(new PostgresStorage({ config: { connectionString: url, max: 2, connectionTimeoutMillis: CONNECT_TIMEOUT, options: NO_FSYNC_WAIT }, schema, name: 'herd' }));
    await client.save(minimalSession());
    const count = 8_000;
    const started = performance.now();
    // A thundering herd (an MTProto server restarting): far more calls at once than two connections serve in 500 ms.
    const results = await Promise.all(Array.from({ length: count }, (_, i) => settle(client.kv.set(`k${String(i).padStart(5, '0')}`, Uint8Array.of(i & 255)))));
    const seconds = (performance.now() - started) / 1000;
    expect(failures(results).slice(0, 5)).toEqual([]);
    expect(await storedKeys(schema)).toHaveLength(count);
    expect(rejections).toEqual([]);
    console.info(`postgres owned pool (max 2, connectionTimeoutMillis ${CONNECT_TIMEOUT} ms): ${count} writes at once, all stored in ${seconds.toFixed(1)} s`);
  });

  it('calls queued behind connections stuck on a silent server reject StorageUnavailableError after about connectionTimeoutMillis, and never run afterwards', async () => {
    const proxy = await openProxy(url);
    proxies.push(proxy);
    const schema = freshSchema();
    // query_timeout far longer than the test: only the queue's bound can fail the queued calls in time.
    const client = track(
      new PostgresStorage({ config: { connectionString: proxy.url(), max: 2, connectionTimeoutMillis: CONNECT_TIMEOUT, query_timeout: 120_000 }, schema, name: 'stuck' }),
    );
    await client.save(minimalSession());
    // Both connections open, so the two first calls below run on them at once.
    await Promise.all([client.load(), client.load()]);
    proxy.blackhole();
    const stuck = [client.kv.set('stuck-1', Uint8Array.of(1)), client.kv.set('stuck-2', Uint8Array.of(2))].map(settle);
    const queued = Array.from({ length: 20 }, (_, i) => settle(within(15_000, `queued call ${i}`, client.kv.set(`queued-${i}`, Uint8Array.of(i)))));
    const rejected = await Promise.all(queued);
    for (const [i, result] of rejected.entries()) {
      expect(result.ok, `queued call ${i}`).toBe(false);
      if (result.ok) continue;
      expect(result.error.code, `queued call ${i}: ${result.error.message}`).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.error.message).toMatch(/timeout exceeded when trying to connect/);
    }

    // The server answers again: the stuck calls complete and their connections go back to
    // the pool, which must not hand them to the calls it already failed.
    proxy.up();
    expect(failures(await Promise.all(stuck))).toEqual([]);
    await client.kv.set('after', Uint8Array.of(3));
    // Released connections are handed over from a microtask: a few more turns for any straggler to show.
    await until(async () => (await storedKeys(schema)).includes('after'), 'the write after recovery');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await storedKeys(schema)).toEqual(['after', 'stuck-1', 'stuck-2']);
    expect(rejections).toEqual([]);
  });

  it('a stuck statement that hits query_timeout on a silent server is no answer: the queued calls still reject about connectionTimeoutMillis after they queued', async () => {
    const proxy = await openProxy(url);
    proxies.push(proxy);
    const schema = freshSchema();
    // query_timeout a little shorter than the queue's bound: the stuck statements time out
    // (their connections released with the error and closed) while the calls below wait.
    const queryTimeout = 900;
    const connectTimeout = 1_000;
    const client = track(new PostgresStorage({ config: { connectionString: proxy.url(), max: 2, connectionTimeoutMillis: connectTimeout, query_timeout: queryTimeout }, schema, name: 'timed-out' }));
    await client.save(minimalSession());
    await Promise.all([client.load(), client.load()]);
    proxy.blackhole();
    // A single statement (released with pg's error) and a transaction (released as broken).
    const stuck = [client.kv.set('stuck-1', Uint8Array.of(1)), client.peers.upsert([peer('user', 1)])].map(settle);
    const queuedAt = performance.now();
    const queued = Array.from({ length: 40 }, (_, i) => settle(within(15_000, `queued call ${i}`, client.kv.set(`queued-${i}`, Uint8Array.of(i)))));
    const rejected = await Promise.all(queued);
    const timedOut = await Promise.all(stuck);
    for (const [i, result] of timedOut.entries()) {
      expect(result.ok, `stuck call ${i}`).toBe(false);
      if (!result.ok) expect(result.error.message, `stuck call ${i}`).toMatch(/Query read timeout/);
    }
    for (const [i, result] of rejected.entries()) {
      expect(result.ok, `queued call ${i}`).toBe(false);
      if (result.ok) continue;
      expect(result.error.code, `queued call ${i}: ${result.error.message}`).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.error.message).toMatch(/timeout exceeded when trying to connect/);
    }
    const lastRejected = Math.max(...rejected.map((r) => r.at));
    const stuckFailed = Math.max(...timedOut.map((r) => r.at));
    console.info(
      `postgres owned pool (max 2, query_timeout ${queryTimeout} ms, connectionTimeoutMillis ${connectTimeout} ms), silent server: stuck statements failed after ${(stuckFailed - queuedAt).toFixed(0)} ms, the 40 queued calls rejected by ${(lastRejected - queuedAt).toFixed(0)} ms`,
    );
    // Counted as the server's answer, the timed-out statements' releases restarted the
    // silence: then no queued call could fail before connectionTimeoutMillis after them.
    expect(lastRejected - stuckFailed).toBeLessThan(connectTimeout / 2);

    // The server answers again: nothing of the rejected calls runs.
    proxy.up();
    await client.kv.set('after', Uint8Array.of(3));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await storedKeys(schema)).filter((key) => key.startsWith('queued-'))).toEqual([]);
    expect(rejections).toEqual([]);
  });

  it('calls queued behind a connection attempt the server never answers reject after about connectionTimeoutMillis', async () => {
    const proxy = await openProxy(url);
    proxies.push(proxy);
    const application = applicationName('connect');
    // One connection, closed 100 ms after it goes idle: the calls below must open a new one.
    const config = { connectionString: proxy.url(), application_name: application, max: 1, idleTimeoutMillis: 100, connectionTimeoutMillis: CONNECT_TIMEOUT };
    const client = track(new PostgresStorage({ config, schema: freshSchema(), name: 'connect' }));
    await client.save(minimalSession());
    await until(async () => (await backends(application)).length === 0, 'the idle connection to close');
    // New connections are accepted and never answered.
    proxy.blackhole();
    // The first call waits on the connection attempt, the rest in the pool's queue behind
    // it: all fail after about connectionTimeoutMillis, not one connection attempt each
    // (30 × 500 ms) one after another.
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => settle(within(10_000, `call ${i}`, client.kv.set(`k${i}`, Uint8Array.of(i))))));
    for (const [i, result] of results.entries()) {
      expect(result.ok, `call ${i}`).toBe(false);
      if (result.ok) continue;
      expect(result.error.code, `call ${i}: ${result.error.message}`).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.error.message).toMatch(/timeout/i);
    }
    // The attempts nobody answered gave up by themselves (pg's Client bounds its connect):
    // once new connections get through, the pool's one slot is free for them again.
    proxy.up({ resume: false });
    await until(() => client.kv.set('after', Uint8Array.of(1)).then(() => true, () => false), 'a call to succeed once connections get through', 10_000);
    expect(rejections).toEqual([]);
  });
});
