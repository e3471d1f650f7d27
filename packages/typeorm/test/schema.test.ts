/**
 * A store with no tables is created at the current schema version at once, not
 * through the steps from version 1 (schema.ts, createCurrent), on every driver: the
 * tables it gets are the ones the steps leave, and it gets them without the steps'
 * introspection.
 */
import { authKey, minimalSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type DataSourceOptions, type Logger, type QueryRunner, type Table } from 'typeorm';
import { mtstoreEntities, SCHEMA_VERSION, TypeormStorage } from '../src/index.js';
import { DEFAULT_TABLE_PREFIX, migrateUp, readSchemaVersion, schemaContext } from '../src/schema.js';
import { availableDrivers, TABLES, type TestDriver } from './drivers.js';

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

async function withRunner<T>(db: TestDriver, namespace: string, work: (runner: QueryRunner, prefix: string) => Promise<T>): Promise<T> {
  const app = await new DataSource(db.options(namespace)).initialize();
  const runner = app.createQueryRunner();
  try {
    return await work(runner, db.prefix(namespace) ?? DEFAULT_TABLE_PREFIX);
  } finally {
    await runner.release();
    await app.destroy();
  }
}

/**
 * Every versioned table of the prefix as TypeORM reads it back (columns in order with
 * their types, lengths, nullability, keys and defaults; indexes, uniques, foreign keys,
 * checks, each by name: the catalogs list them in no fixed order), the prefix taken out
 * of every name so two prefixes compare.
 */
function tablesOf(db: TestDriver, namespace: string): Promise<unknown> {
  return withRunner(db, namespace, async (runner, prefix) => {
    const names = TABLES.filter((t) => t !== 'leases').map((t) => `${prefix}${t}`);
    const byName = (a: { name?: string }, b: { name?: string }) => (a.name ?? '').localeCompare(b.name ?? '');
    const tables = (await runner.getTables(names)).sort(byName).map((table: Table) => ({
      ...table,
      indices: [...table.indices].sort(byName),
      uniques: [...table.uniques].sort(byName),
      foreignKeys: [...table.foreignKeys].sort(byName),
      checks: [...table.checks].sort(byName),
    }));
    return JSON.parse(JSON.stringify(tables).replaceAll(prefix, '<prefix>'));
  });
}

for (const db of drivers) {
  describe(`${db.name}: a new store`, () => {
    it('gets the tables, columns and indexes a store migrated step by step from version 1 has', async () => {
      const fresh = randomNamespace();
      const stepped = randomNamespace();
      try {
        const storage = new TypeormStorage({ options: db.options(fresh), tablePrefix: db.prefix(fresh), name: 'alice' });
        await storage.load();
        await storage.close();
        await withRunner(db, stepped, async (runner, prefix) => {
          const context = schemaContext(runner.connection, prefix, 'test');
          await migrateUp(runner, context, 1);
          expect(await readSchemaVersion(runner, context)).toBe(1);
          await migrateUp(runner, context);
          expect(await readSchemaVersion(runner, context)).toBe(SCHEMA_VERSION);
        });
        const [freshTables, steppedTables] = [await tablesOf(db, fresh), await tablesOf(db, stepped)];
        expect((freshTables as unknown[]).length).toBe(TABLES.length - 2); // no temp_auth_keys (v1 only), no leases yet
        expect(freshTables).toEqual(steppedTables);
      } finally {
        await db.cleanup(fresh);
        await db.cleanup(stepped);
      }
    });

    // What MySQL can leave (each DDL statement commits on its own): the tables of a
    // first migration up to where it stopped, and no version. Either way of creating
    // them — the steps' version 1, or the current tables at once — the next start
    // finishes them through the steps, to the tables a stepped store has.
    const partials: [string, (runner: QueryRunner, prefix: string) => Promise<void>][] = [
      ['version-1 tables (the steps stopped)', (runner, prefix) => migrateUp(runner, schemaContext(runner.connection, prefix, 'test'), 1)],
      ['current tables (created at once, stopped)', (runner, prefix) => migrateUp(runner, schemaContext(runner.connection, prefix, 'test'))],
    ];
    for (const [what, create] of partials) {
      it(`with some ${what} and no version is finished by the steps`, async () => {
        const partial = randomNamespace();
        const stepped = randomNamespace();
        try {
          await withRunner(db, partial, async (runner, prefix) => {
            await create(runner, prefix);
            await runner.query(`DELETE FROM ${runner.connection.driver.escape(`${prefix}schema_version`)}`);
            for (const base of ['peers', 'peer_usernames', 'server_sessions']) await runner.dropTable(`${prefix}${base}`);
          });
          await withRunner(db, stepped, async (runner, prefix) => {
            await migrateUp(runner, schemaContext(runner.connection, prefix, 'test'), 1);
            await migrateUp(runner, schemaContext(runner.connection, prefix, 'test'));
          });
          const storage = new TypeormStorage({ options: db.options(partial), tablePrefix: db.prefix(partial), name: 'alice' });
          await storage.save(minimalSession());
          await storage.authKeys.set(2, authKey(1));
          await storage.peers.upsert([peer('user', 1)]);
          expect(await storage.peers.getById('user', 1n)).not.toBeNull();
          await storage.close();
          expect(await tablesOf(db, partial)).toEqual(await tablesOf(db, stepped));
        } finally {
          await db.cleanup(partial);
          await db.cleanup(stepped);
        }
      });
    }

    it('created first by the application’s synchronize from mtstoreEntities(), gets the adapter’s tables and works', async () => {
      const synced = randomNamespace();
      const fresh = randomNamespace();
      try {
        const prefix = db.prefix(synced) ?? DEFAULT_TABLE_PREFIX;
        const options = { ...db.options(synced), entities: mtstoreEntities({ type: db.options(synced).type, tablePrefix: prefix }), synchronize: true } as DataSourceOptions;
        // Start 1: synchronize creates the tables (schema_version empty), then the adapter migrates them.
        for (let start = 1; start <= 2; start++) {
          const app = await new DataSource(options).initialize();
          try {
            const [upper, lower] = ['Alice', 'alice'].map((name) => new TypeormStorage({ dataSource: app, tablePrefix: prefix, name }));
            if (start === 1) {
              await upper?.save(minimalSession());
              await upper?.peers.upsert([peer('user', 1, { displayName: 'Павел 🚀' })]);
            }
            expect((await upper?.load())?.homeDcId).toBe(minimalSession().homeDcId);
            expect(await lower?.load()).toBeNull(); // names are case-sensitive
            expect((await upper?.peers.getById('user', 1n))?.displayName).toBe('Павел 🚀');
            expect((await app.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query)).toEqual([]);
            await upper?.close();
            await lower?.close();
          } finally {
            await app.destroy();
          }
        }
        const storage = new TypeormStorage({ options: db.options(fresh), tablePrefix: db.prefix(fresh), name: 'alice' });
        await storage.load();
        await storage.close();
        expect(await tablesOf(db, synced)).toEqual(await tablesOf(db, fresh));
      } finally {
        await db.cleanup(synced);
        await db.cleanup(fresh);
      }
    });

    it('is created without reading tables back: a few statements per table', async () => {
      const namespace = randomNamespace();
      const statements: string[] = [];
      const logger: Logger = { logQuery: (query) => void statements.push(query), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
      try {
        const storage = new TypeormStorage({ options: { ...db.options(namespace), logging: true, logger }, tablePrefix: db.prefix(namespace), name: 'alice' });
        await storage.load();
        await storage.close();
        // The steps from version 1 ran 167 statements here on postgres, most of them
        // TypeORM reading a table's columns, indexes and constraints back.
        expect(statements.filter((s) => /information_schema\.columns|pg_catalog\.col_description|PRAGMA table_(x)?info|index_list/i.test(s))).toEqual([]);
        expect(statements.length).toBeLessThan(60);
      } finally {
        await db.cleanup(namespace);
      }
    });
  });
}
