/**
 * What every concern's statements share. Each concern (client.ts for the snapshot,
 * keys.ts, kv.ts, peers.ts, refs.ts, server.ts) prepares its own statements on its
 * first use, so opening a storage to write one auth key prepares only those.
 * Statements that return rows read with safe integers (set per statement, so a
 * borrowed Database keeps its own default).
 */
import type Database from 'better-sqlite3';
import type { Tables } from './schema.js';

/** A prepared statement (named here so the statement tables have a nameable type). */
export interface Statement extends Database.Statement<unknown[], unknown> {}

export function statements(db: Database.Database) {
  return {
    /** A statement that changes rows. */
    write: (sql: string): Statement => db.prepare(sql),
    /** A statement that returns rows, with every INTEGER as a bigint. */
    read: (sql: string): Statement => db.prepare(sql).safeIntegers(true),
    /** A statement that returns the first column of its rows, as a bigint if an INTEGER. */
    value: (sql: string): Statement => db.prepare(sql).safeIntegers(true).pluck(),
  };
}

/**
 * The row id of the session named by the statement's parameter, as a subquery: keys,
 * kv, peers and reference messages are reached by name in the statement itself, so
 * a read or a write to an existing name is one statement.
 */
export function sessionOf(t: Tables): string {
  return `(SELECT id FROM ${t.sessions} WHERE name = ?)`;
}

export function prepareServer(db: Database.Database, t: Tables) {
  const { read, write, value } = statements(db);
  const table = t.serverSessions;
  /** Live at the `?` given: no expiry, or a later one. */
  const live = '(expires_at IS NULL OR expires_at > ?)';
  return {
    // (authKeyId, sessionId, now, expiresAt). An expired row not yet swept is taken over.
    insert: write(`INSERT INTO ${table} (auth_key_id, session_id, created_at, last_used_at, expires_at) VALUES (?, ?, unixepoch(), ?, ?)
      ON CONFLICT (auth_key_id, session_id) DO UPDATE SET created_at = excluded.created_at, last_used_at = excluded.last_used_at, expires_at = excluded.expires_at
      WHERE expires_at <= excluded.last_used_at`),
    // The per-message hot path: a primary-key point lookup returning the number 1
    // (safe integers off: no BigInt to allocate), or undefined. (authKeyId, sessionId, now)
    exists: db.prepare(`SELECT 1 FROM ${table} WHERE auth_key_id = ? AND session_id = ? AND ${live}`).pluck().safeIntegers(false) as Statement,
    // CachedSessionStorage's miss (sessionExistsNow): existence and expiry in one point
    // lookup; undefined (no row), null (no expiry) or epoch ms. (authKeyId, sessionId, now)
    until: db.prepare(`SELECT expires_at FROM ${table} WHERE auth_key_id = ? AND session_id = ? AND ${live}`).pluck().safeIntegers(false) as Statement,
    // (authKeyId, sessionId, now): epoch ms fit a double exactly, so no BigInts here either.
    info: db.prepare(`SELECT last_used_at, expires_at FROM ${table} WHERE auth_key_id = ? AND session_id = ? AND ${live}`).safeIntegers(false) as Statement,
    // (now, expiresAt, authKeyId, sessionId, now)
    touch: write(`UPDATE ${table} SET last_used_at = ?, expires_at = ? WHERE auth_key_id = ? AND session_id = ? AND ${live}`),
    remove: write(`DELETE FROM ${table} WHERE auth_key_id = ? AND session_id = ? AND ${live}`),
    list: value(`SELECT session_id FROM ${table} WHERE auth_key_id = ? AND ${live} ORDER BY session_id`),
    // RETURNING: exactly the rows this statement deleted, even with other processes racing.
    removeAll: value(`DELETE FROM ${table} WHERE auth_key_id = ? AND ${live} RETURNING session_id`),
    // The bounded sweep (now, limit, now): one statement, so one write lock, through the expiry index.
    expire: read(`DELETE FROM ${table} WHERE (auth_key_id, session_id) IN (
        SELECT auth_key_id, session_id FROM ${table} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?
      ) AND expires_at <= ? RETURNING auth_key_id, session_id`),
  };
}

export type ServerStatements = ReturnType<typeof prepareServer>;
