/** Constructor options, entities and migration classes: everything checked before any connection. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { beginStatement } from '../src/timeouts.js';
import {
  mtstoreEntities,
  MtstoreMigration1795305600000,
  MtstoreMigration1796515200000,
  MtstoreMigration1796860800000,
  MtstoreMigration1797206400000,
  mtstoreMigrations,
  TypeormSessionStorage,
  TypeormStorage,
} from '../src/index.js';

const pg = { type: 'postgres', url: 'postgres://user:s3cret-pw@127.0.0.1:1/none' } as const;

function code(make: () => unknown): string | undefined {
  try {
    make();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('options', () => {
  it('need exactly one of dataSource and options', () => {
    const dataSource = new DataSource(pg);
    expect(code(() => new TypeormStorage({}))).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(code(() => new TypeormSessionStorage({}))).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(code(() => new TypeormStorage({ dataSource, options: pg }))).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(code(() => new TypeormStorage({ dataSource: {} as DataSource }))).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(code(() => new TypeormStorage({ dataSource }))).toBeUndefined();
    expect(code(() => new TypeormStorage(undefined as never))).toBe('MTSTORE_INVALID_ARGUMENT');
  });

  it('refuse an option TypeormStorage does not have, naming the nearest (a misspelt encryption stored keys in plaintext)', () => {
    const dataSource = new DataSource(pg);
    for (const [extra, nearest] of [
      [{ encrypton: { keys: [] } }, 'encryption'],
      [{ tablePrefx: 'x_' }, 'tablePrefix'],
    ] as const) {
      let message = '';
      try {
        new TypeormStorage({ dataSource, ...extra } as never);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`TypeormStorage: unknown option "${Object.keys(extra)[0]}" (did you mean "${nearest}"?)`);
    }
    let message = '';
    try {
      new TypeormSessionStorage({ dataSource, ttlSecond: 60 } as never);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('TypeormSessionStorage: unknown option "ttlSecond" (did you mean "ttlSeconds"?)');
  });

  it('reject a MySQL statement bound (enableQueryTimeout + maxQueryExecutionTime) past 2^31 - 1 ms: the adapter times statements with a Node timer, which would fire after 1 ms', () => {
    for (const type of ['mysql', 'mariadb'] as const) {
      const options = (ms: number) => ({ type, url: 'mysql://user:pw@127.0.0.1:1/none', enableQueryTimeout: true, maxQueryExecutionTime: ms }) as DataSourceOptions;
      for (const ms of [2 ** 31, 2 ** 32]) {
        expect(code(() => new TypeormStorage({ options: options(ms) })), `${type} ${ms}`).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(code(() => new TypeormSessionStorage({ dataSource: new DataSource(options(ms)) })), `${type} ${ms}`).toBe('MTSTORE_INVALID_ARGUMENT');
      }
      expect(code(() => new TypeormStorage({ options: options(2 ** 31 - 1) }))).toBeUndefined();
    }
  });

  it('reject a driver the adapter does not support, naming the supported ones', () => {
    let message = '';
    try {
      new TypeormStorage({ options: { type: 'sqljs' } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('"sqljs" is not supported');
    expect(message).toContain('postgres, mysql, mariadb, better-sqlite3');
  });

  it('reject a table prefix that is not a plain identifier', () => {
    for (const prefix of ['a; DROP TABLE x; --', 'a"b', 'a.b', '1abc', 'x'.repeat(49), 42]) {
      expect(code(() => new TypeormStorage({ options: pg, tablePrefix: prefix as string })), String(prefix)).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(code(() => mtstoreEntities({ type: 'postgres', tablePrefix: prefix as string })), String(prefix)).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(code(() => mtstoreMigrations({ tablePrefix: prefix as string })), String(prefix)).toBe('MTSTORE_INVALID_ARGUMENT');
    }
    expect(code(() => new TypeormStorage({ options: pg, tablePrefix: '' }))).toBeUndefined();
    expect(code(() => new TypeormStorage({ options: pg, migrate: 'yes' as unknown as boolean }))).toBe('MTSTORE_INVALID_ARGUMENT');
  });

  it('reject an invalid session name', () => {
    expect(code(() => new TypeormStorage({ options: pg, name: 'has space' }))).toBe('MTSTORE_INVALID_ARGUMENT');
  });

  it('util.inspect shows the driver and prefix, never the connection options', () => {
    const text = inspect(new TypeormStorage({ options: pg, name: 'alice', tablePrefix: 'app_' }), { depth: 8, showHidden: true });
    expect(text).toBe('TypeormStorage { name: "alice", driver: "postgres", tablePrefix: "app_", dataSource: "owned", closed: false }');
    expect(inspect(new TypeormSessionStorage({ dataSource: new DataSource(pg) }))).not.toContain('s3cret');
  });
});

describe('an unreachable database', () => {
  it('every call rejects StorageUnavailableError, without the password; close still resolves', async () => {
    for (const options of [pg, { type: 'mariadb', url: 'mysql://root:s3cret-pw@127.0.0.1:1/none', connectTimeout: 1000 } as const]) {
      const storage = new TypeormStorage({ options });
      const server = new TypeormSessionStorage({ options });
      for (const call of [() => storage.load(), () => server.hasSession(1n, 1n)]) {
        let error: Error | undefined;
        await call().catch((caught: Error) => (error = caught));
        expect((error as { code?: string } | undefined)?.code, options.type).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        expect(`${error?.message} ${inspect(error, { depth: 8 })}`).not.toContain('s3cret');
      }
      await storage.close();
      await server.close();
    }
  });
});

describe('entities and migration classes', () => {
  it('entities are named after their tables and the same objects for the same options', () => {
    const entities = mtstoreEntities({ type: 'postgres' });
    expect(entities.map((e) => e.options.name)).toEqual([
      'mtstore_schema_version',
      'mtstore_sessions',
      'mtstore_datacenters',
      'mtstore_auth_keys',
      'mtstore_channels',
      'mtstore_peers',
      'mtstore_peer_usernames',
      'mtstore_kv',
      'mtstore_ref_messages',
      'mtstore_server_sessions',
    ]);
    expect(mtstoreEntities({ type: 'postgres' })).toBe(entities);
    expect(mtstoreEntities({ type: 'mariadb', tablePrefix: 'x_' })[1]?.options.tableName).toBe('x_sessions');
    expect(mtstoreEntities({ type: 'mariadb' })).not.toBe(entities);
  });

  it('binary columns get each driver’s type; 64 KiB values fit (MySQL’s BLOB holds one byte less)', () => {
    const column = (type: string, table: string, property: string) =>
      mtstoreEntities({ type }).find((e) => e.options.name === `mtstore_${table}`)?.options.columns[property];
    expect(column('postgres', 'auth_keys', 'authKey')?.type).toBe('bytea');
    expect(column('mysql', 'auth_keys', 'authKey')).toMatchObject({ type: 'varbinary', length: 1024 });
    expect(column('better-sqlite3', 'auth_keys', 'authKey')?.type).toBe('blob');
    for (const [table, property] of [['kv', 'value'], ['peers', 'complete']] as const) {
      expect(column('postgres', table, property)?.type).toBe('bytea');
      expect(column('mariadb', table, property)?.type).toBe('mediumblob');
      expect(column('better-sqlite3', table, property)?.type).toBe('blob');
    }
    expect(code(() => mtstoreEntities({ type: 'oracle' }))).toBe('MTSTORE_INVALID_ARGUMENT');
  });

  it('migration names end with the timestamp TypeORM orders by and carry the prefix', () => {
    expect(mtstoreMigrations()).toEqual([MtstoreMigration1795305600000, MtstoreMigration1796515200000, MtstoreMigration1796860800000, MtstoreMigration1797206400000]);
    expect(new MtstoreMigration1795305600000().name).toBe('MtstoreMigration1795305600000');
    expect(new MtstoreMigration1796515200000().name).toBe('MtstoreMigration1796515200000');
    expect(new MtstoreMigration1796860800000().name).toBe('MtstoreMigration1796860800000');
    expect(new MtstoreMigration1797206400000().name).toBe('MtstoreMigration1797206400000');
    const prefixed = mtstoreMigrations({ tablePrefix: 'tenant_a_' });
    expect(prefixed.map((m) => new m().name)).toEqual([
      'MtstoreMigration_tenant_a_1795305600000',
      'MtstoreMigration_tenant_a_1796515200000',
      'MtstoreMigration_tenant_a_1796860800000',
      'MtstoreMigration_tenant_a_1797206400000',
    ]);
    expect(mtstoreMigrations({ tablePrefix: 'tenant_a_' })[0]).toBe(prefixed[0]);
  });
});

describe('postgres: the server-side limit of a transaction (beginStatement)', () => {
  it("follows the query_timeout pg's clients use: a ?query_timeout= in the url over extra's, as pg itself takes it", async () => {
    const { default: pgDriver } = await import('pg');
    const base = 'postgres://user@127.0.0.1:1/none';
    const cases: [Record<string, unknown>, number][] = [
      [{ url: base }, 30_000],
      [{ url: base, extra: { query_timeout: 2_500 } }, 2_500],
      [{ url: `${base}?query_timeout=1500`, extra: { query_timeout: 2_500 } }, 1_500],
      [{ url: base, extra: { query_timeout: 2_500, connectionString: `${base}?sslmode=disable&query_timeout=1200` } }, 1_200],
    ];
    for (const [options, ms] of cases) {
      const extra = (options.extra ?? {}) as Record<string, unknown>;
      // What TypeORM gives pg (PostgresDriver.createPool: url as connectionString, then extra
      // over it), and what pg's client then waits for a reply (no connection is made).
      const client = new pgDriver.Client({ connectionString: options.url as string, ...extra });
      // None (pg: 0): the server's limit is the adapter's 30 s.
      const used = Number((client as unknown as { connectionParameters: { query_timeout?: unknown } }).connectionParameters.query_timeout) || 30_000;
      expect(used, JSON.stringify(options)).toBe(ms);
      expect(beginStatement({ type: 'postgres', ...options } as DataSourceOptions), JSON.stringify(options)).toBe(`START TRANSACTION; SET LOCAL idle_in_transaction_session_timeout = ${ms}`);
    }
  });
});

// docs/contract.md §8: null for an option is InvalidArgumentError naming it. TypeormStorage
// took `tablePrefix: null` and `name: null` for "left out" (the default prefix, session
// "default"), while `migrate: null` and `create: null` were refused.
describe('null for an option', () => {
  it.each([
    ['TypeormStorage', (extra: Record<string, unknown>) => new TypeormStorage({ options: pg, ...extra } as never)],
    ['TypeormSessionStorage', (extra: Record<string, unknown>) => new TypeormSessionStorage({ options: pg, ...extra } as never)],
  ] as const)('%s refuses null for each of its options, naming it', async (name, build) => {
    let listed = '';
    try {
      build({ zzzUnknown: 1 });
    } catch (error) {
      listed = /known options: (.*)$/.exec((error as Error).message)?.[1] ?? '';
    }
    const options = listed.split(', ');
    expect(options).toContain('tablePrefix');
    const accepted: string[] = [];
    const refused: [string, Error & { code?: string }][] = [];
    for (const option of options) {
      let made: { close(): Promise<void> } | undefined;
      try {
        made = build({ [option]: null });
      } catch (error) {
        refused.push([option, error as Error & { code?: string }]);
        continue;
      }
      accepted.push(option);
      await made.close();
    }
    expect(accepted, `${name} took null for`).toEqual([]);
    for (const [option, error] of refused) {
      expect(error.code, option).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain(`${name}: ${option} must not be null`);
    }
  });
});
