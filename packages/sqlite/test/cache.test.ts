/**
 * CachedSessionStorage over SQLite: better-sqlite3 answers synchronously, so a miss is
 * read (existence and expiry in one lookup) and cached in one step, like memory's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CachedSessionStorage, InvalidArgumentError, LocalEventChannel, LocalSessionEventBus, StorageClosedError, StorageError } from '@mtstore/core';
import { SqliteSessionStorage } from '../src/index.js';
import { tempDir } from './helpers.js';

const temp = tempDir('cache');
afterAll(temp.remove);

describe('CachedSessionStorage over SQLite', () => {
  it('misses answered at once (sessionExistsNow), with the expiry; the cache rules kept', async () => {
    let now = 1_700_000_000_000;
    const clock = () => now;
    const path = temp.file('cache-rules.session');
    const storage = new SqliteSessionStorage({ path, clock, ttlSeconds: 60 });
    const elsewhere = new SqliteSessionStorage({ path, clock, ttlSeconds: 60 });
    const forever = new SqliteSessionStorage({ path, clock });
    const channel = new LocalEventChannel();
    const cache = new CachedSessionStorage(storage, { bus: new LocalSessionEventBus(channel), clock });
    await cache.ready();
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(cache.stats().entries).toBe(0);
    await elsewhere.createSession(1n, 1n);
    const first = cache.hasSession(1n, 1n);
    expect(cache.stats().entries, 'read and cached in one synchronous step').toBe(1);
    expect(await first, 'a no is never cached').toBe(true);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2 });
    // Cached with the session's expiry: once it passes, the entry answers no more.
    now += 60_000;
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(cache.stats().hits).toBe(1);
    // A session without expiry is cached for good (until an event evicts it).
    await forever.createSession(1n, 2n);
    expect(await cache.hasSession(1n, 2n)).toBe(true);
    now += 10 * 365 * 86_400_000;
    expect(await cache.hasSession(1n, 2n)).toBe(true);
    expect(cache.stats().hits).toBe(2);
    // Destroyed on another node: its event evicts at once.
    await elsewhere.destroySession(1n, 2n);
    await new LocalSessionEventBus(channel).publish({ type: 'destroyed', authKeyId: 1n, sessionId: 2n, origin: 'node-b', reason: 'explicit' });
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    // A lost subscription: nothing is cached until live again; answers still come from storage.
    await elsewhere.createSession(1n, 3n);
    const down = channel.interrupt(30);
    expect(await cache.hasSession(1n, 3n)).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 0, live: false });
    await down;
    expect(await cache.hasSession(1n, 3n)).toBe(true);
    expect(cache.stats().entries).toBe(1);
    await expect(cache.hasSession(1 as unknown as bigint, 1n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await storage.close();
    await expect(cache.hasSession(1n, 4n)).rejects.toBeInstanceOf(StorageClosedError);
    await cache.close();
    await elsewhere.close();
    await forever.close();
  });

  it('a lookup that fails is no "no": the miss goes to hasSession, which reports it typed', async () => {
    const storage = new SqliteSessionStorage(temp.file('cache-failure.session'));
    const cache = new CachedSessionStorage(storage, { bus: new LocalSessionEventBus() });
    await cache.ready();
    await storage.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    storage.database.exec('DROP TABLE mtstore_server_sessions');
    const answer = cache.hasSession(1n, 1n);
    await expect(answer).rejects.toBeInstanceOf(StorageError);
    await expect(answer).rejects.toThrow(/SqliteSessionStorage\.hasSession\(authKeyId=1, sessionId=1\)/);
    expect(cache.stats().entries).toBe(0);
    await cache.close();
    await storage.close();
  });
});
