/**
 * Every failure of @mtstore/convert is a ConvertError with a stable `code`. Messages
 * are one sentence naming the format and the field; they never contain key bytes or
 * the session string itself (a session string *is* a login).
 */
import { assertKnownOptions, maySessionString } from '@mtstore/core';

export type ConvertErrorCode =
  /** The input matches no known format (or not the one asked for). */
  | 'MTSTORE_CONVERT_UNKNOWN_FORMAT'
  /** The input decodes as more than one format: pass `format` to pick one. */
  | 'MTSTORE_CONVERT_AMBIGUOUS'
  /** The input is of a known format but its contents are invalid. */
  | 'MTSTORE_CONVERT_INVALID'
  /** The session cannot be written in the requested format (a field it must hold is missing). */
  | 'MTSTORE_CONVERT_UNSUPPORTED'
  /** A file or folder could not be read. */
  | 'MTSTORE_CONVERT_IO'
  /** Reading SQLite files needs better-sqlite3, which is not installed or failed to load. */
  | 'MTSTORE_CONVERT_SQLITE_UNAVAILABLE';

export class ConvertError extends Error {
  readonly code: ConvertErrorCode;
  /** For MTSTORE_CONVERT_AMBIGUOUS: the formats the input decodes as. */
  readonly candidates: readonly string[];

  constructor(code: ConvertErrorCode, message: string, options?: { cause?: unknown; candidates?: readonly string[] | undefined }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ConvertError';
    this.code = code;
    this.candidates = options?.candidates ?? [];
  }
}

/** True for a ConvertError, also one from another copy of this package. */
export function isConvertError(error: unknown): error is ConvertError {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('MTSTORE_CONVERT_');
}

export function invalid(format: string, what: string, cause?: unknown): ConvertError {
  return new ConvertError('MTSTORE_CONVERT_INVALID', `Not a valid ${sessionNoun(format)}: ${what}.`, cause === undefined ? undefined : { cause });
}

export function unsupported(format: string, what: string): ConvertError {
  return new ConvertError('MTSTORE_CONVERT_UNSUPPORTED', `Cannot write a ${sessionNoun(format)}: ${what}.`);
}

/**
 * "Telethon string session", but "Pyrogram session file" as it is: a format named by its
 * file or folder already says session ("a Pyrogram session file session" read as a typo).
 */
function sessionNoun(format: string): string {
  return /\b(session file|StoreSession)$/.test(format) ? format : `${format} session`;
}

/**
 * A path as messages show it: quoted, unless it may be a session string given where a
 * path belongs (long base64 text, which no file name usually is) — that is a login,
 * shown by its length only.
 */
export function shownPath(path: string): string {
  // `.session` too: Telethon's rule appends it to a name without an extension.
  return maySessionText(path) ? `the ${path.length}-character text (not shown: a session string, not a path?)` : `"${path}"`;
}

/**
 * Whether text may be a session string, also one copied with line breaks or spaces inside
 * (a terminal's wrapped line): core's maySessionString of it as given, or with every run
 * of white space removed. Such text printed as a path was a login in an error message.
 */
export function maySessionText(text: string): boolean {
  return maySessionString(text) || (/\s/.test(text) && maySessionString(text.replace(/\s+/g, ''))) || holdsEncodedRun(text.replace(/\s+/g, ''));
}

/**
 * Whether text holds a session string among other characters — in quotes or with a comma
 * copied from JSON or Python, after "SESSION=" — as a run of 100+ base64 characters. A
 * path's run of those characters (letters, digits, "_", "-", "/") has a "/" every few
 * characters; a GramJS string, whose alphabet has "/", about one in 64.
 */
export function holdsEncodedRun(text: string): boolean {
  for (const run of text.match(/[A-Za-z0-9+/=_-]{100,}/g) ?? []) {
    if ((run.match(/\//g)?.length ?? 0) <= run.length / 16) return true;
  }
  return false;
}

/**
 * Text as the string readers take it: trimmed, and a string copied with line breaks or
 * spaces inside (a wrapped terminal line, a string split in a chat message) joined again.
 * Only text that is base64 once joined is joined: white space is never part of a session
 * string, and the Python libraries' base64 decoding skips it too.
 */
export function joinedSessionText(text: string): string {
  // In quotes, as copied from JSON, a .env value or Python's repr (as a file's string is read).
  const trimmed = /^(["'])([^"']*)\1$/.exec(text.trim())?.[2]?.trim() ?? text.trim();
  if (!/\s/.test(trimmed)) return trimmed;
  const joined = trimmed.replace(/\s+/g, '');
  return /^[A-Za-z0-9+/=_-]+$/.test(joined) ? joined : trimmed;
}

/** The string parsers' first check: anything but a string is no session of `format`. */
export function assertText(text: unknown, format: string): asserts text is string {
  if (typeof text !== 'string') throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `A ${format} session is a string, got ${text === null ? 'null' : typeof text}.`);
}

/**
 * A convert function's options: left out, or an object of known names none of which is
 * null (core's rule, contract §8), else MTSTORE_CONVERT_INVALID naming the option (and
 * the nearest known name): every failure of this package is a ConvertError. What each
 * option holds is checked by its reader.
 */
export function checkOptions(options: unknown, known: readonly string[], where: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new ConvertError('MTSTORE_CONVERT_INVALID', `${where}: options must be an object, got ${options === null ? 'null' : typeof options}.`);
  try {
    assertKnownOptions(options, known, where);
  } catch (error) {
    throw new ConvertError('MTSTORE_CONVERT_INVALID', (error as Error).message, { cause: error });
  }
}

