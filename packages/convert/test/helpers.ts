import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A ground-truth JSON written beside each fixture by the Python generator. */
export function truth<T = Record<string, unknown>>(relative: string): T {
  return JSON.parse(readFileSync(fixtures + relative, 'utf8')) as T;
}

export function fixtureText(relative: string): string {
  return readFileSync(fixtures + relative, 'utf8').trim();
}

export function hex(bytes: Uint8Array | undefined): string {
  if (bytes === undefined) return '(none)';
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Integers beyond 2^53 are decimal strings in the ground truth. */
export function big(value: unknown): bigint {
  if (typeof value === 'number' || typeof value === 'string') return BigInt(value);
  throw new TypeError(`not an integer: ${String(value)}`);
}

/** The auth key the generator wrote for a seed: key[i] = (i*7 + seed) % 256. */
export function seededKey(seed: number): Uint8Array {
  return Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + seed) % 256);
}
