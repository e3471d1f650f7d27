/** Byte-level helpers shared by the format modules: base64, IP addresses, integers. */
import { authKeyBytes, AUTH_KEY_LENGTH, type AuthKeyBytes } from '@mtstore/core';

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/**
 * Decodes standard or URL-safe base64, padded or not (the libraries differ: Telethon
 * pads URL-safe, GramJS pads standard, Pyrogram and mtcute strip padding). Null when
 * the text is not base64 at all, so callers can say "not this format".
 */
export function decodeBase64(text: string): Uint8Array | null {
  if (!BASE64.test(text)) return null;
  const body = text.replace(/=+$/, '');
  if (body.length % 4 === 1) return null;
  return new Uint8Array(Buffer.from(body, 'base64'));
}

export function encodeBase64(bytes: Uint8Array, variant: 'standard' | 'url' | 'url-unpadded'): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (variant === 'standard') return buffer.toString('base64');
  const url = buffer.toString('base64url');
  return variant === 'url' ? url.padEnd(Math.ceil(url.length / 4) * 4, '=') : url;
}

/** A 256-byte key as a redacted copy: util.inspect, JSON and String() never show it. */
export function keyFrom(bytes: Uint8Array, format: string, field: string): AuthKeyBytes {
  if (bytes.length !== AUTH_KEY_LENGTH) {
    throw new TypeError(`${format}: ${field} is ${bytes.length} bytes, an auth key is ${AUTH_KEY_LENGTH}`);
  }
  return authKeyBytes(bytes);
}

/**
 * An auth key column: its bytes, or null when it holds none (NULL, or an empty blob). A
 * value of another type (hex or base64 text written by some tool) is a damaged row, as a
 * key of the wrong length is: read as "no key" it imported a session that is logged out.
 */
export function keyColumn(value: unknown, format: string, field: string): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (!(value instanceof Uint8Array)) {
    const what = typeof value === 'string' ? 'text' : typeof value === 'bigint' || typeof value === 'number' ? 'a number' : typeof value;
    throw new TypeError(`${format}: ${field} holds ${what}, not the ${AUTH_KEY_LENGTH} bytes of an auth key`);
  }
  return value.length === 0 ? null : new Uint8Array(value);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOST = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

export function isHostName(text: string): boolean {
  return HOST.test(text) && !/^[0-9.]+$/.test(text);
}

/** The 16 bytes of an IPv6 address in any textual form, or null. */
export function parseIpv6(text: string): Uint8Array | null {
  if (!/^[0-9A-Fa-f:]+$/.test(text) || text.length < 2 || text.length > 39) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): string[] | null => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const group = all[i]!;
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return null;
    const value = Number.parseInt(group, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  }
  return out;
}

/** RFC 5952 text of 16 address bytes: lower case, no leading zeros, the longest zero run as `::`. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Canonical text of an IPv6 address, or null when it is not one. */
export function normalizeIpv6(text: string): string | null {
  const bytes = parseIpv6(text);
  return bytes === null ? null : formatIpv6(bytes);
}

/** A SQLite integer column read with safeIntegers: bigint, or null. */
export function int64Column(value: unknown): bigint | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return null;
}

export function toSafeNumber(value: bigint | null, fallback: number): number {
  if (value === null) return fallback;
  return Number(value);
}

/** Bytes as a plain Uint8Array copy (better-sqlite3 hands out Buffers that share a pool). */
export function copyBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  return null;
}
