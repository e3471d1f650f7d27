/**
 * What a repository that keeps writes until the driver's `save()` needs so that
 * mtcute's logout (its `deleteAll()`) leaves nothing of the logged-out account:
 *
 * - the save's write under way is waited for before the clear: sent first, over a pool
 *   it can commit after a clear sent now, and nothing would clear it again;
 * - a write taken before the logout is the old account's: it is not begun after it, and
 *   not queued again when it fails. A taken write carries `clears` as it was when taken
 *   (one count per logout), and `current(clears)` says whether a logout came since.
 *
 * kv and reference messages use both; peers only the wait (its logout empties the
 * batch Map the save holds, which leaves a failed save nothing to put back).
 */
const settle = (): void => undefined;

export class LogoutFence {
  #clears = 0;
  /** The write under way, settled (never rejects); made once per write, not per wait. */
  #settled: Promise<void> = Promise.resolve();

  /** `deleteAll()` calls so far: what a taken write is stamped with. */
  get clears(): number {
    return this.#clears;
  }

  /** True when no logout came since `clears` was read: a write taken then is still this account's. */
  current(clears: number): boolean {
    return clears === this.#clears;
  }

  /** Records `run` as the write under way (what logout() and settled() wait for) and returns it. */
  writing<T>(run: Promise<T>): Promise<T> {
    this.#settled = run.then(settle, settle);
    return run;
  }

  /** The write under way, settled: never rejects. */
  get settled(): Promise<void> {
    return this.#settled;
  }

  /** A logout begins: writes taken from now on are the new account's. Resolves once the write under way settled. */
  logout(): Promise<void> {
    this.#clears++;
    return this.#settled;
  }
}
