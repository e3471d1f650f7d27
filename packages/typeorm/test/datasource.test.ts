/**
 * The two ways an application gives the adapter its database — its own DataSource or
 * options for one the adapter owns — and the two ways the schema gets there: the
 * adapter's own migration on first use, or the migration classes in the
 * application's `migrations` list. On every driver.
 */
import { authKey, fullSession, minimalSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DataSource, DefaultNamingStrategy, type DataSourceOptions } from 'typeorm';
import { mtstoreEntities, mtstoreMigrations, SCHEMA_VERSION, TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { availableDrivers, plain, type TestDriver } from './drivers.js';

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message };
  }
  throw new Error('expected a rejection');
}

/** The application's DataSource with mtstore's entities and migrations registered, no synchronize. */
function appOptions(db: TestDriver, namespace: string, prefix: string): DataSourceOptions {
  const options = db.options(namespace);
  return {
    ...options,
    entities: mtstoreEntities({ type: options.type, tablePrefix: prefix }),
    migrations: mtstoreMigrations({ tablePrefix: prefix }),
    migrationsRun: true,
    migrationsTableName: `${prefix}typeorm_migrations`,
    synchronize: false,
  } as DataSourceOptions;
}

/** Runs `body` on a fresh namespace and drops everything it made afterwards. */
async function withNamespace(db: TestDriver, body: (namespace: string, prefix: string) => Promise<void>): Promise<void> {
  const namespace = randomNamespace();
  try {
    await body(namespace, `${namespace}_`);
  } finally {
    await db.cleanup(namespace);
    if (db.name !== 'sqlite') {
      const admin = await db.admin();
      await admin.query(`DROP TABLE IF EXISTS ${admin.driver.escape(`${namespace}_typeorm_migrations`)}`);
    }
  }
}

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

for (const db of drivers) {
  describe(`${db.name}: DataSource`, () => {
    it('a borrowed DataSource is used as it is and never destroyed', () =>
      withNamespace(db, async (namespace, prefix) => {
        const app = await new DataSource(db.options(namespace)).initialize();
        try {
          const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
          const server = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
          await storage.save(fullSession(1));
          expect(await server.createSession(1n, 2n)).toBe(true);
          await storage.close();
          await server.close();
          expect(app.isInitialized).toBe(true);
          // The application keeps using it, and new instances on it see the data.
          expect(await app.query('SELECT 1 AS one')).toHaveLength(1);
          const again = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
          expect(plain(await again.load())).toEqual(fullSession(1));
          await again.close();
        } finally {
          await app.destroy();
        }
      }));

    it('an uninitialized borrowed DataSource fails with StorageUnavailableError until the application initializes it', () =>
      withNamespace(db, async (namespace, prefix) => {
        const app = new DataSource(db.options(namespace));
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix });
        const failure = await rejection(storage.load());
        expect(failure.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        expect(failure.message).toContain('call dataSource.initialize() first');
        await app.initialize();
        try {
          expect(await storage.load()).toBeNull();
          await storage.close();
          expect(app.isInitialized).toBe(true);
        } finally {
          await app.destroy();
        }
      }));

    it('a borrowed DataSource the application destroys fails calls with StorageUnavailableError, and after it initializes it again every call works', () =>
      withNamespace(db, async (namespace, prefix) => {
        const app = await new DataSource(db.options(namespace)).initialize();
        const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
        const server = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
        try {
          await storage.save(fullSession(1));
          await storage.kv.set('a', new Uint8Array([1]));
          expect(await server.createSession(1n, 2n)).toBe(true);
          await app.destroy();
          for (const call of [storage.kv.get('a'), storage.kv.set('a', new Uint8Array([2])), storage.load(), storage.save(fullSession(2)), server.hasSession(1n, 2n)]) {
            expect((await rejection(call)).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
          }
          // The application's database layer starts again (postgres: a new pg pool).
          await app.initialize();
          expect(plain(await storage.kv.get('a'))).toEqual(new Uint8Array([1]));
          await storage.kv.set('a', new Uint8Array([3]));
          expect(plain(await storage.kv.get('a'))).toEqual(new Uint8Array([3]));
          expect(await server.hasSession(1n, 2n)).toBe(true);
          expect(plain(await storage.authKeys.get(1))).toEqual(plain(authKey(11)));
          expect(plain((await storage.load())?.dcs[0]?.authKey)).toEqual(plain(authKey(11)));
          await storage.save(fullSession(2));
          expect(plain(await storage.authKeys.get(1))).toEqual(plain(authKey(21)));
          await storage.close();
          await server.close();
        } finally {
          if (app.isInitialized) await app.destroy();
        }
      }));

    it('entities and migrations registered in the application’s DataSource: migrationsRun creates the tables, no synchronize', () =>
      withNamespace(db, async (namespace, prefix) => {
        const app = await new DataSource(appOptions(db, namespace, prefix)).initialize();
        try {
          expect(await app.showMigrations()).toBe(false); // nothing pending: ours ran
          // migrate: false — the adapter only checks the version the migration wrote.
          const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, migrate: false });
          const server = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix, migrate: false });
          await storage.save(fullSession(2));
          await storage.peers.upsert([peer('user', 5, { usernames: ['Five', 'cinq'] })]);
          await server.createSession(-1n, 42n);
          expect(plain(await storage.load())).toEqual(fullSession(2));

          // The application can read the same rows through the entities.
          const sessions = await app.getRepository(`${prefix}sessions`).find();
          expect(sessions).toEqual([expect.objectContaining({ sessionName: 'default', homeDcId: 2, userUsernames: 'user_2 User2_alt' })]);
          await storage.kv.set('salts', Uint8Array.of(1, 2, 3));
          const kv = await app.getRepository(`${prefix}kv`).find();
          expect(kv.map((e) => [e.key, Buffer.from(e.value as Uint8Array).toString('hex')])).toEqual([['salts', '010203']]);
          const keys = await app.getRepository(`${prefix}auth_keys`).find({ order: { dcId: 'ASC', mediaOnly: 'ASC', slot: 'ASC' } });
          // One row per key: the permanent key in slot -1, temp keys in their index's slot.
          expect(keys.map((k) => [k.dcId, k.mediaOnly, k.slot])).toEqual([
            [1, 0, -1],
            [2, 0, -1],
            [2, 0, 0],
            [2, 0, 1],
            [4, 0, -1],
            [5, 0, -1],
          ]);
          const peerRow = await app.getRepository(`${prefix}peers`).findOneBy({ peerType: 'user' });
          expect(peerRow?.usernames).toBe('Five cinq');
          const index = await app.getRepository(`${prefix}peer_usernames`).find({ order: { usernameKey: 'ASC' } });
          expect(index.map((u) => [u.usernameKey, String(u.peerId)])).toEqual([
            ['cinq', '5'],
            ['five', '5'],
          ]);
          // (TypeORM hands BIGINT columns to the application as strings, or as numbers on better-sqlite3.)
          const serverRow = await app.getRepository(`${prefix}server_sessions`).findOneBy({ authKeyId: '-1' });
          expect([String(serverRow?.authKeyId), String(serverRow?.sessionId)]).toEqual(['-1', '42']);

          // Entities and migrations describe the same schema: TypeORM has nothing to change.
          const pending = await app.driver.createSchemaBuilder().log();
          expect(pending.upQueries.map((q) => q.query)).toEqual([]);

          await storage.close();
          await server.close();
          // Reverting the four migrations drops every table.
          for (let i = 0; i < 4; i++) await app.undoLastMigration();
          const runner = app.createQueryRunner();
          try {
            for (const table of ['schema_version', 'sessions', 'peers', 'server_sessions']) expect(await runner.hasTable(`${prefix}${table}`), table).toBe(false);
          } finally {
            await runner.release();
          }
        } finally {
          await app.destroy();
        }
      }));

    it('an application DataSource with entityPrefix and synchronize: mtstoreEntities({ entityPrefix }) and the storages at entityPrefix + tablePrefix share one set of tables', () =>
      withNamespace(db, async (namespace, prefix) => {
        const entityPrefix = 'ep_';
        const options = { ...db.options(namespace), entityPrefix, entities: mtstoreEntities({ type: db.options(namespace).type, tablePrefix: prefix, entityPrefix }), synchronize: true } as DataSourceOptions;
        try {
          // Two starts: the first synchronize creates the tables, the second finds nothing to change.
          for (let start = 1; start <= 2; start++) {
            const app = await new DataSource(options).initialize();
            try {
              expect(app.entityMetadatas.map((m) => m.tableName)).toContain(`${entityPrefix}${prefix}sessions`);
              const storage = new TypeormStorage({ dataSource: app, tablePrefix: `${entityPrefix}${prefix}`, name: 'alice' });
              if (start === 1) {
                await storage.save(fullSession(1));
                await storage.peers.upsert([peer('user', 5, { usernames: ['Five'], phone: '15550005' })]);
              }
              expect(plain(await storage.load())).toEqual(fullSession(1));
              expect((await storage.peers.getByPhone('15550005'))?.id).toBe(5n);
              expect((await app.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query)).toEqual([]);
              // The application's repositories read the adapter's rows.
              expect(await app.getRepository(`${entityPrefix}${prefix}sessions`).count()).toBe(1);
              await storage.close();
            } finally {
              await app.destroy();
            }
          }
        } finally {
          await db.cleanup(`${entityPrefix}${namespace}`);
        }
      }));

    it('a naming strategy of the application (snake_case columns, tables from class names) changes none of mtstore’s names: synchronize and the migrations agree with the entities', () =>
      withNamespace(db, async (namespace, prefix) => {
        const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
        class SnakeNamingStrategy extends DefaultNamingStrategy {
          override tableName(className: string, customName: string | undefined): string {
            return customName ?? snake(className);
          }
          override columnName(propertyName: string, customName: string | undefined, prefixes: string[]): string {
            return snake(prefixes.join('_')) + (customName ?? snake(propertyName));
          }
        }
        const type = db.options(namespace).type;
        const entities = mtstoreEntities({ type, tablePrefix: prefix });
        // synchronize creates the tables from the entities; then the adapter's migration and the migration classes over them.
        const options = { ...db.options(namespace), namingStrategy: new SnakeNamingStrategy(), entities, synchronize: true, migrations: mtstoreMigrations({ tablePrefix: prefix }), migrationsRun: true, migrationsTableName: `${prefix}typeorm_migrations` } as DataSourceOptions;
        for (let start = 1; start <= 2; start++) {
          const app = await new DataSource(options).initialize();
          try {
            const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
            if (start === 1) {
              await storage.save(fullSession(1));
              await storage.peers.upsert([peer('user', 5, { usernames: ['Five'], phone: '15550005' })]);
            }
            expect(plain(await storage.load())).toEqual(fullSession(1));
            expect((await storage.peers.getByUsername('five'))?.id).toBe(5n);
            expect((await app.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query)).toEqual([]);
            expect(await app.getRepository(`${prefix}sessions`).count()).toBe(1);
            await storage.close();
          } finally {
            await app.destroy();
          }
        }
      }));

    it('the migration classes reach the DataSource without the getter TypeORM 1.x deprecated (queryRunner.connection)', () =>
      withNamespace(db, async (namespace, prefix) => {
        const app = await new DataSource({ ...appOptions(db, namespace, prefix), migrationsRun: false } as DataSourceOptions).initialize();
        const runner = app.createQueryRunner();
        // 1.x: `connection` is a getter on the query runner's prototype chain; 0.3: a plain property, nothing to watch.
        let owner: object | null = Object.getPrototypeOf(runner) as object | null;
        while (owner !== null && Object.getOwnPropertyDescriptor(owner, 'connection')?.get === undefined) owner = Object.getPrototypeOf(owner) as object | null;
        await runner.release();
        if (process.env.MTSTORE_TYPEORM1_VERSION !== undefined) expect(owner, 'TypeORM 1.x has a connection getter').not.toBeNull();
        const getter = owner === null ? undefined : vi.spyOn(owner as { readonly connection: unknown }, 'connection', 'get');
        try {
          await app.runMigrations();
          expect(await app.showMigrations()).toBe(false);
          for (let i = 0; i < 4; i++) await app.undoLastMigration();
          expect(await app.showMigrations()).toBe(true);
          expect(getter?.mock.calls.length ?? 0).toBe(0);
        } finally {
          getter?.mockRestore();
          await app.destroy();
        }
      }));

    it('a DataSource with replication (the same server as master and replica): every statement goes to the master, so a read right after a write sees it', async () => {
      if (db.name === 'sqlite') return;
      const namespace = randomNamespace();
      const prefix = `${namespace}_`;
      const url = new URL(db.url);
      const server = { host: url.hostname, port: Number(url.port), username: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: url.pathname.slice(1) };
      const options = { type: db.options(namespace).type, replication: { master: server, slaves: [server] } } as DataSourceOptions;
      const app = await new DataSource(options).initialize();
      // What reaches the replica after initialize(): pg, calls on its pool; mysql, connections of its cluster node (opened on first use).
      const driver = app.driver as unknown as { slaves?: { connect: (...args: unknown[]) => unknown; query: (...args: unknown[]) => unknown }[]; poolCluster?: { _nodes: Record<string, { pool: { _allConnections: { length: number } } }> } };
      let replicaCalls = 0;
      for (const pool of driver.slaves ?? []) {
        for (const method of ['connect', 'query'] as const) {
          const original = pool[method].bind(pool);
          pool[method] = (...args: unknown[]) => {
            replicaCalls++;
            return original(...args);
          };
        }
      }
      const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
      const sessions = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
      try {
        await storage.save(fullSession(1));
        expect(plain(await storage.load())).toEqual(fullSession(1));
        await storage.kv.set('a', Uint8Array.of(1));
        expect(plain(await storage.kv.get('a'))).toEqual(Uint8Array.of(1));
        await storage.peers.upsert([peer('user', 5, { usernames: ['Five'], phone: '15550005' })]);
        expect((await storage.peers.getByPhone('15550005'))?.id).toBe(5n);
        await storage.lease.acquire({ heartbeat: false });
        await storage.kv.set('b', Uint8Array.of(2));
        await storage.lease.release();
        expect(await sessions.createSession(1n, 2n)).toBe(true);
        expect(await sessions.hasSession(1n, 2n)).toBe(true);
        expect(replicaCalls).toBe(0);
        const replica = driver.poolCluster?._nodes.SLAVE0;
        if (db.name === 'mysql') expect(replica?.pool._allConnections.length).toBe(0);
      } finally {
        await storage.close();
        await sessions.close();
        await app.destroy();
        await db.cleanup(namespace);
      }
    });

    it('migrate: false before the migrations ran fails with MigrationError and creates nothing', () =>
      withNamespace(db, async (namespace, prefix) => {
        const checkOnly = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, migrate: false });
        const failure = await rejection(checkOnly.save(minimalSession()));
        expect(failure.code).toBe('MTSTORE_MIGRATION');
        expect(failure.message).toContain(`schema version 0, this @mtstore/typeorm needs ${SCHEMA_VERSION}`);
        await checkOnly.close();
        const app = await new DataSource(db.options(namespace)).initialize();
        try {
          const runner = app.createQueryRunner();
          expect(await runner.hasTable(`${prefix}sessions`)).toBe(false);
          await runner.release();
        } finally {
          await app.destroy();
        }
      }));

    it('the adapter’s own migration and the migration classes mix: whichever runs second does nothing', () =>
      withNamespace(db, async (namespace, prefix) => {
        const first = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix });
        await first.save(fullSession(3));
        await first.close();
        const app = await new DataSource(appOptions(db, namespace, prefix)).initialize(); // runs migration 1 over existing tables
        try {
          expect(await app.showMigrations()).toBe(false);
          const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, migrate: false });
          expect(plain(await storage.load())).toEqual(fullSession(3));
          await storage.close();
        } finally {
          await app.destroy();
        }
      }));

    it('tables at a newer schema version fail with MigrationError and are left alone', () =>
      withNamespace(db, async (namespace, prefix) => {
        const storage = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix });
        await storage.save(fullSession(1));
        await storage.close();
        const app = await new DataSource(db.options(namespace)).initialize();
        try {
          await app.query(`UPDATE ${app.driver.escape(`${prefix}schema_version`)} SET version = 99`);
          for (const migrate of [true, false]) {
            const newer = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, migrate });
            const failure = await rejection(newer.load());
            expect(failure.code).toBe('MTSTORE_MIGRATION');
            expect(failure.message).toContain(`schema version 99, newer than this @mtstore/typeorm knows (${SCHEMA_VERSION})`);
            await newer.close();
          }
          const server = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
          expect((await rejection(server.hasSession(1n, 1n))).code).toBe('MTSTORE_MIGRATION');
          expect(await app.query(`SELECT version FROM ${app.driver.escape(`${prefix}schema_version`)}`)).toEqual([{ version: 99 }]);
        } finally {
          await app.destroy();
        }
      }));

    it('instances racing to create the tables of a fresh prefix all succeed, once', () =>
      withNamespace(db, async (namespace, prefix) => {
        const instances = Array.from({ length: 6 }, (_, i) => new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name: `n${i}` }));
        try {
          await Promise.all(instances.map((storage, i) => storage.save(fullSession(i + 1))));
          for (const [i, storage] of instances.entries()) expect(plain(await storage.load())).toEqual(fullSession(i + 1));
        } finally {
          await Promise.all(instances.map((storage) => storage.close()));
        }
        const app = await new DataSource(db.options(namespace)).initialize();
        try {
          expect(await app.query(`SELECT id, version FROM ${app.driver.escape(`${prefix}schema_version`)}`)).toEqual([{ id: 1, version: SCHEMA_VERSION }]);
        } finally {
          await app.destroy();
        }
      }));
  });
}
