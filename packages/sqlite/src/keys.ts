/**
 * Auth keys of one session: one row per key in `<prefix>auth_keys` (slot -1 the
 * permanent key, n >= 0 the temp key of connection slot n; the address and the expiry),
 * its bytes and lease token in `<prefix>auth_key_bytes` under the same id (schema 9:
 * the rewrite of a stored key rewrites a three-column row), apart from the address rows
 * of the snapshot. Two writers of different keys of a session never touch each other's
 * rows. A key write goes by the session's name (under a lease, inside the fence: lease.ts)
 * and creates the name's row only the first time; the rewrite of a stored permanent key
 * (every connect) reaches its bytes by the key row's own id, kept per DC once read.
 */
import type Database from 'better-sqlite3';
import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import { bytes, num, type KeyRow } from './rows.js';
import type { Tables } from './schema.js';
import { bindable, FencedStatement, leaseFenced } from './lease.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements, type Statement } from './statements.js';

/** `authKeys.*` addresses the main entry of a DC id (media_only = 0). */
const PERMANENT = -1;

interface KeyStatements {
  get: Statement;
  keyId: Statement;
  rewrite: FencedStatement;
  /**
   * The key row of (session id, DC id, slot) with this expiry, created when absent: its id
   * (DO UPDATE, of the expiry, unchanged for a permanent key: RETURNING then gives the id
   * of a stored row as well).
   */
  address: Statement;
  /** The bytes of key row `id`, with the lease token the fence just matched (NULL: none). */
  bytes: Statement;
  remove: FencedStatement;
  removeByDc: FencedStatement;
  entries: Statement;
  clear: FencedStatement;
}

export function prepareKeys(db: Database.Database, t: Tables): KeyStatements {
  const { read, write, value } = statements(db);
  const fenced = (sql: (fence: string) => string): FencedStatement => leaseFenced(db, t, sql);
  const keyBytes = `${t.authKeyBytes} b ON b.id = k.id`;
  return {
    get: read(`SELECT b.auth_key, k.expires_at FROM ${t.authKeys} k JOIN ${keyBytes}
      WHERE k.session_id = ${sessionOf(t)} AND k.dc_id = ? AND k.media_only = 0 AND k.slot = ?`),
    // The id of the permanent key row of (session id, DC id): a search of the unique index alone.
    keyId: value(`SELECT id FROM ${t.authKeys} WHERE session_id = ? AND dc_id = ? AND media_only = 0 AND slot = ${PERMANENT}`),
    // The permanent key of a DC that has one, by its row's id (key, id): a client writes its
    // key on every connect, nearly always over a stored one. One integer seek of the narrow
    // bytes table and two bound values, where the upsert searches the unique index and
    // writes two tables in a transaction. The address row, expiry included (NULL for every
    // permanent key), stays as it is. Under a lease the fence is the row's own lease_token
    // (kept equal to the stored lease token, lease.ts `leaseTokenTriggers`): one more
    // integer compared in the row the seek reached, where the fence's transaction reads
    // the lease row first.
    rewrite: new FencedStatement(db, `UPDATE ${t.authKeyBytes} SET auth_key = ? WHERE id = ?`, `UPDATE ${t.authKeyBytes} SET auth_key = ? WHERE id = ? AND lease_token = ?`, false),
    address: value(`INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, expires_at) VALUES (?, ?, 0, ?, ?)
      ON CONFLICT (session_id, dc_id, media_only, slot) DO UPDATE SET expires_at = excluded.expires_at RETURNING id`),
    // A write without a lease (token NULL) leaves a stored lease_token as it is: a row's token
    // is one the lease had (see rewrite); a new row's is NULL.
    bytes: write(`INSERT INTO ${t.authKeyBytes} (id, lease_token, auth_key) VALUES (?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET auth_key = excluded.auth_key, lease_token = coalesce(excluded.lease_token, lease_token)`),
    // The bytes rows go with their key rows (schema 9's delete trigger).
    remove: fenced((fence) => `DELETE FROM ${t.authKeys} WHERE session_id = ${sessionOf(t)} AND dc_id = ? AND media_only = 0 AND slot = ?${fence}`),
    removeByDc: fenced((fence) => `DELETE FROM ${t.authKeys} WHERE session_id = ${sessionOf(t)} AND dc_id = ?${fence}`),
    // The unique address's order: by DC id, main before media-only, the permanent key (slot -1) first.
    entries: read(`SELECT k.dc_id, k.media_only, k.slot, b.auth_key, k.expires_at FROM ${t.authKeys} k JOIN ${keyBytes}
      WHERE k.session_id = ${sessionOf(t)} ORDER BY k.dc_id, k.media_only, k.slot`),
    clear: fenced((fence) => `DELETE FROM ${t.authKeys} WHERE session_id = ${sessionOf(t)}${fence}`),
  };
}

type UpsertKey = (dcId: number, slot: number, expiresAt: number | null, key: Uint8Array, token: bigint | null) => bigint;

export class SqliteAuthKeys implements AuthKeyRepository {
  #sql: KeyStatements | undefined;
  /** address, then bytes, in one transaction (DC id, slot, expiry, key, token) → the key row's id. */
  #upsert: Database.Transaction<UpsertKey> | undefined;
  /**
   * The id of each DC's permanent key row as last read or written (see #keyId), as the
   * rewrite binds it (`bindable`), at the DC id's index (1 to MAX_DC_ID: core checks it
   * first): an element load where a Map hashed the id on every write (~45 instructions).
   */
  readonly #ids: Array<bigint | number | undefined> = [];

  constructor(private readonly scope: SessionScope) {}

  #statements(): KeyStatements {
    this.scope.connection.live();
    return (this.#sql ??= prepareKeys(this.scope.db(), this.scope.tables));
  }

  #upsertKey(): Database.Transaction<UpsertKey> {
    const sql = this.#statements();
    return (this.#upsert ??= this.scope.db().transaction((dcId, slot, expiresAt, key, token) => {
      // The name's row found or created inside the transaction: a concurrent delete() cannot come between.
      const id = sql.address.get(this.scope.id(), dcId, slot, expiresAt) as bigint;
      sql.bytes.run(id, token, key);
      return id;
    }));
  }

  // get and set answer synchronously (better-sqlite3 is): core then awaits nothing, so
  // mtcute's key write on every connect costs no promise of ours and no extra tick.
  get(dcId: number): Uint8Array | null {
    const row = this.#statements().get.get(this.scope.name, dcId, PERMANENT) as { auth_key: unknown } | undefined;
    return row === undefined ? null : bytes(row.auth_key);
  }

  set(dcId: number, key: Uint8Array | null): void {
    // A stored key is rewritten in place by its row's id (a stale id finds no row, see
    // #keyId); otherwise (no key yet, no name yet, or the fence refused) the upsert path
    // decides, as for any other key.
    if (key !== null) {
      const id = this.#ids[dcId] ?? this.#keyId(dcId);
      if (id !== undefined) {
        // A kept id means the statements are prepared (#keyId and #write prepared them).
        // The connection's live() check runs when the statement throws, not before every
        // rewrite: a Database the application closed refuses the statement before it does
        // anything ("The database connection is not open"), and live() then throws the
        // error that says so. Written out here, no method of its own: TurboFan inlines the
        // whole write (bridge, core, this, the statement's run2) within its bytecode budget.
        try {
          if (this.scope.attempt2((this.#sql as KeyStatements).rewrite, key, id)) return;
        } catch (error) {
          this.scope.connection.live();
          throw error;
        }
      }
    }
    this.#write(dcId, PERMANENT, key, null);
  }

  /**
   * The id of the DC's permanent key row, read (and kept) when the session's row id is
   * known; undefined when there is no such row. A kept id may be stale — another instance
   * or process deleted the key, or the session, and wrote it again under a new id — and
   * that is safe without a check: ids are AUTOINCREMENT on an explicit INTEGER PRIMARY KEY
   * (never given out again, not even by VACUUM), no statement changes a row's address
   * columns, and a bytes row exists only while the key row of its id does (schema 9), so
   * a bytes row under id X is always this DC's permanent key of this session; a rewrite by
   * a stale id changes nothing and goes the upsert path. Only ids of committed
   * rows are kept: inside a transaction (a borrowed database the application has one open
   * on) the row may roll back, and AUTOINCREMENT's counter with it, so its id could later
   * name another row.
   */
  #keyId(dcId: number): bigint | number | undefined {
    if (this.scope.db().inTransaction) return undefined;
    const session = this.scope.knownId();
    if (session === undefined) return undefined;
    const id = this.#statements().keyId.get(session, dcId) as bigint | undefined;
    // No key under that session id: none yet for the DC, or the session id is stale (resolved again next time).
    if (id === undefined) {
      this.scope.rowId = undefined;
      return undefined;
    }
    const bound = bindable(id);
    this.#ids[dcId] = bound;
    return bound;
  }

  async getTemp(dcId: number, index: number): Promise<TempAuthKey | null> {
    const row = this.#statements().get.get(this.scope.name, dcId, index) as { auth_key: unknown; expires_at: unknown } | undefined;
    return row === undefined ? null : { index, key: bytes(row.auth_key), expiresAt: num(row.expires_at) };
  }

  async setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void> {
    this.#write(dcId, index, temp?.key ?? null, temp?.expiresAt ?? null);
  }

  async deleteByDc(dcId: number): Promise<void> {
    this.scope.change(this.#statements().removeByDc, this.scope.name, dcId);
  }

  /** One statement: rows come in entry order, so grouping them is one pass. */
  async entries(): Promise<AuthKeyEntry[]> {
    const entries: AuthKeyEntry[] = [];
    let entry: AuthKeyEntry | undefined;
    for (const row of this.#statements().entries.all(this.scope.name) as KeyRow[]) {
      const dcId = num(row.dc_id);
      const mediaOnly = row.media_only === 1n;
      if (entry === undefined || entry.dcId !== dcId || entry.mediaOnly !== mediaOnly) entries.push((entry = { dcId, mediaOnly, tempAuthKeys: [] }));
      if (row.slot === -1n) entry.authKey = bytes(row.auth_key);
      else entry.tempAuthKeys.push({ index: num(row.slot), key: bytes(row.auth_key), expiresAt: num(row.expires_at) });
    }
    return entries;
  }

  async clear(): Promise<void> {
    this.scope.change(this.#statements().clear, this.scope.name);
  }

  /**
   * Writes (key) or deletes (null) the key of a slot. A write is two statements, so one
   * transaction (under a lease, the fence's, which checks the token first: lease.ts); it
   * finds or creates the name's row in it. A permanent key's row id is kept for the
   * rewrite once the transaction has committed (see #keyId).
   */
  #write(dcId: number, slot: number, key: Uint8Array | null, expiresAt: number | null): void {
    const sql = this.#statements();
    if (key === null) {
      this.scope.change(sql.remove, this.scope.name, dcId, slot);
      return;
    }
    // A kept id whose rewrite found no row (or the fence refused it) is resolved again next time.
    if (slot === PERMANENT) this.#ids[dcId] = undefined;
    const upsert = this.#upsertKey();
    const id = this.scope.write((token) => upsert.immediate(dcId, slot, expiresAt, key, token ?? null));
    if (slot === PERMANENT && !this.scope.db().inTransaction) this.#ids[dcId] = bindable(id);
  }
}
