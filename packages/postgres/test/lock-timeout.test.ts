/**
 * A pool whose sessions run with a short `lock_timeout` (the application's `options: '-c
 * lock_timeout=…'`, or a DBA's setting per role or database, so the application's own
 * queries never wait long for a lock): mtstore's concurrent writes to one session wait
 * for each other's row locks by design, and failed with 55P03 "canceling statement due
 * to lock timeout". mtstore's transactions now set their own lock_timeout, and its single
 * statements run again after a lock timeout. The application's own setting is left as
 * it set it.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { expectConcurrentWritesGoThrough } from './concurrent-writes.js';
import { admin, freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('a pool whose sessions run with lock_timeout = 1ms', () => {
  it('concurrent writes to one session all go through; the application keeps its setting', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 10, options: '-c lock_timeout=1ms' }));
    await expectConcurrentWritesGoThrough(pool);
    // The application's sessions keep their setting.
    expect((await pool.query('SHOW lock_timeout')).rows[0]?.lock_timeout).toBe('1ms');
  });

  it('first lease acquires of many instances at once, on a schema without the lease table, all go through', async () => {
    // Each instance creates the lease table on its first acquire: the creators waited for
    // each other's catalog locks and the losers failed 'canceling statement due to lock timeout'.
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const schema = freshSchema();
      await track(new PostgresStorage({ connectionString: url, schema })).save(fullSession(1));
      const racers = Array.from({ length: 12 }, (_, i) => track(new PostgresStorage({ config: { connectionString: url, max: 1, options: '-c lock_timeout=1ms' }, schema, name: `n${i}` })));
      await Promise.all(racers.map((racer) => racer.kv.get('warm-up')));
      const settled = await Promise.allSettled(racers.map((racer) => racer.lease.acquire({ ttlSeconds: 60, heartbeat: false })));
      outcomes.push(...settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : [])));
      await Promise.all(racers.map((racer) => racer.close()));
    }
    expect(outcomes).toEqual([]);
  });

  it('a write close() gave up on while it waited out a lock held elsewhere does not land once the lock is free', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 2, options: '-c lock_timeout=1ms' }));
    const schema = freshSchema();
    const storage = new PostgresStorage({ pool, schema, closeTimeoutMillis: 200 });
    await storage.save(fullSession(1));
    // Another program holds the session row.
    const other = await admin().connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM "${schema}".sessions FOR UPDATE`);
      const write = storage.saveUpdateState({ pts: 777, qts: 1, date: 1, seq: 1 });
      write.catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
      await storage.close();
      await expect(write).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
      await other.query('COMMIT');
    } finally {
      other.release();
    }
    // A retry scheduled before close() gave up ran after it, and landed once the row was free.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { rows } = await admin().query(`SELECT pts FROM "${schema}".sessions`);
    expect(rows).toEqual([{ pts: fullSession(1).state?.pts ?? null }]);
  });
});
