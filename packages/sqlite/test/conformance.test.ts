import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage, ONE_FIELD_LEFT, type Damage, type OneFieldLeft } from '@mtstore/conformance/vitest';
import { SqliteEventChannel, SqliteSessionEventBus, SqliteSessionStorage, SqliteStorage } from '../src/index.js';
import { removeDatabase, tempDir } from './helpers.js';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { holdWriteLock } from '../../test-adapters/src/sqlite-lock.js';

// Each kit namespace is its own file; every `open` is a separate connection to it.
const temp = tempDir('conformance');
afterAll(temp.remove);
const fileOf = (namespace: string) => temp.file(`${namespace}.sqlite`);
const cleanup = (namespace: string) => removeDatabase(fileOf(namespace));
// The kit's worker processes (crash and race traits) open the same files through this module.
process.env.MTSTORE_SQLITE_KIT_DIR = temp.dir;
const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

/** The kit's corrupt hook: a side connection cuts the session's permanent keys to 3 bytes. */
function corrupt(namespace: string, name: string): void {
  const db = new Database(fileOf(namespace));
  try {
    const { changes } = db
      .prepare(
        "UPDATE mtstore_auth_key_bytes SET auth_key = x'010203' WHERE id IN (SELECT id FROM mtstore_auth_keys WHERE slot = -1 AND session_id = (SELECT id FROM mtstore_sessions WHERE name = ?))",
      )
      .run(name);
    if (changes === 0) throw new Error(`corrupt: session ${name} has no stored key`);
  } finally {
    db.close();
  }
}

/** Model field → column, for the user-only-* / state-only-* kinds (ONE_FIELD_LEFT). */
const COLUMN: Record<string, string> = { id: 'user_id', dcId: 'user_dc_id', bot: 'user_bot', usernames: 'user_usernames', premium: 'user_premium', pts: 'state_pts', qts: 'state_qts', date: 'state_date', seq: 'state_seq' };
/** Every other column of the user or state set to NULL; the kept one must hold a value, or no row changes. */
function oneFieldLeft(): Partial<Record<Damage, string>> {
  return Object.fromEntries(
    (Object.entries(ONE_FIELD_LEFT) as [Damage, OneFieldLeft][]).map(([damage, { keep, drop }]) => [
      damage,
      `UPDATE mtstore_sessions SET ${drop.map((field) => `${COLUMN[field]} = NULL`).join(', ')} WHERE name = @name AND ${COLUMN[keep]} IS NOT NULL`,
    ]),
  );
}
/**
 * The kit's tamper hook: a side connection edits the file the way a hand or another
 * program would (docs of each kind: DAMAGES in @mtstore/conformance). Every session-
 * scoped edit must hit a row, so a hook that misses fails loudly instead of passing.
 */
const SESSION = '(SELECT id FROM mtstore_sessions WHERE name = @name)';
// Type 2: user (stored as a code).
const PEER_1 = `session_id = ${SESSION} AND type = 2 AND id = 1`;
const EDITS: Partial<Record<Damage, string>> = {
  'user-without-id': 'UPDATE mtstore_sessions SET user_id = NULL WHERE name = @name',
  'state-without-pts': 'UPDATE mtstore_sessions SET state_pts = NULL WHERE name = @name',
  ...oneFieldLeft(),
  'state-negative-pts': 'UPDATE mtstore_sessions SET state_pts = -1 WHERE name = @name',
  'dc-id-zero': `UPDATE mtstore_dcs SET dc_id = 0 WHERE dc_id = 1 AND session_id = ${SESSION}`,
  'flag-not-boolean': 'UPDATE mtstore_sessions SET user_bot = 2 WHERE name = @name',
  'user-usernames-not-list': "UPDATE mtstore_sessions SET user_usernames = 'not a list' WHERE name = @name",
  'channel-id-not-integer': `UPDATE mtstore_channels SET channel_id = 'x' WHERE rowid = (SELECT min(rowid) FROM mtstore_channels WHERE session_id = ${SESSION})`,
  'takeout-id-not-integer': "UPDATE mtstore_sessions SET takeout_id = 'x' WHERE name = @name",
  // Empty text, the shortest that is no JSON (a shortcut taking '' for '[]' would read it as no usernames).
  'peer-usernames-not-list': `UPDATE mtstore_peers SET usernames = '' WHERE ${PEER_1}`,
  // A BLOB: the one storage class a TEXT column keeps as is (a number would be stored as text).
  'peer-usernames-not-text': `UPDATE mtstore_peers SET usernames = x'00ff' WHERE ${PEER_1}`,
  'peer-access-hash-not-integer': `UPDATE mtstore_peers SET access_hash = 'x' WHERE ${PEER_1}`,
  'peer-complete-not-bytes': `UPDATE mtstore_peers SET complete = 'text' WHERE ${PEER_1}`,
  'kv-value-not-bytes': `UPDATE mtstore_kv SET value = 'text' WHERE key = 'k' AND session_id = ${SESSION}`,
  'ref-chat-id-not-integer': `UPDATE mtstore_ref_messages SET chat_id = 'x' WHERE peer_id = 7 AND chat_id = -100 AND message_id = 5 AND session_id = ${SESSION}`,
  'ref-peer-id-not-integer': `UPDATE mtstore_ref_messages SET peer_id = 'x' WHERE peer_id = 7 AND chat_id = -100 AND message_id = 5 AND session_id = ${SESSION}`,
  'version-newer': "UPDATE mtstore_meta SET value = value + 1 WHERE key = 'schema_version'",
  'version-zero': "UPDATE mtstore_meta SET value = 0 WHERE key = 'schema_version'",
  'version-absent': "DELETE FROM mtstore_meta WHERE key = 'schema_version'",
};
/** The tables mtcute 0.2x's SqliteStorage creates (schema.test.ts runs mtcute itself). */
const MTCUTE_TABLES = `
  CREATE TABLE mtcute_migrations (repo TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL);
  CREATE TABLE auth_keys (dc INTEGER PRIMARY KEY, key BLOB NOT NULL);
  CREATE TABLE temp_auth_keys (dc INTEGER NOT NULL, idx INTEGER NOT NULL, key BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (dc, idx));
  CREATE TABLE key_value (key TEXT PRIMARY KEY, value BLOB NOT NULL);
  CREATE TABLE peers (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, usernames TEXT NOT NULL, updated INTEGER NOT NULL, phone TEXT, complete BLOB);
  CREATE TABLE message_refs (peer_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, msg_id INTEGER NOT NULL);
  INSERT INTO mtcute_migrations VALUES ('auth_keys', 1), ('key_value', 1), ('peers', 1), ('ref_messages', 1);`;

function tamper(namespace: string, name: string, damage: Damage): void {
  const file = fileOf(namespace);
  if (damage === 'foreign-telethon' || damage === 'foreign-pyrogram') {
    // A real session file each library wrote (test/fixtures/README.md).
    copyFileSync(fileURLToPath(new URL(`./fixtures/${damage.slice('foreign-'.length)}.session`, import.meta.url)), file);
    return;
  }
  const db = new Database(file);
  try {
    if (damage === 'foreign-mtcute') {
      db.exec(MTCUTE_TABLES);
    } else if (damage === 'foreign-lookalike') {
      // Another program's tables with Pyrogram's names (and one Pyrogram column name).
      db.exec('CREATE TABLE version (n INTEGER); CREATE TABLE sessions (id INTEGER, dc_id INTEGER); CREATE TABLE peers (id INTEGER);');
    } else if (damage === 'marker-absent') {
      db.exec('DROP TABLE mtstore_meta');
    } else if (damage === 'peer-usernames-respelled') {
      // JSON another writer could give: a space after one comma of three names; a \u escape; a space after the only comma.
      const respell = db.prepare(`UPDATE mtstore_peers SET usernames = ? WHERE session_id = ${SESSION} AND type = 2 AND id = ?`);
      const changes =
        respell.run('["user_1","User1_alt", "user_1_c"]', { name }, 1).changes +
        respell.run('["user\\u005f2"]', { name }, 2).changes +
        respell.run('["user_3", "User3_alt"]', { name }, 3).changes;
      if (changes !== 3) throw new Error(`tamper: session ${name} lacks peer user 1, 2 or 3`);
    } else if (damage === 'peer-type-unknown') {
      // The row and its lookup index entries, as one hand-edit of both would.
      db.transaction(() => {
        const { changes } = db.prepare(`UPDATE mtstore_peers SET type = 'robot' WHERE ${PEER_1}`).run({ name });
        db.prepare(`UPDATE mtstore_peer_usernames SET type = 'robot' WHERE ${PEER_1}`).run({ name });
        if (changes === 0) throw new Error(`tamper: session ${name} has no peer user 1`);
      })();
    } else {
      const sql = EDITS[damage];
      if (sql === undefined) throw new Error(`tamper: ${damage} is not planted by this hook`);
      const statement = db.prepare(sql);
      const { changes } = sql.includes('@name') ? statement.run({ name }) : statement.run();
      if (changes === 0) throw new Error(`tamper: ${damage} changed no row of session ${name}`);
    }
  } finally {
    db.close();
  }
}
const TAMPER_KINDS = [...Object.keys(EDITS), 'foreign-telethon', 'foreign-pyrogram', 'foreign-mtcute', 'foreign-lookalike', 'marker-absent', 'peer-type-unknown', 'peer-usernames-respelled'] as Damage[];

/**
 * The kit's interrupt hook. SQLite has no server connection to drop: it becomes
 * unavailable while another process holds the file's write lock. Another thread takes
 * it and lets go 300 ms later (holdWriteLock says why not this one); writes in between
 * wait for it (busy timeout), and the next ones go through.
 */
const interrupt = (namespace: string): Promise<void> => holdWriteLock(fileOf(namespace), 300);
// What the disk holds: the database file and its write-ahead log, byte for byte.
const dumpFiles = (namespace: string) =>
  Buffer.concat([fileOf(namespace), `${fileOf(namespace)}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file)));

describeStorage('sqlite', {
  open: (namespace, name) => new SqliteStorage({ path: fileOf(namespace), name }),
  openExisting: (namespace, name) => new SqliteStorage({ path: fileOf(namespace), name, create: false }),
  cleanup,
  processes,
  corrupt,
  interrupt,
  tamper: { kinds: TAMPER_KINDS, apply: tamper },
  encryption: {
    open: (namespace, name, encryption) => new SqliteStorage({ path: fileOf(namespace), name, encryption }),
    dump: dumpFiles,
  },
});

describeSessionStorage('sqlite', {
  open: (namespace) => new SqliteSessionStorage({ path: fileOf(namespace) }),
  openExisting: (namespace) => new SqliteSessionStorage({ path: fileOf(namespace), create: false }),
  openWithLifetime: (namespace, lifetime) => new SqliteSessionStorage({ path: fileOf(namespace), ...lifetime }),
  cleanup,
  processes,
  interrupt,
});

// SQLite cannot notify other connections: the bus is core's in-process one.
const channels = new Map<string, InstanceType<typeof SqliteEventChannel>>();
const channelOf = (namespace: string) => channels.get(namespace) ?? channels.set(namespace, new SqliteEventChannel()).get(namespace)!;

describeSessionEventBus('sqlite', {
  open: (namespace) => new SqliteSessionEventBus(channelOf(namespace)),
  openStorage: (namespace) => new SqliteSessionStorage({ path: fileOf(namespace) }),
  cleanup: (namespace) => {
    channels.delete(namespace);
    cleanup(namespace);
  },
  capabilities: { crossProcess: false },
  // An in-process channel cannot fail by itself: interrupt() holds it down for 100 ms.
  interrupt: (bus) => {
    void (bus as InstanceType<typeof SqliteSessionEventBus>).channel.interrupt(100);
  },
});
