/**
 * The write-through queue. GramJS's session API is synchronous, so every change it
 * makes is applied in memory at once and written to the Storage here, one write
 * after the other in call order (a key set then removed must not land the other way
 * round). A failed write goes to the error handler; nothing waits on it, so nothing
 * else would notice.
 */
import type { Peer } from '@mtstore/core';

/** Receives every write that failed: the error and what was being written. */
export type WriteErrorHandler = (error: unknown, operation: string) => void;

/** Peers per upsert when queued batches are merged: well inside every adapter's comfortable batch. */
const MAX_MERGED_PEERS = 1000;

export class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();
  /** The peer batch queued last and not started yet: later peers join it. */
  private openBatch: Peer[] | null = null;

  constructor(private readonly onError: WriteErrorHandler) {}

  /** Queues a write; its failure goes to the error handler. */
  write(operation: string, task: () => Promise<void>): void {
    this.openBatch = null;
    this.tail = this.tail.then(task).catch((error: unknown) => this.report(error, operation));
  }

  /** Queues a task whose result or failure goes to the caller (load, delete). */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.openBatch = null;
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Queues peers for one upsert. While the previous batch waits behind other writes
   * these join it: a busy client (updates carry users on every message) sends one
   * upsert per round trip instead of one per update. Upserts of the same peer keep
   * their order: the last one wins within a batch as across batches.
   */
  upsertPeers(peers: readonly Peer[], upsert: (batch: Peer[]) => Promise<void>): void {
    const open = this.openBatch;
    if (open !== null && open.length + peers.length <= MAX_MERGED_PEERS) {
      open.push(...peers);
      return;
    }
    const batch = [...peers];
    this.write('peers.upsert', () => {
      if (this.openBatch === batch) this.openBatch = null;
      return upsert(batch);
    });
    this.openBatch = batch;
  }

  /** Resolves once every write queued so far, and any queued meanwhile, has finished. */
  async settled(): Promise<void> {
    let tail: Promise<unknown>;
    do {
      tail = this.tail;
      await tail;
    } while (tail !== this.tail);
  }

  private report(error: unknown, operation: string): void {
    try {
      this.onError(error, operation);
    } catch (handlerError) {
      // A throwing handler must not hide the write's failure (or break the queue).
      console.error(`@mtstore/gramjs: ${operation} failed:`, error, '; the onError handler threw:', handlerError);
    }
  }
}
