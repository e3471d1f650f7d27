/**
 * A pg pool whose wait for a free connection is bounded by the server's silence, for the
 * adapters that create pg pools (@mtstore/postgres' own, @mtstore/typeorm's owned
 * postgres DataSource). pg-pool's `connectionTimeoutMillis` bounds both opening a
 * connection and a call's wait in the pool's queue, so on a healthy server a burst longer
 * than the pool serves in that time lost its tail: 20,000 peer writes on a default pool
 * (10 connections, 10 s) stored 2,240-3,814, the rest failed "timeout exceeded when
 * trying to connect" while the server was answering every one (an MTProto server's
 * thundering herd after a restart). Here the pool's queue waits without a bound, each
 * Client bounds its own connect, and a watch rejects a queued call once it has waited
 * that long while the pool heard nothing from the server. pg is never imported: the
 * adapter hands in its Pool and Client classes.
 */

import { checkoutTimeout, CheckoutWatch, type QueuedCheckout } from './checkout-watch.js';

/** pg-pool's checkout callback. */
type ConnectCallback = (error: Error | undefined, client: unknown, release: (release?: unknown) => void) => void;

/** The part of a pg-pool Pool the watch uses. */
export interface PgPoolLike {
  connect(callback?: ConnectCallback): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

export type PgPoolConfig = Record<string, unknown> & { connectionTimeoutMillis?: unknown; Client?: unknown };
/** A pg-pool Pool class (pg's `Pool`, or a subclass). */
export type PgPoolClass = new (config?: PgPoolConfig) => PgPoolLike;
/** A pg Client class (pg's `Client`, or a subclass). */
export type PgClientClass = new (config?: unknown) => object;

/**
 * `Base` whose connect gives up after `ms` (pg's Client's own `connectionTimeoutMillis`,
 * from the TCP connect to the server's ReadyForQuery): the pool passes its config to
 * each Client it opens, and there `connectionTimeoutMillis` is 0 (see silenceBoundedPool).
 */
function timedClient(Base: PgClientClass, ms: number): PgClientClass {
  return class TimedClient extends Base {
    constructor(config?: unknown) {
      if (typeof config !== 'object' || config === null) {
        super(config);
        return;
      }
      // Copied with its descriptors: pg-pool makes `password` non-enumerable, and a spread would drop it.
      const own = Object.create(Object.getPrototypeOf(config) as object | null, Object.getOwnPropertyDescriptors(config)) as { connectionTimeoutMillis?: number };
      own.connectionTimeoutMillis = ms;
      super(own);
    }
  };
}

/**
 * Whether a connection handed back to pg-pool (its 'release' event: what the caller
 * released it with, and the client) is the server heard from: released without an error
 * and still usable, as pg-pool itself judges it before it keeps a connection. One
 * released with an error is closed by pg-pool (a server's error reply so counts only once
 * the connection replacing it opens). A statement that got no reply within query_timeout
 * is released with pg's "Query read timeout" (@mtstore/postgres), or its connection is
 * ended first and released without one (@mtstore/typeorm): counted as answers, those
 * releases on a silent server restarted the silence, and the calls queued there waited up
 * to query_timeout longer (pool of 2, query_timeout 900 ms, T 1 s: the last of 40
 * rejected after 1.9 s).
 */
function answered(error: unknown, client: unknown): boolean {
  const state = client as { _queryable?: unknown; _ending?: unknown } | null | undefined;
  return !error && Boolean(state?._queryable) && !state?._ending;
}

/** A queued checkout's callbacks: the caller's, and what pg-pool holds (the caller's unless the watch rejected the call first). */
interface Checkout {
  readonly callback: ConnectCallback;
  readonly onConnect: ConnectCallback;
}

/**
 * `Base` (pg's Pool) whose `connectionTimeoutMillis` (T) means: how long opening a
 * connection may take, and how long a call may wait for a connection while the server
 * completes nothing. A queued call that waited T fails only once the pool heard nothing
 * from the server for T either (no connection came back sound, none was opened: see
 * answered): a server that keeps answering serves the whole queue, however long it is;
 * one that went silent (connections stuck on statements that get no reply, given up on
 * after query_timeout) has its queued calls rejected after about T, as before. Silence
 * is counted as core's whenSilent counts it: time in which this process was too busy to
 * read the replies (its own backlog) does not count.
 */
export function silenceBoundedPool(Base: PgPoolClass, BaseClient: PgClientClass): PgPoolClass {
  return class OwnedPool extends Base {
    /** T, ms (see silenceBoundedPool). 0: no bound, as pg-pool's 0. */
    readonly #quiet: number;
    /** The checkouts not yet answered (0 when T is). */
    readonly #watch: CheckoutWatch<Checkout> | undefined;

    constructor(config: PgPoolConfig = {}) {
      const quiet = Number(config.connectionTimeoutMillis ?? 0) || 0;
      const Client = (typeof config.Client === 'function' ? config.Client : BaseClient) as PgClientClass;
      // Each Client bounds its own connect (also one pg-pool opens while no checkout of
      // this class is under way: its queue moving on after a connection was removed).
      super(quiet > 0 ? { ...config, Client: timedClient(Client, quiet) } : config);
      this.#quiet = quiet;
      if (quiet === 0) return;
      const watch = new CheckoutWatch<Checkout>(quiet, (expired) => {
        this.#dequeue(expired);
        for (const waiter of expired) waiter.data.callback(checkoutTimeout(quiet), undefined, () => {});
      });
      this.#watch = watch;
      this.on('release', (error, client) => {
        if (answered(error, client)) watch.heard();
      });
      // Emitted only for a connection opened (pg-pool's failed connects emit nothing).
      this.on('connect', () => watch.heard());
    }

    // pg-pool's own query() checks out through connect(), and TypeORM passes a callback.
    override connect(callback?: ConnectCallback): Promise<unknown> | void {
      if (callback === undefined) {
        return new Promise((resolve, reject) => this.#checkout((error, client) => (client === undefined ? reject(error) : resolve(client))));
      }
      this.#checkout(callback);
    }

    #checkout(callback: ConnectCallback): void {
      const watch = this.#watch;
      if (watch === undefined) {
        super.connect(callback);
        return;
      }
      const waiter = watch.queue({
        callback,
        onConnect: (error, client, release) => {
          if (waiter.cancelled) {
            // The caller was told it failed: its statement must never run. Handed back from a
            // microtask, not inside pg-pool's hand-over to the next waiter (a backlog would nest one per call).
            if (client !== undefined) queueMicrotask(() => release());
            return;
          }
          watch.served(waiter);
          callback(error, client, release);
        },
      });
      // The queue's bound is the watch's: pg-pool's connect() reads its
      // connectionTimeoutMillis there and then (a timer for a call it queues; a new
      // client's connect bound, which the Client keeps), so it reads 0 during this one
      // call. The pool's config still says T to whoever reads it: opening a connection
      // is bounded by it. A pg-pool that read it elsewhere would only time the queue as before.
      const options = (this as unknown as { options?: { connectionTimeoutMillis?: unknown } }).options;
      if (options === undefined) return void super.connect(waiter.data.onConnect);
      options.connectionTimeoutMillis = 0;
      try {
        super.connect(waiter.data.onConnect);
      } finally {
        options.connectionTimeoutMillis = this.#quiet;
      }
    }

    /**
     * Takes the expired waiters out of pg-pool's queue (its `_pendingQueue`, an array of
     * items whose `callback` is what connect() was given), in one pass. If a pg-pool
     * version keeps it otherwise, they stay queued and a connection handed to one goes
     * straight back (QueuedCheckout.cancelled): correct, only slower.
     */
    #dequeue(expired: readonly QueuedCheckout<Checkout>[]): void {
      const queue = (this as unknown as { _pendingQueue?: unknown })._pendingQueue;
      if (!Array.isArray(queue)) return;
      const gone = new Set<unknown>(expired.map((w) => w.data.onConnect));
      let kept = 0;
      for (const item of queue as { callback?: unknown }[]) {
        if (!gone.has(item?.callback)) queue[kept++] = item;
      }
      queue.length = kept;
    }
  } as unknown as PgPoolClass;
}
