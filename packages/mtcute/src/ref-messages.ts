/**
 * mtcute's `IReferenceMessagesRepository` over `Storage.refMessages`. mtcute calls
 * `deleteByPeer` for every peer it stores, so writes are queued until the driver's
 * `save()` (in call order) instead of costing a round trip each; a lookup first
 * writes what is queued. Marked ids are numbers in mtcute, bigints in mtstore.
 */
import type { Storage } from '@mtstore/core';
import type { IReferenceMessagesRepository } from '@mtcute/core';

type RefOp =
  | { kind: 'store'; peerId: bigint; chatId: bigint; messageId: number }
  | { kind: 'delete'; chatId: bigint; messageIds: number[] }
  | { kind: 'deleteByPeer'; peerId: bigint };

export class MtstoreRefMessages implements IReferenceMessagesRepository {
  readonly #storage: Storage;
  #queue: RefOp[] = [];
  /** The running write, so lookups and saves wait for it. */
  #writing: Promise<void> = Promise.resolve();

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  store(peerId: number, chatId: number, msgId: number): void {
    this.#queue.push({ kind: 'store', peerId: BigInt(peerId), chatId: BigInt(chatId), messageId: msgId });
  }

  async getByPeer(peerId: number): Promise<[number, number] | null> {
    await this.save();
    const ref = await this.#storage.refMessages.getByPeer(BigInt(peerId));
    return ref === null ? null : [Number(ref.chatId), ref.messageId];
  }

  delete(chatId: number, msgIds: number[]): void {
    if (msgIds.length > 0) this.#queue.push({ kind: 'delete', chatId: BigInt(chatId), messageIds: [...msgIds] });
  }

  deleteByPeer(peerId: number): void {
    this.#queue.push({ kind: 'deleteByPeer', peerId: BigInt(peerId) });
  }

  async deleteAll(): Promise<void> {
    this.#queue = [];
    await this.#writing.catch(() => undefined);
    await this.#storage.refMessages.clear();
  }

  get pending(): boolean {
    return this.#queue.length > 0;
  }

  /** Writes the queue in order; on failure what was not written stays queued, ahead of newer calls. */
  save(): Promise<void> {
    const run = this.#writing.catch(() => undefined).then(() => this.#drain());
    this.#writing = run;
    return run;
  }

  async #drain(): Promise<void> {
    const ops = this.#queue;
    this.#queue = [];
    let done = 0;
    try {
      while (done < ops.length) {
        const op = ops[done] as RefOp;
        if (op.kind === 'deleteByPeer') {
          // A run of deleteByPeer commutes: one concurrent round.
          let end = done;
          while (end < ops.length && (ops[end] as RefOp).kind === 'deleteByPeer') end++;
          const peers = new Set(ops.slice(done, end).map((o) => (o as { peerId: bigint }).peerId));
          await Promise.all([...peers].map((peerId) => this.#storage.refMessages.deleteByPeer(peerId)));
          done = end;
          continue;
        }
        if (op.kind === 'store') await this.#storage.refMessages.store(op.peerId, op.chatId, op.messageId);
        else await this.#storage.refMessages.delete(op.chatId, op.messageIds);
        done++;
      }
    } catch (error) {
      this.#queue = [...ops.slice(done), ...this.#queue];
      throw error;
    }
  }
}
