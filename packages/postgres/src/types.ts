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

/**
 * Bytes that a query returned as `encode(column, 'hex')` (text, so the result does not
 * depend on the server's bytea_output setting). The array is the caller's own, not a
 * view on Node's shared Buffer pool. Anything malformed decodes short, which the
 * length checks downstream report as corrupt data.
 */
export function bytesFromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length >>> 1);
  const written = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).write(hex, 'hex');
  return written === bytes.length ? bytes : bytes.subarray(0, written);
}
