/**
 * The native schema (documented table by table in README.md) and its versioned,
 * forward-only migrations. The version lives in `<prefix>meta`, not in
 * `PRAGMA user_version`, because one file may hold several prefixes and a borrowed
 * database may use user_version for its own purposes.
 */
import type Database from 'better-sqlite3';
import { MigrationError } from '@mtstore/core';

/** The schema version this code writes. A file at a higher version is refused. */
export const SCHEMA_VERSION = 1;

/** Table and index names under one (validated) prefix. */
export interface Tables {
  readonly meta: string;
  readonly sessions: string;
  readonly dcs: string;
  readonly tempKeys: string;
  readonly channels: string;
  readonly peers: string;
  readonly usernames: string;
  readonly serverSessions: string;
}

/** `prefix` must have passed `assertIdentifier`: it is interpolated into SQL. */
export function tableNames(prefix: string): Tables {
  return {
    meta: `${prefix}meta`,
    sessions: `${prefix}sessions`,
    dcs: `${prefix}dcs`,
    tempKeys: `${prefix}temp_auth_keys`,
    channels: `${prefix}channels`,
    peers: `${prefix}peers`,
    usernames: `${prefix}peer_usernames`,
    serverSessions: `${prefix}server_sessions`,
  };
}

/**
 * `MIGRATIONS[v]` takes the schema from version v to v + 1. Never edit a released
 * entry: add the next one. Booleans are INTEGER 0/1 with NULL for "absent"; 64-bit
 * ids are INTEGER (read back with safe integers).
 */
const MIGRATIONS: ReadonlyArray<(t: Tables) => string> = [
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
];

/** Tables Telethon creates in its `.session` files. */
const TELETHON_TABLES = ['version', 'sessions', 'entities'];

export interface MigrateOptions {
  /** Prefix of every message, e.g. `SqliteStorage("bot")`. */
  where: string;
  /** Where the database is, for messages: a file path or `a borrowed database`. */
  location: string;
  /** Refuse a Telethon session file (only for files the adapter opened itself). */
  refuseTelethon: boolean;
}

/**
 * Brings the schema to SCHEMA_VERSION. The common case (already current) is one
 * read; otherwise the migrations run in one IMMEDIATE transaction, after reading
 * the version again inside it, so two processes opening a new file at once run
 * them once between them.
 */
export function migrate(db: Database.Database, tables: Tables, options: MigrateOptions): void {
  if (readVersion(db, tables, options) === SCHEMA_VERSION) return;
  db.transaction(() => {
    const from = readVersion(db, tables, options);
    if (from === SCHEMA_VERSION) return;
    for (let version = from; version < SCHEMA_VERSION; version++) {
      db.exec((MIGRATIONS[version] as (t: Tables) => string)(tables));
    }
    db.prepare(`INSERT INTO ${tables.meta} (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(SCHEMA_VERSION);
  }).immediate();
}

/** The stored version, 0 for a database without mtstore tables; MigrationError for anything unusable. */
function readVersion(db: Database.Database, tables: Tables, options: MigrateOptions): number {
  const { where, location } = options;
  const existing = new Set(
    db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[],
  );
  if (!existing.has(tables.meta)) {
    if (options.refuseTelethon && TELETHON_TABLES.every((name) => existing.has(name))) {
      throw new MigrationError(
        `${where}: ${location} is a Telethon session file; mtstore keeps its own schema and does not convert it. Use another file name.`,
      );
    }
    const ours = Object.values(tables).filter((name) => existing.has(name));
    if (ours.length > 0) {
      throw new MigrationError(
        `${where}: ${location} has table ${ours[0]} but no ${tables.meta} table: it is not an @mtstore/sqlite database ` +
          '(another program’s tables, another mtstore adapter’s such as @mtstore/typeorm, or a damaged file). Use another file or tablePrefix.',
      );
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
