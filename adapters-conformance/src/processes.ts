/**
 * Starting and steering the kit's worker processes (worker.ts) from a trait.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerJob } from './worker.js';

/** dist/worker.js beside this module, in the ESM and the CommonJS build alike. */
function workerPath(): string {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- undefined in ESM
  const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
  return join(here, 'worker.js');
}

export class Worker {
  readonly #child: ChildProcess;
  readonly #messages: Record<string, unknown>[] = [];
  readonly #waiters: (() => void)[] = [];
  #stderr = '';
  #exited = false;

  constructor(job: WorkerJob) {
    this.#child = spawn(process.execPath, [workerPath(), JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let buffer = '';
    this.#child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          this.#messages.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.#stderr += `unparsed stdout: ${line}\n`;
        }
        this.#wake();
      }
    });
    this.#child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-2000);
    });
    this.#child.on('exit', () => {
      this.#exited = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** The first message matching `predicate`, waiting up to `timeout` ms; a worker error fails at once. */
  async message(predicate: (m: Record<string, unknown>) => boolean, timeout: number, what: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const failure = this.#messages.find((m) => 'error' in m);
      if (failure) throw new Error(`worker failed ${what}: ${String(failure.error)}\n${this.#stderr}`);
      const found = this.#messages.find(predicate);
      if (found) return found;
      if (this.#exited) throw new Error(`worker exited ${what}\n${this.#stderr}`);
      if (Date.now() > deadline) throw new Error(`worker timed out ${what} after ${timeout} ms\n${this.#stderr}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Every message so far. */
  get messages(): readonly Record<string, unknown>[] {
    return this.#messages;
  }

  go(): void {
    this.#child.stdin?.write('go\n');
  }

  /** SIGKILL, then wait for the exit. */
  async kill(): Promise<void> {
    if (!this.#exited) {
      this.#child.kill('SIGKILL');
      await new Promise<void>((resolve) => (this.#exited ? resolve() : this.#child.once('exit', () => resolve())));
    }
  }
}
