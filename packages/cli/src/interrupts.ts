/**
 * Ctrl-C, a closed terminal or a kill while a command writes: taken instead of ending the
 * process, so the command can stop between batches and leave things as it says.
 */
import { CliError, EXIT } from './exit.js';

/** The signals that end a command: Ctrl-C, a closed terminal, kill's default. */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * A signal while a command writes. Its default action ends the process mid-write: export
 * left a half-written login at --out (a Telethon file and its -journal; GramJS's claimed
 * folder beside a hidden scratch folder holding the auth key), which the same command then
 * refused as existing; import died holding the session's lease, so the same import was
 * refused for the lease's 30 s; migrate and rotate-keys died without a word of how far
 * they got (migrate leaves a target session whose snapshot loads with part of its peers).
 * While the command writes the signal is taken instead, and the next batch the writer asks
 * for throws (exit 130 with `stopped`'s line), so the writer cleans up as on any failure:
 * export removes what it created, import, migrate and rotate-keys close their storages
 * (releasing import's lease). Before each batch the event loop gets a turn, else no signal
 * is seen (a storage's pages, a synchronous SQLite reader's batches, can resolve as
 * microtasks only). A second signal ends the process as the first would have (a source or
 * a server that hangs is not waited for).
 */
export class Interrupts {
  #signal: NodeJS.Signals | undefined;
  readonly #take = (signal: NodeJS.Signals): void => {
    if (this.#signal === undefined) {
      this.#signal = signal;
      return;
    }
    this.dispose();
    process.kill(process.pid, signal);
  };

  /** `stopped`: the one line the command exits with, asked when a signal stops it. */
  constructor(readonly stopped: (signal: NodeJS.Signals) => string) {
    for (const signal of INTERRUPTS) process.on(signal, this.#take);
  }

  dispose(): void {
    for (const signal of INTERRUPTS) process.off(signal, this.#take);
  }

  /** Throws the exit-130 error when a signal came (without a turn of the event loop: call it after one). */
  check(): void {
    if (this.#signal !== undefined) throw new CliError(EXIT.INTERRUPTED, this.stopped(this.#signal));
  }

  /** A turn of the event loop, in which a signal that came is taken; check() does not throw before one. */
  turn(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** A point between batches: a turn of the event loop, then check(). */
  async between(): Promise<void> {
    await this.turn();
    this.check();
  }

  /** `source`'s batches, each after a turn of the event loop, until a signal came. */
  async *batches<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const batch of source) {
      await this.between();
      yield batch;
    }
  }
}

/** A word a POSIX shell reads as itself: as it is when it needs no quoting, else in single quotes. */
function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `mtstore <args>` as a line to paste into a shell, for an interrupted command's "run
 * this to finish". The caller gives the storages as `shown()` prints them (a password as
 * ***, to be typed in again), never a key: --key names an environment variable.
 */
export function commandLine(args: readonly string[]): string {
  return ['mtstore', ...args].map(shellWord).join(' ');
}
