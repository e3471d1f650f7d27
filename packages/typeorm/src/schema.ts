/**
 * Schema versions and the steps between them, shared by the adapter's own migration
 * on first use and the TypeORM migration classes (migrations.ts). The tables are
 * described in tables.ts; the v1 → v2 step is in upgrade-v2.ts, v2 → v3 in upgrade-v3.ts,
 * v3 → v4 in upgrade-v4.ts.
 */
import { createHash } from 'node:crypto';
import { assertIdentifier, describeValue, InvalidArgumentError, MigrationError } from '@mtstore/core';
import type { DataSource, QueryRunner } from 'typeorm';
import { Dialect, dialectOf, type DialectName } from './dialect.js';
import { specsV1, tableSpecs, toTable } from './tables.js';
import { downV2, upV2 } from './upgrade-v2.js';
import { downV3, upV3 } from './upgrade-v3.js';
import { downV4, upV4 } from './upgrade-v4.js';

export const DEFAULT_TABLE_PREFIX = 'mtstore_';

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 4;
/** Table names of one prefix, as TypeORM names them (unquoted) and as our SQL uses them (quoted, qualified). */
export interface SchemaContext {
  readonly dialect: Dialect;
  readonly prefix: string;
  /** Quoted and qualified by schema (postgres) or database (mysql) where the DataSource sets one. */
  readonly tables: Readonly<Record<TableKey, string>>;
  /** Unquoted names, for TypeORM's schema API. */
  readonly names: Readonly<Record<TableKey, string>>;
  /**
   * The migrating instance's clock, epoch ms, for the times a step writes (step 3's
   * last_used_at): a TypeormSessionStorage's `clock` option, as its every other write
   * (contract §7.1); Date.now for instances that keep no times and the migration classes.
   */
  readonly clock: () => number;
}

export type TableKey =
  | 'schemaVersion'
  | 'sessions'
  | 'datacenters'
  | 'authKeys'
  | 'tempAuthKeys'
  | 'channels'
  | 'peers'
  | 'peerUsernames'
  | 'kv'
  | 'refMessages'
  | 'serverSessions'
  | 'leases';

const BASES: Readonly<Record<TableKey, string>> = {
  schemaVersion: 'schema_version',
  sessions: 'sessions',
  datacenters: 'datacenters',
  authKeys: 'auth_keys',
  /** Version 1 only: migration 2 moves its keys into auth_keys. */
  tempAuthKeys: 'temp_auth_keys',
  channels: 'channels',
  peers: 'peers',
  peerUsernames: 'peer_usernames',
  kv: 'kv',
  refMessages: 'ref_messages',
  serverSessions: 'server_sessions',
  /** Session leases: created on first use by lease.ts, outside the versioned schema. */
  leases: 'leases',
};

export function assertTablePrefix(prefix: unknown, where: string): asserts prefix is string {
  assertIdentifier(prefix, `${where}: tablePrefix`, { allowEmpty: true });
}

/**
 * Schema (postgres) and database (mysql) names as they may come from a DataSource:
 * ASCII letters, digits, `_`, `$` and `-`, at most 63 characters (postgres' NAMEDATALEN
 * − 1) or 64 (MySQL's limit).
 *
 * Not core's assertIdentifier (a letter or `_` first, at most 48, no `$` or `-`): that
 * rule is for names mtstore chooses (table prefixes, @mtstore/postgres' own schema),
 * while this name is the application's, already in use by its own entities, and valid
 * names such as `2024_app`, `billing$v2`, `my-app` (a common MySQL database name), or
 * one of 49-64 characters, must keep working. Every character here is inert both inside
 * a quoted identifier (our SQL, TypeORM's DDL) and inside the string literal TypeORM's
 * own `hasTable` puts the name in (`table_schema = '<name>'`, not a parameter): no
 * quote, backtick, backslash, semicolon, whitespace, dot, `?` or control character.
 */
const QUALIFIER = /^[A-Za-z0-9_$-]+$/;
const QUALIFIER_MAX: Readonly<Record<Exclude<DialectName, 'sqlite'>, number>> = { postgres: 63, mysql: 64 };

/**
 * The schema (postgres: the `schema` option) or database (mysql: `database`, from the
 * options, the URL or `replication.master`) that qualifies our table names, validated:
 * it is written into SQL text, by us and by TypeORM. Undefined when the DataSource
 * names none (or sqlite). Throws InvalidArgumentError before any I/O.
 */
export function tableQualifier(dataSource: DataSource, name: DialectName, where: string): string | undefined {
  if (name === 'sqlite') return undefined;
  // The same qualifier TypeORM puts in front of its own entity tables.
  const value: unknown = name === 'postgres' ? (dataSource.options as { schema?: unknown }).schema : dataSource.driver.database;
  if (value === undefined || value === null || value === '') return undefined;
  const max = QUALIFIER_MAX[name];
  if (typeof value !== 'string' || value.length > max || !QUALIFIER.test(value)) {
    const [option, what] = name === 'postgres' ? ['the DataSource option schema', 'schema'] : ["the DataSource's database (option database, or its url's path)", 'database'];
    throw new InvalidArgumentError(`${where}: ${option} must be a ${what} name of 1-${max} ASCII letters, digits, _, $ or -, got ${describeValue(value)}`);
  }
  return value;
}

/** Everything SQL needs to know about a DataSource and a prefix. The DataSource need not be initialized. */
export function schemaContext(dataSource: DataSource, prefix: string, where: string, clock: () => number = Date.now): SchemaContext {
  const name = dialectOf(dataSource.options.type, where);
  const qualifier = tableQualifier(dataSource, name, where);
  const dialect = new Dialect(name);
  const names = {} as Record<TableKey, string>;
  const tables = {} as Record<TableKey, string>;
  for (const [key, base] of Object.entries(BASES) as [TableKey, string][]) {
    names[key] = `${prefix}${base}`;
    tables[key] = dialect.table(qualifier, names[key]);
  }
  return { dialect, prefix, tables, names, clock };
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
 * Serializes schema changes of one prefix across processes: an advisory lock on
 * postgres, a named lock on MySQL. sqlite needs none: its DDL runs in a transaction that
 * takes the database's single write lock. On postgres the lock is transaction-scoped
 * when a transaction is open (the adapter's own migration, TypeORM's default for
 * migrations); without one — the migration classes run with `migrationsTransactionMode:
 * 'none'` or `migration:run -t none` — a transaction-scoped lock would end with its own
 * statement, so the session's lock is taken and released instead.
 * Returns the function that releases it.
 */
async function lockSchema(runner: QueryRunner, context: SchemaContext): Promise<() => Promise<void>> {
  const { dialect } = context;
  const key = `mtstore:${createHash('sha1').update(`${context.tables.schemaVersion}`).digest('hex')}`;
  if (dialect.name === 'postgres') {
    if (runner.isTransactionActive) {
      await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
      return async () => {};
    }
    await runner.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
    return async () => {
      await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
    };
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
  { version: 2, up: upV2, down: downV2 },
  { version: 3, up: upV3, down: downV3 },
  { version: 4, up: upV4, down: downV4 },
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
 * classes can both run, in either order. With `missing` (the `create: false` option)
 * tables that are not there, found under the lock, are its error: nothing is created.
 */
export async function migrateUp(runner: QueryRunner, context: SchemaContext, target = SCHEMA_VERSION, options: { missing?: () => Error } = {}): Promise<void> {
  const unlock = await lockSchema(runner, context);
  try {
    const current = await readSchemaVersion(runner, context);
    if (current > SCHEMA_VERSION) throw tooNew(context, current);
    // The connection checked before it locked: the store went away since. Never create it here.
    if (current === 0 && options.missing !== undefined) throw options.missing();
    if (current >= target) return;
    if (current === 0 && target === SCHEMA_VERSION && (await noTables(runner, context))) {
      await createCurrent(runner, context);
      return;
    }
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

/**
 * True when no table of any schema version exists under the prefix. Version 0 alone
 * does not say so: on MySQL, which commits each DDL statement, a first migration that
 * stopped half-way leaves some version-1 tables and no version written; the steps
 * finish those.
 */
async function noTables(runner: QueryRunner, context: SchemaContext): Promise<boolean> {
  for (const [key, name] of Object.entries(context.names) as [TableKey, string][]) {
    if (key !== 'leases' && (await runner.hasTable(name))) return false;
  }
  return true;
}

/**
 * A store with no tables gets the current ones at once, as the steps would leave them
 * (the schema test compares the two): each step reads the tables back through
 * TypeORM's introspection before it changes them: ~170 statements on postgres against
 * ~35 here, which made a new store's first use take ~250 ms instead of ~40.
 */
async function createCurrent(runner: QueryRunner, context: SchemaContext): Promise<void> {
  for (const spec of tableSpecs(context.prefix)) await runner.createTable(toTable(spec, context.prefix, context.dialect.name), false);
  await writeSchemaVersion(runner, context, SCHEMA_VERSION);
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
