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
