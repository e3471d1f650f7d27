/**
 * The native schema (documented table by table in README.md) and its versioned,
 * forward-only migrations. The version lives in `<prefix>meta`, not in
 * `PRAGMA user_version`, because one file may hold several prefixes and a borrowed
 * database may use user_version for its own purposes.
 */
import type Database from 'better-sqlite3';
import { MigrationError, NotFoundError, StorageUnavailableError, type ForeignLibrary } from '@mtstore/core';

/** The schema version this code writes. A file at a higher version is refused. */
export const SCHEMA_VERSION = 10;

/** Table and index names under one (validated) prefix. */
export interface Tables {
  readonly meta: string;
  readonly sessions: string;
  readonly dcs: string;
  /** Version 1 only: migration 2 moves its rows to `authKeys` and drops it. */
  readonly tempKeys: string;
  /** The address of each key (session, DC, media-only, slot) and its expiry, under an id. */
  readonly authKeys: string;
  /** Version 9: each key's bytes (and lease token) under its `authKeys` row's id. */
  readonly authKeyBytes: string;
  /** The session leases (lease.ts, created on first use). */
  readonly leases: string;
  readonly channels: string;
  readonly peers: string;
  readonly usernames: string;
  readonly kv: string;
  readonly refMessages: string;
  readonly serverSessions: string;
}

/** `prefix` must have passed `assertIdentifier`: it is interpolated into SQL. */
export function tableNames(prefix: string): Tables {
  return {
    meta: `${prefix}meta`,
    sessions: `${prefix}sessions`,
    dcs: `${prefix}dcs`,
    tempKeys: `${prefix}temp_auth_keys`,
    authKeys: `${prefix}auth_keys`,
    authKeyBytes: `${prefix}auth_key_bytes`,
    leases: `${prefix}leases`,
    channels: `${prefix}channels`,
    peers: `${prefix}peers`,
    usernames: `${prefix}peer_usernames`,
    kv: `${prefix}kv`,
    refMessages: `${prefix}ref_messages`,
    serverSessions: `${prefix}server_sessions`,
  };
}

/**
 * `MIGRATIONS[v]` takes the schema from version v to v + 1. Never edit a released
 * entry: add the next one. Booleans are INTEGER 0/1 with NULL for "absent"; 64-bit
 * ids are INTEGER (read back with safe integers).
 */
export const MIGRATIONS: ReadonlyArray<(t: Tables) => string> = [
  (t) => `
    CREATE TABLE ${t.meta} (
      key TEXT PRIMARY KEY,
      value INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- One row per named client session. AUTOINCREMENT: an id is never reused, so rows
    -- left behind by a hand-made delete can never attach to a later session.
    CREATE TABLE ${t.sessions} (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL UNIQUE,
      version INTEGER NOT NULL,
      home_dc_id INTEGER NOT NULL,
      api_id INTEGER,
      user_id INTEGER,
      user_dc_id INTEGER,
      user_bot INTEGER,
      user_username TEXT,
      state_pts INTEGER,
      state_qts INTEGER,
      state_date INTEGER,
      state_seq INTEGER,
      takeout_id INTEGER
    );

    CREATE TABLE ${t.dcs} (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      position INTEGER NOT NULL,
      dc_id INTEGER NOT NULL,
      ipv4 TEXT,
      ipv6 TEXT,
      port INTEGER NOT NULL,
      test_mode INTEGER,
      media_only INTEGER,
      auth_key BLOB,
      temp_key_count INTEGER,
      PRIMARY KEY (session_id, position)
    ) WITHOUT ROWID;

    CREATE TABLE ${t.tempKeys} (
      session_id INTEGER NOT NULL,
      dc_position INTEGER NOT NULL,
      position INTEGER NOT NULL,
      key_index INTEGER NOT NULL,
      auth_key BLOB NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (session_id, dc_position, position),
      FOREIGN KEY (session_id, dc_position) REFERENCES ${t.dcs} (session_id, position) ON DELETE CASCADE
    ) WITHOUT ROWID;

    -- A rowid table: rowid order is the order channels were saved or first seen.
    CREATE TABLE ${t.channels} (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      channel_id INTEGER NOT NULL,
      pts INTEGER NOT NULL,
      PRIMARY KEY (session_id, channel_id)
    );

    CREATE TABLE ${t.peers} (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      type TEXT NOT NULL,
      id INTEGER NOT NULL,
      access_hash INTEGER NOT NULL,
      phone TEXT,
      min INTEGER,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (session_id, type, id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX ${t.peers}_phone ON ${t.peers} (session_id, phone) WHERE phone IS NOT NULL;

    -- The usernames of each peer, in order. The primary key leads with the owner, so
    -- reading or replacing one peer's usernames is a key-prefix search; the unique
    -- username_key (lower-cased) index is the lookup and gives each name one owner.
    CREATE TABLE ${t.usernames} (
      session_id INTEGER NOT NULL,
      type TEXT NOT NULL,
      id INTEGER NOT NULL,
      position INTEGER NOT NULL,
      username TEXT NOT NULL,
      username_key TEXT NOT NULL,
      PRIMARY KEY (session_id, type, id, position),
      FOREIGN KEY (session_id, type, id) REFERENCES ${t.peers} (session_id, type, id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX ${t.usernames}_key ON ${t.usernames} (session_id, username_key);

    -- Server side: live MTProto sessions keyed by (auth_key_id, session_id).
    CREATE TABLE ${t.serverSessions} (
      auth_key_id INTEGER NOT NULL,
      session_id INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (auth_key_id, session_id)
    ) WITHOUT ROWID;
  `,
  /*
   * Version 2 (contract v2). Runs inside the IMMEDIATE migration transaction with
   * foreign_keys ON, so no parent table is dropped (that would cascade): `sessions`
   * gains columns; only the child tables `dcs` and `temp_auth_keys` are replaced.
   */
  (t) => `
    -- Keys, peers, kv and reference messages belong to the session name and need no
    -- snapshot: a name-only row has has_snapshot = 0 (its home_dc_id, NOT NULL since
    -- version 1, is 0 then and means nothing). Every version 1 row is a snapshot.
    ALTER TABLE ${t.sessions} ADD COLUMN has_snapshot INTEGER NOT NULL DEFAULT 1;
    -- SelfUser.usernames as a JSON array (NULL: absent, '[]': none); premium 0/1/NULL.
    ALTER TABLE ${t.sessions} ADD COLUMN user_usernames TEXT;
    ALTER TABLE ${t.sessions} ADD COLUMN user_premium INTEGER;
    UPDATE ${t.sessions} SET user_usernames = json_array(user_username) WHERE user_username IS NOT NULL;
    ALTER TABLE ${t.sessions} DROP COLUMN user_username;

    -- Keys apart from the address rows, one row per key: slot -1 is the permanent key,
    -- slot n >= 0 the temp key of connection slot n. media_only (0/1) tells the main
    -- entry of a DC id from its media-only one.
    CREATE TABLE ${t.authKeys} (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      dc_id INTEGER NOT NULL,
      media_only INTEGER NOT NULL,
      slot INTEGER NOT NULL,
      auth_key BLOB NOT NULL,
      expires_at INTEGER,
      PRIMARY KEY (session_id, dc_id, media_only, slot)
    ) WITHOUT ROWID;
    INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, auth_key, expires_at)
      SELECT session_id, dc_id, coalesce(media_only, 0), -1, auth_key, NULL FROM ${t.dcs} WHERE auth_key IS NOT NULL;
    INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, auth_key, expires_at)
      SELECT k.session_id, d.dc_id, coalesce(d.media_only, 0), k.key_index, k.auth_key, k.expires_at
      FROM ${t.tempKeys} k JOIN ${t.dcs} d ON d.session_id = k.session_id AND d.position = k.dc_position;
    DROP TABLE ${t.tempKeys};

    -- Address rows without keys; port becomes nullable (an entry may hold only keys)
    -- and host is new. SQLite cannot drop NOT NULL in place, so the table is rebuilt:
    -- nothing references it any more, so dropping it cascades nowhere.
    CREATE TABLE ${t.dcs}_v2 (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      position INTEGER NOT NULL,
      dc_id INTEGER NOT NULL,
      ipv4 TEXT,
      ipv6 TEXT,
      host TEXT,
      port INTEGER,
      test_mode INTEGER,
      media_only INTEGER,
      PRIMARY KEY (session_id, position)
    ) WITHOUT ROWID;
    INSERT INTO ${t.dcs}_v2 (session_id, position, dc_id, ipv4, ipv6, host, port, test_mode, media_only)
      SELECT session_id, position, dc_id, ipv4, ipv6, NULL, port, test_mode, media_only FROM ${t.dcs};
    DROP TABLE ${t.dcs};
    ALTER TABLE ${t.dcs}_v2 RENAME TO ${t.dcs};

    ALTER TABLE ${t.peers} ADD COLUMN display_name TEXT;
    -- The TL object the peer came from (mtcute's "complete"), as given.
    ALTER TABLE ${t.peers} ADD COLUMN complete BLOB;

    CREATE TABLE ${t.kv} (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      key TEXT NOT NULL,
      value BLOB NOT NULL,
      PRIMARY KEY (session_id, key)
    ) WITHOUT ROWID;

    -- seq is the rowid: a new row gets max(seq) + 1, so storing a reference again
    -- (INSERT OR REPLACE: a new row) makes it the peer's most recent. The peer index
    -- ends with the rowid, so "most recent of a peer" is one index step.
    CREATE TABLE ${t.refMessages} (
      seq INTEGER PRIMARY KEY,
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      peer_id INTEGER NOT NULL,
      chat_id INTEGER NOT NULL,
      message_id INTEGER NOT NULL,
      UNIQUE (session_id, chat_id, message_id, peer_id)
    );
    CREATE INDEX ${t.refMessages}_peer ON ${t.refMessages} (session_id, peer_id);
  `,
  /*
   * Version 3: server session lifetime. Epoch ms of the mtstore process's clock.
   * Existing sessions live on (expires_at NULL), last used when created; the partial
   * index serves only the bounded sweep.
   */
  (t) => `
    ALTER TABLE ${t.serverSessions} ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE ${t.serverSessions} ADD COLUMN expires_at INTEGER;
    UPDATE ${t.serverSessions} SET last_used_at = created_at * 1000;
    CREATE INDEX ${t.serverSessions}_expiry ON ${t.serverSessions} (expires_at) WHERE expires_at IS NOT NULL;
  `,
  /*
   * Version 4: a peer's usernames live in its row (a JSON array, in order), so reading
   * a peer is one row and a batch writes each peer once; `peer_usernames` keeps only
   * the lookup index, lower-cased name → owner, without a foreign key (a batch claims
   * names in one set-based statement; every delete path removes index rows itself).
   */
  (t) => `
    ALTER TABLE ${t.peers} ADD COLUMN usernames TEXT NOT NULL DEFAULT '[]';
    UPDATE ${t.peers} SET usernames = (
        SELECT json_group_array(u.username ORDER BY u.position) FROM ${t.usernames} u
        WHERE u.session_id = ${t.peers}.session_id AND u.type = ${t.peers}.type AND u.id = ${t.peers}.id)
      WHERE EXISTS (SELECT 1 FROM ${t.usernames} u
        WHERE u.session_id = ${t.peers}.session_id AND u.type = ${t.peers}.type AND u.id = ${t.peers}.id);

    CREATE TABLE ${t.usernames}_v4 (
      session_id INTEGER NOT NULL,
      username_key TEXT NOT NULL,
      type TEXT NOT NULL,
      id INTEGER NOT NULL,
      PRIMARY KEY (session_id, username_key)
    ) WITHOUT ROWID;
    INSERT INTO ${t.usernames}_v4 (session_id, username_key, type, id)
      SELECT session_id, username_key, type, id FROM ${t.usernames};
    -- A child table (it referenced peers): dropping it cascades nowhere.
    DROP TABLE ${t.usernames};
    ALTER TABLE ${t.usernames}_v4 RENAME TO ${t.usernames};
  `,
  /*
   * Version 5: the peer type is an INTEGER code (channel 0, chat 1, user 2: the names'
   * text order, so primary-key order and `peers.list` paging stay as they were) in
   * `peers` and `peer_usernames`: shorter records in both and in the phone index, and
   * integer comparisons in key searches. A key column cannot change type in place, so
   * both WITHOUT ROWID tables are rebuilt. Nothing references either (the username
   * index has had no foreign key since version 4), so dropping them cascades nowhere;
   * the phone index goes with the old table and is made again. A type that is none of
   * the three names (only a hand edit writes one) is copied as it is, still unreadable.
   */
  (t) => {
    const code = (column: string): string => `CASE ${column} WHEN 'channel' THEN 0 WHEN 'chat' THEN 1 WHEN 'user' THEN 2 ELSE ${column} END`;
    return `
    CREATE TABLE ${t.peers}_v5 (
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      type INTEGER NOT NULL,
      id INTEGER NOT NULL,
      access_hash INTEGER NOT NULL,
      phone TEXT,
      min INTEGER,
      updated_at INTEGER NOT NULL,
      display_name TEXT,
      complete BLOB,
      usernames TEXT NOT NULL DEFAULT '[]',
      PRIMARY KEY (session_id, type, id)
    ) WITHOUT ROWID;
    INSERT INTO ${t.peers}_v5 (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete, usernames)
      SELECT session_id, ${code('type')}, id, access_hash, phone, min, updated_at, display_name, complete, usernames FROM ${t.peers};
    DROP TABLE ${t.peers};
    ALTER TABLE ${t.peers}_v5 RENAME TO ${t.peers};
    CREATE UNIQUE INDEX ${t.peers}_phone ON ${t.peers} (session_id, phone) WHERE phone IS NOT NULL;

    CREATE TABLE ${t.usernames}_v5 (
      session_id INTEGER NOT NULL,
      username_key TEXT NOT NULL,
      type INTEGER NOT NULL,
      id INTEGER NOT NULL,
      PRIMARY KEY (session_id, username_key)
    ) WITHOUT ROWID;
    INSERT INTO ${t.usernames}_v5 (session_id, username_key, type, id)
      SELECT session_id, username_key, ${code('type')}, id FROM ${t.usernames};
    DROP TABLE ${t.usernames};
    ALTER TABLE ${t.usernames}_v5 RENAME TO ${t.usernames};
  `;
  },
  /*
   * Version 6: `auth_keys` is a rowid table (`id INTEGER PRIMARY KEY AUTOINCREMENT`)
   * with the address (session_id, dc_id, media_only, slot) as a UNIQUE constraint. A
   * client rewrites its permanent key on every connect: by the row's id that is one
   * integer seek of the table (keys.ts `rewrite`), where the WITHOUT ROWID key took a
   * four-column record comparison per step. AUTOINCREMENT and an explicit INTEGER
   * PRIMARY KEY: an id is never given to another row, not even by VACUUM, so a kept id
   * finds its own row or none. Nothing references this table, so dropping the old one
   * cascades nowhere; the rows are copied in address order.
   */
  (t) => `
    CREATE TABLE ${t.authKeys}_v6 (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      dc_id INTEGER NOT NULL,
      media_only INTEGER NOT NULL,
      slot INTEGER NOT NULL,
      auth_key BLOB NOT NULL,
      expires_at INTEGER,
      UNIQUE (session_id, dc_id, media_only, slot)
    );
    INSERT INTO ${t.authKeys}_v6 (session_id, dc_id, media_only, slot, auth_key, expires_at)
      SELECT session_id, dc_id, media_only, slot, auth_key, expires_at FROM ${t.authKeys} ORDER BY session_id, dc_id, media_only, slot;
    DROP TABLE ${t.authKeys};
    ALTER TABLE ${t.authKeys}_v6 RENAME TO ${t.authKeys};
  `,
  /*
   * Version 7: `auth_keys.lease_token`, the token of the session's lease as of the row's
   * last fenced write or the lease's last change (lease.ts `leaseTokenTriggers`): the
   * rewrite of a stored key under a lease compares it in its own row (keys.ts
   * `rewrite`) instead of searching the lease row by name. NULL in every existing row: it
   * matches no token, so a holder's first rewrite of such a row goes the fenced upsert,
   * which writes it; no value is copied from the lease table here, because only a value
   * written while the triggers exist is kept in step with the lease.
   */
  (t) => `
    ALTER TABLE ${t.authKeys} ADD COLUMN lease_token INTEGER;
  `,
  /*
   * Version 8: the phone index leads with the phone, `(phone, session_id)` instead of
   * `(session_id, phone)`, the same unique pairs. A lookup by phone searches it with
   * both equal; led by session_id, every comparison of the search found that column
   * equal (one session per file is usual) and went on to SQLite's general record
   * comparison for the phone, where a leading TEXT column is decided by its own fast
   * comparison. No statement reads the index by session alone. Only the index is made
   * again; no row changes.
   */
  (t) => `
    DROP INDEX ${t.peers}_phone;
    CREATE UNIQUE INDEX ${t.peers}_phone ON ${t.peers} (phone, session_id) WHERE phone IS NOT NULL;
  `,
  /*
   * Version 9: a key's bytes move to `auth_key_bytes (id, lease_token, auth_key)`, one row
   * per `auth_keys` row under the same id; `auth_keys` keeps the address and the expiry. A
   * client rewrites its permanent key on every connect (keys.ts `rewrite`): SQLite's update
   * reads every column it does not set and writes the whole record again, so in the
   * eight-column row that was six columns read and an eight-column record made per
   * rewrite; in the three-column one it is the token (which the fence compares anyway) and
   * a three-column record. The bytes row exists exactly while its address row does: both
   * are written in one transaction (the bytes row under the id the address row got), and
   * the trigger below deletes it with its address row, whatever deletes that (a statement
   * of this adapter, the cascade from `sessions`, a hand edit), foreign keys on or off. So
   * the argument for a kept row id (keys.ts `#keyId`) holds for both tables.
   * lease_token moves with the bytes, NULL in every row, as version 7 added it: the lease
   * table's triggers, which wrote it in `auth_keys`, are dropped here (they name the column
   * that goes) and made again, writing the new table, by the first lease use of this code
   * (lease.ts `leaseTokenTriggers`), before any acquire of this code; so again every
   * non-NULL token is one written while they exist. A holder's first rewrite of a NULL row
   * goes the fenced upsert, which writes the token. The columns are dropped in place (no
   * index or constraint names them; the triggers that did are gone).
   */
  (t) => `
    DROP TRIGGER IF EXISTS ${t.leases}_token_insert;
    DROP TRIGGER IF EXISTS ${t.leases}_token_update;
    CREATE TABLE ${t.authKeyBytes} (
      id INTEGER PRIMARY KEY,
      lease_token INTEGER,
      auth_key BLOB NOT NULL
    );
    INSERT INTO ${t.authKeyBytes} (id, lease_token, auth_key) SELECT id, NULL, auth_key FROM ${t.authKeys} ORDER BY id;
    ALTER TABLE ${t.authKeys} DROP COLUMN auth_key;
    ALTER TABLE ${t.authKeys} DROP COLUMN lease_token;
    CREATE TRIGGER ${t.authKeys}_bytes_delete AFTER DELETE ON ${t.authKeys} BEGIN
      DELETE FROM ${t.authKeyBytes} WHERE id = OLD.id;
    END;
  `,
  /*
   * Version 10: `ref_messages.seq` is `INTEGER PRIMARY KEY AUTOINCREMENT`: a seq is never
   * given out again. A plain rowid is max(rowid) + 1, which goes back once the highest
   * rows are deleted: after `refMessages.clear()` (or deleting the newest references) the
   * next reference got a seq at or below a cursor handed out before, so listing from that
   * cursor skipped references stored after it (contract §6: a cursor lists the references
   * stored after that number). The table is rebuilt (a rowid alias cannot gain
   * AUTOINCREMENT in place): rows copied with their seq, so the counter starts at the
   * largest one and every cursor keeps its place; nothing references the table, so
   * dropping the old one cascades nowhere; the peer index is made again.
   */
  (t) => `
    CREATE TABLE ${t.refMessages}_v10 (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      session_id INTEGER NOT NULL REFERENCES ${t.sessions} (id) ON DELETE CASCADE,
      peer_id INTEGER NOT NULL,
      chat_id INTEGER NOT NULL,
      message_id INTEGER NOT NULL,
      UNIQUE (session_id, chat_id, message_id, peer_id)
    );
    INSERT INTO ${t.refMessages}_v10 (seq, session_id, peer_id, chat_id, message_id)
      SELECT seq, session_id, peer_id, chat_id, message_id FROM ${t.refMessages} ORDER BY seq;
    DROP TABLE ${t.refMessages};
    ALTER TABLE ${t.refMessages}_v10 RENAME TO ${t.refMessages};
    CREATE INDEX ${t.refMessages}_peer ON ${t.refMessages} (session_id, peer_id);
  `,
];

/**
 * Session files of other libraries, each recognised by what its own code always
 * creates. Telethon 1.x: the tables `version`, `sessions`, `entities`. Pyrogram 2.x:
 * its `sessions` table's columns (its table names, `version`, `sessions`, `peers`, are
 * common words; no other program's `sessions` has these seven columns, and a file
 * without the table has none of them). mtcute 0.2x (@mtcute/node, @mtcute/bun,
 * @mtcute/deno): `mtcute_migrations`, which its driver creates before any of its
 * repositories' tables, in the same transaction.
 */
const FOREIGN_FILES: ReadonlyArray<{ library: ForeignLibrary; name: string; recognise: (tables: ReadonlySet<string>, columns: (table: string) => string[]) => boolean }> = [
  { library: 'telethon', name: 'Telethon', recognise: (tables) => ['version', 'sessions', 'entities'].every((table) => tables.has(table)) },
  {
    library: 'pyrogram',
    name: 'Pyrogram',
    recognise: (_tables, columns) => {
      const sessions = columns('sessions');
      return ['dc_id', 'api_id', 'test_mode', 'auth_key', 'date', 'user_id', 'is_bot'].every((column) => sessions.includes(column));
    },
  },
  { library: 'mtcute', name: 'mtcute', recognise: (tables) => tables.has('mtcute_migrations') },
];

export interface MigrateOptions {
  /** Prefix of every message, e.g. `SqliteStorage("bot")`. */
  where: string;
  /** Where the database is, for messages: a file path or `a borrowed database`. */
  location: string;
  /** Refuse another library's session file (only for files the adapter opened itself). */
  refuseForeign: boolean;
  /** Refuse a file without our schema (the `create: false` option) instead of creating it. */
  mustExist?: boolean;
}

/**
 * Brings the schema to SCHEMA_VERSION. The common case (already current) is one
 * read; otherwise the migrations run in one IMMEDIATE transaction, after reading
 * the version again inside it, so two processes opening a new file at once run
 * them once between them.
 */
export function migrate(db: Database.Database, tables: Tables, options: MigrateOptions): void {
  if (readVersion(db, tables, options) === SCHEMA_VERSION) return;
  // Only a borrowed Database can be in a transaction here: the application's. Made inside
  // it, the tables would go with its rollback under statements every concern prepares once
  // and keeps (each later call failed 'no such table'). Refused; nothing is kept, so the
  // next call makes them. Calls inside it on a store that is there work as ever.
  if (db.inTransaction) {
    throw new StorageUnavailableError(
      `${options.where}: ${options.location} has a transaction open (the application's, on its own Database): ` +
        'the @mtstore/sqlite tables are not created or migrated inside it, where its rollback would undo them; call again once it has ended',
    );
  }
  db.transaction(() => {
    const from = readVersion(db, tables, options);
    // Stryker disable next-line ConditionalExpression: equivalent: at the current version the loop runs no migration and the same version is written again, under the lock this transaction holds anyway
    if (from === SCHEMA_VERSION) return;
    for (let version = from; version < SCHEMA_VERSION; version++) {
      try {
        db.exec((MIGRATIONS[version] as (t: Tables) => string)(tables));
      } catch (error) {
        throw stepFailed(error, from, version, options);
      }
    }
    db.prepare(`INSERT INTO ${tables.meta} (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(SCHEMA_VERSION);
  }).immediate();
}

/**
 * A step that SQLite refused for what the file holds (SQLITE_ERROR: a table or column
 * already there or missing; SQLITE_CONSTRAINT: rows the step cannot carry over) is a
 * schema problem no retry fixes — a file edited by hand, or a schema_version that does
 * not match its tables — so MigrationError naming the step; the transaction rolled
 * back, so the file is as it was. Anything else (busy, I/O, a full disk, a read-only
 * file) is the connection's to explain.
 */
function stepFailed(error: unknown, from: number, version: number, options: MigrateOptions): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'SQLITE_ERROR' && !(typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'))) return error;
  return new MigrationError(
    `${options.where}: ${options.location}: schema migration step ${version} → ${version + 1} (of ${from} → ${SCHEMA_VERSION}) failed, nothing was changed ` +
      `(the tables do not match the stored schema_version ${from}: edited by hand?): ${(error as Error).message}`,
    { cause: error },
  );
}

/**
 * The stored version, 0 for a database without mtstore tables; MigrationError for
 * anything unusable. Only reads: the connection calls it before its first pragma
 * that writes (journal_mode), so a refused file is left byte for byte as it was.
 */
export function readVersion(db: Database.Database, tables: Tables, options: MigrateOptions): number {
  const { where, location } = options;
  // Lower-cased: SQLite's names ignore (ASCII) case, so tablePrefix 'TG_' names the tables
  // 'tg_' created. Compared as written, such a store read as none: create: false refused
  // it, and create: true ran the first step into 'table TG_meta already exists'.
  const existing = new Set(
    (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[]).map((name) => name.toLowerCase()),
  );
  if (!existing.has(tables.meta.toLowerCase())) {
    if (options.refuseForeign) {
      const columns = (table: string): string[] => db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[];
      const foreign = FOREIGN_FILES.find((file) => file.recognise(existing, columns));
      if (foreign !== undefined) {
        throw new MigrationError(
          `${where}: ${location} is a ${foreign.name} session file; @mtstore/sqlite keeps its own schema and does not write into it. ` +
            `Convert it with \`mtstore import ${location} <target>\`, or use another file name.`,
          { foreignLibrary: foreign.library },
        );
      }
    }
    const ours = Object.values(tables).filter((name) => existing.has(name.toLowerCase()));
    if (ours.length > 0) {
      throw new MigrationError(
        `${where}: ${location} has table ${ours[0]} but no ${tables.meta} table: it is not an @mtstore/sqlite database ` +
          '(another program’s tables, another mtstore adapter’s such as @mtstore/typeorm, or a damaged file). Use another file or tablePrefix.',
      );
    }
    if (options.mustExist === true) {
      const what = existing.size === 0 ? 'an empty database' : `${existing.size} table(s) of another program`;
      throw new NotFoundError(`${where}: ${location} holds no @mtstore/sqlite database (no ${tables.meta} table; ${what}); nothing was written`);
    }
    return 0;
  }
  // Safe integers whatever the (possibly borrowed) connection's default is.
  const version: unknown = db.prepare(`SELECT value FROM ${tables.meta} WHERE key = 'schema_version'`).pluck().safeIntegers(true).get();
  if (typeof version !== 'bigint' || version < 1n) {
    throw new MigrationError(`${where}: ${location} has no valid schema_version in ${tables.meta}`);
  }
  if (version > BigInt(SCHEMA_VERSION)) {
    throw new MigrationError(
      `${where}: ${location} was written by a newer @mtstore/sqlite (schema version ${version}; this one knows up to ${SCHEMA_VERSION}). Upgrade @mtstore/sqlite.`,
    );
  }
  return Number(version);
}
