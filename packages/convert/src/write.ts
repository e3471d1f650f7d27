import type { Session } from '@mtstore/core';
import { checkOptions, ConvertError } from './errors.js';
import { toGramjsString } from './gramjs.js';
import { toMtcuteString } from './mtcute.js';
import { toPyrogramString, WRITE_OPTIONS, type PyrogramWriteOptions } from './pyrogram.js';
import { toTelethonString } from './telethon.js';
import { FILE_FORMATS, STRING_FORMATS, type FileSessionFormat, type StringSessionFormat } from './types.js';
import { writeGramjsStore, type GramjsStoreOptions } from './gramjs-store-write.js';
import { writeMtcuteSqlite, type MtcuteFileOptions } from './mtcute-sqlite-write.js';
import { writePyrogramSqlite, type PyrogramFileOptions } from './pyrogram-sqlite-write.js';
import { writeTelethonSqlite, type TelethonFileOptions } from './telethon-sqlite-write.js';
import type { PeerInput, WrittenFile } from './write-file.js';

export interface ToStringOptions extends PyrogramWriteOptions {}

/** The session as a string of `format` (what `mtstore export --format` prints). */
export function toSessionString(session: Session, format: StringSessionFormat, options: ToStringOptions = {}): string {
  // Checked for every format (a misspelt { apiID } is an error whichever format is written).
  checkOptions(options, WRITE_OPTIONS, 'ToStringOptions');
  switch (format) {
    case 'telethon':
      return toTelethonString(session);
    case 'gramjs':
      return toGramjsString(session);
    case 'pyrogram':
      return toPyrogramString(session, options);
    case 'mtcute':
      return toMtcuteString(session);
    default:
      throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `Unknown string format: use one of ${STRING_FORMATS.join(', ')}.`);
  }
}

/** The options of `writeSessionFile`: each format reads its own (`name`: gramjs-store; `apiId`: pyrogram-sqlite; `kv`, `refMessages`: mtcute-sqlite). */
export interface WriteFileOptions extends MtcuteFileOptions, GramjsStoreOptions, PyrogramFileOptions {}

const FILE_OPTIONS = {
  'mtcute-sqlite': ['kv', 'refMessages'],
  'gramjs-store': ['name'],
  'telethon-sqlite': [],
  'pyrogram-sqlite': ['apiId'],
} as const satisfies Record<FileSessionFormat, readonly (keyof WriteFileOptions)[]>;

const ALL_FILE_OPTIONS = [...new Set(Object.values(FILE_OPTIONS).flat())];

/**
 * The session and its peers as a new file (or folder) of `format` at `path` (what
 * `mtstore export --format <file format> --out <path>` writes). An option another format
 * reads is ignored, so one options object serves every format; an unknown one is an error.
 */
export async function writeSessionFile(session: Session, peers: PeerInput, path: string, format: FileSessionFormat, options: WriteFileOptions = {}): Promise<WrittenFile> {
  checkOptions(options, ALL_FILE_OPTIONS, 'WriteFileOptions');
  if (!(FILE_FORMATS as readonly unknown[]).includes(format)) throw new ConvertError('MTSTORE_CONVERT_UNKNOWN_FORMAT', `Unknown file format: use one of ${FILE_FORMATS.join(', ')}.`);
  const own = Object.fromEntries(Object.entries(options).filter(([k]) => (FILE_OPTIONS[format] as readonly string[]).includes(k)));
  switch (format) {
    case 'mtcute-sqlite':
      return writeMtcuteSqlite(session, peers, path, own);
    case 'gramjs-store':
      return writeGramjsStore(session, peers, path, own);
    case 'telethon-sqlite':
      return writeTelethonSqlite(session, peers, path, own as TelethonFileOptions);
    case 'pyrogram-sqlite':
      return writePyrogramSqlite(session, peers, path, own);
  }
}
