import { BaseSessionStorage, int64FromStorage } from '@mtstore/core';
import { Connection, type Row, type TypeormConnectionOptions } from './connection.js';
import { bySize, chunks } from './rows.js';

export type TypeormSessionStorageOptions = TypeormConnectionOptions;

/**
 * Server sessions in `server_sessions`, keyed by (auth_key_id, session_id). Create
 * and destroy are single statements whose affected-row count is the transition:
 * the database's own insert-or-ignore and delete decide which of N racing callers
 * wins, across processes.
 *
 * There is no event bus here (TypeORM has no notification API): give a
 * SessionSubject core's in-process bus, or another adapter's (postgres, redis).
 */
export class TypeormSessionStorage extends BaseSessionStorage {
  readonly #db: Connection;
  readonly #insert: string;
  readonly #exists: string;
  readonly #remove: string;
  readonly #list: string;
  readonly #removeAll: string;
  readonly #removeListed: (count: number) => string;

  constructor(options: TypeormSessionStorageOptions) {
    super();
    this.#db = new Connection(options, 'TypeormSessionStorage');
    const { dialect: d, tables: t } = this.#db.context;
    const table = t.serverSessions;
    this.#insert = d.sql(d.insertIgnore(`${table} (auth_key_id, session_id)`, '(?, ?)'));
    this.#exists = d.sql(`SELECT 1 AS found FROM ${table} WHERE auth_key_id = ? AND session_id = ?`);
    this.#remove = d.sql(`DELETE FROM ${table} WHERE auth_key_id = ? AND session_id = ?`);
    this.#list = d.sql(`SELECT ${d.text('session_id')} AS id FROM ${table} WHERE auth_key_id = ?`);
    // postgres and sqlite say which rows one DELETE removed; MySQL locks them first (below).
    this.#removeAll = d.deleteReturning
      ? d.sql(`DELETE FROM ${table} WHERE auth_key_id = ? RETURNING ${d.text('session_id')} AS id`)
      : `${this.#list}${d.forUpdate}`;
    this.#removeListed = bySize((n) => d.sql(`DELETE FROM ${table} WHERE auth_key_id = ? AND session_id IN (${d.list(n)})`));
  }

  protected override describe(): Record<string, unknown> {
    return { driver: this.#db.driver, tablePrefix: this.#db.context.prefix, dataSource: this.#db.owned ? 'owned' : 'borrowed' };
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return (await this.#db.execute(this.#insert, [authKeyId, sessionId])) === 1;
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return (await this.#db.query(this.#exists, [authKeyId, sessionId])).length > 0;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return (await this.#db.execute(this.#remove, [authKeyId, sessionId])) === 1;
  }

  protected async findSessions(authKeyId: bigint): Promise<bigint[]> {
    return ids(await this.#db.query(this.#list, [authKeyId]), authKeyId);
  }

  protected async removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    if (this.#db.context.dialect.deleteReturning) return ids(await this.#db.query(this.#removeAll, [authKeyId]), authKeyId);
    // MySQL: lock the key's rows, then delete exactly those. A concurrent call waits for
    // the locks and then finds nothing; a session created meanwhile is neither removed
    // nor reported.
    const maxParams = this.#db.context.dialect.maxParams;
    return this.#db.transaction(async (sql) => {
      const found = ids(await sql.rows(this.#removeAll, [authKeyId]), authKeyId);
      for (const chunk of chunks(found, 1, maxParams, 1)) await sql.affected(this.#removeListed(chunk.length), [authKeyId, ...chunk]);
      return found;
    });
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

function ids(rows: readonly Row[], authKeyId: bigint): bigint[] {
  return rows.map((row) => int64FromStorage(row.id, `server session of authKeyId=${authKeyId}: session_id`));
}
