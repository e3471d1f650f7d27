/**
 * The schema: what it looks like in psql, migrations that run once under concurrent
 * starts, refusing a newer schema, and stored rows that do not decode.
 */
import { inspect } from 'node:util';
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession, minimalSession, peer } from '@mtstore/conformance';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage, SCHEMA_VERSION } from '../src/index.js';
import { admin, freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

/** A fresh schema runs every migration in turn, each recorded once. */
const everyVersion = Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 }));

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error & { code?: string }) => error,
  );
}

describe.runIf(server.available)('schema', () => {
  it('creates the documented tables with native types in the configured schema', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ connectionString: url, schema }));
    await storage.save(minimalSession());
    const { rows } = await admin().query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1`,
      [schema],
    );
    const type = (table: string, column: string) => rows.find((r) => r.table_name === table && r.column_name === column)?.data_type;
    expect(new Set(rows.map((r) => r.table_name))).toEqual(
      new Set(['migrations', 'sessions', 'dcs', 'auth_keys', 'channels', 'peers', 'peer_usernames', 'kv', 'ref_messages', 'server_sessions']),
    );
    for (const [table, column] of [
      ['sessions', 'user_id'],
      ['sessions', 'takeout_id'],
      ['channels', 'channel_id'],
      ['peers', 'id'],
      ['peers', 'access_hash'],
      ['server_sessions', 'auth_key_id'],
      ['server_sessions', 'session_id'],
      ['ref_messages', 'peer_id'],
      ['ref_messages', 'chat_id'],
      ['ref_messages', 'stored'],
    ]) {
      expect(type(table as string, column as string), `${table}.${column}`).toBe('bigint');
    }
    for (const [table, column] of [['auth_keys', 'key'], ['kv', 'value'], ['peers', 'complete']]) {
      expect(type(table as string, column as string), `${table}.${column}`).toBe('bytea');
    }
    expect(type('dcs', 'test_mode')).toBe('boolean');
    expect(type('sessions', 'user_usernames')).toBe('ARRAY');
    // Keys live in auth_keys only: the DC rows hold addresses.
    expect(rows.filter((r) => r.table_name === 'dcs').map((r) => r.column_name).sort()).toEqual(
      ['dc_id', 'host', 'ipv4', 'ipv6', 'media_only', 'port', 'position', 'session_id', 'test_mode'],
    );
    const pk = await admin().query<{ columns: string }>(
      `SELECT pg_get_indexdef(i.indexrelid) AS columns FROM pg_index i
        WHERE i.indrelid = ($1 || '.server_sessions')::regclass AND i.indisprimary`,
      [schema],
    );
    expect(pk.rows[0]?.columns).toMatch(/\(auth_key_id, session_id\)/);
    const versions = await admin().query(`SELECT version FROM "${schema}".migrations ORDER BY version`);
    expect(versions.rows).toEqual(everyVersion);
  });

  it('works in a schema the application created beforehand', async () => {
    const schema = freshSchema();
    await admin().query(`CREATE SCHEMA "${schema}"`);
    const storage = track(new PostgresStorage({ connectionString: url, schema }));
    await storage.save(fullSession(1));
    expect(await storage.load()).not.toBeNull();
  });

  it('processes starting together migrate once: the advisory lock makes the others wait', async () => {
    const schema = freshSchema();
    // Eight pools (eight "processes") race on an empty schema, client and server side.
    const instances = Array.from({ length: 8 }, (_, i) =>
      track(i % 2 ? new PostgresSessionStorage({ config: { connectionString: url, max: 1 }, schema }) : new PostgresStorage({ config: { connectionString: url, max: 1 }, schema, name: `n${i}` })),
    );
    await Promise.all(
      instances.map((instance, i) => (instance instanceof PostgresStorage ? instance.save(fullSession(i + 1)) : instance.createSession(1n, BigInt(i)))),
    );
    const versions = await admin().query(`SELECT version FROM "${schema}".migrations ORDER BY version`);
    expect(versions.rows).toEqual(everyVersion);
    const sessions = await admin().query(`SELECT count(*)::int AS n FROM "${schema}".sessions`);
    expect(sessions.rows[0].n).toBe(4);
  });

  it("processes that wait for another's migration longer than their pool's statement_timeout still migrate (the wait and the DDL are not the application's queries)", async () => {
    const schema = freshSchema();
    // Another process migrating this schema: it holds the migration lock for 400 ms.
    const other = await admin().connect();
    try {
      await other.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`mtstore:migrate:${schema}`]);
      const options = '-c statement_timeout=100';
      const instances = Array.from({ length: 4 }, (_, i) =>
        track(i % 2 ? new PostgresSessionStorage({ config: { connectionString: url, max: 1, options }, schema }) : new PostgresStorage({ config: { connectionString: url, max: 1, options }, schema, name: `n${i}` })),
      );
      const calls = instances.map((instance, i) => (instance instanceof PostgresStorage ? instance.save(fullSession(i + 1)) : instance.createSession(1n, BigInt(i))));
      await new Promise((resolve) => setTimeout(resolve, 400));
      await other.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`mtstore:migrate:${schema}`]);
      // Every one failed 'canceling statement due to statement timeout' while waiting for the lock.
      const failed = (await Promise.allSettled(calls)).flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
      expect(failed).toEqual([]);
    } finally {
      other.release();
    }
    expect((await admin().query(`SELECT version FROM "${schema}".migrations ORDER BY version`)).rows).toEqual(everyVersion);
  });

  it("a schema holding another program's migrations table (TypeORM's, db-migrate's: no version column) is MigrationError, or NotFoundError with create: false, and nothing is created", async () => {
    const schema = freshSchema();
    // TypeORM's default table, as an application that points mtstore at its own schema ('public') has it.
    await admin().query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".migrations (id serial PRIMARY KEY, "timestamp" bigint NOT NULL, name varchar NOT NULL)`);
    // Both were StorageUnavailableError 'column "version" does not exist', read as a passing outage.
    const created = await rejection(track(new PostgresStorage({ connectionString: url, schema })).save(fullSession(1)));
    expect(created.code).toBe('MTSTORE_MIGRATION');
    expect(created.message).toContain(`schema "${schema}" has a table "migrations" that is not @mtstore/postgres's`);
    const opened = await rejection(track(new PostgresSessionStorage({ connectionString: url, schema, create: false })).createSession(1n, 1n));
    expect(opened.code).toBe('MTSTORE_NOT_FOUND');
    const tables = await admin().query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    expect(tables.rows).toEqual([{ table_name: 'migrations' }]);
  });

  it('refuses a schema written by a newer version with MigrationError, and writes nothing', async () => {
    const schema = freshSchema();
    const first = track(new PostgresStorage({ connectionString: url, schema }));
    await first.save(minimalSession());
    await admin().query(`INSERT INTO "${schema}".migrations (version) VALUES ($1)`, [SCHEMA_VERSION + 1]);
    const client = track(new PostgresStorage({ connectionString: url, schema, name: 'other' }));
    const error = await rejection(client.save(fullSession(2)));
    expect(error.code).toBe('MTSTORE_MIGRATION');
    expect(error.message).toContain(schema);
    expect(error.message).toContain(`version ${SCHEMA_VERSION + 1}`);
    const server = track(new PostgresSessionStorage({ connectionString: url, schema }));
    expect((await rejection(server.createSession(1n, 1n))).code).toBe('MTSTORE_MIGRATION');
    const rows = await admin().query(`SELECT name FROM "${schema}".sessions`);
    expect(rows.rows).toEqual([{ name: 'default' }]);
    // A failed migration check is not remembered: once the schema is readable again, the same instance works.
    await admin().query(`DELETE FROM "${schema}".migrations WHERE version > $1`, [SCHEMA_VERSION]);
    await client.save(fullSession(2));
    expect(await server.createSession(1n, 1n)).toBe(true);
  });

  it('an unreachable server while migrating is StorageUnavailableError, not MigrationError', async () => {
    const storage = track(new PostgresStorage({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchema() }));
    expect((await rejection(storage.load())).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
  });

  it('a stored row that does not decode is CorruptDataError naming the session, without key bytes', async () => {
    const schema = freshSchema();
    const storage = track(new PostgresStorage({ connectionString: url, schema, name: 'broken' }));
    await storage.save(fullSession(1));
    await storage.peers.upsert([peer('user', 1)]);

    // A truncated key.
    await admin().query(`UPDATE "${schema}".auth_keys SET key = substring(key FROM 1 FOR 100) WHERE dc_id = 1 AND slot = -1`);
    let error = await rejection(storage.load());
    expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
    expect(error.message).toContain('"broken"');
    expect(error.message).toContain('100 bytes');
    expect(inspect(error)).not.toMatch(/[0-9a-f]{64}/);

    // A user without a DC.
    await storage.save(fullSession(1));
    await admin().query(`UPDATE "${schema}".sessions SET user_dc_id = NULL`);
    error = await rejection(storage.load());
    expect(error.code).toBe('MTSTORE_CORRUPT_DATA');

    // A peer username no client could have stored.
    await admin().query(`UPDATE "${schema}".peer_usernames SET username = 'not a username'`);
    error = await rejection(storage.peers.getById('user', 1n));
    expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
    expect(error.message).toContain('"broken"');
  });
});
