/**
 * Opening other libraries' SQLite session files (read-only, through better-sqlite3,
 * an optional peer dependency) and recognising them by their tables. The signatures
 * are exported so an adapter (e.g. @mtstore/sqlite) can refuse to open another
 * library's file with a precise message instead of creating its own tables in it.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { closeSync, constants, copyFileSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync, type BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConvertError, shownPath } from './errors.js';
import type { FileSessionFormat } from './types.js';

export type SqliteDatabase = BetterSqlite3.Database;

/** Tables (with the columns that identify them) a library's session file always has. */
export interface SqliteSignature {
  format: Exclude<FileSessionFormat, 'gramjs-store'>;
  library: string;
  tables: Readonly<Record<string, readonly string[]>>;
}

export const FOREIGN_SQLITE_SIGNATURES: readonly SqliteSignature[] = [
  {
    format: 'telethon-sqlite',
    library: 'Telethon',
    tables: {
      version: ['version'],
      sessions: ['dc_id', 'server_address', 'port', 'auth_key'],
      entities: ['id', 'hash', 'username', 'phone', 'name'],
    },
  },
  {
    format: 'pyrogram-sqlite',
    library: 'Pyrogram',
    tables: {
      version: ['number'],
      sessions: ['dc_id', 'test_mode', 'auth_key', 'user_id', 'is_bot'],
      // No `username`: Kurigram's files keep usernames in a table of their own.
      peers: ['id', 'access_hash', 'type', 'phone_number'],
    },
  },
  {
    format: 'mtcute-sqlite',
    library: 'mtcute',
    tables: {
      mtcute_migrations: ['repo', 'version'],
      auth_keys: ['dc', 'key'],
      key_value: ['key', 'value'],
    },
  },
];

/** Table name → column names of an open database. */
export type SqliteSchema = Readonly<Record<string, readonly string[]>>;

/**
 * The foreign library whose tables a schema has, or null. Pure, so an adapter can pass
 * the schema of a connection it already holds.
 */
export function matchSqliteSignature(schema: SqliteSchema): SqliteSignature | null {
  for (const signature of FOREIGN_SQLITE_SIGNATURES) {
    const matches = Object.entries(signature.tables).every(([table, columns]) => {
      const have = schema[table];
      return have !== undefined && columns.every((c) => have.includes(c));
    });
    if (matches) return signature;
  }
  return null;
}

export function readSchema(db: SqliteDatabase): Record<string, string[]> {
  const schema: Record<string, string[]> = {};
  const tables = db.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[];
  for (const table of tables) {
    const columns = db.prepare(`select name from pragma_table_info(?)`).pluck().all(table) as string[];
    schema[table] = columns;
  }
  return schema;
}

type DatabaseConstructor = typeof BetterSqlite3;
let driver: Promise<DatabaseConstructor> | undefined;

/** better-sqlite3's constructor, or SQLITE_UNAVAILABLE naming the way to install it. */
export async function loadDriver(): Promise<DatabaseConstructor> {
  driver ??= import('better-sqlite3').then(
    (mod) => ((mod as { default?: DatabaseConstructor }).default ?? (mod as unknown as DatabaseConstructor)),
    (error: unknown) => {
      driver = undefined;
      const missing = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' || (error as { code?: unknown }).code === 'MODULE_NOT_FOUND';
      throw new ConvertError(
        'MTSTORE_CONVERT_SQLITE_UNAVAILABLE',
        missing
          ? 'Reading SQLite session files needs better-sqlite3, which is not installed. Run: npm install better-sqlite3'
          : `better-sqlite3 failed to load (${error instanceof Error ? error.message.split('\n')[0] : String(error)}). Run: npm rebuild better-sqlite3`,
        { cause: error },
      );
    },
  );
  return driver;
}

/**
 * How long a read waits for another process's lock. The libraries hold a file's lock
 * only while they commit (milliseconds); longer is a process holding it on purpose.
 */
const BUSY_TIMEOUT_MS = 2_000;

/** True for SQLite's "database is locked" (SQLITE_BUSY / SQLITE_LOCKED), also as a ConvertError's cause. */
export function isSqliteLocked(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) return true;
  return error instanceof Error && error.cause !== undefined && error.cause !== error && isSqliteLocked(error.cause);
}

/** What a file another process keeps locked is: IO, with the way out (not "damaged"). */
export function lockedError(where: string, cause: unknown): ConvertError {
  return new ConvertError(
    'MTSTORE_CONVERT_IO',
    `${where} is locked by another process (a client that has it open, in the middle of a write); try again once it is done, or stop that client.`,
    { cause },
  );
}

/**
 * A file beside a hot journal (its client was killed in the middle of a write) as of its
 * last commit, which is what the client itself reads next. A read-only connection cannot
 * put the journal's pages back (SQLITE_READONLY_ROLLBACK), and writing the user's file is
 * the client's business: the file and its journal are copied into a private folder,
 * opened there (SQLite rolls the copy back), read into memory and the folder removed.
 */
function openLastCommit(Database: DatabaseConstructor, path: string): SqliteDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-'));
  try {
    const copy = join(dir, 'session');
    copyFileSync(path, copy);
    // Another opener may have rolled the file back since: then the copy is the last commit already.
    if (existsSync(`${path}-journal`)) copyFileSync(`${path}-journal`, `${copy}-journal`);
    const scratch = new Database(copy, { fileMustExist: true });
    try {
      scratch.prepare('select count(*) from sqlite_master').get();
      return new Database(scratch.serialize());
    } finally {
      scratch.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** True when the file starts with an SQLite header marking it WAL mode (bytes 18 and 19 are 2). */
function inWalMode(path: string): boolean {
  const header = Buffer.alloc(100);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false; // Not readable: the open below says why.
  }
  try {
    return readSync(fd, header, 0, 100, 0) === 100 && isSqliteBytes(header) && header[18] === 2;
  } finally {
    closeSync(fd);
  }
}

function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * A WAL-mode file (mtcute's) with no -wal beside it: its client closed it cleanly, and
 * all of it is in the file. A read-only SQLite connection to a WAL file creates
 * `-wal` and `-shm` beside it and, unable to checkpoint, leaves them there; better-sqlite3
 * has no URI filenames (`immutable=1`, `nolock=1`: SQLITE_USE_URI=0). So the file is
 * copied into a private folder (a reflink where the file system has them) and read there.
 * A client may start writing meanwhile: in WAL mode it changes the file only by
 * checkpointing from a -wal, so the copy is one committed state when, after it, no -wal
 * or -journal is there and the file's inode, size, mtime and ctime are as before; else
 * null (the caller looks again). The copy is marked rollback mode (header bytes 18/19 = 1,
 * nothing is in a -wal), so the read-only open creates no file even in the private folder,
 * and the folder is removed as soon as the copy is open where the system allows it
 * (POSIX: the open file stays readable), else when the connection closes.
 */
function openWalCopy(Database: DatabaseConstructor, path: string): SqliteDatabase | null {
  const before = statSync(path, { bigint: true });
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-'));
  let db: SqliteDatabase | undefined;
  try {
    const copy = join(dir, 'session');
    copyFileSync(path, copy, constants.COPYFILE_FICLONE);
    if (existsSync(`${path}-wal`) || existsSync(`${path}-journal`) || !sameFile(before, statSync(path, { bigint: true }))) {
      rmSync(dir, { recursive: true, force: true });
      return null;
    }
    const fd = openSync(copy, 'r+');
    try {
      writeSync(fd, Buffer.from([1, 1]), 0, 2, 18);
    } finally {
      closeSync(fd);
    }
    db = new Database(copy, { readonly: true, fileMustExist: true });
    db.prepare('select count(*) from sqlite_master').get();
  } catch (error) {
    db?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  try {
    rmSync(dir, { recursive: true });
  } catch {
    const open = db;
    const close = open.close.bind(open);
    open.close = () => {
      try {
        return close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
  }
  return db;
}

/** How often a copy is retried while a client keeps changing the file under it. */
const COPY_ATTEMPTS = 5;

/**
 * A path opened without leaving anything beside it. A rollback-journal file (Telethon's,
 * Pyrogram's) is opened in place: a read-only connection creates no file there. So is a
 * WAL file with a -wal beside it (its client has it open, or left it so): SQLite reads
 * the client's latest commits through them and locks against its checkpoints in the
 * client's -shm, and the files are the client's. A WAL file without one is read from a copy.
 */
function openPath(Database: DatabaseConstructor, path: string): SqliteDatabase {
  for (let attempt = 1; ; attempt++) {
    if (!inWalMode(path) || existsSync(`${path}-wal`)) return new Database(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    const db = openWalCopy(Database, path);
    if (db !== null) return db;
    if (attempt === COPY_ATTEMPTS) {
      throw Object.assign(new Error(`changed by another process during each of ${COPY_ATTEMPTS} copies`), { code: 'SQLITE_BUSY' });
    }
  }
}

/** Opens a file (read-only, never created) or serialized bytes (in memory) with 64-bit integers as bigint. */
export async function openSqlite(source: string | Uint8Array): Promise<SqliteDatabase> {
  const Database = await loadDriver();
  let db: SqliteDatabase;
  const where = typeof source === 'string' ? shownPath(source) : 'the bytes';
  try {
    try {
      db = typeof source === 'string' ? openPath(Database, source) : new Database(Buffer.from(source));
      // A file that is not a database fails only on the first read.
      db.prepare('select count(*) from sqlite_master').get();
    } catch (error) {
      if (typeof source !== 'string' || (error as { code?: unknown } | null)?.code !== 'SQLITE_READONLY_ROLLBACK') throw error;
      db = openLastCommit(Database, source);
    }
    db.defaultSafeIntegers(true);
  } catch (error) {
    if (isSqliteLocked(error)) throw lockedError(where, error);
    const reason = error instanceof Error ? error.message : String(error);
    // A file that opens but is no database, or a damaged one, is the input's fault (its
    // content), not a failure to read it: INVALID, as a damaged table is.
    const code = (error as { code?: unknown } | null)?.code;
    const damaged = typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
    throw new ConvertError(damaged ? 'MTSTORE_CONVERT_INVALID' : 'MTSTORE_CONVERT_IO', `Cannot open ${where} as SQLite: ${reason}.`, { cause: error });
  }
  return db;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/** True when the bytes start like an SQLite database file. */
export function isSqliteBytes(bytes: Uint8Array): boolean {
  return bytes.length >= 100 && Buffer.from(bytes.subarray(0, 16)).toString('latin1') === SQLITE_MAGIC;
}

/** The SQL function through which a reader's ordering calls its own time of a row. */
const SEEN_AT = 'mtstore_seen_at';

/**
 * The rows of a peer table oldest first, as `oldestFirst` orders peers: by `seenAt(the
 * time column)` — the reader's own function, registered on the connection, so the order is
 * the peers' `updatedAt` exactly — and equal times by rowid, the order a plain scan of the
 * table reads them in. SQLite sorts: past its cache (16 MB) the sorter spills to temporary
 * files, so a file of millions of rows is read in bounded memory. `query` gets the SQL
 * to order by (`time` null: a table without a time column, every time 0; `rowid` the
 * table's rowid as the query names it, `p.rowid` in a join).
 */
export function rowsOldestFirst(
  db: SqliteDatabase,
  query: (orderBy: string) => string,
  columns: { time: string | null; rowid: string },
  seenAt: (value: unknown) => number,
): IterableIterator<Record<string, unknown>> {
  db.function(SEEN_AT, { deterministic: true, safeIntegers: true }, (value: unknown) => seenAt(value));
  const orderBy = columns.time === null ? columns.rowid : `${SEEN_AT}(${columns.time}), ${columns.rowid}`;
  return db.prepare(query(orderBy)).iterate() as IterableIterator<Record<string, unknown>>;
}
