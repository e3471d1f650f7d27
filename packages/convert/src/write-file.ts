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
import { FILE_FORMATS, STRING_FORMATS, type FileSessionFormat, type SessionFormat } from './types.js';

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
class LossCounter {
  readonly #counts = new Map<string, number>();

  add(what: string, count = 1): void {
    this.#counts.set(what, (this.#counts.get(what) ?? 0) + count);
  }

  lines(noun: string): string[] {
    return [...this.#counts].map(([what, count]) => `${count} ${count === 1 ? noun : `${noun}s`}: ${what}`);
  }
}

/**
 * What a format has no place for of the session itself, each the reason its warning gives
 * in parentheses ("Telethon keeps none"); a kind left out is one the format keeps. The
 * writers differ in what they keep and in the words, not in when a kind is lost: that is
 * decided here once.
 */
export interface SessionLossReasons {
  /** The permanent keys of DCs other than the home DC. */
  otherKeys?: string;
  /** Temporary (PFS) keys, of any DC. */
  tempKeys?: string;
  /** The self user as a whole. */
  user?: string;
  /** The self user's bot flag (a format that keeps the user's id only). */
  botFlag?: string;
  /** The self user's usernames and premium flag (likewise). */
  userDetails?: string;
  /** The update state (pts, qts, date, seq). */
  state?: string;
  /** Channels' pts. */
  channels?: string;
  takeoutId?: string;
  apiId?: string;
}

/** The warnings of what the session holds and the format cannot (see `WrittenFile.warnings`), in a fixed order. */
export function sessionLosses(session: Session, reasons: SessionLossReasons): string[] {
  const lines: string[] = [];
  const otherKeys = [...new Set(session.dcs.filter((d) => d.id !== session.homeDcId && d.authKey !== undefined).map((d) => d.id))];
  if (reasons.otherKeys !== undefined && otherKeys.length > 0) lines.push(`auth keys of DC ${otherKeys.join(', ')} not written (${reasons.otherKeys})`);
  if (reasons.tempKeys !== undefined && session.dcs.some((d) => (d.tempAuthKeys?.length ?? 0) > 0)) lines.push(`temporary auth keys not written (${reasons.tempKeys})`);
  if (reasons.user !== undefined && session.user !== undefined) lines.push(`self user not written (${reasons.user})`);
  if (reasons.botFlag !== undefined && session.user?.bot === true) lines.push(`the bot flag not written (${reasons.botFlag})`);
  if (reasons.userDetails !== undefined && ((session.user?.usernames?.length ?? 0) > 0 || session.user?.premium === true)) lines.push(`self user's usernames and premium flag not written (${reasons.userDetails})`);
  if (reasons.state !== undefined && session.state !== undefined) lines.push(`update state not written (${reasons.state})`);
  const channels = session.channels.length;
  if (reasons.channels !== undefined && channels > 0) lines.push(`pts of ${channels} channel${channels === 1 ? '' : 's'} not written (${reasons.channels})`);
  if (reasons.takeoutId !== undefined && session.takeoutId !== undefined) lines.push(`takeout id not written (${reasons.takeoutId})`);
  if (reasons.apiId !== undefined && session.apiId !== undefined) lines.push(`api id not written (${reasons.apiId})`);
  return lines;
}

/** What a format has no place for of a peer, each its warning's reason; a kind left out is one the format keeps. */
export interface PeerLossReasons {
  /**
   * The client, when min peers are left out: their access hash does not work for
   * requests, and this client would use it.
   */
  minPeersFor?: string;
  /** Usernames after the first. */
  extraUsernames?: string;
  /**
   * The display name. Where the format keeps the `complete` TL object (no `complete`
   * reason), a peer that has one keeps its name inside it and loses nothing.
   */
  displayName?: string;
  /** The `complete` TL object. */
  complete?: string;
}

/** The per-peer losses of one write, counted ("3 peers: ..."), as every writer reports them. */
export class PeerLosses {
  readonly #lost = new LossCounter();

  constructor(readonly reasons: PeerLossReasons) {}

  /** Whether `peer` is left out whole (a min peer where the format leaves those out), counted. */
  leftOut(peer: Peer): boolean {
    if (this.reasons.minPeersFor === undefined || peer.min !== true) return false;
    this.#lost.add(`min peer not written (its access hash does not work for requests, and ${this.reasons.minPeersFor} would use it)`);
    return true;
  }

  /** Counts what the row of `peer`, just written, had no place for. */
  written(peer: Peer): void {
    const { extraUsernames, displayName, complete } = this.reasons;
    if (extraUsernames !== undefined && peer.usernames.length > 1) this.#lost.add(`usernames after the first not written (${extraUsernames})`);
    if (displayName !== undefined && peer.displayName !== undefined && (complete !== undefined || peer.complete === undefined)) this.#lost.add(`display name not written (${displayName})`);
    if (complete !== undefined && peer.complete !== undefined) this.#lost.add(`complete TL object not written (${complete})`);
  }

  /** One line per kind, in the order first met. */
  lines(): string[] {
    return this.#lost.lines('peer');
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
 * The SQLite files beside a session file: an earlier file's journal left there would be
 * rolled into the new file as a hot journal.
 */
const SQLITE_SIBLINGS = ['-journal', '-wal', '-shm'] as const;

const SQLITE_FILE_FORMATS: readonly SessionFormat[] = ['telethon-sqlite', 'pyrogram-sqlite', 'mtcute-sqlite'];

/**
 * What stops a session of `format` being written at `path`, or `undefined` when nothing
 * does: `path` itself if anything is there — a file, a folder, a link, even one whose
 * target is gone — else, for an SQLite file format, an earlier file's `-journal`, `-wal`
 * or `-shm` beside it, which SQLite would roll into the new file. `writeSessionFile` and
 * each format's writer refuse such a path (`MTSTORE_CONVERT_IO` "already exists"); this
 * is the same check for a caller that refuses it before any other work (a command line
 * checking `--out` before it opens the source). For a string format (a file the caller
 * writes the string into) it is the path alone. The writers still create the path
 * exclusively: one created after this check is refused, never overwritten.
 *
 * An empty path is `MTSTORE_CONVERT_INVALID`, an unknown format
 * `MTSTORE_CONVERT_UNKNOWN_FORMAT`, before the file system is asked.
 */
export function existingSessionPath(path: string, format: SessionFormat): string | undefined {
  if (typeof path !== 'string' || path === '') throw new ConvertError('MTSTORE_CONVERT_INVALID', 'existingSessionPath: path must be a non-empty string.');
  if (!([...STRING_FORMATS, ...FILE_FORMATS] as readonly unknown[]).includes(format)) {
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `existingSessionPath: unknown format: use one of ${[...STRING_FORMATS, ...FILE_FORMATS].join(', ')}.`);
  }
  return firstExisting(path, SQLITE_FILE_FORMATS.includes(format) ? SQLITE_SIBLINGS : []);
}

/** The first of `path` and `path` + each of `siblings` that exists (lstat: a dangling link too). */
function firstExisting(path: string, siblings: readonly string[]): string | undefined {
  return [path, ...siblings.map((s) => `${path}${s}`)].find((candidate) => lstatSync(candidate, { throwIfNoEntry: false }) !== undefined);
}

/**
 * A path that exists is refused: writing into it would overwrite or merge into someone's
 * session. So are `siblings` (see SQLITE_SIBLINGS).
 */
export function refuseExisting(path: string, siblings: readonly string[]): void {
  const candidate = firstExisting(path, siblings);
  if (candidate === undefined) return;
  const what = candidate === path ? '' : ` (${candidate.slice(path.length)} of an earlier file, which SQLite would roll into the new one)`;
  throw new ConvertError('MTSTORE_CONVERT_IO', `${shownPath(candidate)} already exists${what}: a session is written to a new path only, never over or into an existing one.`);
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
