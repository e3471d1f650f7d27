/** `mtstore export <source> --format …`: a stored (or foreign) session as a string on stdout. */
import { STRING_FORMATS, toSessionString, type SessionFormat, type StringSessionFormat } from '@mtstore/convert';
import type { EncryptionOptions, Session } from '@mtstore/core';
import { CliError, EXIT } from './exit.js';
import { say, type Io } from './io.js';
import { encryptionFromFlags } from './rotate.js';
import { checkBotFlag, missingKeyError, openExisting, openForeign, sessionNameOf, shown } from './source.js';

export interface ExportOptions {
  format: string;
  name?: string;
  /** Pyrogram's current layout needs an api_id when the session has none. */
  apiId?: number;
  /** Read a foreign source (an ambiguous string) as this format. */
  from?: SessionFormat;
  /** `id=ENV_VAR` flags: the keys a session sealed by rotate-keys opens with. */
  keys?: string[];
  /** A foreign Telethon file's account is a bot (the file does not say). */
  bot?: boolean;
}

export function checkStringFormat(format: string): StringSessionFormat {
  if (!(STRING_FORMATS as readonly string[]).includes(format)) {
    throw new CliError(EXIT.USAGE, `--format must be one of ${STRING_FORMATS.join(', ')}, got "${format}".`);
  }
  return format as StringSessionFormat;
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
    let session: Session | null;
    try {
      session = await storage.load();
    } catch (error) {
      throw missingKeyError(error, sessionNameOf(source, name), source);
    }
    if (session === null) {
      const names = await storage.listNames();
      const wanted = sessionNameOf(source, name);
      if (names.includes(wanted)) {
        // Keys, peers or kv entries without a snapshot: nothing a string could hold (no DC, no login).
        throw new CliError(EXIT.NOT_FOUND, `The session "${wanted}" in ${shown(source)} has no snapshot (only keys, peers, kv entries or reference messages, as a client stores before its first save): there is no login to write as a string. mtstore inspect shows what it holds.`);
      }
      const hint = names.length === 0 ? 'it holds no sessions' : `it holds: ${names.join(', ')} (pick one with --name)`;
      throw new CliError(EXIT.NOT_FOUND, `No session named "${sessionNameOf(source, name)}" in ${shown(source)}: ${hint}.`);
    }
    if (bot) throw new CliError(EXIT.USAGE, `--bot applies to Telethon session files only: ${shown(source)} is a storage, whose sessions record whether the account is a bot. Export it without --bot.`);
    return session;
  } finally {
    await storage.close();
  }
}

export async function exportSession(source: string, options: ExportOptions, io: Io): Promise<string> {
  const format = checkStringFormat(options.format);
  const encryption = options.keys === undefined ? undefined : encryptionFromFlags(options.keys);
  const session = await loadSession(source, options.name, options.from, encryption, options.bot, io);
  if (format === 'pyrogram' && session.apiId === undefined && options.apiId === undefined && session.user !== undefined) {
    // The library's own refusal names its option (`apiId`); on the command line it is --api-id.
    throw new CliError(EXIT.USAGE, `The session records no api_id, which a Pyrogram string holds: pass --api-id <your app's api_id>.`);
  }
  const text = toSessionString(session, format, options.apiId === undefined ? {} : { apiId: options.apiId });
  io.stdout.write(`${text}\n`);
  say(io, `warning: this ${format} string is a login: anyone holding it can use the account. Keep it secret.`);
  return text;
}
