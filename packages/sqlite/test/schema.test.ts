/**
 * The schema: what a new file holds, versions and migrations, files that are not
 * mtstore databases, rows damaged by hand, and the query plans of every statement.
 */
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { fullSession, minimalSession, peer } from '@mtstore/conformance';
import { SCHEMA_VERSION, SqliteSessionStorage, SqliteStorage } from '../src/index.js';
import { migrate, tableNames } from '../src/schema.js';
import { prepareClient, prepareServer } from '../src/statements.js';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('schema');
afterAll(temp.remove);

/** Runs SQL on a file through a separate raw connection. */
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
      'mtstore_channels',
      'mtstore_dcs',
      'mtstore_meta',
      'mtstore_peer_usernames',
      'mtstore_peers',
      'mtstore_server_sessions',
      'mtstore_sessions',
      'mtstore_temp_auth_keys',
    ]);
    expect(db.prepare("SELECT value FROM mtstore_meta WHERE key = 'schema_version'").pluck().get()).toBe(SCHEMA_VERSION);
    await storage.close();
  });

  it('stores what a user reads with the sqlite3 shell: lower-cased username keys, 0/1/NULL flags, integer ids', async () => {
    const storage = new SqliteStorage(temp.file('readable'));
    await storage.save(fullSession(1));
    await storage.peers.upsert([peer('user', 5, { usernames: ['DuRov'], min: false, accessHash: -(2n ** 63n) })]);
    const db = storage.database;
    expect(db.prepare("SELECT username, username_key FROM mtstore_peer_usernames").get()).toEqual({ username: 'DuRov', username_key: 'durov' });
    expect(db.prepare('SELECT typeof(access_hash) AS t, min, phone FROM mtstore_peers').get()).toEqual({ t: 'integer', min: 0, phone: '10000000005' });
    expect(db.prepare('SELECT test_mode, media_only, length(auth_key) AS bytes FROM mtstore_dcs WHERE position = 1').get()).toEqual({ test_mode: 0, media_only: 0, bytes: 256 });
    expect(db.prepare('SELECT test_mode, media_only FROM mtstore_dcs WHERE position = 0').get()).toEqual({ test_mode: null, media_only: null });
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

  it('migrating is one transaction: concurrent first opens of one file agree', async () => {
    const path = temp.file('first-open.db');
    const storages = Array.from({ length: 4 }, (_, i) => new SqliteStorage({ path, name: `s${i}` }));
    await Promise.all(storages.map((s, i) => s.save(fullSession(i + 1))));
    for (const [i, s] of storages.entries()) expect(plain(await s.load())).toEqual(fullSession(i + 1));
    await Promise.all(storages.map((s) => s.close()));
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

  it('a Telethon session file is refused with MigrationError saying so', async () => {
    const path = temp.file('telethon.session');
    edit(
      path,
      `CREATE TABLE version (version INTEGER PRIMARY KEY);
       CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, server_address TEXT, port INTEGER, auth_key BLOB, takeout_id INTEGER);
       CREATE TABLE entities (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, username TEXT, phone INTEGER, name TEXT, date INTEGER);
       INSERT INTO version VALUES (7);`,
    );
    const error = await rejection(new SqliteStorage(path).load());
    expect(error.code).toBe('MTSTORE_MIGRATION');
    expect(error.message).toMatch(/Telethon session file/);
    // Handed over as a Database, the file is the application's call: mtstore adds its tables beside Telethon's.
    const db = new Database(path);
    const borrowed = new SqliteStorage({ database: db });
    await borrowed.save(minimalSession());
    expect(db.prepare('SELECT version FROM version').pluck().get()).toBe(7);
    db.close();
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
  const cases: Array<[string, string, RegExp]> = [
    ['an auth key blob of the wrong length', `UPDATE mtstore_dcs SET auth_key = zeroblob(100) WHERE session_id = ${alice} AND position = 0`, /auth key for DC 1 is 100 bytes, expected 256/],
    ['an auth key stored as text', `UPDATE mtstore_dcs SET auth_key = 'abc' WHERE session_id = ${alice} AND position = 0`, /auth key for DC 1 is string/],
    ['a temp key of the wrong length', `UPDATE mtstore_temp_auth_keys SET auth_key = zeroblob(255) WHERE session_id = ${alice} AND position = 0`, /auth key for DC 2 is 255 bytes/],
    ['a missing temp key row', `DELETE FROM mtstore_temp_auth_keys WHERE session_id = ${alice} AND position = 1`, /DC 2 lists 2 temp auth keys, 1 are stored/],
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
    ['a phone with letters', `UPDATE mtstore_peers SET phone = 'call me' WHERE session_id = ${alice} AND id = 1`],
  ];
  for (const [what, sql] of peerCases) {
    it(`${what}: the peer lookup rejects CorruptDataError naming the session`, async () => {
      const path = await saved(`peer-${what.replace(/\W+/g, '-')}.db`);
      edit(`${path}`, `PRAGMA foreign_keys = OFF; ${sql}`);
      const storage = new SqliteStorage({ path, name: 'alice' });
      const error = await rejection(storage.peers.getByUsername('user_1'));
      expect(error.code).toBe('MTSTORE_CORRUPT_DATA');
      expect(error.message).toContain('session "alice"');
      expect(await new SqliteStorage({ path, name: 'bob' }).peers.getByUsername('user_1')).toEqual(peer('user', 1));
      await storage.close();
    });
  }
});

describe('query plans', () => {
  const db = new Database(':memory:');
  const tables = tableNames('mtstore_');
  migrate(db, tables, { where: 'test', location: ':memory:', refuseTelethon: true });
  const statements = { ...prepareClient(db, tables), ...prepareServer(db, tables) };
  const plan = (source: string): string[] => {
    const named = [...source.matchAll(/@(\w+)/g)].map((m) => m[1] as string);
    const params = named.length > 0 ? [Object.fromEntries(named.map((n) => [n, null]))] : Array.from(source.matchAll(/\?/g), () => null);
    return (db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(...params) as { detail: string }[]).map((r) => r.detail);
  };

  it('no statement scans a table: every row is reached through a key', () => {
    for (const [name, statement] of Object.entries(statements)) {
      expect(plan(statement.source).filter((step) => /^SCAN /.test(step)), name).toEqual([]);
    }
  });

  it('per-peer and per-username work searches the full key, never a whole session’s rows', () => {
    // Without ANALYZE statistics SQLite picks an index by its shape: a peer's usernames
    // must be reached by (session_id, type, id), or a batch becomes quadratic.
    for (const name of ['dropUsernames', 'peerById', 'peerByUsername', 'peerByPhone'] as const) {
      const steps = plan(statements[name].source).filter((step) => step.includes('peer_usernames') || / u /.test(step));
      for (const step of steps) expect(step, name).toMatch(/\(session_id=\? AND (type=\? AND id=\?|username_key=\?)\)/);
    }
    expect(plan(statements.releasePhone.source)).toEqual(['SEARCH mtstore_peers USING INDEX mtstore_peers_phone (session_id=? AND phone=?)']);
  });

  it('hasSession is one primary-key point lookup', () => {
    expect(plan(statements.exists.source)).toEqual(['SEARCH mtstore_server_sessions USING PRIMARY KEY (auth_key_id=? AND session_id=?)']);
  });
});
