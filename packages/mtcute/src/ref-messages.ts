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
import { InvalidArgumentError, type Storage } from '@mtstore/core';
import type { IReferenceMessagesRepository } from '@mtcute/core';
import type { ReportDropped } from './dropped.js';
import { LogoutFence } from './logout-fence.js';

type RefOp =
  | { kind: 'store'; peerId: bigint; chatId: bigint; messageId: number }
  | { kind: 'delete'; chatId: bigint; messageIds: number[] }
  | { kind: 'deleteByPeer'; peerId: bigint };

/** References per `list` page when reading which peers have any. */
const LIST_PAGE = 10_000;
/** Message ids per `refMessages.delete` call: core takes at most 10,000. */
const DELETE_CHUNK = 10_000;

export class MtstoreRefMessages implements IReferenceMessagesRepository {
  readonly #storage: Storage;
  readonly #dropped: ReportDropped;
  #queue: RefOp[] = [];
  /**
   * The running write, so lookups, saves and deleteAll() wait for it, and the logouts so
   * far: a write begun before one does not queue its failed calls again.
   */
  readonly #fence = new LogoutFence();
  /**
   * Every peer that may have a reference (a superset: `delete` by message keeps its
   * peers here), read under the lease acquisition `#token`; null when not known.
   */
  #withRefs: Set<bigint> | null = null;
  #token: bigint | undefined;

  constructor(storage: Storage, dropped: ReportDropped = () => undefined) {
    this.#storage = storage;
    this.#dropped = dropped;
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
    const id = BigInt(chatId);
    for (let at = 0; at < msgIds.length; at += DELETE_CHUNK) this.#queue.push({ kind: 'delete', chatId: id, messageIds: msgIds.slice(at, at + DELETE_CHUNK) });
  }

  deleteByPeer(peerId: number): void {
    this.#queue.push({ kind: 'deleteByPeer', peerId: BigInt(peerId) });
  }

  /** mtcute's logout: what is queued goes, and a write under way is waited for (it could land after the clear). */
  async deleteAll(): Promise<void> {
    const settled = this.#fence.logout();
    this.#queue = [];
    await settled;
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

  /**
   * Writes the queue in order; on failure what was not written stays queued, ahead of
   * newer calls (unless a logout came meanwhile: those calls were the old account's). A call core rejects (InvalidArgumentError: a message id outside
   * 1..2³¹−1, an id outside int64) is dropped and reported, and the rest written.
   */
  save(): Promise<void> {
    return this.#fence.writing(this.#fence.settled.then(() => this.#drain()));
  }

  async #drain(): Promise<void> {
    const ops = this.#queue;
    this.#queue = [];
    const clears = this.#fence.clears;
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
          const results = await Promise.allSettled(targets.map((peerId) => this.#storage.refMessages.deleteByPeer(peerId)));
          for (const result of results) if (result.status === 'rejected') this.#dropOrThrow(result.reason);
          if (known !== null) for (const peerId of targets) known.delete(peerId);
          done = end;
          continue;
        }
        try {
          if (op.kind === 'store') {
            // Known before it is written: the set never misses a peer that has a reference.
            this.#withRefs?.add(op.peerId);
            await this.#storage.refMessages.store(op.peerId, op.chatId, op.messageId);
          } else await this.#storage.refMessages.delete(op.chatId, op.messageIds);
        } catch (error) {
          this.#dropOrThrow(error);
        }
        done++;
      }
    } catch (error) {
      if (this.#fence.current(clears)) this.#queue = [...ops.slice(done), ...this.#queue];
      throw error;
    }
  }

  /** Core's InvalidArgumentError: the call can never be written, dropped and reported. Anything else is thrown. */
  #dropOrThrow(error: unknown): void {
    if (!(error instanceof InvalidArgumentError)) throw error;
    this.#dropped(error.message);
  }
}
