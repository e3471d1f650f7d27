/**
 * mtcute's `PeerInfo` and mtstore's `Peer`. mtcute keys peers by marked id (a
 * number), keeps the access hash as its "fast string" (`low|high` of the int64) and
 * the update time in milliseconds (`Date.now()`, which its username TTL is checked
 * against); mtstore keeps (type, id), a bigint hash and epoch seconds, so `updated`
 * comes back rounded down to the second.
 */
import { fromMarkedId, MAX_COMPLETE_BYTES, toMarkedId, type Peer, type UnmarkedPeerId } from '@mtstore/core';
import type { IPeersRepository } from '@mtcute/core';
import { __tlReaderMap, TlBinaryReader } from '@mtcute/core/utils.js';

export type PeerInfo = IPeersRepository.PeerInfo;

const UINT32_MAX = 0xffff_ffff;
const PHONE = /^[0-9]{1,20}$/;
const USERNAME = /^[A-Za-z0-9_]{1,64}$/;

/**
 * Eight bytes for converting between the int64 and its two int32 halves: one bigint
 * read or write instead of the shifts and `BigInt.asIntN` calls that allocate a
 * bigint each (run for every peer of a save and every peer looked up).
 */
const int64 = new DataView(new ArrayBuffer(8));

/**
 * `low|high` (two signed int32) to the int64 they make. The same parse as mtcute's
 * `longFromFastString` (parseInt, then int32 as Long keeps it) without building a Long.
 */
export function accessHashFromString(value: string): bigint {
  if (value === '') return 0n; // mtcute's hash of a basic chat, which has none
  const bar = value.indexOf('|');
  const low = Number.parseInt(value.slice(0, bar));
  const high = Number.parseInt(value.slice(bar + 1));
  if (bar === -1 || value.indexOf('|', bar + 1) !== -1 || Number.isNaN(low) || Number.isNaN(high)) {
    throw new TypeError(`Invalid long fast string: ${value}`);
  }
  // setUint32 / setInt32 take the number modulo 2^32 as `>>> 0` and `| 0` do.
  int64.setUint32(0, low, true);
  int64.setInt32(4, high, true);
  return int64.getBigInt64(0, true);
}

/** mtcute's `longToFastString` of the int64. */
export function accessHashToString(value: bigint): string {
  int64.setBigInt64(0, value, true);
  return `${int64.getInt32(0, true)}|${int64.getInt32(4, true)}`;
}

const isUsername = (username: string): boolean => USERNAME.test(username);

// core's marked-id ranges (marked.ts) as numbers: each bound is a safe integer, so a
// number compares with them exactly.
const MAX_USER_ID = 2 ** 40 - 1;
const MAX_CHAT_ID = 999_999_999_999;
const ZERO_CHANNEL_ID = -1_000_000_000_000;
const MIN_MARKED_CHANNEL_ID = ZERO_CHANNEL_ID - (1_000_000_000_000 - 2 ** 31);

/**
 * core's `fromMarkedId` of mtcute's marked id (a number), undefined where that throws:
 * the same ranges compared as numbers, so a store or lookup builds one bigint (the
 * id) instead of converting the marked id and comparing it as bigints. Anything but
 * a number goes through core's function.
 */
export function unmarkId(id: number): UnmarkedPeerId | undefined {
  if (typeof id !== 'number') {
    try {
      return fromMarkedId(id);
    } catch {
      return undefined;
    }
  }
  // Inside the ranges an integer is a safe one; NaN fails every comparison.
  if (!Number.isInteger(id)) return undefined;
  if (id >= 1 && id <= MAX_USER_ID) return { type: 'user', id: BigInt(id) };
  if (id <= -1 && id >= -MAX_CHAT_ID) return { type: 'chat', id: BigInt(-id) };
  if (id < ZERO_CHANNEL_ID && id >= MIN_MARKED_CHANNEL_ID) return { type: 'channel', id: BigInt(ZERO_CHANNEL_ID - id) };
  return undefined;
}

/** Whether `unmarkId(id)` has a (type, id), without building it. */
export function isMarkedId(id: number): boolean {
  if (typeof id !== 'number') return unmarkId(id) !== undefined;
  return Number.isInteger(id) && ((id >= 1 && id <= MAX_USER_ID) || (id <= -1 && id >= -MAX_CHAT_ID) || (id < ZERO_CHANNEL_ID && id >= MIN_MARKED_CHANNEL_ID));
}

export interface ToPeerOptions {
  /** Read the display name out of `complete` (first + last name, or title). */
  displayName: boolean;
}

export function peerFromInfo(info: PeerInfo, options: ToPeerOptions): Peer {
  // An id outside the ranges throws core's InvalidArgumentError, as it always did.
  const { type, id } = unmarkId(info.id) ?? fromMarkedId(info.id);
  const peer: Peer = {
    type,
    id,
    accessHash: accessHashFromString(info.accessHash),
    // mtcute lower-cases usernames; a malformed one would fail the whole batch. Core
    // copies the batch, so the usual list (all valid) is passed as it is.
    usernames: info.usernames.every(isUsername) ? info.usernames : info.usernames.filter(isUsername),
    updatedAt: Math.min(UINT32_MAX, Math.max(0, Math.floor(info.updated / 1000))),
  };
  if (info.isMin) peer.min = true;
  if (info.phone !== undefined && PHONE.test(info.phone)) peer.phone = info.phone;
  // Larger TL objects than mtstore keeps would fail the whole batch: the peer is stored without it.
  if (info.complete.length > 0 && info.complete.length <= MAX_COMPLETE_BYTES) {
    peer.complete = info.complete;
    if (options.displayName) {
      const name = displayNameOf(info.complete);
      if (name !== undefined) peer.displayName = name;
    }
  }
  return peer;
}

/** `markedId`: the peer's marked id when the caller has it (a lookup by id), else computed. */
export function infoFromPeer(peer: Peer, markedId = Number(toMarkedId(peer.type, peer.id))): PeerInfo {
  const info: PeerInfo = {
    id: markedId,
    accessHash: peer.type === 'chat' ? '' : accessHashToString(peer.accessHash),
    isMin: peer.min === true,
    usernames: peer.usernames,
    updated: peer.updatedAt * 1000,
    complete: peer.complete ?? new Uint8Array(0),
  };
  if (peer.phone !== undefined) info.phone = peer.phone;
  return info;
}

const MAX_DISPLAY_NAME = 1024;

// Constructor ids of mtcute 0.29's layer (225) for what PeersService stores.
const USER = 829_899_656;
const CHAT = 1_103_884_886;
const CHAT_FORBIDDEN = 1_704_108_455;
const CHANNEL = 473_084_188;
const CHANNEL_FORBIDDEN = 399_807_445;
const utf8 = new TextDecoder();

/**
 * The name mtcute would show, from the serialized user/chat/channel; undefined when it has none.
 * The five constructors mtcute stores are read up to their name fields only (the
 * leading fields of layer 225, as mtcute's own reader reads them) instead of
 * deserializing the whole object, which was most of the bridge's own cost of a save;
 * anything else goes through mtcute's reader.
 */
export function displayNameOf(complete: Uint8Array): string | undefined {
  const fast = leadingName(complete);
  const name = fast === null ? fullName(complete) : fast;
  if (name === undefined || name === '') return undefined;
  return name.length > MAX_DISPLAY_NAME ? name.slice(0, MAX_DISPLAY_NAME) : name;
}

function fullName(complete: Uint8Array): string | undefined {
  let object: unknown;
  try {
    object = TlBinaryReader.deserializeObject(__tlReaderMap, complete);
  } catch {
    return undefined;
  }
  const tl = object as { _?: string; firstName?: string; lastName?: string; title?: string };
  if (tl._ === 'user') return [tl.firstName, tl.lastName].filter((part) => part !== undefined && part !== '').join(' ');
  return tl.title;
}

/** UTF-8 as mtcute's reader decodes it; short ASCII (most names) without a call into TextDecoder. */
function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let ascii = '';
    let i = start;
    for (; i < end && (bytes[i] as number) < 0x80; i++) ascii += String.fromCharCode(bytes[i] as number);
    if (i === end) return ascii;
  }
  return utf8.decode(bytes.subarray(start, end));
}

/** The name fields of a user, chat or channel; null when the bytes are none of those (or cut short). */
function leadingName(bytes: Uint8Array): string | undefined | null {
  if (bytes.length < 12) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 4;
  const uint = (): number => {
    const value = view.getUint32(at, true);
    at += 4;
    return value;
  };
  /** A TL string (length byte, or 254 and three length bytes; padded to 4), or null past the end. */
  const string = (): string | null => {
    if (at >= bytes.length) return null;
    let length = bytes[at] as number;
    let start = at + 1;
    if (length === 254) {
      if (at + 4 > bytes.length) return null;
      length = (bytes[at + 1] as number) | ((bytes[at + 2] as number) << 8) | ((bytes[at + 3] as number) << 16);
      start = at + 4;
    }
    const end = start + length;
    if (end > bytes.length) return null;
    at = end + ((4 - ((end - at) % 4)) % 4);
    return decodeUtf8(bytes, start, end);
  };
  // Fixed-size fields are skipped unchecked: string() returns null once past the end.
  switch (view.getUint32(0, true)) {
    case USER: {
      if (bytes.length < 16) return null;
      const flags = uint();
      at += 4 + 8; // flags2, id
      if (flags & 1) at += 8; // access_hash
      let first: string | null | undefined;
      let last: string | null | undefined;
      if (flags & 2 && (first = string()) === null) return null;
      if (flags & 4 && (last = string()) === null) return null;
      return [first, last].filter((part) => part !== undefined && part !== '').join(' ');
    }
    case CHAT:
      at += 4 + 8; // flags, id
      return string();
    case CHANNEL_FORBIDDEN:
      at += 4 + 8 + 8; // flags, id, access_hash
      return string();
    case CHAT_FORBIDDEN:
      at += 8; // id
      return string();
    case CHANNEL: {
      if (bytes.length < 16) return null;
      const flags = uint();
      at += 4 + 8; // flags2, id
      if (flags & 8192) at += 8; // access_hash
      return string();
    }
    default:
      return null;
  }
}
