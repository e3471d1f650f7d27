/**
 * kv entries in `<schema>.kv`, primary key (session, key). One statement per operation;
 * `key` is `COLLATE "C"`, so the primary key index returns entries in JavaScript's order.
 */
import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import { statement, type Database, type Statement } from './connection.js';
import type { LeaseFence } from './lease.js';
import { namedSession } from './statements.js';
import { bytesFromBase64 } from './types.js';

interface KvStatements {
  get: Statement;
  set: Statement;
  delete: Statement;
  entries: Statement;
  clear: Statement;
}

function kvStatements(s: string): KvStatements {
  return {
    get: statement(
      'kv_get',
      `SELECT encode(v.value, 'base64') AS value
         FROM ${s}.sessions s JOIN ${s}.kv v ON v.session_id = s.id
        WHERE s.name = $1 AND v.key = $2`,
    ),
    // One statement, one round trip, also when the name has no row yet (see namedSession).
    set: statement(
      'kv_set',
      `WITH ${namedSession(s)}
       INSERT INTO ${s}.kv (session_id, key, value) SELECT named.id, $2, $3 FROM named
       ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value`,
    ),
    delete: statement('kv_delete', `DELETE FROM ${s}.kv v USING ${s}.sessions s WHERE s.name = $1 AND v.session_id = s.id AND v.key = $2`),
    entries: statement(
      'kv_entries',
      `SELECT v.key, encode(v.value, 'base64') AS value
         FROM ${s}.sessions s JOIN ${s}.kv v ON v.session_id = s.id
        WHERE s.name = $1 ORDER BY v.key`,
    ),
    clear: statement('kv_clear', `DELETE FROM ${s}.kv v USING ${s}.sessions s WHERE s.name = $1 AND v.session_id = s.id`),
  };
}

export class PostgresKeyValues implements KeyValueRepository {
  readonly #db: Database;
  /** Runs the writes: fenced by the lease token while one is held (lease.ts). */
  readonly #fence: LeaseFence;
  readonly #name: string;
  readonly #sql: KvStatements;

  constructor(db: Database, fence: LeaseFence, name: string) {
    this.#db = db;
    this.#fence = fence;
    this.#name = name;
    this.#sql = kvStatements(db.s);
  }

  async get(key: string): Promise<Uint8Array | null> {
    const { rows } = await this.#db.query<{ value: string }>(this.#sql.get, [this.#name, key]);
    const row = rows[0];
    return row === undefined ? null : bytesFromBase64(row.value);
  }

  async set(key: string, value: Uint8Array | null): Promise<void> {
    if (value === null) await this.#fence.query(this.#sql.delete, [this.#name, key]);
    else await this.#fence.query(this.#sql.set, [this.#name, key, value]);
  }

  async entries(): Promise<KeyValueEntry[]> {
    const { rows } = await this.#db.query<{ key: string; value: string }>(this.#sql.entries, [this.#name]);
    return rows.map((row) => ({ key: row.key, value: bytesFromBase64(row.value) }));
  }

  async clear(): Promise<void> {
    await this.#fence.query(this.#sql.clear, [this.#name]);
  }
}
