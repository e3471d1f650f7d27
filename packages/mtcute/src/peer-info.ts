/**
 * mtcute's `PeerInfo` and mtstore's `Peer`. mtcute keys peers by marked id (a
 * number), keeps the access hash as its "fast string" (`low|high` of the int64) and
 * the update time in milliseconds (`Date.now()`, which its username TTL is checked
 * against); mtstore keeps (type, id), a bigint hash and epoch seconds, so `updated`
 * comes back rounded down to the second.
 */
import { fromMarkedId, isPhone, isUsername, storableText, MAX_COMPLETE_BYTES, MAX_DISPLAY_NAME, toMarkedId, type Peer, type UnmarkedPeerId } from '@mtstore/core';
import type { IPeersRepository } from '@mtcute/core';
import { __tlReaderMap, TlBinaryReader } from '@mtcute/core/utils.js';

export type PeerInfo = IPeersRepository.PeerInfo;

const UINT32_MAX = 0xffff_ffff;

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
  // mtcute's own strings (an optional '-' and digits, twice) are read by hand: two
  // substrings and two parseInt calls per peer of a save cost more than the rest of the
  // conversion. Anything else takes parseInt's rules.
  const low = canonicalInt(value, 0);
  const high = low === undefined || value.charCodeAt(parsedTo) !== BAR ? undefined : canonicalInt(value, parsedTo + 1);
  if (high === undefined || parsedTo !== value.length) return looseAccessHash(value);
  int64.setUint32(0, low as number, true);
  int64.setInt32(4, high, true);
  return int64.getBigInt64(0, true);
}

const BAR = 0x7c;
const MINUS = 0x2d;
/** Where canonicalInt stopped (module state: no result object per call). */
let parsedTo = 0;

/** An optional '-' and 1-10 digits from `from` (exact as a double); undefined if none. Sets `parsedTo` past them. */
function canonicalInt(value: string, from: number): number | undefined {
  let i = from;
  const negative = value.charCodeAt(i) === MINUS;
  if (negative) i++;
  const start = i;
  let n = 0;
  for (; i < value.length && i - start < 10; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) break;
    n = n * 10 + digit;
  }
  if (i === start) return undefined;
  parsedTo = i;
  return negative ? -n : n;
}

/** What accessHashFromString does with strings mtcute never writes: parseInt's rules, as mtcute's parse. */
function looseAccessHash(value: string): bigint {
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

/** Whether every name is one (the usual list), without every()'s callback calls. */
function allUsernames(usernames: readonly string[]): boolean {
  for (let i = 0; i < usernames.length; i++) if (!isUsername(usernames[i])) return false;
  return true;
}

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

/**
 * `filter` false: usernames, phone and display name are passed as they are, unchecked.
 * For save(), which lets core's validation of the batch (typed error, before any I/O)
 * find a bad one and only then builds the batch again checked: checking each name and
 * phone here as well scanned them twice per peer of every save. `filter` true (the
 * default): what core would reject is left out — usernames that are none or repeat
 * one before them, a phone that is none, U+0000 and unpaired surrogates of the display
 * name (storableName) — so the peer is stored without it. An id outside the marked
 * ranges and an access hash that is not mtcute's fast string still throw (core's
 * InvalidArgumentError; a TypeError as mtcute's `longFromFastString`): nothing can be
 * stored for such a peer.
 */
export function peerFromInfo(info: PeerInfo, options: ToPeerOptions, filter = true): Peer {
  // An id outside the ranges throws core's InvalidArgumentError, as it always did.
  const { type, id } = unmarkId(info.id) ?? fromMarkedId(info.id);
  const complete = info.complete;
  // Larger TL objects than mtstore keeps would fail the whole batch: the peer is stored without it.
  const keep = complete.length > 0 && complete.length <= MAX_COMPLETE_BYTES;
  const name = keep && options.displayName ? displayNameOf(complete) : undefined;
  // Every field in one literal, the absent optional ones undefined (the model reads
  // undefined as absent): each peer gets the one hidden class, and none grows a
  // property store as fields are added one by one.
  return {
    type,
    id,
    accessHash: accessHashFromString(info.accessHash),
    // mtcute lower-cases usernames; a malformed one would fail the whole batch. Neither
    // core nor a repository changes a batch's arrays, so the usual list (all valid) is
    // passed as it is.
    usernames: filter ? storableUsernames(info.usernames) : info.usernames,
    updatedAt: Math.min(UINT32_MAX, Math.max(0, Math.floor(info.updated / 1000))),
    min: info.isMin ? true : undefined,
    // Unchecked, a phone is still read as none when empty: mtcute stores '' for a user
    // whose phone Telegram hides, which would fail every batch holding one.
    phone: filter ? (isPhone(info.phone) ? info.phone : undefined) : info.phone === '' ? undefined : info.phone,
    complete: keep ? complete : undefined,
    displayName: filter && name !== undefined ? storableName(name) : name,
  };
}

/**
 * The usernames core accepts, each once (case-insensitively, the first kept), in
 * order; the list itself when that is all of them (the usual case).
 */
export function storableUsernames(usernames: string[]): string[] {
  if (allUsernames(usernames) && !repeatsName(usernames)) return usernames;
  const kept: string[] = [];
  for (const username of usernames) if (isUsername(username) && !kept.some((k) => k.toLowerCase() === username.toLowerCase())) kept.push(username);
  return kept;
}

/** Whether a name of the list is there twice, case-insensitively (lists are short: a pairwise check). */
function repeatsName(usernames: readonly string[]): boolean {
  for (let i = 1; i < usernames.length; i++) {
    const lower = (usernames[i] as string).toLowerCase();
    for (let j = 0; j < i; j++) if ((usernames[j] as string).toLowerCase() === lower) return true;
  }
  return false;
}

/**
 * `name` as core stores it (isStorableText): without U+0000 (Telegram never sends it;
 * PostgreSQL text and C-string drivers cannot hold it) and without unpaired UTF-16
 * surrogates (UTF-8 has no encoding for one); undefined when nothing is left. The
 * usual name (already storable) is returned as it is, without a copy.
 */
export function storableName(name: string): string | undefined {
  const kept = storableText(name, MAX_DISPLAY_NAME);
  return kept === '' ? undefined : kept;
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

// Constructor ids of mtcute 0.29's layer (225) for what PeersService stores.
const USER = 829_899_656;
const CHAT = 1_103_884_886;
const CHAT_FORBIDDEN = 1_704_108_455;
const CHANNEL = 473_084_188;
const CHANNEL_FORBIDDEN = 399_807_445;
const utf8 = new TextDecoder();

/**
 * The name mtcute would show, from the serialized user/chat/channel; undefined when it
 * has none. One longer than core keeps (MAX_DISPLAY_NAME, in UTF-16 code units) is cut
 * there, or one code unit before when a surrogate pair would be split: half a pair is
 * text no adapter can store (core rejects it).
 * The five constructors mtcute stores are read up to their name fields only (the
 * leading fields of layer 225, as mtcute's own reader reads them) instead of
 * deserializing the whole object, which was most of the bridge's own cost of a save;
 * anything else goes through mtcute's reader.
 */
export function displayNameOf(complete: Uint8Array): string | undefined {
  const fast = leadingName(complete);
  const name = fast === null ? fullName(complete) : fast;
  if (name === undefined || name === '') return undefined;
  // Only a long name is cut here (never inside a surrogate pair); cleaning the rest is
  // the checked build's (storableName), after core refused a batch.
  return name.length > MAX_DISPLAY_NAME ? storableText(name, MAX_DISPLAY_NAME) : name;
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
    let i = start;
    while (i < end && (bytes[i] as number) < 0x80) i++;
    if (i === end) return ascii(bytes, start, end);
  }
  return utf8.decode(bytes.subarray(start, end));
}

/**
 * ASCII bytes as a string, eight characters per String.fromCharCode: a string
 * concatenation per character was the largest single cost of reading a name.
 */
function ascii(b: Uint8Array, start: number, end: number): string {
  let s = '';
  let i = start;
  for (; i + 8 <= end; i += 8) s += String.fromCharCode(b[i] as number, b[i + 1] as number, b[i + 2] as number, b[i + 3] as number, b[i + 4] as number, b[i + 5] as number, b[i + 6] as number, b[i + 7] as number);
  for (; i + 2 <= end; i += 2) s += String.fromCharCode(b[i] as number, b[i + 1] as number);
  if (i < end) s += String.fromCharCode(b[i] as number);
  return s;
}

/**
 * Plain arrays of each length up to MAX_JOINED, reused: String.fromCharCode.apply over
 * one makes the whole name as one flat string in one call (V8 passes a packed array's
 * elements without copying it into a list first).
 */
const MAX_JOINED = 64;
const codeArrays: number[][] = [];
const SPACE = 0x20;

/** bytes[s1, e1) + ' ' + bytes[s2, e2) when both are ASCII and the whole fits MAX_JOINED; else null. */
function asciiJoin(b: Uint8Array, s1: number, e1: number, s2: number, e2: number): string | null {
  const length = e1 - s1 + 1 + (e2 - s2);
  if (length > MAX_JOINED) return null;
  let codes = codeArrays[length];
  if (codes === undefined) {
    codes = new Array<number>(length).fill(0);
    codeArrays[length] = codes;
  }
  let j = 0;
  for (let i = s1; i < e1; i++) {
    const c = b[i] as number;
    if (c >= 0x80) return null;
    codes[j++] = c;
  }
  codes[j++] = SPACE;
  for (let i = s2; i < e2; i++) {
    const c = b[i] as number;
    if (c >= 0x80) return null;
    codes[j++] = c;
  }
  return String.fromCharCode.apply(null, codes);
}

/** The little-endian uint32 at `at` (the caller checked it is inside). */
const uint32 = (b: Uint8Array, at: number): number => ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24)) >>> 0;

/**
 * Where the TL string at `at` ends, padding included (a length byte, or 254 and three
 * length bytes; padded to 4); -1 when it runs past the end. Its text is
 * bytes[stringStart, stringEnd) (module state: no object or closure per call).
 */
let stringStart = 0;
let stringEnd = 0;
function skipString(bytes: Uint8Array, at: number): number {
  if (at >= bytes.length) return -1;
  let length = bytes[at] as number;
  let start = at + 1;
  if (length === 254) {
    if (at + 4 > bytes.length) return -1;
    length = (bytes[at + 1] as number) | ((bytes[at + 2] as number) << 8) | ((bytes[at + 3] as number) << 16);
    start = at + 4;
  }
  const end = start + length;
  if (end > bytes.length) return -1;
  stringStart = start;
  stringEnd = end;
  return end + ((4 - ((end - at) % 4)) % 4);
}

/** The TL string at `at` (see skipString), or null past the end. */
function tlString(bytes: Uint8Array, at: number): string | null {
  return skipString(bytes, at) === -1 ? null : decodeUtf8(bytes, stringStart, stringEnd);
}

/** The name fields of a user, chat or channel; null when the bytes are none of those (or cut short). */
function leadingName(bytes: Uint8Array): string | undefined | null {
  if (bytes.length < 12) return null;
  // Fixed-size fields are skipped unchecked: skipString gives -1 once past the end.
  switch (uint32(bytes, 0)) {
    case USER: {
      if (bytes.length < 16) return null;
      const flags = uint32(bytes, 4);
      let at = 4 + 4 + 4 + 8; // constructor, flags, flags2, id
      if (flags & 1) at += 8; // access_hash
      // First and last name, joined by a space when both are there and non-empty.
      let firstStart = 0;
      let firstEnd = 0;
      if (flags & 2) {
        at = skipString(bytes, at);
        if (at === -1) return null;
        firstStart = stringStart;
        firstEnd = stringEnd;
      }
      if (!(flags & 4)) return decodeUtf8(bytes, firstStart, firstEnd);
      if (skipString(bytes, at) === -1) return null;
      if (stringEnd === stringStart) return decodeUtf8(bytes, firstStart, firstEnd);
      if (firstEnd === firstStart) return decodeUtf8(bytes, stringStart, stringEnd);
      // Both ASCII (most names): one flat string of "first last" in one call. A `${first}
      // ${last}` of 13 characters or more is a cons string, flattened again when core
      // checks it and when SQLite binds it.
      const joined = asciiJoin(bytes, firstStart, firstEnd, stringStart, stringEnd);
      return joined === null ? `${decodeUtf8(bytes, firstStart, firstEnd)} ${decodeUtf8(bytes, stringStart, stringEnd)}` : joined;
    }
    case CHAT:
      return tlString(bytes, 4 + 4 + 8); // constructor, flags, id
    case CHANNEL_FORBIDDEN:
      return tlString(bytes, 4 + 4 + 8 + 8); // constructor, flags, id, access_hash
    case CHAT_FORBIDDEN:
      return tlString(bytes, 4 + 8); // constructor, id
    case CHANNEL: {
      if (bytes.length < 16) return null;
      const flags = uint32(bytes, 4);
      let at = 4 + 4 + 4 + 8; // constructor, flags, flags2, id
      if (flags & 8192) at += 8; // access_hash
      return tlString(bytes, at);
    }
    default:
      return null;
  }
}
