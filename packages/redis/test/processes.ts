/**
 * redis-server child processes of a test file's own (replicas.ts' Cluster, sentinel.ts'
 * Sentinel set), by port, each with a directory of its own under one temp dir. Tests
 * kill nodes, so they run on ports nothing else uses, never the shared servers.
 * `dispose()` kills them all and removes the temp dir; a process exit kills them too,
 * so a worker that dies leaves no redis-server behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './helpers.js';

export class RedisProcesses {
  readonly #children = new Map<number, ChildProcess>();
  readonly #dir: string;
  readonly #onExit = (): void => {
    for (const child of this.#children.values()) child.kill('SIGKILL');
  };

  /** `label`: the temp dir's name (`mtstore-<label>-…`). */
  constructor(label: string) {
    this.#dir = mkdtempSync(join(tmpdir(), `mtstore-${label}-`));
    process.once('exit', this.#onExit);
  }

  /** The directory of the process on `port` (made if missing): its --dir, where it logs. */
  dirOf(port: number): string {
    const dir = join(this.#dir, String(port));
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /**
   * Spawns `redis-server args` for `port` and resolves once `ping(port)` answers; fails
   * at once if the process exits first (`log`: where it said why).
   */
  async spawn(port: number, args: string[], ping: (port: number) => Promise<unknown>, log: string): Promise<void> {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.#children.set(port, child);
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode} (log: ${log})`);
      return ping(port).then(
        () => true,
        () => false,
      );
    }, `redis-server on port ${port}`);
  }

  /** The ports of the processes running (not killed). */
  live(): number[] {
    return [...this.#children.keys()];
  }

  /** SIGSTOP / SIGCONT to the process on `port`. */
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const child = this.#children.get(port);
    if (child === undefined) throw new Error(`no redis-server of ours on port ${port}`);
    child.kill(signal);
  }

  /** SIGKILL to the process on `port` (no shutdown, no last replication); resolves once it exited. */
  async kill(port: number): Promise<void> {
    const child = this.#children.get(port);
    this.#children.delete(port);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills every process and removes the temp dir. */
  async dispose(): Promise<void> {
    try {
      await Promise.all(this.live().map((port) => this.kill(port)));
    } finally {
      process.off('exit', this.#onExit);
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }
}
