/**
 * Opening what a command names: a storage (path or URL, by core's openStorage rules)
 * or, for reading commands, a foreign session (a Telethon/Pyrogram/mtcute file, a
 * GramJS folder or a session string).
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { detectSessionFile, detectStringFormats, parseSession, type ConvertedSession, type SessionFormat } from '@mtstore/convert';
import { openStorage, redactUrl, type EncryptionOptions, type Storage } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';

const URL_SCHEME = /^([a-z][a-z0-9+.-]+):/i;

export function isUrl(input: string): boolean {
  return URL_SCHEME.test(input);
}

/** A target or source as it may be printed: passwords masked, paths as given. */
export function shown(input: string): string {
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

/** The path openStorage would use for a plain path (Telethon's `.session` rule). */
function sqlitePath(input: string): string {
  return extname(input) === '' ? `${input}.session` : input;
}

/**
 * Opens an existing storage for reading. A plain path that does not exist is refused
 * here, because openStorage would create an empty database there.
 */
export async function openExisting(input: string, name: string | undefined): Promise<Storage> {
  if (!isUrl(input) && !existsSync(sqlitePath(input))) {
    throw new CliError(EXIT.NOT_FOUND, `No such storage file: ${sqlitePath(input)}. Give an existing .session file or a database URL.`);
  }
  if (/^(sqlite|file):/i.test(input)) {
    const path = new URL(input).pathname;
    if (path !== '' && !existsSync(decodeURIComponent(path))) throw new CliError(EXIT.NOT_FOUND, `No such storage file: ${decodeURIComponent(path)}.`);
  }
  return openStorage(input, name === undefined ? {} : { name });
}

export async function openTarget(input: string, name: string | undefined, encryption?: EncryptionOptions): Promise<Storage> {
  return openStorage(input, { ...(name === undefined ? {} : { name }), ...(encryption === undefined ? {} : { encryption }) });
}

/** A foreign session when the input is one (file written by another library, folder, string), else null. */
export async function readForeign(input: string, format?: SessionFormat): Promise<ConvertedSession | null> {
  if (format !== undefined) return parseSession(input, { format });
  if (existsSync(input) || (extname(input) === '' && existsSync(`${input}.session`))) {
    const path = existsSync(input) ? input : `${input}.session`;
    return (await detectSessionFile(path)) === null ? null : parseSession(path);
  }
  if (!isUrl(input) && detectStringFormats(input).length > 0) return parseSession(input);
  return null;
}
