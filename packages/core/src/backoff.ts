/**
 * A background retry's timer: one at a time, the delay doubling from `firstMs` to
 * `maxMs` per round that was scheduled again, each jittered between half and all of it
 * (processes that lost the same server do not come back in step), and unref()ed, so it
 * never keeps a process alive. The bridges write again by themselves what an outage
 * refused (GramJS's resync, mtcute's driver save) with one of these.
 */
export class BackoffTimer {
  readonly #run: () => void;
  readonly #firstMs: number;
  readonly #maxMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #delay: number;

  constructor(run: () => void, firstMs = 100, maxMs = 5_000) {
    this.#run = run;
    this.#firstMs = firstMs;
    this.#maxMs = maxMs;
    this.#delay = firstMs;
  }

  /** A round is scheduled and has not run. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** Schedules the next round, unless one is: after the current delay, which then doubles (up to maxMs). */
  soon(): void {
    if (this.#timer !== undefined) return;
    const delay = this.#delay;
    this.#delay = Math.min(delay * 2, this.#maxMs);
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#run();
    }, delay / 2 + (Math.random() * delay) / 2);
    // Node's Timeout; a browser's is a number without unref.
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
  }

  /** The next round waits the first delay again (the outage ended). */
  reset(): void {
    this.#delay = this.#firstMs;
  }

  /** Drops a scheduled round and resets the delay. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#delay = this.#firstMs;
  }
}
