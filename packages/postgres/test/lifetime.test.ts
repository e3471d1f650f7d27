/**
 * Server session lifetime on PostgreSQL: the v2 → v3 migration keeps existing server
 * sessions (no expiry, last used when created), and the background sweep of a
 * SessionSubject removes expired rows in bounded batches, announcing each once.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { SessionSubject, type SessionEvent } from '@mtstore/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage } from '../src/index.js';
import { migrate } from '../src/schema.js';
import { admin, freshSchema, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('server session lifetime', () => {
  it('migration v2 → v3: existing server sessions live on, last used when created, and take part in expiry once touched', async () => {
    const schema = freshSchema();
    const pool = track(new pg.Pool({ connectionString: url, max: 2 }));
    await migrate(pool, schema, 2);
    await pool.query(`INSERT INTO "${schema}".server_sessions (auth_key_id, session_id, created_at) VALUES (1, 2, to_timestamp(1700000000.5)), (-1, 3, now())`);
    let now = Date.now();
    const storage = track(new PostgresSessionStorage({ connectionString: url, schema, ttlSeconds: 10, clock: () => now }));
    expect(await storage.hasSession(1n, 2n)).toBe(true);
    expect(await storage.sessionInfo(1n, 2n)).toEqual({ lastUsedAt: 1_700_000_000_500, expiresAt: null });
    const columns = await admin().query(`SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'server_sessions' ORDER BY column_name`, [schema]);
    expect(columns.rows).toContainEqual({ column_name: 'expires_at', data_type: 'bigint', is_nullable: 'YES' });
    expect(columns.rows).toContainEqual({ column_name: 'last_used_at', data_type: 'bigint', is_nullable: 'NO' });
    expect(await storage.touchSession(-1n, 3n)).toBe(true);
    now += 10_000;
    expect(await storage.listSessions(-1n)).toEqual([]);
    expect(await storage.hasSession(1n, 2n)).toBe(true);
    expect(await storage.expireSessions()).toEqual([{ authKeyId: -1n, sessionId: 3n }]);
  });

  it('a SessionSubject sweep removes 2,500 expired sessions in batches of 1,000 (one statement each), each announced once as expired', async () => {
    const schema = freshSchema();
    let now = Date.now();
    const storage = track(new PostgresSessionStorage({ connectionString: url, schema, ttlSeconds: 1, clock: () => now }));
    await storage.createSession(0n, 0n);
    await admin().query(
      `INSERT INTO "${schema}".server_sessions (auth_key_id, session_id, last_used_at, expires_at)
       SELECT i % 7, i, $1::bigint, $1::bigint + 1000 FROM generate_series(1, 2500) AS i`,
      [now],
    );
    const kept = track(new PostgresSessionStorage({ connectionString: url, schema }));
    await kept.createSession(9n, 9n); // no ttl: never swept
    now += 1_000;
    const subjects = [0, 1].map((i) => track(new SessionSubject(storage, { id: `node-${i}`, sweepInterval: 20 })));
    const events: SessionEvent[] = [];
    for (const subject of subjects) subject.subscribe({ update: (e) => void events.push(e) });
    await until(() => events.length >= 2501, '2,501 expired events', 30_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toHaveLength(2501);
    expect(new Set(events.map((e) => `${e.authKeyId}/${e.sessionId}`)).size).toBe(2501);
    expect(events.every((e) => e.type === 'destroyed' && e.reason === 'expired')).toBe(true);
    const { rows } = await admin().query(`SELECT auth_key_id::text, session_id::text FROM "${schema}".server_sessions`);
    expect(rows).toEqual([{ auth_key_id: '9', session_id: '9' }]);
  });
});
