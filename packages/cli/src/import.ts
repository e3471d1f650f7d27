/** `mtstore import <file-or-string> <target>`: any foreign session into any backend. */
import { existsSync, statSync } from 'node:fs';
import { gramjsStoreNames, isConvertError, openSession, streamConverted, type ConvertedSession, type SessionFormat, type SessionStream } from '@mtstore/convert';
import { describeHolder, isStorageError, LeaseHeldError, type Session, type Storage } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';
import { Interrupts } from './interrupts.js';
import { say, type Io } from './io.js';
import { progress } from './progress.js';
import { checkBotFlag, checkTarget, isUrl, openTarget, readStdin, sessionNameOf, shown, sqlitePath, STDIN, storedNames, userWords } from './source.js';
import { counted } from './words.js';

export interface ImportOptions {
  name?: string | undefined;
  format?: SessionFormat | undefined;
  /** Replace a session already stored under the name. */
  force?: boolean | undefined;
  /** The account is a bot (Telethon files do not say). */
  bot?: boolean | undefined;
}

export interface ImportResult {
  name: string;
  format: SessionFormat;
  /** Which layout of the format (as ConvertedSession.layout). */
  layout: string;
  session: Session;
  /** How many peers, kv entries and reference messages were written. */
  peers: number;
  kv: number;
  refMessages: number;
  /** What the input held that was left out (as ConvertedSession.warnings). */
  warnings: readonly string[];
}

/** Peers per upsert: the contract's batch size every adapter handles in one statement. */
const PEER_BATCH = 10_000;

/** What writeStream wrote. */
export interface WrittenCounts {
  peers: number;
  kv: number;
  refMessages: number;
}

/**
 * A turn of the event loop for the timers that are due. An adapter whose writes complete
 * at once (SQLite through better-sqlite3) resolves every await of the loop below as a
 * microtask: without this the lease's heartbeat timer never ran, and an import writing
 * for longer than the lease's 30 s lost it ("lease ... ran out", exit 4, one million peers
 * into SQLite). A timer, not setImmediate: called from the poll phase, an immediate runs
 * before the loop reaches the timers again; a 0 ms timer runs after every timer due before it.
 */
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Writes a session as it is read: each batch of peers as the stream yields it (memory
 * holds one batch, not the file), then kv entries and reference messages, then the
 * snapshot. The snapshot (with the auth keys) goes last so that a run cut short leaves no
 * login, only data that the next `import --force` replaces. Does not close the stream.
 * `interrupts`: a signal stops the writes at the next batch, and before the snapshot.
 */
export async function writeStream(storage: Storage, stream: SessionStream, onPeers?: (written: number) => void, interrupts?: Interrupts): Promise<WrittenCounts> {
  const written: WrittenCounts = { peers: 0, kv: 0, refMessages: 0 };
  const batches = <T>(source: AsyncIterable<T>): AsyncIterable<T> => (interrupts === undefined ? source : interrupts.batches(source));
  for await (const batch of batches(stream.peers(PEER_BATCH))) {
    await storage.peers.upsert(batch);
    written.peers += batch.length;
    onPeers?.(batch.length);
    await turn();
  }
  for (const entry of stream.kv) {
    await storage.kv.set(entry.key, entry.value);
    written.kv += 1;
  }
  for await (const batch of batches(stream.refMessages(PEER_BATCH))) {
    // One at a time, in source order: each store becomes the peer's most recent reference.
    for (const ref of batch) await storage.refMessages.store(ref.peerId, ref.chatId, ref.messageId);
    written.refMessages += batch.length;
    await turn();
  }
  interrupts?.check();
  await storage.save(stream.session);
  return written;
}

/** writeStream for a session already read whole. */
export async function writeConverted(storage: Storage, converted: ConvertedSession, onPeers?: (written: number) => void): Promise<void> {
  await writeStream(storage, streamConverted(converted), onPeers);
}

/**
 * Whether anything is stored under the storage's name: a snapshot, but also keys, peers,
 * kv entries or references without one (a client that wrote keys before saving).
 */
export async function holdsAnything(storage: Storage, name: string): Promise<boolean> {
  try {
    if ((await storage.load()) !== null) return true;
  } catch (error) {
    // A snapshot sealed by rotate-keys does not open without its key (import takes none):
    // it is there all the same — refused without --force, replaced with it.
    if (isStorageError(error) && error.code === 'MTSTORE_ENCRYPTION') return true;
    throw error;
  }
  if ((await storage.listNames()).includes(name)) return true;
  if ((await storage.authKeys.entries()).length > 0) return true;
  if ((await storage.peers.list({ limit: 1 })).peers.length > 0) return true;
  if ((await storage.kv.entries()).length > 0) return true;
  return (await storage.refMessages.list({ limit: 1 })).refs.length > 0;
}

/** Warnings shown one per line, at most this many; the rest as a count. */
const WARNINGS_SHOWN = 10;

/** What the input held that was left out (rows skipped, usernames or phones dropped), on stderr. */
export function reportWarnings(io: Io, warnings: readonly string[]): void {
  for (const line of warnings.slice(0, WARNINGS_SHOWN)) say(io, `mtstore: warning: ${line}`);
  if (warnings.length > WARNINGS_SHOWN) say(io, `mtstore: warning: … and ${counted(warnings.length - WARNINGS_SHOWN, 'more row or field', 'more rows or fields')} left out (${warnings.length} in all)`);
}

/** The session names of an mtstore SQLite storage at `path`, or null when it is none (opened with create=false: nothing is written). */
async function mtstoreNames(path: string): Promise<string[] | null> {
  try {
    return await storedNames(path, undefined);
  } catch {
    return null;
  }
}

/**
 * A folder holding exactly one GramJS session. `new StoreSession('x')` names the folder and
 * its session alike, so `import ./x <target> --name bob` means "store it as bob": --name
 * picks a session only in a folder that holds several.
 */
async function isOneSessionFolder(input: string): Promise<boolean> {
  try {
    return statSync(input).isDirectory() && (await gramjsStoreNames(input)).length === 1;
  } catch {
    return false; // unreadable: openSession reports it
  }
}

async function openInput(input: string, options: ImportOptions, io: Io): Promise<SessionStream> {
  try {
    // --name also picks the session of a GramJS folder that holds several (imported under that name).
    const pick = options.name !== undefined && input !== STDIN && !(await isOneSessionFolder(input)) ? options.name : undefined;
    return await openSession(input === STDIN ? await readStdin(io) : input, { ...(options.format ? { format: options.format } : {}), ...(options.bot ? { bot: true } : {}), ...(pick ? { name: pick } : {}) });
  } catch (error) {
    // An mtstore storage is no client's session file: the way to copy it is migrate, which
    // the converter's advice (give the file the client keeps) does not say.
    if (isConvertError(error) && error.code === 'MTSTORE_CONVERT_UNKNOWN_FORMAT' && input !== STDIN && !isUrl(input) && existsSync(input) && statSync(input).isFile()) {
      const names = await mtstoreNames(input);
      if (names !== null) {
        throw new CliError(
          EXIT.INPUT,
          `${shown(input)} is an mtstore storage (sessions: ${names.join(', ') || 'none'}), not a session to convert: copy it with mtstore migrate ${shown(input)} <target> (--name to pick sessions), or print one as a string with mtstore export.`,
        );
      }
    }
    throw error;
  }
}

export async function importSession(input: string, target: string, options: ImportOptions, io: Io): Promise<ImportResult> {
  checkTarget(target);
  const stream = await openInput(input, options, io);
  try {
    if (options.bot) checkBotFlag(stream, 'Import');
    const name = sessionNameOf(target, options.name);
    const written = await writeTarget(stream, target, name, options, io);
    return report(io, stream, target, name, written);
  } finally {
    stream.close();
  }
}

async function writeTarget(stream: SessionStream, target: string, name: string, options: ImportOptions, io: Io): Promise<WrittenCounts> {
  const storage = await openTarget(target, options.name);
  // Killed by a signal, the import held the lease for its TTL (the same import refused
  // for 30 s) and said nothing of what it left. Taken instead, a signal stops the writes
  // at the next batch, the storage is closed below (the lease released), and the line
  // says what is there: peers, never a login, as the snapshot is written last.
  let peers = 0;
  const interrupts = new Interrupts(
    (signal) =>
      `Interrupted (${signal}) while importing "${name}" into ${whereOf(target)}: ${counted(peers, 'peer')} written and no login (the snapshot is written last); ` +
      'run the same import with --force to replace them.',
  );
  try {
    // The check below and the writes after it are one step only while nobody else writes
    // the name: two imports run at once would both find it empty and both write (one
    // account's peers mixed with the other's keys), and --force would overwrite a client
    // that is using the session. Holding the session lease for the whole import makes any
    // other holder — a second import, a running client — a refusal naming it (exit 8); a
    // killed import's lease runs out within its TTL (30 s).
    try {
      await storage.lease.acquire({ owner: { label: 'mtstore import' } });
    } catch (error) {
      if (error instanceof LeaseHeldError || (isStorageError(error) && error.code === 'MTSTORE_LEASE_HELD')) {
        const holder = (error as LeaseHeldError).holder;
        throw new CliError(
          EXIT.EXISTS,
          `The session "${name}" in ${whereOf(target)} is in use by ${describeHolder(holder)} (its lease runs out at ${holder.expiresAt.toISOString()} unless renewed). ` +
            'Stop that client first (importing under it would make Telegram revoke the key), or pass --name to import under another name.',
        );
      }
      throw error;
    }
    if (await holdsAnything(storage, name)) {
      if (!options.force) {
        throw new CliError(EXIT.EXISTS, `A session named "${name}" already exists in ${whereOf(target)}. Pass --force to replace it, or --name to import under another name.`);
      }
      // Replacing means nothing of the old account stays (save() alone keeps its peers,
      // kv entries and references). delete() is one call; if the writes after it fail,
      // the name holds part of the new session and no login (snapshot last), which the
      // same import --force replaces.
      await storage.delete();
    }
    // More than one batch can take minutes on a slow backend (100,000 peers: 18 s into
    // Redis, over 3 minutes into FerretDB): show it moving. The total is the file's peer
    // rows; rows skipped with a warning make the count written smaller.
    const bar = stream.peerRows > PEER_BATCH ? progress(io, `import "${name}"`, stream.peerRows, 'peer') : undefined;
    const written = await writeStream(
      storage,
      stream,
      (n) => {
        peers += n;
        bar?.advance(n);
      },
      interrupts,
    );
    bar?.finish(written.peers);
    return written;
  } finally {
    interrupts.dispose();
    await storage.close();
  }
}

/**
 * The file written, not the path given: `sessions` beside a folder of that name is
 * sessions.session, which "into sessions" would send the user looking inside the folder for.
 */
function whereOf(target: string): string {
  return isUrl(target) ? shown(target) : shown(sqlitePath(target));
}

/** The warnings and the summary on stderr, once everything is written. */
function report(io: Io, stream: SessionStream, target: string, name: string, written: WrittenCounts): ImportResult {
  reportWarnings(io, stream.warnings);
  const { session } = stream;
  if (!session.dcs.some((dc) => dc.id === session.homeDcId && !dc.mediaOnly && dc.authKey !== undefined)) {
    // Stored all the same (its peers are worth keeping), but it is no login: say so
    // rather than let the first client that loads it find out.
    say(io, `mtstore: warning: the session has no auth key for its home DC ${session.homeDcId} (logged out, or its login never finished): a client using it must log in again, and export cannot write it as a string.`);
  }
  const user = userWords(session);
  say(
    io,
    `Imported a ${stream.format} session (${stream.layout}) into ${whereOf(target)} as "${name}": home DC ${session.homeDcId}, ${user}, ` +
      `${counted(written.peers, 'peer')}, ${counted(written.kv, 'kv entry', 'kv entries')}, ${counted(written.refMessages, 'reference message')}` +
      (stream.warnings.length > 0 ? ` (${counted(stream.warnings.length, 'row or field', 'rows or fields')} left out: see the warnings above).` : '.'),
  );
  return { name, format: stream.format, layout: stream.layout, session, ...written, warnings: [...stream.warnings] };
}
