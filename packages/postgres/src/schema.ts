/**
 * The schema and its versioned, forward-only migrations.
 *
 * Everything lives in one PostgreSQL schema (default `mtstore`), created if missing
 * (with `create: false`, a schema without our `migrations` table is NotFoundError and
 * nothing is created).
 * `migrations` records which versions are applied. Migrating runs in one transaction
 * under a transaction-level advisory lock keyed by the schema name, so processes that
 * start together migrate once: the others wait, then find the work done. A schema
 * written by a newer mtstore (a version this code does not know) is a MigrationError:
 * older code must not write into tables it does not understand.
 */
import { isStorageError, MigrationError, storeNotFound } from '@mtstore/core';
import type { Pool, PoolClient } from 'pg';
import { beginStatement, withTransaction } from './transaction.js';
import { TYPES } from './types.js';

interface Migration {
  version: number;
  /** What the step does, for a MigrationError naming the step that failed. */
  title: string;
  /** DDL for schema `s` (already quoted). Runs inside the migration transaction. */
  sql(s: string): string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    title: 'the first layout: sessions, dcs, channels, peers, server_sessions',
    sql: (s) => `
      -- Client sessions: one row per named session (one account).
      CREATE TABLE ${s}.sessions (
        id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name          text NOT NULL UNIQUE,
        home_dc_id    integer NOT NULL,
        api_id        integer,
        user_id       bigint,
        user_dc_id    integer,
        user_bot      boolean,
        user_username text,
        pts           integer,
        qts           integer,
        state_date    bigint,
        seq           integer,
        takeout_id    bigint,
        updated_at    timestamptz NOT NULL DEFAULT now()
      );

      -- Datacenters of a session, in the order saved. Nullable booleans keep absent/false/true apart.
      CREATE TABLE ${s}.dcs (
        session_id    bigint NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        position      integer NOT NULL,
        dc_id         integer NOT NULL,
        ipv4          text,
        ipv6          text,
        port          integer NOT NULL,
        test_mode     boolean,
        media_only    boolean,
        auth_key      bytea,
        has_temp_keys boolean NOT NULL, -- tempAuthKeys present (possibly empty) vs absent
        PRIMARY KEY (session_id, position)
      );

      CREATE TABLE ${s}.temp_auth_keys (
        session_id  bigint NOT NULL,
        dc_position integer NOT NULL,
        position    integer NOT NULL,
        key_index   integer NOT NULL,
        key         bytea NOT NULL,
        expires_at  bigint NOT NULL,
        PRIMARY KEY (session_id, dc_position, position),
        FOREIGN KEY (session_id, dc_position) REFERENCES ${s}.dcs (session_id, position) ON DELETE CASCADE
      );

      -- Channel pts. position orders channels as they were first stored (save order, then additions).
      CREATE SEQUENCE ${s}.channel_position;
      CREATE TABLE ${s}.channels (
        session_id bigint NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        channel_id bigint NOT NULL,
        pts        integer NOT NULL,
        position   bigint NOT NULL,
        PRIMARY KEY (session_id, channel_id)
      );

      -- The peer cache of each session. The phone constraint is DEFERRABLE so that it is
      -- checked at the end of the statement: one batch may move or swap phones.
      CREATE TABLE ${s}.peers (
        session_id  bigint NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        type        text NOT NULL CHECK (type IN ('user', 'chat', 'channel')),
        id          bigint NOT NULL,
        access_hash bigint NOT NULL,
        phone       text,
        min         boolean,
        updated_at  bigint NOT NULL,
        PRIMARY KEY (session_id, type, id),
        CONSTRAINT peers_phone_key UNIQUE (session_id, phone) DEFERRABLE
      );

      -- Usernames as given (ordered by position) with their lower-cased lookup key, one owner each.
      CREATE TABLE ${s}.peer_usernames (
        session_id   bigint NOT NULL,
        username_key text NOT NULL,
        username     text NOT NULL,
        type         text NOT NULL,
        peer_id      bigint NOT NULL,
        position     integer NOT NULL,
        CONSTRAINT peer_usernames_pkey PRIMARY KEY (session_id, username_key) DEFERRABLE,
        FOREIGN KEY (session_id, type, peer_id) REFERENCES ${s}.peers (session_id, type, id) ON DELETE CASCADE
      );
      CREATE INDEX peer_usernames_owner ON ${s}.peer_usernames (session_id, type, peer_id);

      -- Server side: live MTProto sessions, keyed by (auth key, session id).
      CREATE TABLE ${s}.server_sessions (
        auth_key_id bigint NOT NULL,
        session_id  bigint NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (auth_key_id, session_id)
      );
    `,
  },
  {
    // Contract v2. Keys move out of the DC rows into auth_keys, keyed by (DC id, main or
    // media-only entry, slot), so a key is written on its own and outlives address changes;
    // the session row may exist without a snapshot (home_dc_id NULL) so that keys, kv
    // entries, peers and reference messages can belong to a name before anything is saved.
    version: 2,
    title: 'contract v2: keys into auth_keys, user_usernames, kv and ref_messages',
    sql: (s) => `
      ALTER TABLE ${s}.sessions ALTER COLUMN home_dc_id DROP NOT NULL;
      ALTER TABLE ${s}.sessions ADD COLUMN user_usernames text[], ADD COLUMN user_premium boolean;
      UPDATE ${s}.sessions SET user_usernames = ARRAY[user_username] WHERE user_username IS NOT NULL;
      ALTER TABLE ${s}.sessions DROP COLUMN user_username;

      -- slot -1 is the permanent key; 0 and up are temp key slots (with expires_at).
      CREATE TABLE ${s}.auth_keys (
        session_id bigint NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        dc_id      integer NOT NULL,
        media_only boolean NOT NULL,
        slot       integer NOT NULL CHECK (slot >= -1),
        key        bytea NOT NULL,
        expires_at bigint,
        PRIMARY KEY (session_id, dc_id, media_only, slot),
        CHECK ((slot = -1) = (expires_at IS NULL))
      );
      -- v1 kept keys on the DC rows: move them, first entry (by position) winning if v1
      -- held the same (DC id, media-only) twice.
      INSERT INTO ${s}.auth_keys (session_id, dc_id, media_only, slot, key)
      SELECT session_id, dc_id, coalesce(media_only, false), -1, auth_key
        FROM ${s}.dcs WHERE auth_key IS NOT NULL
       ORDER BY session_id, position
      ON CONFLICT DO NOTHING;
      INSERT INTO ${s}.auth_keys (session_id, dc_id, media_only, slot, key, expires_at)
      SELECT t.session_id, d.dc_id, coalesce(d.media_only, false), t.key_index, t.key, t.expires_at
        FROM ${s}.temp_auth_keys t
        JOIN ${s}.dcs d ON d.session_id = t.session_id AND d.position = t.dc_position
       ORDER BY t.session_id, d.position, t.position
      ON CONFLICT DO NOTHING;
      DROP TABLE ${s}.temp_auth_keys;
      ALTER TABLE ${s}.dcs
        DROP COLUMN auth_key,
        DROP COLUMN has_temp_keys,
        ADD COLUMN host text,
        ALTER COLUMN port DROP NOT NULL;

      ALTER TABLE ${s}.peers ADD COLUMN display_name text, ADD COLUMN complete bytea;

      -- COLLATE "C": entries() sorts by byte, as JavaScript sorts ASCII keys, whatever the database locale.
      CREATE TABLE ${s}.kv (
        session_id bigint NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        key        text COLLATE "C" NOT NULL,
        value      bytea NOT NULL,
        PRIMARY KEY (session_id, key)
      );

      -- stored: drawn from a sequence on every store, so the largest is the most recent.
      CREATE TABLE ${s}.ref_messages (
        session_id bigint NOT NULL REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
        peer_id    bigint NOT NULL,
        chat_id    bigint NOT NULL,
        message_id integer NOT NULL,
        stored     bigserial NOT NULL,
        PRIMARY KEY (session_id, peer_id, chat_id, message_id)
      );
      CREATE INDEX ref_messages_recent ON ${s}.ref_messages (session_id, peer_id, stored);
      CREATE INDEX ref_messages_message ON ${s}.ref_messages (session_id, chat_id, message_id);
    `,
  },
  {
    // Version 3: server session lifetime. Times are epoch ms of the mtstore process's
    // clock (never the server's now()), so every adapter and the kit's controllable
    // clock agree. Existing sessions keep living for ever (expires_at NULL), last used
    // when created. The partial index serves the bounded sweep only.
    version: 3,
    title: 'server session lifetime: server_sessions.last_used_at, expires_at',
    sql: (s) => `
      ALTER TABLE ${s}.server_sessions ADD COLUMN last_used_at bigint, ADD COLUMN expires_at bigint;
      UPDATE ${s}.server_sessions SET last_used_at = (extract(epoch FROM created_at) * 1000)::bigint;
      -- A row written by hand (or by an older mtstore on the same schema) is last used now.
      ALTER TABLE ${s}.server_sessions ALTER COLUMN last_used_at SET NOT NULL,
        ALTER COLUMN last_used_at SET DEFAULT (extract(epoch FROM now()) * 1000)::bigint;
      CREATE INDEX server_sessions_expiry ON ${s}.server_sessions (expires_at) WHERE expires_at IS NOT NULL;
    `,
  },
  {
    // Version 4: refMessages.list pages in store order (`stored`) per session. Without
    // this index each page read all of the session's references and sorted them; with
    // it a page is one index range scan of n + 1 entries, as in the other adapters.
    version: 4,
    title: 'index ref_messages_stored',
    sql: (s) => `
      CREATE INDEX ref_messages_stored ON ${s}.ref_messages (session_id, stored);
    `,
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = (MIGRATIONS[MIGRATIONS.length - 1] as Migration).version;

/** `"name"`: safe because the name passed `assertIdentifier` (letters, digits, underscores). */
export function quoteIdentifier(name: string): string {
  return `"${name}"`;
}

/** SQLSTATE classes that mean "the server or connection failed", not "the schema is wrong". */
function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || /^(08|53|57)/.test(code);
}

function tooNew(where: string, schema: string, version: number): MigrationError {
  return new MigrationError(
    `${where}: schema "${schema}" is at version ${version}, written by a newer @mtstore/postgres; this version knows up to ${SCHEMA_VERSION}. Upgrade @mtstore/postgres.`,
  );
}

/**
 * A `migrations` table without a `version` column (42703): another program's, such as
 * TypeORM's or db-migrate's default table, when mtstore is pointed at the application's
 * own schema. It was StorageUnavailableError "column "version" does not exist", which
 * reads as an outage to wait out; it is the schema that is wrong, and stays so.
 */
function foreignMigrations(where: string, schema: string, mustExist: boolean, cause: unknown): Error {
  const what = 'its table "migrations" is another program\'s: it has no version column';
  if (mustExist) return storeNotFound(where, `schema "${schema}"`, '@mtstore/postgres', what);
  return new MigrationError(
    `${where}: schema "${schema}" has a table "migrations" that is not @mtstore/postgres's (it has no version column): another program's migrations? Give mtstore a schema of its own (the schema option; default "mtstore").`,
    { cause },
  );
}

async function appliedVersion(client: Pool | PoolClient, schema: string): Promise<number | undefined> {
  const { rows } = await client.query<{ version: number | null }>({
    text: `SELECT max(version) AS version FROM ${quoteIdentifier(schema)}.migrations`,
    types: TYPES,
  });
  return rows[0]?.version ?? undefined;
}

export interface MigrateOptions {
  /**
   * The `create: false` option: a schema without an applied migration is NotFoundError
   * and nothing is created. A store that is there is migrated as usual.
   */
  mustExist?: boolean;
  /** Prefix of the NotFoundError's message, e.g. `PostgresStorage`. */
  where?: string;
}

/**
 * Brings `schema` to SCHEMA_VERSION (or to `target`: the migration tests build a v1
 * schema with v1's own DDL). The common case (already current) is one query without
 * locks; otherwise one transaction under the advisory lock. With `mustExist`, the
 * first query (a read) decides: no store there, and nothing else runs.
 */
export async function migrate(pool: Pool, schema: string, target = SCHEMA_VERSION, options: MigrateOptions = {}): Promise<void> {
  const where = options.where ?? 'PostgreSQL';
  let missing: string | undefined;
  try {
    const version = await appliedVersion(pool, schema);
    if (version === target) return;
    if (version !== undefined && version > SCHEMA_VERSION) throw tooNew(where, schema, version);
    if (version === undefined) missing = `no applied version in table "${schema}".migrations`;
  } catch (error) {
    // 3F000 no such schema, 42P01 no such table: a fresh database, migrate below.
    const code = (error as { code?: unknown }).code;
    if (code === '42703') throw foreignMigrations(where, schema, options.mustExist === true, error);
    if (code !== '3F000' && code !== '42P01') throw error;
    missing = `no table "${schema}".migrations`;
  }
  if (options.mustExist === true && missing !== undefined) {
    // PostgreSQL answers 42P01 also when the schema itself is missing: say which.
    const { rowCount } = await pool.query({ text: 'SELECT 1 FROM pg_namespace WHERE nspname = $1', values: [schema] });
    if (rowCount === 0) missing = 'the schema does not exist';
    throw storeNotFound(where, `schema "${schema}"`, '@mtstore/postgres', missing);
  }
  // What runs now: a failure names it (which step of which version), as a DBA needs to
  // know what to look at. Never values: the DDL binds none, and the server's message
  // names objects, not rows (a row's values would be in the cause's `detail`).
  const step = { now: 'taking the migration lock' };
  try {
    // The application's statement_timeout (its pool's `options`, its role's) is for its
    // own queries: a process waiting for another's migration, or a step over a large
    // table, outlasted a short one and failed (canceling statement due to statement
    // timeout) on every start. beginStatement gives it as long as the client waits.
    await withTransaction(pool, beginStatement(pool), async (client) => {
      await client.query({ text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', values: [`mtstore:migrate:${schema}`] });
      await migrateLocked(client, schema, target, options, step);
    });
  } catch (error) {
    if (isStorageError(error) || isConnectionFailure(error)) throw error;
    const code = (error as { code?: unknown }).code;
    throw new MigrationError(
      `${where}: could not migrate schema "${schema}" to version ${target}: ${step.now} failed: ${(error as Error).message}${typeof code === 'string' ? ` (SQLSTATE ${code})` : ''}`,
      { cause: error },
    );
  }
}

async function migrateLocked(client: PoolClient, schema: string, target: number, options: MigrateOptions, step: { now: string }): Promise<void> {
  const where = options.where ?? 'PostgreSQL';
  const s = quoteIdentifier(schema);
  if (options.mustExist === true) {
    // Under the lock: the store seen before it may have been dropped since. Nothing is created without it.
    const found = await client.query<{ table: string | null }>({ text: 'SELECT to_regclass($1)::text AS table', values: [`${s}.migrations`] });
    if ((found.rows[0]?.table ?? null) === null) throw storeNotFound(where, `schema "${schema}"`, '@mtstore/postgres', `no table "${schema}".migrations`);
  }
  // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists: look first.
  step.now = `creating schema "${schema}"`;
  const exists = await client.query({ text: 'SELECT 1 FROM pg_namespace WHERE nspname = $1', values: [schema] });
  if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
  step.now = `creating table "${schema}".migrations`;
  await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  step.now = `reading the applied version from "${schema}".migrations`;
  const current = (await appliedVersion(client, schema)) ?? 0;
  if (current > SCHEMA_VERSION) throw tooNew(where, schema, current);
  for (const migration of MIGRATIONS) {
    if (migration.version <= current || migration.version > target) continue;
    step.now = `step ${migration.version - 1} → ${migration.version} (${migration.title}), from version ${current}`;
    await client.query(migration.sql(s));
    await client.query({ text: `INSERT INTO ${s}.migrations (version) VALUES ($1)`, values: [migration.version] });
  }
}
