import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
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

/** Rows of `sql` on an SQLite file opened read-only, as arrays, integers as bigints (a 64-bit id or hash stays exact). */
export function sqliteRows(path: string, sql: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    db.defaultSafeIntegers(true);
    return db.prepare(sql).raw().all();
  } finally {
    db.close();
  }
}

/**
 * An SQLite file's layout as SQLite reports it: sqlite_master, every table's columns
 * (name, declared type, not null, default, primary key) and indexes, the `version` table's
 * rows and user_version — what a file a writer made must share with the client's own.
 */
export function sqliteShape(path: string): unknown {
  const tables = sqliteRows(path, "select name from sqlite_master where type = 'table' order by name").map((r) => (r as [string])[0]);
  return {
    master: sqliteRows(path, 'select type, name, tbl_name, sql from sqlite_master order by name'),
    columns: Object.fromEntries(tables.map((t) => [t, sqliteRows(path, `select name, type, "notnull", dflt_value, pk from pragma_table_info('${t}')`)])),
    indexes: Object.fromEntries(tables.map((t) => [t, sqliteRows(path, `select name, "unique", origin from pragma_index_list('${t}') order by name`)])),
    version: sqliteRows(path, 'select * from version'),
    userVersion: sqliteRows(path, 'pragma user_version'),
  };
}
