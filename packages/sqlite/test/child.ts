import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WAIT = 30_000;

/**
 * A node process running one of the scripts in test/children (which import the
 * built @mtstore/sqlite), read line by line. Never a timed assertion: `next` only
 * gives up after a generous timeout so a hung child fails the test instead of
 * hanging it.
 */
export class Child {
  readonly process: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiting: Array<() => void> = [];
  #stderr = '';
  #partial = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(script: string, args: readonly string[] = [], options: { cwd?: string; uid?: number; gid?: number } = {}) {
    const path = fileURLToPath(new URL(`./children/${script}`, import.meta.url));
    this.process = spawn(process.execPath, [path, ...args], { cwd: options.cwd, uid: options.uid, gid: options.gid, stdio: ['pipe', 'pipe', 'pipe'] });
    this.process.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.#partial + chunk).split('\n');
      this.#partial = parts.pop() ?? '';
      this.#lines.push(...parts);
      for (const wake of this.#waiting.splice(0)) wake();
    });
    this.process.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        for (const wake of this.#waiting.splice(0)) wake();
        resolve({ code, signal });
      });
    });
  }

  /** Every complete line received so far, consumed or not. */
  get received(): readonly string[] {
    return this.#lines;
  }

  get stderr(): string {
    return this.#stderr;
  }

  #cursor = 0;

  /** The next line (after the ones already returned) matching `match`. */
  async next(match: (line: string) => boolean = () => true, what = 'a line'): Promise<string> {
    const deadline = Date.now() + WAIT;
    for (;;) {
      while (this.#cursor < this.#lines.length) {
        const line = this.#lines[this.#cursor++] as string;
        if (match(line)) return line;
      }
      if (this.process.exitCode !== null || this.process.signalCode !== null) {
        throw new Error(`child exited (${this.process.exitCode ?? this.process.signalCode}) before ${what}; stderr: ${this.#stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`no ${what} from the child within ${WAIT} ms; stderr: ${this.#stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.#waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    this.process.stdin?.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.process.kill(signal);
  }
}

/** A reply of test/children/agent.mjs. */
export interface Reply {
  ok?: string;
  err?: string;
  begin?: string;
  code?: string;
  message?: string;
  value?: unknown;
}

/**
 * test/children/agent.mjs: one SqliteStorage (session "shared") and one
 * SqliteSessionStorage on a file, driven by commands on stdin.
 */
export class Agent extends Child {
  constructor(path: string, busyTimeout?: number) {
    super('agent.mjs', busyTimeout === undefined ? [path] : [path, String(busyTimeout)]);
  }

  /** Waits until the agent has started `command` (it is about to run or running). */
  async started(command: string): Promise<void> {
    await this.next((line) => (JSON.parse(line) as Reply).begin === command, `the start of ${command}`);
  }

  /** The outcome of the next finished command. */
  async reply(): Promise<Reply> {
    return JSON.parse(await this.next((line) => (JSON.parse(line) as Reply).begin === undefined, 'a reply')) as Reply;
  }

  /** Sends a command and returns its outcome. */
  async run(command: string): Promise<Reply> {
    this.send(command);
    return this.reply();
  }

  async stop(): Promise<void> {
    this.send('exit');
    await this.exited;
  }
}
