/**
 * CachedSessionStorage's edges the other cache tests left open (StrykerJS found each as
 * a surviving mutant of cache.ts): what its constructor refuses, what every method says
 * once closed, a storage with only the required methods, a storage that answers without
 * I/O, the old generation's hits, an expiry at its exact time, a chain of three auth
 * keys on one session id, reads under way while only a session id is evicted, and a bus
 * that says lost and live before its subscription resolves.
 */
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import {
  BaseSessionStorage,
  CachedSessionStorage,
  InvalidArgumentError,
  LocalEventChannel,
  LocalSessionEventBus,
  StorageClosedError,
  type ExpiredSession,
  type SessionEvent,
  type SessionEventBus,
  type SessionEventBusState,
  type SessionInfo,
} from '../src/index.js';

const localBus = () => new LocalSessionEventBus(new LocalEventChannel());
const destroyed = (a: bigint, s: bigint): SessionEvent => ({ type: 'destroyed', authKeyId: a, sessionId: s, origin: 'node-b', reason: 'explicit' });
const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A storage with the protocol's required methods only (no sessionInfo, touchSession,
 * expireSessions). hasSession reads the set when asked and answers when the test
 * releases it (in the order asked), once hold() was called.
 */
function plainStorage() {
  const sessions = new Set<string>();
  let held: (() => void)[] | undefined;
  const storage = {
    sessions,
    asked: 0,
    /** While set, destroys wait for it before deleting. */
    destroying: undefined as Promise<void> | undefined,
    hold(): void {
      held = [];
    },
    /** Lets the oldest held read answer; with `all`, every one, and holds no more. */
    release(all = false): void {
      const run = all ? (held ?? []).splice(0) : (held ?? []).splice(0, 1);
      if (all) held = undefined;
      for (const answer of run) answer();
    },
    async hasSession(a: bigint, s: bigint): Promise<boolean> {
      storage.asked++;
      const has = sessions.has(`${a}/${s}`);
      if (held !== undefined) await new Promise<void>((resolve) => held!.push(resolve));
      return has;
    },
    async createSession(a: bigint, s: bigint): Promise<boolean> {
      if (sessions.has(`${a}/${s}`)) return false;
      sessions.add(`${a}/${s}`);
      return true;
    },
    async destroySession(a: bigint, s: bigint): Promise<boolean> {
      await storage.destroying;
      return sessions.delete(`${a}/${s}`);
    },
    async listSessions(a: bigint): Promise<bigint[]> {
      return [...sessions].filter((key) => key.startsWith(`${a}/`)).map((key) => BigInt(key.split('/')[1]!));
    },
    async destroyAllSessions(a: bigint): Promise<bigint[]> {
      await storage.destroying;
      const ids = await storage.listSessions(a);
      for (const s of ids) sessions.delete(`${a}/${s}`);
      return ids;
    },
    async close(): Promise<void> {},
  };
  return storage;
}

/** A BaseSessionStorage that answers hasSession without I/O (sessionExistsNow), as memory and SQLite do; counts both kinds of read. */
class AnswersNow extends BaseSessionStorage {
  /** Expiry (epoch ms, null: none) by `a/s`. */
  readonly rows = new Map<string, number | null>();
  nowReads = 0;
  asyncReads = 0;

  protected override get supportsLifetime(): boolean {
    return true;
  }
  #expiry(a: bigint, s: bigint, now: number): number | null | undefined {
    const key = `${a}/${s}`;
    if (!this.rows.has(key)) return undefined;
    const expiresAt = this.rows.get(key)!;
    return expiresAt === null || expiresAt > now ? expiresAt : undefined;
  }
  protected override sessionExistsNow(a: bigint, s: bigint, now: number): number | false | undefined {
    this.nowReads++;
    const expiresAt = this.#expiry(a, s, now);
    return expiresAt === undefined ? false : (expiresAt ?? Infinity);
  }
  protected async insertSession(a: bigint, s: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if (this.#expiry(a, s, now) !== undefined) return false;
    this.rows.set(`${a}/${s}`, expiresAt);
    return true;
  }
  protected async sessionExists(a: bigint, s: bigint, now: number): Promise<boolean> {
    this.asyncReads++;
    return this.#expiry(a, s, now) !== undefined;
  }
  protected override async readSessionInfo(a: bigint, s: bigint, now: number): Promise<SessionInfo | null> {
    const expiresAt = this.#expiry(a, s, now);
    return expiresAt === undefined ? null : { lastUsedAt: now, expiresAt };
  }
  protected override async touch(a: bigint, s: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if (this.#expiry(a, s, now) === undefined) return false;
    this.rows.set(`${a}/${s}`, expiresAt);
    return true;
  }
  protected async removeSession(a: bigint, s: bigint, now: number): Promise<boolean> {
    return this.#expiry(a, s, now) !== undefined && this.rows.delete(`${a}/${s}`);
  }
  protected async findSessions(a: bigint, now: number): Promise<bigint[]> {
    return [...this.rows.keys()].map((key) => key.split('/').map(BigInt) as [bigint, bigint]).filter(([ka, s]) => ka === a && this.#expiry(a, s, now) !== undefined).map(([, s]) => s);
  }
  protected async removeAllSessions(a: bigint, now: number): Promise<bigint[]> {
    const ids = await this.findSessions(a, now);
    for (const s of ids) this.rows.delete(`${a}/${s}`);
    return ids;
  }
  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const out: ExpiredSession[] = [];
    for (const [key, expiresAt] of this.rows) {
      if (out.length < limit && expiresAt !== null && expiresAt <= now) {
        this.rows.delete(key);
        const [authKeyId, sessionId] = key.split('/').map(BigInt) as [bigint, bigint];
        out.push({ authKeyId, sessionId });
      }
    }
    return out;
  }
  protected async closeConnection(): Promise<void> {}
}

async function answersNow(options: { maxEntries?: number; ttlSeconds?: number } = {}) {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const channel = new LocalEventChannel();
  const storage = new AnswersNow({ clock, ttlSeconds: options.ttlSeconds });
  const cache = new CachedSessionStorage(storage, { bus: new LocalSessionEventBus(channel), clock, maxEntries: options.maxEntries });
  await cache.ready();
  return { storage, cache, other: new LocalSessionEventBus(channel), advance: (ms: number) => (now += ms) };
}

/** A bus whose subscribe runs `during(onState)` before it resolves; `tell` sends a state, `send` an event. */
function scriptedBus(during: (onState: (state: SessionEventBusState) => void) => void = () => {}) {
  let listener: ((event: SessionEvent) => void) | undefined;
  let onState: ((state: SessionEventBusState) => void) | undefined;
  const bus: SessionEventBus & { tell(state: SessionEventBusState): void; send(event: SessionEvent): void } = {
    async publish() {},
    async subscribe(heard, options) {
      listener = heard;
      onState = options?.onState;
      during((state) => onState?.(state));
      return async () => {};
    },
    async close() {},
    tell: (state) => onState?.(state),
    send: (event) => listener?.(event),
  };
  return bus;
}

describe('CachedSessionStorage: its edges', () => {
  it('refuses a storage, options or an option value it cannot use, saying which', async () => {
    const storage = plainStorage();
    const bus = localBus();
    const refused = (make: () => unknown, message: string) => {
      expect(make).toThrow(InvalidArgumentError);
      expect(make).toThrow(message);
    };
    const notAStorage = 'CachedSessionStorage: storage must implement SessionStorageProtocol';
    refused(() => new CachedSessionStorage(null as never, { bus }), notAStorage);
    refused(() => new CachedSessionStorage({ ...storage, hasSession: undefined } as never, { bus }), notAStorage);
    refused(() => new CachedSessionStorage({ ...storage, destroyAllSessions: undefined } as never, { bus }), notAStorage);
    refused(() => new CachedSessionStorage(storage, null as never), 'CachedSessionStorage: options must be an object, got null');
    refused(() => new CachedSessionStorage(storage, 'bus' as never), 'CachedSessionStorage: options must be an object, got string "bus"');
    refused(() => new CachedSessionStorage(storage, { bus: {} as never }), 'CachedSessionStorage: options.bus must be a SessionEventBus');
    for (const maxEntries of [1, 100_000_001, 2.5, '10', Number.NaN]) {
      refused(() => new CachedSessionStorage(storage, { bus, maxEntries: maxEntries as never }), 'CachedSessionStorage: maxEntries must be an integer from 2 to 100000000, got');
    }
    refused(() => new CachedSessionStorage(storage, { bus, clock: 5 as never }), 'CachedSessionStorage: clock must be a function returning epoch ms');
    refused(() => new CachedSessionStorage(storage, { bus, onBusError: 'log' as never }), 'CachedSessionStorage: onBusError must be a function');
    for (const maxEntries of [2, 100_000_000]) await new CachedSessionStorage(storage, { bus, maxEntries }).close();
  });

  it('once closed, every method rejects StorageClosedError naming itself, and asks storage nothing', async () => {
    const storage = plainStorage();
    await storage.createSession(1n, 1n);
    const cache = new CachedSessionStorage({ ...storage, sessionInfo: async () => null, touchSession: async () => true, expireSessions: async () => [] }, { bus: localBus() });
    await cache.ready();
    expect(inspect(cache)).toBe('CachedSessionStorage { entries: 0, live: true, hits: 0, misses: 0, closed: false }');
    await cache.close();
    expect(inspect(cache)).toBe('CachedSessionStorage { entries: 0, live: false, hits: 0, misses: 0, closed: true }');
    const calls: [string, () => Promise<unknown>][] = [
      ['hasSession', () => cache.hasSession(1n, 1n)],
      ['createSession', () => cache.createSession(1n, 2n)],
      ['destroySession', () => cache.destroySession(1n, 1n)],
      ['listSessions', () => cache.listSessions(1n)],
      ['destroyAllSessions', () => cache.destroyAllSessions(1n)],
      ['touchSession', () => cache.touchSession(1n, 1n)],
      ['sessionInfo', () => cache.sessionInfo(1n, 1n)],
      ['expireSessions', () => cache.expireSessions()],
    ];
    for (const [name, call] of calls) {
      const failure = await call().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure, name).toBeInstanceOf(StorageClosedError);
      expect((failure as Error).message, name).toBe(`CachedSessionStorage.${name}: the cache is closed`);
    }
    expect(storage.asked).toBe(0);
    expect([...storage.sessions]).toEqual(['1/1']);
  });

  it('over a storage with the required methods only: sessionInfo and touchSession ask hasSession, expireSessions removes nothing, a yes is cached for good', async () => {
    const storage = plainStorage();
    await storage.createSession(1n, 1n);
    const cache = new CachedSessionStorage(storage, { bus: localBus() });
    await cache.ready();
    expect(await cache.sessionInfo(1n, 1n)).toEqual({ lastUsedAt: null, expiresAt: null });
    expect(await cache.sessionInfo(1n, 2n)).toBeNull();
    expect(await cache.touchSession(1n, 1n)).toBe(true);
    expect(await cache.touchSession(1n, 2n)).toBe(false);
    expect(await cache.expireSessions()).toEqual([]);
    const asked = storage.asked;
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.asked).toBe(asked + 1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
    await cache.close();
  });

  it('over a storage that answers now: a no is never cached, a yes until its expiry (not a moment longer), nothing while the bus is lost', async () => {
    const bus = scriptedBus();
    let now = 1_000_000;
    const storage = new AnswersNow({ clock: () => now, ttlSeconds: 60 });
    const cache = new CachedSessionStorage(storage, { bus, clock: () => now });
    await cache.ready();
    await storage.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    expect(storage.nowReads).toBe(2);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    now += 59_999;
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.nowReads).toBe(3);
    // The storage extends the expiry behind the cache's back: the entry is read again when due, and kept once.
    await storage.touchSession(1n, 1n);
    now += 1;
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.nowReads).toBe(4);
    expect(cache.stats().entries).toBe(1);
    now += 59_999; // exactly the new expiry (touched 1 ms before the old one): gone
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(storage.asyncReads).toBe(0);
    bus.tell('lost');
    await storage.createSession(1n, 3n);
    expect(await cache.hasSession(1n, 3n)).toBe(true);
    expect(await cache.hasSession(1n, 3n)).toBe(true);
    expect(storage.nowReads).toBe(7);
    expect(cache.stats().entries).toBe(0);
    await cache.close();
  });

  it("passes listSessions and sessionInfo through to a storage that has them", async () => {
    const { storage, cache } = await answersNow({ ttlSeconds: 60 });
    await storage.createSession(1n, 1n);
    await storage.createSession(1n, 2n);
    const info = await cache.sessionInfo(1n, 1n);
    expect(info).toEqual(await storage.sessionInfo(1n, 1n));
    expect(info?.expiresAt).toEqual(expect.any(Number)); // not the { null, null } of a storage without sessionInfo
    expect(await cache.listSessions(1n)).toEqual([1n, 2n]);
    await cache.close();
  });

  it('a touch through the cache evicts its session: the next hasSession reads the new expiry', async () => {
    const { storage, cache } = await answersNow({ ttlSeconds: 60 });
    await storage.createSession(1n, 1n);
    await cache.hasSession(1n, 1n);
    expect(await cache.touchSession(1n, 1n)).toBe(true);
    const reads = storage.nowReads;
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.nowReads).toBe(reads + 1);
    await cache.close();
  });

  it('a session in the old generation is a hit, counted, until its expiry exactly', async () => {
    const { storage, cache, advance } = await answersNow({ maxEntries: 4, ttlSeconds: 60 });
    for (const s of [1n, 2n, 3n, 4n]) await storage.createSession(1n, s);
    for (const s of [1n, 2n, 3n]) await cache.hasSession(1n, s); // 1 and 2 fill the young generation; 3 makes them the old one
    const { hits, misses } = cache.stats();
    const reads = storage.nowReads;
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.nowReads).toBe(reads);
    expect(cache.stats()).toMatchObject({ hits: hits + 1, misses, entries: 3 });
    advance(60_000);
    // 2 is still in the old generation, 3 in the young one: both expired at this very time.
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    expect(await cache.hasSession(1n, 3n)).toBe(false);
    expect(storage.nowReads).toBe(reads + 2);
    expect(await cache.expireSessions()).toHaveLength(4);
    await cache.close();
  });

  it('counts an eviction in either generation, and of each session of a key destroyed', async () => {
    const { storage, cache, other } = await answersNow({ maxEntries: 4 });
    for (const s of [1n, 2n, 3n, 4n]) await storage.createSession(1n, s);
    for (const s of [1n, 2n, 3n, 4n]) await cache.hasSession(1n, s); // 1 and 2 old, 3 and 4 young
    await cache.destroySession(1n, 1n);
    await storage.destroySession(1n, 3n);
    await other.publish(destroyed(1n, 3n));
    await tick();
    expect(cache.stats()).toMatchObject({ entries: 2, evictions: 2 });
    expect(await cache.destroyAllSessions(1n)).toEqual([2n, 4n]);
    expect(cache.stats()).toMatchObject({ entries: 0, evictions: 4 });
    await cache.close();
  });

  it('three auth keys on one session id: evicting any one of them leaves the other two cached', async () => {
    for (const gone of [1n, 2n, 3n]) {
      const { storage, cache, other } = await answersNow();
      for (const a of [1n, 2n, 3n]) {
        await storage.createSession(a, 7n);
        await cache.hasSession(a, 7n);
      }
      await storage.destroySession(gone, 7n);
      await other.publish(destroyed(gone, 7n));
      await tick();
      expect(cache.stats()).toMatchObject({ entries: 2, evictions: 1 });
      const reads = storage.nowReads;
      for (const a of [1n, 2n, 3n]) expect(await cache.hasSession(a, 7n), `${a} after ${gone} went`).toBe(a !== gone);
      expect(storage.nowReads).toBe(reads + 1); // only the one evicted is read again
      await cache.close();
    }
  });

  it('a read under way while its session id alone is evicted does not land; one that starts after the eviction does', async () => {
    const storage = plainStorage();
    for (const s of [1n, 2n, 3n]) await storage.createSession(1n, s);
    const cache = new CachedSessionStorage(storage, { bus: localBus() });
    await cache.ready();
    storage.hold();
    const first = cache.hasSession(1n, 1n);
    const other = cache.hasSession(1n, 3n); // under way across both evictions below
    await storage.destroySession(1n, 1n);
    await cache.destroySession(1n, 1n);
    await cache.destroyAllSessions(5n); // another key, noted as well
    await storage.createSession(5n, 1n);
    const afterKey = cache.hasSession(5n, 1n);
    await cache.destroySession(1n, 2n);
    await storage.createSession(1n, 2n); // created again after its eviction
    const after = cache.hasSession(1n, 2n);
    await cache.destroySession(1n, 9n); // one eviction more: no read above started after the last one
    storage.release(true);
    expect(await Promise.all([first, other, after, afterKey])).toEqual([true, true, true, true]);
    const asked = storage.asked;
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(storage.asked).toBe(asked + 1);
    for (const [a, s] of [[1n, 2n], [1n, 3n], [5n, 1n]] as const) expect(await cache.hasSession(a, s)).toBe(true);
    expect(storage.asked).toBe(asked + 1); // answered from memory
    await cache.close();
  });

  it('a read that starts while a destroy runs (its session or its whole key) does not land once the destroy is done', async () => {
    const storage = plainStorage();
    const cache = new CachedSessionStorage(storage, { bus: localBus() });
    await cache.ready();
    for (const destroy of [() => cache.destroySession(1n, 1n), () => cache.destroyAllSessions(1n)]) {
      await storage.createSession(1n, 1n);
      let done: () => void = () => {};
      storage.destroying = new Promise((resolve) => (done = resolve));
      const destroying = destroy();
      // Storage has not deleted it yet: this read says yes, and is cached until the destroy ends.
      expect(await cache.hasSession(1n, 1n)).toBe(true);
      done();
      storage.destroying = undefined;
      await destroying;
      expect(await cache.hasSession(1n, 1n)).toBe(false);
    }
    await cache.close();
  });

  it('of two reads started together, the one still under way when the other ends does not land after its session was evicted', async () => {
    const storage = plainStorage();
    for (const s of [1n, 2n]) await storage.createSession(1n, s);
    const bus = localBus();
    const cache = new CachedSessionStorage(storage, { bus });
    await cache.ready();
    storage.hold();
    const first = cache.hasSession(1n, 1n);
    const second = cache.hasSession(1n, 2n);
    await cache.destroySession(1n, 2n);
    storage.release();
    expect(await first).toBe(true);
    storage.release(true);
    expect(await second).toBe(true);
    const asked = storage.asked;
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.asked).toBe(asked + 1);
    await cache.close();
  });

  it('is not live before its subscription resolves; a yes whose expiry read fails is answered, not cached', async () => {
    let subscribed: () => void = () => {};
    const slow: SessionEventBus = { ...scriptedBus(), subscribe: () => new Promise((resolve) => (subscribed = () => resolve(async () => {}))) };
    const storage = plainStorage();
    await storage.createSession(1n, 1n);
    const cache = new CachedSessionStorage({ ...storage, sessionInfo: () => Promise.reject(new Error('read failed')) }, { bus: slow });
    expect(cache.stats().live).toBe(false);
    subscribed();
    await cache.ready();
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.asked).toBe(2);
    expect(cache.stats().entries).toBe(0);
    await cache.close();
  });

  it('a bus that says lost and then live before subscribe() resolves: the cache is live; only destroyed events evict', async () => {
    const bus = scriptedBus((tell) => {
      tell('lost');
      tell('live');
    });
    const storage = new AnswersNow();
    const cache = new CachedSessionStorage(storage, { bus });
    await cache.ready();
    expect(cache.stats().live).toBe(true);
    await storage.createSession(1n, 1n);
    await cache.hasSession(1n, 1n);
    bus.send({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'node-b' });
    expect(cache.stats()).toMatchObject({ entries: 1, evictions: 0 });
    await cache.close();
  });

  it('a failed subscribe goes to onBusError (console.error by default) and is retried until it is live; not after close', async () => {
    let attempts = 0;
    let second: () => void = () => {};
    const secondTry = new Promise<void>((resolve) => (second = resolve));
    const flaky: SessionEventBus = {
      async publish() {},
      async subscribe() {
        attempts++;
        if (attempts === 1) throw new Error('bus down');
        second();
        return async () => {};
      },
      async close() {},
    };
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const cache = new CachedSessionStorage(plainStorage(), { bus: flaky, resubscribeDelay: 1 });
      await expect(cache.ready()).rejects.toThrow('bus down');
      expect(logged).toHaveBeenCalledWith('CachedSessionStorage: subscribing to the event bus failed; serving from storage and retrying', expect.objectContaining({ message: 'bus down' }));
      await secondTry;
      await cache.ready();
      expect(cache.stats().live).toBe(true);
      await cache.close();
    } finally {
      logged.mockRestore();
    }
    const errors: unknown[] = [];
    const down: SessionEventBus = { ...flaky, subscribe: async () => (attempts++, Promise.reject(new Error('still down'))) };
    attempts = 0;
    const cache = new CachedSessionStorage(plainStorage(), { bus: down, resubscribeDelay: 1, onBusError: (error) => errors.push(error) });
    await cache.ready().catch(() => undefined);
    await cache.close();
    // A subscribe that fails once close() began is neither reported nor retried.
    let fail: (error: Error) => void = () => {};
    const pending: SessionEventBus = { ...flaky, subscribe: () => (attempts++, new Promise((_, reject) => (fail = reject))) };
    const closing = new CachedSessionStorage(plainStorage(), { bus: pending, resubscribeDelay: 1, onBusError: (error) => errors.push(error) });
    const closed = closing.close();
    fail(new Error('down'));
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(attempts).toBe(2);
    expect(errors).toHaveLength(1);
    // One that succeeds once close() began is undone, and the cache never goes live.
    let unsubscribed = 0;
    let subscribed: () => void = () => {};
    const late: SessionEventBus = { ...flaky, subscribe: () => new Promise((resolve) => (subscribed = () => resolve(async () => void unsubscribed++))) };
    const lateCache = new CachedSessionStorage(plainStorage(), { bus: late });
    const lateClosed = lateCache.close();
    subscribed();
    await lateClosed;
    expect(unsubscribed).toBe(1);
    expect(lateCache.stats().live).toBe(false);
  });
});
