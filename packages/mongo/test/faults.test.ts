/**
 * The server goes away and comes back. This file starts its own FerretDB process
 * (the binary scripts/servers.sh builds) on a free port with its own data directory,
 * kills it with SIGKILL, restarts it on the same data and removes everything after:
 * the shared server on 27017 is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '@mtstore/core';
import { checkServer, fullSession, peer, waitFor } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { eventually, plain } from './server.js';

const BINARY = process.env.FERRETDB_BIN ?? join(process.env.MTSTORE_STATE_DIR ?? join(homedir(), '.cache', 'mtstore'), 'ferretdb-v1.24.0', 'ferretdb');

const ferret = await checkServer('ferretdb binary (own process for the restart test)', `file://${BINARY}`, () => access(BINARY));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const code = (promise: Promise<unknown>) => promise.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));

if (ferret.available) {
  let dir = '';
  let port = 0;
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    child = spawn(
      BINARY,
      ['--handler=sqlite', `--sqlite-url=file:${dir}/`, `--state-dir=${dir}`, `--listen-addr=127.0.0.1:${port}`, '--debug-addr=-', '--telemetry=disable', '--log-level=error'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 30_000;
    while (!(await listening(port))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`own FerretDB did not start on port ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function kill(): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mtstore-mongo-faults-'));
    port = await freePort();
    await start();
  });

  afterAll(async () => {
    await kill();
    await rm(dir, { recursive: true, force: true });
  });

  describe('server killed and restarted', () => {
    it('acknowledged writes survive, calls while down reject StorageUnavailableError, the same instances work again', async () => {
      // Short timeouts so the calls made while the server is down fail fast.
      const url = `mongodb://127.0.0.1:${port}/faults?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000&socketTimeoutMS=5000`;
      const storage = new MongoStorage({ url, name: 'alice' });
      const sessions = new MongoSessionStorage({ url });
      const busErrors: unknown[] = [];
      const listener = new MongoSessionEventBus({ url, onError: (e) => busErrors.push(e) });
      const publisher = new MongoSessionEventBus({ url });
      try {
        const heard: SessionEvent[] = [];
        await listener.subscribe((e) => heard.push(e));
        await storage.save(fullSession(1));
        await storage.saveUpdateState({ pts: 7, qts: 7, date: 7, seq: 7 }, [{ id: 5n, pts: 55 }]);
        await storage.peers.upsert([peer('user', 1), peer('channel', 2)]);
        const created = await Promise.all(Array.from({ length: 30 }, (_, i) => sessions.createSession(1n, BigInt(i))));
        expect(created.every(Boolean)).toBe(true);
        await publisher.publish({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'before' });
        await waitFor(() => heard.length === 1, 5_000, 'the event before the kill');

        await kill();

        for (const [what, call] of [
          ['load', () => storage.load()],
          ['saveUpdateState', () => storage.saveUpdateState({ pts: 8, qts: 8, date: 8, seq: 8 })],
          ['peers.getByUsername', () => storage.peers.getByUsername('user_1')],
          ['hasSession', () => sessions.hasSession(1n, 1n)],
          ['createSession', () => sessions.createSession(2n, 2n)],
          ['publish', () => publisher.publish({ type: 'created', authKeyId: 2n, sessionId: 2n, origin: 'down' })],
        ] as const) {
          expect(await code(call()), what).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        }
        await waitFor(() => busErrors.length > 0, 10_000, 'the poller reporting the lost server');

        await start();

        // The driver reconnects on its own; the first call that gets through sees every acknowledged write.
        const loaded = await eventually(30_000, () => storage.load());
        expect(plain(loaded)).toEqual({ ...fullSession(1), state: { pts: 7, qts: 7, date: 7, seq: 7 }, channels: [...fullSession(1).channels, { id: 5n, pts: 55 }] });
        expect(await storage.peers.getByUsername('channel_2')).toEqual(peer('channel', 2));
        expect((await eventually(30_000, () => sessions.listSessions(1n))).length).toBe(30);
        expect(await sessions.createSession(2n, 2n)).toBe(true);
        await storage.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 });
        expect((await storage.load())?.state?.pts).toBe(9);
        // The poller kept going: an event published now reaches the listener.
        await eventually(30_000, () => publisher.publish({ type: 'destroyed', authKeyId: 1n, sessionId: 1n, origin: 'after' }));
        await waitFor(() => heard.some((e) => e.origin === 'after'), 10_000, 'the event after the restart');
      } finally {
        await Promise.all([storage.close(), sessions.close(), listener.close(), publisher.close()]);
      }
    }, 90_000);
  });
}
