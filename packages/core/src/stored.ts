/**
 * Decoding what adapters read back. Adapters turn rows/documents/hashes into the
 * model; these helpers check the result once, in one place, so a hand-edited or
 * truncated row becomes a CorruptDataError naming the session instead of a crash or
 * a silently wrong value.
 */
import { CorruptDataError, InvalidArgumentError } from './errors.js';
import type { DataCenter, Peer, Session, TempAuthKey } from './model.js';
import { AUTH_KEY_LENGTH, INT64_MAX, INT64_MIN, assertPeer, assertSession, isPeer } from './validate.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * The bytes of an auth key read from storage. A plain Uint8Array for every purpose
 * (compare, copy, `Buffer.from(key)`), except that `util.inspect`, `console.log` and
 * `JSON.stringify` and string conversion print a placeholder instead of the secret.
 * Arrays derived from it (`slice`, `subarray`) stay redacted.
 */
export class AuthKeyBytes extends Uint8Array {
  [INSPECT](): string {
    return `AuthKeyBytes(${this.length}) [redacted]`;
  }

  toJSON(): string {
    return `[redacted auth key: ${this.length} bytes]`;
  }

  override toString(): string {
    return `[redacted auth key: ${this.length} bytes]`;
  }

  override toLocaleString(): string {
    return this.toString();
  }
}

/** Copies key bytes out of a driver buffer (which may be a view on a shared pool). */
export function authKeyBytes(bytes: Uint8Array): AuthKeyBytes {
  const key = new AuthKeyBytes(bytes.length);
  key.set(bytes);
  return key;
}

/**
 * Replaces every key of a checked session with AuthKeyBytes copies, all views on
 * one buffer: a typed-array allocation costs far more than copying 256 bytes.
 * With `keepFresh`, keys that already are AuthKeyBytes stay as they are: the adapter
 * made them for this read (see `BaseStorage.sessionKeysFresh`), so nobody else holds them.
 * So do the keys in `opened` (AuthKeyBytes load opened from their sealed form for this read).
 */
function redactKeys(session: Session, keepFresh: boolean, opened: readonly Uint8Array[] | undefined): void {
  const copied = (key: Uint8Array): boolean => !(key instanceof AuthKeyBytes && (keepFresh || (opened !== undefined && opened.includes(key))));
  let count = 0;
  for (const dc of session.dcs) {
    if (dc.authKey !== undefined && copied(dc.authKey)) count++;
    if (dc.tempAuthKeys !== undefined) for (const temp of dc.tempAuthKeys) if (copied(temp.key)) count++;
  }
  if (count === 0) return;
  const buffer = new ArrayBuffer(count * AUTH_KEY_LENGTH);
  let offset = 0;
  const copy = (bytes: Uint8Array): AuthKeyBytes => {
    if (!copied(bytes)) return bytes as AuthKeyBytes;
    const key = new AuthKeyBytes(buffer, offset, AUTH_KEY_LENGTH);
    key.set(bytes);
    offset += AUTH_KEY_LENGTH;
    return key;
  };
  for (const dc of session.dcs) {
    if (dc.authKey !== undefined) dc.authKey = copy(dc.authKey);
    if (dc.tempAuthKeys !== undefined) for (const temp of dc.tempAuthKeys) temp.key = copy(temp.key);
  }
}

/** Anything a driver may hand back for a 64-bit integer column. */
export type StoredInt64 = bigint | number | string | { toBigInt(): bigint } | { toString(): string };

/**
 * Names what a stored-data check is reading, for its CorruptDataError. A function is
 * called only when the check fails: per-row labels (a JSON-quoted key, a template)
 * cost more than the check itself, and a good row needs none.
 */
export type StoredLabel = string | (() => string);

/** The text of a StoredLabel: only on the failure path. */
function storedLabel(where: StoredLabel): string {
  return typeof where === 'string' ? where : where();
}

/**
 * Decodes a 64-bit id read from storage: bigint, safe-integer number, decimal
 * string (TypeORM, Redis) or a BSON Long. Anything else is CorruptDataError.
 */
export function int64FromStorage(value: unknown, where: StoredLabel): bigint {
  let result: bigint | undefined;
  if (typeof value === 'bigint') result = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) result = BigInt(value);
  else if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) result = BigInt(value);
  else if (typeof value === 'object' && value !== null && typeof (value as { toBigInt?: unknown }).toBigInt === 'function') {
    result = (value as { toBigInt(): bigint }).toBigInt();
  }
  if (result === undefined || result < INT64_MIN || result > INT64_MAX) {
    throw new CorruptDataError(`${storedLabel(where)} is not a 64-bit integer (${describeStored(value)})`);
  }
  return result;
}

function describeStored(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'string') return `string of ${value.length} chars`;
  return typeof value;
}

/**
 * Checks a session an adapter decoded and returns it with every key copied into
 * AuthKeyBytes (with `keepFresh`, keys already in AuthKeyBytes are kept: see
 * redactKeys). Throws CorruptDataError naming the session and the bad field.
 */
export function checkStoredSession(session: Session, where: string, keepFresh = false, opened?: readonly Uint8Array[]): Session {
  // Key length is the most likely corruption (a truncated blob); say so plainly.
  // Runs on every load: plain loops, no arrays built for a good session.
  const dcs: unknown = session.dcs;
  if (Array.isArray(dcs)) {
    for (const dc of dcs as (DataCenter | undefined)[]) {
      checkStoredKey(dc?.authKey, dc, where);
      const temps: unknown = dc?.tempAuthKeys;
      if (Array.isArray(temps)) for (const temp of temps as (TempAuthKey | undefined)[]) checkStoredKey(temp?.key, dc, where);
    }
  }
  try {
    assertSession(session, 'session');
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new CorruptDataError(`${where}: stored ${error.message}`);
    throw error;
  }
  redactKeys(session, keepFresh, opened);
  return session;
}

function checkStoredKey(key: unknown, dc: DataCenter | undefined, where: string): void {
  if (key !== undefined && (!(key instanceof Uint8Array) || key.length !== AUTH_KEY_LENGTH)) {
    const size = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new CorruptDataError(`${where}: stored auth key for DC ${String(dc?.id)} is ${size}, expected ${AUTH_KEY_LENGTH} bytes`);
  }
}

/** Checks a peer an adapter decoded. Throws CorruptDataError naming the session and peer. */
export function checkStoredPeer(peer: Peer, where: string): Peer {
  // The common case, a good row, builds no label strings.
  if (isPeer(peer)) return peer;
  try {
    assertPeer(peer, 'peer');
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new CorruptDataError(`${where}: stored ${error.message}`);
    throw error;
  }
  return peer;
}
