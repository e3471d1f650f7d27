/**
 * What reaches the server: named (prepared) statements on the hot paths, one
 * statement per peer batch and per update state, one transaction per save, and
 * create/destroy races decided by the database across separate connections.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { authKey, fullSession, minimalSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

/** A transaction's first message: BEGIN and the server's limit on waiting for the client (pg's default pool: no query_timeout, so 30 s). */
const BEGIN = /^BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL idle_in_transaction_session_timeout = 30000; SET LOCAL lock_timeout = 30000; SET LOCAL statement_timeout = 30000$/;

/** A pool the test owns that counts the statements its connections run, and the checkouts. */
function countingPool(max: number) {
  return countingPoolOn(track(new pg.Pool({ connectionString: url, max })));
}

/** countingPool over a given pool: counts from its next checkout on. */
function countingPoolOn(pool: pg.Pool) {
  const sent: string[] = [];
  let checkouts = 0;
  pool.on('acquire', (client) => {
    checkouts++;
    const marked = client as pg.PoolClient & { counted?: boolean };
    if (marked.counted) return;
    marked.counted = true;
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
      sent.push(typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text);
      return query(...args);
    };
  });
  return {
    pool,
    /** Statements sent and connections checked out (pool.query checks one out too) while `work` ran. */
    async during(work: () => Promise<unknown>): Promise<{ statements: string[]; checkouts: number }> {
      sent.length = 0;
      checkouts = 0;
      await work();
      return { statements: [...sent], checkouts };
    },
  };
}

describe.runIf(server.available)('statements', () => {
  it("a transaction's server-side limit follows the query_timeout the pool's clients use, also one given as ?query_timeout= in the connection string (which pg takes over the config's)", async () => {
    const cases: [pg.PoolConfig, number][] = [
      [{ connectionString: url, query_timeout: 2_500 }, 2_500],
      [{ connectionString: `${url}${url.includes('?') ? '&' : '?'}query_timeout=1500`, query_timeout: 2_500 }, 1_500],
      [{ connectionString: `${url}${url.includes('?') ? '&' : '?'}query_timeout=1500` }, 1_500],
    ];
    for (const [config, ms] of cases) {
      const pool = track(new pg.Pool({ ...config, max: 1 }));
      const client = await pool.connect();
      // What pg's clients of this pool wait for a reply: the limit the server must match.
      expect(Number((client as unknown as { connectionParameters: { query_timeout: unknown } }).connectionParameters.query_timeout), config.connectionString).toBe(ms);
      client.release();
      const counted = countingPoolOn(pool);
      const storage = track(new PostgresStorage({ pool, schema: freshSchema() }));
      await storage.save(minimalSession());
      const { statements } = await counted.during(() => storage.save(minimalSession()));
      expect(statements[0], config.connectionString).toBe(`BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL idle_in_transaction_session_timeout = ${ms}; SET LOCAL lock_timeout = ${ms}; SET LOCAL statement_timeout = ${ms}`);
    }
  });

  it('hasSession, saveUpdateState and load are named statements, prepared once per connection', async () => {
    const { pool } = countingPool(1); // one connection: pg_prepared_statements shows its statements
    const storage = track(new PostgresStorage({ pool, schema: freshSchema() }));
    const sessions = track(new PostgresSessionStorage({ pool, schema: storage.schema }));
    await storage.save(fullSession(1));
    for (let i = 0; i < 20; i++) {
      await sessions.hasSession(1n, BigInt(i));
      await storage.saveUpdateState({ pts: i, qts: 0, date: 0, seq: 0 }, [{ id: 5n, pts: i }]);
      await storage.load();
    }
    const { rows } = await pool.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements');
    for (const label of ['has_session', 'save_update_state', 'load']) {
      const prepared = rows.filter((r) => r.name.startsWith(`mtstore_${label}_`));
      expect(prepared, label).toHaveLength(1);
      expect(prepared[0]?.statement).toContain(`"${storage.schema}".`);
    }
  });

  it("a batch of 10,000 peers is one statement (in a transaction with the session's peer lock), not one per peer", async () => {
    const counting = countingPool(2);
    const storage = track(new PostgresStorage({ pool: counting.pool, schema: freshSchema() }));
    await storage.save(minimalSession());
    const batch = Array.from({ length: 10_000 }, (_, i) => peer((['user', 'chat', 'channel'] as const)[i % 3] as 'user', i + 1, { usernames: [`bulk_${i}`, `alt_${i}`] }));
    for (const round of [batch, batch.map((p) => ({ ...p, accessHash: p.accessHash + 1n, usernames: [...p.usernames].reverse() }))]) {
      const { statements, checkouts } = await counting.during(() => storage.peers.upsert(round));
      expect(checkouts).toBe(1);
      expect(statements).toHaveLength(4);
      expect(statements[0]).toMatch(BEGIN);
      expect(statements[1]).toContain('pg_advisory_xact_lock');
      expect(statements[2]).toContain('unnest(');
      expect(statements[3]).toBe('COMMIT');
    }
    expect((await storage.peers.getByUsername('ALT_9999'))?.usernames).toEqual(['alt_9999', 'bulk_9999']);
  });

  it('saveUpdateState is one statement; save is one transaction of three statements', async () => {
    const counting = countingPool(2);
    const storage = track(new PostgresStorage({ pool: counting.pool, schema: freshSchema() }));
    await storage.save(minimalSession());
    const update = await counting.during(() =>
      storage.saveUpdateState({ pts: 1, qts: 2, date: 3, seq: 4 }, Array.from({ length: 100 }, (_, i) => ({ id: BigInt(i), pts: i }))),
    );
    expect(update.statements).toHaveLength(1);
    expect(update.checkouts).toBe(1);
    const save = await counting.during(() => storage.save(fullSession(3)));
    expect(save.checkouts).toBe(1);
    expect(save.statements[0]).toMatch(BEGIN);
    expect(save.statements.at(-1)).toBe('COMMIT');
    expect(save.statements).toHaveLength(5);
  });

  it('authKeys.set, setTemp, kv.set and refMessages.store are one statement each, also on a name without a row yet', async () => {
    const counting = countingPool(1); // one connection: pg_prepared_statements shows its statements
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ pool: counting.pool, schema, name: 'fresh' }));
    await storage.listNames(); // migrate outside the count
    const writes: [string, () => Promise<unknown>][] = [
      ['authKeys.set', () => storage.authKeys.set(2, authKey(1))],
      ['authKeys.set again', () => storage.authKeys.set(2, authKey(2))],
      ['authKeys.setTemp', () => storage.authKeys.setTemp(2, { index: 0, key: authKey(3), expiresAt: 1 })],
      ['kv.set', () => storage.kv.set('k', Uint8Array.of(1))],
      ['refMessages.store', () => storage.refMessages.store(1n, 2n, 3)],
      ['kv.get', () => storage.kv.get('k')],
    ];
    for (const [label, write] of writes) {
      const { statements, checkouts } = await counting.during(write);
      expect(statements, label).toHaveLength(1);
      expect(checkouts, label).toBe(1);
    }
    const prepared = await counting.pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
    for (const label of ['key_set', 'kv_set', 'ref_store', 'kv_get']) {
      expect(prepared.rows.filter((r) => r.name.startsWith(`mtstore_${label}_`)), label).toHaveLength(1);
    }
  });

  it('under a lease a write is one transaction that starts with the fence (FOR KEY SHARE on the lease row); without one, nothing is added', async () => {
    const counting = countingPool(1);
    const storage = track(new PostgresStorage({ pool: counting.pool, schema: freshSchema() }));
    await storage.save(minimalSession());
    const writes: [string, () => Promise<unknown>, string[]][] = [
      ['kv.set', () => storage.kv.set('k', Uint8Array.of(1)), ['kv']],
      ['saveUpdateState', () => storage.saveUpdateState({ pts: 1, qts: 2, date: 3, seq: 4 }, [{ id: 5n, pts: 5 }]), ['UPDATE']],
      ['peers.upsert', () => storage.peers.upsert([peer('user', 1)]), ['pg_advisory_xact_lock', 'unnest(']],
      ['save', () => storage.save(minimalSession()), ['INSERT INTO', 'DELETE FROM', 'unnest(']],
    ];
    const unleased = new Map<string, string[]>();
    for (const [label, write] of writes) unleased.set(label, (await counting.during(write)).statements);
    await storage.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    for (const [label, write, parts] of writes) {
      const { statements, checkouts } = await counting.during(write);
      expect(checkouts, label).toBe(1);
      expect(statements[0], label).toMatch(BEGIN);
      expect(statements[1], label).toMatch(/^SELECT 1 FROM .*\.leases WHERE name = \$1 AND token = \$2 FOR KEY SHARE$/);
      expect(statements.at(-1), label).toBe('COMMIT');
      const before = unleased.get(label) as string[];
      // The write's own statements follow unchanged (inside its transaction, if it had one).
      const body = BEGIN.test(before[0] ?? '') ? before.slice(1, -1) : before;
      expect(statements.slice(2, -1), label).toEqual(body);
      for (const [k, part] of parts.entries()) expect(body[k], `${label} without a lease`).toContain(part);
      expect(before.some((sql) => sql.includes('leases')), `${label} without a lease`).toBe(false);
    }
  });

  it('50 concurrent creates (then destroys) of one session over 20 connections: exactly one winner each', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 20 }));
    const sessions = track(new PostgresSessionStorage({ pool, schema: freshSchema() }));
    await sessions.hasSession(0n, 0n); // migrate first, so the race is about the row
    for (let round = 0; round < 3; round++) {
      const id = BigInt(round);
      const created = await Promise.all(Array.from({ length: 50 }, () => sessions.createSession(7n, id)));
      expect(created.filter(Boolean)).toHaveLength(1);
      const destroyed = await Promise.all(Array.from({ length: 50 }, () => sessions.destroySession(7n, id)));
      expect(destroyed.filter(Boolean)).toHaveLength(1);
    }
    expect(pool.totalCount).toBeGreaterThan(1);
  });

  it('concurrent peer batches on one session that move the same usernames and phones all succeed, leaving one owner each', async () => {
    const schema = freshSchema();
    const a = track(new PostgresStorage({ config: { connectionString: url, max: 4 }, schema }));
    const b = track(new PostgresStorage({ config: { connectionString: url, max: 4 }, schema }));
    await a.save(minimalSession());
    // Every batch claims the same 200 usernames and phones for a different set of peers.
    const batch = (k: number) => Array.from({ length: 200 }, (_, i) => peer('user', k * 1000 + i, { usernames: [`shared_${i}`], phone: `555${i}` }));
    await Promise.all(Array.from({ length: 8 }, (_, k) => (k % 2 ? a : b).peers.upsert(batch(k))));
    for (const i of [0, 99, 199]) {
      const owner = await a.peers.getByUsername(`shared_${i}`);
      expect(owner).not.toBeNull();
      expect((await a.peers.getByPhone(`555${i}`))?.id).toBe(owner?.id);
    }
  });

  it('getByUsername finds the owner through the username index, then the peer by its key: no walk of the session\'s peers, analysed or not', async () => {
    const { pool } = countingPool(1); // one connection: its pg_prepared_statements holds the lookup's text
    const storage = track(new PostgresStorage({ pool, schema: freshSchema() }));
    await storage.peers.upsert(Array.from({ length: 1000 }, (_, i) => peer('user', i + 1)));
    expect((await storage.peers.getByUsername('USER_500'))?.id).toBe(500n);
    const { rows } = await pool.query<{ statement: string }>("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'mtstore_peer_by_username_%'");
    const text = rows[0]?.statement as string;
    expect(text).toBeDefined();
    await pool.query(`PREPARE by_username_plan (text, text) AS ${text.replace(/^PREPARE [^]*? AS /, '')}`);
    // Fresh tables first (never analysed, as in a new schema), then with statistics;
    // each as a custom and as a generic (cached) plan, which a named statement ends up with.
    for (const analysed of [false, true]) {
      if (analysed) await pool.query(`ANALYZE "${storage.schema}".peers, "${storage.schema}".peer_usernames`);
      for (const mode of ['force_custom_plan', 'force_generic_plan']) {
        await pool.query(`SET plan_cache_mode = ${mode}`);
        const explained = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE by_username_plan ('default', 'user_500')`);
        const plan = explained.rows.map((r) => r['QUERY PLAN']).join('\n');
        const label = `${mode}, ${analysed ? 'analysed' : 'fresh'}:\n${plan}`;
        expect(plan, label).toMatch(/Index Scan using peer_usernames_pkey[^\n]*\(actual rows=1 /);
        expect(plan, label).toMatch(/Index Scan using peers_pkey[^\n]*\(actual rows=1 /);
        // No node reads more than the one username row and the one peer.
        expect(plan, label).not.toMatch(/actual rows=(?:[2-9]|\d{2,})/);
      }
    }
    await pool.query('RESET plan_cache_mode');
    await pool.query('DEALLOCATE by_username_plan');
  });
});
