/**
 * `create: false` on every driver: only a store that is there opens. A prefix without
 * its `schema_version` table (nothing there, or another program's tables) is
 * NotFoundError and the catalog stays exactly as it was; on better-sqlite3 a missing
 * file (and its folder) is not created and another program's file is left byte for
 * byte. A store that is there opens and reads, and asking who holds its lease adds no
 * lease table; an older schema version is migrated as with `true`.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { fullSession, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { SCHEMA_VERSION, TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { migrateUp, schemaContext } from '../src/schema.js';
import { availableDrivers, plain, type TestDriver } from './drivers.js';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { failure, storeCalls } from '../../test-adapters/src/outcomes.js';

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

async function expectNotFound(client: TypeormStorage, server: TypeormSessionStorage, label: string): Promise<void> {
  try {
    for (const [what, call] of storeCalls(client, server)) {
      const error = await failure(call());
      expect(error.code, `${label} ${what}`).toBe('MTSTORE_NOT_FOUND');
      expect(error.message, `${label} ${what}`).toContain('holds no @mtstore/typeorm store');
    }
  } finally {
    await client.close();
    await server.close();
  }
}

for (const db of drivers.filter((d) => d.name !== 'sqlite')) {
  describe(`${db.name}: create: false`, () => {
    /** Every relation (tables, indexes, sequences) whose name starts with `prefix`, from the catalog. */
    async function catalog(prefix: string): Promise<unknown> {
      const app = await db.admin();
      if (db.name === 'postgres') {
        return app.query(
          `SELECT c.relname AS name, c.relkind AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND left(c.relname, length($1)) = $1 ORDER BY 1, 2`,
          [prefix],
        );
      }
      return app.query(
        `SELECT table_name AS name, 'table' AS kind FROM information_schema.tables WHERE table_schema = DATABASE() AND LEFT(table_name, CHAR_LENGTH(?)) = ?
         UNION ALL SELECT CONCAT(table_name, '.', index_name) AS name, 'index' AS kind FROM information_schema.statistics WHERE table_schema = DATABASE() AND LEFT(table_name, CHAR_LENGTH(?)) = ?
         ORDER BY 1, 2`,
        [prefix, prefix, prefix, prefix],
      );
    }

    async function withPrefix(body: (prefix: string, options: DataSourceOptions) => Promise<void>): Promise<void> {
      const namespace = randomNamespace();
      const prefix = `${namespace}_`;
      try {
        await body(prefix, db.options(namespace));
      } finally {
        await db.cleanup(namespace);
        const app = await db.admin();
        await app.query(`DROP TABLE IF EXISTS ${app.driver.escape(`${prefix}app_data`)}`);
      }
    }

    it('a prefix with nothing of mtstore\'s, or another program\'s table, is NotFoundError and the catalog stays as it was', () =>
      withPrefix(async (prefix, options) => {
        const app = await db.admin();
        for (const step of ['empty', 'other']) {
          if (step === 'other') {
            await app.query(`CREATE TABLE ${app.driver.escape(`${prefix}app_data`)} (x VARCHAR(20))`);
            await app.query(`INSERT INTO ${app.driver.escape(`${prefix}app_data`)} (x) VALUES ('precious')`);
          }
          const before = await catalog(prefix);
          for (const migrate of [true, false]) {
            await expectNotFound(
              new TypeormStorage({ options, tablePrefix: prefix, create: false, migrate }),
              new TypeormSessionStorage({ options, tablePrefix: prefix, create: false, migrate }),
              `${step}, migrate ${migrate}`,
            );
          }
          // A borrowed DataSource the same way.
          await expectNotFound(new TypeormStorage({ dataSource: app, tablePrefix: prefix, create: false }), new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix, create: false }), `${step}, borrowed`);
          expect(await catalog(prefix), step).toEqual(before);
        }
        expect(await app.query(`SELECT x FROM ${app.driver.escape(`${prefix}app_data`)}`)).toEqual([{ x: 'precious' }]);
      }));

    it('a store that is there opens and reads; asking who holds the lease adds no lease table', () =>
      withPrefix(async (prefix, options) => {
        const writer = new TypeormStorage({ options, tablePrefix: prefix, name: 'alice' });
        await writer.save(fullSession(1));
        await writer.close();
        const before = await catalog(prefix);
        expect(JSON.stringify(before)).not.toContain(`${prefix}leases`);
        const reader = new TypeormStorage({ options, tablePrefix: prefix, name: 'alice', create: false });
        const server = new TypeormSessionStorage({ options, tablePrefix: prefix, create: false });
        const holder = new TypeormStorage({ options, tablePrefix: prefix, name: 'alice' });
        try {
          expect(plain(await reader.load())).toEqual(fullSession(1));
          expect(await reader.listNames()).toEqual(['alice']);
          expect(await reader.lease.holder()).toBeNull();
          expect(await server.hasSession(1n, 2n)).toBe(false);
          expect(await catalog(prefix)).toEqual(before);
          // Once a lease was taken (the table is there), a reader sees its holder.
          const lease = await holder.lease.acquire({ heartbeat: false });
          expect((await reader.lease.holder())?.token).toBe(lease.token);
        } finally {
          await holder.close();
          await reader.close();
          await server.close();
        }
      }));

    it('a store at an older schema version is migrated, as with create: true (checked, with migrate: false)', () =>
      withPrefix(async (prefix, options) => {
        const app = await db.admin();
        const runner = app.createQueryRunner();
        try {
          await migrateUp(runner, schemaContext(app, prefix, 'test'), SCHEMA_VERSION - 1);
        } finally {
          await runner.release();
        }
        const checked = new TypeormStorage({ options, tablePrefix: prefix, create: false, migrate: false });
        expect((await failure(checked.load())).code).toBe('MTSTORE_MIGRATION');
        await checked.close();
        const reader = new TypeormStorage({ options, tablePrefix: prefix, create: false });
        expect(await reader.load()).toBeNull();
        await reader.close();
        const rows = (await app.query(`SELECT version FROM ${app.driver.escape(`${prefix}schema_version`)}`)) as { version: unknown }[];
        expect(rows.map((row) => Number(row.version))).toEqual([SCHEMA_VERSION]);
      }));
  });
}

describe.runIf(drivers.some((d) => d.name === 'sqlite'))('better-sqlite3: create: false', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-typeorm-create-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const options = (database: string): DataSourceOptions => ({ type: 'better-sqlite3', database });

  it('a missing file (and folder) is not created; an empty file or another program\'s is left byte for byte', async () => {
    const missing = join(dir, 'no-such-folder', 'app.db');
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    const other = join(dir, 'other.db');
    const setup = new Database(other);
    setup.exec("CREATE TABLE app_data (x); INSERT INTO app_data VALUES ('precious')");
    setup.close();
    for (const [file, why] of [
      [missing, 'no such file'],
      [empty, 'no table mtstore_schema_version'],
      [other, 'no table mtstore_schema_version'],
    ] as const) {
      const before = existsSync(file) ? readFileSync(file) : null;
      const client = new TypeormStorage({ options: options(file), create: false });
      const server = new TypeormSessionStorage({ options: options(file), create: false });
      expect((await failure(client.load())).message).toContain(why);
      await expectNotFound(client, server, file);
      if (before === null) {
        expect(existsSync(file)).toBe(false);
        expect(existsSync(join(dir, 'no-such-folder'))).toBe(false);
      } else {
        expect(readFileSync(file).equals(before), `${file} unchanged`).toBe(true);
      }
      for (const suffix of ['-wal', '-shm', '-journal']) expect(existsSync(file + suffix)).toBe(false);
    }
  });

  it('a store that is there opens and reads', async () => {
    const file = join(dir, 'store.db');
    const writer = new TypeormStorage({ options: options(file), name: 'alice' });
    await writer.save(fullSession(1));
    await writer.close();
    const reader = new TypeormStorage({ options: options(file), name: 'alice', create: false });
    try {
      expect(plain(await reader.load())).toEqual(fullSession(1));
      expect(await reader.lease.holder()).toBeNull();
    } finally {
      await reader.close();
    }
    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'mtstore_leases'").all()).toEqual([]);
    check.close();
  });
});

describe('create option', () => {
  it('must be a boolean: InvalidArgumentError in the constructor, before any I/O', () => {
    const pg = { type: 'postgres', url: 'postgres://user:pw@127.0.0.1:1/none' } as const;
    for (const create of ['false', 0, null]) {
      for (const make of [() => new TypeormStorage({ options: pg, create: create as never }), () => new TypeormSessionStorage({ options: pg, create: create as never })]) {
        expect(make).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(create === null ? 'create must not be null' : 'create must be a boolean') }));
      }
    }
  });
});
