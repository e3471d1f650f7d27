/**
 * How mtstore reads result columns: int8 as bigint, without touching pg's global
 * type parsers. The parsers are passed per query (`types` in the query config), so
 * an application that set `pg.types.setTypeParser(20, parseInt)` for its own queries
 * on a shared pool keeps its behaviour, and mtstore still reads every 64-bit id exactly.
 */
import type { CustomTypesConfig } from 'pg';

const identity = (value: string): string => value;

/** The column types mtstore's queries return (text format), by type OID. */
const PARSERS: Readonly<Record<number, (value: string) => unknown>> = {
  16: (value) => value === 't', // bool
  20: (value) => BigInt(value), // int8
  21: Number, // int2
  23: Number, // int4
  114: (value) => JSON.parse(value) as unknown, // json
  3802: (value) => JSON.parse(value) as unknown, // jsonb
};

/** Per-query type parsers; unknown types come back as their text form, never through global parsers. */
export const TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number) => PARSERS[oid] ?? identity) as CustomTypesConfig['getTypeParser'],
};

/** The byte length of one-line base64 text (no line breaks), padding taken off. */
export function base64Length(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.max(0, ((text.length * 3) >>> 2) - padding);
}

/**
 * Bytes that a query returned as `encode(column, 'base64')` (text, so the result does
 * not depend on the server's bytea_output setting; base64 rather than hex because Node
 * decodes it about three times faster, 5 µs less per load of a session with five keys,
 * and it is a third shorter on the wire and in load's JSON). PostgreSQL breaks the text
 * into lines of 76 characters; Node's decoder skips the newlines. The array is the
 * caller's own, exactly as long as the bytes, not a view on Node's shared Buffer pool.
 * Anything malformed decodes short, which the length checks downstream report as
 * corrupt data.
 */
export function bytesFromBase64(text: string): Uint8Array {
  let newlines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) newlines++;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const bytes = new Uint8Array(Math.max(0, (((text.length - newlines) * 3) >>> 2) - padding));
  const written = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).write(text, 'base64');
  return written === bytes.length ? bytes : bytes.subarray(0, written);
}
