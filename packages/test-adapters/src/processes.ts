/**
 * What the bridges' crash, two-process and outage tests share: a child process read
 * line by line, a writer killed after some acknowledgements, the backends such a child
 * opens by command-line arguments (a SQLite file and a PostgreSQL schema, the two that
 * outlive a process on this machine and that a second process can open by name), and
 * the server backends a test reaches through the loopback proxy (./proxy) to cut them off.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Storage } from '@mtstore/core';
import { PostgresStorage } from '@mtstore/postgres';
import { RedisStorage } from '@mtstore/redis';
import { SqliteStorage } from '@mtstore/sqlite';
import { adapters, POSTGRES_URL, REDIS_URL } from './index.js';
import { openProxy, type Proxy } from './proxy.js';
import { deleteKeysWithPrefix } from './redis.js';

/** A child process running `script`, its stdout read line by line. */
export class ChildLines {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  #stderr = '';
  #wake: (() => void) | undefined;

  constructor(script: string, args: string[]) {
    this.child = spawn(process.execPath, [script, ...args]);
    let partial = '';
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.#wake?.();
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.child.on('exit', () => this.#wake?.());
  }

  /** The first line matching `match`, when it comes; fails when the child exits first (with its stderr). */
  async next(match: RegExp): Promise<string> {
    for (;;) {
      const found = this.lines.find((line) => match.test(line));
      if (found !== undefined) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the child exited before ${match}: ${this.#stderr}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** One line to the child's stdin. */
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
}

/**
 * Runs `script` until it printed `acks` lines `ack <i>`, kills it with SIGKILL and
 * returns every acknowledged i (those read after the kill was sent too). Fails when the
 * writer exits before, or dies of anything but the kill.
 */
export async function killAfterAcks(script: string, args: string[], acks: number): Promise<number[]> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const acked: number[] = [];
  let partial = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
      if (acked.length >= acks) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`writer exited before ${acks} acks: ${stderr}`)));
  });
  const signal = await exited;
  if (signal !== 'SIGKILL') throw new Error(`the writer ended by ${String(signal)}, not SIGKILL: ${stderr}`);
  for (const line of partial.split('\n')) if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
  return acked;
}

/** A backend a child process opens from its arguments, and this process by namespace. */
export interface ProcessTarget {
  /** The adapter's name in `adapters` (for `available()`). */
  name: 'sqlite' | 'postgres';
  /** The child's arguments for namespace `ns`: the backend, then where. */
  args(ns: string): string[];
  /** This process's storage of session `session` in namespace `ns`. */
  open(ns: string, session: string): Storage;
  /** Removes namespace `ns` (the PostgreSQL schema; the SQLite file goes with `dir`). */
  cleanup(ns: string): Promise<void>;
}

/** Whether the server of the adapter named `name` in `adapters` answers (memoized there). */
export function serverAnswers(name: string): Promise<boolean> {
  const adapter = adapters.find((a) => a.name === name);
  if (adapter === undefined) throw new Error(`no adapter named ${name} in @mtstore/test-adapters`);
  return adapter.available();
}

/** A namespace of this test file's own on a shared server: `<prefix>_<pid>_<6 hex>`. */
export function fileNamespace(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

/** processTargets in a new temporary directory (`<prefix>-…`), removed after the test file. */
export function processTargetsOfFile(prefix: string): ProcessTarget[] {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return processTargets(dir);
}

/** A SQLite file in `dir` and a PostgreSQL schema, per namespace. */
export function processTargets(dir: string): ProcessTarget[] {
  return [
    {
      name: 'sqlite',
      args: (ns) => ['sqlite', join(dir, `${ns}.session`)],
      open: (ns, session) => new SqliteStorage({ path: join(dir, `${ns}.session`), name: session }),
      cleanup: async () => undefined,
    },
    {
      name: 'postgres',
      args: (ns) => ['postgres', POSTGRES_URL, ns],
      open: (schema, session) => new PostgresStorage({ config: { connectionString: POSTGRES_URL }, schema, name: session }),
      cleanup: dropSchema,
    },
  ];
}

/** A server backend a test reaches through a loopback proxy, to cut it off and bring it back. */
export interface ProxiedTarget {
  /** The adapter's name in `adapters` (for `available()`). */
  name: 'postgres' | 'redis';
  /** The server's own URL (what the proxy forwards to). */
  url: string;
  /** A storage of session `session` in namespace `ns`, through `proxy`, with timeouts short enough for an outage test. */
  open(proxy: Proxy, ns: string, session: string): Storage;
  /** Removes namespace `ns` from the server. */
  cleanup(ns: string): Promise<void>;
}

/** PostgreSQL (a schema per namespace) and Redis (a key prefix per namespace). */
export function proxiedTargets(): ProxiedTarget[] {
  return [
    {
      name: 'postgres',
      url: POSTGRES_URL,
      open: (proxy, schema, session) =>
        new PostgresStorage({ config: { connectionString: proxy.url(), connectionTimeoutMillis: 1_000, query_timeout: 5_000 }, schema, name: session }),
      cleanup: dropSchema,
    },
    {
      name: 'redis',
      url: REDIS_URL,
      // One failed reconnect fails a queued command (default 3): the same error, sooner.
      open: (proxy, prefix, session) => new RedisStorage({ url: proxy.url(), options: { maxRetriesPerRequest: 1 }, prefix: `${prefix}:`, name: session }),
      async cleanup(prefix) {
        const redis = new Redis(REDIS_URL);
        try {
          await deleteKeysWithPrefix(redis, `${prefix}:`);
        } finally {
          redis.disconnect();
        }
      },
    },
  ];
}

/** What an outage test's describe block works with: see proxiedOutage. */
export interface ProxiedOutage {
  /** The proxy in front of the target's server: opened in beforeAll, so read it in a test or hook, not at collection. */
  readonly proxy: Proxy;
  /** The block's namespace on the server (`fileNamespace(prefix)`). */
  readonly ns: string;
  /** A storage of session `name` in `ns` through the proxy, closed after the block. */
  open(name: string): Storage;
}

/**
 * The fixture of a describe block that cuts `target` off: a proxy to its server opened
 * in beforeAll, brought back up after every test, and after the block the storages
 * open() handed out closed, the proxy closed and namespace `fileNamespace(prefix)` removed.
 * Call it inside the describe block (its hooks are the block's).
 */
export function proxiedOutage(target: ProxiedTarget, prefix: string): ProxiedOutage {
  let proxy: Proxy | undefined;
  const ns = fileNamespace(prefix);
  const opened: Storage[] = [];

  beforeAll(async () => {
    proxy = await openProxy(target.url);
  });
  // A test that failed while down must not leave the next one without a database.
  afterEach(() => proxy?.up());
  afterAll(async () => {
    proxy?.up();
    await Promise.all(opened.map((storage) => storage.close().catch(() => undefined)));
    await proxy?.close();
    await target.cleanup(ns);
  });

  const liveProxy = (): Proxy => {
    if (proxy === undefined) throw new Error('proxiedOutage: the proxy is opened in beforeAll; use it in a test or hook');
    return proxy;
  };
  return {
    get proxy() {
      return liveProxy();
    },
    ns,
    // Not a method: tests take it out of the object (`const { open } = …`).
    open: (name) => {
      const storage = target.open(liveProxy(), ns, name);
      opened.push(storage);
      return storage;
    },
  };
}

/** What an idle child did in an outage: see idleThroughOutage. */
export interface IdleChild {
  /** The first line matching `result` it printed after `go`. */
  result: string;
  /** Its exit code, or `still running after <s> s` when it did not exit by itself in time. */
  exit: number | null | string;
  /** Every line it printed. */
  lines: string[];
}

/**
 * Runs child `script` on PostgreSQL through `outage`'s proxy (`postgres <url> <ns>`):
 * once it printed `ready`, takes the database away and sends `go`, reads the line
 * matching `result`, then waits `ms` with the database still down for the child to
 * exit by itself. The child is killed and the proxy brought back up in any case.
 */
export async function idleThroughOutage(script: string, outage: ProxiedOutage, result: RegExp, ms = 5_000): Promise<IdleChild> {
  const child = new ChildLines(script, ['postgres', outage.proxy.url(), outage.ns]);
  const exited = new Promise<number | null>((resolve) => child.child.on('exit', (code) => resolve(code)));
  try {
    await child.next(/^ready$/);
    outage.proxy.down();
    child.send('go');
    const line = await child.next(result);
    const exit = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve(`still running after ${ms / 1000} s`), ms))]);
    return { result: line, exit, lines: child.lines };
  } finally {
    child.child.kill('SIGKILL');
    outage.proxy.up();
  }
}

async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
}
