/** `mtstore import <file-or-string> <target>`: any foreign session into any backend. */
import { existsSync, statSync } from 'node:fs';
import { gramjsStoreNames, isConvertError, parseSession, type ConvertedSession, type SessionFormat } from '@mtstore/convert';
import { describeHolder, isStorageError, LeaseHeldError, type Storage } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';
import { say, type Io } from './io.js';
import { progress } from './progress.js';
import { checkBotFlag, checkTarget, isUrl, openExisting, openTarget, readStdin, sessionNameOf, shown, sqlitePath, STDIN } from './source.js';

export interface ImportOptions {
  name?: string;
  format?: SessionFormat;
  /** Replace a session already stored under the name. */
  force?: boolean;
  /** The account is a bot (Telethon files do not say). */
  bot?: boolean;
}

export interface ImportResult {
  name: string;
  converted: ConvertedSession;
}

/** Peers per upsert: the contract's batch size every adapter handles in one statement. */
const PEER_BATCH = 10_000;

/**
 * Writes a converted session into an open storage: peers, kv entries, reference
 * messages, then the snapshot. The snapshot (with the auth keys) goes last so that a
 * run cut short leaves no login, only data that the next `import --force` replaces.
 */
export async function writeConverted(storage: Storage, converted: ConvertedSession, onPeers?: (written: number) => void): Promise<void> {
  for (let i = 0; i < converted.peers.length; i += PEER_BATCH) {
    const batch = converted.peers.slice(i, i + PEER_BATCH);
    await storage.peers.upsert(batch);
    onPeers?.(batch.length);
  }
  for (const entry of converted.kv) await storage.kv.set(entry.key, entry.value);
  // One at a time, in source order: each store becomes the peer's most recent reference.
  for (const ref of converted.refMessages) await storage.refMessages.store(ref.peerId, ref.chatId, ref.messageId);
  await storage.save(converted.session);
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
  if (warnings.length > WARNINGS_SHOWN) say(io, `mtstore: warning: … and ${warnings.length - WARNINGS_SHOWN} more rows or fields left out (${warnings.length} in all)`);
}

/** The session names of an mtstore SQLite storage at `path`, or null when it is none (opened with create=false: nothing is written). */
async function mtstoreNames(path: string): Promise<string[] | null> {
  try {
    const storage = await openExisting(path, undefined);
    try {
      return await storage.listNames();
    } finally {
      await storage.close();
    }
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
    return false; // unreadable: parseSession reports it
  }
}

async function readInput(input: string, options: ImportOptions, io: Io): Promise<ConvertedSession> {
  try {
    // --name also picks the session of a GramJS folder that holds several (imported under that name).
    const pick = options.name !== undefined && input !== STDIN && !(await isOneSessionFolder(input)) ? options.name : undefined;
    return await parseSession(input === STDIN ? await readStdin(io) : input, { ...(options.format ? { format: options.format } : {}), ...(options.bot ? { bot: true } : {}), ...(pick ? { name: pick } : {}) });
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
  const converted = await readInput(input, options, io);
  if (options.bot) checkBotFlag(converted, 'Import');
  const storage = await openTarget(target, options.name);
  const name = sessionNameOf(target, options.name);
  // The file written, not the path given: `sessions` beside a folder of that name is
  // sessions.session, which "into sessions" would send the user looking inside the folder for.
  const where = isUrl(target) ? shown(target) : shown(sqlitePath(target));
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
          `The session "${name}" in ${where} is in use by ${describeHolder(holder)} (its lease runs out at ${holder.expiresAt.toISOString()} unless renewed). ` +
            'Stop that client first (importing under it would make Telegram revoke the key), or pass --name to import under another name.',
        );
      }
      throw error;
    }
    if (await holdsAnything(storage, name)) {
      if (!options.force) {
        throw new CliError(EXIT.EXISTS, `A session named "${name}" already exists in ${where}. Pass --force to replace it, or --name to import under another name.`);
      }
      // Replacing means nothing of the old account stays (save() alone keeps its peers,
      // kv entries and references). delete() is one call; if the writes after it fail,
      // the name holds part of the new session and no login (snapshot last), which the
      // same import --force replaces.
      await storage.delete();
    }
    // More than one batch can take minutes on a slow backend (100,000 peers: 18 s into
    // Redis, over 3 minutes into FerretDB): show it moving.
    const bar = converted.peers.length > PEER_BATCH ? progress(io, `import "${name}"`, converted.peers.length, 'peers') : undefined;
    await writeConverted(storage, converted, bar === undefined ? undefined : (n) => bar.advance(n));
    bar?.finish();
  } finally {
    await storage.close();
  }
  reportWarnings(io, converted.warnings);
  const { session, peers, kv, refMessages } = converted;
  if (!session.dcs.some((dc) => dc.id === session.homeDcId && !dc.mediaOnly && dc.authKey !== undefined)) {
    // Stored all the same (its peers are worth keeping), but it is no login: say so
    // rather than let the first client that loads it find out.
    say(io, `mtstore: warning: the session has no auth key for its home DC ${session.homeDcId} (logged out, or its login never finished): a client using it must log in again, and export cannot write it as a string.`);
  }
  const user = session.user ? `user ${session.user.id}${session.user.bot ? ' (bot)' : ''}` : 'not logged in';
  say(
    io,
    `Imported a ${converted.format} session (${converted.layout}) into ${where} as "${name}": home DC ${session.homeDcId}, ${user}, ` +
      `${peers.length} peers, ${kv.length} kv entries, ${refMessages.length} reference messages` +
      (converted.warnings.length > 0 ? ` (${converted.warnings.length} rows or fields left out: see the warnings above).` : '.'),
  );
  return { name, converted };
}
