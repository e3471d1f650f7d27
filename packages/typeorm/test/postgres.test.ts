/** postgres specifics: a DataSource `schema`, and connections of an owned DataSource. */
import { checkServer, fullSession, randomNamespace } from '@mtstore/conformance/vitest';
import { StorageError } from '@mtstore/core';
import { DataSource, type DataSourceOptions, type EntitySubscriberInterface } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { mtstoreMigrations, TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { plain, postgres } from './drivers.js';

// PostgresConnectionOptions of TypeORM 0.3 is PostgresDataSourceOptions in 1.x: taken from
// the union, the type is the same on both.
type PostgresOptions = Extract<DataSourceOptions, { type: 'postgres' }>;

const db = postgres();
const server = await checkServer(db.name, db.url, () => db.probe());

if (server.available) {
  afterAll(() => db.dispose());

  describe('postgres', () => {
    it('with a DataSource schema the tables are created and used in that schema', async () => {
      const schema = randomNamespace();
      const admin = await db.admin();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const options = { ...db.options(schema), schema };
      const storage = new TypeormStorage({ options });
      const sessions = new TypeormSessionStorage({ options });
      try {
        await storage.save(fullSession(1));
        expect(await sessions.createSession(1n, 1n)).toBe(true);
        const tables = (await admin.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema])) as {
          table_name: string;
        }[];
        expect(tables.map((t) => t.table_name)).toEqual([
          'mtstore_auth_keys',
          'mtstore_channels',
          'mtstore_datacenters',
          'mtstore_kv',
          'mtstore_peer_usernames',
          'mtstore_peers',
          'mtstore_ref_messages',
          'mtstore_schema_version',
          'mtstore_server_sessions',
          'mtstore_sessions',
        ]);
        expect(await admin.query(`SELECT session_name FROM ${schema}.mtstore_sessions`)).toEqual([{ session_name: 'default' }]);
        expect(plain(await storage.load())).toEqual(fullSession(1));
      } finally {
        await storage.close();
        await sessions.close();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      }
    });

    // kv.get, kv.set and the other lone statements go to the DataSource's pg pool, not a
    // query runner (connection.ts, #direct): that path must still retry, log and fail as a
    // runner would. The failures are the server's own: a trigger on the kv table raises them.
    it('a lone statement on the pool runs again after a deadlock; another failure is logged once and rejects typed', async () => {
      const namespace = randomNamespace();
      const failed: string[] = [];
      const logger = { logQuery() {}, logQueryError: (_error: unknown, query: string) => void failed.push(query), logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
      const app = await new DataSource({ ...db.options(namespace), logger } as PostgresOptions).initialize();
      const storage = new TypeormStorage({ dataSource: app, tablePrefix: db.prefix(namespace) });
      const admin = await db.admin();
      const attempts = `${namespace}_attempts`;
      const raise = `${namespace}_raise`;
      /** The trigger raises `code` on every kv write (an upsert fires it once), or only on the first attempt (`once`); counts the attempts. */
      const failWrites = (code: string, once: boolean) =>
        admin.query(
          `CREATE OR REPLACE FUNCTION ${raise}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             IF nextval('${attempts}') = 1 OR NOT ${once} THEN RAISE EXCEPTION 'injected %', '${code}' USING ERRCODE = '${code}'; END IF;
             RETURN NEW;
           END $$`,
        );
      const attemptsMade = async () => Number(((await admin.query(`SELECT last_value, is_called FROM ${attempts}`)) as { last_value: string; is_called: boolean }[])[0]?.last_value);
      try {
        await storage.kv.set('k', Uint8Array.of(7));
        await admin.query(`CREATE SEQUENCE ${attempts}`);
        await failWrites('40P01', true);
        await admin.query(`CREATE TRIGGER ${raise} BEFORE INSERT ON ${db.prefix(namespace)}kv FOR EACH ROW EXECUTE FUNCTION ${raise}()`);
        await storage.kv.set('k', Uint8Array.of(8));
        expect(await attemptsMade()).toBe(2);
        expect([...((await storage.kv.get('k')) ?? [])]).toEqual([8]);
        expect(failed).toHaveLength(1);
        expect(failed[0]).toMatch(/INSERT INTO/);

        failed.length = 0;
        await admin.query(`ALTER SEQUENCE ${attempts} RESTART`);
        await failWrites('42501', false);
        await expect(storage.kv.set('k', Uint8Array.of(9))).rejects.toBeInstanceOf(StorageError);
        expect(await attemptsMade()).toBe(1);
        expect(failed).toHaveLength(1);
        expect(failed[0]).toMatch(/INSERT INTO/);
        expect([...((await storage.kv.get('k')) ?? [])]).toEqual([8]);
      } finally {
        await storage.close();
        await app.destroy();
        await db.cleanup(namespace);
        await admin.query(`DROP FUNCTION IF EXISTS ${raise}() CASCADE`);
        await admin.query(`DROP SEQUENCE IF EXISTS ${attempts}`);
      }
    });

    it('close() of an owned DataSource ends its connections', async () => {
      const namespace = randomNamespace();
      const applicationName = `mtstore-typeorm-${namespace}`;
      const admin = await db.admin();
      const connections = async () =>
        Number(((await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName])) as { n: string }[])[0]?.n);
      const options = { ...db.options(namespace), applicationName } as PostgresOptions;
      const storage = new TypeormStorage({ options, tablePrefix: db.prefix(namespace) });
      try {
        await storage.save(fullSession(1));
        expect(await connections()).toBeGreaterThan(0);
        await storage.close();
        // The server sees a backend go a moment after the client hung up: poll, with a deadline.
        const deadline = Date.now() + 5000;
        while ((await connections()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        expect(await connections()).toBe(0);
      } finally {
        await storage.close();
        await db.cleanup(namespace);
      }
    });

    it('the migration classes run without a transaction (migrationsTransactionMode none) hold the schema lock while they create the tables', async () => {
      const namespace = randomNamespace();
      const prefix = `${namespace}_`;
      const admin = await db.admin();
      const applicationName = `mtstore-lock-${namespace}`;
      // Advisory locks the migrating session holds, seen from another session when the first table is created.
      const held: number[] = [];
      class Watch implements EntitySubscriberInterface {
        async beforeQuery(event: { query: string }): Promise<void> {
          if (held.length > 0 || !event.query.startsWith('CREATE TABLE') || !event.query.includes(`${prefix}sessions`)) return;
          const rows = (await admin.query(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1`, [applicationName])) as { n: number }[];
          held.push(rows[0]?.n ?? -1);
        }
      }
      const options = { ...db.options(namespace), applicationName, migrations: mtstoreMigrations({ tablePrefix: prefix }), migrationsTableName: `${prefix}typeorm_migrations`, migrationsTransactionMode: 'none' } as DataSourceOptions;
      const app = await new DataSource(options).initialize();
      // A subscriber's beforeQuery promise is awaited before the statement is sent. (The `subscribers` option takes decorated classes only.)
      app.subscribers.push(new Watch());
      try {
        await app.runMigrations();
        expect(held).toEqual([1]);
        // The lock is given back: the adapter's own migration check takes it.
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
        await storage.save(fullSession(1));
        await storage.close();
        expect(await admin.query(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND a.application_name = $1`, [applicationName])).toEqual([{ n: 0 }]);
      } finally {
        await app.destroy();
        await db.cleanup(namespace);
        await admin.query(`DROP TABLE IF EXISTS ${admin.driver.escape(`${prefix}typeorm_migrations`)}`);
      }
    });
  });
}
