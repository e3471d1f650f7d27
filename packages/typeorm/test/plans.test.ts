/**
 * The three peer lookups read one row (and, by username, the one index row that names
 * it) on every driver, on tables never analysed (a new schema: postgres then plans from
 * defaults alone, and autovacuum may be off or not yet round) and after ANALYZE. The
 * statements are the ones the adapter sends, recorded by a TypeORM logger.
 */
import { peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type Logger } from 'typeorm';
import { TypeormStorage } from '../src/index.js';
import { availableDrivers, type TestDriver } from './drivers.js';

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

type Lookup = 'byId' | 'byUsername' | 'byPhone';
const PARAMS: Record<Lookup, unknown[]> = { byId: ['default', 'user', 500], byUsername: ['default', 'user_500'], byPhone: ['default', '10000000500'] };

/**
 * A session of 1,000 users (each with a username and a phone) and 200 channels (no
 * phone), and another session beside it; returns the lookups' statements.
 */
async function fill(db: TestDriver, namespace: string): Promise<Record<Lookup, string>> {
  let last = '';
  const logger: Logger = { logQuery: (query) => void (last = query), logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
  const tablePrefix = db.prefix(namespace);
  const storage = new TypeormStorage({ options: { ...db.options(namespace), logger }, ...(tablePrefix === undefined ? {} : { tablePrefix }) });
  const other = new TypeormStorage({ options: db.options(namespace), name: 'other', ...(tablePrefix === undefined ? {} : { tablePrefix }) });
  try {
    await storage.peers.upsert([...Array.from({ length: 1000 }, (_, i) => peer('user', i + 1)), ...Array.from({ length: 200 }, (_, i) => peer('channel', i + 1))]);
    await other.peers.upsert(Array.from({ length: 100 }, (_, i) => peer('user', i + 1)));
    const statements = {} as Record<Lookup, string>;
    expect((await storage.peers.getById('user', 500n))?.id).toBe(500n);
    statements.byId = last;
    expect((await storage.peers.getByUsername('USER_500'))?.id).toBe(500n);
    statements.byUsername = last;
    expect((await storage.peers.getByPhone('10000000500'))?.id).toBe(500n);
    statements.byPhone = last;
    return statements;
  } finally {
    await storage.close();
    await other.close();
  }
}

async function withTables(db: TestDriver, body: (app: DataSource, prefix: string, statements: Record<Lookup, string>) => Promise<void>): Promise<void> {
  const namespace = randomNamespace();
  try {
    const statements = await fill(db, namespace);
    const app = await new DataSource(db.options(namespace)).initialize();
    try {
      await body(app, db.prefix(namespace) ?? 'mtstore_', statements);
    } finally {
      await app.destroy();
    }
  } finally {
    await db.cleanup(namespace);
  }
}

for (const db of drivers) {
  describe(`${db.name}: peer lookup plans`, () => {
    if (db.name === 'postgres') {
      it('each lookup is one index scan returning one row: fresh and analysed tables, custom and generic plans', () =>
        withTables(db, async (app, prefix, statements) => {
          const runner = app.createQueryRunner();
          try {
            const q = (name: string) => app.driver.escape(`${prefix}${name}`);
            for (const [lookup, sql] of Object.entries(statements)) await runner.query(`PREPARE plan_${lookup} AS ${sql}`);
            for (const analysed of [false, true]) {
              if (analysed) await runner.query(`ANALYZE ${q('peers')}, ${q('peer_usernames')}`);
              for (const mode of ['force_custom_plan', 'force_generic_plan']) {
                await runner.query(`SET plan_cache_mode = ${mode}`);
                for (const lookup of Object.keys(statements) as Lookup[]) {
                  const args = PARAMS[lookup].map((p) => (typeof p === 'number' ? String(p) : `'${String(p)}'`)).join(', ');
                  const rows = (await runner.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE plan_${lookup} (${args})`)) as { 'QUERY PLAN': string }[];
                  const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
                  const label = `${lookup}, ${mode}, ${analysed ? 'analysed' : 'fresh'}:\n${plan}`;
                  const scan = (index: string, table: string) => new RegExp(`Index Scan using ${index} on ${prefix}${table} [^\\n]*\\(actual rows=1 loops=1\\)`);
                  if (lookup === 'byPhone') {
                    expect(plan, label).toMatch(scan(`${prefix}peer_phone`, 'peers'));
                    expect(plan, label).not.toMatch(/Sort/);
                  } else {
                    expect(plan, label).toMatch(scan('"PK_\\w+"', 'peers'));
                  }
                  if (lookup === 'byUsername') expect(plan, label).toMatch(scan('"PK_\\w+"', 'peer_usernames'));
                  // Every key column is an index condition: no node reads or filters out another row.
                  expect(plan, label).not.toMatch(/actual rows=(?:[02-9]|\d{2,})|Rows Removed/);
                }
              }
            }
            await runner.query('DEALLOCATE ALL');
          } finally {
            await runner.release();
          }
        }));
    }

    if (db.name === 'sqlite') {
      it('each lookup searches by its whole key, fresh and after ANALYZE', () =>
        withTables(db, async (app, prefix, statements) => {
          for (const analysed of [false, true]) {
            if (analysed) await app.query('ANALYZE');
            const plan = async (lookup: Lookup) =>
              ((await app.query(`EXPLAIN QUERY PLAN ${statements[lookup]}`, PARAMS[lookup])) as { detail: string }[]).map((r) => r.detail).join('\n');
            const label = analysed ? 'analysed' : 'fresh';
            const peersKey = `SEARCH ${prefix}peers USING INDEX sqlite_autoindex_${prefix}peers_1 (session_name=? AND peer_type=? AND peer_id=?)`;
            expect(await plan('byId'), label).toBe(peersKey);
            expect(await plan('byUsername'), label).toBe(
              `${peersKey}\nSCALAR SUBQUERY 1\nSEARCH ${prefix}peer_usernames USING INDEX sqlite_autoindex_${prefix}peer_usernames_1 (session_name=? AND username_key=?)`,
            );
            // No temp b-tree for the ORDER BY: the index yields its order.
            expect(await plan('byPhone'), label).toBe(`SEARCH ${prefix}peers USING INDEX ${prefix}peer_phone (session_name=? AND phone=?)`);
          }
        }));
    }

    if (db.name === 'mysql') {
      it('each lookup is a key lookup of one row, fresh and after ANALYZE TABLE', () =>
        withTables(db, async (app, prefix, statements) => {
          const q = (name: string) => app.driver.escape(`${prefix}${name}`);
          for (const analysed of [false, true]) {
            if (analysed) await app.query(`ANALYZE TABLE ${q('peers')}, ${q('peer_usernames')}`);
            const plan = async (lookup: Lookup) =>
              ((await app.query(`EXPLAIN ${statements[lookup]}`, PARAMS[lookup])) as Record<string, unknown>[]).map((r) => ({ type: r.type, key: r.key, ref: r.ref, rows: Number(r.rows) }));
            const label = analysed ? 'analysed' : 'fresh';
            const primary = (ref: string) => ({ type: 'const', key: 'PRIMARY', ref, rows: 1 });
            expect(await plan('byId'), label).toEqual([primary('const,const,const')]);
            expect(await plan('byUsername'), label).toEqual([primary('const,const'), primary('const,const,const')]);
            expect(await plan('byPhone'), label).toEqual([{ type: 'ref', key: `${prefix}peer_phone`, ref: 'const,const', rows: 1 }]);
          }
        }));
    }
  });
}
