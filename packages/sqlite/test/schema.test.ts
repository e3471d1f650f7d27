/**
 * The schema: what a new file holds, versions and migrations, files that are not
 * mtstore databases, rows damaged by hand, and the query plans of every statement.
 */
import Database from 'better-sqlite3';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fullSession, minimalSession, peer } from '@mtstore/conformance';
import type { Peer, PeerType } from '@mtstore/core';
import { SCHEMA_VERSION, SqliteSessionStorage, SqliteStorage } from '../src/index.js';
import { prepareSnapshotStatements } from '../src/client.js';
import { prepareKeys } from '../src/keys.js';
import { prepareKv } from '../src/kv.js';
import { preparePeers } from '../src/peers.js';
import { prepareRefs } from '../src/refs.js';
import { migrate, MIGRATIONS, tableNames } from '../src/schema.js';
import { prepareServer } from '../src/statements.js';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('schema');
afterAll(temp.remove);

/** Runs SQL on a file through a separate raw connection. */
/** A file as this adapter's version `version` left it: migrations 1…version run, foreign keys on, the version recorded. */
function fileAtVersion(path: string, version: number): { db: Database.Database; t: ReturnType<typeof tableNames> } {
  const t = tableNames('mtstore_');
  const db = new Database(path);
  db.pragma('foreign_keys = ON');
  for (const step of MIGRATIONS.slice(0, version)) db.exec(step(t));
  db.prepare(`INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', ?)`).run(BigInt(version));
  return { db, t };
}

function edit(path: string, sql: string): void {
  const db = new Database(path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('a new file', () => {
  it('holds the documented tables and schema_version', async () => {
    const storage = new SqliteStorage(temp.file('fresh'));
    const db = storage.database;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'mtstore_%' ORDER BY name").pluck().all();
    expect(tables).toEqual([
      'mtstore_auth_key_bytes',
      'mtstore_auth_keys',
      'mtstore_channels',
      'mtstore_dcs',
      'mtstore_kv',
      'mtstore_meta',
      'mtstore_peer_usernames',
      'mtstore_peers',
      'mtstore_ref_messages',
      'mtstore_server_sessions',
      'mtstore_sessions',
    ]);
    expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    await storage.close();
  });

  it('stores what a user reads with the sqlite3 shell: lower-cased username keys, 0/1/NULL flags, integer ids', async () => {
    const storage = new SqliteStorage(temp.file('readable'));
    await storage.save(fullSession(1));
    await storage.peers.upsert([peer('user', 5, { usernames: ['DuRov'], min: false, accessHash: -(2n ** 63n) })]);
    const db = storage.database;
    // The type is a code (channel 0, chat 1, user 2), in the peer row and the index alike.
    expect(db.prepare('SELECT username_key, type, id FROM mtstore_peer_usernames').get()).toEqual({ username_key: 'durov', type: 2, id: 5 });
    expect(db.prepare('SELECT typeof(type) AS t, type FROM mtstore_peers').get()).toEqual({ t: 'integer', type: 2 });
    expect(db.prepare('SELECT usernames FROM mtstore_peers').pluck().get()).toBe('["DuRov"]');
    expect(db.prepare('SELECT typeof(access_hash) AS t, min, phone FROM mtstore_peers').get()).toEqual({ t: 'integer', min: 0, phone: '10000000005' });
    expect(db.prepare('SELECT test_mode, media_only, port FROM mtstore_dcs WHERE position = 1').get()).toEqual({ test_mode: 0, media_only: 0, port: 443 });
    expect(db.prepare('SELECT test_mode, media_only FROM mtstore_dcs WHERE position = 0').get()).toEqual({ test_mode: null, media_only: null });
    expect(db.prepare('SELECT user_usernames, user_premium FROM mtstore_sessions').get()).toEqual({ user_usernames: '["user_1","User1_alt"]', user_premium: 0 });
    await storage.close();
  });

  it('keys are rows of their own: slot -1 the permanent key, n the temp key of slot n; the address rows hold none', async () => {
    const storage = new SqliteStorage(temp.file('keys'));
    await storage.save(fullSession(1));
    await storage.authKeys.set(9, new Uint8Array(256).fill(9));
    const db = storage.database;
    expect(db.prepare('PRAGMA table_info(mtstore_dcs)').all().map((c) => (c as { name: string }).name)).toEqual(
      ['session_id', 'position', 'dc_id', 'ipv4', 'ipv6', 'host', 'port', 'test_mode', 'media_only'],
    );
    expect(db.prepare('SELECT dc_id, media_only, slot, length(auth_key) AS bytes, expires_at FROM mtstore_auth_keys JOIN mtstore_auth_key_bytes USING (id) ORDER BY dc_id, media_only, slot').all()).toEqual([
      { dc_id: 1, media_only: 0, slot: -1, bytes: 256, expires_at: null },
      { dc_id: 2, media_only: 0, slot: -1, bytes: 256, expires_at: null },
      { dc_id: 2, media_only: 0, slot: 0, bytes: 256, expires_at: 1_900_000_001 },
      { dc_id: 2, media_only: 0, slot: 1, bytes: 256, expires_at: 1_900_000_101 },
      { dc_id: 4, media_only: 0, slot: -1, bytes: 256, expires_at: null },
      { dc_id: 9, media_only: 0, slot: -1, bytes: 256, expires_at: null },
    ]);
    // A key write touches its row only: the snapshot row and address rows stay as they were.
    const before = db.prepare('SELECT * FROM mtstore_dcs').all();
    await storage.authKeys.setTemp(2, { index: 0, key: new Uint8Array(256).fill(1), expiresAt: 5 });
    expect(db.prepare('SELECT * FROM mtstore_dcs').all()).toEqual(before);
    await storage.close();
  });

  it('keys, kv, peers and references before any snapshot live under a name-only session row', async () => {
    const storage = new SqliteStorage({ path: temp.file('name-only.db'), name: 'early' });
    await storage.kv.set('salt', Uint8Array.of(1));
    await storage.refMessages.store(5n, -1001n, 3);
    await storage.peers.upsert([peer('user', 5)]);
    const db = storage.database;
    expect(db.prepare('SELECT name, has_snapshot FROM mtstore_sessions').all()).toEqual([{ name: 'early', has_snapshot: 0 }]);
    expect(await storage.load()).toBeNull();
    expect(await storage.listNames()).toEqual(['early']);
    expect(db.prepare('SELECT peer_id, chat_id, message_id FROM mtstore_ref_messages').all()).toEqual([{ peer_id: 5, chat_id: -1001, message_id: 3 }]);
    await storage.save(minimalSession());
    expect(db.prepare('SELECT name, has_snapshot FROM mtstore_sessions').all()).toEqual([{ name: 'early', has_snapshot: 1 }]);
    expect(await storage.kv.get('salt')).toEqual(Uint8Array.of(1));
    await storage.close();
  });

  it('prepares each concern’s statements on its first use only', async () => {
    const storage = new SqliteStorage(temp.file('lazy'));
    const db = storage.database;
    const prepare = db.prepare.bind(db);
    const prepared: string[] = [];
    db.prepare = ((source: string) => {
      prepared.push(source);
      return prepare(source);
    }) as typeof db.prepare;
    await storage.authKeys.set(2, new Uint8Array(256));
    // The key statements (9), and the name-row statements the first write needed (2).
    expect(prepared.every((source) => /mtstore_(auth_keys|auth_key_bytes|sessions)\b/.test(source)), prepared.join('\n')).toBe(true);
    expect(prepared.length).toBeLessThanOrEqual(11);
    const afterKeys = prepared.length;
    await storage.authKeys.set(3, new Uint8Array(256));
    await storage.authKeys.get(3);
    expect(prepared.length).toBe(afterKeys);
    await storage.kv.get('x');
    expect(prepared.slice(afterKeys).every((source) => source.includes('mtstore_kv'))).toBe(true);
    await storage.close();
  });
});

describe('versions', () => {
  it('a file written by a newer schema version is refused with MigrationError, and left as it is', async () => {
    const path = temp.file('newer.db');
    const first = new SqliteStorage(path);
    await first.save(minimalSession());
    await first.close();
    edit(path, `UPDATE mtstore_meta SET value = ${SCHEMA_VERSION + 1} WHERE key = 'schema_version'`);

    const client = new SqliteStorage(path);
    const error = await rejection(client.load());
    expect(error.code).toBe('MTSTORE_MIGRATION');
    expect(error.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    const server = new SqliteSessionStorage(path);
    expect((await rejection(server.hasSession(1n, 1n))).code).toBe('MTSTORE_MIGRATION');

    // A failed open is not remembered: once the file is fine, the same instances work.
    edit(path, `UPDATE mtstore_meta SET value = ${SCHEMA_VERSION} WHERE key = 'schema_version'`);
    expect(await client.load()).toEqual(minimalSession());
    expect(await server.hasSession(1n, 1n)).toBe(false);
    await Promise.all([client.close(), server.close()]);
  });

  it('mtstore tables without a schema version are refused (not an mtstore database, or a damaged one)', async () => {
    const path = temp.file('no-meta.db');
    edit(path, 'CREATE TABLE mtstore_sessions (whatever TEXT)');
    const error = await rejection(new SqliteStorage(path).load());
    expect(error.code).toBe('MTSTORE_MIGRATION');
    expect(error.message).toMatch(/not an @mtstore\/sqlite database/);
  });

  it('a missing or unreadable schema_version row is refused', async () => {
    const path = temp.file('bad-version.db');
    const first = new SqliteStorage(path);
    await first.save(minimalSession());
    await first.close();
    edit(path, "UPDATE mtstore_meta SET value = 'one'");
    expect((await rejection(new SqliteStorage(path).load())).code).toBe('MTSTORE_MIGRATION');
  });

  it('a half-migrated file (version 8 with a table of step 8 → 9 already there) is MigrationError naming the step, and left as it was; once repaired it migrates', async () => {
    const path = temp.file('half-migrated.db');
    const { db, t } = fileAtVersion(path, 8);
    // What a step run outside its transaction and cut short (or a hand edit) leaves behind.
    db.exec(`CREATE TABLE ${t.authKeyBytes} (id INTEGER PRIMARY KEY)`);
    db.close();
    const tablesOf = () => {
      const raw = new Database(path, { readonly: true });
      try {
        return { version: raw.prepare(`SELECT value FROM ${t.meta}`).pluck().get(), tables: raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() };
      } finally {
        raw.close();
      }
    };
    const before = tablesOf();
    const client = new SqliteStorage(path);
    const server = new SqliteSessionStorage(path);
    for (const call of [client.load(), server.hasSession(1n, 1n)]) {
      const error = await rejection(call);
      expect(error.code).toBe('MTSTORE_MIGRATION');
      expect(error.message).toContain(`step 8 → 9 (of 8 → ${SCHEMA_VERSION})`);
      expect(error.message).toContain(path);
      expect(error.message).toContain(`table ${t.authKeyBytes} already exists`);
    }
    expect(tablesOf()).toEqual(before);
    edit(path, `DROP TABLE ${t.authKeyBytes}`);
    expect(await client.load()).toBeNull();
    expect(await server.hasSession(1n, 1n)).toBe(false);
    await Promise.all([client.close(), server.close()]);
    expect(tablesOf().version).toBe(SCHEMA_VERSION);
  });

  it('migrating is one transaction: concurrent first opens of one file agree', async () => {
    const path = temp.file('first-open.db');
    const storages = Array.from({ length: 4 }, (_, i) => new SqliteStorage({ path, name: `s${i}` }));
    await Promise.all(storages.map((s, i) => s.save(fullSession(i + 1))));
    for (const [i, s] of storages.entries()) expect(plain(await s.load())).toEqual(fullSession(i + 1));
    await Promise.all(storages.map((s) => s.close()));
  });
});

describe('migration from version 1 (the first release)', () => {
  /**
   * A version 1 file: version 1's migration as released, then rows written with
   * version 1's statements (keys in the DC rows and their temp key table, one
   * `user_username`).
   */
  function v1File(path: string, prefix = 'mtstore_'): void {
    const t = tableNames(prefix);
    const db = new Database(path);
    db.exec((MIGRATIONS[0] as (tables: typeof t) => string)(t));
    db.prepare(`INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', 1)`).run();
    const insertSession = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, api_id, user_id, user_dc_id, user_bot,
        user_username, state_pts, state_qts, state_date, state_seq, takeout_id)
      VALUES (@name, 1, @homeDcId, @apiId, @userId, @userDcId, @userBot, @userUsername, @pts, @qts, @date, @seq, @takeoutId) RETURNING id`);
    const insertDc = db.prepare(`INSERT INTO ${t.dcs} (session_id, position, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key, temp_key_count)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertTempKey = db.prepare(`INSERT INTO ${t.tempKeys} (session_id, dc_position, position, key_index, auth_key, expires_at) VALUES (?, ?, ?, ?, ?, ?)`);
    const insertChannel = db.prepare(`INSERT INTO ${t.channels} (session_id, channel_id, pts) VALUES (?, ?, ?)`);
    const insertPeer = db.prepare(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    const insertUsername = db.prepare(`INSERT INTO ${t.usernames} (session_id, type, id, position, username, username_key) VALUES (?, ?, ?, ?, ?, ?)`);
    const bit = (value: boolean | undefined) => (value === undefined ? null : value ? 1 : 0);
    for (const [name, seed] of [['alice', 1], ['bob', 2]] as const) {
      const session = fullSession(seed);
      const { user, state } = session;
      const id = insertSession.pluck().safeIntegers(true).get({
        name, homeDcId: session.homeDcId, apiId: session.apiId, userId: user?.id, userDcId: user?.dcId, userBot: bit(user?.bot),
        userUsername: user?.usernames?.[0], pts: state?.pts, qts: state?.qts, date: state?.date, seq: state?.seq, takeoutId: session.takeoutId,
      }) as bigint;
      session.dcs.forEach((dc, position) => {
        insertDc.run(id, position, dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.port, bit(dc.testMode), bit(dc.mediaOnly), dc.authKey ?? null, dc.tempAuthKeys?.length ?? null);
        dc.tempAuthKeys?.forEach((temp, i) => insertTempKey.run(id, position, i, temp.index, temp.key, temp.expiresAt));
      });
      for (const channel of session.channels) insertChannel.run(id, channel.id, channel.pts);
      for (const p of [peer('user', seed, { usernames: ['First', 'second'] }), peer('channel', 10 + seed, { min: true })]) {
        insertPeer.run(id, p.type, p.id, p.accessHash, p.phone ?? null, bit(p.min), p.updatedAt);
        p.usernames.forEach((username, i) => insertUsername.run(id, p.type, p.id, i, username, username.toLowerCase()));
      }
    }
    db.close();
  }

  /** What version 1 stored of fullSession(seed): one username, no premium flag. */
  function asV1(seed: number) {
    const session = fullSession(seed);
    const user = session.user as NonNullable<typeof session.user>;
    session.user = { id: user.id, dcId: user.dcId, bot: user.bot, usernames: [(user.usernames as string[])[0] as string] };
    return session;
  }

  it('upgrades in place without losing anything: snapshots, every key, channels, peers, usernames', async () => {
    const path = temp.file('v1.session');
    v1File(path);
    for (const [name, seed] of [['alice', 1], ['bob', 2]] as const) {
      const storage = new SqliteStorage({ path, name });
      expect(plain(await storage.load()), name).toEqual(asV1(seed));
      const main = fullSession(seed).dcs.find((dc) => dc.id === 2 && dc.mediaOnly !== true);
      expect(plain(await storage.authKeys.get(2))).toEqual(main?.authKey);
      expect(plain(await storage.authKeys.getTemp(2, 1))).toEqual(main?.tempAuthKeys?.[1]);
      expect(await storage.peers.getByUsername('SECOND')).toEqual(peer('user', seed, { usernames: ['First', 'second'] }));
      expect(await storage.peers.getById('channel', BigInt(10 + seed))).toEqual(peer('channel', 10 + seed, { min: true }));
      // And it takes the new operations at once.
      await storage.kv.set('salt', Uint8Array.of(seed));
      await storage.refMessages.store(1n, -1001n, seed);
      expect(await storage.kv.get('salt')).toEqual(Uint8Array.of(seed));
      await storage.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'mtstore_%'").pluck().all();
    expect(tables).not.toContain('mtstore_temp_auth_keys');
    expect(tables).not.toContain('mtstore_dcs_v2');
    const dcColumns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('mtstore_dcs');
    expect(dcColumns).not.toContain('auth_key');
    expect(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('mtstore_sessions')).not.toContain('user_username');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('under another table prefix, in a borrowed database with foreign keys on, as well', async () => {
    const path = temp.file('v1-prefixed.db');
    v1File(path, 'tg_');
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    const storage = new SqliteStorage({ database: db, name: 'bob', tablePrefix: 'tg_' });
    expect(plain(await storage.load())).toEqual(asV1(2));
    expect(await storage.listNames()).toEqual(['alice', 'bob']);
    db.close();
  });

  it('connections opening a version 1 file one after another: the first migrates, the others find the current version', async () => {
    const path = temp.file('v1-race.session');
    v1File(path);
    const storages = Array.from({ length: 4 }, () => new SqliteStorage({ path, name: 'alice' }));
    const loaded = await Promise.all(storages.map((s) => s.load()));
    for (const session of loaded) expect(plain(session)).toEqual(asV1(1));
    await Promise.all(storages.map((s) => s.close()));
  });
});

describe('migration from version 2 (usernames in the peer row)', () => {
  /** Version 2's peer rows, written with version 2's statements: usernames in their own table, by position. */
  const v2Peers = [
    peer('user', 1, { usernames: ['First', 'second', 'THIRD'], displayName: 'One', complete: Uint8Array.of(1, 2, 3) }),
    peer('user', 2, { usernames: [] }),
    peer('channel', 3, { min: true, usernames: ['Chan'] }),
    peer('chat', 4, { id: -4n, usernames: [], complete: new Uint8Array(0) }),
    peer('user', 5, { accessHash: -(2n ** 63n), min: false, usernames: ['five'] }),
  ];

  function v2File(path: string): void {
    const t = tableNames('mtstore_');
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    db.exec((MIGRATIONS[0] as (tables: typeof t) => string)(t));
    db.exec((MIGRATIONS[1] as (tables: typeof t) => string)(t));
    db.prepare(`INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', 2)`).run();
    const insertName = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const insertPeer = db.prepare(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertUsername = db.prepare(`INSERT INTO ${t.usernames} (session_id, type, id, position, username, username_key) VALUES (?, ?, ?, ?, ?, ?)`);
    const bit = (value: boolean | undefined) => (value === undefined ? null : value ? 1 : 0);
    for (const name of ['alice', 'bob']) {
      const id = insertName.get(name);
      for (const p of v2Peers) {
        // Each session holds the same peers; bob's phones differ (phones are unique per session anyway).
        insertPeer.run(id, p.type, p.id, p.accessHash, p.phone ?? null, bit(p.min), p.updatedAt, p.displayName ?? null, p.complete ?? null);
        p.usernames.forEach((username, i) => insertUsername.run(id, p.type, p.id, i, username, username.toLowerCase()));
      }
    }
    db.close();
  }

  it('upgrades a schema 2 file in place: every peer, its usernames in order, the lookups, phones, TL bytes', async () => {
    const path = temp.file('v2.session');
    v2File(path);
    for (const name of ['alice', 'bob']) {
      const storage = new SqliteStorage({ path, name });
      for (const p of v2Peers) expect(await storage.peers.getById(p.type, p.id), `${name} ${p.type} ${p.id}`).toEqual(p);
      expect(await storage.peers.getByUsername('second')).toEqual(v2Peers[0]);
      expect(await storage.peers.getByUsername('third')).toEqual(v2Peers[0]);
      expect(await storage.peers.getByUsername('FIVE')).toEqual(v2Peers[4]);
      // A min peer holds its name, but a lookup by name returns only usable hashes.
      expect(await storage.peers.getByUsername('chan')).toBeNull();
      expect(await storage.peers.getByPhone('10000000002')).toEqual(v2Peers[1]);
      const page = await storage.peers.list({ limit: 100 });
      expect(page.peers).toHaveLength(v2Peers.length);
      // The index still gives each name one owner: a batch moving a migrated name takes it away.
      await storage.peers.upsert([peer('user', 9, { usernames: ['Second'] })]);
      expect((await storage.peers.getById('user', 1n))?.usernames).toEqual(['First', 'THIRD']);
      expect((await storage.peers.getByUsername('SECOND'))?.id).toBe(9n);
      await storage.close();
    }
    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    expect(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('mtstore_peer_usernames')).toEqual(['session_id', 'username_key', 'type', 'id']);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v4'").all()).toEqual([]);
    expect(db.prepare('SELECT usernames FROM mtstore_peers WHERE type = 2 AND id = 1 AND session_id = 1').pluck().get()).toBe('["First","THIRD"]');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});

describe('migration from version 4 (the peer type as an INTEGER code)', () => {
  /** Peers of every type, ids on both sides of 0 and at the 64-bit ends, min, TL bytes, display names, phones, usernames. */
  const v4Peers = [
    peer('user', 1, { usernames: ['First', 'second', 'THIRD'], displayName: 'One', complete: Uint8Array.of(1, 2, 3) }),
    peer('user', 2, { id: -(2n ** 63n), usernames: [] }),
    peer('user', 3, { id: 2n ** 63n - 1n, min: true, usernames: ['Min_user'], complete: Uint8Array.of(9) }),
    peer('channel', 4, { id: -1001n, usernames: ['Chan', 'chan_two'], displayName: 'A channel' }),
    peer('channel', 5, { min: false, usernames: [], complete: new Uint8Array(0) }),
    peer('chat', 6, { id: -4n, usernames: [], displayName: 'A group' }),
    peer('chat', 7, { accessHash: -(2n ** 63n), usernames: ['chat_seven'] }),
  ];
  /** The order version 4 listed them in: its primary key, (type name, id). */
  const v4Order = [...v4Peers].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  /** A version 4 file written with version 4's layout: type names in the peer rows and the username index. */
  function v4File(path: string): void {
    const { db, t } = fileAtVersion(path, 4);
    const insertName = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const insertPeer = db.prepare(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete, usernames)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertKey = db.prepare(`INSERT INTO ${t.usernames} (session_id, username_key, type, id) VALUES (?, ?, ?, ?)`);
    const bit = (value: boolean | undefined) => (value === undefined ? null : value ? 1 : 0);
    const store = (session: unknown, p: Peer) => {
      insertPeer.run(session, p.type, p.id, p.accessHash, p.phone ?? null, bit(p.min), p.updatedAt, p.displayName ?? null, p.complete ?? null, JSON.stringify(p.usernames));
      for (const username of p.usernames) insertKey.run(session, username.toLowerCase(), p.type, p.id);
    };
    for (const name of ['alice', 'bob']) {
      const id = insertName.get(name);
      for (const p of v4Peers) store(id, p);
    }
    // A type no version wrote (a hand edit): copied as it is, and still read as damaged.
    store(insertName.get('carol'), { ...peer('user', 8), type: 'bot' as PeerType });
    db.close();
  }

  it('upgrades a schema 4 file in place: every peer, the lookups by username and phone, the listing order and its cursors', async () => {
    const path = temp.file('v4.session');
    v4File(path);
    for (const name of ['alice', 'bob']) {
      const storage = new SqliteStorage({ path, name });
      for (const p of v4Peers) expect(await storage.peers.getById(p.type, p.id), `${name} ${p.type} ${p.id}`).toEqual(p);
      // The same id under another type is another key.
      expect(await storage.peers.getById('chat', 1n)).toBeNull();
      expect(await storage.peers.getByUsername('SECOND')).toEqual(v4Peers[0]);
      expect(await storage.peers.getByUsername('chan_TWO')).toEqual(v4Peers[3]);
      expect(await storage.peers.getByUsername('chat_seven')).toEqual(v4Peers[6]);
      // A min peer holds its name, but a lookup by name returns only usable hashes.
      expect(await storage.peers.getByUsername('min_user')).toBeNull();
      expect(await storage.peers.getByPhone('10000000001')).toEqual(v4Peers[0]);
      expect(await storage.peers.getByPhone('10000000003')).toBeNull();
      // Paged two at a time: version 4's order, and a cursor it returned goes on where it did.
      const listed: Peer[] = [];
      const cursors: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { peers: Peer[]; cursor: string | null } = await storage.peers.list({ cursor, limit: 2 });
        listed.push(...page.peers);
        cursor = page.cursor;
        if (cursor !== null) cursors.push(cursor);
      } while (cursor !== null);
      expect(listed, name).toEqual(v4Order);
      expect(cursors).toEqual(['channel:5', 'chat:7', 'user:1']);
      expect((await storage.peers.list({ cursor: 'chat:-4', limit: 3 })).peers).toEqual(v4Order.slice(3, 6));
      // The indexes work as before: a batch takes a migrated name and a migrated phone from their holder.
      await storage.peers.upsert([peer('user', 9, { usernames: ['Second'], phone: '10000000001' })]);
      expect(await storage.peers.getById('user', 1n)).toEqual({ ...v4Peers[0], usernames: ['First', 'THIRD'], phone: undefined });
      expect((await storage.peers.getByUsername('SECOND'))?.id).toBe(9n);
      expect((await storage.peers.getByPhone('10000000001'))?.id).toBe(9n);
      await storage.close();
    }
    const carol = new SqliteStorage({ path, name: 'carol' });
    const error = await rejection(carol.peers.getByUsername('user_8'));
    expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
    expect(error.message).toContain('session "carol"');
    await carol.close();

    const db = new Database(path, { readonly: true });
    expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v5'").all()).toEqual([]);
    // Codes in both tables, the damaged name left as it was.
    const types = (table: string) => db.prepare(`SELECT DISTINCT typeof(type) || ':' || type FROM ${table} ORDER BY 1`).pluck().all();
    expect(types('mtstore_peers')).toEqual(['integer:0', 'integer:1', 'integer:2', 'text:bot']);
    expect(types('mtstore_peer_usernames')).toEqual(['integer:0', 'integer:1', 'integer:2', 'text:bot']);
    expect(db.prepare('SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid').raw().all('mtstore_peers')).toEqual([
      ['session_id', 'INTEGER', 1], ['type', 'INTEGER', 2], ['id', 'INTEGER', 3], ['access_hash', 'INTEGER', 0], ['phone', 'TEXT', 0], ['min', 'INTEGER', 0],
      ['updated_at', 'INTEGER', 0], ['display_name', 'TEXT', 0], ['complete', 'BLOB', 0], ['usernames', 'TEXT', 0],
    ]);
    expect(db.prepare('SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid').raw().all('mtstore_peer_usernames')).toEqual([
      ['session_id', 'INTEGER', 1], ['username_key', 'TEXT', 2], ['type', 'INTEGER', 0], ['id', 'INTEGER', 0],
    ]);
    // The unique partial phone index (led by the phone since version 8) and the cascade from sessions, as before.
    expect(db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'mtstore_peers_phone'").pluck().get()).toBe(
      'CREATE UNIQUE INDEX mtstore_peers_phone ON mtstore_peers (phone, session_id) WHERE phone IS NOT NULL',
    );
    expect(db.prepare('SELECT "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)').raw().all('mtstore_peers')).toEqual([
      ['mtstore_sessions', 'session_id', 'id', 'CASCADE'],
    ]);
    expect(db.prepare('SELECT count(*) FROM pragma_foreign_key_list(?)').pluck().get('mtstore_peer_usernames')).toBe(0);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('in a borrowed database with foreign keys on, a session delete still cascades to its peers', async () => {
    const path = temp.file('v4-borrowed.db');
    v4File(path);
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    const storage = new SqliteStorage({ database: db, name: 'alice' });
    expect(await storage.peers.getById('chat', -4n)).toEqual(v4Peers[5]);
    db.prepare("DELETE FROM mtstore_sessions WHERE name = 'alice'").run();
    expect(db.prepare("SELECT count(*) FROM mtstore_peers WHERE session_id = 1").pluck().get()).toBe(0);
    expect(db.prepare("SELECT count(*) FROM mtstore_peers WHERE session_id = 2").pluck().get()).toBe(v4Peers.length);
    db.close();
  });
});

describe('migration from version 5 (auth keys in a rowid table)', () => {
  const key = (n: number): Uint8Array => new Uint8Array(256).fill(n);
  /** A version 5 file: keys of two sessions (permanent, temp, media-only) in the WITHOUT ROWID table. */
  function v5File(path: string): void {
    const { db, t } = fileAtVersion(path, 5);
    const insertName = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const insertKey = db.prepare(`INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, auth_key, expires_at) VALUES (?, ?, ?, ?, ?, ?)`);
    for (const [n, name] of ['alice', 'bob'].entries()) {
      const id = insertName.get(name);
      // Inserted out of address order: the copy is in address order either way.
      insertKey.run(id, 4, 0, -1, key(10 * n + 4), null);
      insertKey.run(id, 2, 1, -1, key(10 * n + 3), null);
      insertKey.run(id, 2, 0, 1, key(10 * n + 2), 1_900_000_001);
      insertKey.run(id, 2, 0, 0, key(10 * n + 1), 1_900_000_000);
      insertKey.run(id, 2, 0, -1, key(10 * n), null);
    }
    db.close();
  }

  it('upgrades a schema 5 file in place: every key of every session, their expiries, and the rewrite of a key by its row id', async () => {
    const path = temp.file('v5.session');
    v5File(path);
    for (const [n, name] of ['alice', 'bob'].entries()) {
      const storage = new SqliteStorage({ path, name });
      expect(plain(await storage.authKeys.entries()), name).toEqual([
        { dcId: 2, mediaOnly: false, authKey: key(10 * n), tempAuthKeys: [{ index: 0, key: key(10 * n + 1), expiresAt: 1_900_000_000 }, { index: 1, key: key(10 * n + 2), expiresAt: 1_900_000_001 }] },
        { dcId: 2, mediaOnly: true, authKey: key(10 * n + 3), tempAuthKeys: [] },
        { dcId: 4, mediaOnly: false, authKey: key(10 * n + 4), tempAuthKeys: [] },
      ]);
      // Twice: the first write reads the row's id, the second rewrites by it.
      await storage.authKeys.set(2, key(50 + n));
      await storage.authKeys.set(2, key(60 + n));
      expect(plain(await storage.authKeys.get(2))).toEqual(key(60 + n));
      expect(plain(await storage.authKeys.getTemp(2, 1))).toEqual({ index: 1, key: key(10 * n + 2), expiresAt: 1_900_000_001 });
      // A new key lands beside them; the unique address still makes a second write an update.
      await storage.authKeys.set(5, key(70));
      await storage.authKeys.set(5, key(71));
      expect(plain(await storage.authKeys.get(5))).toEqual(key(71));
      await storage.close();
    }
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v6%'").all()).toEqual([]);
    // The key bytes live beside the address rows since version 9 (its own test below).
    expect(db.prepare('SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid').raw().all('mtstore_auth_keys')).toEqual([
      ['id', 'INTEGER', 1], ['session_id', 'INTEGER', 0], ['dc_id', 'INTEGER', 0], ['media_only', 'INTEGER', 0], ['slot', 'INTEGER', 0], ['expires_at', 'INTEGER', 0],
    ]);
    // The address is unique; ids follow address order; permanent keys keep a NULL expiry.
    const unique = db.prepare(`SELECT name FROM pragma_index_list('mtstore_auth_keys') WHERE "unique" = 1`).pluck().all() as string[];
    expect(unique).toHaveLength(1);
    expect(db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').pluck().all(unique[0])).toEqual(['session_id', 'dc_id', 'media_only', 'slot']);
    expect(db.prepare('SELECT session_id, dc_id, media_only, slot, expires_at FROM mtstore_auth_keys WHERE id <= 10 ORDER BY id').raw().all()).toEqual([
      [1, 2, 0, -1, null], [1, 2, 0, 0, 1_900_000_000], [1, 2, 0, 1, 1_900_000_001], [1, 2, 1, -1, null], [1, 4, 0, -1, null],
      [2, 2, 0, -1, null], [2, 2, 0, 0, 1_900_000_000], [2, 2, 0, 1, 1_900_000_001], [2, 2, 1, -1, null], [2, 4, 0, -1, null],
    ]);
    expect(() => db.prepare('INSERT INTO mtstore_auth_keys (session_id, dc_id, media_only, slot) VALUES (1, 2, 0, -1)').run()).toThrow(/UNIQUE/);
    // AUTOINCREMENT: the sequence is the table's, under its final name.
    expect(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'mtstore_auth_keys'").pluck().get()).toBe(12);
    // The cascade from sessions, as before.
    expect(db.prepare('SELECT "table", "from", "to", on_delete FROM pragma_foreign_key_list(?)').raw().all('mtstore_auth_keys')).toEqual([
      ['mtstore_sessions', 'session_id', 'id', 'CASCADE'],
    ]);
    db.prepare("DELETE FROM mtstore_sessions WHERE name = 'alice'").run();
    expect(db.prepare('SELECT DISTINCT session_id FROM mtstore_auth_keys').pluck().all()).toEqual([2]);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});

describe('migration from version 6 (the lease token in the key rows)', () => {
  const key = (n: number): Uint8Array => new Uint8Array(256).fill(n);
  /** A version 6 file with keys of two sessions and the lease table as version 6 created it: "alice" leased (token 3). */
  function v6File(path: string): void {
    const { db, t } = fileAtVersion(path, 6);
    db.exec(`CREATE TABLE mtstore_leases (name TEXT PRIMARY KEY NOT NULL, token INTEGER NOT NULL, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO mtstore_leases VALUES ('alice', 3, '{"host":"h","pid":1}', ${Date.now() + 600_000});`);
    const insertName = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const insertKey = db.prepare(`INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, auth_key, expires_at) VALUES (?, ?, 0, ?, ?, ?)`);
    for (const [n, name] of ['alice', 'bob'].entries()) {
      const id = insertName.get(name);
      insertKey.run(id, 2, -1, key(10 * n), null);
      insertKey.run(id, 2, 0, key(10 * n + 1), 1_900_000_000);
    }
    db.close();
  }

  it('every key row gets a NULL lease_token; the lease table gets its triggers with the first lease use; a held lease fences the rewrite from then on', async () => {
    const path = temp.file('v6.session');
    v6File(path);
    const alice = new SqliteStorage({ path, name: 'alice' });
    const bob = new SqliteStorage({ path, name: 'bob' });
    const db = new Database(path);
    // Version 9 keeps the token beside the key's bytes, under the key row's id.
    const tokens = (): unknown[] => db.prepare('SELECT session_id, slot, lease_token FROM mtstore_auth_keys JOIN mtstore_auth_key_bytes USING (id) ORDER BY id').raw().all();
    const triggers = (): unknown[] => db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'mtstore_leases' ORDER BY name").pluck().all();
    try {
      expect(plain(await bob.authKeys.get(2))).toEqual(key(10));
      expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
      expect(db.prepare('SELECT name, type FROM pragma_table_info(?) ORDER BY cid').raw().all('mtstore_auth_key_bytes')).toEqual([['id', 'INTEGER'], ['lease_token', 'INTEGER'], ['auth_key', 'BLOB']]);
      // No token is copied from the lease table: its token changes were not followed before.
      expect(tokens()).toEqual([[1, -1, null], [1, 0, null], [2, -1, null], [2, 0, null]]);
      expect(triggers()).toEqual([]);
      // Without a lease the keys are read and rewritten as before (twice: by the row id the second time).
      for (const n of [50, 51]) await bob.authKeys.set(2, key(n));
      expect(plain(await bob.authKeys.get(2))).toEqual(key(51));
      expect(plain(await bob.authKeys.getTemp(2, 0))).toEqual({ index: 0, key: key(11), expiresAt: 1_900_000_000 });

      // Alice's lease, still held by a version 6 process: taken with force (the triggers come first).
      const token = Number((await alice.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false })).token);
      expect(token).toBe(4);
      expect(triggers()).toEqual(['mtstore_leases_token_insert', 'mtstore_leases_token_update']);
      expect(tokens()).toEqual([[1, -1, 4], [1, 0, 4], [2, -1, null], [2, 0, null]]);
      for (const n of [60, 61]) await alice.authKeys.set(2, key(n));
      expect(plain(await alice.authKeys.get(2))).toEqual(key(61));
      // The version 6 process takes it back the way it acquires (an upsert of the lease row): alice's rewrite is refused.
      db.prepare(`INSERT INTO mtstore_leases (name, token, owner, expires_at) VALUES ('alice', 5, 'v6', ?)
        ON CONFLICT (name) DO UPDATE SET token = excluded.token, owner = excluded.owner, expires_at = excluded.expires_at`).run(Date.now() + 600_000);
      expect(tokens()).toEqual([[1, -1, 5], [1, 0, 5], [2, -1, null], [2, 0, null]]);
      expect(await alice.authKeys.set(2, key(62)).then(() => 'resolved', (error: { code?: string }) => error.code)).toBe('MTSTORE_LEASE_LOST');
      expect(plain(await bob.authKeys.get(2))).toEqual(key(51));
      expect(db.prepare('SELECT auth_key FROM mtstore_auth_keys JOIN mtstore_auth_key_bytes USING (id) WHERE session_id = 1 AND slot = -1').pluck().get()).toEqual(Buffer.from(key(61)));
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      await alice.close();
      await bob.close();
      db.close();
    }
  });
});

describe('migration from version 7 (the phone index led by the phone)', () => {
  const indexColumns = (db: Database.Database): unknown[] => db.prepare("SELECT name FROM pragma_index_info('mtstore_peers_phone') ORDER BY seqno").pluck().all();
  /** A version 7 file: two sessions holding the same phone, each in one peer, and a min peer with a phone in "alice". */
  function v7File(path: string): void {
    const { db, t } = fileAtVersion(path, 7);
    expect(indexColumns(db)).toEqual(['session_id', 'phone']);
    const insertName = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const insertPeer = db.prepare(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete, usernames)
      VALUES (?, 2, ?, ?, ?, ?, 1700000000, ?, ?, ?)`);
    const insertKey = db.prepare(`INSERT INTO ${t.usernames} (session_id, username_key, type, id) VALUES (?, ?, 2, ?)`);
    for (const name of ['alice', 'bob']) {
      const id = insertName.get(name);
      insertPeer.run(id, 5, 55, '15550000005', null, `${name} 5`, Buffer.from([1, 2, 3]), '["Five"]');
      insertKey.run(id, 'five', 5);
    }
    insertPeer.run(1, 6, 66, '15550000006', 1, null, null, '[]');
    db.close();
  }

  it('the index is made again led by the phone: lookups by phone find each session its own peer, phones stay unique per session and move', async () => {
    const path = temp.file('v7.session');
    v7File(path);
    const alice = new SqliteStorage({ path, name: 'alice' });
    const bob = new SqliteStorage({ path, name: 'bob' });
    const db = new Database(path);
    const user = (id: number, fields: Partial<Peer>): Peer => ({ type: 'user', id: BigInt(id), accessHash: BigInt(11 * id), usernames: [], updatedAt: 1_700_000_000, ...fields });
    try {
      const five = (name: string): Peer => user(5, { phone: '15550000005', usernames: ['Five'], displayName: `${name} 5`, complete: new Uint8Array([1, 2, 3]) });
      expect(plain(await alice.peers.getByPhone('15550000005'))).toEqual(five('alice'));
      expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
      expect(indexColumns(db)).toEqual(['phone', 'session_id']);
      expect(db.prepare("SELECT sql FROM sqlite_master WHERE name = 'mtstore_peers_phone'").pluck().get()).toMatch(/UNIQUE INDEX .* WHERE phone IS NOT NULL$/);
      expect(plain(await bob.peers.getByPhone('15550000005'))).toEqual(five('bob'));
      // A min peer keeps its phone; a lookup by phone never returns a min peer.
      expect(await alice.peers.getById('user', 6n)).toEqual(user(6, { phone: '15550000006', min: true }));
      expect(await alice.peers.getByPhone('15550000006')).toBeNull();
      expect(await bob.peers.getByPhone('15550000006')).toBeNull();
      // Unique per session: a write of a phone another peer of the session holds moves it.
      await alice.peers.upsert([user(7, { phone: '15550000005' })]);
      expect(await alice.peers.getByPhone('15550000005')).toEqual(user(7, { phone: '15550000005' }));
      expect((await alice.peers.getById('user', 5n))?.phone).toBeUndefined();
      expect(plain(await bob.peers.getByPhone('15550000005'))).toEqual(five('bob'));
      expect(() => db.prepare("UPDATE mtstore_peers SET phone = '15550000006' WHERE session_id = 1 AND id = 7").run()).toThrow(/UNIQUE/);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      await alice.close();
      await bob.close();
      db.close();
    }
  });
});

describe('migration from version 8 (key bytes beside the address rows)', () => {
  const key = (n: number): Uint8Array => new Uint8Array(256).fill(n);
  /**
   * A version 8 file: keys of two sessions (permanent, temp, media-only) in `auth_keys`, the
   * lease table with version 8's triggers (they wrote `auth_keys.lease_token`), and "alice"
   * leased with token 3, her key rows carrying it as version 8's acquire left them.
   */
  function v8File(path: string): void {
    const { db, t } = fileAtVersion(path, 8);
    const update = `UPDATE ${t.authKeys} SET lease_token = NEW.token WHERE session_id = (SELECT id FROM ${t.sessions} WHERE name = NEW.name);`;
    db.exec(`CREATE TABLE mtstore_leases (name TEXT PRIMARY KEY NOT NULL, token INTEGER NOT NULL, owner TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TRIGGER mtstore_leases_token_insert AFTER INSERT ON mtstore_leases BEGIN ${update} END;
      CREATE TRIGGER mtstore_leases_token_update AFTER UPDATE OF token ON mtstore_leases BEGIN ${update} END;`);
    const insertName = db.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const insertKey = db.prepare(`INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, auth_key, expires_at) VALUES (?, ?, ?, ?, ?, ?)`);
    for (const [n, name] of ['alice', 'bob'].entries()) {
      const id = insertName.get(name);
      insertKey.run(id, 2, 0, -1, key(10 * n), null);
      insertKey.run(id, 2, 0, 0, key(10 * n + 1), 1_900_000_000);
      insertKey.run(id, 2, 1, -1, key(10 * n + 2), null);
      insertKey.run(id, 4, 0, -1, key(10 * n + 3), null);
    }
    db.prepare(`INSERT INTO mtstore_leases VALUES ('alice', 3, '{"host":"h","pid":1}', ?)`).run(Date.now() + 600_000);
    expect(db.prepare('SELECT session_id, lease_token FROM mtstore_auth_keys ORDER BY id').raw().all()).toEqual([[1, 3], [1, 3], [1, 3], [1, 3], [2, null], [2, null], [2, null], [2, null]]);
    db.close();
  }

  const entries = (n: number) => [
    { dcId: 2, mediaOnly: false, authKey: key(10 * n), tempAuthKeys: [{ index: 0, key: key(10 * n + 1), expiresAt: 1_900_000_000 }] },
    { dcId: 2, mediaOnly: true, authKey: key(10 * n + 2), tempAuthKeys: [] },
    { dcId: 4, mediaOnly: false, authKey: key(10 * n + 3), tempAuthKeys: [] },
  ];

  it('every key’s bytes move under its row’s id with a NULL token, the old triggers go; reads, rewrites, deletes and the lease fence work on the new tables', async () => {
    const path = temp.file('v8.session');
    v8File(path);
    const alice = new SqliteStorage({ path, name: 'alice' });
    const bob = new SqliteStorage({ path, name: 'bob' });
    const db = new Database(path);
    db.pragma('foreign_keys = ON');
    const bytesRows = (): unknown[] => db.prepare('SELECT id, lease_token, auth_key FROM mtstore_auth_key_bytes ORDER BY id').raw().all();
    const tokens = (): unknown[] => db.prepare('SELECT id, lease_token FROM mtstore_auth_key_bytes ORDER BY id').raw().all();
    const ids = (): unknown[] => db.prepare('SELECT id FROM mtstore_auth_key_bytes ORDER BY id').pluck().all();
    const triggers = (): unknown[] => db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").pluck().all();
    const orphans = (): unknown =>
      db.prepare(`SELECT (SELECT count(*) FROM mtstore_auth_key_bytes b WHERE NOT EXISTS (SELECT 1 FROM mtstore_auth_keys k WHERE k.id = b.id))
        + (SELECT count(*) FROM mtstore_auth_keys k WHERE NOT EXISTS (SELECT 1 FROM mtstore_auth_key_bytes b WHERE b.id = k.id))`).pluck().get();
    try {
      expect(plain(await bob.authKeys.entries())).toEqual(entries(1));
      expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
      expect(db.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').pluck().all('mtstore_auth_keys')).toEqual(['id', 'session_id', 'dc_id', 'media_only', 'slot', 'expires_at']);
      // Same ids, every key's bytes, and no token: the old triggers' copies are not trusted.
      expect(bytesRows()).toEqual([0, 1, 2, 3, 10, 11, 12, 13].map((n, i) => [i + 1, null, Buffer.from(key(n))]));
      expect(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'mtstore_auth_keys'").pluck().get()).toBe(8);
      // Only the delete trigger: the lease triggers come back with the first lease use.
      expect(triggers()).toEqual(['mtstore_auth_keys_bytes_delete']);
      expect(plain(await alice.authKeys.entries())).toEqual(entries(0));
      expect(plain(await alice.authKeys.getTemp(2, 0))).toEqual({ index: 0, key: key(1), expiresAt: 1_900_000_000 });

      // Alice's lease, still held by a version 8 process: taken with force (the triggers come first).
      expect(Number((await alice.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false })).token)).toBe(4);
      expect(triggers()).toEqual(['mtstore_auth_keys_bytes_delete', 'mtstore_leases_token_insert', 'mtstore_leases_token_update']);
      expect(tokens()).toEqual([[1, 4], [2, 4], [3, 4], [4, 4], [5, null], [6, null], [7, null], [8, null]]);
      // Twice: the second write rewrites the bytes row by its id, the key row stays as it was.
      for (const n of [60, 61]) await alice.authKeys.set(2, key(n));
      expect(plain(await alice.authKeys.get(2))).toEqual(key(61));
      expect(bytesRows()[0]).toEqual([1, 4, Buffer.from(key(61))]);
      // A takeover the way version 8 acquired (an upsert of the lease row) moves the tokens: alice's rewrite is refused.
      db.prepare(`INSERT INTO mtstore_leases (name, token, owner, expires_at) VALUES ('alice', 5, 'other', ?)
        ON CONFLICT (name) DO UPDATE SET token = excluded.token, owner = excluded.owner, expires_at = excluded.expires_at`).run(Date.now() + 600_000);
      expect(tokens().slice(0, 4)).toEqual([[1, 5], [2, 5], [3, 5], [4, 5]]);
      expect(await alice.authKeys.set(2, key(62)).then(() => 'resolved', (error: { code?: string }) => error.code)).toBe('MTSTORE_LEASE_LOST');
      expect(bytesRows()[0]).toEqual([1, 5, Buffer.from(key(61))]);

      // Deletes take the bytes rows with the key rows: by DC, and by the cascade from a session row.
      await bob.authKeys.deleteByDc(2);
      expect(ids()).toEqual([1, 2, 3, 4, 8]);
      await bob.authKeys.set(5, key(70));
      expect(plain(await bob.authKeys.get(5))).toEqual(key(70));
      expect(db.prepare("SELECT id FROM mtstore_auth_keys WHERE dc_id = 5").pluck().get()).toBe(9);
      db.prepare("DELETE FROM mtstore_sessions WHERE name = 'bob'").run();
      expect(ids()).toEqual([1, 2, 3, 4]);
      expect(orphans()).toBe(0);
      expect(db.pragma('foreign_key_check')).toEqual([]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      await alice.close();
      await bob.close();
      db.close();
    }
  });
});

describe('migration from version 9 (reference sequence numbers never given out again)', () => {
  it('every reference keeps its seq and order; the counter starts at the largest, so an old cursor lists what is stored after a clear', async () => {
    const path = temp.file('v9.session');
    const { db: raw, t } = fileAtVersion(path, 9);
    const insertName = raw.prepare(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`).pluck();
    const alice = insertName.get('alice');
    const bob = insertName.get('bob');
    const insertRef = raw.prepare(`INSERT INTO ${t.refMessages} (seq, session_id, peer_id, chat_id, message_id) VALUES (?, ?, ?, -100, ?)`);
    // Bob's reference holds the largest seq: alice's clear below must not bring the counter back under it either.
    for (const [seq, session, peerId] of [[3, alice, 1], [5, bob, 9], [7, alice, 2], [8, alice, 1], [12, bob, 8]] as const) insertRef.run(seq, session, peerId, seq);
    raw.close();
    const a = new SqliteStorage({ path, name: 'alice' });
    const b = new SqliteStorage({ path, name: 'bob' });
    const db = new Database(path);
    try {
      const ids = (page: { refs: { peerId: bigint; messageId: number }[] }): string[] => page.refs.map((r) => `${r.peerId}@${r.messageId}`);
      expect(ids(await a.refMessages.list({}))).toEqual(['1@3', '2@7', '1@8']);
      expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
      expect(db.prepare('SELECT seq, session_id, peer_id, chat_id, message_id FROM mtstore_ref_messages ORDER BY seq').raw().all()).toEqual(
        [[3, 1, 1, -100, 3], [5, 2, 9, -100, 5], [7, 1, 2, -100, 7], [8, 1, 1, -100, 8], [12, 2, 8, -100, 12]],
      );
      expect(db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'mtstore_ref_messages'").pluck().get()).toBe(12);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE tbl_name = 'mtstore_ref_messages' AND type = 'index' AND sql IS NOT NULL").pluck().all()).toEqual(['mtstore_ref_messages_peer']);
      expect(await a.refMessages.getByPeer(1n)).toEqual({ chatId: -100n, messageId: 8 });
      const first = await a.refMessages.list({ limit: 2 });
      expect(first.cursor).toBe('7');
      await b.refMessages.clear();
      await a.refMessages.clear();
      await a.refMessages.store(4n, -100n, 40);
      // Stored after the clear, so after every cursor handed out before it.
      expect(ids(await a.refMessages.list({ cursor: first.cursor as string }))).toEqual(['4@40']);
      expect(db.prepare('SELECT seq FROM mtstore_ref_messages').pluck().all()).toEqual([13]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      await a.close();
      await b.close();
      db.close();
    }
  });
});

describe('migration from version 2 (server session lifetime)', () => {
  it('server sessions live on with no expiry, last used when created; the sweep index exists', async () => {
    const path = temp.file('v2-server.session');
    const t = tableNames('mtstore_');
    const db = new Database(path);
    db.exec((MIGRATIONS[0] as (tables: typeof t) => string)(t));
    db.exec((MIGRATIONS[1] as (tables: typeof t) => string)(t));
    db.prepare(`INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', 2)`).run();
    db.prepare(`INSERT INTO ${t.serverSessions} (auth_key_id, session_id, created_at) VALUES (?, ?, ?)`).run(-9223372036854775808n, 1n, 1_700_000_000);
    db.close();
    let now = Date.now();
    const storage = new SqliteSessionStorage({ path, ttlSeconds: 5, clock: () => now });
    expect(await storage.sessionInfo(-9223372036854775808n, 1n)).toEqual({ lastUsedAt: 1_700_000_000_000, expiresAt: null });
    expect(await storage.createSession(2n, 2n)).toBe(true);
    now += 5_000;
    expect(await storage.hasSession(2n, 2n)).toBe(false);
    expect(await storage.expireSessions()).toEqual([{ authKeyId: 2n, sessionId: 2n }]);
    expect(await storage.listSessions(-9223372036854775808n)).toEqual([1n]);
    await storage.close();
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mtstore_server_sessions'").pluck().all()).toContain('mtstore_server_sessions_expiry');
    // The sweep's query goes through that index, not a scan of the table.
    const plan = check.prepare('EXPLAIN QUERY PLAN SELECT auth_key_id, session_id FROM mtstore_server_sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?').all(1, 10) as { detail: string }[];
    expect(plan.map((row) => row.detail).join(' ')).toContain('mtstore_server_sessions_expiry');
    check.close();
  });
});

describe('files that are not mtstore databases', () => {
  it('a file that is not an SQLite database gives CorruptDataError, and is not touched', async () => {
    const path = temp.file('notes.txt');
    const text = 'These are my notes, not a database.\n'.repeat(100);
    writeFileSync(path, text);
    for (const storage of [new SqliteStorage(path), new SqliteSessionStorage(path)]) {
      const call = storage instanceof SqliteStorage ? storage.load() : storage.hasSession(1n, 1n);
      const error = await rejection(call);
      expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
      expect(error.message).toContain(`${path} is not an SQLite database`);
      await storage.close();
    }
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  /** A private copy of a real session file another library wrote (test/fixtures). */
  function copyOf(fixture: string): string {
    const path = temp.file(fixture);
    copyFileSync(fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url)), path);
    return path;
  }

  /** mtcute 0.29's own SqliteStorage (@mtcute/node) writing a key and a kv entry. */
  async function mtcuteFile(): Promise<string> {
    const { SqliteStorage: MtcuteSqliteStorage, NodePlatform } = await import('@mtcute/node');
    const { LogManager } = await import('@mtcute/core/utils.js');
    const path = temp.file('mtcute.session');
    const storage = new MtcuteSqliteStorage(path);
    const platform = new NodePlatform();
    storage.driver.setup(new LogManager('test', platform), platform);
    await storage.driver.load();
    await storage.authKeys.set(2, new Uint8Array(256).fill(7));
    await storage.kv.set('dc', Uint8Array.of(2));
    await storage.driver.save();
    await storage.driver.destroy();
    return path;
  }

  const foreign: Array<[string, () => Promise<string>]> = [
    ['Telethon', async () => copyOf('telethon.session')],
    ['Pyrogram', async () => copyOf('pyrogram.session')],
    ['mtcute', mtcuteFile],
  ];
  for (const [library, make] of foreign) {
    it(`a ${library} session file is refused with MigrationError naming the library and mtstore import, and left byte for byte`, async () => {
      const path = await make();
      const before = readFileSync(path);
      for (const storage of [new SqliteStorage(path), new SqliteSessionStorage(path)]) {
        const error = await rejection(storage instanceof SqliteStorage ? storage.load() : storage.hasSession(1n, 1n));
        expect(error.code).toBe('MTSTORE_MIGRATION');
        expect((error as { foreignLibrary?: string }).foreignLibrary).toBe(library.toLowerCase());
        expect(error.message).toContain(`${path} is a ${library} session file`);
        expect(error.message).toContain(`mtstore import ${path} <target>`);
        await storage.close();
      }
      expect(readFileSync(path).equals(before)).toBe(true);
    });
  }

  it('a Telethon file handed over as a Database is the application’s call: mtstore adds its tables beside Telethon’s', async () => {
    const path = copyOf('telethon.session');
    const db = new Database(path);
    const borrowed = new SqliteStorage({ database: db });
    await borrowed.save(minimalSession());
    expect(db.prepare('SELECT version FROM version').pluck().get()).toBe(7);
    db.close();
  });

  it('tables named like Pyrogram’s with other columns are not taken for a Pyrogram file', async () => {
    const path = temp.file('lookalike.db');
    edit(path, 'CREATE TABLE version (n INTEGER); CREATE TABLE sessions (id INTEGER); CREATE TABLE peers (id INTEGER);');
    const storage = new SqliteStorage(path);
    await storage.save(minimalSession());
    expect(await storage.load()).toEqual(minimalSession());
    await storage.close();
  });

  it('a sessions table with Pyrogram’s columns is a Pyrogram file, whatever tables are beside it', async () => {
    const path = temp.file('pyrogram-sessions-only.session');
    edit(path, 'CREATE TABLE sessions (dc_id INTEGER, api_id INTEGER, test_mode INTEGER, auth_key BLOB, date INTEGER, user_id INTEGER, is_bot INTEGER);');
    const error = await rejection(new SqliteStorage(path).load());
    expect(error.code).toBe('MTSTORE_MIGRATION');
    expect((error as { foreignLibrary?: string }).foreignLibrary).toBe('pyrogram');
  });

  it('mtcute’s repository table names without mtcute_migrations (which mtcute creates first) are not taken for an mtcute file', async () => {
    const path = temp.file('mtcute-lookalike.db');
    edit(path, 'CREATE TABLE auth_keys (dc INTEGER); CREATE TABLE temp_auth_keys (dc INTEGER); CREATE TABLE key_value (key TEXT); CREATE TABLE message_refs (peer_id INTEGER);');
    const storage = new SqliteStorage(path);
    await storage.save(minimalSession());
    expect(await storage.load()).toEqual(minimalSession());
    await storage.close();
  });

  it('an SQLite file with unrelated tables gets the mtstore tables beside them', async () => {
    const path = temp.file('app.db');
    edit(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann');");
    const storage = new SqliteStorage(path);
    await storage.save(minimalSession());
    expect(storage.database.prepare('SELECT name FROM users').pluck().all()).toEqual(['ann']);
    await storage.close();
  });
});

describe('rows damaged by hand', () => {
  async function saved(file: string): Promise<string> {
    const path = temp.file(file);
    for (const name of ['alice', 'bob']) {
      const storage = new SqliteStorage({ path, name });
      await storage.save(fullSession(1));
      await storage.peers.upsert([peer('user', 1), peer('channel', 2)]);
      await storage.close();
    }
    return path;
  }
  const alice = "(SELECT id FROM mtstore_sessions WHERE name = 'alice')";
  const keyBytes = (value: string, where: string): string =>
    `UPDATE mtstore_auth_key_bytes SET auth_key = ${value} WHERE id = (SELECT id FROM mtstore_auth_keys WHERE session_id = ${alice} AND ${where})`;
  const cases: Array<[string, string, RegExp]> = [
    ['an auth key blob of the wrong length', keyBytes('zeroblob(100)', 'dc_id = 1 AND slot = -1'), /auth key for DC 1 is 100 bytes, expected 256/],
    ['an auth key stored as text', keyBytes("'abc'", 'dc_id = 1 AND slot = -1'), /auth key for DC 1 is string/],
    ['a temp key of the wrong length', keyBytes('zeroblob(255)', 'dc_id = 2 AND slot = 0'), /auth key for DC 2 is 255 bytes/],
    ['a temp key without expiry', `UPDATE mtstore_auth_keys SET expires_at = NULL WHERE session_id = ${alice} AND dc_id = 2 AND slot = 1`, /expiresAt/],
    ['a slot below -1', `UPDATE mtstore_auth_keys SET slot = -5 WHERE session_id = ${alice} AND dc_id = 2 AND slot = 1`, /index/],
    ['user usernames that are not JSON', `UPDATE mtstore_sessions SET user_usernames = 'user_1' WHERE name = 'alice'`, /usernames are not a JSON array/],
    ['a user username that is not one', `UPDATE mtstore_sessions SET user_usernames = '["a b"]' WHERE name = 'alice'`, /usernames\[0\]/],
    ['a user id that is text', `UPDATE mtstore_sessions SET user_id = 'abc' WHERE name = 'alice'`, /user id is not a 64-bit integer/],
    ['a channel id that is a float', `UPDATE mtstore_channels SET channel_id = 1.5 WHERE rowid = (SELECT min(rowid) FROM mtstore_channels WHERE session_id = ${alice})`, /channel id is not a 64-bit integer/],
    ['a negative pts', `UPDATE mtstore_sessions SET state_pts = -5 WHERE name = 'alice'`, /state\.pts/],
    ['a half-written state', `UPDATE mtstore_sessions SET state_qts = NULL WHERE name = 'alice'`, /state\.qts/],
    ['a port that is text', `UPDATE mtstore_dcs SET port = 'https' WHERE session_id = ${alice} AND position = 0`, /port/],
    ['a boolean column holding 2', `UPDATE mtstore_dcs SET media_only = 2 WHERE session_id = ${alice} AND position = 0`, /mediaOnly/],
  ];
  for (const [what, sql, message] of cases) {
    it(`${what}: load rejects CorruptDataError naming the session; other sessions still load`, async () => {
      const path = await saved(`${what.replace(/\W+/g, '-')}.db`);
      edit(path, sql);
      const storage = new SqliteStorage({ path, name: 'alice' });
      const error = await rejection(storage.load());
      expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
      expect(error.message).toContain('session "alice"');
      expect(error.message).toMatch(message);
      const bob = new SqliteStorage({ path, name: 'bob' });
      expect(plain(await bob.load())).toEqual(fullSession(1));
      await Promise.all([storage.close(), bob.close()]);
    });
  }

  const peerCases: Array<[string, string]> = [
    ['an access hash that is a float', `UPDATE mtstore_peers SET access_hash = 1.5 WHERE session_id = ${alice} AND id = 1`],
    ['an access hash that is text', `UPDATE mtstore_peers SET access_hash = 'x' WHERE session_id = ${alice} AND id = 1`],
    ['an unknown peer type', `UPDATE mtstore_peers SET type = 'bot' WHERE session_id = ${alice} AND id = 1; UPDATE mtstore_peer_usernames SET type = 'bot' WHERE session_id = ${alice} AND id = 1`],
    ['an unknown peer type code', `UPDATE mtstore_peers SET type = 3 WHERE session_id = ${alice} AND id = 1; UPDATE mtstore_peer_usernames SET type = 3 WHERE session_id = ${alice} AND id = 1`],
    ['a negative peer type code', `UPDATE mtstore_peers SET type = -1 WHERE session_id = ${alice} AND id = 1; UPDATE mtstore_peer_usernames SET type = -1 WHERE session_id = ${alice} AND id = 1`],
    ['a phone with letters', `UPDATE mtstore_peers SET phone = 'call me' WHERE session_id = ${alice} AND id = 1`],
    ['a peer id that is text', `UPDATE mtstore_peers SET id = 'one' WHERE session_id = ${alice} AND id = 1; UPDATE mtstore_peer_usernames SET id = 'one' WHERE session_id = ${alice} AND id = 1`],
  ];
  for (const [what, sql] of peerCases) {
    it(`${what}: the peer lookup rejects CorruptDataError naming the session`, async () => {
      const path = await saved(`peer-${what.replace(/\W+/g, '-')}.db`);
      edit(`${path}`, `PRAGMA foreign_keys = OFF; ${sql}`);
      const storage = new SqliteStorage({ path, name: 'alice' });
      // By username, and by phone where the row keeps its phone (the lookup by phone reads
      // its row without the phone column, the type and id at other positions: rows.ts).
      const lookups = [storage.peers.getByUsername('user_1')];
      if (!/phone/.test(what)) lookups.push(storage.peers.getByPhone('10000000001'));
      for (const lookup of lookups) {
        const error = await rejection(lookup);
        expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
        expect(error.message).toContain('session "alice"');
      }
      const bob = new SqliteStorage({ path, name: 'bob' });
      expect(await bob.peers.getByUsername('user_1')).toEqual(peer('user', 1));
      expect(await bob.peers.getByPhone('10000000001')).toEqual(peer('user', 1));
      await Promise.all([storage.close(), bob.close()]);
    });
  }

  // Reads split what upsert writes by hand; any other JSON array text is parsed as JSON.
  const usernameColumns: Array<[string, (names: string[]) => string]> = [
    ['pretty-printed JSON', (names) => JSON.stringify(names, null, 2)],
    ['escaped characters', (names) => `[${names.map((n) => `"\\u${n.charCodeAt(0).toString(16).padStart(4, '0')}${n.slice(1)}"`).join(' , ')}]`],
  ];
  for (const [what, column] of usernameColumns) {
    it(`a usernames column written as ${what} reads back as the same names`, async () => {
      const path = await saved(`usernames-${what.replace(/\W+/g, '-')}.db`);
      const storage = new SqliteStorage({ path, name: 'alice' });
      const stored = await storage.peers.getById('user', 1n);
      const names = stored?.usernames ?? [];
      expect(names.length).toBeGreaterThan(0);
      edit(path, `UPDATE mtstore_peers SET usernames = '${column(names).replace(/'/g, "''")}' WHERE session_id = ${alice} AND type = 2 AND id = 1`);
      expect(plain(await storage.peers.getById('user', 1n))).toEqual(plain(stored));
      await storage.close();
    });
  }

  const usernameCases: Array<[string, string, RegExp]> = [
    ['a usernames column that is not JSON', `["user_1"`, /usernames are not a JSON array/],
    ['a usernames column that is a JSON object', `{"a":1}`, /usernames are not a JSON array/],
    ['a username holding a quote', `["user_1","a\\"b"]`, /usernames\[1\]/],
    ['a username holding a quote without escape', `["user_1","a"b"]`, /usernames are not a JSON array/],
    // The separator's second quote is the closing one: no last name opens.
    ['a usernames column cut after a separator', `["user_1","]`, /usernames are not a JSON array/],
    ['a usernames column of one quote', `["]`, /usernames are not a JSON array/],
  ];
  for (const [what, column, message] of usernameCases) {
    it(`${what}: the lookup by id rejects CorruptDataError naming the session`, async () => {
      const path = await saved(`peer-${what.replace(/\W+/g, '-')}.db`);
      edit(path, `UPDATE mtstore_peers SET usernames = '${column}' WHERE session_id = ${alice} AND type = 2 AND id = 1`);
      const storage = new SqliteStorage({ path, name: 'alice' });
      const error = await rejection(storage.peers.getById('user', 1n));
      expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
      expect(error.message).toContain('session "alice"');
      expect(error.message).toMatch(message);
      await storage.close();
    });
  }
});

describe('query plans', () => {
  const db = new Database(':memory:');
  const tables = tableNames('mtstore_');
  migrate(db, tables, { where: 'test', location: ':memory:', refuseForeign: true });
  const { stage, stageNew, insertNew, claimNewSingleKeys, ...peerStatements } = preparePeers(db, tables);
  const statements = {
    ...prepareSnapshotStatements(db, tables),
    ...prepareKeys(db, tables),
    ...Object.fromEntries(Object.entries(prepareKv(db, tables)).map(([name, statement]) => [`kv.${name}`, statement])),
    ...peerStatements,
    // A staging statement per size; two shapes of plan: one row (a co-routine) and many.
    stage1: stage(1),
    stage256: stage(256),
    stageNew1: stageNew(1),
    stageNew256: stageNew(256),
    insertNew1: insertNew(1),
    insertNew256: insertNew(256),
    // Four shapes: lower() or not, the test for a list without names or not.
    claimNewSingleKeys: claimNewSingleKeys(false, false),
    claimNewSingleKeysLower: claimNewSingleKeys(true, false),
    claimNewSingleKeysEmpty: claimNewSingleKeys(false, true),
    claimNewSingleKeysLowerEmpty: claimNewSingleKeys(true, true),
    ...Object.fromEntries(Object.entries(prepareRefs(db, tables)).map(([name, statement]) => [`refs.${name}`, statement])),
    ...prepareServer(db, tables),
  };
  const { deleteChildren, ...single } = statements;
  const named = { ...single, ...Object.fromEntries(deleteChildren.map((statement, i) => [`deleteChildren[${i}]`, statement])) };
  const plan = (source: string): string[] => {
    const named = [...source.matchAll(/@(\w+)/g)].map((m) => m[1] as string);
    const numbered = [...source.matchAll(/\?(\d+)/g)].map((m) => Number(m[1]));
    const params =
      named.length > 0
        ? [Object.fromEntries(named.map((n) => [n, null]))]
        : numbered.length > 0
          ? Array.from({ length: Math.max(...numbered) }, () => null)
          : Array.from(source.matchAll(/\?/g), () => null);
    return (db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(...params) as { detail: string }[]).map((r) => r.detail);
  };

  it('no statement scans a table: every row is reached through a key', () => {
    // listNames reads every name by design (through the covering unique index).
    expect(plan(statements.names.source)).toEqual(['SCAN mtstore_sessions USING COVERING INDEX sqlite_autoindex_mtstore_sessions_1']);
    const { names: _all, ...keyed } = named;
    for (const [name, statement] of Object.entries(keyed)) {
      // json_each is a list bound as one parameter (message ids, usernames), not a table;
      // the TEMP staging table (alias b) holds one peer batch, which a batch statement reads whole;
      // a VALUES list (alias v; one row: a CONSTANT ROW in a co-routine; as a WITH clause: n CONSTANT ROWS) is bound peers being staged or inserted.
      const scans = plan(statement.source).filter(
        (step) => /^SCAN /.test(step) && !/^SCAN json_each/.test(step) && !/VIRTUAL TABLE/.test(step) && !/^SCAN (v|CONSTANT ROW|\d+ CONSTANT ROWS|\d+-ROW VALUES CLAUSE)$/.test(step),
      );
      expect(scans.filter((step) => !/^SCAN (b|(temp\.)?mtstore_peers_batch)$/.test(step)), name).toEqual([]);
    }
  });

  it('per-peer and per-username work searches the full key, never a whole session’s rows', () => {
    // Without ANALYZE statistics SQLite picks an index by its shape: every peer or
    // username row a lookup or a batch touches is reached by its full key, or a batch
    // becomes quadratic.
    for (const name of ['peerById', 'peerByIdNamed', 'peerByUsername', 'peerByPhone', 'peerByPhoneNamed', 'peerByUsernameNamed', 'stage1', 'stage256', 'movedUsernames', 'movedPhones', 'dropStaleKeys', 'dropUsername', 'releasePhone'] as const) {
      const steps = plan(statements[name].source).filter((step) => /^(SEARCH|SCAN)/.test(step) && !/json_each|VIRTUAL TABLE|mtstore_sessions/.test(step) && !/^SCAN (b|v|CONSTANT ROW|\d+-ROW VALUES CLAUSE)$/.test(step));
      expect(steps.length, name).toBeGreaterThan(0);
      for (const step of steps) expect(step, `${name}: ${step}`).toMatch(/\((session_id=\? AND (type=\? AND id=\?|username_key=\?)|phone=\? AND session_id=\?)\)/);
    }
  });

  it('a lookup by phone searches the phone index led by the phone, then the peer by its key', () => {
    // Led by the phone, the search's comparisons are decided by the TEXT column itself
    // (schema version 8); session_id, the same in every entry of a one-session file, comes second.
    expect(plan(statements.peerByPhone.source)).toEqual(['SEARCH p USING INDEX mtstore_peers_phone (phone=? AND session_id=?)']);
  });

  it('the largest stored id of each type is a search of the type’s key range, not a scan of the session’s peers', () => {
    // One constant row whose three scalar subqueries each search one type's ids.
    const steps = plan(statements.storedMax.source).filter((step) => /mtstore_peers/.test(step));
    expect(steps).toHaveLength(3);
    for (const step of steps) expect(step).toMatch(/^SEARCH mtstore_peers USING PRIMARY KEY \(session_id=\? AND type=\?\)$/);
  });

  it('the names of a batch of new peers are read back from the type’s key range above the largest stored id', () => {
    const { claimNewKeys, claimNewSingleKeys: single, claimNewSingleKeysLower, claimNewSingleKeysEmpty, claimNewSingleKeysLowerEmpty } = statements;
    for (const { source } of [claimNewKeys, single, claimNewSingleKeysLower, claimNewSingleKeysEmpty, claimNewSingleKeysLowerEmpty]) {
      const steps = plan(source).filter((step) => /^(SEARCH|SCAN) /.test(step) && !/json_each|VIRTUAL TABLE/.test(step));
      expect(steps, source).toEqual(['SEARCH p USING PRIMARY KEY (session_id=? AND type=? AND id>?)']);
    }
  });

  it('a page of peers is a range of the primary key, in its order (no sort step)', () => {
    const steps = plan(statements.page.source);
    expect(steps[0]).toBe('SEARCH p USING PRIMARY KEY (session_id=? AND (type,id)>(?,?))');
    expect(steps).not.toContain('USE TEMP B-TREE FOR ORDER BY');
  });

  it('the most recent reference of a peer is one step down the peer index', () => {
    const steps = plan(prepareRefs(db, tables).latest.source);
    expect(steps[0]).toBe('SEARCH mtstore_ref_messages USING INDEX mtstore_ref_messages_peer (session_id=? AND peer_id=?)');
    expect(steps).not.toContain('USE TEMP B-TREE FOR ORDER BY');
  });

  it('hasSession is one primary-key point lookup', () => {
    expect(plan(statements.exists.source)).toEqual(['SEARCH mtstore_server_sessions USING PRIMARY KEY (auth_key_id=? AND session_id=?)']);
  });
});
