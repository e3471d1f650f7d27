/**
 * kv entries of one session in `kv` (session_name, kv_key) → value bytes. Each write
 * is one statement: an upsert, or a delete for `null`.
 */
import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import type { Connection, FenceToken, Row } from './connection.js';
import { kvParam } from './keys.js';

// Values go to core as the driver gives them (a Buffer, maybe a view of Node's shared
// pool or of a packet): core copies every kv value that is not a plain Uint8Array over a
// buffer of its own before a caller sees it (docs/contract.md §4).
const firstValue = (rows: Row[]): Uint8Array | null => (rows[0] === undefined ? null : (rows[0].value as Uint8Array));
const nothing = (): void => {};

export class TypeormKeyValues implements KeyValueRepository {
  readonly #db: Connection;
  readonly #name: string;
  readonly #fence: FenceToken;
  readonly #get: string;
  readonly #upsert: string;
  readonly #delete: string;
  readonly #entries: string;
  readonly #clear: string;

  constructor(db: Connection, name: string, fence: FenceToken) {
    const { dialect: d, tables: t } = db.context;
    this.#db = db;
    this.#name = name;
    this.#fence = fence;
    this.#get = d.sql(`SELECT value FROM ${t.kv} WHERE session_name = ? AND kv_key = ?`);
    this.#upsert = d.sql(d.upsert(`INSERT INTO ${t.kv} (session_name, kv_key, value)`, '(?, ?, ?)', ['session_name', 'kv_key'], ['value']));
    this.#delete = d.sql(`DELETE FROM ${t.kv} WHERE session_name = ? AND kv_key = ?`);
    this.#entries = d.sql(`SELECT kv_key, value FROM ${t.kv} WHERE session_name = ?`);
    this.#clear = d.sql(`DELETE FROM ${t.kv} WHERE session_name = ?`);
  }

  /** One write statement, checked against the held lease token if any (connection.ts). */
  #write(sql: string, params: readonly unknown[]): Promise<number> {
    return this.#db.write(sql, params, this.#fence(), this.#name);
  }

  // get and set are not async functions: bridges call them per message, and an async
  // frame adds its own promise to the connection's (connection.ts, `query`).
  get(key: string): Promise<Uint8Array | null> {
    return this.#db.query(this.#get, [this.#name, key]).then(firstValue);
  }

  set(key: string, value: Uint8Array | null): Promise<void> {
    return (value === null ? this.#write(this.#delete, [this.#name, key]) : this.#write(this.#upsert, [this.#name, key, kvParam(value)])).then(nothing);
  }

  async entries(): Promise<KeyValueEntry[]> {
    const rows = await this.#db.query(this.#entries, [this.#name]);
    // Sorted here, not by ORDER BY: the collation of a postgres text column need not be
    // byte order; keys are ASCII, so JavaScript's order is byte order.
    return rows.map((row) => ({ key: String(row.kv_key), value: row.value as Uint8Array })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async clear(): Promise<void> {
    await this.#write(this.#clear, [this.#name]);
  }
}

/** A Buffer view of the bytes (no copy): every driver binds a Buffer as binary. */
export function bytes(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
