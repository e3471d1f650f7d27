import { optionNames, withKnownOptions, BaseSessionStorage, CorruptDataError, int64FromStorage, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { Connection, type Row, type TypeormConnectionOptions } from './connection.js';
import { bySize, chunks } from './rows.js';

export type TypeormSessionStorageOptions = TypeormConnectionOptions & SessionLifetimeOptions;

/** A row is live at `now` (the `?` it is given) when it has no expiry or a later one. */
const LIVE = '(expires_at IS NULL OR expires_at > ?)';

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<TypeormSessionStorageOptions>()(['dataSource', 'options', 'tablePrefix', 'migrate', 'create', 'closeTimeoutMillis', 'ttlSeconds', 'clock']);

/**
 * Server sessions in `server_sessions`, keyed by (auth_key_id, session_id). Create
 * and destroy are single statements whose affected-row count is the transition:
 * the database's own insert-or-ignore and delete decide which of N racing callers
 * wins, across processes.
 *
 * Lifetime (docs/contract.md §7.1): `last_used_at` / `expires_at` are epoch ms of the
 * caller's clock (core hands every call its `now`). Every statement treats a row with
 * `expires_at <= now` as absent; `expireSessions` deletes such rows in bounded batches
 * through the `expires_at` index (none of the three databases expires rows by itself).
 *
 * There is no event bus here (TypeORM has no notification API): give a
 * SessionSubject core's in-process bus, or another adapter's (postgres, redis).
 */
export class TypeormSessionStorage extends BaseSessionStorage {
  readonly #db: Connection;
  readonly #insert: string;
  readonly #takeOver: string;
  readonly #exists: string;
  readonly #info: string;
  readonly #touch: string;
  readonly #remove: string;
  readonly #list: string;
  readonly #removeAll: string;
  readonly #removeListed: (count: number) => string;
  readonly #expire: string;
  readonly #removeExpired: (count: number) => string;

  constructor(options: TypeormSessionStorageOptions) {
    super(withKnownOptions(options, OPTIONS, 'TypeormSessionStorage'));
    this.#db = new Connection(options, 'TypeormSessionStorage', () => this.now());
    const { dialect: d, tables: t } = this.#db.context;
    const table = t.serverSessions;
    const key = 'auth_key_id = ? AND session_id = ?';
    this.#insert = d.sql(d.insertIgnore(`${table} (auth_key_id, session_id, last_used_at, expires_at)`, '(?, ?, ?, ?)'));
    // An expired row not yet swept is created again: the UPDATE's row lock (and its WHERE,
    // evaluated again after a wait) lets one of racing creators take it.
    this.#takeOver = d.sql(`UPDATE ${table} SET last_used_at = ?, expires_at = ? WHERE ${key} AND expires_at <= ?`);
    this.#exists = d.sql(`SELECT 1 AS found FROM ${table} WHERE ${key} AND ${LIVE}`);
    this.#info = d.sql(`SELECT ${d.text('last_used_at')} AS last_used_at, ${d.text('expires_at')} AS expires_at FROM ${table} WHERE ${key} AND ${LIVE}`);
    this.#touch = d.sql(`UPDATE ${table} SET last_used_at = ?, expires_at = ? WHERE ${key} AND ${LIVE}`);
    this.#remove = d.sql(`DELETE FROM ${table} WHERE ${key} AND ${LIVE}`);
    this.#list = d.sql(`SELECT ${d.text('session_id')} AS id FROM ${table} WHERE auth_key_id = ? AND ${LIVE}`);
    // postgres and sqlite say which rows one DELETE removed; MySQL locks them first (below).
    this.#removeAll = d.deleteReturning
      ? d.sql(`DELETE FROM ${table} WHERE auth_key_id = ? AND ${LIVE} RETURNING ${d.text('session_id')} AS id`)
      : `${this.#list}${d.forUpdate}`;
    this.#removeListed = bySize((n) => d.sql(`DELETE FROM ${table} WHERE auth_key_id = ? AND session_id IN (${d.list(n)})`));
    // The bounded sweep, through the expires_at index. postgres: one DELETE of at most
    // `limit` rows, SKIP LOCKED so sweepers on other nodes take other rows; sqlite: one
    // DELETE (one writer at a time); MySQL: lock the batch (SKIP LOCKED), then delete it.
    const batch = `SELECT auth_key_id, session_id FROM ${table} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`;
    const returning = `RETURNING ${d.text('auth_key_id')} AS a, ${d.text('session_id')} AS s`;
    this.#expire =
      d.name === 'postgres'
        ? d.sql(`DELETE FROM ${table} WHERE (auth_key_id, session_id) IN (${batch} FOR UPDATE SKIP LOCKED) AND expires_at <= ? ${returning}`)
        : d.name === 'sqlite'
          ? `DELETE FROM ${table} WHERE (auth_key_id, session_id) IN (${batch}) AND expires_at <= ? ${returning}`
          : `SELECT ${d.text('auth_key_id')} AS a, ${d.text('session_id')} AS s FROM ${table} WHERE expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`;
    this.#removeExpired = bySize((n) => `DELETE FROM ${table} WHERE (auth_key_id, session_id) IN (${d.rows(n, 2)})`);
  }

  protected override describe(): Record<string, unknown> {
    return { driver: this.#db.driver, tablePrefix: this.#db.context.prefix, dataSource: this.#db.owned ? 'owned' : 'borrowed' };
  }

  protected override get supportsLifetime(): boolean {
    return true;
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if ((await this.#db.execute(this.#insert, [authKeyId, sessionId, now, expiresAt])) === 1) return true;
    // The key exists: created now only if it had expired (MySQL counts the matched row: the new times differ from the old).
    if ((await this.#db.execute(this.#takeOver, [now, expiresAt, authKeyId, sessionId, now])) === 1) return true;
    // Neither: the row is live (another creator's, or never expired) — or a sweep deleted
    // the expired row between the two statements, and the key is free again. One more
    // insert tells them apart: of racing creators it lets exactly one in.
    return (await this.#db.execute(this.#insert, [authKeyId, sessionId, now, expiresAt])) === 1;
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return (await this.#db.query(this.#exists, [authKeyId, sessionId, now])).length > 0;
  }

  protected override async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const row = (await this.#db.query(this.#info, [authKeyId, sessionId, now]))[0];
    if (row === undefined) return null;
    const where = `server session authKeyId=${authKeyId}, sessionId=${sessionId}`;
    return { lastUsedAt: epochMs(row.last_used_at, where), expiresAt: epochMs(row.expires_at, where) };
  }

  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if ((await this.#db.execute(this.#touch, [now, expiresAt, authKeyId, sessionId, now])) === 1) return true;
    // MySQL without the FOUND_ROWS flag counts changed rows: the same touch twice in one ms changes none.
    return this.#db.context.dialect.name === 'mysql' && (await this.sessionExists(authKeyId, sessionId, now));
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return (await this.#db.execute(this.#remove, [authKeyId, sessionId, now])) === 1;
  }

  protected async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return ids(await this.#db.query(this.#list, [authKeyId, now]), authKeyId);
  }

  protected async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    if (this.#db.context.dialect.deleteReturning) return ids(await this.#db.query(this.#removeAll, [authKeyId, now]), authKeyId);
    // MySQL: lock the key's rows, then delete exactly those. A concurrent call waits for
    // the locks and then finds nothing; a session created meanwhile is neither removed
    // nor reported.
    const maxParams = this.#db.context.dialect.maxParams;
    return this.#db.transaction(async (sql) => {
      const found = ids(await sql.rows(this.#removeAll, [authKeyId, now]), authKeyId);
      for (const chunk of chunks(found, 1, maxParams, 1)) await sql.affected(this.#removeListed(chunk.length), [authKeyId, ...chunk]);
      return found;
    });
  }

  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const { dialect: d } = this.#db.context;
    if (d.deleteReturning) return expired(await this.#db.query(this.#expire, [now, limit, now]));
    // MySQL: the batch locked (rows other sweepers hold are skipped), then deleted by key in the same transaction.
    return this.#db.transaction(async (sql) => {
      const rows = expired(await sql.rows(this.#expire, [now, limit]));
      for (const chunk of chunks(rows, 2, d.maxParams, 0)) {
        await sql.affected(this.#removeExpired(chunk.length), chunk.flatMap((r) => [r.authKeyId, r.sessionId]));
      }
      return rows;
    });
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

function ids(rows: readonly Row[], authKeyId: bigint): bigint[] {
  return rows.map((row) => int64FromStorage(row.id, `server session of authKeyId=${authKeyId}: session_id`));
}

function expired(rows: readonly Row[]): ExpiredSession[] {
  return rows.map((row) => ({
    authKeyId: int64FromStorage(row.a, 'expired server session: auth key id'),
    sessionId: int64FromStorage(row.s, 'expired server session: session id'),
  }));
}

/** A stored time (decimal text) as epoch ms; NULL stays null. */
function epochMs(value: unknown, where: string): number | null {
  if (value === null || value === undefined) return null;
  const ms = Number(value);
  if (typeof value !== 'string' || !/^-?\d+$/.test(value) || !Number.isSafeInteger(ms)) throw new CorruptDataError(`${where}: stored time is not epoch ms`);
  return ms;
}
