/**
 * mtcute's `IReferenceMessagesRepository` over `Storage.refMessages`. mtcute calls
 * `deleteByPeer` for every peer it stores, so writes are queued until the driver's
 * `save()` (in call order) instead of costing a round trip each; a lookup first
 * writes what is queued. Marked ids are numbers in mtcute, bigints in mtstore.
 *
 * While this storage instance holds the session's lease (the only writer, §12), the
 * peers that have references are read once (`refMessages.list`) and kept up to date,
 * so a `deleteByPeer` of a peer without any — nearly every one of them: references
 * exist only for min peers — is no write at all. Without the lease every one is
 * written.
 */
import type { Storage } from '@mtstore/core';
import type { IReferenceMessagesRepository } from '@mtcute/core';

type RefOp =
  | { kind: 'store'; peerId: bigint; chatId: bigint; messageId: number }
  | { kind: 'delete'; chatId: bigint; messageIds: number[] }
  | { kind: 'deleteByPeer'; peerId: bigint };

/** References per `list` page when reading which peers have any. */
const LIST_PAGE = 10_000;

export class MtstoreRefMessages implements IReferenceMessagesRepository {
  readonly #storage: Storage;
  #queue: RefOp[] = [];
  /** The running write, so lookups and saves wait for it. */
  #writing: Promise<void> = Promise.resolve();
  /**
   * Every peer that may have a reference (a superset: `delete` by message keeps its
   * peers here), read under the lease acquisition `#token`; null when not known.
   */
  #withRefs: Set<bigint> | null = null;
  #token: bigint | undefined;

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
    this.#withRefs = null;
    await this.#storage.refMessages.clear();
  }

  /** The peers that may have references, when this instance holds the lease (read once per acquisition); else null. */
  async #peersWithRefs(): Promise<Set<bigint> | null> {
    const token = this.#storage.lease.held?.token;
    if (token === undefined) {
      this.#withRefs = null;
      return null;
    }
    if (this.#withRefs !== null && this.#token === token) return this.#withRefs;
    const peers = new Set<bigint>();
    let cursor: string | null | undefined;
    do {
      const page = await this.#storage.refMessages.list({ cursor, limit: LIST_PAGE });
      for (const ref of page.refs) peers.add(ref.peerId);
      cursor = page.cursor;
    } while (cursor !== null);
    // Still the same acquisition: nobody else wrote meanwhile.
    if (this.#storage.lease.held?.token !== token) return null;
    this.#withRefs = peers;
    this.#token = token;
    return peers;
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
          const known = await this.#peersWithRefs();
          const targets = known === null ? [...peers] : [...peers].filter((peerId) => known.has(peerId));
          await Promise.all(targets.map((peerId) => this.#storage.refMessages.deleteByPeer(peerId)));
          if (known !== null) for (const peerId of targets) known.delete(peerId);
          done = end;
          continue;
        }
        if (op.kind === 'store') {
          // Known before it is written: the set never misses a peer that has a reference.
          this.#withRefs?.add(op.peerId);
          await this.#storage.refMessages.store(op.peerId, op.chatId, op.messageId);
        } else await this.#storage.refMessages.delete(op.chatId, op.messageIds);
        done++;
      }
    } catch (error) {
      this.#queue = [...ops.slice(done), ...this.#queue];
      throw error;
    }
  }
}
