/**
 * Opening what a command names: a storage (path or URL, by core's openStorage rules)
 * or, for reading commands, a foreign session (a Telethon/Pyrogram/mtcute file, a
 * GramJS folder or a session string).
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { detectSessionFile, detectStringFormats, openSession, sessionStringInFile, type ConvertedSession, type SessionFormat, type SessionStream } from '@mtstore/convert';
import { isStorageError, maySessionString, openStorage, redactUrl, type EncryptionOptions, type Session, type Storage } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';
import type { Io } from './io.js';

const URL_SCHEME = /^([a-z][a-z0-9+.-]+):/i;

export function isUrl(input: string): boolean {
  return URL_SCHEME.test(input);
}

/**
 * Whether text may be a session string (a login): core's maySessionString of it as given,
 * or with its white space removed — a string copied with a line break or a space inside
 * (a wrapped terminal line) is one too, and so is text holding one (below). It was printed whole as a path ("No such storage
 * file: <the string>.session"), and taken as an import target's file name.
 */
export function mayBeLogin(text: string): boolean {
  return maySessionString(text) || (/\s/.test(text) && maySessionString(text.replace(/\s+/g, ''))) || holdsEncodedRun(text.replace(/\s+/g, ''));
}

/**
 * A session string among other characters (in quotes, with a comma copied from JSON or
 * Python, after "SESSION="): a run of 100+ base64 characters. A path's run of letters,
 * digits, "_", "-" and "/" has a "/" every few characters; a GramJS string about one in 64.
 */
function holdsEncodedRun(text: string): boolean {
  for (const run of text.match(/[A-Za-z0-9+/=_-]{100,}/g) ?? []) {
    if ((run.match(/\//g)?.length ?? 0) <= run.length / 16) return true;
  }
  return false;
}

/**
 * A target or source as it may be printed: passwords masked, paths as given — but not
 * text that may be a session string (a login) given where a path or URL belongs.
 */
export function shown(input: string): string {
  if (mayBeLogin(input)) return `the ${input.length}-character text given (not shown: a session string?)`;
  return isUrl(input) ? redactUrl(input) : input;
}

/** The session name openStorage uses: --name, else the URL's ?session=, else "default". */
export function sessionNameOf(input: string, name: string | undefined): string {
  if (name !== undefined) return name;
  if (!isUrl(input)) return 'default';
  try {
    return new URL(input).searchParams.get('session') ?? 'default';
  } catch {
    return 'default';
  }
}

/** `?session=` of a URL, else undefined (a plain path names no session). */
export function urlSession(input: string): string | undefined {
  if (!isUrl(input)) return undefined;
  try {
    return new URL(input).searchParams.get('session') ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * The sessions a command over a store is asked for: the `--name`s given, else the
 * URL's `?session=` (one), else undefined (every session of the store).
 */
export function namesWanted(names: readonly string[] | undefined, input: string): string[] | undefined {
  if (names !== undefined && names.length > 0) return [...names];
  const picked = urlSession(input);
  return picked === undefined ? undefined : [picked];
}

/** The path openStorage would use for a plain path (Telethon's `.session` rule). */
export function sqlitePath(input: string): string {
  return extname(input) === '' ? `${input}.session` : input;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * False when a file has content that cannot be an SQLite database: it starts with
 * something else than SQLite's header. An empty file (a database never written) or one
 * that cannot be read is left to the adapter to judge.
 */
function mayBeSqlite(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    const read = readSync(fd, head, 0, head.length, 0);
    return read === 0 || (read === head.length && head.equals(SQLITE_MAGIC));
  } catch {
    return true;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Opens an existing storage, with `create=false` whatever the URL (SQLite file,
 * postgres://, redis://, mongodb://, …): a file, schema, prefix or database that holds
 * no mtstore store (missing, empty, another program's) is NotFoundError (exit 6) and is
 * left as it was — openStorage alone would create the file or add mtstore's tables,
 * keys or collections to it. A `create` the URL already gives is kept. Networked
 * adapters connect lazily: the refusal comes with the first call on the storage.
 */
export async function openExisting(input: string, name: string | undefined, encryption?: EncryptionOptions): Promise<Storage> {
  const options = { ...(name === undefined ? {} : { name }), ...(encryption === undefined ? {} : { encryption }) };
  let url = input;
  if (!isUrl(input)) {
    const path = sqlitePath(input);
    if (!existsSync(path)) {
      // Text that may be a session string is shown by its own length, not with ".session" added.
      if (mayBeLogin(input)) throw new CliError(EXIT.NOT_FOUND, `No such storage file: ${shown(input)}. Give an existing .session file or a database URL (mtstore import reads session strings).`);
      throw new CliError(EXIT.NOT_FOUND, `No such storage file: ${shown(path)}. Give an existing .session file or a database URL.`);
    }
    if (!mayBeSqlite(path)) {
      // Another program's file that is not even SQLite (a text file, a JSON session): no
      // store there (exit 6), as for another program's database — not a backend failure.
      throw new CliError(EXIT.NOT_FOUND, `${shown(path)} holds no @mtstore/sqlite database: it is not an SQLite file. Give an mtstore storage file or a database URL (mtstore import reads session strings and other libraries' files).`);
    }
    url = `${pathToFileURL(resolve(path)).href}?create=false`;
  } else {
    let parsed: URL;
    try {
      parsed = new URL(input);
    } catch {
      return openStorage(input, options); // its own InvalidArgumentError for a malformed URL
    }
    // Appended to the query as written: re-encoding it (searchParams.set) could change
    // how the driver reads the other parameters.
    if (!parsed.searchParams.has('create')) parsed.search = parsed.search === '' ? '?create=false' : `${parsed.search}&create=false`;
    url = parsed.href;
  }
  return openStorage(url, options);
}

/**
 * The names of the sessions stored at `input` (its listNames(): every name with anything
 * stored), the store opened as openExisting opens it and closed again: no store there is
 * NotFoundError (exit 6), nothing created. `name`: the session the store is opened for
 * (openStorage checks it), or the URL's.
 */
export async function storedNames(input: string, name: string | undefined): Promise<string[]> {
  const storage = await openExisting(input, name);
  try {
    return await storage.listNames();
  } finally {
    await storage.close();
  }
}

/**
 * Refuses a target that may be a session string (a login) before anything is read or
 * created: given as a path it would become a file name, and every error naming that
 * path would print the login (a GramJS string has "/" in it, so it even looks like one).
 */
export function checkTarget(input: string): void {
  if (mayBeLogin(input)) {
    throw new CliError(EXIT.USAGE, `The target is ${shown(input)}, not a storage path or URL. Give the session as the first argument and a path or URL as the target.`);
  }
  // `sessions/` would become the hidden file `sessions/.session.session` (core and the
  // adapter each add Telethon's extension to a name that is only a dot-name), or fail as
  // an unreachable backend when the folder is missing.
  if (!isUrl(input) && /[\\/]$/.test(input)) {
    throw new CliError(EXIT.USAGE, `The target ${input} is a folder: give a session file in it, e.g. ${input}bot.session.`);
  }
}

export async function openTarget(input: string, name: string | undefined, encryption?: EncryptionOptions): Promise<Storage> {
  checkTarget(input);
  return openStorage(input, { ...(name === undefined ? {} : { name }), ...(encryption === undefined ? {} : { encryption }) });
}

/**
 * `-` for the session: read from standard input (a string, or a session file's bytes),
 * so a login never stands on the command line — in the process list every local user
 * reads, and in the shell history.
 */
export const STDIN = '-';

export async function readStdin(io: Io): Promise<Uint8Array> {
  const stdin = io.stdin;
  if (stdin === undefined || stdin.isTTY === true) {
    // Nothing piped in: waiting on a terminal would look like a hang.
    throw new CliError(EXIT.USAGE, '"-" reads the session from standard input: pipe it in (mtstore import - <target> < session.txt), or give the string or file as the argument.');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  const bytes = Buffer.concat(chunks);
  if (bytes.toString('latin1').trim() === '') {
    // `echo "$UNSET" | mtstore import - …` pipes a line end only: nothing was piped in, a
    // usage error as with no pipe at all (it read as "the input (0 characters) is not a … session string").
    throw new CliError(EXIT.USAGE, `"-" read nothing from standard input (${bytes.length === 0 ? 'it was empty' : 'only blank space'}): pipe the session string or file in (mtstore import - <target> < session.txt), or give it as the argument.`);
  }
  return new Uint8Array(bytes);
}

/** How the --name refusal names a foreign session file by its format. */
const ONE_SESSION_FILE: Partial<Record<SessionFormat, string>> = {
  'telethon-sqlite': 'a Telethon session file',
  'pyrogram-sqlite': 'a Pyrogram session file',
  'mtcute-sqlite': 'an mtcute session file',
};

/**
 * --name picks one session of several: in a storage, or in a GramJS folder (StoreSession
 * keys are `<name>:…`, and one folder can hold several). A session string, or a Telethon,
 * Pyrogram or mtcute file, holds one session under no name: --name was silently ignored,
 * and `inspect ./telethon.session --name alice` showed the file's one session as if alice
 * had been picked. A usage error instead, before the session is read.
 */
function refuseName(name: string | undefined, what: string): void {
  if (name === undefined) return;
  throw new CliError(
    EXIT.USAGE,
    `--name picks a session in an mtstore storage or a GramJS session folder, but ${what} holds one session and no session names: run it without --name (mtstore import <session> <target> --name <name> stores it under a name).`,
  );
}

/**
 * A foreign session when the input is one (file written by another library, folder,
 * string), open as a stream (the caller closes it), else null. `format` reads it as that
 * format (an ambiguous string); `name` picks the session of a GramJS folder that holds
 * several, and is refused (exit 2, see refuseName) for any other foreign session. A
 * file's peers are read only as the caller takes them: export never reads them.
 */
export async function openForeign(
  input: string,
  options: { format?: SessionFormat | undefined; name?: string | undefined; bot?: boolean | undefined } = {},
  io?: Io,
): Promise<SessionStream | null> {
  const parse = { ...(options.format === undefined ? {} : { format: options.format }), ...(options.name === undefined ? {} : { name: options.name }), ...(options.bot ? { bot: true } : {}) };
  // What is piped in is always a foreign session, never a storage, and never a folder:
  // refused before standard input is read.
  if (input === STDIN && io !== undefined) {
    refuseName(options.name, 'what is piped into "-" (a session string or a session file)');
    return openSession(await readStdin(io), parse);
  }
  if (options.format !== undefined) {
    if (options.format !== 'gramjs-store') refuseName(options.name, `a ${options.format} session (--from ${options.format})`);
    return openSession(input, parse);
  }
  if (existsSync(input) || (extname(input) === '' && existsSync(`${input}.session`))) {
    const path = existsSync(input) ? input : `${input}.session`;
    // A session string saved to a file reads as that string (openSession does the same).
    if (sessionStringInFile(path) !== null) {
      refuseName(options.name, `${shown(path)}, a file holding a session string,`);
      return openSession(path, parse);
    }
    const fileFormat = await detectSessionFile(path);
    if (fileFormat !== null) {
      const one = ONE_SESSION_FILE[fileFormat];
      if (one !== undefined) refuseName(options.name, `${shown(path)}, ${one},`);
      return openSession(path, parse);
    }
    // A folder that is no GramJS folder and has no storage file of its name beside it (a
    // Telethon workdir): the converter says what it is and which file to give. It went on
    // as a storage path: "No such storage file: <folder>.session".
    if (statSync(path).isDirectory() && !existsSync(sqlitePath(path))) return openSession(path, parse);
    return null;
  }
  if (!isUrl(input) && detectStringFormats(input).length > 0) {
    refuseName(options.name, 'a session string');
    return openSession(input, parse);
  }
  // Text that may be a session string but decodes as none (cut short, a character lost in
  // the copy) and names no file: convert's own refusal (exit 3, "check that the whole
  // string was copied"), as import gives. It went on as a storage path: exit 6 "No such
  // storage file: the 358-character text given" (its length with ".session" added).
  if (!isUrl(input) && mayBeLogin(input)) {
    refuseName(options.name, 'a session string');
    return openSession(input, parse);
  }
  return null;
}

/**
 * The logged-in user as the summaries name it. No user stored is not always "not logged
 * in": Telethon and GramJS strings and folders never record the account, and a working
 * login read from one was reported "not logged in". With an auth key for the home DC the
 * user is "not recorded"; without one the session is no login.
 */
export function userWords(session: Session): string {
  if (session.user !== undefined) return `user ${session.user.id}${session.user.bot ? ' (bot)' : ''}`;
  return noUser(session) === 'not recorded' ? 'user not recorded' : 'not logged in';
}

/** A session without a user: "not recorded" with an auth key for its home DC, else "not logged in". */
export function noUser(session: Session): 'not recorded' | 'not logged in' {
  return session.dcs.some((dc) => dc.id === session.homeDcId && !dc.mediaOnly && dc.authKey !== undefined) ? 'not recorded' : 'not logged in';
}

/** What each format records about the account, for refusing a --bot it cannot apply to. */
const BOT_RECORDED: Partial<Record<SessionFormat, string>> = {
  pyrogram: 'a Pyrogram string records whether the account is a bot (is_bot)',
  'pyrogram-sqlite': 'a Pyrogram session file records whether the account is a bot (sessions.is_bot)',
  mtcute: 'an mtcute string records whether the account is a bot',
  'mtcute-sqlite': 'an mtcute session file records whether the account is a bot (current_user)',
  telethon: 'a Telethon string records no account at all (no user id), so there is no user to mark',
  gramjs: 'a GramJS string records no account at all (no user id), so there is no user to mark',
  'gramjs-store': 'a GramJS session folder records no account at all (no user id), so there is no user to mark',
};

/**
 * --bot applies to Telethon files only (they give the self user's id, never whether it is
 * a bot). Anywhere else it would be ignored, or contradict what the input records: a
 * usage error naming the format, before anything is written.
 */
export function checkBotFlag(converted: Pick<ConvertedSession, 'format' | 'session'>, command: 'Import' | 'Export'): void {
  const why = BOT_RECORDED[converted.format];
  if (why !== undefined) {
    throw new CliError(EXIT.USAGE, `--bot applies to Telethon session files only: ${why}. ${command} it without --bot.`);
  }
  if (converted.session.user === undefined) {
    throw new CliError(EXIT.USAGE, `--bot: this Telethon session file has no logged-in user (no entities row with id 0), so there is no user to mark as a bot. ${command} it without --bot.`);
  }
}

/**
 * A storage read that met a value sealed by rotate-keys with a key the --key flags do not
 * give: a usage error naming the session and the --key to pass (the library's own hint
 * names its API option, `encryption: { keys }`). Anything else is returned as it is.
 * `also`: what else the command needs said, after the key.
 */
export function missingKeyError(error: unknown, name: string, where: string, also = ''): unknown {
  if (!isStorageError(error) || error.code !== 'MTSTORE_ENCRYPTION' || (error as { reason?: unknown }).reason !== 'missing-key') return error;
  const keyId = (error as { keyId?: unknown }).keyId;
  const id = typeof keyId === 'string' ? keyId : '<id>';
  return new CliError(EXIT.USAGE, `The session "${name}" in ${shown(where)} is sealed with encryption key "${id}" (rotate-keys): pass --key ${id}=<ENV_VAR>, the environment variable holding that key${also}.`);
}

/** Refuses (exit 6, naming the sessions there) `wanted` names that `held` (a store's listNames()) lacks: a misspelt --name would otherwise do nothing and report it done. */
export function checkNamesHeld(wanted: readonly string[], held: readonly string[], where: string): void {
  const unknown = wanted.filter((name) => !held.includes(name));
  if (unknown.length > 0) throw new CliError(EXIT.NOT_FOUND, `No session named ${unknown.map((n) => `"${n}"`).join(', ')} in ${shown(where)}; it holds: ${held.join(', ') || 'none'}.`);
}
