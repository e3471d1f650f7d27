import type { RefMessage, RefMessageListPage, RefMessageRepository } from '@mtstore/core';
import { SessionPart, type RefTable } from './store.js';

function messageKey(chatId: bigint, messageId: number): string {
  return `${chatId}:${messageId}`;
}

/**
 * Reference messages of one session, indexed by peer and by message, and in store
 * order by a per-session sequence (`list`): storing a reference again gives it the
 * next number, so it moves last both for its peer and in the listing.
 */
export class MemoryRefMessages extends SessionPart implements RefMessageRepository {
  #table(): RefTable | undefined {
    return this.current()?.refs;
  }

  async store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    this.fence();
    const table = this.entry().refs;
    const key = messageKey(chatId, messageId);
    let refs = table.byPeer.get(peerId);
    if (refs === undefined) table.byPeer.set(peerId, (refs = new Map()));
    // Delete first so the reference moves to the end: Map order is recency.
    const previous = refs.get(key);
    if (previous !== undefined) table.bySeq.delete(previous.seq);
    refs.delete(key);
    const ref = { chatId, messageId, seq: ++table.seq };
    refs.set(key, ref);
    table.bySeq.set(ref.seq, { peerId, ref });
    let peers = table.byMessage.get(key);
    if (peers === undefined) table.byMessage.set(key, (peers = new Set()));
    peers.add(peerId);
  }

  async getByPeer(peerId: bigint): Promise<RefMessage | null> {
    const refs = this.#table()?.byPeer.get(peerId);
    if (refs === undefined) return null;
    let last: RefMessage | undefined;
    for (const ref of refs.values()) last = ref;
    // Stryker disable next-line ConditionalExpression: equivalent: a peer's map is never empty (delete and deleteByPeer remove emptied maps)
    return last === undefined ? null : { chatId: last.chatId, messageId: last.messageId };
  }

  async delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    this.fence();
    const table = this.#table();
    if (table === undefined) return;
    for (const messageId of messageIds) {
      const key = messageKey(chatId, messageId);
      // Stryker disable next-line ArrayDeclaration: equivalent: the placeholder is a string, which no peer map is keyed by
      for (const peerId of table.byMessage.get(key) ?? []) {
        const refs = table.byPeer.get(peerId);
        // Stryker disable next-line OptionalChaining: equivalent: byMessage and byPeer are kept in step, so a peer listed for a message has a map
        const ref = refs?.get(key);
        // Stryker disable next-line ConditionalExpression: equivalent: byMessage and byPeer are kept in step, so the reference exists
        if (ref !== undefined) table.bySeq.delete(ref.seq);
        // Stryker disable next-line OptionalChaining: equivalent: byMessage and byPeer are kept in step
        refs?.delete(key);
        // Stryker disable next-line ConditionalExpression,OptionalChaining: equivalent: an emptied map answers like a missing one (memory use only); the map exists (kept in step)
        if (refs?.size === 0) table.byPeer.delete(peerId);
      }
      table.byMessage.delete(key);
    }
  }

  async deleteByPeer(peerId: bigint): Promise<void> {
    this.fence();
    const table = this.#table();
    const refs = table?.byPeer.get(peerId);
    if (table === undefined || refs === undefined) return;
    for (const [key, ref] of refs) {
      table.bySeq.delete(ref.seq);
      const peers = table.byMessage.get(key);
      // Stryker disable next-line OptionalChaining: equivalent: byMessage and byPeer are kept in step
      peers?.delete(peerId);
      // Stryker disable next-line ConditionalExpression,OptionalChaining: equivalent: an emptied set deletes nothing (memory use only); the set exists (kept in step)
      if (peers?.size === 0) table.byMessage.delete(key);
    }
    table.byPeer.delete(peerId);
  }

  async clear(): Promise<void> {
    this.fence();
    const table = this.#table();
    table?.byPeer.clear();
    table?.byMessage.clear();
    table?.bySeq.clear();
  }

  /** `after` and `next` are seqs; a seq past 2^53 cannot be stored here, so none follows it. */
  async list(after: bigint | null, limit: number): Promise<RefMessageListPage> {
    const from = Number(after); // Number(null) is 0: the first page
    const bySeq = this.#table()?.bySeq;
    if (bySeq === undefined) return { refs: [], next: null };
    const refs: RefMessageListPage['refs'] = [];
    let last = from;
    for (const [seq, { peerId, ref }] of bySeq) {
      if (seq <= from) continue;
      // One more than the page: a next page exists.
      if (refs.length === limit) return { refs, next: BigInt(last) };
      refs.push({ peerId, chatId: ref.chatId, messageId: ref.messageId });
      last = seq;
    }
    return { refs, next: null };
  }
}
