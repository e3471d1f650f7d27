import { assertPeer, assertSession, isStorageError, type DataCenter, type Peer, type Session } from '@mtstore/core';
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
): ConvertedSession {
  try {
    assertSession(session);
    peers.forEach((peer, i) => assertPeer(peer, `peers[${i}]`));
  } catch (error) {
    if (isStorageError(error)) throw invalid(format, error.message.replace(/\.$/, ''), error);
    throw error;
  }
  return { format, layout, session, peers, kv, refMessages };
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
 * itself answers a lookup with the most recently seen one (Telethon evicts the older
 * rows, Pyrogram orders by last_update_on). Stored in this order, the most recent is
 * written last, and a later peer takes a username or phone over (contract §5).
 */
export function oldestFirst(peers: Peer[]): Peer[] {
  return peers.sort((a, b) => a.updatedAt - b.updatedAt);
}
