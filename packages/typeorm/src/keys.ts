/**
 * Auth keys as bound parameters. TypeORM's query logging (`logging: true`, or
 * `['query']`, `['error']`) prints every statement's parameters: through
 * JSON.stringify, or — when that fails on a bigint, as it does for ours — through
 * String(). A key passed as a plain Buffer would end up in the application's logs.
 *
 * So a key (and a kv value, secret too: docs/contract.md §4) is bound as a Buffer
 * view (no copy) whose JSON, inspect and default String() forms are a placeholder.
 * Drivers still read the bytes: pg and better-sqlite3 take any Buffer/Uint8Array as
 * binary, mysql2 calls `toString('hex')`, which is kept.
 */
import { inspect } from 'node:util';
import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import type { Connection, FenceToken } from './connection.js';
import { num } from './rows.js';
import { PERMANENT_SLOT } from './tables.js';

/** A Buffer prototype whose JSON, inspect and default String() forms are `placeholder`. */
function redactedPrototype(placeholder: string): object {
  return Object.create(Buffer.prototype, {
    toJSON: { value: () => placeholder },
    toString: {
      value(this: Buffer, ...args: Parameters<Buffer['toString']>): string {
        return args[0] === undefined ? placeholder : Buffer.prototype.toString.apply(this, args);
      },
    },
    toLocaleString: { value: () => placeholder },
    [inspect.custom]: { value: () => placeholder },
  });
}

const redactedKey = redactedPrototype('[redacted auth key]');
// kv values are secrets too (docs/contract.md §4): mtcute keeps its future server salts
// there, and without `encryption` they are bound as they are.
const redactedKv = redactedPrototype('[redacted kv value]');

function redacted(bytes: Uint8Array, prototype: object): Buffer {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  Object.setPrototypeOf(buffer, prototype);
  return buffer;
}

/** A key or kv value bound by keyParam / kvParam (mysql-execute.ts sends their statements as prepared ones). */
export function isRedactedParam(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === redactedKey || prototype === redactedKv;
}

/** The key's bytes for a statement, safe to log. */
export function keyParam(key: Uint8Array): Buffer {
  return redacted(key, redactedKey);
}

/** A kv value's bytes for a statement, safe to log. */
export function kvParam(value: Uint8Array): Buffer {
  return redacted(value, redactedKv);
}

/**
 * Auth keys of one session in `auth_keys`, one row per key: (dc id, media-only 0/1,
 * slot) where slot -1 is the permanent key and a temp key's slot is its index. Each
 * write is one statement (an upsert or a delete) committed on its own: writers of
 * different keys never touch each other's rows, and no snapshot row is needed.
 */
export class TypeormAuthKeys implements AuthKeyRepository {
  readonly #db: Connection;
  readonly #name: string;
  readonly #fence: FenceToken;
  readonly #get: string;
  readonly #upsert: string;
  readonly #delete: string;
  readonly #deleteByDc: string;
  readonly #entries: string;
  readonly #clear: string;

  constructor(db: Connection, name: string, fence: FenceToken) {
    const { dialect: d, tables: t } = db.context;
    this.#db = db;
    this.#name = name;
    this.#fence = fence;
    // The repository addresses the main entry (media_only = 0).
    const key = 'session_name = ? AND dc_id = ? AND media_only = 0 AND slot = ?';
    this.#get = d.sql(`SELECT auth_key, ${d.text('expires_at')} AS expires_at FROM ${t.authKeys} WHERE ${key}`);
    this.#upsert = d.sql(
      d.upsert(`INSERT INTO ${t.authKeys} (session_name, dc_id, media_only, slot, auth_key, expires_at)`, '(?, ?, 0, ?, ?, ?)', KEY_COLUMNS, ['auth_key', 'expires_at']),
    );
    this.#delete = d.sql(`DELETE FROM ${t.authKeys} WHERE ${key}`);
    this.#deleteByDc = d.sql(`DELETE FROM ${t.authKeys} WHERE session_name = ? AND dc_id = ?`);
    // Primary-key order: by DC id, main before media-only, the permanent key (slot -1) first.
    this.#entries = d.sql(
      `SELECT dc_id, media_only, slot, auth_key, ${d.text('expires_at')} AS expires_at FROM ${t.authKeys} WHERE session_name = ? ORDER BY dc_id, media_only, slot`,
    );
    this.#clear = d.sql(`DELETE FROM ${t.authKeys} WHERE session_name = ?`);
  }

  /** One write statement, checked against the held lease token if any (connection.ts). */
  #write(sql: string, params: readonly unknown[]): Promise<number> {
    return this.#db.write(sql, params, this.#fence(), this.#name);
  }

  async get(dcId: number): Promise<Uint8Array | null> {
    const row = (await this.#db.query(this.#get, [this.#name, dcId, PERMANENT_SLOT]))[0];
    return row === undefined ? null : (row.auth_key as Uint8Array);
  }

  async set(dcId: number, key: Uint8Array | null): Promise<void> {
    if (key === null) await this.#write(this.#delete, [this.#name, dcId, PERMANENT_SLOT]);
    else await this.#write(this.#upsert, [this.#name, dcId, PERMANENT_SLOT, keyParam(key), null]);
  }

  async getTemp(dcId: number, index: number): Promise<TempAuthKey | null> {
    const row = (await this.#db.query(this.#get, [this.#name, dcId, index]))[0];
    return row === undefined ? null : { index, key: row.auth_key as Uint8Array, expiresAt: num(row.expires_at) };
  }

  async setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void> {
    if (temp === null) await this.#write(this.#delete, [this.#name, dcId, index]);
    else await this.#write(this.#upsert, [this.#name, dcId, index, keyParam(temp.key), temp.expiresAt]);
  }

  async deleteByDc(dcId: number): Promise<void> {
    await this.#write(this.#deleteByDc, [this.#name, dcId]);
  }

  /** One statement: rows come in entry order, so grouping them is one pass. */
  async entries(): Promise<AuthKeyEntry[]> {
    const entries: AuthKeyEntry[] = [];
    let entry: AuthKeyEntry | undefined;
    for (const row of await this.#db.query(this.#entries, [this.#name])) {
      const dcId = num(row.dc_id);
      const mediaOnly = num(row.media_only) === 1;
      if (entry === undefined || entry.dcId !== dcId || entry.mediaOnly !== mediaOnly) entries.push((entry = { dcId, mediaOnly, tempAuthKeys: [] }));
      const slot = num(row.slot);
      if (slot === PERMANENT_SLOT) entry.authKey = row.auth_key as Uint8Array;
      else entry.tempAuthKeys.push({ index: slot, key: row.auth_key as Uint8Array, expiresAt: num(row.expires_at) });
    }
    return entries;
  }

  async clear(): Promise<void> {
    await this.#write(this.#clear, [this.#name]);
  }
}

const KEY_COLUMNS = ['session_name', 'dc_id', 'media_only', 'slot'];
