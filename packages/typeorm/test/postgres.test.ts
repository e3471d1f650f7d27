/** postgres specifics: a DataSource `schema`, and connections of an owned DataSource. */
import { checkServer, fullSession, randomNamespace } from '@mtstore/conformance/vitest';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions.js';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { plain, postgres } from './drivers.js';

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

    it('close() of an owned DataSource ends its connections', async () => {
      const namespace = randomNamespace();
      const applicationName = `mtstore-typeorm-${namespace}`;
      const admin = await db.admin();
      const connections = async () =>
        Number(((await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName])) as { n: string }[])[0]?.n);
      const options = { ...db.options(namespace), applicationName } as PostgresConnectionOptions;
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
  });
}
