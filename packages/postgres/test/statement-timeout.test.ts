/**
 * A pool whose sessions run with a short `statement_timeout` (the application's `options:
 * '-c statement_timeout=…'`, `?options=` in its connection string, or a DBA's setting per
 * role or database: its own queries must never run long). mtstore's calls are bounded by
 * mtstore's own limit, the pool's query_timeout (30 s if none): its transactions set
 * statement_timeout to it in their BEGIN message, and a single statement the server
 * cancelled (57014, rolled back whole) runs again in such a transaction. Before, a large
 * peer batch, a write that waited for a lock, or a busy moment failed with
 * StorageUnavailableError 'canceling statement due to statement timeout': an outage that
 * was not one. The application's own setting is left as it set it.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { expectConcurrentWritesGoThrough } from './concurrent-writes.js';
import { admin, freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

const failures = (settled: PromiseSettledResult<unknown>[]): string[] => settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));

describe.runIf(server.available)('a pool whose sessions run with statement_timeout = 100ms', () => {
  it('writes that wait out a lock another program holds for longer go through: single statements and transactions, reads meanwhile too', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 10, options: '-c statement_timeout=100' }));
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ pool, schema }));
    const sessions = track(new PostgresSessionStorage({ pool, schema, ttlSeconds: 100 }));
    await storage.save(fullSession(1));
    await sessions.createSession(1n, 1n);
    // Another program (a DBA's maintenance, a long report) keeps every write out for 400 ms.
    const other = await admin().connect();
    let calls: Promise<unknown>[];
    try {
      await other.query('BEGIN');
      await other.query(`LOCK TABLE ${['sessions', 'kv', 'auth_keys', 'peers', 'server_sessions', 'ref_messages'].map((t) => `"${schema}".${t}`).join(', ')} IN EXCLUSIVE MODE`);
      calls = [
        // Single statements.
        storage.kv.set('k', new Uint8Array([1])),
        storage.authKeys.set(2, new Uint8Array(256).fill(7)),
        storage.refMessages.store(1n, 2n, 3),
        sessions.createSession(1n, 2n),
        sessions.touchSession(1n, 1n),
        // Transactions.
        storage.save(fullSession(2)),
        storage.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 }),
        storage.peers.upsert([peer('user', 1)]),
        // Reads do not wait for the lock.
        storage.load(),
        sessions.hasSession(1n, 1n),
      ];
      await new Promise((resolve) => setTimeout(resolve, 400));
      await other.query('COMMIT');
    } finally {
      other.release();
    }
    // Each write failed 'canceling statement due to statement timeout'.
    expect(failures(await Promise.allSettled(calls))).toEqual([]);
    // The save and the saveUpdateState raced: either landed last.
    expect([9, fullSession(2).state?.pts]).toContain((await storage.load())?.state?.pts);
    expect(await storage.kv.get('k')).toEqual(new Uint8Array([1]));
    expect(await sessions.hasSession(1n, 2n)).toBe(true);
    // The application's sessions keep their setting.
    expect((await pool.query('SHOW statement_timeout')).rows[0]?.statement_timeout).toBe('100ms');
  });

  it('a 10,000-peer batch goes through (a statement_timeout in the connection string)', async () => {
    const pool = track(new pg.Pool({ connectionString: `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c statement_timeout=100')}`, max: 2 }));
    expect((await pool.query('SHOW statement_timeout')).rows[0]?.statement_timeout).toBe('100ms');
    const storage = track(new PostgresStorage({ pool, schema: freshSchema() }));
    await storage.save(fullSession(1));
    const batch = Array.from({ length: 10_000 }, (_, i) => peer('user', i + 1));
    // Failed: ~0.4 s of work on this machine, twice with the second batch updating every row.
    await storage.peers.upsert(batch);
    await storage.peers.upsert(batch);
    const page = await storage.peers.list({ limit: 10_000 });
    expect(page.peers).toHaveLength(10_000);
  });

  it('concurrent writes to one session all go through', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 10, options: '-c statement_timeout=100' }));
    await expectConcurrentWritesGoThrough(pool);
    expect((await pool.query('SHOW statement_timeout')).rows[0]?.statement_timeout).toBe('100ms');
  });
});
