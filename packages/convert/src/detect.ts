/**
 * One entry point for any input: a session string, a path to a session file or
 * GramJS folder, or a file's bytes. Strings are recognised by content — each format's
 * decoder must accept the whole input — never by length alone; when more than one
 * accepts it, the caller must choose with `format`.
 */
import { existsSync, readFileSync, statSync, type Stats } from 'node:fs';
import { extname } from 'node:path';
import { parseIpv6 } from './bytes.js';
import { attempt, type Attempt } from './common.js';
import { assertText, checkOptions, ConvertError, isConvertError, joinedSessionText, shownPath } from './errors.js';
import { parseGramjsString } from './gramjs.js';
import { gramjsStoreNames, readGramjsStore } from './gramjs-store.js';
import { parseMtcuteString } from './mtcute.js';
import { openMtcuteDatabase } from './mtcute-sqlite.js';
import { parsePyrogramString } from './pyrogram.js';
import { openPyrogramDatabase } from './pyrogram-sqlite.js';
import { FOREIGN_SQLITE_SIGNATURES, isSqliteBytes, isSqliteLocked, lockedError, matchSqliteSignature, openSqlite, readSchema, type SqliteDatabase, type SqliteSchema } from './sqlite.js';
import { parseTelethonString } from './telethon.js';
import { readStream, streamConverted, toStream, type SessionSource, type SessionStream } from './stream.js';
import { openTelethonDatabase } from './telethon-sqlite.js';
import { FILE_FORMATS, STRING_FORMATS, type ConvertedSession, type FileSessionFormat, type ParseOptions, type SessionFormat, type StringSessionFormat } from './types.js';

const STRING_READERS: Record<StringSessionFormat, (text: string) => ConvertedSession> = {
  telethon: parseTelethonString,
  gramjs: parseGramjsString,
  pyrogram: parsePyrogramString,
  mtcute: parseMtcuteString,
};

/**
 * The options of a parse or open call, before anything is read: an object (or left out)
 * of known names (a misspelt `{ fromat }` read as no format), none null (contract §8's
 * rule: `{ bot: null }` read as false), `bot` a boolean and `name` a string (`bot: 'no'`
 * marked the account a bot), `format` a known format.
 */
function checkParseOptions(options: ParseOptions): void {
  checkOptions(options, PARSE_OPTIONS, 'ParseOptions');
  if (options.bot !== undefined && typeof options.bot !== 'boolean') throw new ConvertError('MTSTORE_CONVERT_INVALID', `ParseOptions: bot must be a boolean, got ${typeof options.bot}.`);
  if (options.name !== undefined && typeof options.name !== 'string') throw new ConvertError('MTSTORE_CONVERT_INVALID', `ParseOptions: name must be a string, got ${typeof options.name}.`);
  const format: unknown = options.format;
  if (format !== undefined && !(STRING_FORMATS as readonly unknown[]).includes(format) && !(FILE_FORMATS as readonly unknown[]).includes(format)) {
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `Unknown format option: use one of ${[...STRING_FORMATS, ...FILE_FORMATS].join(', ')}.`);
  }
}

const PARSE_OPTIONS = ['format', 'bot', 'name'] as const satisfies readonly (keyof ParseOptions)[];

/** Every string format the text decodes as (none, one, or several when ambiguous). */
export function detectStringFormats(text: string): StringSessionFormat[] {
  if (typeof text !== 'string') return [];
  const trimmed = joinedSessionText(text);
  return STRING_FORMATS.filter((format) => attempt(() => STRING_READERS[format](trimmed)).ok);
}

/** Parses a session string of any supported format. */
export function parseSessionString(text: string, options: ParseOptions = {}): ConvertedSession {
  checkParseOptions(options);
  assertText(text, 'string');
  const trimmed = joinedSessionText(text);
  if (options.format !== undefined) {
    const reader = STRING_READERS[options.format as StringSessionFormat];
    if (reader === undefined) throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `The format "${options.format}" is a file format, but a string was given.`);
    const result = attempt(() => reader(trimmed));
    if (!result.ok) throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `The string is not a ${options.format} session: ${stripPrefix(result.reason)}`);
    return result.value;
  }
  const results = STRING_FORMATS.map((format) => [format, attempt(() => STRING_READERS[format](trimmed))] as const);
  let ok = results.filter((r): r is readonly [StringSessionFormat, Extract<Attempt<ConvertedSession>, { ok: true }>] => r[1].ok);
  if (ok.length > 1) {
    // Several layouts accept the bytes: keep the readings whose addresses a server can
    // have. A GramJS string for a 14-character IPv4 is also a Telethon IPv6 string, but
    // that IPv6 falls in ::/8, which no server has.
    const plausible = ok.filter(([, r]) => isPlausible(r.value));
    if (plausible.length >= 1) ok = plausible;
  }
  if (ok.length === 1) return ok[0]![1].value;
  if (ok.length > 1) {
    const names = ok.map(([f]) => f);
    throw new ConvertError(
      'MTSTORE_CONVERT_AMBIGUOUS',
      `The string is a valid ${names.join(' and a valid ')} session with different contents: pass format: '${names[0]}' (or ${names
        .slice(1)
        .map((n) => `'${n}'`)
        .join(', ')}) to choose.`,
      { candidates: names },
    );
  }
  throw new ConvertError(
    'MTSTORE_CONVERT_UNKNOWN_FORMAT',
    `The input (${trimmed.length} characters) is not a Telethon, GramJS, Pyrogram or mtcute session string, nor an existing file or folder.`,
  );
}

/**
 * False when a decoded DC address is one no server has: IPv4 in 0.0.0.0/8, IPv6 in
 * ::/8, or a host name without a dot. Used only to choose between readings.
 */
function isPlausible(result: ConvertedSession): boolean {
  return result.session.dcs.every((dc) => {
    if (dc.ipv4 !== undefined && dc.ipv4.startsWith('0.')) return false;
    if (dc.ipv6 !== undefined && (parseIpv6(dc.ipv6)?.[0] ?? 0) === 0) return false;
    if (dc.host !== undefined && !dc.host.includes('.')) return false;
    return true;
  });
}

function stripPrefix(reason: string): string {
  return reason.replace(/^Not a valid [^:]+: /, '');
}

/** Which library wrote a session file or folder, or null when it is none of them. */
export async function detectSessionFile(path: string): Promise<FileSessionFormat | null> {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return null;
  }
  if (stat.isDirectory()) {
    return (await gramjsStoreNames(path)).length > 0 ? 'gramjs-store' : null;
  }
  const db = await openSqlite(path).catch((error: unknown) => {
    // Locked is not "no session file": answering null would send a Telethon file that its
    // client is writing to be opened as something else (a storage), with a wrong error.
    if (isSqliteLocked(error)) throw error;
    return null;
  });
  if (db === null) return null;
  try {
    return matchSqliteSignature(readSchema(db))?.format ?? null;
  } catch (error) {
    // Opened as SQLite but its schema does not read: a damaged file, of whichever program.
    throw asConvertError(error, shownPath(path));
  } finally {
    db.close();
  }
}

/** Parses a session file (path or bytes) or a GramJS StoreSession folder. */
export async function parseSessionFile(source: string | Uint8Array, options: ParseOptions = {}): Promise<ConvertedSession> {
  return readStream(await openSessionFile(source, options));
}

/**
 * Opens a session file (path or bytes) or a GramJS StoreSession folder as a stream: the
 * session at once, the peers in batches as they are read (see SessionStream). The same
 * reading as parseSessionFile, whose result is this stream read to the end. A GramJS
 * folder is read whole first (one file per entity: it holds few).
 */
export async function openSessionFile(source: string | Uint8Array, options: ParseOptions = {}): Promise<SessionStream> {
  const where = typeof source === 'string' ? shownPath(source) : 'The bytes';
  try {
    return await openFile(source, options, where);
  } catch (error) {
    throw asConvertError(error, where);
  }
}

async function openFile(source: string | Uint8Array, options: ParseOptions, where: string): Promise<SessionStream> {
  checkParseOptions(options);
  if (typeof source !== 'string' && !(source instanceof Uint8Array)) {
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', 'Expected a path or the bytes of a session file.');
  }
  if (typeof source === 'string' && statOf(source)?.isDirectory()) {
    if (options.format !== undefined && options.format !== 'gramjs-store') {
      throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `${shownPath(source)} is a folder, which only the gramjs-store format is.`);
    }
    return streamConverted(await readGramjsStore(source, options.name));
  }
  if (typeof source === 'string' && statOf(source)?.isFile() === true && statOf(source)?.size === 0) {
    // SQLite opens a 0-byte file as an empty database, which read as "an SQLite file but
    // not a … session (tables: none)": a file that was never written (a failed copy, an
    // empty variable saved to it) is no SQLite file and no session at all.
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `${where} is empty (0 bytes): it holds no session file and no session string.`);
  }
  if (typeof source !== 'string' && !isSqliteBytes(source)) {
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', 'The bytes are not an SQLite session file.');
  }
  const db = await openSqlite(source);
  try {
    // One read transaction for the session and every batch after it: what is read is one
    // state of the file. A client writing a rollback-journal file meanwhile waits (it is
    // read-locked until close); a WAL file's client writes on (a copy, or its own -wal).
    db.exec('begin');
    const reader = sqliteReader(db, options, where);
    return toStream(reader, (error) => asConvertError(error, where), () => db.close());
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The reader of an open SQLite session file, by its tables. */
function sqliteReader(db: SqliteDatabase, options: ParseOptions, where: string): SessionSource {
  const schema = readSchema(db);
  const signature = matchSqliteSignature(schema);
  if (signature === null) {
    const family = pyrogramFamilyVersion(db, schema);
    if (family !== null) {
      // A Pyrogram-family file whose tables lack what every known schema has: name what was
      // found, so the user knows which library (and version) wrote what cannot be read.
      throw new ConvertError(
        'MTSTORE_CONVERT_INVALID',
        `${where} is a Pyrogram-family session file of schema version ${family}, whose tables mtstore cannot read (it reads Pyrogram, Hydrogram, Pyrofork, Electrogram and Kurigram schemas 1-7: sessions(${PYROGRAM_COLUMNS.sessions}), peers(${PYROGRAM_COLUMNS.peers})); found sessions(${(schema.sessions ?? []).join(', ')}), peers(${(schema.peers ?? []).join(', ')}).`,
      );
    }
    const tables = Object.keys(schema).sort().join(', ') || 'none';
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `${where} is an SQLite file but not a Telethon, Pyrogram or mtcute session (tables: ${tables}).`);
  }
  if (options.format !== undefined && options.format !== signature.format) {
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `${where} is a ${signature.format} file, not ${options.format}.`);
  }
  switch (signature.format) {
    case 'telethon-sqlite':
      return openTelethonDatabase(db, schema, options);
    case 'pyrogram-sqlite':
      return openPyrogramDatabase(db, schema);
    case 'mtcute-sqlite':
      return openMtcuteDatabase(db, schema);
  }
}

const PYROGRAM_COLUMNS = (() => {
  const tables = FOREIGN_SQLITE_SIGNATURES.find((s) => s.format === 'pyrogram-sqlite')!.tables;
  return { sessions: tables.sessions!.join(', '), peers: tables.peers!.join(', ') };
})();

/** The `version.number` of a file shaped like Pyrogram's (version(number) and sessions tables), else null. */
function pyrogramFamilyVersion(db: SqliteDatabase, schema: SqliteSchema): string | null {
  if (!schema.version?.includes('number') || schema.sessions === undefined) return null;
  try {
    const value = db.prepare('select number from version').pluck().get();
    return value === undefined || value === null ? 'unknown' : String(value);
  } catch {
    return 'unknown';
  }
}

/**
 * Any input: a Buffer / Uint8Array (an SQLite file's bytes, or a string's UTF-8), a
 * path to an existing file or folder (Telethon's convention: `name` also finds
 * `name.session`), or a session string.
 */
export async function parseSession(input: string | Uint8Array, options: ParseOptions = {}): Promise<ConvertedSession> {
  return readStream(await openSession(input, options));
}

/**
 * Any input, as parseSession takes it, as a stream (see SessionStream): a session file's
 * peers are read in batches as the caller takes them; a string (and a GramJS folder) is
 * read whole first.
 */
export async function openSession(input: string | Uint8Array, options: ParseOptions = {}): Promise<SessionStream> {
  checkParseOptions(options);
  if (input instanceof Uint8Array) {
    if (isSqliteBytes(input)) return openSessionFile(input, options);
    return streamConverted(parseSessionString(Buffer.from(input).toString('utf8'), options));
  }
  if (typeof input !== 'string' || input.trim() === '') {
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', 'Expected a session string, a path or the bytes of a session file.');
  }
  const fileFormat = options.format !== undefined && (FILE_FORMATS as readonly string[]).includes(options.format);
  const stringFormat = options.format !== undefined && !fileFormat;
  const path = existsSync(input) ? input : extname(input) === '' && existsSync(`${input}.session`) ? `${input}.session` : null;
  if (path !== null) {
    // A session string saved to a file (what users do with one): read as that string.
    const text = fileFormat ? null : sessionStringInFile(path);
    if (text !== null) {
      try {
        return streamConverted(parseSessionString(text, options));
      } catch (error) {
        if (!isConvertError(error)) throw error;
        throw new ConvertError(error.code, `${shownPath(path)} holds text but no session: ${error.message.replace(/, nor an existing file or folder\.$/, '.')}`, { candidates: error.candidates });
      }
    }
    if (options.format === undefined && isTextFile(path)) {
      // Notes, a whole .env file: no session, and no SQLite file either ("file is not a
      // database" would send the user to copy a damaged session again). Never shown.
      throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `${shownPath(path)} holds text but no session string (a session string is one line of 100 or more base64 characters, as the library exports it).`);
    }
    // A string session can never be a path of an existing file, but GramJS's alphabet has "/".
    if (!stringFormat) return openSessionFile(path, options);
    // A string format named for a file that holds no string (a Telethon .session given with
    // format 'telethon'): the path read as a string said "No such file or folder" of a file
    // that is there. Unless the path itself decodes as that format, name the file.
    try {
      return streamConverted(parseSessionString(input, options));
    } catch (error) {
      if (!isConvertError(error)) throw error;
    }
    throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `${shownPath(path)} is a ${statOf(path)?.isDirectory() === true ? 'folder' : 'file'}, not a ${options.format} session string: leave the format out to read it as what it is${isTextFile(path) ? '' : ', or name its file format'}.`);
  }
  if (fileFormat) throw new ConvertError('MTSTORE_CONVERT_IO', `No such file or folder: ${shownPath(input)}.`);
  if (/\.session$/.test(input) || (input.length < 200 && /[\\/]/.test(input))) {
    throw new ConvertError('MTSTORE_CONVERT_IO', `No such file or folder: ${shownPath(input)} (and it is not a session string).`);
  }
  return streamConverted(parseSessionString(input, options));
}

/** The longest file read as holding a session string (the longest string is ~500 characters). */
const STRING_FILE_MAX = 8 * 1024;

/**
 * The text of a small regular file that is not SQLite and holds one base64-looking token
 * (a session string saved to a file, with a BOM, line end or a pair of quotes around it), else null.
 */
export function sessionStringInFile(path: string): string | null {
  const stat = statOf(path);
  if (stat === undefined || !stat.isFile() || stat.size === 0 || stat.size > STRING_FILE_MAX) return null;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return null;
  }
  if (isSqliteBytes(bytes)) return null;
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '').trim();
  // A string copied with its quotes (from JSON, a .env value, Python's repr) is the same string.
  const unquoted = /^(["'])([^"']*)\1$/.exec(text)?.[2]?.trim() ?? text;
  if (/^[A-Za-z0-9+/=_-]{100,}$/.test(unquoted)) return unquoted;
  // A string saved wrapped over several lines: joined, when that is a session string (a
  // .env file's lines join into base64-looking text too, and are left alone).
  const joined = joinedSessionText(unquoted);
  return joined !== unquoted && joined.length >= 100 && detectStringFormats(joined).length > 0 ? joined : null;
}

/** A small regular file of UTF-8 text without NUL bytes (not SQLite, not another binary file). */
function isTextFile(path: string): boolean {
  const stat = statOf(path);
  if (stat === undefined || !stat.isFile() || stat.size === 0 || stat.size > STRING_FILE_MAX) return false;
  try {
    const bytes = readFileSync(path);
    if (isSqliteBytes(bytes) || bytes.includes(0)) return false;
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** statSync without its errors (ENAMETOOLONG quotes the path, which may be a session string given as one). */
function statOf(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * Anything a reader threw, as a ConvertError: a damaged file surfaces as whatever its
 * decoder or the driver threw (RangeError, SqliteError "malformed", EISDIR from a
 * GramJS folder's entry, a core validation error). Only the first line is kept, and
 * any long run of base64 or hex in it is cut out, and the original is not kept as the
 * cause: a message (or what util.inspect prints) must never carry key bytes.
 */
function asConvertError(error: unknown, where: string): ConvertError {
  if (isConvertError(error)) return error;
  if (isSqliteLocked(error)) return lockedError(where, undefined);
  const raw = error instanceof Error ? error.message : String(error);
  const reason = raw.split('\n')[0]!.trim().replace(/[A-Za-z0-9+/=_-]{32,}/g, '(…)');
  const errno = (error as { code?: unknown } | null)?.code;
  if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) {
    return new ConvertError('MTSTORE_CONVERT_IO', `${where} could not be read (${errno}): ${reason}.`);
  }
  return new ConvertError('MTSTORE_CONVERT_INVALID', `${where} is damaged or not a valid session file: ${reason}.`);
}
