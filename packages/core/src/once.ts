/**
 * Work an adapter does once, on first use: connect, migrate, prepare. A failed
 * attempt is forgotten, so the next call tries again (the server may be down when
 * the process starts); once it succeeded, `done` and `value` let a hot path skip
 * the await. Adapters share this instead of each writing the same promise dance.
 */
export class Once<T> {
  readonly #work: () => Promise<T>;
  readonly #retryAfter: (error: unknown) => boolean;
  #promise: Promise<T> | undefined;
  #done = false;
  #value: T | undefined;

  /** `retryAfter(error)` false keeps a failure (e.g. a MigrationError no retry can fix). */
  constructor(work: () => Promise<T>, retryAfter: (error: unknown) => boolean = () => true) {
    this.#work = work;
    this.#retryAfter = retryAfter;
  }

  /** True once the work succeeded. */
  get done(): boolean {
    return this.#done;
  }

  /** The result, once `done`. */
  get value(): T | undefined {
    return this.#value;
  }

  /** The attempt in flight or the finished one; starts one if there is none. */
  run(): Promise<T> {
    if (this.#promise !== undefined) return this.#promise;
    let attempt: Promise<T>;
    try {
      attempt = this.#work();
    } catch (error) {
      attempt = Promise.reject(error);
    }
    const promise: Promise<T> = attempt.then(
      (value) => {
        this.#value = value;
        this.#done = true;
        return value;
      },
      (error: unknown) => {
        if (this.#promise === promise && this.#retryAfter(error)) this.#promise = undefined;
        throw error;
      },
    );
    this.#promise = promise;
    return promise;
  }

  /** Waits for an attempt in flight, whatever its outcome (before closing a connection). */
  async settled(): Promise<void> {
    await this.#promise?.catch(() => undefined);
  }
}
