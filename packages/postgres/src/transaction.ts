/**
 * One transaction on one pooled connection, shared by the adapter's writes and the
 * migration. A connection that failed (or whose ROLLBACK failed) is discarded rather
 * than returned to the pool, so the next caller never gets a dead socket.
 */
import { connectionStringParam } from '@mtstore/core';
import type { Pool, PoolClient } from 'pg';

/** PostgreSQL's largest value for a timeout setting, in ms. */
const MAX_TIMEOUT = 2_147_483_647;
/** For a pool with no query_timeout: POOL_DEFAULTS' (not imported, connection.ts imports this module). */
const DEFAULT_IDLE_TIMEOUT = 30_000;

/**
 * How long, in ms, the client waits for the server: the pool's query_timeout, or 30 s
 * if it has none. What mtstore lets the server wait for in its turn (below, and
 * Database's retries after a lock timeout).
 */
export function clientWait(pool: Pool): number {
  return clientWaitOf((pool as Partial<Pool>).options);
}

/** clientWait for a pg Client's config (the bus's own connection) or a pool's options. */
export function clientWaitOf(options: { connectionString?: string; query_timeout?: number } | undefined): number {
  // pg's clients take a `?query_timeout=` in the connection string over the pool's
  // (ConnectionParameters lays the parsed string over the config): the server's limit follows.
  const timeout = Number(connectionStringParam(options?.connectionString, 'query_timeout') ?? options?.query_timeout);
  return Number.isFinite(timeout) && timeout > 0 ? Math.min(Math.ceil(timeout), MAX_TIMEOUT) : DEFAULT_IDLE_TIMEOUT;
}

/**
 * The first message of every transaction: BEGIN, and three server limits set to how long
 * the client waits for the server (clientWait). One message, one round trip.
 * - idle_in_transaction_session_timeout: how long the server lets the transaction wait
 *   for the client's next statement. A client that died silently mid-transaction (a
 *   frozen host, a NAT that dropped the flow) would otherwise leave it open, its row
 *   locks held, until the server's TCP keep-alive finds the peer gone (about two hours
 *   with Linux's defaults): the session's writes, and a lease takeover, would wait for
 *   it and time out meanwhile.
 * - lock_timeout: concurrent writes to one session wait for each other's row and
 *   advisory locks by design (milliseconds, a save's three statements). An application
 *   that sets a short lock_timeout for its own queries (`options: '-c lock_timeout=…'`,
 *   or per role or database) had them fail with 55P03 instead.
 * - statement_timeout: an application's cap on its own queries (`-c
 *   statement_timeout=100`, per role or database) cancelled mtstore's statements that
 *   needed longer (a 10,000-peer batch, a write waiting for a lock, any statement on a
 *   busy server) with 57014, reported as an outage. mtstore's calls are bounded by its
 *   own limit, the client's wait; a single statement the server cancelled runs again
 *   in a transaction begun so (Database.#run, isStatementCanceled).
 * `SET LOCAL` ends with the transaction, so a pool's connections keep their settings
 * (and it passes through PgBouncer in transaction mode, unlike a startup parameter).
 */
export function beginStatement(pool: Pool): string {
  const ms = clientWait(pool);
  return `BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL idle_in_transaction_session_timeout = ${ms}; SET LOCAL lock_timeout = ${ms}; SET LOCAL statement_timeout = ${ms}`;
}

/**
 * PostgreSQL's query_canceled (57014): the session's statement_timeout ran out (or
 * someone ran pg_cancel_backend on it; the code does not tell them apart, and the
 * message is in the server's language). The statement was rolled back whole and the
 * connection is idle and sound. A single statement outside a transaction runs under the
 * session's statement_timeout, which mtstore cannot SET LOCAL for it without a round
 * trip more: Database.query runs it again, once, in a transaction that sets its own
 * (beginStatement). Cancelled again there, the failure is the caller's.
 */
export function isStatementCanceled(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '57014';
}

/**
 * PostgreSQL's lock_not_available (55P03): here, a lock wait longer than the session's
 * lock_timeout (mtstore takes no lock with NOWAIT). The statement was rolled back whole
 * and may be run again. A single statement outside a transaction runs under the
 * session's lock_timeout, which mtstore cannot SET LOCAL for it: Database.query runs it
 * again, as long as the client would have waited for it (clientWait).
 */
export function isLockTimeout(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '55P03';
}

/**
 * PostgreSQL's serialization failure (40001): the statement was rolled back whole and may
 * be run again. A single statement outside a transaction runs at the session's
 * `default_transaction_isolation`, which an application (`options: '-c
 * default_transaction_isolation=…'`) or a DBA (per role or database) may have set to
 * `repeatable read` or `serializable`: there a write that meets a row updated by a
 * concurrent one, which READ COMMITTED would wait for and re-read, fails with this
 * instead. mtstore's transactions say READ COMMITTED in their BEGIN (above); a single
 * statement cannot, so Database.query runs it again (see SERIALIZATION_RETRIES).
 */
export function isSerializationFailure(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '40001';
}

/**
 * How many times a statement that failed with 40001 is run in all. Under `repeatable
 * read` the failure comes once the conflicting writer has committed, so the next run,
 * on a new snapshot, goes through unless yet another writer got in first.
 */
export const SERIALIZATION_ATTEMPTS = 30;

/**
 * pg's error for a statement that got no reply within query_timeout (pg gives it no
 * code). The statement may still be running, or the link may be dead: the connection
 * is unusable either way (pg would queue the next statement behind it).
 */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/** Where the transaction's connection comes from: a pg Pool, or Database's checkout. */
export interface ConnectionSource {
  connect(): Promise<PoolClient>;
}

/** `begin`: the transaction's first message (see beginStatement). */
export async function withTransaction<T>(pool: ConnectionSource, begin: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A checked-out client has no pool listener: its 'error' must not go unhandled.
  const onError = (): void => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // After a timeout no ROLLBACK: it would wait behind the lost statement for another
    // query_timeout. The connection is closed instead: the server rolls back when it
    // hears of that (over a dead link, when it finds the link dead).
    if (isQueryTimeout(error)) broken = true;
    if (!broken) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
    }
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
