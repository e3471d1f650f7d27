export { ConvertError, isConvertError, type ConvertErrorCode } from './errors.js';
export {
  FILE_FORMATS,
  STRING_FORMATS,
  type ConvertedRefMessage,
  type ConvertedSession,
  type FileSessionFormat,
  type ParseOptions,
  type SessionFormat,
  type StringSessionFormat,
} from './types.js';
export { detectSessionFile, detectStringFormats, openSession, openSessionFile, parseSession, parseSessionFile, parseSessionString, sessionStringInFile } from './detect.js';
export { DEFAULT_BATCH_SIZE, readStream, streamConverted, type SessionStream } from './stream.js';
export { parseTelethonString, toTelethonString } from './telethon.js';
export { parseGramjsString, toGramjsString } from './gramjs.js';
export { parsePyrogramString, toPyrogramString, type PyrogramLayout, type PyrogramWriteOptions } from './pyrogram.js';
export { parseMtcuteString, toMtcuteString } from './mtcute.js';
export { readGramjsStore, gramjsStoreNames } from './gramjs-store.js';
export { FOREIGN_SQLITE_SIGNATURES, matchSqliteSignature, type SqliteSchema, type SqliteSignature } from './sqlite.js';
export { toSessionString, writeSessionFile, type ToStringOptions, type WriteFileOptions } from './write.js';
export { writeMtcuteSqlite, type MtcuteFileOptions } from './mtcute-sqlite-write.js';
export { existingSessionPath, type PeerInput, type WrittenFile } from './write-file.js';
export { writeGramjsStore, type GramjsStoreOptions } from './gramjs-store-write.js';
export { writeTelethonSqlite, type TelethonFileOptions } from './telethon-sqlite-write.js';
export { writePyrogramSqlite, type PyrogramFileOptions } from './pyrogram-sqlite-write.js';
