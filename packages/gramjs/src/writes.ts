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

const IDLE: Promise<void> = Promise.resolve();

export class WriteQueue {
  /**
   * Settles once every write queued so far has; undefined when none is queued or
   * running (the queue is idle). Never rejects.
   */
  private tail: Promise<void> | undefined;
  /** The label of every task tracked and not settled yet, oldest first (undefined: a `run` task). */
  private readonly operations: (string | undefined)[] = [];
  /** The peer batch queued last and not started yet: later peers join it. */
  private openBatch: Peer[] | null = null;
  /** The upsert of `openBatch`: only peers for the same one join it (a background retry's is quiet on an outage). */
  private openUpsert: ((batch: Peer[]) => Promise<void>) | null = null;

  constructor(private readonly onError: WriteErrorHandler) {}

  /**
   * Nothing queued or running: a write queued now starts inside the `write` call
   * (the storage then copies its arguments before `write` returns).
   */
  get idle(): boolean {
    return this.tail === undefined;
  }

  /**
   * Queues a write; its failure goes to the error handler. On an idle queue it starts
   * at once (nothing is ahead of it, so the order is kept) instead of a microtask
   * later: a lone write — GramJS setting a key or the home DC — then costs one
   * promise reaction here instead of three.
   */
  write(operation: string, task: () => Promise<void>): void {
    this.openBatch = null;
    const tail = this.tail;
    this.track(tail === undefined ? start(task) : tail.then(task), operation);
  }

  /** Queues a task whose result or failure goes to the caller (load, delete). */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.openBatch = null;
    const result = (this.tail ?? IDLE).then(task);
    this.track(result, undefined);
    return result;
  }

  /**
   * Queues peers for one upsert. While the previous batch waits behind other writes
   * these join it: a busy client (updates carry users on every message) sends one
   * upsert per round trip instead of one per update. Upserts of the same peer keep
   * their order: the last one wins within a batch as across batches. A batch starts
   * a microtask later even on an idle queue, so the peers of everything GramJS
   * processes in one synchronous run go out as one upsert. Peers join only a batch
   * queued with the same `upsert`, whose failure handling they then share.
   */
  upsertPeers(peers: Peer[], upsert: (batch: Peer[]) => Promise<void>): void {
    const open = this.openBatch;
    if (open !== null && upsert === this.openUpsert && open.length + peers.length <= MAX_MERGED_PEERS) {
      for (const peer of peers) open.push(peer);
      return;
    }
    // The caller's array is a fresh one it hands over (processEntities' changed peers).
    const batch = peers;
    const run = (): Promise<void> => {
      if (this.openBatch === batch) this.openBatch = null;
      return upsert(batch);
    };
    this.track((this.tail ?? IDLE).then(run), 'peers.upsert');
    this.openBatch = batch;
    this.openUpsert = upsert;
  }

  /**
   * Resolves once every write queued so far, and any queued meanwhile, has finished.
   * One reaction on the tail (no async function: that is a promise, an await and a
   * resumption more per save()); a tail queued meanwhile is waited for the same way.
   */
  settled(): Promise<void> {
    const tail = this.tail;
    return tail === undefined ? IDLE : tail.then(this.recheck);
  }

  private readonly recheck = (): Promise<void> | undefined => (this.tail === undefined ? undefined : this.settled());

  /**
   * Makes `done` the new tail. Tasks settle in the order they were tracked (each starts
   * after the previous one's reaction ran), so their labels are a FIFO and the two
   * reactions are the queue's own, allocated once: nothing is allocated per write for
   * them. The reactions report a failure (to the error handler for writes; a `run`
   * task's failure is its caller's) and mark the queue idle when nothing was queued after.
   */
  private track(done: Promise<unknown>, operation: string | undefined): void {
    this.operations.push(operation);
    this.tail = done.then(this.succeeded, this.failed);
  }

  private readonly succeeded = (): void => {
    const operations = this.operations;
    operations.shift();
    if (operations.length === 0) this.tail = undefined;
  };

  private readonly failed = (error: unknown): void => {
    const operations = this.operations;
    const operation = operations.shift();
    if (operations.length === 0) this.tail = undefined;
    if (operation !== undefined) this.report(error, operation);
  };

  private report(error: unknown, operation: string): void {
    try {
      this.onError(error, operation);
    } catch (handlerError) {
      // A throwing handler must not hide the write's failure (or break the queue).
      console.error(`@mtstore/gramjs: ${operation} failed:`, error, '; the onError handler threw:', handlerError);
    }
  }
}

/**
 * Runs `task` now, as `then` would run it later: a synchronous throw becomes a
 * rejection, and whatever it returns is adopted (Promise.resolve hands a native
 * promise back as it is).
 */
function start(task: () => Promise<void>): Promise<void> {
  try {
    return Promise.resolve(task());
  } catch (error) {
    return Promise.reject(error);
  }
}
