/**
 * Auth keys of one session: one row per key in `<prefix>auth_keys` (slot -1 the
 * permanent key, n >= 0 the temp key of connection slot n), apart from the address
 * rows. Each operation is one statement on one row, so two writers of different
 * keys of a session never touch each other's rows; a write reaches the session by
 * name inside the statement (under a lease, checks the lease there too: lease.ts) and
 * creates the name's row only the first time; the rewrite of a stored permanent key
 * (every connect) reaches it by the key row's own id, kept per DC once read.
 */
import type Database from 'better-sqlite3';
import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import { bytes, num, type KeyRow } from './rows.js';
import type { Tables } from './schema.js';
import { FencedStatement, leaseFenced, leaseTable } from './lease.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements, type Statement } from './statements.js';

/** `authKeys.*` addresses the main entry of a DC id (media_only = 0). */
const PERMANENT = -1;

interface KeyStatements {
  get: Statement;
  keyId: Statement;
  rewrite: FencedStatement;
  set: FencedStatement;
  remove: FencedStatement;
  removeByDc: FencedStatement;
  entries: Statement;
  clear: FencedStatement;
}

export function prepareKeys(db: Database.Database, t: Tables, tablePrefix: string): KeyStatements {
  const { read, value } = statements(db);
  const write = (sql: (fence: string) => string): FencedStatement => leaseFenced(db, tablePrefix, sql);
  const leases = leaseTable(tablePrefix);
  const address = '(session_id, dc_id, media_only, slot)';
  const upsert = (columns: string, values: string, from: string, also = ''): string => `INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, auth_key, expires_at${columns})
      SELECT ${t.sessions}.id, ?, 0, ?, ?, ?${values} FROM ${from}
      ON CONFLICT ${address} DO UPDATE SET auth_key = excluded.auth_key, expires_at = excluded.expires_at${also}`;
  return {
    get: read(`SELECT auth_key, expires_at FROM ${t.authKeys}
      WHERE session_id = ${sessionOf(t)} AND dc_id = ? AND media_only = 0 AND slot = ?`),
    // The id of the permanent key row of (session id, DC id): a search of the unique index alone.
    keyId: value(`SELECT id FROM ${t.authKeys} WHERE session_id = ? AND dc_id = ? AND media_only = 0 AND slot = ${PERMANENT}`),
    // The permanent key of a DC that has one, by its row's id (key, id): a client writes its
    // key on every connect, nearly always over a stored one. One integer seek of the table
    // and two bound values, where `set`'s upsert probes the unique index for the conflict,
    // then seeks the row again to update it, and binds five. expires_at is NULL in every
    // permanent key row already (`set` writes it so), and is left as it is. Under a lease
    // the fence is the row's own lease_token (kept equal to the stored lease token, lease.ts
    // `leaseTokenTriggers`): one more integer compared in the row the seek reached, where
    // the lease row's fence searches a second table by the session's name and binds it.
    rewrite: new FencedStatement(db, `UPDATE ${t.authKeys} SET auth_key = ? WHERE id = ?`, `UPDATE ${t.authKeys} SET auth_key = ? WHERE id = ? AND lease_token = ?`, false),
    // INSERT … SELECT: no row is inserted when the name has no row yet (see SessionScope).
    // Fenced, the lease row is joined (on the session row's name, so the name is bound once)
    // and its token, the one just matched, written as the row's lease_token; a plain write
    // leaves lease_token as it is (a row's token is one the lease had: see rewrite).
    set: new FencedStatement(
      db,
      upsert('', '', `${t.sessions} WHERE name = ?`),
      upsert(', lease_token', `, ${leases}.token`, `${t.sessions} JOIN ${leases} ON ${leases}.name = ${t.sessions}.name WHERE ${t.sessions}.name = ? AND ${leases}.token = ?`, ', lease_token = excluded.lease_token'),
      false,
    ),
    remove: write((fence) => `DELETE FROM ${t.authKeys} WHERE session_id = ${sessionOf(t)} AND dc_id = ? AND media_only = 0 AND slot = ?${fence}`),
    removeByDc: write((fence) => `DELETE FROM ${t.authKeys} WHERE session_id = ${sessionOf(t)} AND dc_id = ?${fence}`),
    // The primary key's order: by DC id, main before media-only, the permanent key (slot -1) first.
    entries: read(`SELECT dc_id, media_only, slot, auth_key, expires_at FROM ${t.authKeys}
      WHERE session_id = ${sessionOf(t)} ORDER BY dc_id, media_only, slot`),
    clear: write((fence) => `DELETE FROM ${t.authKeys} WHERE session_id = ${sessionOf(t)}${fence}`),
  };
}

export class SqliteAuthKeys implements AuthKeyRepository {
  #sql: KeyStatements | undefined;
  /** The id of each DC's permanent key row as last read (see #keyId). */
  readonly #ids = new Map<number, bigint>();

  constructor(private readonly scope: SessionScope) {}

  #statements(): KeyStatements {
    return (this.#sql ??= prepareKeys(this.scope.db(), this.scope.tables, this.scope.connection.tablePrefix));
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
      const id = this.#ids.get(dcId) ?? this.#keyId(dcId);
      if (id !== undefined) {
        if (this.scope.attempt2(this.#statements().rewrite, key, id)) return;
        // No row under that id any more (or the fence refused): resolved again next time.
        this.#ids.delete(dcId);
      }
    }
    this.#write(dcId, PERMANENT, key, null);
  }

  /**
   * The id of the DC's permanent key row, read (and kept) when the session's row id is
   * known; undefined when there is no such row. A kept id may be stale — another instance
   * or process deleted the key, or the session, and wrote it again under a new id — and
   * that is safe without a check: ids are AUTOINCREMENT on an explicit INTEGER PRIMARY KEY
   * (never given out again, not even by VACUUM) and no statement changes a row's address
   * columns, so a row under id X is always this DC's permanent key of this session; a
   * rewrite by a stale id changes nothing and goes the upsert path. Only ids of committed
   * rows are kept: inside a transaction (a borrowed database the application has one open
   * on) the row may roll back, and AUTOINCREMENT's counter with it, so its id could later
   * name another row.
   */
  #keyId(dcId: number): bigint | undefined {
    if (this.scope.db().inTransaction) return undefined;
    const session = this.scope.knownId();
    if (session === undefined) return undefined;
    const id = this.#statements().keyId.get(session, dcId) as bigint | undefined;
    // No key under that session id: none yet for the DC, or the session id is stale (resolved again next time).
    if (id === undefined) this.scope.rowId = undefined;
    else this.#ids.set(dcId, id);
    return id;
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

  #write(dcId: number, slot: number, key: Uint8Array | null, expiresAt: number | null): void {
    const sql = this.#statements();
    if (key === null) this.scope.change(sql.remove, this.scope.name, dcId, slot);
    else this.scope.create(sql.set, dcId, slot, key, expiresAt, this.scope.name);
  }
}
