import type Database from 'better-sqlite3';
import { BaseSessionStorage, int64FromStorage } from '@mtstore/core';
import { Connection, connectionOptions, type SqliteConnectionOptions } from './connection.js';
import { prepareServer, type ServerStatements } from './statements.js';

/** Where the server sessions are: the same connection options as the client side. */
export type SqliteSessionStorageOptions = SqliteConnectionOptions;

/**
 * Server sessions in an SQLite file, keyed by (authKeyId, sessionId). Each operation
 * is one statement, so create and destroy are atomic across every process on the
 * file: the primary key decides who created, `changes` / `RETURNING` who removed.
 */
export class SqliteSessionStorage extends BaseSessionStorage {
  readonly #connection: Connection;
  #statements: ServerStatements | undefined;

  constructor(pathOrOptions: string | SqliteSessionStorageOptions) {
    super();
    this.#connection = new Connection(connectionOptions(pathOrOptions, 'SqliteSessionStorage'), 'SqliteSessionStorage');
  }

  /** The database file (absolute), `:memory:`, or undefined for a borrowed database. */
  get path(): string | undefined {
    return this.#connection.path;
  }

  /** The better-sqlite3 Database, opened and migrated on first access (see SqliteStorage.database). */
  get database(): Database.Database {
    if (this.closed) throw this.closedError('database');
    return this.#connection.openFor('SqliteSessionStorage.database');
  }

  protected override describe(): Record<string, unknown> {
    return { path: this.#connection.path ?? '(borrowed database)', tablePrefix: this.#connection.tablePrefix };
  }

  #sql(): ServerStatements {
    return (this.#statements ??= prepareServer(this.#connection.open(), this.#connection.tables));
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.#sql().insert.run(authKeyId, sessionId).changes === 1;
  }

  // Not `async`: one promise less per incoming message. A throw here is synchronous
  // and lands in the base class's try/await all the same.
  protected sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return Promise.resolve(this.#sql().exists.get(authKeyId, sessionId) !== undefined);
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.#sql().remove.run(authKeyId, sessionId).changes === 1;
  }

  protected async findSessions(authKeyId: bigint): Promise<bigint[]> {
    return this.#ids(this.#sql().list.all(authKeyId), authKeyId);
  }

  protected async removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    return this.#ids(this.#sql().removeAll.all(authKeyId), authKeyId);
  }

  protected async closeConnection(): Promise<void> {
    this.#statements = undefined;
    this.#connection.close();
  }

  #ids(values: unknown[], authKeyId: bigint): bigint[] {
    return values.map((value) => int64FromStorage(value, `server session of authKeyId=${authKeyId}: session id`));
  }
}
