/**
 * close()'s grace is the server's silence, as Redis's and MongoDB's are (docs/contract.md
 * §9): closeTimeoutMillis counts from the last call in flight the server answered, not
 * from close(). A backlog the server keeps answering finishes however long it takes; a
 * server that goes silent mid-close still has the calls it did not answer rejected
 * (StorageUnavailableError), and close() resolves. A deadline from close() rejected the
 * tail of a backlog queued just before a shutdown while the server was answering it.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { minimalSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { admin, applicationName, freshSchema, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

type Settled = { ok: true; at: number } | { ok: false; error: Error & { code?: string }; at: number };

function settle(promise: Promise<unknown>): Promise<Settled> {
  return promise.then(
    () => ({ ok: true, at: performance.now() }),
    (error: Error & { code?: string }) => ({ ok: false, error, at: performance.now() }),
  );
}

/**
 * Commits not waiting for the disk: what these tests measure is the server answering or
 * not as they arrange it, and a shared test machine's fsync can stall past a short grace
 * (a real silence of the server, which close() then rightly gives up on).
 */
const NO_FSYNC_WAIT = '-c synchronous_commit=off';

const failures = (results: Settled[]): string[] => results.flatMap((r, i) => (r.ok ? [] : [`call ${i}: ${r.error.message}`]));

/** Waits until `count` connections of `application` wait on a lock inside the server. */
async function lockWaits(application: string, count: number): Promise<void> {
  await until(async () => {
    const { rows } = await admin().query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application]);
    return rows.length === count;
  }, `${count} calls to wait on their locks`);
}

/** A connection of the test's that holds the kv row of `key` (session `name`) until it rolls back. */
async function holdKvRow(schema: string, name: string, key: string): Promise<pg.Client> {
  const holder = track(new pg.Client({ connectionString: url }));
  await holder.connect();
  await holder.query('BEGIN');
  const { rowCount } = await holder.query(`SELECT 1 FROM "${schema}".kv JOIN "${schema}".sessions s ON s.id = kv.session_id WHERE s.name = $1 AND kv.key = $2 FOR UPDATE OF kv`, [
    name,
    key,
  ]);
  expect(rowCount).toBe(1);
  return holder;
}

describe.runIf(server.available)('close(): closeTimeoutMillis is the server silence allowed, not a deadline', () => {
  it('a backlog queued just before close() that takes many graces to drain completes: every call resolves and is stored', async () => {
    const schema = freshSchema();
    // 500 ms of silence allowed; one connection, so the backlog goes one round trip at a time.
    const config = { connectionString: url, max: 1, options: NO_FSYNC_WAIT };
    const client = new PostgresStorage({ config, schema, name: 'backlog', closeTimeoutMillis: 500 });
    await client.save(minimalSession());
    const started = performance.now();
    // A bot shutting down right after queueing its peer writes and state updates.
    const calls = [
      ...Array.from({ length: 800 }, (_, i) => settle(client.peers.upsert([peer('user', i + 1)]))),
      ...Array.from({ length: 800 }, (_, i) => settle(client.kv.set(`k${i}`, Uint8Array.of(i & 255)))),
    ];
    await client.close();
    const closed = performance.now();
    const results = await Promise.all(calls);
    expect(failures(results).slice(0, 3)).toEqual([]);
    for (const result of results) expect(result.at).toBeLessThanOrEqual(closed);
    const { rows } = await admin().query(`SELECT (SELECT count(*)::int FROM "${schema}".peers) AS peers, (SELECT count(*)::int FROM "${schema}".kv) AS kv`);
    expect(rows[0]).toEqual({ peers: 800, kv: 800 });
    // Not asserted (no timed assertions): how many graces the drain took.
    console.info(`postgres close(): a backlog of 1,600 calls drained in ${(closed - started).toFixed(0)} ms, closeTimeoutMillis 500`);
  });

  it('calls the server answers one by one, each well within the grace, all complete though the last comes long after it', async () => {
    const schema = freshSchema();
    const application = applicationName('close-paced');
    const client = new PostgresStorage({ config: { connectionString: url, application_name: application, options: NO_FSYNC_WAIT }, schema, name: 'paced', closeTimeoutMillis: 400 });
    const keys = Array.from({ length: 8 }, (_, i) => `p${i}`);
    for (const key of keys) await client.kv.set(key, Uint8Array.of(0));
    // Each call waits on a row lock of its own, which the test lets go of one after another, 100 ms apart.
    const holders = await Promise.all(keys.map((key) => holdKvRow(schema, 'paced', key)));
    const calls = keys.map((key) => settle(client.kv.set(key, Uint8Array.of(1))));
    await lockWaits(application, keys.length);
    const closing = client.close();
    for (const holder of holders) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await holder.query('ROLLBACK');
    }
    await closing;
    const results = await Promise.all(calls);
    // With a 400 ms deadline from close() the calls of the locks let go of after it rejected.
    expect(failures(results)).toEqual([]);
    const { rows } = await admin().query(`SELECT count(*)::int AS n FROM "${schema}".kv WHERE value = '\\x01'`);
    expect(rows[0].n).toBe(keys.length);
  });

  it('a server that goes silent mid-close: the calls it answered complete, the rest reject StorageUnavailableError, close() resolves', async () => {
    const schema = freshSchema();
    const application = applicationName('close-silent');
    const client = new PostgresStorage({ config: { connectionString: url, application_name: application, max: 1, options: NO_FSYNC_WAIT }, schema, name: 'silent', closeTimeoutMillis: 500 });
    await client.kv.set('held', Uint8Array.of(0));
    const holder = await holdKvRow(schema, 'silent', 'held');
    // One connection, in order: 300 writes the server answers, one that waits on the
    // test's lock (the server says nothing more), and 300 queued behind it.
    const before = Array.from({ length: 300 }, (_, i) => settle(client.kv.set(`a${i}`, Uint8Array.of(1))));
    const stuck = settle(client.kv.set('held', Uint8Array.of(1)));
    const after = Array.from({ length: 300 }, (_, i) => settle(client.kv.set(`b${i}`, Uint8Array.of(1))));
    const started = performance.now();
    await client.close();
    const closed = performance.now();
    expect(failures(await Promise.all(before))).toEqual([]);
    for (const result of [await stuck, ...(await Promise.all(after))]) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        expect(result.error.message).toContain('may or may not have been applied');
      }
      expect(result.at).toBeLessThanOrEqual(closed);
    }
    await holder.query('ROLLBACK');
    // The calls queued behind the stuck one never ran (the stuck one's own outcome is unknown: its statement was sent).
    const { rows } = await admin().query(`SELECT count(*)::int AS n FROM "${schema}".kv WHERE key LIKE 'b%'`);
    expect(rows[0].n).toBe(0);
    console.info(`postgres close(): server silent mid-close, close() resolved after ${(closed - started).toFixed(0)} ms, closeTimeoutMillis 500`);
  });
});
