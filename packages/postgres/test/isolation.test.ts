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
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { expectConcurrentWritesGoThrough } from './concurrent-writes.js';
import { probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('a pool whose default isolation is stricter than READ COMMITTED', () => {
  it.each(['serializable', 'repeatable read'])('%s: concurrent writes to one session all go through', async (level) => {
    const pool = track(new pg.Pool({ connectionString: url, max: 10, options: `-c default_transaction_isolation=${level.replace(' ', '\\ ')}` }));
    await expectConcurrentWritesGoThrough(pool);
    // The application's sessions keep their default.
    expect((await pool.query('SHOW default_transaction_isolation')).rows[0]?.default_transaction_isolation).toBe(level);
  });
});
