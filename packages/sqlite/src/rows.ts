/**
 * Rows → model. Statements read with safe integers, so every INTEGER arrives as a
 * bigint. 64-bit ids go through core's `int64FromStorage`; everything else is
 * converted without judging it and checked once by core's `checkStoredSession` /
 * `checkStoredPeer`, so a hand-edited row becomes a CorruptDataError naming the
 * session instead of a crash or a silently wrong value.
 */
import type Database from 'better-sqlite3';
import { CorruptDataError, int64FromStorage, type DataCenter, type Peer, type PeerType, type Session, type TempAuthKey } from '@mtstore/core';

export interface SessionRow {
  id: bigint;
  has_snapshot: unknown;
  version: unknown;
  home_dc_id: unknown;
  api_id: unknown;
  user_id: unknown;
  user_dc_id: unknown;
  user_bot: unknown;
  user_usernames: unknown;
  user_premium: unknown;
  state_pts: unknown;
  state_qts: unknown;
  state_date: unknown;
  state_seq: unknown;
  takeout_id: unknown;
}

export interface DcRow {
  dc_id: unknown;
  ipv4: unknown;
  ipv6: unknown;
  host: unknown;
  port: unknown;
  test_mode: unknown;
  media_only: unknown;
}

/** A row of `<prefix>auth_keys`: slot -1 is the permanent key, n >= 0 a temp key. */
export interface KeyRow {
  dc_id: unknown;
  media_only: unknown;
  slot: unknown;
  auth_key: unknown;
  expires_at: unknown;
}

export interface ChannelRow {
  channel_id: unknown;
  pts: unknown;
}

/**
 * A peer row as read in raw mode (an array: no object with named keys per row): the
 * data columns but `phone` and `min`, then `phone`, then the key when the statement
 * reads it (PEER_COLUMNS), then `min`. A lookup by key leaves the key out (PEER_DATA);
 * the lookups under a known row id leave `min` out (the *_UNLESS_MIN lists), and the
 * lookup by phone leaves the phone out (PEER_BY_PHONE_UNLESS_MIN: it is the key).
 */
export type PeerRow = readonly unknown[];

/** Positions in a PeerRow. */
const ACCESS_HASH = 0;
/** Also the position of the time, NULL for a min peer, in an *_UNLESS_MIN row. */
export const UPDATED_AT = 1;
const DISPLAY_NAME = 2;
const COMPLETE = 3;
const USERNAMES = 4;
const PHONE = 5;
const TYPE = 6;
const ID = 7;
/** `min` in a PEER_DATA row and in a PEER_COLUMNS row: the last column of each. */
const DATA_MIN = 6;
const KEYED_MIN = 8;
/** The key in a PEER_BY_PHONE_UNLESS_MIN row (after the columns PHONE is not among). */
const PHONE_ROW_TYPE = 5;
const PHONE_ROW_ID = 6;

/**
 * The data columns but `phone` and `min`, in PeerRow order (alias `p`), with the time
 * as the lookups under a known row id read it: better-sqlite3 (on Node 20) builds a raw
 * row by setting each element through V8's API, near a thousand instructions a column,
 * and `min` is NULL (absent) in nearly every row: no client bridge stores `false`, and
 * min peers are few. A row whose `min` is not NULL gets NULL at UPDATED_AT instead of
 * its time — never a stored value: `updated_at` is NOT NULL — and is read again whole
 * (PEER_DATA or PEER_COLUMNS). Every other column comes as stored, so a damaged one is
 * rejected as from the whole row.
 */
const DATA_UNLESS_MIN_BUT_PHONE = 'p.access_hash, CASE WHEN p.min IS NULL THEN p.updated_at END, p.display_name, p.complete, p.usernames';
/** The data columns but `min`, in PeerRow order (alias `p`). */
const DATA_BUT_MIN = 'p.access_hash, p.updated_at, p.display_name, p.complete, p.usernames, p.phone';
/** The columns of a PeerRow without its key, in PeerRow order (alias `p`). */
export const PEER_DATA = `${DATA_BUT_MIN}, p.min`;
/** All columns of a PeerRow (alias `p`). */
export const PEER_COLUMNS = `${DATA_BUT_MIN}, p.type, p.id, p.min`;
/** PEER_DATA without `min`, for the lookups under a known row id (the hottest reads): see DATA_UNLESS_MIN_BUT_PHONE. */
export const PEER_DATA_UNLESS_MIN = `${DATA_UNLESS_MIN_BUT_PHONE}, p.phone`;
/** PEER_COLUMNS without `min`, as PEER_DATA_UNLESS_MIN. */
export const PEER_COLUMNS_UNLESS_MIN = `${PEER_DATA_UNLESS_MIN}, p.type, p.id`;
/**
 * PEER_COLUMNS_UNLESS_MIN without `phone`, for the lookup by phone: the row matched the
 * bound phone (a TEXT column compared as bytes), so the phone is the key, and a column
 * less is a V8 element less to set (see DATA_UNLESS_MIN_BUT_PHONE).
 */
export const PEER_BY_PHONE_UNLESS_MIN = `${DATA_UNLESS_MIN_BUT_PHONE}, p.type, p.id`;

export interface SessionRows {
  session: SessionRow;
  dcs: DcRow[];
  keys: KeyRow[];
  channels: ChannelRow[];
}

/**
 * The peer type as stored: an INTEGER code, not its name (schema version 5). The key
 * of `peers` and the owner in `peer_usernames` are then all integers: shorter records
 * in both B-trees and the phone index, and integer comparisons in every key search.
 * The codes follow the names' text order (channel < chat < user), so primary-key
 * order, which `peers.list` pages in, is the order it was while the names were stored.
 */
export const PEER_TYPE_CODE: Readonly<Record<PeerType, number>> = { channel: 0, chat: 1, user: 2 };
/** Code → type (index = code). */
const PEER_TYPES: readonly PeerType[] = ['channel', 'chat', 'user'];
/** How many codes there are, as a bigint made once (not per row). */
const PEER_TYPE_COUNT = BigInt(PEER_TYPES.length);

/**
 * A stored type code → its PeerType. Anything else (a hand edit, or a name a damaged
 * older file held, which migration 5 leaves as it was) is passed on as it is for
 * checkStoredPeer to reject.
 */
export function peerTypeOf(value: unknown): PeerType {
  return (typeof value === 'bigint' && value >= 0n && value < PEER_TYPE_COUNT ? PEER_TYPES[Number(value)] : value) as PeerType;
}

/** A small integer column. Anything that is not an integer is passed on for the checker to reject. */
export function num(value: unknown): number {
  return (typeof value === 'bigint' ? Number(value) : value) as number;
}

/** Nullable 0/1 column: NULL is "absent". Anything else is passed on for the checker to reject. */
function flag(value: unknown): boolean | undefined {
  if (value === null) return undefined;
  if (value === 0n) return false;
  if (value === 1n) return true;
  return value as boolean;
}

/** Model boolean → column value (better-sqlite3 binds no booleans). */
export function bit(value: boolean | undefined): 0 | 1 | null {
  return value === undefined ? null : value ? 1 : 0;
}

/**
 * A BLOB as a plain Uint8Array over the same memory (better-sqlite3 returns a fresh
 * Buffer per read): callers compare values with Uint8Array, not Buffer, semantics.
 */
export function bytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) return value as Uint8Array;
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * A BLOB of this process's better-sqlite3, held for as long as the process runs, so
 * that the hidden class (map) of the Buffers it returns stays alive. better-sqlite3
 * makes each BLOB a Buffer in C++ (a Uint8Array whose prototype is then set to
 * Buffer's), and V8 keeps a map reached that way only while some object has it. Every
 * BLOB read here goes through `bytes`, which keeps the memory and drops the Buffer:
 * once a full collection finds no such Buffer alive, the map dies and V8 throws away
 * the optimized code of each function that checked it (peerFromData and the peer
 * lookups inlining it; `--trace-deopt` reports "weak objects"), which then runs
 * unoptimized until it is compiled again — after every major collection. One constant
 * byte, no stored data (a Buffer of a read key or peer would keep that data alive).
 */
let blobMapHolder: unknown;

/** Holds one Buffer of `db`'s making (see blobMapHolder); once per process. */
export function holdBlobMap(db: Database.Database): void {
  blobMapHolder ??= db.prepare("SELECT x'00'").pluck().get();
}

function dcFromRow(row: DcRow): DataCenter {
  const dc: DataCenter = { id: num(row.dc_id) };
  if (row.ipv4 !== null) dc.ipv4 = row.ipv4 as string;
  if (row.ipv6 !== null) dc.ipv6 = row.ipv6 as string;
  if (row.host !== null) dc.host = row.host as string;
  if (row.port !== null) dc.port = num(row.port);
  const testMode = flag(row.test_mode);
  if (testMode !== undefined) dc.testMode = testMode;
  const mediaOnly = flag(row.media_only);
  if (mediaOnly !== undefined) dc.mediaOnly = mediaOnly;
  return dc;
}

/** `dc_id:media_only` of an address row or key row: which entry a key belongs to. */
function entryOf(dcId: unknown, mediaOnly: boolean): string {
  return `${String(dcId)}:${mediaOnly ? 1 : 0}`;
}

function usernamesFromColumn(value: unknown, where: string): string[] {
  let parsed: unknown;
  try {
    // Stryker disable BlockStatement: equivalent for the catch block (the try block starts on the line above): emptied, parsed stays undefined and the array check below throws the same CorruptDataError
    parsed = JSON.parse(String(value));
  } catch {
    // Stryker restore BlockStatement
    throw new CorruptDataError(`${where}: stored user usernames are not a JSON array`);
  }
  // The array's elements are checked by checkStoredSession.
  if (!Array.isArray(parsed)) throw new CorruptDataError(`${where}: stored user usernames are not a JSON array`);
  return parsed as string[];
}

/**
 * The rows of one session → a Session for `checkStoredSession`. `where` names the
 * session. Keys come ordered by (dc_id, media_only, slot): each goes onto its entry;
 * keys of an entry that has no address row become an address-less entry, appended
 * in that order (DC id, main before media-only).
 */
export function sessionFromRows(rows: SessionRows, where: string): Session {
  const { session: row } = rows;
  const entries = new Map<string, DataCenter>();
  const dcs = rows.dcs.map((dcRow) => {
    const dc = dcFromRow(dcRow);
    entries.set(entryOf(dcRow.dc_id, dc.mediaOnly === true), dc);
    return dc;
  });
  for (const key of rows.keys) {
    const mediaOnly = key.media_only === 1n;
    const id = entryOf(key.dc_id, mediaOnly);
    let dc = entries.get(id);
    if (dc === undefined) {
      dc = { id: num(key.dc_id) };
      if (mediaOnly) dc.mediaOnly = true;
      entries.set(id, dc);
      dcs.push(dc);
    }
    if (key.slot === -1n) {
      dc.authKey = bytes(key.auth_key);
    } else {
      const temp: TempAuthKey = { index: num(key.slot), key: bytes(key.auth_key), expiresAt: num(key.expires_at) };
      (dc.tempAuthKeys ??= []).push(temp);
    }
  }

  const session: Session = {
    version: num(row.version) as 1,
    homeDcId: num(row.home_dc_id),
    dcs,
    channels: rows.channels.map((c) => ({ id: int64FromStorage(c.channel_id, `${where}: channel id`), pts: num(c.pts) })),
  };
  if (row.api_id !== null) session.apiId = num(row.api_id);
  if (row.user_id !== null || row.user_dc_id !== null || row.user_bot !== null || row.user_usernames !== null || row.user_premium !== null) {
    session.user = { id: int64FromStorage(row.user_id, `${where}: user id`), dcId: num(row.user_dc_id), bot: flag(row.user_bot) as boolean };
    if (row.user_usernames !== null) session.user.usernames = usernamesFromColumn(row.user_usernames, where);
    const premium = flag(row.user_premium);
    if (premium !== undefined) session.user.premium = premium;
  }
  if (row.state_pts !== null || row.state_qts !== null || row.state_date !== null || row.state_seq !== null) {
    session.state = { pts: num(row.state_pts), qts: num(row.state_qts), date: num(row.state_date), seq: num(row.state_seq) };
  }
  if (row.takeout_id !== null) session.takeoutId = int64FromStorage(row.takeout_id, `${where}: takeout id`);
  return session;
}

/**
 * The peer row's usernames column; its elements are checked by checkStoredPeer.
 * What upsert writes (a JSON array of names without quotes or backslashes, no
 * spaces) is split by hand (simpleNames); anything else goes through JSON.parse.
 */
function usernamesOf(value: unknown, where: string, type: unknown): string[] {
  // Stryker disable next-line ConditionalExpression: equivalent: without the fast path every column goes through JSON.parse below, which returns the same names
  const names = typeof value === 'string' ? simpleNames(value) : undefined;
  if (names !== undefined) return names;
  let parsed: unknown;
  try {
    // Stryker disable BlockStatement: equivalent for the catch block (the try block starts on the line above): parsed is declared without a value, so it stays undefined either way
    parsed = JSON.parse(value as string);
  } catch {
    // Stryker restore BlockStatement
    parsed = undefined;
  }
  if (!Array.isArray(parsed)) throw new CorruptDataError(`${peerAt(where, type)} usernames are not a JSON array`);
  return parsed as string[];
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BACKSLASH = 0x5c;

/**
 * `text` split as JSON.parse would when it has the shape upsert writes: `[]`, or `["`,
 * names joined by `","`, `"]`, with no backslash anywhere; undefined for any other text
 * (JSON.parse decides). One pass over the characters: the string builtins it replaces
 * (startsWith, endsWith, two includes, split) cost more than the loop per lookup.
 */
function simpleNames(text: string): string[] | undefined {
  const end = text.length - 2; // where the closing `"]` starts
  if (text.charCodeAt(0) !== OPEN || text.charCodeAt(end + 1) !== CLOSE) return undefined;
  if (end === 0) return [];
  if (end < 2 || text.charCodeAt(1) !== QUOTE || text.charCodeAt(end) !== QUOTE) return undefined;
  let names: string[] | undefined;
  let from = 2;
  for (let i = 2; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) return undefined;
    if (c === QUOTE) {
      // A quote inside is only the `","` between two names, and the next name's opening
      // quote is not the closing one (`["a","]` is not JSON).
      if (text.charCodeAt(i + 1) !== COMMA || text.charCodeAt(i + 2) !== QUOTE || i + 2 >= end) return undefined;
      (names ??= []).push(text.slice(from, i));
      from = i + 3;
      i += 2;
    }
  }
  const last = text.slice(from, end);
  // One name (the usual peer): the array literal, no push.
  if (names === undefined) return [last];
  names.push(last);
  return names;
}

/** How messages name a stored peer: built only when one is needed, not per row. */
function peerAt(where: string, type: unknown): string {
  return `${where}: peer ${String(type)}`;
}

/**
 * A 64-bit column: read with safe integers, an INTEGER arrives as a bigint, always in
 * range (SQLite integers are 64-bit). Anything else goes through core's decoder, which
 * names the column in its CorruptDataError.
 */
function int64(value: unknown, where: string, type: unknown, column: string): bigint {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent through the contract: int64FromStorage returns a bigint unchanged, and a value that is not one ends in a CorruptDataError naming the session and peer either way (core's checkStoredPeer rejects a peer whose id or access hash is not a bigint)
  return typeof value === 'bigint' ? value : int64FromStorage(value, `${peerAt(where, type)} ${column}`);
}

/**
 * A row of PEER_COLUMNS (or PEER_COLUMNS_UNLESS_MIN with a time) → a Peer for
 * `checkStoredPeer`. `where` names the session.
 */
export function peerFromRow(row: PeerRow, where: string): Peer {
  const type = peerTypeOf(row[TYPE]);
  return peerOf(row, type, int64(row[ID], where, type, 'id'), row[PHONE], where, KEYED_MIN);
}

/**
 * A row of PEER_BY_PHONE_UNLESS_MIN with a time, found by `phone` → a Peer for
 * `checkStoredPeer`, with that phone (the statement matched the stored one to it).
 */
export function peerFromPhoneRow(row: PeerRow, phone: string, where: string): Peer {
  const type = peerTypeOf(row[PHONE_ROW_TYPE]);
  // No `min` in this row: its position is past the row's end.
  return peerOf(row, type, int64(row[PHONE_ROW_ID], where, type, 'id'), phone, where, row.length);
}

/**
 * A row of PEER_DATA (or PEER_DATA_UNLESS_MIN with a time) read by its key → a Peer
 * with that key: the statement matched the stored type code and id to these (INTEGER
 * columns compare exactly).
 */
export function peerFromData(row: PeerRow, type: PeerType, id: bigint, where: string): Peer {
  return peerOf(row, type, id, row[PHONE], where, DATA_MIN);
}

/** A row → a Peer; `min` is at `minAt`, absent from a row too short to have it (*_UNLESS_MIN: NULL). */
function peerOf(row: PeerRow, type: PeerType, id: bigint, phone: unknown, where: string, minAt: number): Peer {
  const peer: Peer = {
    type,
    id,
    accessHash: int64(row[ACCESS_HASH], where, type, 'access hash'),
    usernames: usernamesOf(row[USERNAMES], where, type),
    updatedAt: num(row[UPDATED_AT]),
  };
  if (phone !== null) peer.phone = phone as string;
  const min = minAt < row.length ? flag(row[minAt]) : undefined;
  if (min !== undefined) peer.min = min;
  const displayName = row[DISPLAY_NAME];
  if (displayName !== null) peer.displayName = displayName as string;
  const complete = row[COMPLETE];
  if (complete !== null) peer.complete = bytes(complete);
  return peer;
}
