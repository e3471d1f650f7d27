/**
 * An import into a storage whose writes complete at once (SQLite through better-sqlite3)
 * must still let timers run between its batches: the session lease's heartbeat is one.
 * Without a turn of the event loop every await resolved as a microtask, the heartbeat never
 * ran, and an import writing for longer than the lease's 30 s lost it: one million Telethon
 * entities into SQLite ended with "this instance's lease on session "default" ran out",
 * exit 4 (bench/import-memory.mjs).
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerAdapter, type Peer } from '@mtstore/core';
import { MemorySessionStorage, MemoryStorage, MemoryStore } from '@mtstore/memory';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-turns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** For each upsert: whether a timer that was due before it had run (the first: true). */
const timerRanBefore: boolean[] = [];
let timerRan = true;

// A memory storage whose upsert works synchronously for a few milliseconds (as SQLite's
// does, longer) and sets a 0 ms timer: due by the next batch, it runs only if the import
// gave the event loop a turn in between.
registerAdapter('turns', async () => ({
  openStorage: (_url: URL, { name }: { name: string }) => {
    const storage = new MemoryStorage({ store: new MemoryStore(), name });
    const upsert = storage.peers.upsert.bind(storage.peers);
    storage.peers.upsert = (peers: readonly Peer[]) => {
      timerRanBefore.push(timerRan);
      timerRan = false;
      setTimeout(() => (timerRan = true), 0);
      const until = Date.now() + 5;
      while (Date.now() < until);
      return upsert(peers);
    };
    return storage;
  },
  openSessionStorage: () => ({ storage: new MemorySessionStorage({ store: new MemoryStore() }) }),
}));

describe('import between batches', () => {
  it('gives timers (the lease heartbeat) a turn after each batch of peers', async () => {
    const path = join(dir, 'three-batches.session');
    copyFileSync(`${convertFixtures}telethon/telethon.session`, path);
    const db = new Database(path);
    const insert = db.prepare('insert into entities values (?, ?, ?, null, ?, 1700000100)');
    db.transaction(() => {
      for (let i = 0; i < 25_000; i++) insert.run(100_000_000 + i, i + 1, `user_${i}`, `User ${i}`);
    })();
    db.close();
    const io = captureIo();
    expect(await run(['import', path, 'turns://x'], io), io.err()).toBe(EXIT.OK);
    // Before: [true, false, false].
    expect(timerRanBefore).toEqual([true, true, true]);
  });
});
