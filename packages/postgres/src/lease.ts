/**
 * Session leases in `<schema>.leases`: one row per session name `(name, token,
 * owner, expires_at)`, created on first use (additive: older versions of this
 * adapter ignore it). Acquire is one `INSERT … ON CONFLICT DO UPDATE … WHERE`
 * statement: the row lock PostgreSQL takes for the conflict serializes racing
 * acquirers, so exactly one wins and the token grows by one per acquisition. Renew
 * and release match the token. A release sets `expires_at` to the epoch and keeps
 * the row, so tokens keep growing.
 *
 * Time is the server's (`clock_timestamp()`): the clocks of the hosts running
 * clients need not agree.
 */
import type { LeaseRepository, StoredLease } from '@mtstore/core';
import { Once } from '@mtstore/core';
import { statement, type Database, type Statement } from './connection.js';

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
      const create = `CREATE TABLE IF NOT EXISTS ${t} (
        name       text PRIMARY KEY COLLATE "C",
        token      int8 NOT NULL,
        owner      text NOT NULL,
        expires_at timestamptz NOT NULL
      )`;
      try {
        await db.pool.query(create);
      } catch {
        // Two processes creating it at once: one fails on the catalog's unique index; the table is there.
        await db.pool.query(create);
      }
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
      const [taken] = await this.#query(this.#sql.acquire, [this.#name, owner, ttlMs, force]);
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
    const [row] = await this.#query(this.#sql.holder, [this.#name]);
    return row === undefined ? null : toLease(row);
  }
}
