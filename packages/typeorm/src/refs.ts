/**
 * Reference messages of one session in `ref_messages`: one row per (peer, chat,
 * message) with an auto-increment `seq`. Storing a reference again gives its row a
 * new, higher seq in the same statement (see `Dialect.insertRenewing`), so the most
 * recent reference of a peer is the row with its highest seq.
 */
import { int64FromStorage, type RefMessage, type RefMessageRepository } from '@mtstore/core';
import type { Connection } from './connection.js';
import { bySize, chunks, num } from './rows.js';

export class TypeormRefMessages implements RefMessageRepository {
  readonly #db: Connection;
  readonly #name: string;
  readonly #store: string;
  readonly #byPeer: string;
  readonly #delete: (count: number) => string;
  readonly #deleteByPeer: string;
  readonly #clear: string;

  constructor(db: Connection, name: string) {
    const { dialect: d, tables: t } = db.context;
    this.#db = db;
    this.#name = name;
    const key = ['session_name', 'peer_id', 'chat_id', 'message_id'];
    this.#store = d.sql(d.insertRenewing(t.refMessages, key, key, 'seq'));
    this.#byPeer = d.sql(
      `SELECT ${d.text('chat_id')} AS chat_id, message_id FROM ${t.refMessages} WHERE session_name = ? AND peer_id = ? ORDER BY seq DESC LIMIT 1`,
    );
    this.#delete = bySize((n) => d.sql(`DELETE FROM ${t.refMessages} WHERE session_name = ? AND chat_id = ? AND message_id IN (${d.list(n)})`));
    this.#deleteByPeer = d.sql(`DELETE FROM ${t.refMessages} WHERE session_name = ? AND peer_id = ?`);
    this.#clear = d.sql(`DELETE FROM ${t.refMessages} WHERE session_name = ?`);
  }

  async store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    await this.#db.execute(this.#store, [this.#name, peerId, chatId, messageId]);
  }

  async getByPeer(peerId: bigint): Promise<RefMessage | null> {
    const row = (await this.#db.query(this.#byPeer, [this.#name, peerId]))[0];
    if (row === undefined) return null;
    return { chatId: int64FromStorage(row.chat_id, `session ${JSON.stringify(this.#name)}, reference message chat_id`), messageId: num(row.message_id) };
  }

  async delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    const batches = chunks(messageIds, 1, this.#db.context.dialect.maxParams, 2);
    // Deleting references is idempotent: several statements need no transaction.
    for (const batch of batches) await this.#db.execute(this.#delete(batch.length), [this.#name, chatId, ...batch]);
  }

  async deleteByPeer(peerId: bigint): Promise<void> {
    await this.#db.execute(this.#deleteByPeer, [this.#name, peerId]);
  }

  async clear(): Promise<void> {
    await this.#db.execute(this.#clear, [this.#name]);
  }
}
