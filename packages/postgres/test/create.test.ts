/**
 * `create: false` (URL `?create=false`): only a store that is there opens. A schema
 * that does not exist, an empty one, or another program's is NotFoundError and the
 * catalog is left exactly as it was; a store that is there opens and reads, and asking
 * who holds its lease adds no lease table. An older store is migrated as with `true`.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession } from '@mtstore/conformance';
import { openSessionStorage, openStorage, registerAdapter } from '@mtstore/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { adapter, PostgresSessionStorage, PostgresStorage, SCHEMA_VERSION } from '../src/index.js';
import { migrate } from '../src/schema.js';
import { admin, freshSchema, plain, probe, track, url } from './helpers.js';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { failure, storeCalls } from '../../test-adapters/src/outcomes.js';

const server = await checkServer('postgres', url, probe);

registerAdapter('postgres', async () => adapter);
registerAdapter('postgresql', async () => adapter);

/** Everything the catalog holds in `schema`: the schema itself, every relation (tables, indexes, sequences) and every type. */
async function catalog(schema: string): Promise<unknown> {
  const { rows: namespaces } = await admin().query('SELECT oid::int8::text AS oid FROM pg_namespace WHERE nspname = $1', [schema]);
  const { rows: relations } = await admin().query(
    `SELECT c.relname, c.relkind, c.relfilenode::int8::text AS file FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 ORDER BY c.relname`,
    [schema],
  );
  const { rows: types } = await admin().query(
    'SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1 ORDER BY 1',
    [schema],
  );
  return { namespaces, relations, types };
}

function withParameters(base: string, parameters: Record<string, string>): string {
  const target = new URL(base);
  for (const [key, value] of Object.entries(parameters)) target.searchParams.set(key, value);
  return target.href;
}

describe.runIf(server.available)('create: false', () => {
  it('a schema that does not exist, an empty one, or another program\'s is NotFoundError and the catalog stays exactly as it was', async () => {
    const missing = freshSchema();
    const empty = freshSchema();
    await admin().query(`CREATE SCHEMA "${empty}"`);
    const other = freshSchema();
    await admin().query(`CREATE SCHEMA "${other}"; CREATE TABLE "${other}".app_data (x text); INSERT INTO "${other}".app_data VALUES ('precious')`);
    for (const [schema, why] of [
      [missing, 'the schema does not exist'],
      [empty, `no table "${empty}".migrations`],
      [other, `no table "${other}".migrations`],
    ] as const) {
      const before = await catalog(schema);
      const client = track(new PostgresStorage({ connectionString: url, schema, create: false }));
      const server = track(new PostgresSessionStorage({ connectionString: url, schema, create: false }));
      const viaUrl = track(await openStorage(withParameters(url, { schema, create: 'false' })));
      const viaServerUrl = (await openSessionStorage(withParameters(url, { schema, create: 'false' }))).storage;
      track(viaServerUrl as PostgresSessionStorage);
      for (const [what, call] of [
        ...storeCalls(client, server),
        ['url load', () => viaUrl.load()],
        ['url hasSession', () => viaServerUrl.hasSession(1n, 2n)],
      ] as [string, () => Promise<unknown>][]) {
        const error = await failure(call());
        expect(error.code, `${schema} ${what}`).toBe('MTSTORE_NOT_FOUND');
        expect(error.message).toContain(why);
        expect(error.message).toContain('holds no @mtstore/postgres store');
      }
      // A write is refused the same way: create: false never creates the store.
      expect((await failure(client.save(fullSession(1)))).code).toBe('MTSTORE_NOT_FOUND');
      expect(await catalog(schema), schema).toEqual(before);
    }
    expect((await admin().query(`SELECT x FROM "${other}".app_data`)).rows).toEqual([{ x: 'precious' }]);
  });

  it('a store that is there opens and reads; asking who holds the lease adds no lease table', async () => {
    const schema = freshSchema();
    const writer = track(new PostgresStorage({ connectionString: url, schema, name: 'alice' }));
    await writer.save(fullSession(1));
    await writer.close();
    const before = await catalog(schema);
    const reader = track(new PostgresStorage({ connectionString: url, schema, name: 'alice', create: false }));
    expect(plain(await reader.load())).toEqual(fullSession(1));
    expect(await reader.listNames()).toEqual(['alice']);
    expect(await reader.lease.holder()).toBeNull();
    const viaUrl = track(await openStorage(withParameters(url, { schema, session: 'alice', create: 'false' })));
    expect(plain(await viaUrl.load())).toEqual(fullSession(1));
    const server = track(new PostgresSessionStorage({ connectionString: url, schema, create: false }));
    expect(await server.hasSession(1n, 2n)).toBe(false);
    expect(await catalog(schema)).toEqual(before);
    // Once a lease was taken (the table is there), a reader sees its holder.
    const holder = track(new PostgresStorage({ connectionString: url, schema, name: 'alice' }));
    const lease = await holder.lease.acquire({ heartbeat: false });
    expect((await reader.lease.holder())?.token).toBe(lease.token);
  });

  it('a store at an older schema version is migrated, as with create: true', async () => {
    const schema = freshSchema();
    const pool = track(new pg.Pool({ connectionString: url, max: 1 }));
    await migrate(pool, schema, 3);
    const reader = track(new PostgresStorage({ pool, schema, create: false }));
    expect(await reader.load()).toBeNull();
    const { rows } = await pool.query(`SELECT max(version) AS version FROM "${schema}".migrations`);
    expect(rows).toEqual([{ version: SCHEMA_VERSION }]);
  });

  it('create must be a boolean, and ?create true or false: InvalidArgumentError before any I/O', async () => {
    for (const create of ['false', 0, null]) {
      for (const make of [
        () => new PostgresStorage({ connectionString: 'postgres://nobody@127.0.0.1:1/none', create: create as never }),
        () => new PostgresSessionStorage({ connectionString: 'postgres://nobody@127.0.0.1:1/none', create: create as never }),
      ]) {
        expect(make).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(create === null ? 'create must not be null' : 'create must be a boolean') }));
      }
    }
    for (const value of ['no', '0', '']) {
      const error = await failure(openStorage(`postgres://nobody:secret@127.0.0.1:1/none?create=${value}`));
      expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain('URL parameter create must be true or false');
      expect(error.message).not.toContain('secret');
    }
  });
});
