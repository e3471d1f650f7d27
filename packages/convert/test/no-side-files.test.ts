/**
 * Reading a session file leaves nothing beside it: the README promises files are opened
 * read-only and never changed. An mtcute SQLite storage is in WAL mode; a read-only
 * SQLite connection to a WAL file creates `<file>-wal` and `<file>-shm` next to it and,
 * unable to checkpoint, leaves them there on close. Each file here is written by the
 * library itself (mtcute 0.29.7's SqliteStorage; Telethon's and Pyrogram's fixtures).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeStringSession } from '@mtcute/core/utils.js';
import { SqliteStorage, TelegramClient } from '@mtcute/node';
import Long from 'long';
import { afterAll, describe, expect, it } from 'vitest';
import type { Peer } from '@mtstore/core';
import { detectSessionFile, openSession, parseSession, parseSessionFile } from '../src/index.js';
import { fixtures, hex, seededKey } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'mtstore-convert-side-'));
// Open to other users: one test reads a file here as nobody.
chmodSync(root, 0o755);
afterAll(() => {
  chmodSync(root, 0o700);
  for (const name of readdirSync(root)) chmodSync(join(root, name), 0o700);
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const key = seededKey(47);
const main = { id: 2, ipAddress: '149.154.167.51', port: 443 };

/** Every entry of a folder: name, size, and modification time (ns), sorted by name. */
function listing(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const s = statSync(join(dir, name), { bigint: true });
      return `${name} ${s.size} ${s.mtimeNs}`;
    });
}

function user(id: number, username: string): unknown {
  return { _: 'user', id, accessHash: Long.fromNumber(id * 3), username, firstName: username };
}

/** mtcute's own client on a file, logged in (a key), with `peers` users stored. */
async function mtcuteClient(path: string, peers: number): Promise<TelegramClient & { sqlite: SqliteStorage }> {
  const sqlite = new SqliteStorage(path);
  const client = Object.assign(new TelegramClient({ apiId: 1, apiHash: 'x', storage: sqlite, logLevel: 0 }), { sqlite });
  await client.importSession(writeStringSession({ version: 3, primaryDcs: { main, media: main }, self: { userId: 777000111, isBot: false, isPremium: false, usernames: [] }, authKey: key }));
  await client.storage.peers.updatePeersFrom({ users: Array.from({ length: peers }, (_, i) => user(1000 + i, `user${i}`)), chats: [] } as never);
  return client;
}

async function closeClient(client: TelegramClient): Promise<void> {
  // close() flushes mtcute's pending writes and closes the file; the last closer removes -wal/-shm.
  await client.storage.close();
  await client.destroy();
}

/** A folder of its own holding one mtcute file its client wrote and closed cleanly. */
async function closedMtcuteFile(peers = 3): Promise<{ dir: string; path: string }> {
  const dir = join(root, `m${n++}`);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir);
  const path = join(dir, 'mtcute.session');
  await closeClient(await mtcuteClient(path, peers));
  return { dir, path };
}

async function readPeers(path: string): Promise<Peer[]> {
  const stream = await openSession(path);
  try {
    const peers: Peer[] = [];
    for await (const batch of stream.peers(2)) peers.push(...batch);
    for await (const batch of stream.refMessages()) void batch;
    return peers;
  } finally {
    stream.close();
  }
}

describe('a cleanly closed mtcute file (WAL mode, no -wal beside it)', () => {
  it('is in WAL mode and mtcute left nothing beside it (the premise)', async () => {
    const { dir, path } = await closedMtcuteFile();
    expect(readFileSync(path).subarray(18, 20)).toEqual(Buffer.from([2, 2]));
    expect(readdirSync(dir)).toEqual(['mtcute.session']);
  });

  const entries: [string, (path: string) => Promise<unknown>][] = [
    ['parseSession', async (path) => (await parseSession(path)).peers.length],
    ['openSession and its peers', async (path) => (await readPeers(path)).length],
    ['detectSessionFile', (path) => detectSessionFile(path)],
    ['parseSessionFile', async (path) => (await parseSessionFile(path)).peers.length],
  ];
  for (const [name, read] of entries) {
    it(`${name} leaves the folder as it was: no -wal, no -shm, the file's size and mtime unchanged`, async () => {
      const { dir, path } = await closedMtcuteFile();
      const before = listing(dir);
      const bytes = readFileSync(path);
      expect(await read(path)).toBe(name === 'detectSessionFile' ? 'mtcute-sqlite' : 3);
      expect(listing(dir)).toEqual(before);
      expect(readFileSync(path).equals(bytes)).toBe(true);
    });
  }

  it('a client starting to write in the middle of a read: the read gives the file as it was when opened, the client\'s writes land, nothing is left after both close', async () => {
    const { dir, path } = await closedMtcuteFile(5);
    const stream = await openSession(path);
    const got: Peer[] = [];
    const peers = stream.peers(2)[Symbol.asyncIterator]();
    const first = await peers.next();
    got.push(...(first.value as Peer[]));

    // The client comes back, writes 300 more users and checkpoints them into the file.
    const client = await mtcuteClient(path, 300);
    await client.storage.close();
    for (let next = await peers.next(); next.done !== true; next = await peers.next()) got.push(...next.value);
    stream.close();
    await client.destroy();

    expect(got.map((p) => p.id).sort()).toEqual([1000n, 1001n, 1002n, 1003n, 1004n]);
    expect(readdirSync(dir)).toEqual(['mtcute.session']);
    expect((await parseSession(path)).peers).toHaveLength(300);
    expect(readdirSync(dir)).toEqual(['mtcute.session']);
  });
});

describe('an mtcute file its client has open (a live -wal and -shm)', () => {
  it('is read through the client\'s -wal (its latest writes, one state while it keeps writing); nothing is added, and the client removes its -wal/-shm when it closes after the read', async () => {
    const { dir, path } = await closedMtcuteFile(0);
    const client = await mtcuteClient(path, 4);
    // mtcute batches writes: save() pushes them to the file now, while the client stays open.
    await client.sqlite.driver.save();
    expect(readdirSync(dir).sort()).toEqual(['mtcute.session', 'mtcute.session-shm', 'mtcute.session-wal']);
    const names = readdirSync(dir).sort();

    const stream = await openSession(path);
    const peers = stream.peers(1)[Symbol.asyncIterator]();
    const got: Peer[] = [(await peers.next()).value[0] as Peer];
    await client.storage.peers.updatePeersFrom({ users: [user(5000, 'late')], chats: [] } as never);
    await client.sqlite.driver.save();
    for (let next = await peers.next(); next.done !== true; next = await peers.next()) got.push(...next.value);
    stream.close();
    expect(got.map((p) => p.id).sort()).toEqual([1000n, 1001n, 1002n, 1003n]);
    expect(hex(stream.session.dcs[0]!.authKey)).toBe(hex(key));
    expect(readdirSync(dir).sort()).toEqual(names);

    expect((await parseSession(path)).peers.map((p) => p.id)).toContain(5000n);
    await closeClient(client);
    expect(readdirSync(dir)).toEqual(['mtcute.session']);
  });
});

describe('rollback-journal files (Telethon, Pyrogram fixtures)', () => {
  for (const fixture of ['telethon/telethon.session', 'pyrogram/pyrogram.session']) {
    it(`${fixture}: every entry point leaves the folder as it was`, async () => {
      const dir = mkdtempSync(join(root, 'j'));
      const path = join(dir, 'user.session');
      copyFileSync(join(fixtures, fixture), path);
      const before = listing(dir);
      expect(await detectSessionFile(path)).toMatch(/-sqlite$/);
      await parseSession(path);
      await parseSessionFile(path);
      await readPeers(path);
      expect(listing(dir)).toEqual(before);
    });
  }
});

describe('a file in a read-only folder', () => {
  const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

  it('root is not stopped by mode 0555 (so what matters is another user: nobody, uid 65534, reading a folder it cannot write)', async () => {
    const { dir, path } = await closedMtcuteFile();
    chmodSync(dir, 0o555);
    const parsed = await parseSession(path);
    expect(parsed.peers).toHaveLength(3);
    expect(readdirSync(dir)).toEqual(['mtcute.session']);
    chmodSync(dir, 0o755);
  });

  it.runIf(process.getuid?.() === 0 && existsSync(dist))('a user who may read the file but not write its folder reads it (the built package), leaving nothing', async () => {
    const { dir, path } = await closedMtcuteFile();
    chmodSync(path, 0o644);
    chmodSync(dir, 0o555);
    const before = listing(dir);
    const script = `import { parseSession, detectSessionFile } from ${JSON.stringify(dist)};
      const parsed = await parseSession(${JSON.stringify(path)});
      console.log(await detectSessionFile(${JSON.stringify(path)}), parsed.peers.length);`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: tmpdir(), timeout: 30_000 });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('mtcute-sqlite 3');
    expect(listing(dir)).toEqual(before);
    chmodSync(dir, 0o755);
  });
});
