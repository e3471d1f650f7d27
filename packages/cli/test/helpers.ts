import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { connect } from 'node:net';
import Database from 'better-sqlite3';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { checkServer, type ServerCheck } from '@mtstore/conformance';
import { registerAdapter, type EncryptionOptions, type Peer, type Storage } from '@mtstore/core';
import { MemorySessionStorage, MemoryStorage, MemoryStore } from '@mtstore/memory';
import type { Io } from '../src/index.js';

export const convertFixtures = fileURLToPath(new URL('../../convert/test/fixtures/', import.meta.url));

/** The test servers (README: loopback, each test in a scratch schema, key prefix or database of its own). */
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

/** `url` with `parameters` (`a=b&c=d`) added to its query. */
export function withParameter(url: string, parameters: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${parameters}`;
}

/**
 * Whether PostgreSQL answers at POSTGRES_URL: a connection opened and closed, nothing
 * written. Unreachable, its tests are skipped locally with the reason and fail with
 * CI=true (the kit's checkServer).
 */
export function checkPostgres(): Promise<ServerCheck> {
  return checkServer('PostgreSQL', POSTGRES_URL, async () => {
    // Loaded here: most test files importing these helpers never reach a server.
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
    await client.connect();
    await client.end();
  });
}

/**
 * Whether something listens at `url`'s host and port (`defaultPort` when it names none):
 * a probe that writes nothing anywhere, for servers whose client would (Redis, MongoDB).
 * Skipped or failed as checkPostgres.
 */
export function checkListening(name: string, url: string, defaultPort: number): Promise<ServerCheck> {
  return checkServer(
    name,
    url,
    () =>
      new Promise<void>((resolve, reject) => {
        const { hostname, port } = new URL(url);
        const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: port === '' ? defaultPort : Number(port), timeout: 2_000 });
        socket.once('connect', () => (socket.destroy(), resolve()));
        socket.once('timeout', () => (socket.destroy(), reject(new Error('connection timed out'))));
        socket.once('error', reject);
      }),
  );
}

/** Captured stdout / stderr of an in-process run. */
export function captureIo(): Io & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { stdout, stderr, out: () => out, err: () => err };
}

/**
 * `shared://<store>` opens the memory adapter on a named MemoryStore kept for the whole
 * test file, so commands run in-process see each other's writes (plain `memory:` is a
 * fresh store per open). Registered through core's public registerAdapter.
 */
export const stores = new Map<string, MemoryStore>();
registerAdapter('shared', async () => ({
  openStorage: (url: URL, { name, encryption }: { name: string; encryption?: EncryptionOptions }) => {
    const store = stores.get(url.host) ?? stores.set(url.host, new MemoryStore()).get(url.host)!;
    return new MemoryStorage({ store, name, encryption });
  },
  openSessionStorage: (url: URL) => {
    const store = stores.get(url.host) ?? stores.set(url.host, new MemoryStore()).get(url.host)!;
    return { storage: new MemorySessionStorage({ store }) };
  },
}));

export function makePeers(count: number, start = 1): Peer[] {
  return Array.from({ length: count }, (_, i) => {
    const id = BigInt(start + i);
    return { type: 'user' as const, id, accessHash: id * 7919n, usernames: [`user_${start + i}`], updatedAt: 1_700_000_000, ...(i % 10 === 0 ? { min: true } : {}) };
  });
}

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/**
 * Runs the built binary as a user would: `node dist/bin.js …`, killed after `timeoutMs`
 * (code -1). `check` against a server runs the whole kit: give it its test's own budget.
 * `input` is piped to its standard input.
 */
export function mtstore(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000, input?: string | Uint8Array): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs, ...(input === undefined ? {} : { input }) });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A run of the binary stopped by a signal: its exit code (null: killed by the signal), that signal, stderr, and whether the signal was sent. */
export interface SignalledRun {
  code: number | null;
  killedBy: NodeJS.Signals | null;
  stderr: string;
  sent: boolean;
}

/**
 * Runs the built binary as mtstore() does, in the background, and sends `signal` once
 * `when(stderr so far)` holds: asked as stderr comes (a progress line) and every 2 ms (a
 * file appearing), the signal sent once. `env` is added to this process's environment.
 */
export function mtstoreSignalled(args: string[], signal: NodeJS.Signals, when: (stderr: string) => boolean, env: Record<string, string> = {}): Promise<SignalledRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    let sent = false;
    const check = (): void => {
      if (!sent && when(stderr)) {
        sent = true;
        child.kill(signal);
      }
    };
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      check();
    });
    const poll = setInterval(check, 2);
    child.once('error', (error) => {
      clearInterval(poll);
      reject(error);
    });
    child.once('close', (code, killedBy) => {
      clearInterval(poll);
      resolve({ code, killedBy, stderr, sent });
    });
  });
}

/** How many peers `storage`'s session holds, counted a page at a time. */
export async function countPeers(storage: Storage): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page = await storage.peers.list({ cursor, limit: 10_000 });
    count += page.peers.length;
    cursor = page.cursor;
  } while (cursor !== null);
  return count;
}

/**
 * A Telethon session file at `path` (a copy of the fixture Telethon wrote) with `peers`
 * more users, as bench/import-memory.mjs builds them: a username on odd rows, a display
 * name on each, ids from 300,000,000. Big enough that writing it takes a while.
 */
export function bigTelethonFile(path: string, peers: number): void {
  copyFileSync(`${convertFixtures}telethon/telethon.session`, path);
  const db = new Database(path);
  const insert = db.prepare('insert into entities (id, hash, username, phone, name, date) values (?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < peers; i++) insert.run(300_000_000 + i, BigInt(i) * 7919n + 1n, i % 2 === 1 ? `user_${i}` : null, null, `User Number ${i}`, 1_700_000_000 + i);
  })();
  db.close();
}
