import { BaseSessionStorage, int64FromStorage } from '@mtstore/core';
import { Database, type PostgresConnectionOptions } from './connection.js';
import { serverStatements, type ServerStatements } from './statements.js';

export type PostgresSessionStorageOptions = PostgresConnectionOptions;

const exists = (result: { rowCount: number | null }): boolean => result.rowCount === 1;

/**
 * Server sessions in `<schema>.server_sessions`, primary key (auth_key_id, session_id).
 * Create and destroy are single statements whose RETURNING says whether this call
 * made the change, so exactly one of any number of racing callers wins, across
 * processes. `hasSession` is one primary-key lookup through a named statement.
 */
export class PostgresSessionStorage extends BaseSessionStorage {
  readonly schema: string;
  readonly #db: Database;
  readonly #sql: ServerStatements;

  constructor(options: PostgresSessionStorageOptions = {}) {
    super();
    this.#db = new Database(options, 'PostgresSessionStorage');
    this.schema = this.#db.schema;
    this.#sql = serverStatements(this.#db.s);
  }

  protected override describe(): Record<string, unknown> {
    return { schema: this.schema, ownsPool: this.#db.ownsPool };
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const { rowCount } = await this.#db.query(this.#sql.create, [authKeyId, sessionId]);
    return rowCount === 1;
  }

  // Not async: once per incoming message, so no promise more than pg's own.
  protected sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.#db.query(this.#sql.has, [authKeyId, sessionId]).then(exists);
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const { rowCount } = await this.#db.query(this.#sql.destroy, [authKeyId, sessionId]);
    return rowCount === 1;
  }

  protected async findSessions(authKeyId: bigint): Promise<bigint[]> {
    const { rows } = await this.#db.query<{ session_id: bigint }>(this.#sql.list, [authKeyId]);
    return rows.map((row) => int64FromStorage(row.session_id, `server session of authKeyId=${authKeyId}`));
  }

  protected async removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const { rows } = await this.#db.query<{ session_id: bigint }>(this.#sql.destroyAll, [authKeyId]);
    return rows.map((row) => int64FromStorage(row.session_id, `server session of authKeyId=${authKeyId}`));
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}
