/**
 * The tables, described once. The same description becomes the DDL of the
 * migrations (TypeORM `Table`s, so each driver gets its own column types) and the
 * `EntitySchema`s an application may register (entities.ts), so an application that
 * registers both sees no schema difference.
 *
 * Layout (every name behind the table prefix, default `mtstore_`):
 *
 *   schema_version   id = 1, version: the schema version these tables are at
 *   sessions         one row per named client session: home DC, api id, user, update state, takeout
 *   datacenters      (session_name, ord): one row per DC of the session, permanent key as binary
 *   temp_auth_keys   (session_name, dc_ord, ord): PFS keys of a DC
 *   channels         (session_name, channel_id) unique: pts per channel; `seq` keeps insertion order
 *   peers            (session_name, peer_type, peer_id): access hash, min, phone, updated_at, usernames
 *   peer_usernames   (session_name, username_key): lower-cased username → its owner (the lookup index)
 *   server_sessions  (auth_key_id, session_id): live MTProto sessions of a server
 *
 * 64-bit ids are BIGINT; times are BIGINT epoch seconds (they exceed INT32); booleans
 * are nullable so absent, false and true stay three values.
 */
import { createHash } from 'node:crypto';
import { assertIdentifier, MigrationError } from '@mtstore/core';
import { Table, TableIndex, type DataSource, type QueryRunner, type TableColumnOptions } from 'typeorm';
import { Dialect, dialectOf } from './dialect.js';

export const DEFAULT_TABLE_PREFIX = 'mtstore_';

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 1;

export type ColumnKind = 'int' | 'int64' | 'seq' | 'bool' | 'key' | 'varchar' | 'text';

export interface ColumnSpec {
  /** Column name in the database. */
  name: string;
  /** Property name on the entity. */
  property: string;
  kind: ColumnKind;
  /** For varchar columns. */
  length?: number;
  nullable?: boolean;
  primary?: boolean;
}

export interface IndexSpec {
  name: string;
  columns: readonly string[];
  unique?: boolean;
}

export interface TableSpec {
  /** Table name without the prefix. */
  base: string;
  /** Entity name without the prefix. */
  entity: string;
  columns: readonly ColumnSpec[];
  indices?: readonly IndexSpec[];
}

const NAME: Omit<ColumnSpec, 'primary'> = { name: 'session_name', property: 'sessionName', kind: 'varchar', length: 128 };
const PEER_TYPE = { kind: 'varchar', length: 7 } as const;
const USERNAME = { kind: 'varchar', length: 64 } as const;

/** Version 1 of the schema, as it is created by migration 1. */
function specsV1(prefix: string): TableSpec[] {
  return [
    {
      base: 'schema_version',
      entity: 'SchemaVersion',
      columns: [
        { name: 'id', property: 'id', kind: 'int', primary: true },
        { name: 'version', property: 'version', kind: 'int' },
      ],
    },
    {
      base: 'sessions',
      entity: 'Session',
      columns: [
        { ...NAME, primary: true },
        { name: 'home_dc_id', property: 'homeDcId', kind: 'int' },
        { name: 'api_id', property: 'apiId', kind: 'int', nullable: true },
        { name: 'user_id', property: 'userId', kind: 'int64', nullable: true },
        { name: 'user_dc_id', property: 'userDcId', kind: 'int', nullable: true },
        { name: 'user_bot', property: 'userBot', kind: 'bool', nullable: true },
        { name: 'user_username', property: 'userUsername', ...USERNAME, nullable: true },
        { name: 'state_pts', property: 'statePts', kind: 'int', nullable: true },
        { name: 'state_qts', property: 'stateQts', kind: 'int', nullable: true },
        { name: 'state_date', property: 'stateDate', kind: 'int64', nullable: true },
        { name: 'state_seq', property: 'stateSeq', kind: 'int', nullable: true },
        { name: 'takeout_id', property: 'takeoutId', kind: 'int64', nullable: true },
      ],
    },
    {
      base: 'datacenters',
      entity: 'Datacenter',
      columns: [
        { ...NAME, primary: true },
        { name: 'ord', property: 'ord', kind: 'int', primary: true },
        { name: 'dc_id', property: 'dcId', kind: 'int' },
        { name: 'ipv4', property: 'ipv4', kind: 'varchar', length: 15, nullable: true },
        { name: 'ipv6', property: 'ipv6', kind: 'varchar', length: 45, nullable: true },
        { name: 'port', property: 'port', kind: 'int' },
        { name: 'test_mode', property: 'testMode', kind: 'bool', nullable: true },
        { name: 'media_only', property: 'mediaOnly', kind: 'bool', nullable: true },
        { name: 'auth_key', property: 'authKey', kind: 'key', nullable: true },
      ],
    },
    {
      base: 'temp_auth_keys',
      entity: 'TempAuthKey',
      columns: [
        { ...NAME, primary: true },
        { name: 'dc_ord', property: 'dcOrd', kind: 'int', primary: true },
        { name: 'ord', property: 'ord', kind: 'int', primary: true },
        { name: 'key_index', property: 'keyIndex', kind: 'int' },
        { name: 'auth_key', property: 'authKey', kind: 'key' },
        { name: 'expires_at', property: 'expiresAt', kind: 'int64' },
      ],
    },
    {
      base: 'channels',
      entity: 'Channel',
      columns: [
        // Insertion order: load returns channels in the order they were saved or first added.
        { name: 'seq', property: 'seq', kind: 'seq', primary: true },
        NAME,
        { name: 'channel_id', property: 'channelId', kind: 'int64' },
        { name: 'pts', property: 'pts', kind: 'int' },
      ],
      indices: [{ name: `${prefix}channel_key`, columns: ['session_name', 'channel_id'], unique: true }],
    },
    {
      base: 'peers',
      entity: 'Peer',
      columns: [
        { ...NAME, primary: true },
        { name: 'peer_type', property: 'peerType', ...PEER_TYPE, primary: true },
        { name: 'peer_id', property: 'peerId', kind: 'int64', primary: true },
        { name: 'access_hash', property: 'accessHash', kind: 'int64' },
        { name: 'is_min', property: 'isMin', kind: 'bool', nullable: true },
        { name: 'phone', property: 'phone', kind: 'varchar', length: 20, nullable: true },
        { name: 'updated_at', property: 'updatedAt', kind: 'int64' },
        // The usernames as given, in order, separated by spaces ('' for none): a lookup reads one row.
        { name: 'usernames', property: 'usernames', kind: 'text' },
      ],
      indices: [{ name: `${prefix}peer_phone`, columns: ['session_name', 'phone'] }],
    },
    {
      base: 'peer_usernames',
      entity: 'PeerUsername',
      columns: [
        { ...NAME, primary: true },
        { name: 'username_key', property: 'usernameKey', ...USERNAME, primary: true },
        { name: 'peer_type', property: 'peerType', ...PEER_TYPE },
        { name: 'peer_id', property: 'peerId', kind: 'int64' },
      ],
      indices: [{ name: `${prefix}username_peer`, columns: ['session_name', 'peer_type', 'peer_id'] }],
    },
    {
      base: 'server_sessions',
      entity: 'ServerSession',
      columns: [
        { name: 'auth_key_id', property: 'authKeyId', kind: 'int64', primary: true },
        { name: 'session_id', property: 'sessionId', kind: 'int64', primary: true },
      ],
    },
  ];
}

/** The tables of the current schema version. */
export function tableSpecs(prefix: string): TableSpec[] {
  return specsV1(prefix);
}

/** The TypeORM column type of a kind on a dialect. */
export function columnType(kind: ColumnKind, dialect: Dialect['name']): string {
  switch (kind) {
    case 'int':
      return dialect === 'mysql' ? 'int' : 'integer';
    case 'int64':
      return 'bigint';
    case 'seq':
      // sqlite allows AUTOINCREMENT only on INTEGER PRIMARY KEY (which is 64-bit there).
      return dialect === 'sqlite' ? 'integer' : 'bigint';
    case 'bool':
      return 'boolean';
    case 'key':
      return dialect === 'postgres' ? 'bytea' : dialect === 'mysql' ? 'varbinary' : 'blob';
    case 'varchar':
      return 'varchar';
    case 'text':
      return 'text';
  }
}

/** Length of a column, where its type takes one. */
export function columnLength(spec: ColumnSpec, dialect: Dialect['name']): number | undefined {
  if (spec.kind === 'varchar') return spec.length;
  if (spec.kind === 'key' && dialect === 'mysql') return 256;
  return undefined;
}

function toTable(spec: TableSpec, prefix: string, dialect: Dialect['name']): Table {
  const columns: TableColumnOptions[] = spec.columns.map((c) => {
    const length = columnLength(c, dialect);
    const column: TableColumnOptions = {
      name: c.name,
      type: columnType(c.kind, dialect),
      isNullable: c.nullable === true,
      isPrimary: c.primary === true,
    };
    if (length !== undefined) column.length = String(length);
    if (c.kind === 'seq') {
      column.isGenerated = true;
      column.generationStrategy = 'increment';
    }
    // Every string we store is ASCII; a binary collation keeps names case-sensitive on MySQL.
    if ((c.kind === 'varchar' || c.kind === 'text') && dialect === 'mysql') {
      column.charset = 'ascii';
      column.collation = 'ascii_bin';
    }
    return column;
  });
  const indices = (spec.indices ?? []).map((i) => new TableIndex({ name: i.name, columnNames: [...i.columns], isUnique: i.unique === true }));
  return new Table({ name: `${prefix}${spec.base}`, columns, indices });
}

/** Table names of one prefix, as TypeORM names them (unquoted) and as our SQL uses them (quoted, qualified). */
export interface SchemaContext {
  readonly dialect: Dialect;
  readonly prefix: string;
  /** Quoted and qualified by schema (postgres) or database (mysql) where the DataSource sets one. */
  readonly tables: Readonly<Record<TableKey, string>>;
  /** Unquoted names, for TypeORM's schema API. */
  readonly names: Readonly<Record<TableKey, string>>;
}

export type TableKey = 'schemaVersion' | 'sessions' | 'datacenters' | 'tempAuthKeys' | 'channels' | 'peers' | 'peerUsernames' | 'serverSessions';

const BASES: Readonly<Record<TableKey, string>> = {
  schemaVersion: 'schema_version',
  sessions: 'sessions',
  datacenters: 'datacenters',
  tempAuthKeys: 'temp_auth_keys',
  channels: 'channels',
  peers: 'peers',
  peerUsernames: 'peer_usernames',
  serverSessions: 'server_sessions',
};

export function assertTablePrefix(prefix: unknown, where: string): asserts prefix is string {
  assertIdentifier(prefix, `${where}: tablePrefix`, { allowEmpty: true });
}

/** Everything SQL needs to know about a DataSource and a prefix. The DataSource need not be initialized. */
export function schemaContext(dataSource: DataSource, prefix: string, where: string): SchemaContext {
  const name = dialectOf(dataSource.options.type, where);
  const driver = dataSource.driver;
  const dialect = new Dialect(name, (identifier) => driver.escape(identifier));
  // The same qualifier TypeORM puts in front of its own entity tables.
  const qualifier = name === 'postgres' ? (dataSource.options as { schema?: string }).schema : name === 'mysql' ? driver.database : undefined;
  const names = {} as Record<TableKey, string>;
  const tables = {} as Record<TableKey, string>;
  for (const [key, base] of Object.entries(BASES) as [TableKey, string][]) {
    names[key] = `${prefix}${base}`;
    tables[key] = dialect.table(qualifier, names[key]);
  }
  return { dialect, prefix, tables, names };
}

/** The version the tables are at: 0 when there are none. */
export async function readSchemaVersion(runner: QueryRunner, context: SchemaContext): Promise<number> {
  if (!(await runner.hasTable(context.names.schemaVersion))) return 0;
  const rows = (await runner.query(`SELECT version FROM ${context.tables.schemaVersion} WHERE id = 1`)) as { version: unknown }[];
  const version = Number(rows[0]?.version ?? 0);
  if (!Number.isInteger(version) || version < 0) {
    throw new MigrationError(`${context.names.schemaVersion} holds an unreadable schema version`);
  }
  return version;
}

async function writeSchemaVersion(runner: QueryRunner, context: SchemaContext, version: number): Promise<void> {
  const { dialect, tables } = context;
  await runner.query(dialect.sql(dialect.upsert(`INSERT INTO ${tables.schemaVersion} (id, version)`, '(1, ?)', ['id'], ['version'])), [version]);
}

/**
 * Serializes schema changes of one prefix across processes: a transaction-scoped
 * advisory lock on postgres, a named lock on MySQL. sqlite needs none: its DDL runs
 * in a transaction that takes the database's single write lock.
 * Returns the function that releases it.
 */
async function lockSchema(runner: QueryRunner, context: SchemaContext): Promise<() => Promise<void>> {
  const { dialect } = context;
  const key = `mtstore:${createHash('sha1').update(`${context.tables.schemaVersion}`).digest('hex')}`;
  if (dialect.name === 'postgres') {
    await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
    return async () => {};
  }
  if (dialect.name === 'mysql') {
    const rows = (await runner.query('SELECT GET_LOCK(?, 60) AS locked', [key])) as { locked: unknown }[];
    if (Number(rows[0]?.locked) !== 1) throw new MigrationError(`could not lock ${context.names.schemaVersion} for migration within 60 s`);
    return async () => {
      await runner.query('SELECT RELEASE_LOCK(?)', [key]);
    };
  }
  return async () => {};
}

/** One forward step of the schema. */
interface Step {
  version: number;
  up(runner: QueryRunner, context: SchemaContext): Promise<void>;
  down(runner: QueryRunner, context: SchemaContext): Promise<void>;
}

const STEPS: readonly Step[] = [
  {
    version: 1,
    async up(runner, { prefix, dialect }) {
      for (const spec of specsV1(prefix)) await runner.createTable(toTable(spec, prefix, dialect.name), true);
    },
    async down(runner, { prefix }) {
      for (const spec of specsV1(prefix).reverse()) await runner.dropTable(`${prefix}${spec.base}`, true);
    },
  },
];

function tooNew(context: SchemaContext, version: number): MigrationError {
  return new MigrationError(
    `the tables with prefix ${JSON.stringify(context.prefix)} are at schema version ${version}, newer than this @mtstore/typeorm knows (${SCHEMA_VERSION}): upgrade the package`,
  );
}

/**
 * Brings the tables up to `target` (default: the current version) on `runner`, which
 * should be inside a transaction where the database has transactional DDL
 * (postgres, sqlite; MySQL commits each DDL statement). Idempotent: steps already
 * applied are skipped, so the adapter's own migration and the TypeORM migration
 * classes can both run, in either order.
 */
export async function migrateUp(runner: QueryRunner, context: SchemaContext, target = SCHEMA_VERSION): Promise<void> {
  const unlock = await lockSchema(runner, context);
  try {
    const current = await readSchemaVersion(runner, context);
    if (current > SCHEMA_VERSION) throw tooNew(context, current);
    if (current >= target) return;
    for (const step of STEPS) {
      if (step.version > current && step.version <= target) {
        await step.up(runner, context);
        await writeSchemaVersion(runner, context, step.version);
      }
    }
  } finally {
    await unlock();
  }
}

/** Reverts the tables to version `target` (0 drops them all). */
export async function migrateDown(runner: QueryRunner, context: SchemaContext, target: number): Promise<void> {
  const unlock = await lockSchema(runner, context);
  try {
    const current = await readSchemaVersion(runner, context);
    if (current > SCHEMA_VERSION) throw tooNew(context, current);
    for (const step of [...STEPS].reverse()) {
      if (step.version <= current && step.version > target) {
        await step.down(runner, context);
        if (step.version > 1) await writeSchemaVersion(runner, context, step.version - 1);
      }
    }
  } finally {
    await unlock();
  }
}

/** Checks without changing anything that the tables are at the current version. */
export async function checkSchema(runner: QueryRunner, context: SchemaContext): Promise<void> {
  const current = await readSchemaVersion(runner, context);
  if (current > SCHEMA_VERSION) throw tooNew(context, current);
  if (current < SCHEMA_VERSION) {
    throw new MigrationError(
      `the tables with prefix ${JSON.stringify(context.prefix)} are at schema version ${current}, this @mtstore/typeorm needs ${SCHEMA_VERSION}: run the migrations (mtstoreMigrations) or let the adapter migrate (migrate: true)`,
    );
  }
}
