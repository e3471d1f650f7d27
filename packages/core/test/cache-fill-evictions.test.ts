/**
 * A cache miss reads storage and caches a "yes" unless the session was evicted (or the
 * cache dropped) while the read was under way. Evictions of other sessions must not
 * stop it: on a busy server destroyed events (explicit or expired: a sweep announces
 * thousands a second) and touches evict all the time, and a storage read takes a
 * round trip, so a cache that gave up every read overlapping any eviction stopped
 * filling (the h6 audit over PostgreSQL: a touch storm on 1,000 sessions, 12,000
 * misses on other reads, none cached).
 */
import { describe, expect, it } from 'vitest';
import { CachedSessionStorage, LocalEventChannel, LocalSessionEventBus, type SessionStorageProtocol } from '../src/index.js';

/** Every session exists; each hasSession answers when the test releases it (a round trip). */
function slowStorage(): SessionStorageProtocol & { release(): void; pending(): number } {
  let waiting: (() => void)[] = [];
  const later = <T>(value: T): Promise<T> => new Promise((resolve) => waiting.push(() => resolve(value)));
  return {
    createSession: async () => true,
    hasSession: () => later(true),
    sessionInfo: async () => ({ lastUsedAt: 1, expiresAt: null }),
    touchSession: async () => true,
    destroySession: async () => true,
    listSessions: async () => [],
    destroyAllSessions: async () => [],
    close: async () => {},
    release() {
      const run = waiting;
      waiting = [];
      for (const resolve of run) resolve();
    },
    pending: () => waiting.length,
  };
}

async function open(): Promise<{ storage: ReturnType<typeof slowStorage>; cache: CachedSessionStorage; channel: LocalEventChannel; bus: LocalSessionEventBus }> {
  const storage = slowStorage();
  const channel = new LocalEventChannel();
  const bus = new LocalSessionEventBus(channel);
  const cache = new CachedSessionStorage(storage, { bus });
  await cache.ready();
  return { storage, cache, channel, bus };
}

describe('CachedSessionStorage: a read under way while other sessions are evicted', () => {
  it('caches its session when other sessions were destroyed, touched or destroyed elsewhere meanwhile', async () => {
    const { storage, cache, bus } = await open();
    const reads = [1n, 2n, 3n, 4n].map((s) => cache.hasSession(7n, s));
    await cache.destroySession(7n, 100n);
    await cache.touchSession(7n, 101n);
    await cache.destroyAllSessions(8n);
    await bus.publish({ type: 'destroyed', authKeyId: 7n, sessionId: 102n, origin: 'another node', reason: 'expired' });
    await new Promise((resolve) => setImmediate(resolve));
    storage.release();
    expect(await Promise.all(reads)).toEqual([true, true, true, true]);
    expect(cache.stats().entries).toBe(4);
    const before = cache.stats();
    for (const s of [1n, 2n, 3n, 4n]) expect(await cache.hasSession(7n, s)).toBe(true);
    expect(storage.pending()).toBe(0); // answered from memory
    expect(cache.stats().hits - before.hits).toBe(4);
    await cache.close();
  });

  it('does not cache a session that was itself evicted meanwhile (destroyed here or elsewhere, touched, its key destroyed)', async () => {
    const { storage, cache, bus } = await open();
    const reads = [1n, 2n, 3n, 4n, 5n].map((s) => cache.hasSession(7n, s));
    await cache.destroySession(7n, 1n);
    await bus.publish({ type: 'destroyed', authKeyId: 7n, sessionId: 2n, origin: 'another node', reason: 'explicit' });
    await new Promise((resolve) => setImmediate(resolve));
    await cache.touchSession(7n, 3n);
    const other = cache.hasSession(9n, 5n); // same session id, another key: its own entry
    await cache.destroyAllSessions(7n);
    storage.release();
    await Promise.all(reads);
    await new Promise((resolve) => setImmediate(resolve));
    storage.release();
    await other;
    expect(cache.stats().entries).toBe(1);
    void cache.hasSession(7n, 4n);
    expect(storage.pending()).toBe(1); // 4 went to storage: its key was destroyed while it was read
    storage.release();
    await cache.close();
  });

  it('does not cache a read that began before the bus said lost or live', async () => {
    const { storage, cache, channel } = await open();
    const read = cache.hasSession(7n, 1n);
    await channel.interrupt(0);
    storage.release();
    await read;
    expect(cache.stats().entries).toBe(0);
    await cache.close();
  });
});
