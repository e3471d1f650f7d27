import type Database from 'better-sqlite3';
import { optionNames, withKnownOptions, BaseSessionStorage, int64FromStorage, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { Connection, connectionOptions, type SqliteConnectionOptions } from './connection.js';
import { prepareServer, type ServerStatements } from './statements.js';

/** Where the server sessions are: the same connection options as the client side. */
export type SqliteSessionStorageOptions = SqliteConnectionOptions & SessionLifetimeOptions;

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<SqliteSessionStorageOptions>()(['path', 'database', 'tablePrefix', 'synchronous', 'busyTimeout', 'mmapSize', 'create', 'ttlSeconds', 'clock']);

/**
 * Server sessions in an SQLite file, keyed by (authKeyId, sessionId). Each operation
 * is one statement, so create and destroy are atomic across every process on the
 * file: the primary key decides who created, `changes` / `RETURNING` who removed.
 *
 * Lifetime: `last_used_at` / `expires_at` in epoch ms; a row with `expires_at <= now`
 * is absent for every statement, and `expireSessions` deletes such rows in bounded
 * batches (SQLite has no native expiry), run by a SessionSubject's sweep.
 */
export class SqliteSessionStorage extends BaseSessionStorage {
  readonly #connection: Connection;
  #statements: ServerStatements | undefined;

  constructor(pathOrOptions: string | SqliteSessionStorageOptions) {
    // Stryker disable all: constructor arguments (a path string or options, null rejected by connectionOptions) and the names in their errors are this adapter's own API (open.test.ts); the kit builds instances only through the suite's `open`
    // As SqliteStorage: the options (a path made into them) go to the base class, which reads ttlSeconds and clock only.
    const options = connectionOptions(pathOrOptions, 'SqliteSessionStorage');
    super(withKnownOptions(options, OPTIONS, 'SqliteSessionStorage'));
    this.#connection = new Connection(options, 'SqliteSessionStorage');
    // Stryker restore all
  }

  // Stryker disable all: `path`, `database` and inspect()'s description are this adapter's own API (open.test.ts); the contract asks only that inspect() shows no key bytes, which the kit checks
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
  // Stryker restore all

  #sql(): ServerStatements {
    this.#connection.live();
    return (this.#statements ??= prepareServer(this.#connection.open(), this.#connection.tables));
  }

  protected override get supportsLifetime(): boolean {
    return true;
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    return this.#sql().insert.run(authKeyId, sessionId, now, expiresAt).changes === 1;
  }

  // Answers synchronously (better-sqlite3 is): hasSession then awaits nothing, one
  // promise less per incoming message. A throw lands in the base class's try/catch.
  protected sessionExists(authKeyId: bigint, sessionId: bigint, now: number): boolean {
    return this.#sql().exists.get(authKeyId, sessionId, now) !== undefined;
  }

  /**
   * The same point lookup, with the expiry: CachedSessionStorage answers a miss with it
   * synchronously (no promise, no `.then`) and caches a yes until that expiry. Must not
   * throw: a failed statement answers undefined, and the cache then asks hasSession,
   * which reports the failure as a typed error.
   */
  protected override sessionExistsNow(authKeyId: bigint, sessionId: bigint, now: number): number | false | undefined {
    let until: unknown;
    try {
      until = this.#sql().until.get(authKeyId, sessionId, now);
    } catch {
      return undefined;
    }
    if (until === undefined) return false;
    if (until === null) return Infinity;
    // A stored expiry that is not a number is not trusted here: hasSession / sessionInfo report it.
    return typeof until === 'number' ? until : undefined;
  }

  protected override async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const row = this.#sql().info.get(authKeyId, sessionId, now) as { last_used_at: number; expires_at: number | null } | undefined;
    return row === undefined ? null : { lastUsedAt: row.last_used_at, expiresAt: row.expires_at };
  }

  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    return this.#sql().touch.run(now, expiresAt, authKeyId, sessionId, now).changes === 1;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return this.#sql().remove.run(authKeyId, sessionId, now).changes === 1;
  }

  protected async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return this.#ids(this.#sql().list.all(authKeyId, now), authKeyId);
  }

  protected async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return this.#ids(this.#sql().removeAll.all(authKeyId, now), authKeyId);
  }

  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const rows = this.#sql().expire.all(now, limit, now) as { auth_key_id: unknown; session_id: unknown }[];
    return rows.map((row) => ({
      authKeyId: int64FromStorage(row.auth_key_id, 'expired server session: auth key id'),
      sessionId: int64FromStorage(row.session_id, 'expired server session: session id'),
    }));
  }

  protected async closeConnection(): Promise<void> {
    this.#statements = undefined;
    this.#connection.close();
  }

  #ids(values: unknown[], authKeyId: bigint): bigint[] {
    return values.map((value) => int64FromStorage(value, `server session of authKeyId=${authKeyId}: session id`));
  }
}
