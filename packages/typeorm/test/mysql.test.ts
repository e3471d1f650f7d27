/** MySQL/MariaDB specifics: affected-row counting, collation and the connection's character set. */
import { checkServer, fullSession, minimalSession, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
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
