/**
 * Session leases in `<prefix>leases`: one row per session name
 * `(name, token, owner, expires_at)`, created on first use (the table is additive:
 * older versions of this adapter ignore it). `expires_at` is epoch milliseconds by
 * this machine's clock — every process sharing the file runs on one machine, so
 * they share that clock. A release sets `expires_at` to 0 and keeps the row, so the
 * token keeps growing across acquisitions.
 *
 * Acquire reads and writes the row in one IMMEDIATE transaction (SQLite's database
 * write lock), so across instances and processes exactly one acquirer wins; renew
 * and release are single statements that match the token.
 *
 * The fence, in two forms. A write of one statement (`FencedStatement`) carries it in
 * itself: `… AND EXISTS (the lease row with this token)`, so the statement changes
 * nothing unless the stored lease has the instance's token. An autocommit statement
 * takes the write lock before it reads (on the newest snapshot), so the check and the
 * write are one step no acquire can come between — and it costs one statement, as
 * the write alone does. Other writes (`prepareFence`) run in an IMMEDIATE transaction
 * that first reads the row's token; the write lock is held from that read to the
 * commit, so again no acquire (by any connection) can change the token in between:
 * a write lands only under the lease it was made for. The rewrite of a stored auth key
 * (every connect) compares a copy of the token kept in its own row instead
 * (`auth_key_bytes.lease_token`, which triggers on this table keep equal to the stored token:
 * `leaseTokenTriggers`), in the same one autocommit statement.
 */
import type Database from 'better-sqlite3';
import { LeaseLostError, type LeaseRepository, type StoredLease } from '@mtstore/core';
import type { Tables } from './schema.js';
import type { SessionScope } from './scope.js';
import { statements, type Statement } from './statements.js';

interface LeaseRow {
  token: bigint;
  owner: string;
  expires_at: bigint;
}

interface LeaseStatements {
  acquire: Database.Transaction<(owner: string, ttlMs: number, force: boolean) => { acquired: boolean; lease: StoredLease }>;
  renew: Statement;
  release: Statement;
  holder: Statement;
}

const toLease = (row: LeaseRow): StoredLease => ({ token: row.token, owner: row.owner, expiresAt: Number(row.expires_at) });

/** Runs a write under a lease token (see `prepareFence`). */
export type Fence = <T>(token: bigint, write: () => T) => T;

/**
 * The fence of session `name`: runs `write` in an IMMEDIATE transaction (statements
 * and transactions inside it become part of it; nested transactions are savepoints)
 * after checking that the stored lease still has `token`. When it has another (taken
 * over with `force`, or run out and taken) nothing is written and LeaseLostError is
 * thrown; core turns it into the write's error and marks the lease lost. An expired
 * lease nobody took still matches: the local fence covers expiry. Only called while
 * this instance holds a lease, so the table exists.
 */
export function prepareFence(db: Database.Database, t: Tables, name: string): Fence {
  const holds = prepareTokenCheck(db, t);
  const fenced = db.transaction((token: bigint, write: () => unknown): unknown => {
    // Stryker disable next-line StringLiteral: never seen: core answers an adapter's LeaseLostError with its own (BaseStorage, `refused(operation)`)
    if (!holds(name, token)) throw new LeaseLostError('fence');
    return write();
  });
  return <T>(token: bigint, write: () => T): T => fenced.immediate(token, write) as T;
}

/**
 * A write of one statement with its fence inside it: the plain statement, run without a
 * lease, and the fenced one, run with the token bound last — after the session name when
 * `bindsName` (the fence searches the lease row by a name of its own), alone otherwise.
 * The fenced statement is prepared on the first write under a lease: the lease table
 * (which most fenced statements read) exists only then.
 */
export class FencedStatement {
  readonly plain: Statement;
  #fenced: Statement | undefined;

  constructor(
    private readonly db: Database.Database,
    plain: string,
    private readonly fenced: string,
    private readonly bindsName: boolean,
  ) {
    this.plain = db.prepare(plain);
  }

  /** The plain statement's SQL (query plans are checked on it). */
  // Stryker disable next-line BlockStatement: for the package's query-plan tests (schema.test.ts, fence.test.ts); the kit never reads SQL
  get source(): string {
    return this.plain.source;
  }

  /** The fenced statement's SQL; prepares nothing. */
  // Stryker disable next-line BlockStatement: for the package's query-plan tests (fence.test.ts), as `source`; the kit never reads SQL
  fencedSource(): string {
    return this.fenced;
  }

  /**
   * Runs it with `params` and returns how many rows it changed: the plain statement
   * without a token, the fenced one (the lease of `name` must have `token`) with one.
   */
  run(token: bigint | undefined, name: string, params: readonly unknown[]): number {
    if (token === undefined) return this.plain.run(...params).changes;
    this.#fenced ??= this.db.prepare(this.fenced);
    return (this.bindsName ? this.#fenced.run(...params, name, token) : this.#fenced.run(...params, token)).changes;
  }

  /**
   * `run` with exactly two bound values, passed as they are (no array of them built per
   * call and spread again), for a statement whose fence binds the token alone
   * (`bindsName` false): the hot key rewrite, keys.ts `rewrite`. Small, so it inlines
   * into its caller.
   */
  // Stryker disable next-line BlockStatement: equivalent: `undefined > 0` is false, so every key rewrite (keys.ts `set`) takes the upsert path under the fence's transaction: the same write, slower
  run2(token: bigint | undefined, a: unknown, b: unknown): number {
    if (token === undefined) return this.plain.run(a, b).changes;
    return (this.#fenced ?? this.#prepareFenced()).run(a, b, token).changes;
  }

  #prepareFenced(): Statement {
    return (this.#fenced = this.db.prepare(this.fenced));
  }
}

/**
 * A row id as the hot key rewrite binds it (keys.ts): a number when it is a safe integer
 * (< 2^53: ids count rows), else the bigint. better-sqlite3 binds a number as a double and
 * a bigint as a 64-bit integer, converting the BigInt on every call; SQLite seeks a rowid
 * by an integral double exactly, so a safe integer finds the same row either way. Above
 * 2^53 a double could equal another integer, so those stay bigints.
 */
// Stryker disable next-line BlockStatement: equivalent: no id is kept (undefined), so every key write takes the upsert path: the same write, slower
export function bindable(value: bigint): bigint | number {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent for every file the adapter writes: ids count rows from 1 (AUTOINCREMENT), never near 2^53, where a double and a bigint bind the same row; the bigint form (`false`) binds any id exactly
  return value <= MAX_SAFE ? Number(value) : value;
}
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The common form of a fenced statement: `sql(fence)` builds it; `fence` is '' for the
 * plain one and `AND EXISTS (the lease row of this name with this token)` for the fenced
 * one, placed where its parameters (name, token) come after all others. (The rewrite of
 * an auth key has a form of its own, and the key upsert runs inside the fence: keys.ts.)
 */
export function leaseFenced(db: Database.Database, t: Tables, sql: (fence: string) => string): FencedStatement {
  return new FencedStatement(db, sql(''), sql(` AND EXISTS (SELECT 1 FROM ${t.leases} WHERE name = ? AND token = ?)`), true);
}

/**
 * Whether the lease row of `name` has `token` now. Tokens of a name only grow (a release
 * keeps the row, nothing deletes it), so a token found now was the stored one at any
 * earlier moment it was held: a fenced statement that changed nothing before this read
 * was not refused by the fence.
 */
export function prepareTokenCheck(db: Database.Database, t: Tables): (name: string, token: bigint) => boolean {
  const check = db.prepare(`SELECT 1 FROM ${t.leases} WHERE name = ? AND token = ?`).pluck();
  return (name, token) => check.get(name, token) !== undefined;
}

/**
 * Keeps `auth_key_bytes.lease_token` (schema 7 in `auth_keys`, from 9 beside the key's
 * bytes) in step with the lease: whenever a lease row is created or its token changes —
 * by `acquire` of any connection, or by any other statement, an older adapter's or a hand
 * edit — the bytes row of every key of that session takes the new token, in the same
 * statement, so under the same write lock. A row's lease_token is otherwise written only
 * by a key write under a lease (keys.ts `#write`) and by a `save()` under a lease
 * (client.ts), both inside the fence's transaction after it matched that token in the
 * lease row; plain writes leave it as it is (a plain write's new rows get NULL). So a row
 * holds token T only while T is the session's stored token (tokens only grow), and the
 * rewrite of a stored key that compares lease_token in its own row (keys.ts `rewrite`)
 * is fenced as strictly as one that reads the lease row. Created with the lease table,
 * before any acquire of this code: every non-NULL lease_token was written while they
 * existed (schemas 7 and 9 add the column as NULL, and 9 drops the triggers that wrote
 * the old one; an instance holds a token only after an acquire). Renew and release leave
 * the token, so they fire nothing.
 */
export function leaseTokenTriggers(table: string, t: Tables): string {
  const update = `UPDATE ${t.authKeyBytes} SET lease_token = NEW.token
    WHERE id IN (SELECT id FROM ${t.authKeys} WHERE session_id = (SELECT id FROM ${t.sessions} WHERE name = NEW.name));`;
  return `CREATE TRIGGER IF NOT EXISTS ${table}_token_insert AFTER INSERT ON ${table} BEGIN ${update} END;
    CREATE TRIGGER IF NOT EXISTS ${table}_token_update AFTER UPDATE OF token ON ${table} BEGIN ${update} END;`;
}

export class SqliteLeases implements LeaseRepository {
  #sql: LeaseStatements | undefined;

  constructor(private readonly scope: SessionScope) {}

  #statements(): LeaseStatements {
    this.scope.connection.live();
    // Stryker disable next-line ConditionalExpression: without the cache the table is created if absent and the statements prepared again on every call: slower, the same answers
    if (this.#sql !== undefined) return this.#sql;
    const db = this.scope.db();
    const table = this.scope.tables.leases;
    // The triggers before any acquire: see leaseTokenTriggers.
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (
      name TEXT PRIMARY KEY NOT NULL,
      token INTEGER NOT NULL,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ${leaseTokenTriggers(table, this.scope.tables)}`);
    const { read, write } = statements(db);
    const select = read(`SELECT token, owner, expires_at FROM ${table} WHERE name = ?`);
    const upsert = read(`INSERT INTO ${table} (name, token, owner, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET token = excluded.token, owner = excluded.owner, expires_at = excluded.expires_at
      RETURNING token, owner, expires_at`);
    const name = this.scope.name;
    const sql: LeaseStatements = {
      acquire: db.transaction((owner: string, ttlMs: number, force: boolean) => {
        const now = Date.now();
        const row = select.get(name) as LeaseRow | undefined;
        if (row !== undefined && Number(row.expires_at) > now && !force) return { acquired: false, lease: toLease(row) };
        const taken = upsert.get(name, (row?.token ?? 0n) + 1n, owner, now + ttlMs) as LeaseRow;
        return { acquired: true, lease: toLease(taken) };
      }),
      renew: read(`UPDATE ${table} SET expires_at = ? WHERE name = ? AND token = ? AND expires_at > 0 RETURNING expires_at`).pluck(),
      release: write(`UPDATE ${table} SET expires_at = 0 WHERE name = ? AND token = ?`),
      holder: read(`SELECT token, owner, expires_at FROM ${table} WHERE name = ? AND expires_at > ?`),
    };
    // Made inside a transaction of the application's (a borrowed Database), the table and its
    // triggers go with its rollback: not kept, so the next call makes them again.
    // Stryker disable next-line BooleanLiteral,ConditionalExpression: scope: a transaction of the application's on a lent Database (the kit never lends one; open.test.ts "inside a transaction the application has open"); `false` creates the table if absent and prepares again on every call: the same answers, slower
    if (!db.inTransaction) this.#sql = sql;
    return sql;
  }

  async acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }> {
    return this.#statements().acquire.immediate(owner, ttlMs, force);
  }

  async renew(token: bigint, ttlMs: number): Promise<number | null> {
    const expiresAt = this.#statements().renew.get(Date.now() + ttlMs, this.scope.name, token) as bigint | undefined;
    return expiresAt === undefined ? null : Number(expiresAt);
  }

  async release(token: bigint): Promise<void> {
    this.#statements().release.run(this.scope.name, token);
  }

  async holder(): Promise<StoredLease | null> {
    // Asking creates nothing: `mtstore inspect` and other readers leave the file as it is.
    // Stryker disable next-line ConditionalExpression,BlockStatement,EqualityOperator: scope: whether asking creates the lease table is the file's business, not the contract's (fence.test.ts checks it creates none); `true` is equivalent (the table exists once the statements are prepared)
    if (this.#sql === undefined) {
      const db = this.scope.db();
      // NOCASE: SQLite's names ignore case, and tablePrefix 'TG_' names the table 'tg_' made.
      const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`).pluck().get(this.scope.tables.leases);
      // Stryker disable next-line ConditionalExpression: scope, as the line above: `false` prepares the statements, creating the table, and answers null from it (`true` answers null for a live lease and is killed)
      if (exists === undefined) return null;
    }
    const row = this.#statements().holder.get(this.scope.name, Date.now()) as LeaseRow | undefined;
    return row === undefined ? null : toLease(row);
  }
}
