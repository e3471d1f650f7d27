/**
 * kv entries of one session in `<prefix>kv`, one row per key. Keys are printable
 * ASCII, so SQLite's BINARY order is JavaScript's default sort order.
 */
import type Database from 'better-sqlite3';
import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import { bytes } from './rows.js';
import type { Tables } from './schema.js';
import { leaseFenced, type FencedStatement } from './lease.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements, type Statement } from './statements.js';

interface KvStatements {
  get: Statement;
  set: FencedStatement;
  remove: FencedStatement;
  entries: Statement;
  clear: FencedStatement;
}

export function prepareKv(db: Database.Database, t: Tables): KvStatements {
  const { read, value } = statements(db);
  const write = (sql: (fence: string) => string): FencedStatement => leaseFenced(db, t, sql);
  return {
    get: value(`SELECT value FROM ${t.kv} WHERE session_id = ${sessionOf(t)} AND key = ?`),
    set: write((fence) => `INSERT INTO ${t.kv} (session_id, key, value) SELECT id, ?, ? FROM ${t.sessions} WHERE name = ?${fence}
      ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value`),
    remove: write((fence) => `DELETE FROM ${t.kv} WHERE session_id = ${sessionOf(t)} AND key = ?${fence}`),
    entries: read(`SELECT key, value FROM ${t.kv} WHERE session_id = ${sessionOf(t)} ORDER BY key`),
    clear: write((fence) => `DELETE FROM ${t.kv} WHERE session_id = ${sessionOf(t)}${fence}`),
  };
}

export class SqliteKeyValues implements KeyValueRepository {
  #sql: KvStatements | undefined;

  constructor(private readonly scope: SessionScope) {}

  #statements(): KvStatements {
    this.scope.connection.live();
    return (this.#sql ??= prepareKv(this.scope.db(), this.scope.tables));
  }

  async get(key: string): Promise<Uint8Array | null> {
    const stored: unknown = this.#statements().get.get(this.scope.name, key);
    return stored === undefined ? null : bytes(stored);
  }

  async set(key: string, value: Uint8Array | null): Promise<void> {
    const sql = this.#statements();
    if (value === null) this.scope.change(sql.remove, this.scope.name, key);
    else this.scope.create(sql.set, key, value, this.scope.name);
  }

  async entries(): Promise<KeyValueEntry[]> {
    const rows = this.#statements().entries.all(this.scope.name) as Array<{ key: string; value: unknown }>;
    return rows.map((row) => ({ key: row.key, value: bytes(row.value) }));
  }

  async clear(): Promise<void> {
    this.scope.change(this.#statements().clear, this.scope.name);
  }
}
