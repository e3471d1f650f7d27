import { optionNames, withKnownOptions, BaseSessionStorage, CorruptDataError, int64FromStorage, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { Database, type PostgresConnectionOptions } from './connection.js';
import { serverStatements, type ServerStatements } from './statements.js';

export type PostgresSessionStorageOptions = PostgresConnectionOptions & SessionLifetimeOptions;

const exists = (result: { rowCount: number | null }): boolean => result.rowCount === 1;

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<PostgresSessionStorageOptions>()(['connectionString', 'config', 'pool', 'schema', 'create', 'prepare', 'closeTimeoutMillis', 'ttlSeconds', 'clock']);

/**
 * Server sessions in `<schema>.server_sessions`, primary key (auth_key_id, session_id).
 * Create and destroy are single statements whose RETURNING says whether this call
 * made the change, so exactly one of any number of racing callers wins, across
 * processes. `hasSession` is one primary-key lookup through a named statement.
 *
 * Lifetime: `last_used_at` / `expires_at` in epoch ms. Every statement treats a row
 * with `expires_at <= now` as absent; `expireSessions` deletes such rows in bounded
 * batches (PostgreSQL has no native row expiry), run by a SessionSubject's sweep.
 */
export class PostgresSessionStorage extends BaseSessionStorage {
  readonly schema: string;
  readonly #db: Database;
  readonly #sql: ServerStatements;

  constructor(options: PostgresSessionStorageOptions = {}) {
    super(withKnownOptions(options, OPTIONS, 'PostgresSessionStorage'));
    this.#db = new Database(options, 'PostgresSessionStorage');
    this.schema = this.#db.schema;
    this.#sql = serverStatements(this.#db.s);
  }

  protected override describe(): Record<string, unknown> {
    return { schema: this.schema, ownsPool: this.#db.ownsPool };
  }

  protected override get supportsLifetime(): boolean {
    return true;
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const { rowCount } = await this.#db.query(this.#sql.create, [authKeyId, sessionId, now, expiresAt]);
    return rowCount === 1;
  }

  // Not async: once per incoming message, so no promise more than pg's own.
  protected sessionExists(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return this.#db.query(this.#sql.has, [authKeyId, sessionId, now]).then(exists);
  }

  protected override async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const { rows } = await this.#db.query<{ last_used_at: bigint; expires_at: bigint | null }>(this.#sql.info, [authKeyId, sessionId, now]);
    const row = rows[0];
    if (row === undefined) return null;
    const where = `server session authKeyId=${authKeyId}, sessionId=${sessionId}`;
    return { lastUsedAt: epochMs(row.last_used_at, where), expiresAt: row.expires_at === null ? null : epochMs(row.expires_at, where) };
  }

  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const { rowCount } = await this.#db.query(this.#sql.touch, [authKeyId, sessionId, now, expiresAt]);
    return rowCount === 1;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    const { rowCount } = await this.#db.query(this.#sql.destroy, [authKeyId, sessionId, now]);
    return rowCount === 1;
  }

  protected async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const { rows } = await this.#db.query<{ session_id: bigint }>(this.#sql.list, [authKeyId, now]);
    return rows.map((row) => int64FromStorage(row.session_id, `server session of authKeyId=${authKeyId}`));
  }

  protected async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const { rows } = await this.#db.query<{ session_id: bigint }>(this.#sql.destroyAll, [authKeyId, now]);
    return rows.map((row) => int64FromStorage(row.session_id, `server session of authKeyId=${authKeyId}`));
  }

  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const { rows } = await this.#db.query<{ auth_key_id: bigint; session_id: bigint }>(this.#sql.expire, [now, limit]);
    return rows.map((row) => ({
      authKeyId: int64FromStorage(row.auth_key_id, 'expired server session: auth key id'),
      sessionId: int64FromStorage(row.session_id, 'expired server session: session id'),
    }));
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

function epochMs(value: unknown, where: string): number {
  const ms = typeof value === 'bigint' ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw new CorruptDataError(`${where}: stored time is not epoch ms`);
  return ms;
}
