/**
 * Reference messages in `<schema>.ref_messages`, primary key (session, peer, chat,
 * message). `stored` is drawn from a sequence on every store (a store again draws a new
 * one), so the row with the largest `stored` is the peer's most recent reference, and
 * `list` returns them by `stored`: store order.
 */
import { InvalidArgumentError, type RefMessage, type RefMessageListPage, type RefMessageRepository } from '@mtstore/core';
import { statement, type Database, type Statement } from './connection.js';
import type { LeaseFence } from './lease.js';
import { namedSession } from './statements.js';

interface RefStatements {
  store: Statement;
  getByPeer: Statement;
  delete: Statement;
  deleteByPeer: Statement;
  clear: Statement;
  list: Statement;
}

export function refStatements(s: string): RefStatements {
  return {
    // excluded.stored is the column default, a fresh nextval: storing again makes it the most recent.
    store: statement(
      'ref_store',
      `WITH ${namedSession(s)}
       INSERT INTO ${s}.ref_messages (session_id, peer_id, chat_id, message_id) SELECT named.id, $2, $3, $4 FROM named
       ON CONFLICT (session_id, peer_id, chat_id, message_id) DO UPDATE SET stored = excluded.stored`,
    ),
    // Index ref_messages_recent (session_id, peer_id, stored), read backwards: one row.
    getByPeer: statement(
      'ref_get_by_peer',
      `SELECT r.chat_id, r.message_id
         FROM ${s}.sessions s JOIN ${s}.ref_messages r ON r.session_id = s.id
        WHERE s.name = $1 AND r.peer_id = $2
        ORDER BY r.stored DESC LIMIT 1`,
    ),
    // Index ref_messages_message (session_id, chat_id, message_id): every peer's reference to those messages.
    delete: statement(
      'ref_delete',
      `DELETE FROM ${s}.ref_messages r USING ${s}.sessions s
        WHERE s.name = $1 AND r.session_id = s.id AND r.chat_id = $2 AND r.message_id = ANY($3::integer[])`,
    ),
    deleteByPeer: statement(
      'ref_delete_by_peer',
      `DELETE FROM ${s}.ref_messages r USING ${s}.sessions s WHERE s.name = $1 AND r.session_id = s.id AND r.peer_id = $2`,
    ),
    clear: statement('ref_clear', `DELETE FROM ${s}.ref_messages r USING ${s}.sessions s WHERE s.name = $1 AND r.session_id = s.id`),
    // Keyset paging in store order: the cursor is the last `stored` returned. Index
    // ref_messages_stored (session_id, stored) gives the page as one range scan of
    // n + 1 entries, no sort. The session id is a scalar subquery, not a join: with a
    // join the planner cannot tell that the index returns rows in `stored` order, and
    // reads and sorts all of the session's references.
    list: statement(
      'ref_list',
      `SELECT r.stored, r.peer_id, r.chat_id, r.message_id
         FROM ${s}.ref_messages r
        WHERE r.session_id = (SELECT id FROM ${s}.sessions WHERE name = $1) AND r.stored > $2
        ORDER BY r.stored LIMIT $3`,
    ),
  };
}

export class PostgresRefMessages implements RefMessageRepository {
  readonly #db: Database;
  /** Runs the writes: fenced by the lease token while one is held (lease.ts). */
  readonly #fence: LeaseFence;
  readonly #name: string;
  readonly #sql: RefStatements;

  constructor(db: Database, fence: LeaseFence, name: string) {
    this.#db = db;
    this.#fence = fence;
    this.#name = name;
    this.#sql = refStatements(db.s);
  }

  async store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    await this.#fence.query(this.#sql.store, [this.#name, peerId, chatId, messageId]);
  }

  async getByPeer(peerId: bigint): Promise<RefMessage | null> {
    const { rows } = await this.#db.query<{ chat_id: bigint; message_id: number }>(this.#sql.getByPeer, [this.#name, peerId]);
    const row = rows[0];
    return row === undefined ? null : { chatId: row.chat_id, messageId: row.message_id };
  }

  async delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    await this.#fence.query(this.#sql.delete, [this.#name, chatId, messageIds]);
  }

  async deleteByPeer(peerId: bigint): Promise<void> {
    await this.#fence.query(this.#sql.deleteByPeer, [this.#name, peerId]);
  }

  async clear(): Promise<void> {
    await this.#fence.query(this.#sql.clear, [this.#name]);
  }

  /** Keyset paging after the `stored` sequence value of the last reference of the previous page. */
  async list(after: bigint | null, limit: number): Promise<RefMessageListPage> {
    // One row more than the page tells whether another page follows.
    const { rows } = await this.#db.query<{ stored: bigint; peer_id: bigint; chat_id: bigint; message_id: number }>(this.#sql.list, [this.#name, after ?? 0n, limit + 1]);
    const refs = rows.slice(0, limit).map((row) => ({ peerId: row.peer_id, chatId: row.chat_id, messageId: row.message_id }));
    return { refs, next: rows.length > limit ? (rows[limit - 1] as { stored: bigint }).stored : null };
  }
}
