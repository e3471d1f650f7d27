/**
 * Reference messages of one session in `<prefix>ref_messages`. `seq` (the rowid,
 * AUTOINCREMENT since schema 10) orders them: storing a reference again replaces its
 * row with a new one, which gets a seq above every one ever given, so it becomes the
 * peer's most recent, and `list` pages by it. A seq is never given out again, so a
 * cursor kept across `clear` or deletes lists what was stored after it.
 */
import type Database from 'better-sqlite3';
import type { RefMessage, RefMessageListPage, RefMessageRepository } from '@mtstore/core';
import { int64FromStorage } from '@mtstore/core';
import { num } from './rows.js';
import type { Tables } from './schema.js';
import { leaseFenced, type FencedStatement } from './lease.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements, type Statement } from './statements.js';

interface RefStatements {
  store: FencedStatement;
  latest: Statement;
  remove: FencedStatement;
  removeByPeer: FencedStatement;
  clear: FencedStatement;
  page: Statement;
}

export function prepareRefs(db: Database.Database, t: Tables): RefStatements {
  const { read } = statements(db);
  const write = (sql: (fence: string) => string): FencedStatement => leaseFenced(db, t, sql);
  return {
    store: write((fence) => `INSERT OR REPLACE INTO ${t.refMessages} (session_id, peer_id, chat_id, message_id)
      SELECT id, ?, ?, ? FROM ${t.sessions} WHERE name = ?${fence}`),
    // The peer index ends with the rowid: the newest reference is its last entry.
    latest: read(`SELECT chat_id, message_id FROM ${t.refMessages}
      WHERE session_id = ${sessionOf(t)} AND peer_id = ? ORDER BY seq DESC LIMIT 1`),
    // The message ids as one JSON array parameter: one statement for any number of them.
    remove: write((fence) => `DELETE FROM ${t.refMessages} WHERE session_id = ${sessionOf(t)} AND chat_id = ?
      AND message_id IN (SELECT value FROM json_each(?))${fence}`),
    removeByPeer: write((fence) => `DELETE FROM ${t.refMessages} WHERE session_id = ${sessionOf(t)} AND peer_id = ?${fence}`),
    clear: write((fence) => `DELETE FROM ${t.refMessages} WHERE session_id = ${sessionOf(t)}${fence}`),
    // Keyset paging in seq (store) order: the cursor is the last seq returned. A rowid range scan.
    page: read(`SELECT seq, peer_id, chat_id, message_id FROM ${t.refMessages}
      WHERE session_id = ${sessionOf(t)} AND seq > ? ORDER BY seq LIMIT ?`),
  };
}

export class SqliteRefMessages implements RefMessageRepository {
  #sql: RefStatements | undefined;

  constructor(
    private readonly scope: SessionScope,
    private readonly label: string,
  ) {}

  #statements(): RefStatements {
    this.scope.connection.live();
    return (this.#sql ??= prepareRefs(this.scope.db(), this.scope.tables));
  }

  async store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    this.scope.create(this.#statements().store, peerId, chatId, messageId, this.scope.name);
  }

  async getByPeer(peerId: bigint): Promise<RefMessage | null> {
    const row = this.#statements().latest.get(this.scope.name, peerId) as { chat_id: unknown; message_id: unknown } | undefined;
    if (row === undefined) return null;
    return { chatId: int64FromStorage(row.chat_id, `${this.label}: reference message chat id`), messageId: num(row.message_id) };
  }

  async delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    this.scope.change(this.#statements().remove, this.scope.name, chatId, JSON.stringify(messageIds));
  }

  async deleteByPeer(peerId: bigint): Promise<void> {
    this.scope.change(this.#statements().removeByPeer, this.scope.name, peerId);
  }

  async clear(): Promise<void> {
    this.scope.change(this.#statements().clear, this.scope.name);
  }

  /** Keyset paging after the `seq` of the last reference of the previous page. */
  async list(after: bigint | null, limit: number): Promise<RefMessageListPage> {
    // One row more than the page tells whether another page follows.
    const rows = this.#statements().page.all(this.scope.name, after ?? 0n, limit + 1) as { seq: bigint; peer_id: unknown; chat_id: unknown; message_id: unknown }[];
    const where = `${this.label}: reference message`;
    const refs = rows.slice(0, limit).map((row) => ({
      peerId: int64FromStorage(row.peer_id, `${where} peer id`),
      chatId: int64FromStorage(row.chat_id, `${where} chat id`),
      messageId: num(row.message_id),
    }));
    return { refs, next: rows.length > limit ? (rows[limit - 1] as { seq: bigint }).seq : null };
  }
}
