/**
 * Reference messages of one session in `ref_messages`: one row per (peer, chat,
 * message) with an auto-increment `seq`. Storing a reference again gives its row a
 * new, higher seq in the same statement (see `Dialect.insertRenewing`), so the most
 * recent reference of a peer is the row with its highest seq, and `list` pages by seq:
 * store order.
 */
import { int64FromStorage, InvalidArgumentError, type RefMessage, type RefMessageListPage, type RefMessageRepository } from '@mtstore/core';
import type { Connection, FenceToken } from './connection.js';
import { bySize, chunks, num } from './rows.js';

export class TypeormRefMessages implements RefMessageRepository {
  readonly #db: Connection;
  readonly #name: string;
  readonly #fence: FenceToken;
  readonly #store: string;
  readonly #byPeer: string;
  readonly #delete: (count: number) => string;
  readonly #deleteByPeer: string;
  readonly #clear: string;
  readonly #page: string;

  constructor(db: Connection, name: string, fence: FenceToken) {
    const { dialect: d, tables: t } = db.context;
    this.#db = db;
    this.#name = name;
    this.#fence = fence;
    const key = ['session_name', 'peer_id', 'chat_id', 'message_id'];
    this.#store = d.sql(d.insertRenewing(t.refMessages, key, key, 'seq'));
    this.#byPeer = d.sql(
      `SELECT ${d.text('chat_id')} AS chat_id, message_id FROM ${t.refMessages} WHERE session_name = ? AND peer_id = ? ORDER BY seq DESC LIMIT 1`,
    );
    this.#delete = bySize((n) => d.sql(`DELETE FROM ${t.refMessages} WHERE session_name = ? AND chat_id = ? AND message_id IN (${d.list(n)})`));
    this.#deleteByPeer = d.sql(`DELETE FROM ${t.refMessages} WHERE session_name = ? AND peer_id = ?`);
    this.#clear = d.sql(`DELETE FROM ${t.refMessages} WHERE session_name = ?`);
    // Keyset paging in seq order: the cursor is the last seq returned. (The text alias must
    // not be `seq`: ORDER BY would sort by the alias, as text.)
    this.#page = d.sql(
      `SELECT ${d.text('seq')} AS seq_text, ${d.text('peer_id')} AS peer_id, ${d.text('chat_id')} AS chat_id, message_id FROM ${t.refMessages} WHERE session_name = ? AND seq > ? ORDER BY seq LIMIT ?`,
    );
  }

  /** One write statement, checked against the held lease token if any (connection.ts). */
  #write(sql: string, params: readonly unknown[]): Promise<number> {
    return this.#db.write(sql, params, this.#fence(), this.#name);
  }

  async store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    await this.#write(this.#store, [this.#name, peerId, chatId, messageId]);
  }

  async getByPeer(peerId: bigint): Promise<RefMessage | null> {
    const row = (await this.#db.query(this.#byPeer, [this.#name, peerId]))[0];
    if (row === undefined) return null;
    return { chatId: int64FromStorage(row.chat_id, `session ${JSON.stringify(this.#name)}, reference message chat_id`), messageId: num(row.message_id) };
  }

  async delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    const batches = chunks(messageIds, 1, this.#db.context.dialect.maxParams, 2);
    const token = this.#fence();
    if (token !== undefined && batches.length > 1) {
      // Under a lease: every batch in the one transaction whose token check fences them.
      await this.#db.transaction(async (sql) => {
        for (const batch of batches) await sql.affected(this.#delete(batch.length), [this.#name, chatId, ...batch]);
      }, { name: this.#name, token });
      return;
    }
    // Deleting references is idempotent: several statements need no transaction.
    for (const batch of batches) await this.#db.write(this.#delete(batch.length), [this.#name, chatId, ...batch], token, this.#name);
  }

  async deleteByPeer(peerId: bigint): Promise<void> {
    await this.#write(this.#deleteByPeer, [this.#name, peerId]);
  }

  async clear(): Promise<void> {
    await this.#write(this.#clear, [this.#name]);
  }

  /** Keyset paging after the seq of the last reference of the previous page. */
  async list(after: bigint | null, limit: number): Promise<RefMessageListPage> {
    // One row more than the page tells whether another page follows.
    const rows = await this.#db.query(this.#page, [this.#name, after ?? 0n, limit + 1]);
    const where = `session ${JSON.stringify(this.#name)}, reference message`;
    const refs = rows.slice(0, limit).map((row) => ({
      peerId: int64FromStorage(row.peer_id, `${where} peer_id`),
      chatId: int64FromStorage(row.chat_id, `${where} chat_id`),
      messageId: num(row.message_id),
    }));
    return { refs, next: rows.length > limit ? int64FromStorage((rows[limit - 1] as { seq_text: unknown }).seq_text, `${where} seq`) : null };
  }
}
