/**
 * Schema v1 → v2 → v3 → v4 on every driver: tables made by migration 1 exactly as the
 * previous release made them, filled with v1-layout rows (keys inside the DC rows), then
 * opened by the current code. Nothing may be lost, the keys least of all.
 */
import { authKey, peer, randomNamespace } from '@mtstore/conformance/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DataSource, type QueryRunner } from 'typeorm';
import { SCHEMA_VERSION, TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { migrateDown, migrateUp, schemaContext } from '../src/schema.js';
import { upV2 } from '../src/upgrade-v2.js';
import { upV3 } from '../src/upgrade-v3.js';
import { upV4 } from '../src/upgrade-v4.js';
import { availableDrivers, plain, type TestDriver } from './drivers.js';

const drivers = await availableDrivers();
afterAll(() => Promise.all(drivers.map((db) => db.dispose())));

async function withRunner<T>(app: DataSource, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = app.createQueryRunner();
  try {
    return await work(runner);
  } finally {
    await runner.release();
  }
}

/** Runs `sql` with `?` placeholders (numbered on postgres). */
function run(db: TestDriver, app: DataSource, sql: string, params: unknown[] = []): Promise<unknown> {
  let n = 0;
  return app.query(db.name === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql, params);
}

/** What the previous release wrote for one logged-in session, in its layout. */
async function writeV1(db: TestDriver, app: DataSource, prefix: string): Promise<void> {
  const q = (name: string) => app.driver.escape(`${prefix}${name}`);
  const bool = (value: boolean | null) => (value === null ? null : db.name === 'postgres' ? value : value ? 1 : 0);
  const key = (seed: number) => Buffer.from(authKey(seed));
  await run(
    db,
    app,
    `INSERT INTO ${q('sessions')} (session_name, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_username, state_pts, state_qts, state_date, state_seq, takeout_id)` +
      ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ['alice', 2, 12345, '9223372036854775807', 2, bool(false), 'Alice_Old', 10, 20, 1_700_000_000, 30, null,
      'bob', 4, null, null, null, null, null, null, null, null, null, '-5'],
  );
  const dcs = [
    ['alice', 0, 2, '149.154.167.51', null, 443, bool(false), bool(false), key(1)],
    ['alice', 1, 2, '149.154.167.151', null, 443, null, bool(true), key(2)],
    ['alice', 2, 4, null, '2001:67c:4e8:f004::a', 80, bool(true), null, null],
    ['alice', 3, 5, '91.108.56.100', null, 443, null, null, key(3)],
    ['bob', 0, 4, '149.154.167.91', null, 443, null, null, key(9)],
  ];
  await run(db, app, `INSERT INTO ${q('datacenters')} (session_name, ord, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key) VALUES ${dcs.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`, dcs.flat());
  // Temp keys point at their DC row by position; ord kept the list order, not the index order.
  const temps = [
    ['alice', 0, 0, 7, key(4), 1_900_000_000],
    ['alice', 0, 1, 2, key(5), 4_000_000_000],
    ['alice', 1, 0, 0, key(6), 1_900_000_100],
  ];
  await run(db, app, `INSERT INTO ${q('temp_auth_keys')} (session_name, dc_ord, ord, key_index, auth_key, expires_at) VALUES ${temps.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`, temps.flat());
  await run(db, app, `INSERT INTO ${q('channels')} (session_name, channel_id, pts) VALUES (?, ?, ?), (?, ?, ?)`, ['alice', '1000000000001', 5, 'alice', '-1000000000002', 6]);
  await run(
    db,
    app,
    `INSERT INTO ${q('peers')} (session_name, peer_type, peer_id, access_hash, is_min, phone, updated_at, usernames) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ['alice', 'user', 77, '-9223372036854775808', null, '15550001', 1_700_000_077, 'Seven sieben'],
  );
  await run(db, app, `INSERT INTO ${q('peer_usernames')} (session_name, username_key, peer_type, peer_id) VALUES (?, ?, ?, ?), (?, ?, ?, ?)`, [
    'alice', 'seven', 'user', 77, 'alice', 'sieben', 'user', 77,
  ]);
  await run(db, app, `INSERT INTO ${q('server_sessions')} (auth_key_id, session_id) VALUES (?, ?)`, ['-1', '42']);
}

/** alice as the current code must read her after the upgrade. */
const ALICE = {
  version: 1,
  homeDcId: 2,
  dcs: [
    {
      id: 2,
      ipv4: '149.154.167.51',
      port: 443,
      testMode: false,
      mediaOnly: false,
      authKey: authKey(1),
      tempAuthKeys: [
        { index: 2, key: authKey(5), expiresAt: 4_000_000_000 },
        { index: 7, key: authKey(4), expiresAt: 1_900_000_000 },
      ],
    },
    { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true, authKey: authKey(2), tempAuthKeys: [{ index: 0, key: authKey(6), expiresAt: 1_900_000_100 }] },
    { id: 4, ipv6: '2001:67c:4e8:f004::a', port: 80, testMode: true },
    { id: 5, ipv4: '91.108.56.100', port: 443, authKey: authKey(3) },
  ],
  apiId: 12345,
  user: { id: 2n ** 63n - 1n, dcId: 2, bot: false, usernames: ['Alice_Old'] },
  state: { pts: 10, qts: 20, date: 1_700_000_000, seq: 30 },
  channels: [
    { id: 1_000_000_000_001n, pts: 5 },
    { id: -1_000_000_000_002n, pts: 6 },
  ],
};

const BOB = {
  version: 1,
  homeDcId: 4,
  dcs: [{ id: 4, ipv4: '149.154.167.91', port: 443, authKey: authKey(9) }],
  channels: [],
  takeoutId: -5n,
};

async function expectUpgraded(storageOf: (name: string) => TypeormStorage, server: TypeormSessionStorage): Promise<void> {
  const alice = storageOf('alice');
  const bob = storageOf('bob');
  expect(plain(await alice.load())).toEqual(plain(ALICE));
  expect(plain(await bob.load())).toEqual(plain(BOB));
  expect(plain(await alice.authKeys.get(2))).toEqual(plain(authKey(1)));
  expect(plain(await alice.authKeys.getTemp(2, 7))).toEqual(plain({ index: 7, key: authKey(4), expiresAt: 1_900_000_000 }));
  expect(await alice.listNames()).toEqual(['alice', 'bob']);
  expect(plain(await alice.peers.getByUsername('SIEBEN'))).toEqual(
    plain(peer('user', 77, { accessHash: -(2n ** 63n), usernames: ['Seven', 'sieben'], phone: '15550001', updatedAt: 1_700_000_077 })),
  );
  expect(await server.hasSession(-1n, 42n)).toBe(true);
  // And v2 works on the upgraded tables.
  await alice.authKeys.set(9, authKey(99));
  await alice.kv.set('k', Uint8Array.of(1));
  await alice.refMessages.store(77n, -100n, 5);
  expect(await alice.refMessages.getByPeer(77n)).toEqual({ chatId: -100n, messageId: 5 });
  expect((await alice.load())?.dcs.at(-1)).toEqual({ id: 9, authKey: expect.anything() });
}

for (const db of drivers) {
  describe(`${db.name}: schema v1 → v2`, () => {
    const withV1 = async (body: (ctx: { namespace: string; prefix: string; app: DataSource }) => Promise<void>) => {
      const namespace = randomNamespace();
      const prefix = `${namespace}_`;
      const app = await new DataSource(db.options(namespace)).initialize();
      try {
        // Migration 1 as the previous release ran it, then its rows.
        await withRunner(app, (runner) => migrateUp(runner, schemaContext(app, prefix, 'test'), 1));
        await writeV1(db, app, prefix);
        await body({ namespace, prefix, app });
      } finally {
        await app.destroy();
        await db.cleanup(namespace);
      }
    };

    it('the adapter upgrades a v1 store on first use: snapshots, keys (temp keys by index), usernames, peers and server sessions all read back', () =>
      withV1(async ({ namespace, prefix, app }) => {
        const opened: TypeormStorage[] = [];
        const storageOf = (name: string) => {
          const storage = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name });
          opened.push(storage);
          return storage;
        };
        const server = new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: prefix });
        try {
          await expectUpgraded(storageOf, server);
        } finally {
          await Promise.all([...opened, server].map((s) => s.close()));
        }
        const version = (await app.query(`SELECT version FROM ${app.driver.escape(`${prefix}schema_version`)}`)) as { version: number }[];
        expect(version).toEqual([{ version: SCHEMA_VERSION }]);
        await withRunner(app, async (runner) => {
          expect(await runner.hasTable(`${prefix}temp_auth_keys`)).toBe(false);
          expect(await runner.hasColumn(`${prefix}datacenters`, 'auth_key')).toBe(false);
          expect(await runner.hasColumn(`${prefix}sessions`, 'user_username')).toBe(false);
        });
      }));

    it('a step 2 that already ran (MySQL: DDL commits as it goes, a crash can stop before the version is written) runs again cleanly', () =>
      withV1(async ({ namespace, prefix, app }) => {
        // Everything of step 2 done, the version still 1: the next start redoes the step.
        await withRunner(app, (runner) => upV2(runner, schemaContext(app, prefix, 'test')));
        const opened: TypeormStorage[] = [];
        const storageOf = (name: string) => {
          const storage = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name });
          opened.push(storage);
          return storage;
        };
        const server = new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: prefix });
        try {
          await expectUpgraded(storageOf, server);
        } finally {
          await Promise.all([...opened, server].map((s) => s.close()));
        }
      }));

    it('down to v1 puts keys back into the DC rows and the main username into user_username; up again loses nothing', () =>
      withV1(async ({ prefix, app }) => {
        const context = schemaContext(app, prefix, 'test');
        await withRunner(app, (runner) => migrateUp(runner, context));
        await withRunner(app, (runner) => migrateDown(runner, context, 1));
        const q = (name: string) => app.driver.escape(`${prefix}${name}`);
        const rows = (await app.query(`SELECT ord, auth_key FROM ${q('datacenters')} WHERE session_name = 'alice' ORDER BY ord`)) as { ord: number; auth_key: Uint8Array | null }[];
        expect(rows.map((r) => (r.auth_key === null ? null : plain(Uint8Array.from(r.auth_key))))).toEqual([plain(authKey(1)), plain(authKey(2)), null, plain(authKey(3))]);
        const temps = (await app.query(`SELECT dc_ord, key_index FROM ${q('temp_auth_keys')} ORDER BY dc_ord, ord`)) as { dc_ord: number; key_index: number }[];
        expect(temps.map((t) => [Number(t.dc_ord), Number(t.key_index)])).toEqual([
          [0, 2],
          [0, 7],
          [1, 0],
        ]);
        expect(await app.query(`SELECT user_username FROM ${q('sessions')} WHERE session_name = 'alice'`)).toEqual([{ user_username: 'Alice_Old' }]);
        await withRunner(app, (runner) => migrateUp(runner, context));
        const alice = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
        expect(plain(await alice.load())).toEqual(plain(ALICE));
        await alice.close();
      }));
  });
}

for (const db of drivers) {
  describe(`${db.name}: schema v2 → v3`, () => {
    /** A v2 store (v1 rows brought to v2 by migration 2, as the previous release did) with server sessions. */
    const withV2 = async (body: (ctx: { namespace: string; prefix: string; app: DataSource }) => Promise<void>) => {
      const namespace = randomNamespace();
      const prefix = `${namespace}_`;
      const app = await new DataSource(db.options(namespace)).initialize();
      try {
        const context = schemaContext(app, prefix, 'test');
        await withRunner(app, (runner) => migrateUp(runner, context, 1));
        await writeV1(db, app, prefix);
        await withRunner(app, (runner) => migrateUp(runner, context, 2));
        await run(db, app, `INSERT INTO ${app.driver.escape(`${prefix}server_sessions`)} (auth_key_id, session_id) VALUES (?, ?), (?, ?)`, ['-1', '43', '7', '1']);
        await body({ namespace, prefix, app });
      } finally {
        await app.destroy();
        await db.cleanup(namespace);
      }
    };

    /**
     * `migrated`: 'by the server' when the upgrade is left to the server storage, which
     * opens first here; else the time before a step 3 run by hand (Date.now).
     */
    const expectV3 = async (namespace: string, prefix: string, migrated: 'by the server' | { before: number }) => {
      const opened: TypeormStorage[] = [];
      const storageOf = (name: string) => {
        const storage = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name });
        opened.push(storage);
        return storage;
      };
      // A clock far from the machine's: what the migration writes must be this clock's time, as every other write (contract §7.1).
      const migratedAt = 1_500_000_000_000;
      let now = migratedAt;
      const server = new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: prefix, ttlSeconds: 60, clock: () => now });
      try {
        // Sessions from v2 never expire and count as last used at the upgrade, by the migrating instance's clock.
        const info = await server.sessionInfo(-1n, 43n);
        expect(info?.expiresAt).toBeNull();
        if (migrated === 'by the server') {
          expect(info?.lastUsedAt).toBe(migratedAt);
        } else {
          expect(info?.lastUsedAt).toBeGreaterThanOrEqual(migrated.before);
          expect(info?.lastUsedAt).toBeLessThanOrEqual(Date.now());
        }
        await expectUpgraded(storageOf, server);
        expect((await server.listSessions(-1n)).sort()).toEqual([42n, 43n]);
        expect(await server.expireSessions()).toEqual([]);
        // New sessions get the lifetime of the instance that creates or touches them.
        expect(await server.touchSession(7n, 1n)).toBe(true);
        expect(await server.sessionInfo(7n, 1n)).toEqual({ lastUsedAt: now, expiresAt: now + 60_000 });
        now += 60_000;
        expect(await server.hasSession(7n, 1n)).toBe(false);
        expect(await server.expireSessions()).toEqual([{ authKeyId: 7n, sessionId: 1n }]);
        expect(await server.hasSession(-1n, 43n)).toBe(true);
        // The key column takes sealed keys (MySQL: VARBINARY(256) before v3).
        const sealed = new TypeormStorage({
          options: db.options(namespace),
          tablePrefix: prefix,
          name: 'carol',
          encryption: { keys: [{ id: 'k1', key: new Uint8Array(32).fill(7) }] },
        });
        opened.push(sealed);
        await sealed.authKeys.set(2, authKey(50));
        expect(plain(await sealed.authKeys.get(2))).toEqual(plain(authKey(50)));
      } finally {
        await Promise.all([...opened, server].map((x) => x.close()));
      }
    };

    it('the adapter migrates a v2 store on first use: snapshots, keys and server sessions intact, old sessions live for ever, sealed keys fit', () =>
      withV2(async ({ namespace, prefix, app }) => {
        await expectV3(namespace, prefix, 'by the server');
        const version = (await app.query(`SELECT version FROM ${app.driver.escape(`${prefix}schema_version`)}`)) as { version: number }[];
        expect(version).toEqual([{ version: SCHEMA_VERSION }]);
        await withRunner(app, async (runner) => {
          expect(await runner.hasColumn(`${prefix}server_sessions`, 'expires_at')).toBe(true);
          expect(await runner.hasColumn(`${prefix}server_sessions`, 'last_used_at')).toBe(true);
        });
      }));

    it('a step 3 that already ran (MySQL: DDL commits as it goes) runs again cleanly', () =>
      withV2(async ({ namespace, prefix, app }) => {
        const before = Date.now();
        await withRunner(app, (runner) => upV3(runner, schemaContext(app, prefix, 'test')));
        await expectV3(namespace, prefix, { before });
      }));

    it('down to v2 drops the lifetime and keeps every row; up again loses nothing', () =>
      withV2(async ({ prefix, app }) => {
        const context = schemaContext(app, prefix, 'test');
        await withRunner(app, (runner) => migrateUp(runner, context));
        await withRunner(app, (runner) => migrateDown(runner, context, 2));
        await withRunner(app, async (runner) => {
          expect(await runner.hasColumn(`${prefix}server_sessions`, 'expires_at')).toBe(false);
        });
        const q = (name: string) => app.driver.escape(`${prefix}${name}`);
        const count = (await app.query(`SELECT COUNT(*) AS n FROM ${q('server_sessions')}`)) as { n: unknown }[];
        expect(Number(count[0]?.n), 'every server session row is kept').toBe(3);
        await withRunner(app, (runner) => migrateUp(runner, context));
        const alice = new TypeormStorage({ dataSource: app, tablePrefix: prefix, name: 'alice' });
        const server = new TypeormSessionStorage({ dataSource: app, tablePrefix: prefix });
        expect(plain(await alice.load())).toEqual(plain(ALICE));
        expect((await server.listSessions(-1n)).sort()).toEqual([42n, 43n]);
        await alice.close();
        await server.close();
      }));
  });
}

/** An index as the database describes it: its columns in order, and its condition (partial indexes). */
async function indexOf(db: TestDriver, app: DataSource, prefix: string, table: string, name: string): Promise<{ columns: string[]; where: string | null } | null> {
  const index = `${prefix}${name}`;
  if (db.name === 'mysql') {
    const rows = (await app.query(
      'SELECT COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ? ORDER BY SEQ_IN_INDEX',
      [`${prefix}${table}`, index],
    )) as { c: string }[];
    return rows.length === 0 ? null : { columns: rows.map((r) => r.c), where: null };
  }
  const rows = (
    db.name === 'postgres'
      ? await app.query('SELECT indexdef AS sql FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexname = $2', [`${prefix}${table}`, index])
      : await app.query("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name = ?", [`${prefix}${table}`, index])
  ) as { sql: string }[];
  const sql = rows[0]?.sql;
  if (sql === undefined) return null;
  // postgres: `… USING btree (a, b) WHERE (c IS NOT NULL)`; sqlite: the statement that made it, `… ("a", "b") WHERE c IS NOT NULL`.
  const match = /\(([^()]*)\)\s*(?:WHERE \(?(.*?)\)?)?\s*$/.exec(sql);
  if (match === null) throw new Error(`unreadable index definition: ${sql}`);
  return { columns: (match[1] as string).split(',').map((c) => c.trim().replace(/"/g, '')), where: match[2] ?? null };
}

for (const db of drivers) {
  describe(`${db.name}: schema v3 → v4`, () => {
    /** A v3 store (v1 rows brought to v3 by migrations 2 and 3, as the previous release did) with peers beside alice's. */
    const withV3 = async (body: (ctx: { namespace: string; prefix: string; app: DataSource }) => Promise<void>) => {
      const namespace = randomNamespace();
      const prefix = `${namespace}_`;
      const app = await new DataSource(db.options(namespace)).initialize();
      try {
        const context = schemaContext(app, prefix, 'test');
        await withRunner(app, (runner) => migrateUp(runner, context, 1));
        await writeV1(db, app, prefix);
        await withRunner(app, (runner) => migrateUp(runner, context, 3));
        const q = (name: string) => app.driver.escape(`${prefix}${name}`);
        // A channel (no phone) and a user of alice's, and bob's user 77 with a phone of his own.
        await run(
          db,
          app,
          `INSERT INTO ${q('peers')} (session_name, peer_type, peer_id, access_hash, is_min, phone, updated_at, usernames) VALUES (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?)`,
          ['alice', 'channel', 5, 55, null, null, 1_700_000_005, 'News', 'alice', 'user', 78, 78, null, '15550002', 1_700_000_078, '', 'bob', 'user', 77, 770, null, '15559999', 1_700_000_177, 'Bobs77'],
        );
        await run(db, app, `INSERT INTO ${q('peer_usernames')} (session_name, username_key, peer_type, peer_id) VALUES (?, ?, ?, ?), (?, ?, ?, ?)`, [
          'alice', 'news', 'channel', 5, 'bob', 'bobs77', 'user', 77,
        ]);
        await body({ namespace, prefix, app });
      } finally {
        await app.destroy();
        await db.cleanup(namespace);
      }
    };

    const V3_INDEXES = { phone: { columns: ['session_name', 'phone'], where: null }, username: { columns: ['session_name', 'peer_type', 'peer_id'], where: null } };
    const V4_INDEXES = {
      // MySQL has no partial indexes, and its secondary indexes end with the primary key anyway: unchanged there.
      phone: db.name === 'mysql' ? V3_INDEXES.phone : { columns: ['session_name', 'phone', 'peer_type', 'peer_id'], where: 'phone IS NOT NULL' },
      username: { columns: ['peer_id', 'peer_type', 'session_name'], where: null },
    };
    const indexes = async (app: DataSource, prefix: string) => ({
      phone: await indexOf(db, app, prefix, 'peers', 'peer_phone'),
      username: await indexOf(db, app, prefix, 'peer_usernames', 'username_peer'),
    });

    /** Every peer of the v3 store reads back by id, username and phone, and writes still keep usernames and phones single-owner. */
    const expectPeers = async (namespace: string, prefix: string) => {
      const alice = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name: 'alice' });
      const bob = new TypeormStorage({ options: db.options(namespace), tablePrefix: prefix, name: 'bob' });
      try {
        const seven = peer('user', 77, { accessHash: -(2n ** 63n), usernames: ['Seven', 'sieben'], phone: '15550001', updatedAt: 1_700_000_077 });
        const news = peer('channel', 5, { accessHash: 55n, usernames: ['News'], updatedAt: 1_700_000_005 });
        const eight = peer('user', 78, { accessHash: 78n, usernames: [], phone: '15550002', updatedAt: 1_700_000_078 });
        expect(plain(await alice.peers.getById('user', 77n))).toEqual(plain(seven));
        expect(plain(await alice.peers.getByUsername('SEVEN'))).toEqual(plain(seven));
        expect(plain(await alice.peers.getByPhone('15550001'))).toEqual(plain(seven));
        expect(plain(await alice.peers.getByUsername('news'))).toEqual(plain(news));
        expect(plain(await alice.peers.getById('channel', 5n))).toEqual(plain(news));
        expect(plain(await alice.peers.getByPhone('15550002'))).toEqual(plain(eight));
        expect(await alice.peers.getByPhone('15559999')).toBeNull(); // bob's
        expect((await bob.peers.getByUsername('bobs77'))?.accessHash).toBe(770n);
        expect((await alice.peers.list({ limit: 10 })).peers.map((p) => `${p.type}:${p.id}`)).toEqual(['channel:5', 'user:77', 'user:78']);
        // A new peer takes 78's phone and seven's username: both lose them, found through the rebuilt indexes.
        await alice.peers.upsert([peer('user', 79, { usernames: ['sieben'], phone: '15550002' })]);
        expect((await alice.peers.getByPhone('15550002'))?.id).toBe(79n);
        expect((await alice.peers.getById('user', 78n))?.phone).toBeUndefined();
        expect((await alice.peers.getByUsername('sieben'))?.id).toBe(79n);
        expect((await alice.peers.getById('user', 77n))?.usernames).toEqual(['Seven']);
        await alice.peers.clear();
        expect(await alice.peers.getByUsername('seven')).toBeNull();
        expect((await bob.peers.getById('user', 77n))?.phone).toBe('15559999');
      } finally {
        await alice.close();
        await bob.close();
      }
    };

    it('the adapter migrates a v3 store on first use: the peer indexes get their v4 definitions, every peer reads back', () =>
      withV3(async ({ namespace, prefix, app }) => {
        expect(await indexes(app, prefix)).toEqual(V3_INDEXES);
        await expectPeers(namespace, prefix);
        expect(await app.query(`SELECT version FROM ${app.driver.escape(`${prefix}schema_version`)}`)).toEqual([{ version: 4 }]);
        expect(await indexes(app, prefix)).toEqual(V4_INDEXES);
      }));

    it('a step 4 that already ran, or stopped between dropping an index and building it again (MySQL), runs again cleanly', () =>
      withV3(async ({ namespace, prefix, app }) => {
        const context = schemaContext(app, prefix, 'test');
        await withRunner(app, (runner) => upV4(runner, context));
        await withRunner(app, (runner) => runner.dropIndex(`${prefix}peer_usernames`, `${prefix}username_peer`));
        expect((await indexes(app, prefix)).username).toBeNull();
        await expectPeers(namespace, prefix);
        expect(await indexes(app, prefix)).toEqual(V4_INDEXES);
        await withRunner(app, (runner) => upV4(runner, context));
        expect(await indexes(app, prefix)).toEqual(V4_INDEXES);
      }));

    it('down to v3 puts the v3 indexes back and keeps every row; up again loses nothing', () =>
      withV3(async ({ namespace, prefix, app }) => {
        const context = schemaContext(app, prefix, 'test');
        await withRunner(app, (runner) => migrateUp(runner, context));
        expect(await indexes(app, prefix)).toEqual(V4_INDEXES);
        await withRunner(app, (runner) => migrateDown(runner, context, 3));
        expect(await indexes(app, prefix)).toEqual(V3_INDEXES);
        await withRunner(app, (runner) => migrateUp(runner, context));
        expect(await indexes(app, prefix)).toEqual(V4_INDEXES);
        await expectPeers(namespace, prefix);
      }));
  });
}
