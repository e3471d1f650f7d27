import { assertPeer, assertSession, fromMarkedId, INT64_MAX, INT64_MIN, isPhone, isStorageError, isUsername, MAX_DISPLAY_NAME, storableText, type DataCenter, type Peer, type PeerType, type Session } from '@mtstore/core';
import { invalid, isConvertError, unsupported } from './errors.js';
import type { ConvertedRefMessage, ConvertedSession, SessionFormat } from './types.js';
import type { KeyValueEntry } from '@mtstore/core';

/** Result of trying one decoder on an input: the session, or why it is not this format. */
export type Attempt<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Checks what a reader built against core's validation, so a decoded session can be
 * saved by any adapter; a failure becomes INVALID naming the field (core's messages
 * never show key bytes).
 */
export function finish(
  format: SessionFormat,
  layout: string,
  session: Session,
  peers: Peer[] = [],
  kv: KeyValueEntry[] = [],
  refMessages: ConvertedRefMessage[] = [],
  warnings: string[] = [],
): ConvertedSession {
  checkSession(format, session);
  peers.forEach((peer, i) => checkPeer(format, peer, i));
  return { format, layout, session, peers, kv, refMessages, warnings };
}

/** Core's check of a session a reader built, as INVALID naming the field. */
export function checkSession(format: SessionFormat, session: Session): void {
  asInvalid(format, () => assertSession(session));
}

/** Core's check of the peer at `index` of the peers read (oldest first), as INVALID naming it. */
export function checkPeer(format: SessionFormat, peer: Peer, index: number): void {
  asInvalid(format, () => assertPeer(peer, `peers[${index}]`));
}

function asInvalid(format: SessionFormat, check: () => void): void {
  try {
    check();
  } catch (error) {
    if (isStorageError(error)) throw invalid(format, error.message.replace(/\.$/, ''), error);
    throw error;
  }
}

/** Runs a decoder, turning its INVALID errors into a failed attempt (for detection). */
export function attempt<T>(decode: () => T): Attempt<T> {
  try {
    return { ok: true, value: decode() };
  } catch (error) {
    if (isConvertError(error) && error.code === 'MTSTORE_CONVERT_INVALID') return { ok: false, reason: error.message };
    if (error instanceof TypeError || error instanceof RangeError) return { ok: false, reason: error.message };
    throw error;
  }
}

/** The home DC's main (not media-only) entry with its permanent key, as every string format needs. */
export function homeWithKey(session: Session, format: string): DataCenter & { authKey: Uint8Array } {
  const dc = session.dcs.find((d) => d.id === session.homeDcId && !d.mediaOnly);
  if (dc === undefined) throw unsupported(format, `the session has no entry for its home DC ${session.homeDcId}`);
  if (dc.authKey === undefined) throw unsupported(format, `the session has no auth key for its home DC ${session.homeDcId}`);
  return dc as DataCenter & { authKey: Uint8Array };
}

export { isConvertError };

/**
 * Peers oldest first (stable: equal times keep the file's order). A file can hold stale
 * rows that still name a username or phone another peer has taken since; the library
 * itself answers a username lookup with the most recently seen one (Telethon evicts the
 * older rows, Pyrogram orders by last_update_on; Telethon's phone lookup takes the first
 * row, mtcute the smallest non-min id: there mtstore deliberately answers the most
 * recent). Stored in this order, the most recent is written last, and a later peer takes
 * a username or phone over (contract §5).
 */
export function oldestFirst(peers: Peer[]): Peer[] {
  return peers.sort((a, b) => a.updatedAt - b.updatedAt);
}

/** Peer rows are judged one by one: an odd row is dropped (or loses a field), never the file. */
const UINT32_MAX = 2 ** 32 - 1;

/**
 * The peer a row names, or null (with a warning) when the row cannot be one: an id that
 * is no marked user, chat or channel id (a secret chat, a row another tool wrote), or an
 * access hash outside int64. Such a row is skipped; the rest of the file still imports.
 */
export function peerIdentity(marked: bigint | null, accessHash: bigint | null, where: string, warnings: string[]): { type: PeerType; id: bigint; accessHash: bigint } | null {
  if (marked === null) {
    warnings.push(`${where}: a row without an id was skipped`);
    return null;
  }
  let unmarked;
  try {
    unmarked = fromMarkedId(marked);
  } catch {
    warnings.push(`${where} ${marked}: skipped, not a marked user, chat or channel id`);
    return null;
  }
  if (accessHash === null || accessHash < INT64_MIN || accessHash > INT64_MAX) {
    warnings.push(`${where} ${marked}: skipped, its access hash is ${accessHash === null ? 'missing or unreadable' : 'outside 64-bit range'}`);
    return null;
  }
  return { type: unmarked.type, id: unmarked.id, accessHash };
}

/**
 * The usernames mtstore can store (1-64 letters, digits, underscores; a leading "@" some
 * tools write is removed), case-insensitive duplicates once. Others are dropped with a
 * warning naming them (a username is public, not a secret).
 */
export function cleanUsernames(names: readonly unknown[], where: string, warnings: string[]): string[] {
  const kept: string[] = [];
  for (const raw of names) {
    if (raw === null || raw === undefined || raw === '') continue;
    const name = typeof raw === 'string' && raw.startsWith('@') ? raw.slice(1) : raw;
    if (!isUsername(name)) {
      warnings.push(`${where}: username ${JSON.stringify(String(raw)).slice(0, 80)} dropped (not 1-64 letters, digits or underscores)`);
      continue;
    }
    if (!kept.some((k) => k.toLowerCase() === name.toLowerCase())) kept.push(name);
  }
  return kept;
}

/**
 * A phone as mtstore stores it (digits only), from what the libraries and tools write:
 * an integer (Telethon), digits, or digits with a leading "+", spaces or dashes, which
 * are removed. Anything else is dropped with a warning that does not repeat it.
 */
export function cleanPhone(value: unknown, where: string, warnings: string[]): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  let text: string | null = null;
  if (typeof value === 'bigint' && value > 0n) text = value.toString();
  else if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) text = String(value);
  else if (typeof value === 'string' && /^\s*\+?[\d -]+$/.test(value)) text = value.replace(/[\s+-]/g, '');
  if (text !== null && isPhone(text)) return text;
  warnings.push(`${where}: phone dropped (not a phone number of 1-20 digits)`);
  return undefined;
}

/**
 * A display name every adapter stores: core's storableText (U+0000 and unpaired
 * surrogates left out, cut to MAX_DISPLAY_NAME code units without splitting a pair), as
 * the bridges clean names. Names are someone's own text: never a reason to drop the row.
 */
export function cleanDisplayName(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const name = storableText(value, MAX_DISPLAY_NAME);
  return name === '' ? undefined : name;
}

/** Seconds since the epoch as a peer stores them (0 when unknown or out of range). */
export function cleanEpoch(seconds: number): number {
  return Number.isInteger(seconds) && seconds >= 0 && seconds <= UINT32_MAX ? seconds : 0;
}
