/**
 * `mtstore export <source> --format …`: a stored (or foreign) session as a string on
 * stdout, or with `--out` as a new file: the string, or a client's own session file or
 * folder (Telethon, Pyrogram, mtcute SQLite, GramJS StoreSession) with the peer cache.
 */
import { writeFileSync } from 'node:fs';
import { existingSessionPath, FILE_FORMATS, STRING_FORMATS, toSessionString, writeSessionFile, type ConvertedRefMessage, type FileSessionFormat, type SessionFormat, type StringSessionFormat, type WriteFileOptions } from '@mtstore/convert';
import type { EncryptionOptions, KeyValueEntry, Peer, Session, Storage } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';
import { reportWarnings } from './import.js';
import { Interrupts } from './interrupts.js';
import { say, type Io } from './io.js';
import { encryptionFromFlags } from './rotate.js';
import { checkBotFlag, checkTarget, missingKeyError, openExisting, openForeign, sessionNameOf, shown, STDIN, userWords } from './source.js';
import { counted } from './words.js';

export interface ExportOptions {
  format: string;
  name?: string | undefined;
  /** Pyrogram's current layout needs an api_id when the session has none. */
  apiId?: number | undefined;
  /** Read a foreign source (an ambiguous string) as this format. */
  from?: SessionFormat | undefined;
  /** `id=ENV_VAR` flags: the keys a session sealed by rotate-keys opens with. */
  keys?: string[] | undefined;
  /** A foreign Telethon file's account is a bot (the file does not say). */
  bot?: boolean | undefined;
  /**
   * Write to this new path (never over an existing one), mode 0600: required for the file
   * formats; for a string format, the string goes to this file instead of stdout.
   */
  out?: string | undefined;
}

export function checkStringFormat(format: string): StringSessionFormat {
  if (!(STRING_FORMATS as readonly string[]).includes(format)) {
    throw new CliError(EXIT.USAGE, `--format must be one of ${STRING_FORMATS.join(', ')}, got "${format}".`);
  }
  return format as StringSessionFormat;
}

function isFileFormat(format: string): format is FileSessionFormat {
  return (FILE_FORMATS as readonly string[]).includes(format);
}

/** A string format, or a file format with --out: checked before anything is opened. */
function checkExportFormat(format: string, out: string | undefined): SessionFormat {
  if (isFileFormat(format)) {
    if (out === undefined) throw new CliError(EXIT.USAGE, `--format ${format} writes a session file: pass --out <path>, a new path (an existing one is never overwritten).`);
    return format;
  }
  if (!(STRING_FORMATS as readonly string[]).includes(format)) {
    throw new CliError(EXIT.USAGE, `--format must be one of ${[...STRING_FORMATS, ...FILE_FORMATS].join(', ')}, got "${format}".`);
  }
  return format as StringSessionFormat;
}

/**
 * --out must be a new path: a session file is someone's login, never overwritten or
 * merged into. What is in the way — the path, or an SQLite journal of an earlier file
 * beside it — is convert's check, the one its writers make; here it is the command
 * line's to fix (exit 2), said in this CLI's words.
 */
function refuseExistingOut(out: string, format: SessionFormat): void {
  const taken = existingSessionPath(out, format);
  if (taken !== undefined) {
    throw new CliError(EXIT.USAGE, `--out ${shown(taken)} already exists: export writes a new file only, never over or into an existing one. Give a new path${taken === out ? '' : ` (or remove ${shown(taken)}, left by an earlier file)`}.`);
  }
}

/** The session stored under `name` in `source` (a storage), or the foreign session `source` is. */
/** `io`: where a source given as `-` is read from (its stdin). */
export async function loadSession(source: string, name: string | undefined, from?: SessionFormat, encryption?: EncryptionOptions, bot?: boolean, io?: Io): Promise<Session> {
  const foreign = await openForeign(source, { format: from, name, bot }, io);
  if (foreign !== null) {
    // The session only: a file's peers (millions, for a bot) are never read.
    try {
      if (bot) checkBotFlag(foreign, 'Export');
      return foreign.session;
    } finally {
      foreign.close();
    }
  }
  const storage = await openExisting(source, name, encryption);
  try {
    const session = await loadStored(storage, source, name, 'write as a string');
    if (bot) throw new CliError(EXIT.USAGE, `--bot applies to Telethon session files only: ${shown(source)} is a storage, whose sessions record whether the account is a bot. Export it without --bot.`);
    return session;
  } finally {
    await storage.close();
  }
}

/** The snapshot stored under the name, or exit 6 naming what is there instead. */
async function loadStored(storage: Storage, source: string, name: string | undefined, what: string): Promise<Session> {
  let session: Session | null;
  try {
    session = await storage.load();
  } catch (error) {
    throw missingKeyError(error, sessionNameOf(source, name), source);
  }
  if (session !== null) return session;
  const names = await storage.listNames();
  const wanted = sessionNameOf(source, name);
  if (names.includes(wanted)) {
    // Keys, peers or kv entries without a snapshot: nothing a string or file could hold (no DC, no login).
    throw new CliError(EXIT.NOT_FOUND, `The session "${wanted}" in ${shown(source)} has no snapshot (only keys, peers, kv entries or reference messages, as a client stores before its first save): there is no login to ${what}. mtstore inspect shows what it holds.`);
  }
  const hint = names.length === 0 ? 'it holds no sessions' : `it holds: ${names.join(', ')} (pick one with --name)`;
  throw new CliError(EXIT.NOT_FOUND, `No session named "${wanted}" in ${shown(source)}: ${hint}.`);
}

/**
 * Exports the session. Returns the string written (a string format, on stdout or to
 * --out), or the path of the session file or folder written.
 */
export async function exportSession(source: string, given: ExportOptions, io: Io): Promise<string> {
  let options = given;
  if (options.out === STDIN) {
    // `--out -` is standard output, as `-` is standard input for the session: it wrote a
    // login to a file named "-" in the working folder.
    if (isFileFormat(options.format)) {
      throw new CliError(EXIT.USAGE, `--out - is standard output, which takes a string format only: --format ${options.format} writes a session ${options.format === 'gramjs-store' ? 'folder' : 'file'}, give its path.`);
    }
    options = { ...options, out: undefined };
  }
  const format = checkExportFormat(options.format, options.out);
  if (options.out !== undefined) {
    // Before the source is opened, so a refused export reads nothing.
    checkTarget(options.out);
    refuseExistingOut(options.out, format);
  }
  const encryption = options.keys === undefined ? undefined : encryptionFromFlags(options.keys);
  if (isFileFormat(format)) return exportFile(source, format, options.out!, options, encryption, io);
  const session = await loadSession(source, options.name, options.from, encryption, options.bot, io);
  if (format === 'pyrogram' && session.apiId === undefined && options.apiId === undefined && session.user !== undefined) {
    // The library's own refusal names its option (`apiId`); on the command line it is --api-id.
    throw new CliError(EXIT.USAGE, `The session records no api_id, which a Pyrogram string holds: pass --api-id <your app's api_id>.`);
  }
  const text = toSessionString(session, format, options.apiId === undefined ? {} : { apiId: options.apiId });
  if (options.out !== undefined) {
    writeStringFile(options.out, format, text);
    say(io, `warning: ${shown(options.out)} holds a ${format} string, a login: anyone holding it can use the account. Keep it secret.`);
    say(io, `Wrote the ${format} string to ${shown(options.out)}.`);
  } else {
    io.stdout.write(`${text}\n`);
    say(io, `warning: this ${format} string is a login: anyone holding it can use the account. Keep it secret.`);
  }
  return text;
}

/**
 * The string into a new file, mode 0600. O_EXCL: a file created since the check before
 * the source was opened is refused, never truncated. A path that cannot be written (no
 * such folder, no permission) is the command line's to fix, in this CLI's words, as a
 * file format's is.
 */
function writeStringFile(out: string, format: StringSessionFormat, text: string): void {
  try {
    writeFileSync(out, `${text}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'EEXIST') refuseExistingOut(out, format);
    throw new CliError(EXIT.USAGE, `Cannot write --out ${shown(out)}: ${typeof code === 'string' ? code : 'failed'}. Check that its folder exists and this user can write to it.`);
  }
}

/** How the summary names what was exported: a stored session by name, a foreign one by what it is. */
function sourceLabel(source: string, options: ExportOptions, foreign?: SessionFormat): string {
  return foreign === undefined ? `session "${sessionNameOf(source, options.name)}"` : `the ${foreign} session ${shown(source)}`;
}

/** Pages of a storage's peers (`peers.list`), as migrate reads them: memory holds a page. */
async function* storedPeers(storage: Storage): AsyncGenerator<Peer[]> {
  let cursor: string | null = null;
  do {
    const page = await storage.peers.list({ cursor, limit: PAGE });
    if (page.peers.length > 0) yield page.peers;
    cursor = page.cursor;
  } while (cursor !== null);
}

/** Pages of a storage's reference messages. */
async function* storedRefs(storage: Storage): AsyncGenerator<ConvertedRefMessage[]> {
  let cursor: string | null = null;
  do {
    const page = await storage.refMessages.list({ cursor, limit: PAGE });
    yield page.refs;
    cursor = page.cursor;
  } while (cursor !== null);
}

const PAGE = 10_000;

/** writeSessionFile, a signal stopping it (see Interrupts) while it runs. */
async function writeInterruptible(session: Session, peers: AsyncIterable<readonly Peer[]>, out: string, format: FileSessionFormat, options: WriteFileOptions, refs?: AsyncIterable<ConvertedRefMessage[]>): Promise<Awaited<ReturnType<typeof writeSessionFile>>> {
  const what = `the ${format} ${format === 'gramjs-store' ? 'folder' : 'file'} ${shown(out)}`;
  const interrupts = new Interrupts((signal) => `Interrupted (${signal}) while writing ${what}: what was written is removed, nothing is left there.`);
  try {
    return await writeSessionFile(session, interrupts.batches(peers), out, format, refs === undefined ? options : { ...options, refMessages: flatten(interrupts.batches(refs)) });
  } finally {
    interrupts.dispose();
  }
}

/**
 * A session file or folder of `format` at `out`, the peers streamed from the source: a
 * storage's `peers.list` pages, or a foreign file's batches. mtcute's file also gets the
 * reference messages (and a foreign mtcute file's own kv entries: its future salts).
 */
async function exportFile(source: string, format: FileSessionFormat, out: string, options: ExportOptions, encryption: EncryptionOptions | undefined, io: Io): Promise<string> {
  const writeOptions: WriteFileOptions = { ...(options.apiId === undefined ? {} : { apiId: options.apiId }) };
  const foreign = await openForeign(source, { format: options.from, name: options.name, bot: options.bot }, io);
  if (foreign !== null) {
    try {
      if (options.bot) checkBotFlag(foreign, 'Export');
      checkPyrogramApiId(format, foreign.session, options);
      const kv = format === 'mtcute-sqlite' && foreign.format === 'mtcute-sqlite' ? { kv: [...foreign.kv] as KeyValueEntry[] } : {};
      const written = await writeInterruptible(foreign.session, foreign.peers(), out, format, { ...writeOptions, ...kv }, format === 'mtcute-sqlite' ? foreign.refMessages() : undefined);
      // The source's own warnings (rows it could not read) come first, then what the format could not hold.
      return reportFile(io, sourceLabel(source, options, foreign.format), foreign.session, out, format, [...foreign.warnings, ...written.warnings], written.peers);
    } finally {
      foreign.close();
    }
  }
  const storage = await openExisting(source, options.name, encryption);
  try {
    const session = await loadStored(storage, source, options.name, 'write as a session file');
    if (options.bot) throw new CliError(EXIT.USAGE, `--bot applies to Telethon session files only: ${shown(source)} is a storage, whose sessions record whether the account is a bot. Export it without --bot.`);
    checkPyrogramApiId(format, session, options);
    const written = await writeInterruptible(session, storedPeers(storage), out, format, writeOptions, format === 'mtcute-sqlite' ? storedRefs(storage) : undefined);
    return reportFile(io, sourceLabel(source, options), session, out, format, written.warnings, written.peers);
  } finally {
    await storage.close();
  }
}

async function* flatten<T>(batches: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const batch of batches) yield* batch;
}

function checkPyrogramApiId(format: SessionFormat, session: Session, options: ExportOptions): void {
  if ((format === 'pyrogram' || format === 'pyrogram-sqlite') && session.apiId === undefined && options.apiId === undefined && session.user !== undefined) {
    // The library's own refusal names its option (`apiId`); on the command line it is --api-id.
    throw new CliError(EXIT.USAGE, `The session records no api_id, which ${format === 'pyrogram' ? 'a Pyrogram string' : 'a Pyrogram session file'} holds: pass --api-id <your app's api_id>.`);
  }
}

/** The login warning, what the format could not hold, and the summary, on stderr. */
function reportFile(io: Io, label: string, session: Session, out: string, format: FileSessionFormat, warnings: readonly string[], peers: number): string {
  // The converter's advice names its API option; on the command line it is --bot.
  reportWarnings(io, warnings.map((line) => line.replace('read the file back with { bot: true }', 'give --bot when importing or exporting the file')));
  const what = format === 'gramjs-store' ? 'folder' : 'file';
  say(io, `warning: ${shown(out)} is a login: anyone holding it can use the account. Keep it secret.`);
  const user = userWords(session);
  say(io, `Exported ${label} as a ${format} ${what} to ${shown(out)}: home DC ${session.homeDcId}, ${user}, ${counted(peers, 'peer')}` + (warnings.length > 0 ? ` (${counted(warnings.length, 'warning')} above: what the source or the format left out).` : '.'));
  return out;
}
