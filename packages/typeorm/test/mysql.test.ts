/** MySQL/MariaDB specifics: affected-row counting, collation and the connection's character set. */
import { inspect } from 'node:util';
import { authKey, checkServer, fullSession, minimalSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type Logger } from 'typeorm';
import { TypeormStorage } from '../src/index.js';
import { mysql, plain } from './drivers.js';

const db = mysql();
const server = await checkServer(db.name, db.url, () => db.probe());

if (server.available) {
  afterAll(() => db.dispose());

  describe('mysql', () => {
    it('without the FOUND_ROWS flag an UPDATE that changes nothing reports 0 rows: saveUpdateState still finds the session', async () => {
      const namespace = randomNamespace();
      const options = { ...db.options(namespace), flags: ['-FOUND_ROWS'] } as ReturnType<typeof db.options>;
      const storage = new TypeormStorage({ options, tablePrefix: db.prefix(namespace) });
      try {
        await storage.save(minimalSession());
        const state = { pts: 5, qts: 5, date: 5, seq: 5 };
        for (let i = 0; i < 2; i++) {
          await storage.saveUpdateState(state); // the second call writes the same values
          await storage.saveUpdateState(state, [{ id: 1n, pts: 1 }]);
        }
        expect((await storage.load())?.state).toEqual(state);
        await storage.delete();
        let code: string | undefined;
        await storage.saveUpdateState(state).catch((error: { code?: string }) => (code = error.code));
        expect(code).toBe('MTSTORE_NOT_FOUND');
      } finally {
        await storage.close();
        await db.cleanup(namespace);
      }
    });

    it("a write of a key or kv value the server refuses never puts the bytes in the DataSource's logger, a subscriber's afterQuery or the error", async () => {
      // mysql2's query() formats values into the SQL text (a key as X'<hex>') and puts that
      // text on the error (error.sql), which TypeORM logs with logging: ['error'].
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace) as string;
      const logged: unknown[] = [];
      const logger: Logger = {
        logQuery: () => {},
        logQueryError: (error, query, parameters) => void logged.push(error, query, parameters),
        logQuerySlow: () => {},
        logSchemaBuild: () => {},
        logMigration: () => {},
        log: () => {},
      };
      const afterQuery: unknown[] = [];
      class Watcher {
        afterQuery(event: { error?: unknown; query: string; parameters?: unknown[] }): void {
          if (event.error !== undefined) afterQuery.push(event.error, event.query, event.parameters);
        }
      }
      const app = await new DataSource({ ...db.options(namespace), logger } as ReturnType<typeof db.options>).initialize();
      // As an @EventSubscriber() class listed in `subscribers` ends up (without the decorator's metadata).
      app.subscribers.push(new Watcher() as never);
      const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'refused' });
      const key = authKey(91);
      const hex = Buffer.from(key).toString('hex');
      try {
        await storage.save(minimalSession());
        for (const table of ['auth_keys', 'kv']) {
          await app.query(`CREATE TRIGGER ${prefix}${table}_refuse BEFORE INSERT ON ${prefix}${table} FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by a trigger'`);
        }
        const calls: [string, () => Promise<unknown>][] = [
          ['authKeys.set', () => storage.authKeys.set(2, key)],
          ['authKeys.setTemp', () => storage.authKeys.setTemp(2, { index: 0, key, expiresAt: 5 })],
          ['save', () => storage.save({ ...minimalSession(), dcs: [{ id: 2, port: 443, authKey: key }] })],
          ['kv.set', () => storage.kv.set('salts:2', key, { secret: true })],
        ];
        for (const [what, call] of calls) {
          const error = await call().then(() => new Error(`${what} resolved`), (e: Error) => e);
          expect(error, what).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('refused by a trigger') });
          expect(inspect(error, { depth: 10, showHidden: true }).toLowerCase(), `${what}: the error`).not.toContain(hex.slice(0, 32));
        }
        expect(logged.length, 'one logQueryError per refused statement').toBeGreaterThanOrEqual(calls.length * 3);
        expect(afterQuery.length, 'one afterQuery error per refused statement').toBeGreaterThanOrEqual(calls.length * 3);
        for (const [where, seen] of [['logQueryError', logged], ['afterQuery', afterQuery]] as const) {
          const text = inspect(seen, { depth: 10, showHidden: true }).toLowerCase();
          expect(text, `${where} shows the key`).not.toContain(hex.slice(0, 32));
          expect(text, `${where} shows the key`).not.toContain(hex.slice(300, 332));
        }
        // The same statements store the bytes exactly once the server takes them.
        for (const table of ['auth_keys', 'kv']) await app.query(`DROP TRIGGER ${prefix}${table}_refuse`);
        await storage.authKeys.set(2, key);
        await storage.authKeys.setTemp(2, { index: 1, key: authKey(92), expiresAt: 7 });
        await storage.kv.set('salts:2', authKey(93), { secret: true });
        await storage.save({ ...minimalSession(), dcs: [{ id: 4, port: 443, authKey: authKey(94), tempAuthKeys: [{ index: 3, key: authKey(95), expiresAt: 9 }] }], homeDcId: 4 });
        const reader = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name: 'refused' });
        try {
          expect(plain(await reader.authKeys.get(4))).toEqual(authKey(94));
          expect(plain(await reader.authKeys.getTemp(4, 3))).toEqual({ index: 3, key: authKey(95), expiresAt: 9 });
          expect(plain(await reader.kv.get('salts:2'))).toEqual(authKey(93));
          await storage.authKeys.set(2, key);
          await storage.authKeys.setTemp(2, { index: 1, key: authKey(92), expiresAt: 7 });
          expect(plain(await reader.authKeys.get(2))).toEqual(key);
          expect(plain(await reader.authKeys.getTemp(2, 1))).toEqual({ index: 1, key: authKey(92), expiresAt: 7 });
        } finally {
          await reader.close();
        }
      } finally {
        await storage.close();
        await app.destroy();
        await db.cleanup(namespace);
      }
    });

    it('session names differ by case (the default collation would not tell them apart)', async () => {
      const namespace = randomNamespace();
      const open = (name: string) => new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name });
      const [upper, lower] = [open('Alice'), open('alice')];
      try {
        await upper.save(fullSession(1));
        expect(await lower.load()).toBeNull();
        await lower.save(fullSession(2));
        expect(plain(await upper.load())).toEqual(fullSession(1));
      } finally {
        await upper.close();
        await lower.close();
        await db.cleanup(namespace);
      }
    });

    it('an application DataSource whose connection character set is not UTF-8 (charset latin1, cp1251) stores and reads every display name exactly', async () => {
      const namespace = randomNamespace();
      const prefix = db.prefix(namespace) as string;
      const names = ['Павел Дуров 🚀', 'Zoë Ångström', '東京 🗼', 'plain'];
      try {
        for (const charset of ['latin1', 'cp1251']) {
          const app = await new DataSource({ ...db.options(namespace), charset } as ReturnType<typeof db.options>).initialize();
          const storage = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: charset });
          try {
            await storage.peers.upsert(names.map((displayName, i) => peer('user', i + 1, { displayName })));
            for (const [i, displayName] of names.entries()) expect((await storage.peers.getById('user', BigInt(i + 1)))?.displayName).toBe(displayName);
            expect((await storage.peers.list()).peers.map((p) => p.displayName)).toEqual(names);
          } finally {
            await storage.close();
            await app.destroy();
          }
          // In the table as UTF-8 text (read over a utf8mb4 connection): other programs see the names too.
          const admin = await db.admin();
          const rows = (await admin.query(`SELECT display_name AS n FROM ${admin.driver.escape(`${prefix}peers`)} WHERE session_name = ? ORDER BY peer_id`, [charset])) as { n: string }[];
          expect(rows.map((row) => row.n)).toEqual(names);
        }
      } finally {
        await db.cleanup(namespace);
      }
    });
  });
}
