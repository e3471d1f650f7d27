import type { KeyValueEntry, Peer, Session } from '@mtstore/core';

/** String session formats. */
export type StringSessionFormat = 'telethon' | 'gramjs' | 'pyrogram' | 'mtcute';
/** Session files and folders. */
export type FileSessionFormat = 'telethon-sqlite' | 'pyrogram-sqlite' | 'mtcute-sqlite' | 'gramjs-store';
export type SessionFormat = StringSessionFormat | FileSessionFormat;

export const STRING_FORMATS: readonly StringSessionFormat[] = ['telethon', 'gramjs', 'pyrogram', 'mtcute'];
export const FILE_FORMATS: readonly FileSessionFormat[] = ['telethon-sqlite', 'pyrogram-sqlite', 'mtcute-sqlite', 'gramjs-store'];

/** A reference message (mtcute's message_refs): peer and chat are Bot API marked ids. */
export interface ConvertedRefMessage {
  peerId: bigint;
  chatId: bigint;
  messageId: number;
}

/** Everything read from a foreign session, in mtstore's model. */
export interface ConvertedSession {
  format: SessionFormat;
  /** Which layout of the format (e.g. `mtcute v2`, `pyrogram 351`), for messages and inspect. */
  layout: string;
  session: Session;
  peers: Peer[];
  /** Entries with no typed field in mtstore (mtcute's future salts, ...), for `Storage.kv`. */
  kv: KeyValueEntry[];
  refMessages: ConvertedRefMessage[];
  /**
   * What was left out of a file, one line each: peer rows skipped (an id of no known peer
   * type, an access hash out of range) and fields dropped (a username or phone mtstore
   * does not store). Empty for strings and clean files. Lines name the peer, never a key
   * or a phone number.
   */
  warnings: string[];
}

export interface ParseOptions {
  /** Read the input as this format only; required when a string is ambiguous. */
  format?: SessionFormat | undefined;
  /**
   * Telethon does not record whether the logged-in account is a bot: its files give the
   * self user's id only. Default false. Read for Telethon files only: every other format
   * records the flag itself, or records no user at all.
   */
  bot?: boolean | undefined;
  /** GramJS StoreSession: the session name (the folder's name when absent). */
  name?: string | undefined;
}
