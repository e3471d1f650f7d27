/**
 * The DataSource's schema (postgres) and database (mysql) name is written into SQL text
 * (ours and TypeORM's), so it is validated when the adapter first sees the DataSource,
 * before any I/O, and our quoting doubles an embedded quote. Valid non-default names
 * keep working end to end.
 */
import { createServer } from 'node:net';
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { InvalidArgumentError } from '@mtstore/core';
import { DataSource, type DataSourceOptions, type QueryRunner } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { Dialect } from '../src/dialect.js';
import { mtstoreMigrations, TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { tableQualifier } from '../src/schema.js';
import { mysql, MYSQL_URL, plain, postgres } from './drivers.js';

/** A TCP server that counts the connections made to it (and hangs up on each). */
async function countingServer(): Promise<{ url(scheme: string): string; connections(): number; close(): Promise<void> }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: (scheme) => `${scheme}://root@127.0.0.1:${port}/x`,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function thrown(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The application's DataSource, with every way it could reach the database counted. */
function watched(options: DataSourceOptions): { dataSource: DataSource; calls: string[] } {
  const dataSource = new DataSource(options);
  const calls: string[] = [];
  for (const method of ['initialize', 'query', 'createQueryRunner', 'transaction'] as const) {
    (dataSource as unknown as Record<string, unknown>)[method] = () => {
      calls.push(method);
      throw new Error(`${method} must not be called`);
    };
  }
  return { dataSource, calls };
}

const BAD = [
  'auditin"x',
  'x"."t" (x int); CREATE TABLE mtstore_pwned (y int); CREATE TABLE "x',
  'a;b',
  'a b',
  'a.b',
  'a`b',
  "a'b",
  'a\\b',
  'a?b',
  'a\nb',
  'schemä',
  'x'.repeat(65),
];

describe('the DataSource schema / database name', () => {
  it('a schema with a quote, semicolon, space… is rejected with InvalidArgumentError at construction, before any connection (postgres)', async () => {
    const server = await countingServer();
    try {
      for (const schema of BAD) {
        const options = { type: 'postgres', url: server.url('postgres'), schema } as const;
        for (const make of [() => new TypeormStorage({ options }), () => new TypeormSessionStorage({ options })]) {
          const error = thrown(make);
          expect(error, schema).toBeInstanceOf(InvalidArgumentError);
          expect((error as Error).message).toContain('the DataSource option schema must be a schema name');
        }
        const { dataSource, calls } = watched(options);
        expect(thrown(() => new TypeormStorage({ dataSource, name: 'alice' })), schema).toBeInstanceOf(InvalidArgumentError);
        expect(thrown(() => new TypeormSessionStorage({ dataSource })), schema).toBeInstanceOf(InvalidArgumentError);
        expect(calls).toEqual([]);
      }
      expect((thrown(() => new TypeormStorage({ options: { type: 'postgres', url: server.url('postgres'), schema: 'a"b' } })) as Error).message).toBe(
        'TypeormStorage: the DataSource option schema must be a schema name of 1-63 ASCII letters, digits, _, $ or -, got string "a\\"b"',
      );
      expect(thrown(() => new TypeormStorage({ options: { type: 'postgres', url: server.url('postgres'), schema: 42 as unknown as string } }))).toBeInstanceOf(
        InvalidArgumentError,
      );
      // 64 characters: over postgres' 63, within MySQL's 64.
      expect(thrown(() => new TypeormStorage({ options: { type: 'postgres', url: server.url('postgres'), schema: 'x'.repeat(64) } }))).toBeInstanceOf(
        InvalidArgumentError,
      );
      expect(server.connections()).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a database with a backtick, semicolon, space… is rejected with InvalidArgumentError at construction, before any connection (mysql, mariadb)', async () => {
    const server = await countingServer();
    try {
      for (const type of ['mysql', 'mariadb'] as const) {
        for (const database of BAD) {
          const shapes: DataSourceOptions[] = [
            { type, host: '127.0.0.1', port: Number(new URL(server.url('mysql')).port), username: 'root', database },
            { type, url: `${server.url('mysql').replace(/\/x$/, '')}/${encodeURIComponent(database)}` },
            { type, replication: { master: { host: '127.0.0.1', port: Number(new URL(server.url('mysql')).port), username: 'root', database }, slaves: [] } },
          ];
          for (const options of shapes) {
            const label = `${type} ${JSON.stringify(database)} ${Object.keys(options).join(',')}`;
            for (const make of [() => new TypeormStorage({ options }), () => new TypeormSessionStorage({ options })]) {
              const error = thrown(make);
              expect(error, label).toBeInstanceOf(InvalidArgumentError);
              expect((error as Error).message, label).toContain("the DataSource's database (option database, or its url's path) must be a database name of 1-64");
            }
            const app = watched(options);
            expect(thrown(() => new TypeormStorage({ dataSource: app.dataSource })), label).toBeInstanceOf(InvalidArgumentError);
            expect(app.calls).toEqual([]);
          }
        }
      }
      expect(server.connections()).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('the TypeORM migration classes reject such a DataSource before running a statement', async () => {
    const queries: string[] = [];
    const runner = {
      connection: new DataSource({ type: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', schema: 'x"; DROP TABLE y; --' }),
      query: async (sql: string) => void queries.push(sql),
    } as unknown as QueryRunner;
    for (const Migration of mtstoreMigrations()) {
      await expect(new Migration().up(runner)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(new Migration().down(runner)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(queries).toEqual([]);
  });

  it('real-world names are accepted: public, my_schema, MySchema, digits first, $, -, 63 (postgres) / 64 (mysql) characters; none means unqualified', () => {
    const pg = (schema: unknown) => tableQualifier(new DataSource({ type: 'postgres', schema } as DataSourceOptions), 'postgres', 'test');
    const my = (database: unknown) => tableQualifier(new DataSource({ type: 'mariadb', database } as DataSourceOptions), 'mysql', 'test');
    for (const name of ['public', 'my_schema', 'MySchema', '2024_app', 'billing$v2', 'my-app', '_x', 'x'.repeat(63)]) {
      expect(pg(name)).toBe(name);
      expect(my(name)).toBe(name);
    }
    expect(my('x'.repeat(64))).toBe('x'.repeat(64));
    for (const none of [undefined, '']) {
      expect(pg(none)).toBeUndefined();
      expect(my(none)).toBeUndefined();
    }
    expect(tableQualifier(new DataSource({ type: 'better-sqlite3', database: ':memory:' }), 'sqlite', 'test')).toBeUndefined();
  });

  it('quoting doubles an embedded quote: " on postgres and sqlite, ` on mysql', () => {
    expect(new Dialect('postgres').quote('a"b')).toBe('"a""b"');
    expect(new Dialect('sqlite').quote('"')).toBe('""""');
    expect(new Dialect('mysql').quote('a`b`')).toBe('`a``b```');
    expect(new Dialect('mysql').quote('a"b')).toBe('`a"b`');
    expect(new Dialect('postgres').table('s"x', 'mtstore_"t')).toBe('"s""x"."mtstore_""t"');
    expect(new Dialect('postgres').table(undefined, 'mtstore_sessions')).toBe('"mtstore_sessions"');
    expect(new Dialect('mysql').table('test', 'mtstore_sessions')).toBe('`test`.`mtstore_sessions`');
  });
});

const pgDb = postgres();
const pgServer = await checkServer(pgDb.name, pgDb.url, () => pgDb.probe());

if (pgServer.available) {
  afterAll(() => pgDb.dispose());

  describe('postgres: the DataSource schema', () => {
    // A plain name, and one that needs quoting (mixed case, $ and -): TypeORM's DDL and ours quote it.
    for (const schema of [`typeorm_schema_ok_${process.pid}`, `Typeorm-Schema$Ok_${process.pid}`]) {
      it(`a non-default schema ${schema.startsWith('typeorm') ? 'typeorm_schema_ok_<pid>' : 'Typeorm-Schema$Ok_<pid>'} works end to end: save, load, server sessions, a lease`, async () => {
        const admin = await pgDb.admin();
        const q = `"${schema}"`;
        await admin.query(`DROP SCHEMA IF EXISTS ${q} CASCADE`);
        await admin.query(`CREATE SCHEMA ${q}`);
        const options = { ...pgDb.options(schema), schema } as DataSourceOptions;
        const storage = new TypeormStorage({ options, name: 'alice' });
        const sessions = new TypeormSessionStorage({ options });
        const app = await new DataSource(options).initialize();
        const borrowed = new TypeormStorage({ dataSource: app, name: 'alice' });
        try {
          await storage.save(fullSession(1));
          expect(plain(await storage.load())).toEqual(fullSession(1));
          expect(plain(await borrowed.load())).toEqual(fullSession(1));
          expect(await sessions.createSession(1n, 1n)).toBe(true);
          expect(await sessions.hasSession(1n, 1n)).toBe(true);
          await storage.lease.acquire({ heartbeat: false });
          await storage.kv.set('k', Uint8Array.of(1));
          await storage.lease.release();
          const tables = (await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])) as { table_name: string }[];
          expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['mtstore_sessions', 'mtstore_leases', 'mtstore_server_sessions']));
          expect(await admin.query(`SELECT session_name FROM ${q}.mtstore_sessions`)).toEqual([{ session_name: 'alice' }]);
        } finally {
          await storage.close();
          await sessions.close();
          await borrowed.close();
          await app.destroy();
          await admin.query(`DROP SCHEMA IF EXISTS ${q} CASCADE`);
        }
      });
    }

    it('the audit’s injected schema is rejected: nothing reaches the server, the marker table is never created', async () => {
      const admin = await pgDb.admin();
      const marker = `mtstore_pwned_${process.pid}`;
      const schema = `public"."mtstore_inj_${process.pid}" (x int); CREATE TABLE public.${marker} (y int); CREATE TABLE "public`;
      const options = { ...pgDb.options(marker), schema } as DataSourceOptions;
      expect(thrown(() => new TypeormStorage({ options, name: 'audit', tablePrefix: 'mtstore_inj_' }))).toBeInstanceOf(InvalidArgumentError);
      const app = await new DataSource(options).initialize(); // the application's, connected: the adapter still runs nothing
      try {
        expect(thrown(() => new TypeormStorage({ dataSource: app, name: 'audit', tablePrefix: 'mtstore_inj_' }))).toBeInstanceOf(InvalidArgumentError);
        expect(thrown(() => new TypeormSessionStorage({ dataSource: app, tablePrefix: 'mtstore_inj_' }))).toBeInstanceOf(InvalidArgumentError);
      } finally {
        await app.destroy();
      }
      expect(await admin.query('SELECT to_regclass($1) AS t', [`public.${marker}`])).toEqual([{ t: null }]);
    });
  });
}

const myDb = mysql();
const myServer = await checkServer(myDb.name, myDb.url, () => myDb.probe());

if (myServer.available) {
  afterAll(() => myDb.dispose());

  describe('mysql: the DataSource database', () => {
    it('a non-default database named with a hyphen (mtstore-typeorm-ok-<pid>) works end to end', async () => {
      const admin = await myDb.admin();
      const database = `mtstore-typeorm-ok-${process.pid}`;
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.query(`CREATE DATABASE \`${database}\``);
      const url = new URL(MYSQL_URL);
      url.pathname = `/${database}`;
      const options = { ...myDb.options(database), url: url.toString() } as DataSourceOptions;
      const storage = new TypeormStorage({ options, name: 'alice' });
      try {
        await storage.save(fullSession(1));
        expect(plain(await storage.load())).toEqual(fullSession(1));
        await storage.lease.acquire({ heartbeat: false });
        await storage.kv.set('k', Uint8Array.of(1));
        await storage.lease.release();
        expect(await admin.query(`SELECT session_name FROM \`${database}\`.mtstore_sessions`)).toEqual([{ session_name: 'alice' }]);
      } finally {
        await storage.close();
        await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      }
    });
  });
}
