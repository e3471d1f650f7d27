/**
 * Connection options shared by the client and server storages: where the file is
 * (Telethon naming), the pragmas, and opening + migrating lazily on first use.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, lstatSync, openSync, readlinkSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { assertIdentifier, CorruptDataError, createOption, describeValue, InvalidArgumentError, isStorageError, NotFoundError, StorageClosedError, StorageUnavailableError, toStorageError } from '@mtstore/core';
import { holdBlobMap } from './rows.js';
import { migrate, readVersion, tableNames, type Tables } from './schema.js';

export interface SqliteConnectionOptions {
  /**
   * The database file. A path without an extension gets `.session` (Telethon's
   * convention); a relative path is relative to `process.cwd()` at construction.
   * `':memory:'` is a private in-memory database. A new file is created with mode 0600.
   */
  path?: string | undefined;
  /**
   * An open better-sqlite3 Database the application owns instead of `path`: used as
   * it is (no pragma is changed) and never closed by mtstore.
   */
  database?: Database.Database | undefined;
  /** Prefix of every mtstore table and index. Default `mtstore_`; `''` is allowed. */
  tablePrefix?: string | undefined;
  /**
   * `NORMAL` (default): a resolved write survives a crash of the process, in WAL mode.
   * `FULL`: it also survives a power loss, at the cost of an fsync per transaction.
   */
  synchronous?: 'NORMAL' | 'FULL' | undefined;
  /** How long a write waits for another connection's lock, in ms. Default 5,000. */
  busyTimeout?: number | undefined;
  /**
   * Bytes of the file SQLite reads through a memory map (`PRAGMA mmap_size`) instead of
   * `read` calls into its page cache, once the file has outgrown that cache (16 MiB):
   * checked when the file is opened and as peer batches grow it. Default 256 MiB; `0`
   * never maps (a file on a network share, or a platform where a map is unwelcome).
   * Writes never go through it.
   */
  mmapSize?: number | undefined;
  /**
   * `false`: open only an @mtstore/sqlite database that is there. A missing file, or
   * one without this prefix's `meta` table (another program's database, an empty
   * file), is NotFoundError and stays as it was: no file, table or pragma is written.
   * For tools that only read (`mtstore inspect`). Default `true`: create what is missing.
   */
  create?: boolean | undefined;
}

export const DEFAULT_TABLE_PREFIX = 'mtstore_';
/** The longest file name (one path component) of ext4, XFS, APFS and NTFS. */
const MAX_FILE_NAME = 255;
export const DEFAULT_BUSY_TIMEOUT = 5_000;
/**
 * better-sqlite3's page cache is 16 MiB a connection; a session with ~70k peers or more
 * outgrows it, and then about two lookups in three read a page with a `pread` (strace,
 * 100k peers, random lookups by id: 0.65 a lookup, ~11.5 µs → ~9.5 µs a lookup with the
 * map). The map is the kernel's page cache, shared between connections and processes and
 * given back under memory pressure, where a larger private cache would not be.
 */
export const DEFAULT_MMAP_SIZE = 256 * 1024 * 1024;
/**
 * The file size from which the map is set up: better-sqlite3's page cache. Below it the
 * cache holds every page read, and a map only costs its setup: an `mmap` at the first read
 * and an `munmap` at close (~0.1 ms together here, a tenth of opening a storage, writing a
 * key, reading it and closing: `node bench/vs-clients.mjs --only "sqlite: auth key"`).
 */
export const MAP_FROM_BYTES = 16 * 1024 * 1024;
/**
 * Bytes the write-ahead log is cut back to when it starts over (`PRAGMA journal_size_limit`):
 * four times what the automatic checkpoint lets it reach in steady use (1,000 pages, ~4 MiB),
 * so ordinary use never cuts and grows it again.
 */
export const WAL_SIZE_LIMIT = 16 * 1024 * 1024;
/** How many peers upserted between two looks at the file's size (one `stat`). */
const PEERS_PER_SIZE_CHECK = 1_000;
// Stryker disable next-line StringLiteral: ':memory:' is this adapter's own option (open.test.ts); the kit opens files
const MEMORY = ':memory:';

/** Telethon's naming: `bot` → `<cwd>/bot.session`; a path with an extension is kept; `:memory:` as is. */
export function sessionFilePath(path: string): string {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: ':memory:' is this adapter's own option (open.test.ts); the kit opens files
  if (path === MEMORY) return path;
  // Stryker disable next-line StringLiteral: Telethon's `.session` naming is this adapter's own (open.test.ts); the kit's paths have an extension
  return resolve(process.cwd(), extname(path) === '' ? `${path}.session` : path);
}

// Stryker disable all: constructor arguments (a path string, a lent Database) are this adapter's own API, checked by open.test.ts and adapter.test.ts; the kit builds instances only through the suite's `open`, outside the contract it checks
function isDatabase(value: unknown): value is Database.Database {
  const db = value as Partial<Database.Database> | null;
  return typeof db === 'object' && db !== null && typeof db.prepare === 'function' && typeof db.transaction === 'function' && typeof db.pragma === 'function';
}

/** A path or options → validated options. Throws InvalidArgumentError naming `where`. */
export function connectionOptions<T extends SqliteConnectionOptions>(input: string | T, where: string): T {
  if (typeof input === 'string') return { path: input } as T;
  if (typeof input !== 'object' || input === null) {
    throw new InvalidArgumentError(`${where}: expected a file path or an options object, got ${describeValue(input)}`);
  }
  return input;
}
// Stryker restore all

/**
 * One connection's settings, validated in the constructor (synchronous, no I/O);
 * `open()` connects, sets the pragmas and migrates on first use and then returns the
 * same Database. A failed open is not memoized: the next call tries again.
 */
export class Connection {
  /** Absolute file path or `:memory:`; undefined for a borrowed database. */
  readonly path: string | undefined;
  readonly tablePrefix: string;
  readonly tables: Tables;
  readonly #borrowed: Database.Database | undefined;
  readonly #synchronous: 'NORMAL' | 'FULL';
  readonly #busyTimeout: number;
  readonly #mmapSize: number;
  readonly #create: boolean;
  readonly #where: string;
  #db: Database.Database | undefined;
  /** Set by close(): the file is never opened again (a step of a call still running then would leak a new handle). */
  #closed = false;
  /** Whether the open database reads through its map (set once the file outgrew MAP_FROM_BYTES). */
  #mapped = false;
  /** Peers upserted since the file's size was last looked at. */
  #grown = 0;

  constructor(options: SqliteConnectionOptions, where: string) {
    this.#where = where;
    const { path, database, tablePrefix = DEFAULT_TABLE_PREFIX, synchronous = 'NORMAL', busyTimeout = DEFAULT_BUSY_TIMEOUT, mmapSize = DEFAULT_MMAP_SIZE, create = true } = options;
    // Stryker disable all: option checks are this adapter's own API, checked by open.test.ts and adapter.test.ts; the kit builds instances only through the suite's `open`, outside the contract it checks
    if ((path === undefined) === (database === undefined)) {
      throw new InvalidArgumentError(`${where}: give exactly one of path (a file, or ':memory:') and database (a better-sqlite3 Database)`);
    }
    if (database !== undefined) {
      if (!isDatabase(database)) throw new InvalidArgumentError(`${where}: database must be a better-sqlite3 Database, got ${describeValue(database)}`);
      // Checked here, not at the first call: there it looked like an outage ("The database connection is not open").
      if (database.open === false) throw new InvalidArgumentError(`${where}: database is a better-sqlite3 Database that is already closed`);
      // A borrowed connection is the application's: its pragmas are its business.
      if (options.synchronous !== undefined || options.busyTimeout !== undefined || options.mmapSize !== undefined) {
        throw new InvalidArgumentError(`${where}: synchronous, busyTimeout and mmapSize apply only with path; set the pragmas on your own database`);
      }
    } else if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
      throw new InvalidArgumentError(`${where}: path must be a non-empty file path or ':memory:', got ${describeValue(path)}`);
    } else if (basename(path).length > MAX_FILE_NAME) {
      // No file system takes it; and the likeliest such "path" is a session string (a
      // login) given where a path belongs, so the name is not quoted.
      throw new InvalidArgumentError(`${where}: path names a file of ${basename(path).length} characters, longer than any file name can be (${MAX_FILE_NAME}); a session string given as a path? Import it with \`mtstore import\``);
    }
    assertIdentifier(tablePrefix, `${where}: tablePrefix`, { allowEmpty: true });
    // SQLite refuses to create a table whose name starts so ("reserved for internal use"),
    // in any case: otherwise a MigrationError at the first call that blamed a hand edit.
    if (/^sqlite_/i.test(tablePrefix)) {
      throw new InvalidArgumentError(`${where}: tablePrefix must not start with sqlite_ (SQLite reserves such table names), got ${describeValue(tablePrefix)}`);
    }
    if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
      throw new InvalidArgumentError(`${where}: synchronous must be 'NORMAL' or 'FULL', got ${describeValue(synchronous)}`);
    }
    if (!Number.isSafeInteger(busyTimeout) || busyTimeout < 0 || busyTimeout > 2 ** 31 - 1) {
      throw new InvalidArgumentError(`${where}: busyTimeout must be a whole number of milliseconds, got ${describeValue(busyTimeout)}`);
    }
    if (!Number.isSafeInteger(mmapSize) || mmapSize < 0) {
      throw new InvalidArgumentError(`${where}: mmapSize must be a whole number of bytes (0: no memory map), got ${describeValue(mmapSize)}`);
    }
    createOption(create, where);
    // Stryker restore all
    // Stryker disable next-line ConditionalExpression: a lent Database (no path) is this adapter's own API (open.test.ts); the kit opens files
    this.path = path === undefined ? undefined : sessionFilePath(path);
    this.#borrowed = database;
    this.tablePrefix = tablePrefix;
    this.tables = tableNames(tablePrefix);
    this.#synchronous = synchronous;
    this.#busyTimeout = busyTimeout;
    this.#mmapSize = mmapSize;
    this.#create = create;
  }

  // Stryker disable all: `borrowed` is not called by the adapter, and `openFor` serves only the public `database` getters, this adapter's own API (open.test.ts)
  /** True when the application gave the Database (it is never closed here). */
  get borrowed(): boolean {
    return this.#borrowed !== undefined;
  }

  /** The open, migrated database. */
  open(): Database.Database {
    // Core checks `closed` when a call starts, not between the steps of one that awaits
    // (reseal): opening again here would leave a handle, and the -wal and -shm files, that no close() ends.
    if (this.#db === undefined && this.#closed) throw new StorageClosedError(`${this.#where}: the storage is closed`);
    this.live();
    return (this.#db ??= this.#connect());
  }

  /**
   * Throws when the application has closed the Database it lent (`db.close()`). Each concern
   * keeps its prepared statements, so every call asks this before running them: better-sqlite3's
   * own refusal ("The database connection is not open") read as an outage that a retry ends,
   * and none can: mtstore never opens a Database it was given. A property read, on a borrowed
   * Database only.
   */
  live(): void {
    const borrowed = this.#borrowed;
    if (borrowed !== undefined && !borrowed.open) {
      throw new StorageUnavailableError(
        `${this.#where}: ${borrowedLocation(borrowed)} was closed by the application (db.close()): mtstore never opens a Database it was given, ` +
          'so no call of this storage can work again. Close the storage before the Database; to go on, give a new storage an open Database.',
      );
    }
  }

  /** `open()` for the public `database` getters: a failure comes back as a storage error naming `where`. */
  openFor(where: string): Database.Database {
    try {
      return this.open();
    } catch (error) {
      throw toStorageError(error, where);
    }
  }
  // Stryker restore all

  /** Closes the database if this connection opened it. */
  close(): void {
    const db = this.#db;
    this.#db = undefined;
    this.#closed = true;
    this.#mapped = false;
    this.#grown = 0;
    if (db !== undefined && this.#borrowed === undefined) db.close();
  }

  // Stryker disable all: the memory map changes how fast pages are read, never what a call returns; when it is set up is this adapter's own (open.test.ts "the memory map")
  /**
   * After `count` peers were written: every PEERS_PER_SIZE_CHECK of them, sets up the map
   * (mmapSize) if the file has outgrown the page cache since it was opened. Never on a
   * borrowed database (its pragmas are the application's) or `:memory:`.
   */
  grew(count: number): void {
    if (this.#mapped || this.#mmapSize === 0 || this.#borrowed !== undefined || this.path === MEMORY) return;
    this.#grown += count;
    if (this.#grown < PEERS_PER_SIZE_CHECK) return;
    this.#grown = 0;
    const db = this.#db;
    if (db !== undefined) this.#mapIfLarge(db, this.path as string);
  }

  /** Sets `mmap_size` once the file is MAP_FROM_BYTES or larger (a size that cannot be read: left unmapped). */
  #mapIfLarge(db: Database.Database, path: string): void {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return;
    }
    if (size < MAP_FROM_BYTES) return;
    try {
      // A number checked in the constructor (Number.isSafeInteger): a pragma takes no bound value.
      db.pragma(`mmap_size = ${this.#mmapSize}`);
    } catch {
      // Only ever a speed-up: a write that has committed does not fail for it.
      return;
    }
    this.#mapped = true;
  }
  // Stryker restore all

  #connect(): Database.Database {
    // Stryker disable all: a lent Database (the `database` option) is this adapter's own API, checked by open.test.ts and adapter.test.ts; the kit builds instances only through the suite's `open`, outside the contract it checks
    const borrowed = this.#borrowed;
    if (borrowed !== undefined) {
      const location = borrowedLocation(borrowed);
      try {
        migrate(borrowed, this.tables, { where: this.#where, location, refuseForeign: false, mustExist: !this.#create });
        holdBlobMap(borrowed);
      } catch (error) {
        // Its own busy_timeout and journal mode, not the path options' defaults, for a lock's message.
        // Read for a lock's message only: any other failure runs no statement more.
        const busy = String((error as { code?: unknown } | null)?.code).startsWith('SQLITE_BUSY');
        if (!busy) throw this.#explain(error, location);
        const { wal, timeout } = lockSettings(borrowed);
        throw this.#explain(error, location, wal, timeout);
      }
      return borrowed;
    }
    // Stryker restore all
    const path = this.path as string;
    // A new in-memory database holds nothing, so with create: false there is never a store
    // to open: NotFoundError, as for a missing file, before any connection is made (opened
    // as usual, its tables were created, and a reading tool saw an empty store where there
    // is none). An in-memory store that exists is a Database of the application's: `database`.
    // Stryker disable next-line ConditionalExpression,LogicalOperator: ':memory:' is this adapter's own option (open.test.ts); the kit opens files
    if (!this.#create && path === MEMORY) {
      throw new NotFoundError(`${this.#where}: no @mtstore/sqlite database in ':memory:' (create: false): a new in-memory database is always empty; pass an in-memory Database that holds a store as database`);
    }
    const mustExist = !this.#create;
    if (mustExist && !existsSync(path)) throw new NotFoundError(`${this.#where}: no database file at ${path} (create: false)`);
    if (path !== MEMORY && !mustExist) createPrivateFile(path, this.#where);
    let db: Database.Database;
    // Stryker disable all: the busyTimeout option (open.test.ts checks it reaches the connection); the message of a file SQLite cannot open, which the kit has no hook to provoke; `where` and `location` only name the file in such messages, and refusing another library's file is this adapter's own (open.test.ts, schema.test.ts)
    try {
      db = new Database(path, { timeout: this.#busyTimeout, fileMustExist: mustExist });
    } catch (error) {
      // SQLite's own message ("unable to open database file") names no file.
      throw new StorageUnavailableError(`${this.#where}: cannot open ${path}: ${(error as Error).message}`, { cause: error });
    }
    const options = { where: this.#where, location: path, refuseForeign: true, mustExist };
    // Stryker restore all
    /** Whether the file is in WAL mode (undefined: not switched yet), for the message of a lock that timed out. */
    let wal: boolean | undefined;
    try {
      // Before any pragma that writes: another library's session file is refused untouched.
      // Stryker disable next-line ConditionalExpression,EqualityOperator: refusing another library's file untouched is this adapter's own (open.test.ts, schema.test.ts); the kit's files are always its own, and readVersion runs again in migrate
      if (path !== MEMORY) readVersion(db, this.tables, options);
      // WAL: readers never block the writer and a commit is one append to the log.
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent through the contract: a rollback journal gives the same results (with synchronous NORMAL a resolved write still survives a crash of the process), only slower and with readers waiting on a writer; open.test.ts checks WAL
      if (path !== MEMORY) wal = switchToWal(db, this.#busyTimeout);
      db.pragma(`synchronous = ${this.#synchronous}`);
      // A read another connection holds open (a CLI reading the file, the application's own
      // statement) keeps checkpoints from passing it, and the log grows by every commit
      // meanwhile (20,000 kv writes under one read: 85 MB). Without a limit the log file
      // stays that large after the read ends, for as long as any connection has the file
      // open; with it, the commit that starts the log over cuts it back.
      // Stryker disable next-line ConditionalExpression,EqualityOperator: disk use only, never what a call returns (open.test.ts "the write-ahead log after a long read")
      if (path !== MEMORY) db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
      db.pragma('foreign_keys = ON');
      // Temporary storage in memory: the peer batch's staging table and the sub-journal
      // (what a failed statement or a rolled-back savepoint undoes; SQLite spills it to a
      // file past 64 KiB). On files, a batch of 1,000 new peers opened a new /var/tmp file
      // and wrote ~225 KB to it in ~90 pwrites (strace), for pages that never outlive the
      // transaction. Both are bounded by one batch.
      db.pragma('temp_store = MEMORY');
      migrate(db, this.tables, options);
      // Stryker disable next-line ConditionalExpression,EqualityOperator,LogicalOperator: the map changes speed only (open.test.ts "the memory map")
      if (this.#mmapSize > 0 && path !== MEMORY) this.#mapIfLarge(db, path);
      holdBlobMap(db);
    } catch (error) {
      db.close();
      throw this.#explain(error, path, wal);
    }
    return db;
  }

  /** A file that is not (or no longer) an SQLite database is bad stored data, said plainly. */
  // Stryker disable all: open failures (not a database, a damaged file, a read-only one), which the kit has no hook to provoke; the kit's corrupt() damages stored values, not the file (open.test.ts, schema.test.ts)
  #explain(error: unknown, location: string, wal?: boolean, borrowedTimeout?: unknown): unknown {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return this.#busy(error, location, wal, borrowedTimeout);
    if (code === 'SQLITE_NOTADB') {
      return new CorruptDataError(`${this.#where}: ${location} is not an SQLite database (SQLITE_NOTADB)`, { cause: error });
    }
    if (code === 'SQLITE_CORRUPT') {
      return new CorruptDataError(`${this.#where}: ${location} is a damaged SQLite database (SQLITE_CORRUPT)`, { cause: error });
    }
    if (code === 'SQLITE_READONLY_DIRECTORY') {
      // SQLite says "attempt to write a readonly database" for what was a read.
      return new StorageUnavailableError(
        `${this.#where}: cannot read ${location}: it is in WAL mode, and SQLite must create its -wal and -shm files beside it even to read, ` +
          'but this process cannot write the directory (SQLITE_READONLY_DIRECTORY). Give it write access to the directory, or read a copy of the file.',
        { cause: error },
      );
    }
    if (typeof code === 'string' && code.startsWith('SQLITE_READONLY')) {
      // A file at the current schema opens without writing (switchToWal); this one needed a write.
      const write =
        code === 'SQLITE_READONLY_ROLLBACK'
          ? `rolling back the transaction a writer left unfinished (its ${location}-journal; nothing it committed is lost)`
          : code === 'SQLITE_READONLY_RECOVERY'
            ? 'recovering the write-ahead log a writer left behind'
            : 'creating or migrating the @mtstore/sqlite tables';
      return new StorageUnavailableError(
        `${this.#where}: ${location} cannot be written by this connection (${code}: the file or its directory is read-only for this process, or the Database was opened readonly), ` +
          `and opening it needs a write: ${write}. Open it once with write access; a file at the current schema can then be read without it.`,
        { cause: error },
      );
    }
    // SQLite's other messages name no file: add it.
    if (isStorageError(error)) return error;
    return new StorageUnavailableError(`${this.#where}: ${location}: ${(error as Error).message}`, { cause: error });
  }

  /**
   * Opening needed a lock another connection holds, and busyTimeout ran out. SQLite's
   * "database is locked" reads like an outage that a retry fixes; but better-sqlite3 is
   * synchronous, so when the holder is a connection of this process it could not move
   * while this call waited, and it only ends when the application ends that transaction.
   */
  #busy(error: unknown, location: string, wal: boolean | undefined, borrowedTimeout: unknown): StorageUnavailableError {
    const mode =
      wal === true
        ? 'another connection held a write transaction'
        : 'the file is in rollback-journal mode (not WAL), where an open read or write transaction of any connection blocks the write that creates or migrates the tables';
    const fix =
      wal === true
        ? 'end that transaction, then call again'
        : 'end that transaction and call again, or switch the file to WAL once (PRAGMA journal_mode=WAL, with no transaction open on any connection) so readers no longer block it';
    // A borrowed Database waits its own busy_timeout (the busyTimeout option is for path only).
    const waited = this.#borrowed === undefined ? `busyTimeout ${this.#busyTimeout} ms` : `its busy_timeout ${String(borrowedTimeout ?? '?')} ms`;
    return new StorageUnavailableError(
      `${this.#where}: ${location} is locked by another connection (SQLITE_BUSY after ${waited}): ${mode}. ` +
        `If that connection is in this process, waiting longer cannot help (this call blocks it): ${fix}.`,
      { cause: error },
    );
  }
  // Stryker restore all
}

/**
 * How long the switch to WAL waits for another connection's lock, in ms (at most
 * busyTimeout). Enough for processes opening a new file at the same moment, whose
 * locks last for one read of the schema; short, because a holder in this process
 * cannot move while the synchronous switch waits.
 */
const WAL_SWITCH_WAIT = 100;

/**
 * `journal_mode = WAL` needs the file to itself for a moment. When another connection
 * keeps a transaction open on a file in rollback-journal mode (the application's own
 * better-sqlite3 Database in this process, another program), the switch is deferred
 * instead of failing the open: the file stays in its journal mode for this connection,
 * which gives the same results (readers then wait on a writer), and the next open by
 * this adapter switches it. The wait is WAL_SWITCH_WAIT, not busyTimeout: in this
 * process the holder could not move while this synchronous call waited, so the full
 * timeout would only stall the event loop. A file this process cannot write stays in its
 * mode too, so that it can still be read. Returns whether the file is in WAL mode.
 * Never inside a transaction (SQLite refuses the switch there): this runs right after
 * opening.
 */
function switchToWal(db: Database.Database, busyTimeout: number): boolean {
  db.pragma(`busy_timeout = ${Math.min(busyTimeout, WAL_SWITCH_WAIT)}`);
  try {
    return db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return false;
    // A file (or directory) this process cannot write: it is read in its own journal mode,
    // and only a write fails (SQLITE_READONLY). Refusing the open refused every read too.
    if (typeof code === 'string' && code.startsWith('SQLITE_READONLY')) return false;
    throw error;
  } finally {
    // A number checked in the constructor: a pragma takes no bound value.
    db.pragma(`busy_timeout = ${busyTimeout}`);
  }
}

/**
 * A borrowed Database in messages: the file it was opened on (better-sqlite3's `name`, as the
 * application gave it), so that a refusal says where it looked, as for a path. A name that
 * may be a session string is not shown.
 */
// Stryker disable all: a lent Database's messages are this adapter's own (open.test.ts)
function borrowedLocation(db: Database.Database): string {
  const name: unknown = db.name;
  if (typeof name !== 'string' || name === '') return 'the given database (a temporary database)';
  if (mayHoldSessionString(name)) return `the given database (a file named by ${name.length} characters, not shown: a session string given as a path?)`;
  return `the given database (${name})`;
}

/** A pragma's value for a message; undefined when even that cannot be read. */
function pragmaOf(db: Database.Database, pragma: 'journal_mode' | 'busy_timeout'): unknown {
  try {
    return db.pragma(pragma, { simple: true });
  } catch {
    return undefined;
  }
}

/**
 * A borrowed Database's busy_timeout and whether it is in WAL mode, for the message of a lock
 * that outlasted that timeout. busy_timeout is the connection's own setting (read without a
 * lock). journal_mode is read with the wait off and the setting put back at once: on a
 * connection that has not read the schema yet, the pragma reads it first, under the lock that
 * has just failed, and waited out busy_timeout a second time (a failed call took 817 ms with
 * busy_timeout 400). A mode that cannot be read at once is not WAL, where a read never waits
 * for a writer. better-sqlite3 is synchronous: the application cannot see the setting changed.
 */
function lockSettings(db: Database.Database): { wal: boolean | undefined; timeout: unknown } {
  const timeout = pragmaOf(db, 'busy_timeout');
  // A number (SQLite's int) only: a pragma takes no bound value.
  if (typeof timeout !== 'number' || !Number.isSafeInteger(timeout)) return { wal: undefined, timeout };
  try {
    db.pragma('busy_timeout = 0');
    return { wal: pragmaOf(db, 'journal_mode') === 'wal', timeout };
  } catch {
    return { wal: undefined, timeout };
  } finally {
    try {
      db.pragma(`busy_timeout = ${timeout}`);
    } catch {
      // Only a closed Database refuses it, and then there is no setting left to restore.
    }
  }
}
// Stryker restore all

/**
 * Whether a path has a stretch of 100+ base64 characters: a GramJS session string (whose
 * alphabet has "/") given where a path belongs passes the file-name length check, so
 * the path itself is the login and must not be printed.
 */
function mayHoldSessionString(path: string): boolean {
  return /[A-Za-z0-9+/=_-]{100,}/.test(path);
}

/**
 * Auth keys are credentials: create the file owner-only before SQLite does (SQLite
 * gives its -wal and -shm files the database file's mode). An existing file keeps
 * whatever mode its owner chose. Every failure names the path.
 *
 * A symbolic link whose target does not exist is refused: `open(O_CREAT | O_EXCL)`
 * does not follow it, and SQLite would then create the target with the umask's mode
 * (0644), a world-readable key file somewhere the link chose. Creating the target
 * ourselves would mean creating a file wherever a planted link points; the owner
 * can create it (or fix the link) knowingly.
 */
// Stryker disable all: the owner-only mode and the refusal of dangling links and directories are this adapter's own file handling, checked by open.test.ts; the kit has no hook to read a file's mode or to plant a link
function createPrivateFile(path: string, where: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
    return;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') {
      // Node's message repeats the path: with one that may be a session string, only the errno.
      const shown = mayHoldSessionString(path) ? `a path of ${path.length} characters (not shown: a session string given as a path?)` : path;
      const reason = shown === path ? (error as Error).message : String((error as { code?: unknown }).code ?? 'failed');
      throw new StorageUnavailableError(`${where}: cannot create ${shown}: ${reason}`, shown === path ? { cause: error } : undefined);
    }
  }
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT' && lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new InvalidArgumentError(
        `${where}: ${path} is a symbolic link to ${readlinkSync(path)}, which does not exist; create the target (mode 0600) or give its path`,
      );
    }
    throw new StorageUnavailableError(`${where}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (stats.isDirectory()) {
    throw new InvalidArgumentError(`${where}: ${path} is a directory; give the path of a session file (e.g. ${path}/bot.session)`);
  }
}
// Stryker restore all
