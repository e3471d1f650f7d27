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

/** A checkout in the queue, oldest first. */
interface Waiter {
  /** When it was made, ms. */
  readonly since: number;
  /** What the caller gets (once). */
  readonly callback: ConnectCallback;
  /** What pg-pool holds: the caller's callback unless the watch rejected the call first. */
  readonly onConnect: ConnectCallback;
  /** Rejected by the watch: a connection pg-pool still hands it goes straight back. */
  cancelled: boolean;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/** The error of a call rejected by the watch (core reports it as StorageUnavailableError). */
function queueTimeout(ms: number): Error {
  // Without a stack: it would show only the timer's frames, and a silent server can have
  // thousands of calls queued, each rejected with its own error at once.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Error(`timeout exceeded when trying to connect: no connection of the pool came free in ${ms} ms, and the server completed no call in that time`);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * `Base` (pg's Pool) whose `connectionTimeoutMillis` (T) means: how long opening a
 * connection may take, and how long a call may wait for a connection while the server
 * completes nothing. A queued call that waited T fails only once the pool heard nothing
 * from the server for T either (no connection came back, none was opened): a server that
 * keeps answering serves the whole queue, however long it is; one that went silent
 * (connections stuck on statements that get no reply) has its queued calls rejected
 * after about T, as before. Silence is counted as core's whenSilent counts it: time in
 * which this process was too busy to read the replies (its own backlog) does not count.
 */
export function silenceBoundedPool(Base: PgPoolClass, BaseClient: PgClientClass): PgPoolClass {
  return class OwnedPool extends Base {
    /** T, ms (see silenceBoundedPool). 0: no bound, as pg-pool's 0. */
    readonly #quiet: number;
    /** The watch's tick: a tenth of T, as whenSilent's. */
    readonly #step: number;
    /** The checkouts not yet answered, oldest first. */
    #first: Waiter | undefined;
    #last: Waiter | undefined;
    /** When the server was last heard from (a connection came back or was opened), while checkouts wait. */
    #heard = 0;
    /** From when silence counts at the earliest: the last tick that ran late (this process was busy). */
    #from = 0;
    /** A tick is armed, or a decision waits for the next poll phase (#check). */
    #watching = false;
    /** When the armed tick is due. */
    #due = 0;

    constructor(config: PgPoolConfig = {}) {
      const quiet = Number(config.connectionTimeoutMillis ?? 0) || 0;
      const Client = (typeof config.Client === 'function' ? config.Client : BaseClient) as PgClientClass;
      // Each Client bounds its own connect (also one pg-pool opens while no checkout of
      // this class is under way: its queue moving on after a connection was removed).
      super(quiet > 0 ? { ...config, Client: timedClient(Client, quiet) } : config);
      this.#quiet = quiet;
      this.#step = Math.max(1, quiet / 10);
      // Only while calls wait is the clock read: a pool with room for every call pays nothing more.
      const heard = (): void => {
        if (this.#first !== undefined) this.#heard = Date.now();
      };
      this.on('release', heard);
      this.on('connect', heard);
    }

    // pg-pool's own query() checks out through connect(), and TypeORM passes a callback.
    override connect(callback?: ConnectCallback): Promise<unknown> | void {
      if (callback === undefined) {
        return new Promise((resolve, reject) => this.#checkout((error, client) => (client === undefined ? reject(error) : resolve(client))));
      }
      this.#checkout(callback);
    }

    #checkout(callback: ConnectCallback): void {
      if (this.#quiet === 0) {
        super.connect(callback);
        return;
      }
      const waiter: Waiter = {
        since: Date.now(),
        callback,
        onConnect: (error, client, release) => {
          if (waiter.cancelled) {
            // The caller was told it failed: its statement must never run. Handed back from a
            // microtask, not inside pg-pool's hand-over to the next waiter (a backlog would nest one per call).
            if (client !== undefined) queueMicrotask(() => release());
            return;
          }
          this.#unlink(waiter);
          callback(error, client, release);
        },
        cancelled: false,
        prev: this.#last,
        next: undefined,
      };
      if (this.#last === undefined) this.#first = waiter;
      else this.#last.next = waiter;
      this.#last = waiter;
      // One tick at a time, left to run out when the queue empties (no timer per call).
      if (!this.#watching) this.#arm(this.#step);
      // The queue's bound is the watch's: pg-pool's connect() reads its
      // connectionTimeoutMillis there and then (a timer for a call it queues; a new
      // client's connect bound, which the Client keeps), so it reads 0 during this one
      // call. The pool's config still says T to whoever reads it: opening a connection
      // is bounded by it. A pg-pool that read it elsewhere would only time the queue as before.
      const options = (this as unknown as { options?: { connectionTimeoutMillis?: unknown } }).options;
      if (options === undefined) return void super.connect(waiter.onConnect);
      options.connectionTimeoutMillis = 0;
      try {
        super.connect(waiter.onConnect);
      } finally {
        options.connectionTimeoutMillis = this.#quiet;
      }
    }

    #unlink(waiter: Waiter): void {
      const { prev, next } = waiter;
      if (prev === undefined) this.#first = next;
      else prev.next = next;
      if (next === undefined) this.#last = prev;
      else next.prev = prev;
      waiter.prev = waiter.next = undefined;
    }

    #arm(ms: number): void {
      this.#watching = true;
      this.#due = Date.now() + ms;
      // As pg-pool's own queue timer: a pool waiting for connections does not keep the process alive.
      setTimeout(this.#check, ms).unref();
    }

    /** whenSilent's rule, with each waiter's own start. */
    readonly #check = (): void => {
      const oldest = this.#first;
      if (oldest === undefined) {
        this.#watching = false;
        return;
      }
      const now = Date.now();
      // A tick that ran late saw this process busy: the replies may be unread, silence restarts.
      if (now - this.#due > this.#step) this.#from = now;
      const quiet = now - Math.max(this.#heard, this.#from, oldest.since);
      if (quiet < this.#quiet) return this.#arm(Math.min(this.#step, this.#quiet - quiet));
      // Node runs due timers before it reads the sockets: decided after one more poll phase.
      const seen = this.#heard;
      setImmediate(() => {
        if (this.#heard !== seen) return this.#check();
        this.#expire();
      });
    };

    /** Rejects the waiters that waited T while the server was silent for T; the watch goes on for the rest. */
    #expire(): void {
      const now = Date.now();
      const silentSince = Math.max(this.#heard, this.#from);
      const expired: Waiter[] = [];
      while (this.#first !== undefined && now - Math.max(silentSince, this.#first.since) >= this.#quiet) {
        const waiter = this.#first;
        waiter.cancelled = true;
        this.#unlink(waiter);
        expired.push(waiter);
      }
      if (expired.length > 0) this.#dequeue(expired);
      if (this.#first !== undefined) this.#arm(this.#step);
      else this.#watching = false;
      for (const waiter of expired) waiter.callback(queueTimeout(this.#quiet), undefined, () => {});
    }

    /**
     * Takes the expired waiters out of pg-pool's queue (its `_pendingQueue`, an array of
     * items whose `callback` is what connect() was given), in one pass. If a pg-pool
     * version keeps it otherwise, they stay queued and a connection handed to one goes
     * straight back (Waiter.cancelled): correct, only slower.
     */
    #dequeue(expired: readonly Waiter[]): void {
      const queue = (this as unknown as { _pendingQueue?: unknown })._pendingQueue;
      if (!Array.isArray(queue)) return;
      const gone = new Set<unknown>(expired.map((w) => w.onConnect));
      let kept = 0;
      for (const item of queue as { callback?: unknown }[]) {
        if (!gone.has(item?.callback)) queue[kept++] = item;
      }
      queue.length = kept;
    }
  } as unknown as PgPoolClass;
}
