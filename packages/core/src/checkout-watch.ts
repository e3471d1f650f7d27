/**
 * The wait of calls queued for a pooled connection, bounded by the server's silence: the
 * pools mtstore creates (pg's in silenceBoundedPool, mysql2's in @mtstore/typeorm) let a
 * call wait as long as the server keeps completing calls, and reject it once it has
 * waited `quietMs` while the pool heard nothing from the server in that time either. A
 * server that keeps answering serves a whole burst, however long its queue; one that went
 * silent has its queued calls rejected after about `quietMs`. Silence is counted as
 * whenSilent counts it: a tick of the watch that ran late (this process too busy to read
 * the replies, e.g. its own backlog) restarts it.
 */

/** One queued call: `data` is the pool's own (its callbacks). */
export interface QueuedCheckout<T> {
  /** When it was queued, ms. */
  readonly since: number;
  readonly data: T;
  /** Rejected by the watch: a connection the pool still hands it must go straight back, unused. */
  cancelled: boolean;
  prev: QueuedCheckout<T> | undefined;
  next: QueuedCheckout<T> | undefined;
}

/**
 * The queued calls of one pool, oldest first, and one timer for all of them (a tenth of
 * `quietMs` a tick, left to run out when the queue empties: no timer per call). The pool
 * calls `queue` for a call it cannot serve at once, `served` when one gets its
 * connection, and `heard` when the server answered something (a connection came back
 * sound, one was opened; not one closed after its statement got no reply in time).
 * `expire` gets the calls that waited too long, already cancelled and out of the watch,
 * oldest first: the pool takes them out of its own queue and rejects them
 * (checkoutTimeout).
 */
export class CheckoutWatch<T> {
  readonly #quiet: number;
  readonly #step: number;
  readonly #expire: (expired: readonly QueuedCheckout<T>[]) => void;
  #first: QueuedCheckout<T> | undefined;
  #last: QueuedCheckout<T> | undefined;
  /** When the server was last heard from, while calls wait. */
  #heard = 0;
  /** From when silence counts at the earliest: the last tick that ran late. */
  #from = 0;
  /** A tick is armed, or a decision waits for the next poll phase (#check). */
  #watching = false;
  /** When the armed tick is due. */
  #due = 0;

  constructor(quietMs: number, expire: (expired: readonly QueuedCheckout<T>[]) => void) {
    this.#quiet = quietMs;
    this.#step = Math.max(1, quietMs / 10);
    this.#expire = expire;
  }

  /** The server answered something. Only while calls wait is the clock read: a pool with room for every call pays nothing more. */
  heard(): void {
    if (this.#first !== undefined) this.#heard = Date.now();
  }

  queue(data: T): QueuedCheckout<T> {
    const waiter: QueuedCheckout<T> = { since: Date.now(), data, cancelled: false, prev: this.#last, next: undefined };
    if (this.#last === undefined) this.#first = waiter;
    else this.#last.next = waiter;
    this.#last = waiter;
    if (!this.#watching) this.#arm(this.#step);
    return waiter;
  }

  /** The call got its connection (or the pool's own error): out of the watch. */
  served(waiter: QueuedCheckout<T>): void {
    const { prev, next } = waiter;
    if (prev === undefined) {
      if (this.#first !== waiter) return; // already out
      this.#first = next;
    } else prev.next = next;
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
    setImmediate(() => (this.#heard !== seen ? this.#check() : this.#reject()));
  };

  /** Hands `expire` the calls that waited the bound while the server was silent for it; the watch goes on for the rest. */
  #reject(): void {
    const now = Date.now();
    const silentSince = Math.max(this.#heard, this.#from);
    const expired: QueuedCheckout<T>[] = [];
    while (this.#first !== undefined && now - Math.max(silentSince, this.#first.since) >= this.#quiet) {
      const waiter = this.#first;
      waiter.cancelled = true;
      this.served(waiter);
      expired.push(waiter);
    }
    if (this.#first !== undefined) this.#arm(this.#step);
    else this.#watching = false;
    if (expired.length > 0) this.#expire(expired);
  }
}

/** The error of a call the watch rejected (an adapter reports it as StorageUnavailableError). */
export function checkoutTimeout(ms: number): Error {
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
