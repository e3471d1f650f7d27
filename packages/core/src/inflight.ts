import { CallList, type ListedCall } from './call-list.js';

/**
 * The calls of an instance that went to its database and have not settled, for a
 * `close()` that lets them finish before it closes the connection (docs/contract.md §9):
 * drivers that end a client under its work (ioredis, the MongoDB driver) fail a call made
 * just before `close()` — still connecting, queued, or sent — on a database that answers,
 * leaving the caller a write whose outcome it cannot know. An adapter counts each call
 * with `track` and, in its close, awaits `settled` before it closes the client. One whose
 * driver cannot fail its calls (pg's pool, which may be the application's) rejects those
 * left once `settled(quietMs)` gave up on them itself: `trackAbandonable`, `abandon`.
 * `Mark`: what an abandonable call is tagged with, for an `abandon` of some of them only
 * (TypeORM: the pool a call was made on, rejected once the application ended that pool).
 */
export class CallsInFlight<Mark = undefined> {
  #count = 0;
  /** When a call last settled, while a `settled(quietMs)` waits. */
  #lastSettled = 0;
  #waiting = false;
  #drained: (() => void) | undefined;
  /** The calls of trackAbandonable in flight (see abandon). */
  readonly #abandonable = new CallList<Abandonable<Mark>>();

  /** How many tracked calls have not settled. */
  get size(): number {
    return this.#count;
  }

  /** `work`, counted until it settles; returned as it is (its outcome is the caller's). */
  track<T>(work: Promise<T>): Promise<T> {
    this.#count++;
    work.then(this.done, this.done);
    return work;
  }

  /**
   * `work`, counted until it settles, behind a promise of the caller's own: it settles as
   * `work` does, unless `abandon` rejects it first (then `work`'s outcome is ignored).
   * `mark`: what `abandon`'s `which` is asked about this call.
   */
  trackAbandonable<T>(work: Promise<T>, mark?: Mark): Promise<T> {
    this.#count++;
    return new Promise<T>((resolve, reject) => {
      const call = this.#abandonable.add(new Abandonable(reject, mark));
      work.then(
        (value) => {
          // Not in the list any more: abandon() rejected it and stopped counting it.
          if (this.#abandonable.release(call)) this.done();
          resolve(value);
        },
        (error: unknown) => {
          if (this.#abandonable.release(call)) this.done();
          reject(error);
        },
      );
    });
  }

  /**
   * Rejects every call of trackAbandonable still in flight, each with an `error()` of its
   * own, and stops counting them: for a close() that gave up waiting (settledWithin) on a
   * driver that would not fail them itself. With `which`, only the calls whose mark it
   * picks (the others go on as before). Calls counted by track or add() are left. A
   * close() waiting in `settled` resolves true once none is left; the calls rejected
   * count as heard from (they settled, for their callers).
   */
  abandon(error: () => Error, which?: (mark: Mark | undefined) => boolean): void {
    const calls = which === undefined ? this.#abandonable.drain() : this.#abandonable.releaseWhere((call) => which(call.mark));
    for (const call of calls) {
      call.reject(error());
      this.done();
    }
  }

  /**
   * One more call in flight, which the caller ends with `done()` when it settles: for a
   * hot path that settles in a `then` of its own and would pay another promise in track.
   */
  add(): void {
    this.#count++;
  }

  /** A call counted by add() settled (an arrow in a field: one function, none per call). */
  readonly done = (): void => {
    // Date.now() only while a close waits: the hot path pays a decrement.
    if (this.#waiting) this.#lastSettled = Date.now();
    if (--this.#count === 0) this.#drained?.();
  };

  /**
   * Resolves true once no tracked call is in flight. With `quietMs`, resolves false
   * instead once that long passes without a call settling (counted from this call): the
   * database stopped answering, and the adapter cuts the rest off. A database that keeps
   * answering is never cut off: a long run of calls finishes, one after another. Without
   * `quietMs` it waits as long as the calls take (an application's own client, whose
   * timeouts are the application's).
   */
  settled(quietMs?: number): Promise<boolean> {
    return this.#wait(quietMs, undefined);
  }

  /**
   * Resolves true once no tracked call is in flight, or false once `timeoutMs` passed
   * (counted from this call) with calls still in flight, however many settled meanwhile.
   * A plain deadline, not the database's silence (`settled(quietMs)`, which every
   * adapter's close() grace uses): PostgreSQL's close() takes it only for
   * `closeTimeoutMillis: 0`, no wait at all.
   */
  settledWithin(timeoutMs: number): Promise<boolean> {
    return this.#wait(undefined, timeoutMs);
  }

  #wait(quietMs: number | undefined, timeoutMs: number | undefined): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    this.#waiting = quietMs !== undefined;
    this.#lastSettled = Date.now();
    return new Promise<boolean>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let stopWatch: (() => void) | undefined;
      let over = false;
      const finish = (all: boolean): void => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        stopWatch?.();
        this.#drained = undefined;
        this.#waiting = false;
        resolve(all);
      };
      this.#drained = () => finish(true);
      if (timeoutMs !== undefined) timer = setTimeout(() => finish(false), timeoutMs);
      // Silence counts from the last call settled, and only while this process could hear the database (whenSilent).
      if (quietMs !== undefined) stopWatch = whenSilent(quietMs, () => this.#lastSettled, () => finish(false));
    });
  }
}

/** A call of trackAbandonable in flight: its promise's reject, its mark, and its links in the list. */
class Abandonable<Mark> implements ListedCall {
  listed = true;
  prev: ListedCall | undefined = undefined;
  next: ListedCall | undefined = undefined;

  constructor(readonly reject: (error: Error) => void, readonly mark: Mark | undefined) {}
}

/**
 * Calls `onSilent` once `quietMs` pass in which the database was silent, `heard()`
 * being when it was last heard from (a call settled, a connection checked back in);
 * counted from this call at the earliest. Returns a function that stops the watch
 * (idempotent; `onSilent` is not called after it). For an adapter's close() that cuts
 * off its calls once the database stops answering (CallsInFlight.settled(quietMs),
 * mongo's watch on the client it owns): one rule for all of them.
 *
 * Why not one timer of `quietMs`: silence is the database's only while this process
 * could hear it. The watch ticks every tenth of `quietMs`, and a tick that ran late by
 * more than that saw the process busy (its own backlog of calls, the application's
 * synchronous work); the replies, or the calls themselves (ioredis' auto-pipeline
 * sends on setImmediate), waited on the process then, not on the database, which gets
 * its quiet period again from that tick. And Node runs due timers before it reads the
 * sockets: replies that came in while the process was busy may sit unread, so silence
 * is decided only after one more poll phase has read them (setImmediate runs right
 * after it); heard from meanwhile, the watch goes on.
 */
export function whenSilent(quietMs: number, heard: () => number, onSilent: () => void): () => void {
  const step = Math.max(1, quietMs / 10);
  let from = Date.now();
  let due = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const arm = (ms: number): void => {
    due = Date.now() + ms;
    timer = setTimeout(check, ms);
  };
  const check = (): void => {
    const now = Date.now();
    if (now - due > step) from = now;
    const quiet = now - Math.max(heard(), from);
    if (quiet < quietMs) return arm(Math.min(step, quietMs - quiet));
    const seen = heard();
    timer = undefined;
    setImmediate(() => {
      if (stopped) return;
      if (heard() !== seen) return check();
      stopped = true;
      onSilent();
    });
  };
  arm(step);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
