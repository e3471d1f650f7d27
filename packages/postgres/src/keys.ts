/**
 * Auth keys in `<schema>.auth_keys`, one row per key: (session, DC id, main or
 * media-only entry, slot), slot -1 being the permanent key and 0 and up the temp key
 * slots. Each operation is one statement, so concurrent writers of different keys of
 * one session never touch each other's rows, and a write never rewrites the session.
 */
import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import { statement, type Database, type Statement } from './connection.js';
import type { LeaseFence } from './lease.js';
import { namedSession } from './statements.js';
import { bytesFromBase64 } from './types.js';

/** The slot of the permanent key: temp key slots are non-negative. */
export const PERMANENT_SLOT = -1;

interface KeyStatements {
  get: Statement;
  set: Statement;
  delete: Statement;
  deleteByDc: Statement;
  entries: Statement;
  clear: Statement;
}

function keyStatements(s: string): KeyStatements {
  // authKeys.* address the main entry (media_only false); only deleteByDc reaches media-only ones.
  return {
    get: statement(
      'key_get',
      `SELECT encode(k.key, 'base64') AS key, k.expires_at
         FROM ${s}.sessions s JOIN ${s}.auth_keys k ON k.session_id = s.id
        WHERE s.name = $1 AND k.dc_id = $2 AND NOT k.media_only AND k.slot = $3`,
    ),
    // One statement, one round trip, also when the name has no row yet (see namedSession).
    set: statement(
      'key_set',
      `WITH ${namedSession(s)}
       INSERT INTO ${s}.auth_keys (session_id, dc_id, media_only, slot, key, expires_at)
       SELECT named.id, $2, false, $3, $4, $5 FROM named
       ON CONFLICT (session_id, dc_id, media_only, slot) DO UPDATE SET key = excluded.key, expires_at = excluded.expires_at`,
    ),
    delete: statement(
      'key_delete',
      `DELETE FROM ${s}.auth_keys k USING ${s}.sessions s
        WHERE s.name = $1 AND k.session_id = s.id AND k.dc_id = $2 AND NOT k.media_only AND k.slot = $3`,
    ),
    deleteByDc: statement(
      'key_delete_by_dc',
      `DELETE FROM ${s}.auth_keys k USING ${s}.sessions s WHERE s.name = $1 AND k.session_id = s.id AND k.dc_id = $2`,
    ),
    // Primary-key order: by DC id, main before media-only, the permanent key (slot -1) first.
    entries: statement(
      'key_entries',
      `SELECT k.dc_id, k.media_only, k.slot, encode(k.key, 'base64') AS key, k.expires_at
         FROM ${s}.sessions s JOIN ${s}.auth_keys k ON k.session_id = s.id
        WHERE s.name = $1
        ORDER BY k.dc_id, k.media_only, k.slot`,
    ),
    clear: statement('key_clear', `DELETE FROM ${s}.auth_keys k USING ${s}.sessions s WHERE s.name = $1 AND k.session_id = s.id`),
  };
}

interface KeyRow {
  key: string;
  expires_at: bigint | null;
}

export class PostgresAuthKeys implements AuthKeyRepository {
  readonly #db: Database;
  /** Runs the writes: fenced by the lease token while one is held (lease.ts). */
  readonly #fence: LeaseFence;
  readonly #name: string;
  readonly #sql: KeyStatements;

  constructor(db: Database, fence: LeaseFence, name: string) {
    this.#db = db;
    this.#fence = fence;
    this.#name = name;
    this.#sql = keyStatements(db.s);
  }

  async #row(dcId: number, slot: number): Promise<KeyRow | undefined> {
    const { rows } = await this.#db.query<KeyRow>(this.#sql.get, [this.#name, dcId, slot]);
    return rows[0];
  }

  async get(dcId: number): Promise<Uint8Array | null> {
    const row = await this.#row(dcId, PERMANENT_SLOT);
    return row === undefined ? null : bytesFromBase64(row.key);
  }

  async set(dcId: number, key: Uint8Array | null): Promise<void> {
    if (key === null) await this.#fence.query(this.#sql.delete, [this.#name, dcId, PERMANENT_SLOT]);
    else await this.#fence.query(this.#sql.set, [this.#name, dcId, PERMANENT_SLOT, key, null]);
  }

  async getTemp(dcId: number, index: number): Promise<TempAuthKey | null> {
    const row = await this.#row(dcId, index);
    // expires_at is at most 2^32 - 1 when written; core checks what comes back.
    return row === undefined ? null : { index, key: bytesFromBase64(row.key), expiresAt: Number(row.expires_at) };
  }

  async setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void> {
    if (temp === null) await this.#fence.query(this.#sql.delete, [this.#name, dcId, index]);
    else await this.#fence.query(this.#sql.set, [this.#name, dcId, index, temp.key, temp.expiresAt]);
  }

  async deleteByDc(dcId: number): Promise<void> {
    await this.#fence.query(this.#sql.deleteByDc, [this.#name, dcId]);
  }

  /** One statement: rows come in entry order, so grouping them is one pass. */
  async entries(): Promise<AuthKeyEntry[]> {
    const { rows } = await this.#db.query<KeyRow & { dc_id: number; media_only: boolean; slot: number }>(this.#sql.entries, [this.#name]);
    const entries: AuthKeyEntry[] = [];
    let entry: AuthKeyEntry | undefined;
    for (const row of rows) {
      if (entry === undefined || entry.dcId !== row.dc_id || entry.mediaOnly !== row.media_only) entries.push((entry = { dcId: row.dc_id, mediaOnly: row.media_only, tempAuthKeys: [] }));
      if (row.slot === PERMANENT_SLOT) entry.authKey = bytesFromBase64(row.key);
      else entry.tempAuthKeys.push({ index: row.slot, key: bytesFromBase64(row.key), expiresAt: Number(row.expires_at) });
    }
    return entries;
  }

  async clear(): Promise<void> {
    await this.#fence.query(this.#sql.clear, [this.#name]);
  }
}
