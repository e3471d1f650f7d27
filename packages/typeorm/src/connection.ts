/**
 * One DataSource as the adapter uses it: borrowed (the application's, never
 * destroyed here) or owned (created from options, initialized on first use and
 * destroyed by `close`), made ready once (schema created or checked), and the two
 * ways statements run: alone, or together in a transaction.
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { assertTimerMs, CallsInFlight, createOption, InvalidArgumentError, isStorageError, LeaseLostError, MigrationError, Once, storeNotFound, StorageClosedError, StorageUnavailableError } from '@mtstore/core';
import { DataSource, QueryFailedError, type DataSourceOptions, type QueryRunner } from 'typeorm';
import { dialectOf } from './dialect.js';
import { bindsSecret, querySecret } from './mysql-execute.js';
import { ownedMysqlModule } from './mysql-pool.js';
import { ownedPgModule } from './pool.js';
import { beginStatement, closeIdle, closeNow, DESTROY_TIMEOUT_MS, idleOf, idleTransactionStatement, isConnectionError, isMissingTable, isStatementTimeout, liveGeneration, membersOf, poolsOf, queryTimeoutOf, socketOf, StatementTimeout, within, withOwnedDefaults, type Pool } from './timeouts.js';
import { checkSchema, DEFAULT_TABLE_PREFIX, migrateUp, assertTablePrefix, readSchemaVersion, schemaContext, type SchemaContext } from './schema.js';

/** Where the tables live and who owns the DataSource. Give exactly one of `dataSource` and `options`. */
export interface TypeormConnectionOptions {
  /**
   * The application's DataSource, initialized by the application before first use.
   * It is shared, never destroyed by the adapter.
   */
  dataSource?: DataSource | undefined;
  /** Options of a DataSource the adapter creates, initializes on first use and destroys on `close()`. */
  options?: DataSourceOptions | undefined;
  /** Prefix of every table name: letters, digits, underscores, at most 48. Default `mtstore_`. */
  tablePrefix?: string | undefined;
  /**
   * Create or migrate the tables on first use (default true). With false the adapter
   * only checks the schema version and fails with MigrationError until the
   * application has run `mtstoreMigrations()`.
   */
  migrate?: boolean | undefined;
  /**
   * `false`: open only an @mtstore/typeorm store that is there. Without this prefix's
   * `schema_version` table (another program's database, an empty one; with an owned
   * better-sqlite3 DataSource also a file that does not exist) the first use is
   * NotFoundError and nothing is written: no table, index, file or folder, and
   * `lease.holder()` creates no lease table. A store at an older schema version is
   * migrated as with `true` (with `migrate: false`, checked as usual). For tools that
   * only read. Default `true`: create what is missing.
   */
  create?: boolean | undefined;
  /**
   * How long `close()` waits, in ms, with no call in flight settling before it gives up
   * on the rest (default 5000, CLOSE_GRACE_MS). The wait restarts whenever a call
   * settles, so a backlog the database keeps answering finishes however long it takes;
   * time in which this process was too busy to send the calls or read the replies does
   * not count. Once the database answered nothing for that long, the calls still running
   * reject with StorageUnavailableError (their outcome unknown). 0: close() does not
   * wait. 0 to 2^31 - 1, as @mtstore/postgres's option of the same name.
   */
  closeTimeoutMillis?: number | undefined;
}

export type Row = Record<string, unknown>;

/**
 * The token of the lease the storage instance holds (`BaseStorage.fenceToken`), or
 * undefined. Repositories read it once per write and pass it to `write` / `transaction`.
 */
export type FenceToken = () => bigint | undefined;

/** Statements on one connection. */
export interface Sql {
  rows(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Rows inserted, updated or deleted, as each driver reports them. */
  affected(sql: string, params?: readonly unknown[]): Promise<number>;
}

interface QueryResultLike {
  records?: unknown[];
  affected?: number;
}

/** The part of pg's Pool the direct path uses. */
interface PgPool {
  query(sql: string, params: unknown[]): Promise<PgResult>;
  connect(callback: (error: Error | undefined, client: PgClient | undefined, release: (error?: Error) => void) => void): void;
}

/** The part of a pg client that #borrowedQuery uses. */
interface PgClient {
  query(sql: string, params: unknown[], callback: (error: Error | null, result: PgResult) => void): void;
  once(event: 'error', listener: (error: Error) => void): void;
  removeListener(event: 'error', listener: (error: Error) => void): void;
}

/**
 * postgres: the DataSource's own pg pool, when running a single statement through it
 * directly is exactly what the query runner would do. The runner adds a query runner
 * object, BeforeQuery/AfterQuery broadcasts, a result wrapper and a pool-callback
 * wrapper per statement (about 15% of a one-row statement's time, issue 13); with no
 * subscribers the broadcasts reach nobody, and the direct path logs through the
 * DataSource's logger as the runner does. Not with read replicas (the runner picks the
 * master by mode) or a slow-query limit (the runner times statements).
 */
function directPool(dataSource: DataSource): PgPool | undefined {
  if (dataSource.options.type !== 'postgres') return undefined;
  const options = dataSource.options as { replication?: unknown; maxQueryExecutionTime?: unknown };
  if (options.replication !== undefined || options.maxQueryExecutionTime !== undefined) return undefined;
  if (dataSource.subscribers.length > 0) return undefined;
  const master = (dataSource.driver as { master?: unknown }).master;
  return typeof (master as PgPool | undefined)?.query === 'function' ? (master as PgPool) : undefined;
}

function sqlOn(runner: QueryRunner): Sql {
  return {
    async rows(sql, params = []) {
      const result = (await runner.query(sql, params as unknown[], true)) as QueryResultLike;
      return (result.records ?? []) as Row[];
    },
    async affected(sql, params = []) {
      const result = (await runner.query(sql, params as unknown[], true)) as QueryResultLike;
      return result.affected ?? 0;
    },
  };
}

/** Errors after which running the whole transaction again is the right answer. */
function retryable(error: unknown): boolean {
  const own = (error as { code?: unknown } | null)?.code;
  const driver = (error as { driverError?: { code?: unknown } } | null)?.driverError?.code;
  const code = typeof own === 'string' ? own : typeof driver === 'string' ? driver : '';
  return (
    code === '40P01' || // postgres deadlock_detected
    code === '40001' || // postgres serialization_failure
    code === 'ER_LOCK_DEADLOCK' ||
    // sqlite: a stale snapshot (a deferred transaction's read, then another process's
    // commit) or another connection recovering the WAL index: both fail at once, no wait.
    // Not a plain SQLITE_BUSY: SQLite's busy handler already waited busy_timeout for the
    // lock, and every retry blocked the event loop that long again (8 attempts: ~40 s
    // against a lock held past the default 5 s, where the README promises 5).
    code === 'SQLITE_BUSY_SNAPSHOT' ||
    code === 'SQLITE_BUSY_RECOVERY'
  );
}

const ATTEMPTS = 8;

/** better-sqlite3's default busy timeout, which TypeORM's `timeout` option sets. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

/** sqlite: how often a call looks whether the application's transaction ended (see #outsideApplicationTransaction). */
const APPLICATION_TRANSACTION_CHECK_MS = 5;

/**
 * How long close() waits with no call in flight settling before it rejects the rest,
 * unless `closeTimeoutMillis` says otherwise: the database's silence, restarted by every
 * call that settles (core's CallsInFlight.settled(quietMs), as every adapter counts its
 * own), not a deadline from close().
 */
export const CLOSE_GRACE_MS = 5000;

/**
 * What a call close() gave up on rejects with. A driver's kind of error, not a
 * StorageError: core makes it the StorageUnavailableError naming the operation and the
 * session (docs/contract.md §8), as it does PostgreSQL's.
 */
const closedInFlight = (graceMs: number): (() => Error) => {
  const why = graceMs === 0 ? 'closeTimeoutMillis 0: close() does not wait' : `the database answered no call for ${graceMs} ms`;
  return () => new Error(`closed while this call was still running (${why}); it may or may not have been applied`);
};

/** What a call on a pool the application ended rejects with (see Connection's #watch), made a StorageUnavailableError by core as above. */
const destroyedInFlight = (): Error => new Error('the application destroyed its DataSource while this call was waiting for it; it may or may not have been applied');

/** The other transaction holds what we need; give it a moment, more each attempt. */
const backoff = (attempt: number): Promise<void> => new Promise((done) => setTimeout(done, Math.random() * 5 * attempt));

async function withRetry<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= ATTEMPTS || !retryable(error)) throw error;
      await backoff(attempt);
    }
  }
}

/** pg's result, and what the direct path hands back of it: the rows, how many changed, or both. */
type PgResult = { rows: unknown[]; rowCount: number | null };
const ROWS = (result: PgResult): Row[] => result.rows as Row[];
const AFFECTED = (result: PgResult): number => result.rowCount ?? 0;
const RESULT = (result: PgResult): QueryResultLike => ({ records: result.rows, affected: result.rowCount ?? undefined });

/**
 * better-sqlite3 gives a DataSource a single connection that every query runner
 * shares, so transactions on it must not overlap; and a second connection to the same
 * file that hits a lock waits *synchronously* (busy_timeout), blocking the event loop
 * and with it the transaction it waits for. So on sqlite every operation of every
 * adapter instance on one database file in this process runs in turn.
 */
const sqliteQueues = new Map<unknown, Promise<void>>();

async function inTurn<T>(key: unknown, work: () => Promise<T>): Promise<T> {
  const previous = sqliteQueues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  sqliteQueues.set(key, tail);
  await previous;
  try {
    return await work();
  } finally {
    done();
    if (sqliteQueues.get(key) === tail) sqliteQueues.delete(key);
  }
}

/**
 * Borrowed DataSource on a server: how often, while calls are in flight, the adapter
 * looks whether the application destroyed its DataSource under them (see #watch).
 */
export const DESTROYED_CHECK_MS = 100;

function isDataSource(value: unknown): value is DataSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DataSource).createQueryRunner === 'function' &&
    typeof (value as DataSource).options === 'object'
  );
}

export class Connection {
  readonly context: SchemaContext;
  readonly owned: boolean;
  readonly #dataSource: DataSource;
  readonly #where: string;
  readonly #migrate: boolean;
  /** False: the store must be there (TypeormConnectionOptions.create); nothing is created. */
  readonly create: boolean;
  /** sqlite: the key operations queue on (the database file); undefined elsewhere. */
  readonly #queue: unknown;
  /**
   * Connects (owned DataSource) and creates, migrates or checks the schema, once; a
   * failure is retried by the next call. Replaced, so that the schema is made ready
   * again, when the application dropped the tables (see #recovering) or destroyed its
   * DataSource while this was waiting for a connection (see ready).
   */
  #start = new Once(() => this.#prepare());
  /** Borrowed DataSource: the pool the schema is being made ready on (see ready). */
  #startOn: object | undefined;
  /** Statements that created tables outside the versioned schema (the lease table): run again when the schema is made ready again. */
  readonly #kept = new Set<string>();
  /** Borrowed DataSource on a server: the timer of #watch while calls are in flight. */
  #watchdog: NodeJS.Timeout | undefined;
  /**
   * Calls made and not yet settled: close() waits for them and rejects those left. On a
   * borrowed DataSource on a server, each is marked with the pool it was made on (see
   * liveGeneration, #watch).
   */
  readonly #calls = new CallsInFlight<object>();
  /** postgres: single statements go to the DataSource's pg pool directly (see directPool); false: through query runners. */
  #directPath = false;
  /** The lease fence: the lease row of a name with the held token, share-locked until commit. */
  readonly #fence: string;
  /** mysql / mariadb: the bound on one statement in ms, 0 for none (see queryTimeoutOf). */
  readonly queryTimeout: number;
  /** Query runners whose `query` is guarded (see #guard). */
  readonly #guarded = new WeakSet<QueryRunner>();
  /** Query runners whose connection was closed after a statement timed out: they run nothing more. */
  readonly #abandoned = new WeakSet<QueryRunner>();
  /** Owned DataSource: every connection its pools opened whose socket is still open, for close(). */
  readonly #connections = new Set<unknown>();
  /** Statement timers running (see #guard): close() stops them once it closed the connections. */
  readonly #timers = new Set<NodeJS.Timeout>();
  /** postgres: what TypeORM's START TRANSACTION becomes (see beginStatement); undefined elsewhere. */
  readonly #begin: string | undefined;
  /**
   * close() gave up on the calls still in flight. On the application's DataSource, which
   * stays open, a call still waiting for a connection would run when its turn came, after
   * close() had rejected it (a write landing after its caller had given up on it, the
   * application's own queries queued behind it): from here the connection is
   * handed back unused, and a query runner sends nothing but ROLLBACK.
   */
  #gaveUp = false;
  /** close()'s grace, ms (TypeormConnectionOptions.closeTimeoutMillis); 0: no wait. */
  readonly #closeTimeout: number;

  /** `clock`: the instance's, for the times a migration writes (SchemaContext.clock); default Date.now. */
  constructor(options: TypeormConnectionOptions, where: string, clock?: () => number) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object`);
    const { dataSource, options: dataSourceOptions } = options;
    if ((dataSource === undefined) === (dataSourceOptions === undefined)) {
      throw new InvalidArgumentError(`${where}: give exactly one of dataSource (yours) and options (a DataSource the adapter owns)`);
    }
    if (dataSource !== undefined && !isDataSource(dataSource)) throw new InvalidArgumentError(`${where}: dataSource must be a TypeORM DataSource`);
    if (dataSourceOptions !== undefined && (typeof dataSourceOptions !== 'object' || dataSourceOptions === null)) {
      throw new InvalidArgumentError(`${where}: options must be TypeORM DataSourceOptions`);
    }
    if (options.migrate !== undefined && typeof options.migrate !== 'boolean') throw new InvalidArgumentError(`${where}: migrate must be a boolean`);
    this.create = createOption(options.create, where);
    const closeTimeout = options.closeTimeoutMillis ?? CLOSE_GRACE_MS;
    // core's timer rule, as @mtstore/postgres: past 2^31 - 1 Node's timer fires after 1 ms (no grace at all).
    assertTimerMs(closeTimeout, `${where}: closeTimeoutMillis`, 0, false);
    this.#closeTimeout = closeTimeout;
    const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
    assertTablePrefix(prefix, where);
    this.#where = where;
    this.#migrate = options.migrate ?? true;
    this.owned = dataSource === undefined;
    // The type is checked before a DataSource is made, so an unsupported driver is never loaded.
    if (dataSourceOptions !== undefined) dialectOf(dataSourceOptions.type, where);
    this.#dataSource = dataSource ?? new DataSource(withOwnedDefaults(dataSourceOptions as DataSourceOptions));
    this.queryTimeout = queryTimeoutOf(this.#dataSource.options, this.owned, where);
    if (this.owned) {
      // Every query runner of an owned DataSource is guarded, also those TypeORM opens
      // itself while connecting (version and database checks).
      const driver = this.#dataSource.driver;
      const create = driver.createQueryRunner.bind(driver);
      driver.createQueryRunner = (mode) => this.#guard(create(mode));
      // postgres: a burst the server keeps answering is served whole, however long the
      // pool's queue (see ownedPgModule). Before initialize(): the pool is made from it.
      const pg = driver as { postgres?: unknown };
      if (this.#dataSource.options.type === 'postgres' && pg.postgres !== undefined) pg.postgres = ownedPgModule(pg.postgres);
      // mysql / mariadb: calls waiting for a connection fail after about connectTimeout of the
      // server's silence, not one connect timeout each per connection slot (see ownedMysqlModule).
      const my = driver as { mysql?: unknown };
      if ((this.#dataSource.options.type === 'mysql' || this.#dataSource.options.type === 'mariadb') && my.mysql !== undefined) my.mysql = ownedMysqlModule(my.mysql);
    }
    this.context = schemaContext(this.#dataSource, prefix, where, clock);
    this.#begin = this.context.dialect.name === 'postgres' ? beginStatement(this.#dataSource.options) : undefined;
    this.#queue = this.context.dialect.name === 'sqlite' ? sqliteKey(this.#dataSource) : undefined;
    const { dialect: d, tables } = this.context;
    this.#fence = d.sql(`SELECT 1 AS found FROM ${tables.leases} WHERE name = ? AND token = ?${d.forShare}`);
  }

  /** The DataSource in use (tests inspect the options an owned one was made with). */
  get dataSource(): DataSource {
    return this.#dataSource;
  }

  get driver(): string {
    return String(this.#dataSource.options.type);
  }

  ready(): Promise<void> {
    // The application destroyed its DataSource while the schema was being made ready on
    // it: that attempt may wait forever for a connection of the ended pool (pg).
    if (!this.owned && !this.#start.done && this.#startOn !== undefined && this.#startOn !== liveGeneration(this.#dataSource)) this.#renew();
    return this.#start.run();
  }

  /** The schema is to be made ready again by the next call (a fresh open's steps). */
  #renew(): void {
    this.#start = new Once(() => this.#prepare());
    this.#startOn = undefined;
  }

  /**
   * A statement that creates a table outside the versioned schema (the lease table) and
   * has run: it runs again whenever the schema is made ready again after the tables
   * were dropped (see #recovering).
   */
  keep(sql: string): void {
    this.#kept.add(sql);
  }

  async #prepare(): Promise<void> {
    const dataSource = this.#dataSource;
    if (!this.owned) this.#startOn = liveGeneration(dataSource);
    if (this.owned) {
      if (!dataSource.isInitialized) {
        if (this.#queue !== undefined) {
          // better-sqlite3 creates a missing file (and TypeORM its folder) when it connects.
          if (this.create) createPrivateFile(dataSource);
          else this.#requireFile(dataSource);
        }
        await dataSource.initialize();
        this.#watchConnections();
      }
    } else if (!dataSource.isInitialized) {
      throw new StorageUnavailableError(`${this.#where}: the DataSource is not initialized (call dataSource.initialize() first)`);
    }
    const on = liveGeneration(dataSource);
    await this.#exclusive(async () => {
      if (this.context.dialect.name === 'sqlite') this.context.dialect.maxParams = await sqliteMaxParams(dataSource);
      try {
        // create: false: one read of the catalog decides, before any lock or transaction.
        if (!this.create) await this.#withRunner((runner) => this.#requireStore(runner));
        const options = this.create ? {} : { missing: () => this.#notFound() };
        if (this.#migrate) await withRetry(() => this.#migrating((runner) => migrateUp(runner, this.context, undefined, options)));
        else await this.#withRunner((runner) => checkSchema(runner, this.context));
      } catch (error) {
        if (isStorageError(error)) throw error;
        // The server stopped answering, the connection was lost, or the application
        // destroyed its DataSource meanwhile: not a schema problem, and the next call tries again.
        if (isStatementTimeout(error) || isConnectionError(error) || liveGeneration(dataSource) !== on) throw new StorageUnavailableError(`${this.#where}: the schema could not be made ready`, { cause: error });
        throw new MigrationError(`${this.#where}: the schema could not be ${this.#migrate ? 'created or migrated' : 'checked'}`, { cause: error });
      }
      for (const sql of this.#kept) await this.#withRunner((runner) => runner.query(sql));
    });
    this.#directPath = directPool(dataSource) !== undefined;
  }

  /**
   * Runs `work`, and once more after making the schema ready again when a statement
   * failed because one of the tables is gone: the application dropped them (`dropSchema`
   * on its next `initialize()`, `dropDatabase()`, `synchronize(true)` between tests).
   * Ready again means what a fresh instance would do on first use: create the tables
   * (`migrate: false`: MigrationError until the application's migrations ran again;
   * `create: false`: NotFoundError). A table still missing then — one dropped alone,
   * `schema_version` left — is MigrationError: running again cannot fix that. Nothing was
   * written by the failed attempt: a single statement that failed, or a transaction
   * rolled back.
   */
  async #recovering<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!isMissingTable(error)) throw error;
      return this.#afterMissing(work);
    }
  }

  async #afterMissing<T>(work: () => Promise<T>): Promise<T> {
    // Calls failing together make it ready again once; one failing after that, again (cheap: the version is read, nothing is created).
    if (this.#start.done) this.#renew();
    await this.ready();
    try {
      return await work();
    } catch (error) {
      if (!isMissingTable(error)) throw error;
      throw new MigrationError(`${this.#where}: a table of prefix ${JSON.stringify(this.context.prefix)} is missing although ${this.context.names.schemaVersion} says the store is there (a table dropped on its own?); restore it, or drop all of the prefix's tables to have them created again`, { cause: error });
    }
  }

  /**
   * postgres, direct path: the DataSource's pg pool now. Read on every call, never kept:
   * an application that destroys its DataSource and initializes it again (a restart of
   * its database layer, tests sharing one DataSource) gives the driver a new pool, and
   * the old one rejects every statement ('Cannot use a pool after calling end on the
   * pool'), for good. Undefined while the DataSource is destroyed: the query runner then
   * reports that, and the call after `initialize()` works again.
   */
  #pool(): PgPool | undefined {
    if (!this.#directPath) return undefined;
    const master = (this.#dataSource.driver as { master?: unknown }).master;
    return typeof (master as PgPool | undefined)?.query === 'function' ? (master as PgPool) : undefined;
  }

  /**
   * Runs a migration the way each database makes it atomic. sqlite: one IMMEDIATE
   * transaction (its DDL is transactional, and the write lock serializes processes).
   * postgres: one transaction (transactional DDL; migrateUp's advisory lock is
   * transaction-scoped). MySQL: no transaction. Each DDL statement commits on its own and
   * ends any open transaction (what follows it autocommits), and migrateUp's named lock is
   * released in its `finally`: inside a transaction, a step without DDL would leave its
   * version write uncommitted when the lock is released, and a process waiting on the lock
   * would read the old version and run the step again.
   */
  #migrating(work: (runner: QueryRunner) => Promise<void>): Promise<void> {
    const dialect = this.context.dialect.name;
    return dialect === 'sqlite' ? this.#immediate(work) : dialect === 'mysql' ? this.#withRunner(work) : this.#inTransaction(work);
  }

  /** create: false, owned better-sqlite3 DataSource: its file must be there (a missing one would be created by connecting). */
  #requireFile(dataSource: DataSource): void {
    const database = (dataSource.options as { database?: unknown }).database;
    if (typeof database !== 'string' || database === '' || database === ':memory:' || database.startsWith('file:')) return;
    if (!existsSync(resolve(database))) throw storeNotFound(this.#where, resolve(database), '@mtstore/typeorm', 'no such file');
  }

  /** create: false: NotFoundError unless this prefix's schema_version table says a store is there. Reads only. */
  async #requireStore(runner: QueryRunner): Promise<void> {
    if ((await readSchemaVersion(runner, this.context)) === 0) throw this.#notFound();
  }

  #notFound(): Error {
    return storeNotFound(this.#where, this.#location(), '@mtstore/typeorm', `no table ${this.context.names.schemaVersion} with a version`);
  }

  /** Which database the tables would be in, for messages: never a password. */
  #location(): string {
    const options = this.#dataSource.options as { type: unknown; database?: unknown; schema?: unknown };
    const database = typeof options.database === 'string' && options.database !== '' ? options.database : typeof this.#dataSource.driver.database === 'string' ? this.#dataSource.driver.database : undefined;
    const schema = typeof options.schema === 'string' ? options.schema : undefined;
    const where = [database === undefined ? undefined : `database ${JSON.stringify(database)}`, schema === undefined ? undefined : `schema ${JSON.stringify(schema)}`].filter((part) => part !== undefined);
    return `the ${String(options.type)} DataSource${where.length > 0 ? ` (${where.join(', ')})` : ''}`;
  }

  /**
   * Whether one of mtstore's tables exists: a read of the catalog that creates nothing
   * (lease.ts asks it under `create: false` instead of creating the lease table).
   */
  hasTable(name: string): Promise<boolean> {
    return this.#tracked(
      (async () => {
        if (!this.#start.done) await this.ready();
        return this.#exclusive(() => this.#withRunner((runner) => runner.hasTable(name)));
      })(),
    );
  }

  /**
   * One statement on its own: its rows. On the direct path (postgres, once ready) the
   * statement is sent in this call and the caller's promise is two links from pg's:
   * kv.get, authKeys.get and the peer lookups are per-message reads, and each async
   * frame that stood between them and pg cost a promise and microtask turns per call
   * (issue 13).
   */
  query(sql: string, params: readonly unknown[]): Promise<Row[]> {
    const pool = this.#pool();
    if (pool !== undefined) return this.#tracked(this.#direct(pool, sql, params, ROWS, 1));
    return this.#tracked(this.#single(sql, params)).then((result) => (result.records ?? []) as Row[]);
  }

  /** One statement on its own: the rows it changed. The direct path as in `query`. */
  execute(sql: string, params: readonly unknown[]): Promise<number> {
    const pool = this.#pool();
    if (pool !== undefined) return this.#tracked(this.#direct(pool, sql, params, AFFECTED, 1));
    return this.#tracked(this.#single(sql, params)).then((result) => result.affected ?? 0);
  }

  /**
   * A call, already started, tracked so that close() can wait for it: it settles on its
   * own, or (core makes it StorageUnavailableError) once close() heard nothing from the
   * database for closeTimeoutMillis, or once the application ended the pool it was made on.
   */
  #tracked<T>(call: Promise<T>): Promise<T> {
    if (this.owned || this.#queue !== undefined) return this.#calls.trackAbandonable(call);
    if (this.#watchdog === undefined) this.#watchdog = setInterval(() => this.#watch(), DESTROYED_CHECK_MS).unref();
    return this.#calls.trackAbandonable(call, liveGeneration(this.#dataSource));
  }

  /**
   * Borrowed DataSource on a server, while calls are in flight: rejects, with
   * StorageUnavailableError, the calls made on a pool the application has since ended
   * (`dataSource.destroy()`, or destroyed and initialized again). pg never answers a call
   * that waits for a connection of a pool that is ending (unless the application set
   * `connectTimeoutMS`), and pg-pool says nothing when it ends: reading its state is
   * the only way to know. Calls on the new pool are left alone; a call whose statement
   * was running settles by itself (its connection is closed), or here, whichever is first.
   */
  #watch(): void {
    const current = liveGeneration(this.#dataSource);
    // A call made while the DataSource was not initialized has no pool: left to settle by itself.
    this.#calls.abandon(destroyedInFlight, (on) => on !== undefined && on !== current);
    if (this.#calls.size === 0) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
    }
  }

  /** One statement before the connection is ready, and on drivers without the direct path: through TypeORM's query runner. */
  async #single(sql: string, params: readonly unknown[]): Promise<QueryResultLike> {
    if (!this.#start.done) await this.ready();
    const pool = this.#pool();
    if (pool !== undefined) return this.#direct(pool, sql, params, RESULT, 1);
    const once = () => this.#withRunner(async (runner) => (await runner.query(sql, params as unknown[], true)) as QueryResultLike);
    return this.#recovering(() => this.#exclusive(() => withRetry(once)));
  }

  /**
   * One statement on the pg pool, logged and failing as TypeORM's query runner would,
   * and sent again after a deadlock as withRetry does, or after making the schema ready
   * again when its table is gone (see #recovering; `recover` false: that was done). Not
   * an async function: its promise is pg's with one `then`.
   */
  #direct<T>(pool: PgPool, sql: string, params: readonly unknown[], pick: (result: PgResult) => T, attempt: number, recover = true): Promise<T> {
    const logger = this.#dataSource.logger;
    logger.logQuery(sql, params as unknown[]);
    return (this.owned ? pool.query(sql, params as unknown[]) : this.#borrowedQuery(pool, sql, params as unknown[])).then(pick, (error: unknown) => {
      if (error instanceof StorageClosedError) throw error;
      if (this.owned && (isStatementTimeout(error) || isConnectionError(error))) this.#discardIdle();
      logger.logQueryError(error as Error, sql, params as unknown[]);
      const failed = new QueryFailedError(sql, params as unknown[], error as Error);
      if (recover && isMissingTable(failed)) return this.#afterMissing(() => this.#direct(pool, sql, params, pick, 1, false));
      if (attempt >= ATTEMPTS || !retryable(failed)) throw failed;
      return backoff(attempt).then(() => this.#direct(pool, sql, params, pick, attempt + 1, recover));
    });
  }

  /**
   * pool.query on the application's pool, with the connection checked out here so that a
   * call close() gave up on while it waited for one hands it back unused (#gaveUp; on a
   * pool mtstore owns, ended by close(), such a call never gets one). The rest is what
   * pg-pool's query does: an error on the client while the statement runs fails the call,
   * and a failed statement's client is released with its error (pg-pool then discards it).
   */
  #borrowedQuery(pool: PgPool, sql: string, params: unknown[]): Promise<PgResult> {
    return new Promise((resolve, reject) => {
      pool.connect((error, client, release) => {
        if (client === undefined) return reject(error ?? new Error('pg gave no connection'));
        if (this.#gaveUp) {
          // From a microtask: release() hands the connection straight to the next waiter,
          // most likely another of these calls (a backlog would nest one release per call).
          queueMicrotask(() => release());
          return reject(this.#closedWhileWaiting());
        }
        let done = false;
        const finish = (failure: Error | null, result?: PgResult): void => {
          if (done) return;
          done = true;
          client.removeListener('error', finish);
          release(failure ?? undefined);
          if (failure !== null) reject(failure);
          else resolve(result as PgResult);
        };
        client.once('error', finish);
        client.query(sql, params, finish);
      });
    });
  }

  #closedWhileWaiting(): StorageClosedError {
    return new StorageClosedError(`${this.#where}: closed while this call was waiting for a connection`);
  }

  /**
   * One write statement: the rows it changed. Under a lease (`token` defined) it runs in
   * a transaction that first checks the token (see `transaction`); without one it is
   * the plain statement, nothing added.
   */
  write(sql: string, params: readonly unknown[], token: bigint | undefined, name: string): Promise<number> {
    if (token === undefined) return this.execute(sql, params);
    return this.transaction((s) => s.affected(sql, params), { name, token });
  }

  /**
   * Runs `work` in one transaction, again from the start after a deadlock. With `fence`
   * (a held lease: session name and token) the transaction first reads the lease row
   * of the name with that token, share-locked (postgres `FOR SHARE`, MySQL `LOCK IN SHARE
   * MODE`) so no acquire can change it before commit; on sqlite the transaction takes the
   * write lock at its BEGIN IMMEDIATE (#immediate, waiting busy_timeout for it), so nothing
   * else commits in between. No such row: the lease was taken, LeaseLostError, nothing
   * written. (TypeORM's deferred BEGIN read first, and the write then failed at once with
   * SQLITE_BUSY, without waiting, whenever another process had committed since the read:
   * eight processes each writing its own leased session in one file failed `database is
   * locked` within 0.3 s, the retries spent.)
   */
  async transaction<T>(work: (sql: Sql) => Promise<T>, fence?: { name: string; token: bigint | undefined }): Promise<T> {
    const token = fence?.token;
    const fenced = async (runner: QueryRunner): Promise<T> => {
      const sql = sqlOn(runner);
      if (token !== undefined && (await sql.rows(this.#fence, [fence?.name, String(token)])).length === 0) {
        throw new LeaseLostError('fence: the lease has another token');
      }
      return work(sql);
    };
    const sqlite = this.context.dialect.name === 'sqlite';
    return this.#tracked(
      (async () => {
        if (!this.#start.done) await this.ready();
        return this.#recovering(() => this.#exclusive(() => withRetry(() => (sqlite ? this.#immediate(fenced) : this.#inTransaction(fenced)))));
      })(),
    );
  }

  /**
   * Settles every call already made, then (owned DataSource) destroys it. Calls finish
   * as long as the database keeps answering them; once closeTimeoutMillis pass with none of
   * them settling, those still running reject with StorageUnavailableError (a write may
   * or may not have been applied: StorageClosedError means a call made after close(),
   * which never ran). That is the database's silence, as every adapter counts it (core's
   * CallsInFlight.settled(quietMs)): time in which this process was too busy to send the
   * calls or read the replies does not count. A
   * deadline from close() rejected the tail of a backlog queued just before a shutdown
   * (thousands of peer writes) while the database was answering it.
   * Destroying first would strand them: pg's pool never answers a connection request
   * queued before `end()`, so a call waiting for a connection would stay pending.
   * Destroying is bounded too (DESTROY_TIMEOUT_MS, see #destroy): close() resolves, and
   * leaves no socket open, also when the server has stopped answering.
   */
  async close(): Promise<void> {
    // 0: no wait at all (settledWithin(0)), as @mtstore/postgres takes it; otherwise the database's silence.
    const settled = (): Promise<boolean> => (this.#closeTimeout === 0 ? this.#calls.settledWithin(0) : this.#calls.settled(this.#closeTimeout));
    if (this.#calls.size > 0 && !(await settled())) {
      this.#gaveUp = true;
      this.#calls.abandon(closedInFlight(this.#closeTimeout));
      // Owned DataSource: the connections of the calls given up on (every one not idle)
      // are closed now, as @mtstore/postgres closes its busy ones: destroying would wait
      // DESTROY_TIMEOUT_MS for them (their statements unanswered), then close them anyway.
      if (this.owned && this.#dataSource.isInitialized) {
        for (const pool of poolsOf(this.#dataSource)) {
          const idle = new Set(idleOf(pool));
          for (const connection of membersOf(pool)) if (!idle.has(connection)) closeNow(connection);
        }
      }
    }
    if (!this.owned) return;
    // A first connection attempt still under way (a server that does not answer): the
    // DataSource is destroyed when it ends, bounded by the connect and statement
    // timeouts. sqlite's file always answers: close() waits for it as before.
    const starting = this.#start.settled();
    if (this.#queue !== undefined) await starting;
    else if (!(await within(starting, DESTROY_TIMEOUT_MS))) {
      void starting.then(() => this.#destroy()).catch(() => {});
      return;
    }
    await this.#destroy();
  }

  /**
   * Destroys the owned DataSource, waiting for that at most DESTROY_TIMEOUT_MS, then
   * closes every connection still open: pg's pool and mysql2's wait for each connection
   * to say goodbye, which a silent server never lets happen, and their half-closed
   * sockets would keep the process alive. A failure is not the caller's problem (the
   * connections are closed either way): it goes to the DataSource's logger as a warning
   * naming only the error code, and close() resolves.
   */
  async #destroy(): Promise<void> {
    const dataSource = this.#dataSource;
    if (!dataSource.isInitialized) return;
    const open = new Set<unknown>(this.#connections);
    for (const pool of poolsOf(dataSource)) for (const connection of membersOf(pool)) open.add(connection);
    let failure: unknown;
    await within(
      dataSource.destroy().catch((error: unknown) => {
        failure = error;
      }),
      DESTROY_TIMEOUT_MS,
    );
    for (const connection of open) closeNow(connection);
    this.#connections.clear();
    // Statements on the connections just closed: their calls were settled before (close()
    // rejected them), and mysql2 never answers a statement on a connection closed this
    // way; their timers would only hold the process.
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (failure !== undefined) {
      const code = (failure as { code?: unknown } | null)?.code;
      const what = typeof code === 'string' ? code : failure instanceof Error ? failure.name : 'error';
      try {
        dataSource.logger.log('warn', `${this.#where}.close: destroying the DataSource failed (${what}); its connections were closed`);
      } catch {
        // a logger that throws does not fail close()
      }
    }
  }

  /**
   * Owned DataSource, once initialized: remembers every connection its pools open
   * (pg-pool 'connect', mysql 'connection'), and those already open, until its socket
   * closes, so that close() can close the ones a pool already let go of but that still
   * wait for the server (a pg client ended after its idle timeout, a mysql2 connection
   * removed from the pool).
   */
  #watchConnections(): void {
    const track = (connection: unknown): void => {
      const socket = socketOf(connection);
      if (socket === undefined || socket.destroyed === true || this.#connections.has(connection)) return;
      this.#connections.add(connection);
      socket.once('close', () => this.#connections.delete(connection));
    };
    const idleTransaction = this.context.dialect.name === 'mysql' ? idleTransactionStatement(this.queryTimeout) : undefined;
    let unsupported = false;
    // MariaDB: see idleTransactionStatement. Queued on the new connection before the
    // statement it was opened for: one round trip per connection, none per call.
    const bound = (connection: unknown): void => {
      const c = connection as { query?: (sql: string, callback: (error: { code?: unknown } | null) => void) => unknown } | null;
      if (idleTransaction === undefined || unsupported || typeof c?.query !== 'function') return;
      try {
        c.query(idleTransaction, (error) => {
          if (error?.code === 'ER_UNKNOWN_SYSTEM_VARIABLE') unsupported = true;
        });
      } catch {
        // a closed connection: the pool drops it
      }
    };
    for (const pool of poolsOf(this.#dataSource)) {
      for (const connection of membersOf(pool)) {
        track(connection);
        bound(connection);
      }
      pool.on?.('connect', track);
      pool.on?.('connection', track);
      if (idleTransaction !== undefined) pool.on?.('connection', bound);
    }
  }

  /**
   * Owned DataSource, after a statement timed out or its connection failed (ECONNRESET,
   * EPIPE, connection lost: see isConnectionError): the link may have died without a word
   * (a NAT that dropped the flows, a route change, a frozen host) or every connection may
   * have been cut at once (a server or host restart, a NAT that lost its state and resets
   * each flow on its next packet), and then every connection idle in the pools is dead
   * too. Left there, each would be found by a call of its own, one statement timeout or
   * one failed call each: closed now, the next calls open fresh connections. (A false
   * alarm, a statement slow on the server or one connection killed alone, costs only
   * reconnecting.) Connections checked out are left to their own calls. An application's
   * DataSource is never touched, and no call gets a round trip more.
   */
  #discardIdle(): void {
    if (!this.owned || !this.#dataSource.isInitialized) return;
    for (const pool of poolsOf(this.#dataSource)) closeIdle(pool);
  }

  /**
   * A query runner whose statements cannot wait forever and whose connection is not
   * reused after one timed out. A statement the driver timed out (pg `query_timeout`,
   * mysql's `timeout`), or one that ran past `queryTimeout` (mysql / mariadb, waiting
   * for a connection included), rejects (core reports StorageUnavailableError) and its
   * connection is closed at once: the statement is still the connection's current
   * command, so back in the pool it would hold up the next one. Nothing more runs on
   * that runner (a ROLLBACK fails at once; the server rolls back when the connection goes).
   */
  #guard(runner: QueryRunner): QueryRunner {
    if (this.context.dialect.name === 'sqlite' || this.#guarded.has(runner)) return runner;
    this.#guarded.add(runner);
    const query = runner.query.bind(runner) as (sql: string, params?: unknown[], structured?: boolean) => Promise<unknown>;
    const timeout = this.queryTimeout;
    const begin = this.#begin;
    const mysql = this.context.dialect.name === 'mysql';
    const guarded = (sql: string, params?: unknown[], structured?: boolean): Promise<unknown> => {
      // postgres: the transaction's idle limit goes in the same message (see beginStatement).
      if (begin !== undefined && sql === 'START TRANSACTION' && (params === undefined || params.length === 0)) sql = begin;
      if (this.#abandoned.has(runner)) return Promise.reject(new StatementTimeout('an earlier statement on this connection timed out; the connection was closed'));
      // A call close() gave up on (#gaveUp) runs nothing more: a runner that holds a
      // connection may still roll back (it goes back to the pool outside a transaction).
      if (this.#gaveUp && !(sql.startsWith('ROLLBACK') && heldConnection(runner) !== undefined)) return Promise.reject(this.#closedWhileWaiting());
      // A key or kv value bound on mysql / mariadb: as a prepared statement (mysql-execute.ts).
      const sent = mysql && params !== undefined && bindsSecret(params) ? querySecret(runner, query, sql, params, structured) : query(sql, params, structured);
      const settled = sent.catch((error: unknown) => {
        if (isStatementTimeout(error)) this.#abandon(runner);
        else if (isConnectionError(error)) this.#discardIdle();
        throw error;
      });
      if (timeout <= 0) return settled;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          this.#abandon(runner);
          reject(new StatementTimeout(`the database did not answer within ${timeout} ms; the connection was closed (a write may or may not have been applied)`));
        }, timeout);
        this.#timers.add(timer);
        const stop = () => {
          clearTimeout(timer);
          this.#timers.delete(timer);
        };
        settled.then(
          (value) => {
            stop();
            resolve(value);
          },
          (error: unknown) => {
            stop();
            reject(error);
          },
        );
      });
    };
    runner.query = guarded as QueryRunner['query'];
    return runner;
  }

  /** Closes the connection of a runner whose statement timed out, also one it is still waiting for. */
  #abandon(runner: QueryRunner): void {
    if (this.#abandoned.has(runner)) return;
    this.#abandoned.add(runner);
    this.#discardIdle();
    const held = heldConnection(runner);
    if (held !== undefined) closeNow(held);
    else runner.connect().then(closeNow, () => {});
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.#queue === undefined) return work();
    // The application's transaction is rarely open: the usual turn costs one property
    // read, not an async wrapper around every call.
    return inTurn(this.#queue, this.owned ? work : () => (this.#applicationTransactionOpen() ? this.#outsideApplicationTransaction().then(work) : work()));
  }

  /** sqlite, the application's DataSource: a transaction is open on its one connection. */
  #applicationTransactionOpen(): boolean {
    const connection = (this.#dataSource.driver as { databaseConnection?: { inTransaction?: unknown } }).databaseConnection;
    return connection?.inTransaction === true;
  }

  /**
   * sqlite, the application's DataSource: TypeORM gives it one connection, which every
   * query runner shares, so a transaction the application keeps open across an await
   * would take in whatever mtstore sends meanwhile — committed or rolled back with it
   * (a write already reported done, gone with the application's rollback), a transaction
   * of ours nested as a savepoint. In its turn (ours are one at a time, so an open
   * transaction then is the application's) a call waits for it to end, as long as
   * sqlite waits for another connection's lock (the DataSource's `timeout`, default
   * 5 s); then StorageUnavailableError: the application may be awaiting this call
   * inside that transaction.
   */
  async #outsideApplicationTransaction(): Promise<void> {
    const connection = (this.#dataSource.driver as { databaseConnection?: { inTransaction?: unknown } }).databaseConnection;
    if (connection?.inTransaction !== true) return;
    const timeout = (this.#dataSource.options as { timeout?: unknown }).timeout;
    const limit = typeof timeout === 'number' && timeout >= 0 ? timeout : SQLITE_BUSY_TIMEOUT_MS;
    const deadline = Date.now() + limit;
    while (connection.inTransaction === true) {
      if (Date.now() >= deadline) {
        throw new StorageUnavailableError(`${this.#where}: a transaction of the application stayed open on the DataSource's one sqlite connection for ${limit} ms; mtstore's statements would have become part of it, so none was sent (make mtstore calls outside your own transactions)`);
      }
      await new Promise((done) => setTimeout(done, APPLICATION_TRANSACTION_CHECK_MS));
    }
  }

  async #withRunner<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.#guard(this.#dataSource.createQueryRunner());
    try {
      // Connected before the first statement: a call close() gave up on while it waited
      // for the connection sends nothing (#gaveUp; the runner's own lazy connect would
      // send the statement as soon as the connection came).
      await runner.connect();
      if (this.#gaveUp) throw this.#closedWhileWaiting();
      return await work(runner);
    } finally {
      await runner.release();
    }
  }

  /**
   * sqlite: `work` in a transaction that takes the write lock first (BEGIN IMMEDIATE),
   * waiting busy_timeout for it. TypeORM's deferred BEGIN reads first and then fails at
   * once with SQLITE_BUSY when another process migrates the same file: a migration is
   * long enough that several processes starting together would run out of retries.
   */
  #immediate<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    return this.#withRunner(async (runner) => {
      await runner.query('BEGIN IMMEDIATE');
      try {
        const result = await work(runner);
        await runner.query('COMMIT');
        return result;
      } catch (error) {
        await runner.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  #inTransaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    return this.#withRunner(async (runner) => {
      await runner.startTransaction();
      try {
        const result = await work(runner);
        await runner.commitTransaction();
        return result;
      } catch (error) {
        // Also after a failed COMMIT: the connection must go back to the pool outside a transaction.
        if (runner.isTransactionActive && !this.#abandoned.has(runner)) await runner.rollbackTransaction().catch(() => {});
        throw error;
      }
    });
  }
}

/** The connection a query runner holds, undefined before its first statement and after release. */
function heldConnection(runner: QueryRunner): unknown {
  const held = (runner as { databaseConnection?: unknown }).databaseConnection;
  return held === null ? undefined : held;
}

/**
 * Creates the database file of a sqlite DataSource the adapter owns, readable by its
 * owner only: it holds auth keys. sqlite gives the -wal and -shm files the mode of the
 * database file. An existing file is left as it is (its mode is the application's).
 */
function createPrivateFile(dataSource: DataSource): void {
  const database = (dataSource.options as { database?: unknown }).database;
  if (typeof database !== 'string' || database === '' || database === ':memory:' || database.startsWith('file:')) return;
  mkdirSync(dirname(resolve(database)), { recursive: true });
  try {
    closeSync(openSync(database, 'wx', 0o600));
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
  }
}

function sqliteKey(dataSource: DataSource): unknown {
  const database = (dataSource.options as { database?: unknown }).database;
  // An in-memory database is private to its connection: queue per DataSource.
  if (typeof database !== 'string' || database === '' || database === ':memory:') return dataSource;
  return `sqlite:${resolve(database)}`;
}

/** SQLITE_MAX_VARIABLE_NUMBER of the linked library: 32,766 since 3.32, 999 before, or as compiled. */
async function sqliteMaxParams(dataSource: DataSource): Promise<number> {
  const options = (await dataSource.query('PRAGMA compile_options')) as Row[];
  for (const row of options) {
    const match = /^MAX_VARIABLE_NUMBER=(\d+)$/.exec(String(Object.values(row)[0]));
    if (match) return Number(match[1]);
  }
  const rows = (await dataSource.query('SELECT sqlite_version() AS version')) as Row[];
  const [major = 0, minor = 0] = String(rows[0]?.version).split('.').map(Number);
  return major > 3 || (major === 3 && minor >= 32) ? 32_766 : 999;
}
