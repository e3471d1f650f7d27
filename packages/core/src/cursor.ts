/**
 * The cursors of `peers.list` and `refMessages.list`, one format for every adapter.
 * Core parses a caller's cursor (InvalidArgumentError before any I/O) and hands the
 * repository a typed position; the repository says where its page ended and core
 * writes the next cursor. No adapter parses or formats a cursor string.
 *
 * - peers: `<type>:<id>` of the last peer of the previous page (`user:-5`), the id in
 *   canonical decimal (no leading zeros, no `-0`) within the signed 64-bit range;
 * - reference messages: the store-order sequence number of the last reference of the
 *   previous page, canonical decimal, 0..2^63−1.
 */
import { InvalidArgumentError } from './errors.js';
import type { PeerType } from './model.js';
import { describeValue, INT64_MAX, INT64_MIN } from './validate.js';

/** Where `peers.list` resumes: after this peer, in the adapter's order. */
export interface PeerPosition {
  type: PeerType;
  id: bigint;
}

const PEER_CURSOR = /^(user|chat|channel):(0|-?[1-9][0-9]{0,18})$/;
const REF_CURSOR = /^(0|[1-9][0-9]{0,18})$/;

/**
 * A rejected cursor is described as describeValue describes any caller string: quoted
 * only when short and not encoded-looking, else by its length. It is caller input, and
 * a caller who passed a key (in hex or base64) by mistake must not find it in the error.
 */
function rejected(cursor: string, what: string): InvalidArgumentError {
  return new InvalidArgumentError(`options.cursor must be a cursor ${what} returned, got ${describeValue(cursor)}`);
}

export function peerCursor(position: PeerPosition): string {
  return `${position.type}:${position.id}`;
}

export function parsePeerCursor(cursor: string): PeerPosition {
  const match = PEER_CURSOR.exec(cursor);
  if (match === null) throw rejected(cursor, 'peers.list');
  const id = BigInt(match[2] as string);
  // 19 digits reach past the 64-bit range (9223372036854775807): the regex cannot say it.
  if (id < INT64_MIN || id > INT64_MAX) throw rejected(cursor, 'peers.list');
  return { type: match[1] as PeerType, id };
}

export function refCursor(seq: bigint): string {
  return String(seq);
}

export function parseRefCursor(cursor: string): bigint {
  if (!REF_CURSOR.test(cursor)) throw rejected(cursor, 'refMessages.list');
  const seq = BigInt(cursor);
  if (seq > INT64_MAX) throw rejected(cursor, 'refMessages.list');
  return seq;
}
