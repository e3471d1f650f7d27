/**
 * Session leases in `<prefix>leases`: one row per session name `(name, token, owner,
 * expires_at)`, created on first use (additive: the versioned tables are untouched
 * and older versions ignore it) — not by `holder()` under `create: false`, which
 * only reads. Acquire reads the row with `FOR UPDATE` (postgres, mysql; sqlite runs
 * every operation alone, see connection.ts) and updates or inserts it in one
 * transaction; two acquirers inserting the first row at once meet on the
 * primary key and the loser looks again. Renew and release match the token; a release
 * sets `expires_at` to 0 and keeps the row, so tokens keep growing.
 *
 * Time: `expires_at` is epoch milliseconds by the client's clock (one SQL for three
 * databases), so hosts sharing a database must agree on the time to well within a
 * quarter of the TTL (NTP does).
 */
import type { LeaseRepository, StoredLease } from '@mtstore/core';
import { Once } from '@mtstore/core';
import type { Connection, Row } from './connection.js';

const toLease = (row: Row): StoredLease => ({ token: BigInt(String(row.token)), owner: String(row.owner), expiresAt: Number(row.expires_at) });

function isDuplicate(error: unknown): boolean {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = String(e?.code ?? e?.driverError?.code ?? '');
  return code === '23505' || code === 'ER_DUP_ENTRY' || code.startsWith('SQLITE_CONSTRAINT');
}

export class TypeormLeases implements LeaseRepository {
  readonly #db: Connection;
  readonly #name: string;
  readonly #table: Once<void>;
  readonly #sql: { select: string; lock: string; update: string; insert: string; renew: string; renewed: string; release: string; holder: string };

  constructor(db: Connection, name: string) {
    const { dialect: d, tables } = db.context;
    this.#db = db;
    this.#name = name;
    const t = tables.leases;
    const forUpdate = d.name === 'sqlite' ? '' : ' FOR UPDATE';
    const columns = `${d.text('token')} AS token, owner, ${d.text('expires_at')} AS expires_at`;
    this.#sql = {
      select: d.sql(`SELECT ${columns} FROM ${t} WHERE name = ?`),
      lock: d.sql(`SELECT ${columns} FROM ${t} WHERE name = ?${forUpdate}`),
      update: d.sql(`UPDATE ${t} SET token = ?, owner = ?, expires_at = ? WHERE name = ?`),
      insert: d.sql(`INSERT INTO ${t} (name, token, owner, expires_at) VALUES (?, ?, ?, ?)`),
      renew: d.sql(`UPDATE ${t} SET expires_at = ? WHERE name = ? AND token = ? AND expires_at > 0`),
      renewed: d.sql(`SELECT ${d.text('expires_at')} AS expires_at FROM ${t} WHERE name = ? AND token = ?`),
      release: d.sql(`UPDATE ${t} SET expires_at = 0 WHERE name = ? AND token = ?`),
      holder: d.sql(`SELECT ${columns} FROM ${t} WHERE name = ? AND expires_at > ?`),
    };
    const create = `CREATE TABLE IF NOT EXISTS ${t} (
      name VARCHAR(128) NOT NULL PRIMARY KEY,
      token BIGINT NOT NULL,
      owner VARCHAR(1024) NOT NULL,
      expires_at BIGINT NOT NULL
    )`;
    this.#table = new Once(async () => {
      try {
        await db.query(create, []);
      } catch {
        // Two processes creating it at once (postgres' catalog): the table is there now.
        await db.query(create, []);
      }
      // Made again with the schema after the application dropped the tables.
      db.keep(create);
    });
  }

  async #ready(): Promise<void> {
    if (!this.#table.done) await this.#table.run();
  }

  async acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }> {
    await this.#ready();
    for (;;) {
      try {
        return await this.#db.transaction(async (sql) => {
          const now = Date.now();
          const row = (await sql.rows(this.#sql.lock, [this.#name]))[0];
          if (row !== undefined && Number(row.expires_at) > now && !force) return { acquired: false, lease: toLease(row) };
          const lease: StoredLease = { token: (row === undefined ? 0n : BigInt(String(row.token))) + 1n, owner, expiresAt: now + ttlMs };
          const values = [String(lease.token), owner, lease.expiresAt, this.#name];
          if (row === undefined) await sql.affected(this.#sql.insert, [this.#name, String(lease.token), owner, lease.expiresAt]);
          else await sql.affected(this.#sql.update, values);
          return { acquired: true, lease };
        });
      } catch (error) {
        if (!isDuplicate(error)) throw error; // another acquirer inserted the first row: look again
      }
    }
  }

  async renew(token: bigint, ttlMs: number): Promise<number | null> {
    await this.#ready();
    const expiresAt = Date.now() + ttlMs;
    return this.#db.transaction(async (sql) => {
      await sql.affected(this.#sql.renew, [expiresAt, this.#name, String(token)]);
      const row = (await sql.rows(this.#sql.renewed, [this.#name, String(token)]))[0];
      return row !== undefined && Number(row.expires_at) === expiresAt ? expiresAt : null;
    });
  }

  async release(token: bigint): Promise<void> {
    await this.#ready();
    await this.#db.query(this.#sql.release, [this.#name, String(token)]);
  }

  async holder(): Promise<StoredLease | null> {
    if (!this.#db.create) {
      // create: false (a reader): asking who holds the lease must not add the lease
      // table to a store that never saw a lease; without the table nobody holds one.
      if (!this.#table.done && !(await this.#db.hasTable(this.#db.context.names.leases))) return null;
    } else {
      await this.#ready();
    }
    const row = (await this.#db.query(this.#sql.holder, [this.#name, Date.now()]))[0];
    return row === undefined ? null : toLease(row);
  }
}
