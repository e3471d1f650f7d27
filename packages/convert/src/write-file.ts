/**
 * Writing a session back as a client's own file or folder. What every writer shares:
 * the path must be new (a session file is someone's login: never overwritten or merged
 * into), the file is created owner-only before anything is written to it (it holds the
 * auth key), the whole content goes in one transaction, and a write that fails part-way
 * removes what it created, so no half-written login is left behind.
 */
import type { Peer, Session } from '@mtstore/core';
import { closeSync, lstatSync, openSync, rmSync } from 'node:fs';
import { checkPeer, checkSession } from './common.js';
import { checkOptions, ConvertError, isConvertError, shownPath } from './errors.js';
import { loadDriver, type SqliteDatabase } from './sqlite.js';
import type { FileSessionFormat } from './types.js';

/**
 * The peers to write: peers, batches of peers (what `SessionStream.peers()` and a
 * storage's `peers.list` pages give), or a mix, sync or async. Read once, as they come:
 * a cache of millions of peers is never held whole.
 */
export type PeerInput = Iterable<Peer | readonly Peer[]> | AsyncIterable<Peer | readonly Peer[]>;

/** What a file writer did. */
export interface WrittenFile {
  format: FileSessionFormat;
  /** The file (or folder) written. */
  path: string;
  /** Peers written (peers the format cannot hold are counted in `warnings`). */
  peers: number;
  /**
   * What the format could not hold, one line each, as the readers report what they left
   * out: counts and fields, never a key or a phone number. Empty when nothing was lost.
   */
  warnings: string[];
}

/** The SQL value of an optional field. */
export type SqlValue = string | number | bigint | Uint8Array | null;

/** One counted loss: "3 peers: ..." lines, so a million peers give one line, not a million. */
export class LossCounter {
  readonly #counts = new Map<string, number>();

  add(what: string, count = 1): void {
    this.#counts.set(what, (this.#counts.get(what) ?? 0) + count);
  }

  lines(noun: string): string[] {
    return [...this.#counts].map(([what, count]) => `${count} ${count === 1 ? noun : `${noun}s`}: ${what}`);
  }
}

/** The checks of every writer before any I/O: options, the session, the peers' shape, the path. */
export function checkWriteInput(format: FileSessionFormat, session: Session, peers: PeerInput, path: string, options: unknown, known: readonly string[], where: string): void {
  checkOptions(options, known, where);
  checkSession(format, session);
  const iterable = peers as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  if (iterable === null || typeof iterable !== 'object' || (typeof iterable[Symbol.iterator] !== 'function' && typeof iterable[Symbol.asyncIterator] !== 'function')) {
    throw new ConvertError('MTSTORE_CONVERT_INVALID', `${where}: peers must be an iterable or async iterable of peers (or batches of peers).`);
  }
  if (typeof path !== 'string' || path === '') throw new ConvertError('MTSTORE_CONVERT_INVALID', `${where}: path must be a non-empty string.`);
  refuseExisting(path, []);
}

/**
 * A path that exists — a file, a folder, a link, even one whose target is gone — is
 * refused: writing into it would overwrite or merge into someone's session. So are
 * `siblings` (an SQLite journal left by an earlier file of that name would be rolled
 * into the new one as a hot journal).
 */
export function refuseExisting(path: string, siblings: readonly string[]): void {
  for (const candidate of [path, ...siblings.map((s) => `${path}${s}`)]) {
    if (lstatSync(candidate, { throwIfNoEntry: false }) === undefined) continue;
    const what = candidate === path ? '' : ` (${candidate.slice(path.length)} of an earlier file, which SQLite would roll into the new one)`;
    throw new ConvertError('MTSTORE_CONVERT_IO', `${shownPath(candidate)} already exists${what}: a session is written to a new path only, never over or into an existing one.`);
  }
}

/** Every peer of the input, batches flattened, each checked by core (INVALID naming its index). */
export async function* eachPeer(format: FileSessionFormat, input: PeerInput): AsyncGenerator<Peer> {
  let index = 0;
  for await (const item of input as AsyncIterable<Peer | readonly Peer[]>) {
    const batch: readonly Peer[] = Array.isArray(item) ? item : [item as Peer];
    for (const peer of batch) {
      checkPeer(format, peer, index++);
      yield peer;
    }
  }
}

/** Node's message of a failed write, without the path when it may be a session string. */
export function ioError(what: string, path: string, error: unknown): ConvertError {
  if (isConvertError(error)) return error;
  const shown = shownPath(path);
  const reason = shown.startsWith('"') ? (error instanceof Error ? error.message : String(error)) : String((error as { code?: unknown } | null)?.code ?? 'failed');
  return new ConvertError('MTSTORE_CONVERT_IO', `Cannot write ${what} ${shown}: ${reason}.`, shown.startsWith('"') ? { cause: error } : undefined);
}

/**
 * A failure of the file itself (SQLite's SQLITE_FULL, Node's EACCES, ...), which becomes
 * MTSTORE_CONVERT_IO; anything else — the peer source's own error (a storage that lost its
 * connection), a ConvertError — goes to the caller as it was.
 */
export function isIoFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_') || /^E[A-Z]+$/.test(code));
}

const SQLITE_SIBLINGS = ['-journal', '-wal', '-shm'] as const;

/**
 * A new SQLite file at `path`, mode 0600 (SQLite gives its journal the file's mode),
 * filled by `fill` inside one transaction. `after` runs once committed (journal mode).
 * On any failure the connection is closed and the file and its journal are removed.
 */
export async function writeSqliteFile<T>(path: string, what: string, fill: (db: SqliteDatabase) => Promise<T>, after?: (db: SqliteDatabase) => void): Promise<T> {
  const Database = await loadDriver();
  refuseExisting(path, SQLITE_SIBLINGS);
  try {
    // O_EXCL: if another process created the path since the check, this fails, never truncates.
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST') refuseExisting(path, []);
    throw ioError(what, path, error);
  }
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(path, { fileMustExist: true });
    db.exec('begin immediate');
    const result = await fill(db);
    db.exec('commit');
    after?.(db);
    db.close();
    return result;
  } catch (error) {
    try {
      db?.close();
    } catch {
      // Closing a connection whose file is being removed: the removal below is what matters.
    }
    for (const file of [path, ...SQLITE_SIBLINGS.map((s) => `${path}${s}`)]) rmSync(file, { force: true });
    throw isIoFailure(error) ? ioError(what, path, error) : error;
  }
}

/** A format's name as the messages give it. */
export function formatName(format: FileSessionFormat): string {
  return { 'telethon-sqlite': 'Telethon session file', 'pyrogram-sqlite': 'Pyrogram session file', 'mtcute-sqlite': 'mtcute session file', 'gramjs-store': 'GramJS StoreSession folder' }[format];
}
