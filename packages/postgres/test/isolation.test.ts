/**
 * A pool whose sessions default to a stricter isolation than READ COMMITTED (the
 * application's `options: '-c default_transaction_isolation=…'`, or a DBA's setting per
 * role or database): concurrent writes to one session met rows another write had just
 * updated and failed with 40001 "could not serialize access", where READ COMMITTED
 * waits and goes on. mtstore's transactions now say READ COMMITTED; its single
 * statements run again after a serialization failure. The application's own default
 * is left as it set it.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('a pool whose default isolation is stricter than READ COMMITTED', () => {
  it.each(['serializable', 'repeatable read'])('%s: concurrent writes to one session all go through', async (level) => {
    const pool = track(new pg.Pool({ connectionString: url, max: 10, options: `-c default_transaction_isolation=${level.replace(' ', '\\ ')}` }));
    const schema = freshSchema();
    // Two instances on one session name, as two processes would be (and calls of one at once).
    const a = track(new PostgresStorage({ pool, schema }));
    const b = track(new PostgresStorage({ pool, schema }));
    const sessions = track(new PostgresSessionStorage({ pool, schema, ttlSeconds: 100 }));
    await a.save(fullSession(1));
    const calls: Promise<unknown>[] = [];
    for (let i = 1; i <= 20; i++) {
      calls.push(
        a.saveUpdateState({ pts: i, qts: i, date: i, seq: i }, [{ id: 5n, pts: i }]),
        b.saveUpdateState({ pts: i, qts: i, date: i, seq: i }, [{ id: 5n, pts: i }]),
        a.peers.upsert([peer('user', i % 3)]),
        b.peers.upsert([peer('user', i % 3)]),
        a.kv.set('k', new Uint8Array([i])),
        b.update({ apiId: i }),
        a.refMessages.store(1n, 2n, i),
        sessions.createSession(1n, BigInt(i % 4)),
        sessions.touchSession(1n, BigInt(i % 4)),
        b.save(fullSession(1)),
      );
    }
    const failures = (await Promise.allSettled(calls)).flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
    expect(failures).toEqual([]);
    // Under a lease: renewals and fenced writes at once.
    await a.lease.acquire({ ttlSeconds: 30, heartbeat: false });
    const leased = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a.lease.renew() : a.saveUpdateState({ pts: i + 1, qts: 1, date: 1, seq: 1 }))));
    expect(leased.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []))).toEqual([]);
    expect((await a.load())?.state).toBeDefined();
    // The application's sessions keep their default.
    expect((await pool.query('SHOW default_transaction_isolation')).rows[0]?.default_transaction_isolation).toBe(level);
  });
});
