/**
 * Reference messages of one session: one document per (peer, chat, message) in
 * `<prefix>ref_messages`, `{ _id: '<session>/<peer>/<chat>/<message>', session, peer:
 * Long, chat: Long, message, seq: Long }`, and per session a counter document
 * `{ _id: '<session>', seq: Long }` (no `session` field, so the filters below never
 * touch it) that hands out `seq`.
 *
 * Why a counter and not ObjectId order: ObjectIds are ordered by their creating
 * process only within a second (their time is in seconds, then a per-process
 * counter), so two processes storing within one second could order references
 * wrongly. The counter is one `findOneAndUpdate({ $inc })`, atomic on MongoDB; on
 * FerretDB 1.x (whose `$inc` is a non-atomic read-modify-write) `store` runs under
 * the session's lease. The reference is then written only if the stored copy (if
 * any) has a lower `seq`, so a slower concurrent store of the same reference never
 * makes it look older than it is. `getByPeer` is the highest `seq` of the peer, and
 * `list` pages by `seq`: store order.
 */
import type { RefMessage, RefMessageListPage, RefMessageRepository } from '@mtstore/core';
import { int64FromStorage, InvalidArgumentError } from '@mtstore/core';
import { Long, type UpdateFilter } from 'mongodb';
import { READ, type StringIdDocument } from './codec.js';
import { fenced, guarded, type Scope } from './context.js';
import { isDuplicateKey } from './lock.js';

export const refDocumentId = (session: string, peerId: bigint, chatId: bigint, messageId: number): string => `${session}/${peerId}/${chatId}/${messageId}`;

export class MongoRefMessages implements RefMessageRepository {
  constructor(private readonly scope: Scope) {}

  store(peerId: bigint, chatId: bigint, messageId: number): Promise<void> {
    return this.scope.run(async (c) => {
      const name = this.scope.name;
      await guarded(c, this.scope, 'refMessages.store', async () => {
        const counter = await c.refs.findOneAndUpdate({ _id: name }, { $inc: { seq: Long.ONE } } as unknown as UpdateFilter<StringIdDocument>, { upsert: true, returnDocument: 'after', useBigInt64: true });
        const seq = int64FromStorage(counter?.seq, `${this.scope.label}: reference message counter`);
        try {
          await c.refs.updateOne(
            { _id: refDocumentId(name, peerId, chatId, messageId), seq: { $lt: seq } },
            { $set: { session: name, peer: peerId, chat: chatId, message: messageId, seq } },
            { upsert: true },
          );
        } catch (error) {
          // The filter missed an existing document: a later store of this reference got there first.
          if (!isDuplicateKey(error)) throw error;
        }
      });
    });
  }

  getByPeer(peerId: bigint): Promise<RefMessage | null> {
    return this.scope.run(async (c) => {
      const doc = await c.refs.findOne({ session: this.scope.name, peer: peerId }, { ...READ, sort: { seq: -1 } });
      if (doc === null) return null;
      return { chatId: int64FromStorage(doc.chat, `${this.scope.label}: reference message ${doc._id} chat`), messageId: doc.message as number };
    });
  }

  delete(chatId: bigint, messageIds: readonly number[]): Promise<void> {
    return this.scope.run(async (c) => {
      await fenced(c, this.scope, 'refMessages.delete', () => c.refs.deleteMany({ session: this.scope.name, chat: chatId, message: { $in: [...messageIds] } }));
    });
  }

  deleteByPeer(peerId: bigint): Promise<void> {
    return this.scope.run(async (c) => {
      await fenced(c, this.scope, 'refMessages.deleteByPeer', () => c.refs.deleteMany({ session: this.scope.name, peer: peerId }));
    });
  }

  /**
   * One `find` per page: the session's references with `seq` above the cursor (the last
   * `seq` returned), sorted by `seq`. No index covers (session, seq): the server sorts
   * the session's references (a top-k sort, bounded by the page).
   */
  list(after: bigint | null, limit: number): Promise<RefMessageListPage> {
    return this.scope.run(async (c) => {
      // One more than the page tells whether another page follows.
      const docs = await c.refs
        .find({ session: this.scope.name, seq: { $gt: after ?? 0n } }, { ...READ, sort: { seq: 1 }, limit: limit + 1, projection: { peer: 1, chat: 1, message: 1, seq: 1 } })
        .toArray();
      const where = `${this.scope.label}: reference message`;
      const refs = docs.slice(0, limit).map((doc) => ({
        peerId: int64FromStorage(doc.peer, `${where} ${doc._id} peer`),
        chatId: int64FromStorage(doc.chat, `${where} ${doc._id} chat`),
        messageId: doc.message as number,
      }));
      const last = docs[limit - 1];
      return { refs, next: docs.length > limit && last !== undefined ? int64FromStorage(last.seq, `${where} ${last._id} seq`) : null };
    });
  }

  /** The references only: the counter stays, so later references still sort after earlier ones. */
  clear(): Promise<void> {
    return this.scope.run(async (c) => {
      await fenced(c, this.scope, 'refMessages.clear', () => c.refs.deleteMany({ session: this.scope.name }));
    });
  }
}
