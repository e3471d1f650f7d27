/**
 * Bounds on a DataSource the adapter owns, and closing its connections at once: the
 * default timeouts under the caller's options, MySQL's statement timeout (the adapter
 * enforces it), and the driver internals close() reaches past a silent server — pg-pool
 * `_clients`, mysql2 / mysql `_allConnections` and cluster `_nodes`, each read guarded.
 */
import { assertTimerMs, connectionStringParam } from '@mtstore/core';
import type { DataSource, DataSourceOptions } from 'typeorm';

/**
 * After the calls in flight are settled, how long close() waits for an owned DataSource
 * to be destroyed (and, before that, for a first connection attempt still under way).
 * Then the connections still open are closed (their sockets destroyed) and close()
 * resolves: a server that does not answer cannot hold close() or the process.
 */
export const DESTROY_TIMEOUT_MS = 1000;

/**
 * mysql / mariadb: how long one statement on a DataSource the adapter owns may take
 * (counted from when the call has its connection: it connects before its first
 * statement), unless its options say otherwise (see `queryTimeoutOf`). postgres has
 * the same bound from pg's own `query_timeout`.
 */
export const MYSQL_QUERY_TIMEOUT_MS = 30_000;

/**
 * Applied under the options of a DataSource the adapter creates (the caller's values
 * win), so nothing waits forever when the server is gone: a connection attempt gives up
 * after 10 s, a statement after 30 s. postgres: `connectTimeoutMS` is what TypeORM hands
 * pg's pool as `connectionTimeoutMillis` (on an owned DataSource it bounds a call's wait
 * for a free connection only while the server completes nothing: see pool.ts); `extra`
 * is spread over the pool config last, so `query_timeout` and `keepAlive` reach pg (as
 * in @mtstore/postgres' POOL_DEFAULTS).
 * mysql / mariadb: `connectTimeout` reaches mysql2; the statement bound is the adapter's
 * (MYSQL_QUERY_TIMEOUT_MS).
 */
export const OWNED_DEFAULTS = {
  postgres: { connectTimeoutMS: 10_000, extra: { query_timeout: 30_000, keepAlive: true } },
  mysql: { connectTimeout: 10_000 },
} as const;

/** The options of a DataSource the adapter owns: OWNED_DEFAULTS under the caller's options. */
export function withOwnedDefaults(options: DataSourceOptions): DataSourceOptions {
  const given = options as { type: string; connectTimeoutMS?: unknown; connectTimeout?: unknown; extra?: unknown };
  if (given.type === 'postgres') {
    const { connectTimeoutMS, extra } = OWNED_DEFAULTS.postgres;
    const own = typeof given.extra === 'object' && given.extra !== null ? given.extra : {};
    return { ...options, connectTimeoutMS: given.connectTimeoutMS ?? connectTimeoutMS, extra: { ...extra, ...own } } as DataSourceOptions;
  }
  if (given.type === 'mysql' || given.type === 'mariadb') {
    return { ...options, connectTimeout: given.connectTimeout ?? OWNED_DEFAULTS.mysql.connectTimeout } as DataSourceOptions;
  }
  return options;
}

/**
 * mysql / mariadb: the bound on one statement, in ms (0: none). TypeORM's own switch
 * for a MySQL statement timeout decides: `enableQueryTimeout: true` with
 * `maxQueryExecutionTime` is that many ms, `enableQueryTimeout: false` is none. Without
 * them a DataSource the adapter owns gets MYSQL_QUERY_TIMEOUT_MS and the application's
 * own DataSource none. The adapter enforces it itself: TypeORM passes it to the driver
 * only since 0.3.21, and mysql2 then fails the statement but leaves it the connection's
 * current command, so that connection (back in the pool) would hang the next statement.
 */
export function queryTimeoutOf(options: DataSourceOptions, owned: boolean, where = 'TypeormStorage'): number {
  if (options.type !== 'mysql' && options.type !== 'mariadb') return 0;
  const { enableQueryTimeout, maxQueryExecutionTime } = options as { enableQueryTimeout?: unknown; maxQueryExecutionTime?: unknown };
  if (enableQueryTimeout === false) return 0;
  if (enableQueryTimeout === true && typeof maxQueryExecutionTime === 'number' && maxQueryExecutionTime > 0) {
    // The adapter's timer of every statement.
    assertTimerMs(maxQueryExecutionTime, `${where}: maxQueryExecutionTime (with enableQueryTimeout)`, 0, false);
    return maxQueryExecutionTime;
  }
  return owned ? MYSQL_QUERY_TIMEOUT_MS : 0;
}

/** PostgreSQL's largest value for a timeout setting, in ms. */
const PG_MAX_TIMEOUT = 2_147_483_647;

/**
 * postgres: what the adapter sends for TypeORM's `START TRANSACTION`: the same, and how
 * long the server lets the transaction wait for the client's next statement — pg's
 * `query_timeout` from the DataSource's `extra` (30 s if none), as long as the client
 * waits for the server. One message, one round trip (no parameters: pg's simple query
 * protocol takes both statements). A client that vanished mid-transaction over a link
 * that died silently would otherwise leave it open, its row locks held, until the
 * server's TCP keep-alive finds the peer gone (about two hours with Linux's defaults).
 * `SET LOCAL` ends with the transaction: the connection, also one of the application's
 * own DataSource, keeps its settings.
 */
export function beginStatement(options: DataSourceOptions): string {
  const { url, extra } = options as { url?: unknown; extra?: { query_timeout?: unknown; connectionString?: unknown } };
  // TypeORM hands `url` to pg as its connectionString (unless `extra` names one), and pg's
  // clients take a `?query_timeout=` in it over the config's: the server's limit follows.
  const timeout = Number(connectionStringParam(extra?.connectionString ?? url, 'query_timeout') ?? extra?.query_timeout);
  const ms = Number.isFinite(timeout) && timeout > 0 ? Math.min(Math.ceil(timeout), PG_MAX_TIMEOUT) : OWNED_DEFAULTS.postgres.extra.query_timeout;
  return `START TRANSACTION; SET LOCAL idle_in_transaction_session_timeout = ${ms}`;
}

/**
 * MariaDB, owned DataSource: run once on each new connection, so that the server ends a
 * transaction whose client has been silent for the statement bound (whole seconds,
 * rounded up) — a client that vanished over a dead link would otherwise hold its row
 * locks until `wait_timeout` (8 h by default). It applies only inside a transaction:
 * idle pooled connections are not touched. MySQL has no such variable (the statement
 * fails, and is not sent again).
 */
export function idleTransactionStatement(queryTimeout: number): string | undefined {
  return queryTimeout > 0 ? `SET SESSION idle_transaction_timeout = ${Math.ceil(queryTimeout / 1000)}` : undefined;
}

/**
 * A statement that ran past the adapter's bound (see #guard). A driver error for core:
 * it becomes StorageUnavailableError naming the operation.
 */
export class StatementTimeout extends Error {
  override name = 'StatementTimeout';
  readonly code = 'ETIMEDOUT';
}

/** A driver's own statement timeout (pg's `query_timeout`, mysql / mysql2's per-query `timeout`), or the adapter's. */
export function isStatementTimeout(error: unknown): boolean {
  if (error instanceof StatementTimeout) return true;
  const driver = (error as { driverError?: unknown } | null)?.driverError ?? error;
  const { code, message } = (driver ?? {}) as { code?: unknown; message?: unknown };
  return code === 'PROTOCOL_SEQUENCE_TIMEOUT' || message === 'Query read timeout';
}

/** Error codes of a connection that is gone (the socket's, and mysql / mysql2's own). */
const CONNECTION_LOST_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_DESTROYED',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
]);

/**
 * An error that says the statement's connection itself is gone: a reset or broken socket
 * (ECONNRESET, EPIPE, …), mysql / mysql2's PROTOCOL_CONNECTION_LOST or any error they
 * mark `fatal`, pg's "Connection terminated". Not a statement timeout (see
 * isStatementTimeout), nor an error the server sent on a live connection.
 */
export function isConnectionError(error: unknown): boolean {
  const driver = (error as { driverError?: unknown } | null)?.driverError ?? error;
  if (driver instanceof StatementTimeout) return false;
  const { code, message, fatal } = (driver ?? {}) as { code?: unknown; message?: unknown; fatal?: unknown };
  if (typeof code === 'string' && CONNECTION_LOST_CODES.has(code)) return true;
  if (fatal === true) return true;
  return typeof message === 'string' && (message.startsWith('Connection terminated') || message === 'Client has encountered a connection error and is not queryable');
}

/** The socket under a pooled connection: pg Client, mysql2 or mysql connection. */
export interface SocketLike {
  destroyed?: boolean;
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

export function socketOf(connection: unknown): SocketLike | undefined {
  const c = connection as { connection?: { stream?: unknown }; stream?: unknown; _socket?: unknown } | null;
  const socket = c?.connection?.stream ?? c?.stream ?? c?._socket;
  return typeof (socket as SocketLike | undefined)?.destroy === 'function' ? (socket as SocketLike) : undefined;
}

/**
 * Closes a pooled connection at once, whatever it is waiting for: mysql2 / mysql take it
 * out of their pool (`destroy`); a connected pg Client is marked ending first (`end`), so
 * losing its socket is not reported as an error (one still connecting is not: its
 * connect callback must fail, which stops pg-pool's connect timer); then the socket
 * itself is destroyed (mysql2's `destroy` and pg's `end` on an idle client only
 * half-close it, which waits for a server that may never answer).
 */
export function closeNow(connection: unknown): void {
  const c = connection as { destroy?: () => void; end?: (callback: () => void) => void; _connecting?: unknown };
  try {
    if (typeof c.destroy === 'function') c.destroy();
    else if (typeof c.end === 'function' && c._connecting !== true) c.end(() => {});
  } catch {
    // already closed
  }
  try {
    socketOf(connection)?.destroy();
  } catch {
    // already closed
  }
}

/**
 * Closes every connection idle in a driver pool now, so the next checkout opens a fresh
 * one: pg-pool's `_idle` (taken out with its own `_remove`, its idle 'error' listener
 * replaced so the closing is not reported as a pool error), mysql2 / mysql
 * `_freeConnections` (`destroy` takes each out of the pool); then each socket is
 * destroyed (see closeNow). Connections checked out are not touched. Read guarded: a
 * pool of another shape is left as it is. Returns how many were closed.
 */
export function closeIdle(pool: Pool): number {
  const pg = pool as { _idle?: unknown; _remove?: (client: unknown) => void };
  if (Array.isArray(pg._idle) && typeof pg._remove === 'function') {
    const items = [...(pg._idle as { client?: unknown; idleListener?: (error: Error) => void }[])];
    for (const { client, idleListener } of items) {
      const events = client as { removeListener?: (event: string, listener: unknown) => void; on?: (event: string, listener: () => void) => void } | undefined;
      try {
        if (idleListener !== undefined) events?.removeListener?.('error', idleListener);
        events?.on?.('error', () => {});
        pg._remove.call(pool, client);
      } catch {
        // already closed
      }
      try {
        socketOf(client)?.destroy();
      } catch {
        // already closed
      }
    }
    return items.length;
  }
  const idle = idleOf(pool);
  for (const connection of idle) closeNow(connection);
  return idle.length;
}

/** The connections idle in a driver pool now (pg-pool `_idle`, mysql2 / mysql `_freeConnections`); the others are checked out or connecting. */
export function idleOf(pool: Pool): unknown[] {
  const pg = (pool as { _idle?: unknown })._idle;
  if (Array.isArray(pg)) return (pg as { client?: unknown }[]).map((item) => item.client);
  const free = (pool as { _freeConnections?: unknown })._freeConnections;
  const queue = free as { toArray?: () => unknown[] } | undefined;
  return Array.isArray(free) ? [...(free as unknown[])] : typeof queue?.toArray === 'function' ? queue.toArray() : [];
}

export type Pool = { on?: (event: string, listener: (connection: unknown) => void) => unknown; _clients?: unknown; _allConnections?: unknown };

/** The driver pools of an initialized DataSource: pg's master and replicas, mysql's pool or cluster nodes. */
export function poolsOf(dataSource: DataSource): Pool[] {
  const driver = dataSource.driver as { master?: unknown; slaves?: unknown; pool?: unknown; poolCluster?: { _nodes?: Record<string, { pool?: unknown }> } };
  const pools: unknown[] = [driver.master, ...(Array.isArray(driver.slaves) ? driver.slaves : []), driver.pool];
  for (const node of Object.values(driver.poolCluster?._nodes ?? {})) pools.push(node.pool);
  return pools.filter((pool): pool is Pool => typeof pool === 'object' && pool !== null);
}

/** A pool's connections now, connecting ones included (pg-pool `_clients`, mysql2 / mysql `_allConnections`). */
export function membersOf(pool: Pool): unknown[] {
  const members = pool._clients ?? pool._allConnections;
  if (Array.isArray(members)) return [...members];
  const queue = members as { toArray?: () => unknown[] } | undefined;
  return typeof queue?.toArray === 'function' ? queue.toArray() : [];
}

/** Waits for `promise` at most `ms`: true if it settled in time (it must not reject). The timer never outlives it. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What a DataSource's `initialize()` creates anew and its `destroy()` ends: pg's master
 * pool, mysql's pool or pool cluster, better-sqlite3's connection. Undefined while the
 * DataSource is not initialized, and from the moment `destroy()` began ending it (pg-pool
 * `ending`, mysql2 `_closed`): a call still waiting for a connection of that pool then is
 * never answered by pg (see Connection's watchdog).
 */
export function liveGeneration(dataSource: DataSource): object | undefined {
  const driver = dataSource.driver as { master?: unknown; pool?: unknown; poolCluster?: unknown; databaseConnection?: unknown };
  const current = driver.master ?? driver.pool ?? driver.poolCluster ?? driver.databaseConnection;
  if (typeof current !== 'object' || current === null) return undefined;
  const state = current as { ending?: unknown; ended?: unknown; _closed?: unknown; open?: unknown };
  if (state.ending === true || state.ended === true || state._closed === true || state.open === false) return undefined;
  return current;
}

/**
 * A statement that failed because one of its tables does not exist: postgres 42P01
 * (undefined_table), MySQL / MariaDB ER_NO_SUCH_TABLE, sqlite "no such table". The
 * adapter's statements name only its own tables.
 */
export function isMissingTable(error: unknown): boolean {
  const driver = (error as { driverError?: unknown } | null)?.driverError ?? error;
  const { code, message } = (driver ?? {}) as { code?: unknown; message?: unknown };
  return code === '42P01' || code === 'ER_NO_SUCH_TABLE' || (typeof message === 'string' && message.startsWith('no such table'));
}
