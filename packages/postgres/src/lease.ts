/**
 * Session leases in `<schema>.leases`: one row per session name `(name, token,
 * owner, expires_at)`, created on first use (additive: older versions of this
 * adapter ignore it) — but not by `holder()` under `create: false`, which only
 * reads. Acquire is one `INSERT … ON CONFLICT DO UPDATE … WHERE` statement: the row
 * lock PostgreSQL takes for the conflict serializes racing acquirers, so exactly one
 * wins and the token grows by one per acquisition. Renew
 * and release match the token. A release sets `expires_at` to the epoch and keeps
 * the row, so tokens keep growing.
 *
 * Time is the server's (`clock_timestamp()`): the clocks of the hosts running
 * clients need not agree.
 *
 * `LeaseFence` runs the writes of an instance holding a lease: each in a transaction
 * whose first statement key-share-locks the lease row while it still has the held token.
 */
import type { QueryResult, QueryResultRow } from 'pg';
import { LeaseLostError, Once, type LeaseRepository, type StoredLease } from '@mtstore/core';
import { statement, type Database, type Statement, type TransactionQuery } from './connection.js';
import { beginStatement, withTransaction } from './transaction.js';

interface LeaseRow {
  token: bigint;
  owner: string;
  expires_at: bigint;
  live?: boolean;
}

const EXPIRES_MS = `(floor(extract(epoch FROM expires_at) * 1000))::int8 AS expires_at`;
const toLease = (row: LeaseRow): StoredLease => ({ token: row.token, owner: row.owner, expiresAt: Number(row.expires_at) });

export class PostgresLeases implements LeaseRepository {
  readonly #db: Database;
  readonly #name: string;
  readonly #sql: { acquire: Statement; current: Statement; renew: Statement; release: Statement; holder: Statement };
  readonly #table: Once<void>;

  constructor(db: Database, name: string) {
    this.#db = db;
    this.#name = name;
    const t = `${db.s}.leases`;
    this.#table = new Once(async () => {
      await db.ready();
      // leases_token makes `token` a key column (see LeaseFence); a table created before it gets it here.
      const create = [
        `CREATE TABLE IF NOT EXISTS ${t} (
          name       text PRIMARY KEY COLLATE "C",
          token      int8 NOT NULL,
          owner      text NOT NULL,
          expires_at timestamptz NOT NULL
        )`,
        `CREATE UNIQUE INDEX IF NOT EXISTS leases_token ON ${t} (name, token)`,
      ];
      // One transaction under the migration's lock (the table is a lazily created part of
      // the schema), with mtstore's own lock_timeout (beginStatement): instances creating
      // it at once wait for each other and then find it there. Each statement on its own,
      // they met each other's catalog locks and, under an application's short lock_timeout,
      // failed 'canceling statement due to lock timeout' (or on the catalog's unique index).
      await withTransaction(db.pool, beginStatement(db.pool), async (client) => {
        await client.query({ text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', values: [`mtstore:migrate:${db.schema}`] });
        for (const ddl of create) await client.query(ddl);
      });
    });
    this.#sql = {
      acquire: statement(
        'lease_acquire',
        `INSERT INTO ${t} AS l (name, token, owner, expires_at)
         VALUES ($1, 1, $2, clock_timestamp() + $3 * interval '1 millisecond')
         ON CONFLICT (name) DO UPDATE SET token = l.token + 1, owner = excluded.owner, expires_at = excluded.expires_at
          WHERE l.expires_at <= clock_timestamp() OR $4
         RETURNING token, owner, ${EXPIRES_MS}`,
      ),
      current: statement('lease_current', `SELECT token, owner, ${EXPIRES_MS}, expires_at > clock_timestamp() AS live FROM ${t} WHERE name = $1`),
      renew: statement(
        'lease_renew',
        `UPDATE ${t} SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
          WHERE name = $1 AND token = $2 AND expires_at > 'epoch'::timestamptz
         RETURNING ${EXPIRES_MS}`,
      ),
      release: statement('lease_release', `UPDATE ${t} SET expires_at = 'epoch'::timestamptz WHERE name = $1 AND token = $2`),
      holder: statement('lease_holder', `SELECT token, owner, ${EXPIRES_MS} FROM ${t} WHERE name = $1 AND expires_at > clock_timestamp()`),
    };
  }

  async #query(sql: Statement, values: unknown[]): Promise<LeaseRow[]> {
    if (!this.#table.done) await this.#table.run();
    return (await this.#db.query<LeaseRow>(sql, values)).rows;
  }

  async acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }> {
    for (;;) {
      let taken: LeaseRow | undefined;
      try {
        [taken] = await this.#query(this.#sql.acquire, [this.#name, owner, ttlMs, force]);
      } catch (error) {
        // Two first acquires of a name insert (name, 1) at once: ON CONFLICT handles a
        // conflict only on its arbiter (name), so the loser can instead meet the other
        // unique index, leases_token, and fail with 23505. The row exists now: run the
        // statement again, which goes the ON CONFLICT way.
        if (isTokenConflict(error)) continue;
        throw error;
      }
      if (taken !== undefined) return { acquired: true, lease: toLease(taken) };
      const [current] = await this.#query(this.#sql.current, [this.#name]);
      // Released or run out between the two statements: try again.
      if (current?.live === true) return { acquired: false, lease: toLease(current) };
    }
  }

  async renew(token: bigint, ttlMs: number): Promise<number | null> {
    const [row] = await this.#query(this.#sql.renew, [this.#name, token, ttlMs]);
    return row === undefined ? null : Number(row.expires_at);
  }

  async release(token: bigint): Promise<void> {
    await this.#query(this.#sql.release, [this.#name, token]);
  }

  async holder(): Promise<StoredLease | null> {
    let rows: LeaseRow[];
    if (this.#db.create || this.#table.done) {
      rows = await this.#query(this.#sql.holder, [this.#name]);
    } else {
      // create: false (a reader such as `mtstore inspect`): asking who holds the lease
      // must not add the lease table to a store that never saw a lease; without the
      // table nobody holds one.
      try {
        rows = (await this.#db.query<LeaseRow>(this.#sql.holder, [this.#name])).rows;
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code === '42P01') return null;
        throw error;
      }
    }
    const row = rows[0];
    return row === undefined ? null : toLease(row);
  }
}

/**
 * The database side of the lease fence (docs/contract.md §12) for one session name.
 * Without a lease (`token()` undefined) writes run exactly as before: the same one
 * statement or transaction, nothing added. Under a lease each write is one transaction
 * that starts with `SELECT … FOR KEY SHARE` on the lease row, matching the held token:
 * - no row: the lease was taken over (force, or run out and taken), so nothing is
 *   written, the transaction rolls back and LeaseLostError tells core;
 * - a row: it stays locked until the write commits. `token` is in a unique index
 *   (leases_token), so PostgreSQL treats it as a key column, as it must for foreign
 *   keys: an acquire, which changes the token, takes the row's FOR UPDATE lock and waits
 *   for the write; a write that starts after an acquire committed no longer finds the
 *   token; one meeting an acquire in progress waits for it, then re-reads the updated
 *   row (READ COMMITTED), which no longer matches.
 * Renew and release change only `expires_at` (FOR NO KEY UPDATE), which a key-share
 * lock does not block: the holder's heartbeat never waits for its own writes. (FOR
 * SHARE would also fence, but delayed renewals by seconds under many concurrent writes:
 * share lockers do not queue behind a waiting updater.) An expired lease nobody took
 * still matches: the local fence covers expiry.
 */
export class LeaseFence {
  readonly #db: Database;
  readonly #name: string;
  readonly #token: () => bigint | undefined;
  readonly #check: Statement;

  /** `token`: the token of the lease this instance holds (BaseStorage.fenceToken). */
  constructor(db: Database, name: string, token: () => bigint | undefined) {
    this.#db = db;
    this.#name = name;
    this.#token = token;
    // Only run while this instance holds a lease, so the table exists (created by acquire).
    this.#check = statement('lease_fence', `SELECT 1 FROM ${db.s}.leases WHERE name = $1 AND token = $2 FOR KEY SHARE`);
  }

  /** One write statement: as it is without a lease, fenced in a transaction under one. */
  query<R extends QueryResultRow>(sql: Statement, values: unknown[]): Promise<QueryResult<R>> {
    const token = this.#token();
    if (token === undefined) return this.#db.query<R>(sql, values);
    return this.#db.transaction(async (query) => {
      await this.#hold(query, token);
      return query<R>(sql, values);
    });
  }

  /** A write transaction, fenced first under a lease. */
  transaction<T>(work: (query: TransactionQuery) => Promise<T>): Promise<T> {
    const token = this.#token();
    if (token === undefined) return this.#db.transaction(work);
    return this.#db.transaction(async (query) => {
      await this.#hold(query, token);
      return work(query);
    });
  }

  async #hold(query: TransactionQuery, token: bigint): Promise<void> {
    const { rowCount } = await query(this.#check, [this.#name, token]);
    if (rowCount !== 1) throw new LeaseLostError('fence');
  }
}

/** A unique violation on leases_token (driver error, before core wraps it). */
function isTokenConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'leases_token';
}
