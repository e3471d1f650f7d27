/**
 * close() with calls in flight (issue 17): every call made before close() settles
 * before close() resolves — it completes on the still-open pool, or, if it is still
 * running after closeTimeoutMillis, rejects with StorageUnavailableError and its
 * connection is closed. Nothing waits for pg's connection timeout, nothing is left
 * pending, and a call that resolved is stored.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { authKey, fullSession, minimalSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

type Settled = { ok: true; value: unknown; at: number } | { ok: false; error: Error & { code?: string }; at: number };

/** Records when and how a call settled, so a test can compare it with close(). */
function settle(promise: Promise<unknown>): Promise<Settled> {
  return promise.then(
    (value) => ({ ok: true, value, at: performance.now() }),
    (error: Error & { code?: string }) => ({ ok: false, error, at: performance.now() }),
  );
}

describe.runIf(server.available)('close with calls in flight', () => {
  it('calls made just before close() complete before it resolves, well before the pool connection timeout, on a connected owned pool', async () => {
    const schema = freshSchema();
    // max 2: most of these calls wait in pg's queue for a connection when close() is called.
    const config = { connectionString: url, max: 2 };
    const client = new PostgresStorage({ config, schema, name: 'c' });
    const sessions = new PostgresSessionStorage({ config, schema });
    await client.save(minimalSession());
    await sessions.hasSession(1n, 1n);
    const started = performance.now();
    const calls = [
      settle(client.saveUpdateState({ pts: 7, qts: 1, date: 1, seq: 1 }, [{ id: 3n, pts: 3 }])),
      settle(client.authKeys.set(2, authKey(1))),
      settle(client.kv.set('k', Uint8Array.of(1))),
      settle(client.peers.upsert([peer('user', 1)])),
      settle(client.refMessages.store(1n, 2n, 3)),
    ];
    const serverCalls = Array.from({ length: 6 }, (_, i) => settle(sessions.createSession(9n, BigInt(i))));
    const closed = await Promise.all([client.close(), sessions.close()]).then(() => performance.now());
    const results = await Promise.all([...calls, ...serverCalls]);
    for (const [i, result] of results.entries()) {
      expect(result.ok, `call ${i}: ${result.ok ? '' : result.error.message}`).toBe(true);
      expect(result.at, `call ${i} settled after close() resolved`).toBeLessThanOrEqual(closed);
    }
    // pg's pool alone left the queued calls waiting for its 10 s connection timeout.
    expect(closed - started).toBeLessThan(3_000);

    const verify = track(new PostgresStorage({ connectionString: url, schema, name: 'c' }));
    expect((await verify.load())?.state?.pts).toBe(7);
    expect(await verify.authKeys.get(2)).not.toBeNull();
    expect(await verify.kv.get('k')).not.toBeNull();
    expect(await verify.peers.getById('user', 1n)).not.toBeNull();
    expect(await verify.refMessages.getByPeer(1n)).not.toBeNull();
    const verifySessions = track(new PostgresSessionStorage({ connectionString: url, schema }));
    expect(await verifySessions.listSessions(9n)).toEqual([0n, 1n, 2n, 3n, 4n, 5n]);
  });

  it('on an instance that never connected: the first calls migrate, complete, then close() resolves', async () => {
    const schema = freshSchema();
    const client = new PostgresStorage({ connectionString: url, schema });
    const sessions = new PostgresSessionStorage({ connectionString: url, schema });
    const calls = [settle(client.save(fullSession(1))), settle(sessions.createSession(1n, 2n))];
    const closed = await Promise.all([client.close(), sessions.close()]).then(() => performance.now());
    for (const result of await Promise.all(calls)) {
      expect(result.ok).toBe(true);
      expect(result.at).toBeLessThanOrEqual(closed);
    }
    const verify = track(new PostgresStorage({ connectionString: url, schema }));
    expect(await verify.load()).not.toBeNull();
    expect(await track(new PostgresSessionStorage({ connectionString: url, schema })).hasSession(1n, 2n)).toBe(true);
  });

  it('a call still running at closeTimeoutMillis rejects StorageUnavailableError, its connection is closed, close() resolves', async () => {
    const schema = freshSchema();
    const application = applicationName('close-stuck');
    const client = new PostgresStorage({ config: { connectionString: url, application_name: application, max: 2 }, schema, closeTimeoutMillis: 300 });
    await client.save(minimalSession());
    // A lock held by the test keeps saveUpdateState waiting inside the server.
    const holder = track(new pg.Client({ connectionString: url }));
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schema}".sessions WHERE name = 'default' FOR UPDATE`);
    const stuck = settle(client.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }));
    await until(async () => {
      const { rows } = await admin().query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application]);
      return rows.length === 1;
    }, 'saveUpdateState to wait on the lock');
    const started = performance.now();
    const closed = await client.close().then(() => performance.now());
    const result = await stuck;
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.error.message).toContain('saveUpdateState("default")');
      expect(result.error.message).toContain('may or may not have been applied');
      expect(result.at).toBeLessThanOrEqual(closed);
    }
    // 300 ms of grace, then the connection is destroyed and the pool ends (bounded at 1 s more).
    expect(closed - started).toBeGreaterThanOrEqual(290);
    expect(closed - started).toBeLessThan(1_500);
    await holder.query('ROLLBACK');
    await until(async () => (await backends(application)).length === 0, 'the closed connection to leave the server');
    await expect(client.load()).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
  });

  it('on a borrowed pool: close() waits for the calls in flight, resolves, and leaves the pool open', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    const schema = freshSchema();
    const client = new PostgresStorage({ pool, schema });
    await client.save(minimalSession());
    const calls = Array.from({ length: 5 }, (_, i) => settle(client.kv.set(`k${i}`, Uint8Array.of(i))));
    const closed = await client.close().then(() => performance.now());
    for (const result of await Promise.all(calls)) {
      expect(result.ok).toBe(true);
      expect(result.at).toBeLessThanOrEqual(closed);
    }
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".kv`);
    expect(rows).toEqual([{ n: 5 }]);
  });

  it('on a borrowed pool: calls close() gave up on while they waited for a connection never run, and the pool is left to the application', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    const schema = freshSchema();
    const sessions = new PostgresSessionStorage({ pool, schema, closeTimeoutMillis: 100 });
    const client = new PostgresStorage({ pool, schema, closeTimeoutMillis: 100 });
    await client.save(minimalSession());
    await client.kv.set('held', Uint8Array.of(0));
    await sessions.createSession(1n, 1n);
    // The pool's one connection waits on a row lock the test holds, so the server answers
    // nothing (closeTimeoutMillis is its silence: a backlog it answers would all finish),
    // and these wait in the pool's queue when close() gives up on them.
    const holder = track(new pg.Client({ connectionString: url }));
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schema}".kv WHERE key = 'held' FOR UPDATE`);
    const stuck = settle(client.kv.set('held', Uint8Array.of(1)));
    const creates = Array.from({ length: 400 }, (_, i) => settle(sessions.createSession(2n, BigInt(i))));
    const batches = Array.from({ length: 400 }, (_, i) => settle(client.peers.upsert([peer('user', i)])));
    await Promise.all([sessions.close(), client.close()]);
    const results = await Promise.all([...creates, ...batches]);
    expect(results.some((r) => !r.ok && r.error.code === 'MTSTORE_STORAGE_UNAVAILABLE')).toBe(true);
    expect((await stuck).ok).toBe(false);
    await holder.query('ROLLBACK');
    // Every queued checkout has had its turn.
    await until(() => pool.waitingCount === 0 && pool.idleCount === pool.totalCount, 'the pool to drain');
    const stored = await admin().query(
      `SELECT (SELECT count(*)::int FROM "${schema}".server_sessions WHERE auth_key_id = 2) AS created, (SELECT count(*)::int FROM "${schema}".peers) AS peers`,
    );
    const resolved = (list: Settled[]): number => list.filter((r) => r.ok).length;
    // Stored: what resolved, and at most the one call running on the connection at the
    // deadline (outcome unknown). Each rejected call ran later all the same, after
    // close() resolved: hundreds of rows more.
    expect(stored.rows[0].created - resolved(await Promise.all(creates))).toBeLessThanOrEqual(1);
    expect(stored.rows[0].peers - resolved(await Promise.all(batches))).toBeLessThanOrEqual(1);
  });

  it('on a borrowed pool: a backlog of thousands of calls given up on hands the connection back, and the application keeps its pool', async () => {
    // Ended by the test: a pool that lost its connection would hold afterEach's end() for ever.
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    const schema = freshSchema();
    const client = new PostgresStorage({ pool, schema, closeTimeoutMillis: 0 });
    await client.kv.set('first', Uint8Array.of(1));
    // Each of these waits in pg-pool's queue when close() gives up on them, and each, at
    // its turn, gives the one connection straight back to the next.
    const calls = Array.from({ length: 5_000 }, (_, i) => settle(client.kv.set(`k${i}`, Uint8Array.of(i & 255))));
    await client.close();
    const closedAt = performance.now();
    const results = await Promise.all(calls);
    for (const result of results) {
      if (!result.ok) expect(result.error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(result.at).toBeLessThanOrEqual(closedAt);
    }
    // The application's own query, queued behind the backlog, gets the connection.
    const answer = pool.query('SELECT 1 AS one').then((r) => r.rows);
    const late = new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000).unref());
    expect(await Promise.race([answer, late])).toEqual([{ one: 1 }]);
    await until(() => pool.waitingCount === 0 && pool.idleCount === pool.totalCount, 'the pool to drain');
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".kv`);
    // What resolved, the first key, and at most the one call running at the deadline.
    expect(rows[0].n - 1 - results.filter((r) => r.ok).length).toBeLessThanOrEqual(1);
    await pool.end();
  });

  it('closeTimeoutMillis must be a number of ms from 0 to 2^31 - 1 (a longer Node timer fires after 1 ms)', () => {
    for (const closeTimeoutMillis of [-1, Number.NaN, '5' as unknown as number, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      expect(() => new PostgresStorage({ connectionString: url, closeTimeoutMillis }), String(closeTimeoutMillis)).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('closeTimeoutMillis') }),
      );
      expect(() => new PostgresSessionStorage({ connectionString: url, closeTimeoutMillis }), String(closeTimeoutMillis)).toThrow(/closeTimeoutMillis/);
    }
    for (const closeTimeoutMillis of [0, 1.5, 2 ** 31 - 1]) void new PostgresStorage({ connectionString: url, closeTimeoutMillis }).close();
  });
});
