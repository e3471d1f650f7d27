import { describe, expect, it, vi } from 'vitest';
import {
  BaseSessionStorage,
  CachedSessionStorage,
  decodeSessionEvent,
  encodeSessionEvent,
  heartbeatIntervalOption,
  InvalidArgumentError,
  LocalEventChannel,
  LocalSessionEventBus,
  SessionSubject,
  StorageClosedError,
  type ExpiredSession,
  type SessionEvent,
  type SessionInfo,
  type SessionLifetimeOptions,
} from '../src/index.js';

/** A small BaseSessionStorage with lifetime support that counts the reads reaching it. */
class Counting extends BaseSessionStorage {
  readonly rows = new Map<string, { a: bigint; s: bigint; lastUsedAt: number; expiresAt: number | null }>();
  reads = 0;
  /** When set, reads wait for it: lets a test hold a read in flight. */
  gate: Promise<void> | undefined;

  constructor(options?: SessionLifetimeOptions) {
    super(options);
  }
  protected override get supportsLifetime(): boolean {
    return true;
  }
  #live(a: bigint, s: bigint, now: number) {
    const row = this.rows.get(`${a}/${s}`);
    return row !== undefined && (row.expiresAt === null || row.expiresAt > now) ? row : undefined;
  }
  protected async insertSession(a: bigint, s: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if (this.#live(a, s, now)) return false;
    this.rows.set(`${a}/${s}`, { a, s, lastUsedAt: now, expiresAt });
    return true;
  }
  protected async sessionExists(a: bigint, s: bigint, now: number): Promise<boolean> {
    this.reads++;
    const found = this.#live(a, s, now) !== undefined;
    if (this.gate) await this.gate;
    return found;
  }
  protected override async readSessionInfo(a: bigint, s: bigint, now: number): Promise<SessionInfo | null> {
    this.reads++;
    // Read first, answer after the gate: the answer is as of the start of the read.
    const row = this.#live(a, s, now);
    const info = row ? { lastUsedAt: row.lastUsedAt, expiresAt: row.expiresAt } : null;
    if (this.gate) await this.gate;
    return info;
  }
  protected override async touch(a: bigint, s: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const row = this.#live(a, s, now);
    if (row) Object.assign(row, { lastUsedAt: now, expiresAt });
    return row !== undefined;
  }
  protected async removeSession(a: bigint, s: bigint, now: number): Promise<boolean> {
    return this.#live(a, s, now) !== undefined && this.rows.delete(`${a}/${s}`);
  }
  protected async findSessions(a: bigint, now: number): Promise<bigint[]> {
    return [...this.rows.values()].filter((r) => r.a === a && this.#live(r.a, r.s, now)).map((r) => r.s);
  }
  protected async removeAllSessions(a: bigint, now: number): Promise<bigint[]> {
    const ids = await this.findSessions(a, now);
    for (const s of ids) this.rows.delete(`${a}/${s}`);
    return ids;
  }
  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const out: ExpiredSession[] = [];
    for (const [key, row] of this.rows) {
      if (out.length === limit) break;
      if (row.expiresAt !== null && row.expiresAt <= now) {
        this.rows.delete(key);
        out.push({ authKeyId: row.a, sessionId: row.s });
      }
    }
    return out;
  }
  protected async closeConnection(): Promise<void> {}
}

async function setup(options: { maxEntries?: number; ttlSeconds?: number } = {}) {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const channel = new LocalEventChannel();
  const storage = new Counting({ clock, ttlSeconds: options.ttlSeconds });
  const cache = new CachedSessionStorage(storage, { bus: new LocalSessionEventBus(channel), clock, maxEntries: options.maxEntries });
  await cache.ready();
  return { storage, cache, channel, other: new LocalSessionEventBus(channel), advance: (ms: number) => (now += ms) };
}

const destroyed = (a: bigint, s: bigint): SessionEvent => ({ type: 'destroyed', authKeyId: a, sessionId: s, origin: 'node-a', reason: 'explicit' });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('CachedSessionStorage', () => {
  it('answers a known session from memory and never caches a no', async () => {
    const { storage, cache } = await setup();
    await storage.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    const reads = storage.reads;
    for (let i = 0; i < 100; i++) expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(storage.reads).toBe(reads);
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    expect(storage.reads).toBe(reads + 2);
    await storage.createSession(1n, 2n); // created elsewhere, no event needed
    expect(await cache.hasSession(1n, 2n)).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 2, live: true });
  });

  it('a destroyed event from another node evicts at once', async () => {
    const { storage, cache, other } = await setup();
    await storage.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    await storage.destroySession(1n, 1n);
    expect(await cache.hasSession(1n, 1n)).toBe(true); // nobody told it yet
    await other.publish(destroyed(1n, 1n));
    await tick();
    expect(await cache.hasSession(1n, 1n)).toBe(false);
  });

  it('a read in flight when the destroy event arrives does not put the session back', async () => {
    const { storage, cache, other } = await setup();
    await storage.createSession(1n, 1n);
    let open!: () => void;
    storage.gate = new Promise((resolve) => (open = resolve));
    const reading = cache.hasSession(1n, 1n); // reads "yes" before the destroy commits
    await tick();
    await storage.destroySession(1n, 1n);
    await other.publish(destroyed(1n, 1n));
    await tick();
    storage.gate = undefined;
    open();
    expect(await reading).toBe(true);
    expect(await cache.hasSession(1n, 1n)).toBe(false);
  });

  it('a lost subscription empties the cache and stops it filling until live again', async () => {
    const { storage, cache, channel, other } = await setup();
    await storage.createSession(1n, 1n);
    await cache.hasSession(1n, 1n);
    const down = channel.interrupt(30);
    expect(cache.stats()).toMatchObject({ entries: 0, live: false });
    // Destroyed while the bus is down: the event is lost, yet no stale yes is served.
    await storage.destroySession(1n, 1n);
    await other.publish(destroyed(1n, 1n));
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    await storage.createSession(1n, 2n);
    expect(await cache.hasSession(1n, 2n)).toBe(true);
    expect(cache.stats().entries).toBe(0);
    await down;
    expect(cache.stats()).toMatchObject({ live: true, resets: 2 });
    expect(await cache.hasSession(1n, 2n)).toBe(true);
    expect(cache.stats().entries).toBe(1);
  });

  it('a subscription that hears lost before subscribe() resolves does not go live until live', async () => {
    const channel = new LocalEventChannel();
    const storage = new Counting();
    const cache = new CachedSessionStorage(storage, { bus: new LocalSessionEventBus(channel) });
    const other = new LocalSessionEventBus(channel);
    // The subscription exists (its state hook is registered) but subscribe() has not resolved yet.
    const down = channel.interrupt(30);
    await cache.ready();
    expect(cache.stats().live).toBe(false);
    await storage.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    // Another node destroys it while the bus is down: its event is dropped.
    await storage.destroySession(1n, 1n);
    await other.publish({ type: 'destroyed', authKeyId: 1n, sessionId: 1n, origin: 'n2', reason: 'explicit' });
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    await down;
    expect(cache.stats().live).toBe(true);
    await storage.createSession(1n, 2n);
    expect(await cache.hasSession(1n, 2n)).toBe(true);
    expect(cache.stats().entries).toBe(1);
    await cache.close();
    await other.close();
  });

  it('a subscription made while the channel is interrupted hears lost at once, then live: a cache made then does not fill while deaf', async () => {
    const channel = new LocalEventChannel();
    const storage = new Counting();
    const bus = new LocalSessionEventBus(channel);
    const down = channel.interrupt(30);
    const states: string[] = [];
    await bus.subscribe(() => {}, { onState: (state) => states.push(state) });
    expect(states).toEqual(['lost']);
    const cache = new CachedSessionStorage(storage, { bus });
    await cache.ready();
    expect(cache.stats().live).toBe(false);
    await storage.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(cache.stats().entries).toBe(0);
    await down;
    expect(states).toEqual(['lost', 'live']);
    expect(cache.stats().live).toBe(true);
    await cache.close();
    await bus.close();
  });

  it('a read in flight across a reconnect does not land', async () => {
    const { storage, cache, channel } = await setup();
    await storage.createSession(1n, 1n);
    let open!: () => void;
    storage.gate = new Promise((resolve) => (open = resolve));
    const reading = cache.hasSession(1n, 1n);
    await channel.interrupt(1);
    storage.gate = undefined;
    open();
    expect(await reading).toBe(true);
    expect(cache.stats().entries).toBe(0);
  });

  it('a cached session stops answering yes when its expiry passes; a touch re-reads it', async () => {
    const { storage, cache, advance } = await setup({ ttlSeconds: 60 });
    await cache.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    advance(59_999);
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(await cache.touchSession(1n, 1n)).toBe(true);
    advance(1);
    expect(await cache.hasSession(1n, 1n)).toBe(true); // touched: lives until +119,999
    advance(60_000);
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(storage.rows.size).toBe(1); // expired, not yet removed
  });

  it('stays within maxEntries and keeps the sessions in use', async () => {
    const { storage, cache } = await setup({ maxEntries: 100 });
    for (let i = 0n; i < 1000n; i++) {
      await storage.createSession(1n, i);
      await cache.hasSession(1n, i);
      await cache.hasSession(1n, 0n); // the hot one
    }
    expect(cache.stats().entries).toBeLessThanOrEqual(100);
    const reads = storage.reads;
    expect(await cache.hasSession(1n, 0n)).toBe(true);
    expect(storage.reads).toBe(reads);
  });

  it('counts the entries dropped to stay within maxEntries (capacityEvictions), apart from evictions', async () => {
    const { storage, cache, other } = await setup({ maxEntries: 10 });
    for (let i = 1n; i <= 12n; i++) {
      await storage.createSession(1n, i);
      await cache.hasSession(1n, i);
    }
    // Five entries a generation: the 6th made sessions 1-5 the old generation, the 11th dropped them.
    expect(cache.stats()).toMatchObject({ entries: 7, evictions: 0, capacityEvictions: 5 });
    const misses = cache.stats().misses;
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(cache.stats().misses).toBe(misses + 1); // dropped: read from storage again
    await cache.destroySession(1n, 12n);
    await other.publish(destroyed(1n, 11n));
    await tick();
    expect(cache.stats()).toMatchObject({ entries: 6, evictions: 2, capacityEvictions: 5 });
    // Dropping the whole cache (close() here; a bus reset alike) counts as neither.
    await cache.close();
    expect(cache.stats()).toMatchObject({ entries: 0, evictions: 2, capacityEvictions: 5 });
  });

  it('one session id under several auth keys: each is cached, evicted, expired and promoted on its own (model check, seeded)', async () => {
    // The generations are keyed by session id; sessions of other auth keys with the same
    // id share a chain. Random operations over 3 keys × 3 ids with a tiny maxEntries
    // (so entries rotate through the old generation), every answer checked against
    // the storage itself, which is the truth whenever every destroy has been announced.
    for (let seed = 1; seed <= 16; seed++) {
      const { storage, cache, other, advance } = await setup({ maxEntries: 4, ttlSeconds: 60 });
      let state = seed;
      const next = (n: number) => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return (state >>> 8) % n;
      };
      const id = () => BigInt(next(3) + 1);
      for (let step = 0; step < 400; step++) {
        const [a, s] = [id(), id()];
        const where = `seed ${seed}, step ${step}: (${a}, ${s})`;
        switch (next(10)) {
          case 0:
          case 1:
            await cache.createSession(a, s);
            break;
          case 2:
            await cache.destroySession(a, s);
            break;
          case 3:
            await cache.destroyAllSessions(a);
            break;
          case 4: // destroyed on another node, announced on the bus
            if (await storage.destroySession(a, s)) {
              await other.publish(destroyed(a, s));
              await tick();
            }
            break;
          case 5:
            if (next(4) === 0) advance(next(30_000));
            break;
          default: {
            const truth = await storage.hasSession(a, s);
            expect(await cache.hasSession(a, s), where).toBe(truth);
          }
        }
        expect(cache.stats().entries, where).toBeLessThanOrEqual(4);
      }
      for (const a of [1n, 2n, 3n]) {
        for (const s of [1n, 2n, 3n]) expect(await cache.hasSession(a, s), `seed ${seed}, end: (${a}, ${s})`).toBe(await storage.hasSession(a, s));
      }
      await cache.close();
    }
  });

  it('local destroys evict; invalid ids and closed reject like the storage', async () => {
    const { storage, cache } = await setup();
    await storage.createSession(1n, 1n);
    await storage.createSession(1n, 2n);
    await cache.hasSession(1n, 1n);
    await cache.hasSession(1n, 2n);
    expect(await cache.destroySession(1n, 1n)).toBe(true);
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(await cache.destroyAllSessions(1n)).toEqual([2n]);
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    await expect(cache.hasSession(1 as unknown as bigint, 1n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.hasSession(2n ** 63n, 1n)).rejects.toThrow(/hasSession/);
    await cache.close();
    await expect(cache.hasSession(1n, 1n)).rejects.toBeInstanceOf(StorageClosedError);
    expect(() => new CachedSessionStorage(storage, { bus: undefined as never })).toThrow(InvalidArgumentError);
    // resubscribeDelay is a timer: past 2^31 - 1 ms Node fires it after 1 ms (a retry loop without a pause).
    for (const resubscribeDelay of [2 ** 31, 2 ** 32, 0, 1.5, Number.NaN, '5' as never]) {
      expect(() => new CachedSessionStorage(storage, { bus: new LocalSessionEventBus(new LocalEventChannel()), resubscribeDelay }), String(resubscribeDelay)).toThrow(/resubscribeDelay must be an integer number of ms from 1 to 2147483647/);
    }
  });

  it('a yes for ids outside the int64 range (a storage outside the contract) is passed on, never cached', async () => {
    let asked = 0;
    // Says yes to everything, like a storage that skips validation.
    const lax = {
      hasSession: async () => (asked++, true),
      createSession: async () => true,
      destroySession: async () => true,
      listSessions: async (): Promise<bigint[]> => [],
      destroyAllSessions: async (): Promise<bigint[]> => [],
      close: async () => {},
    };
    const cache = new CachedSessionStorage(lax, { bus: new LocalSessionEventBus() });
    await cache.ready();
    for (const [a, s] of [[1 as unknown as bigint, 1n], [1n, '1' as unknown as bigint], [2n ** 63n, 1n], [1n, -(2n ** 63n) - 1n]] as const) {
      expect(await cache.hasSession(a, s)).toBe(true);
      expect(await cache.hasSession(a, s)).toBe(true);
    }
    expect(asked).toBe(8);
    expect(cache.stats().entries).toBe(0);
    // A valid pair is cached as before.
    expect(await cache.hasSession(2n ** 63n - 1n, -(2n ** 63n))).toBe(true);
    expect(await cache.hasSession(2n ** 63n - 1n, -(2n ** 63n))).toBe(true);
    expect(asked).toBe(9);
    await cache.close();
  });
});

describe('session lifetime in BaseSessionStorage and SessionSubject', () => {
  it('expired sessions stop existing at once and expireSessions removes each once, announced as expired', async () => {
    let now = 1_000_000;
    const storage = new Counting({ ttlSeconds: 10, clock: () => now });
    const channel = new LocalEventChannel();
    const a = new SessionSubject(storage, { id: 'a', bus: new LocalSessionEventBus(channel) });
    const heard: SessionEvent[] = [];
    await new LocalSessionEventBus(channel).subscribe((e) => heard.push(e));
    await a.ready();
    await a.createSession(1n, 1n);
    await a.createSession(1n, 2n);
    now += 5_000;
    expect(await a.touchSession(1n, 2n)).toBe(true);
    expect(await a.sessionInfo(1n, 2n)).toEqual({ lastUsedAt: 1_005_000, expiresAt: 1_015_000 });
    now += 5_000;
    expect(await a.hasSession(1n, 1n)).toBe(false);
    expect(await a.listSessions(1n)).toEqual([2n]);
    expect(await a.destroySession(1n, 1n)).toBe(false);
    expect(await a.expireSessions()).toEqual([{ authKeyId: 1n, sessionId: 1n }]);
    expect(await a.expireSessions()).toEqual([]);
    await tick();
    expect(heard.map((e) => `${e.type} ${e.sessionId} ${e.reason}`)).toEqual(['created 1 undefined', 'created 2 undefined', 'destroyed 1 expired']);
    expect(await a.destroySession(1n, 2n)).toBe(true);
    await tick();
    expect(heard.at(-1)?.reason).toBe('explicit');
    await a.close();
  });

  it('the background sweep removes in bounded batches and stops with close', async () => {
    let now = 0;
    const storage = new Counting({ ttlSeconds: 1, clock: () => now });
    for (let i = 0n; i < 25n; i++) await storage.createSession(1n, i);
    now = 1_000;
    const subject = new SessionSubject(storage, { sweepInterval: 10, sweepBatch: 10 });
    const removed: bigint[] = [];
    subject.subscribe({ update: (e) => void removed.push(e.sessionId) });
    // Three 10 ms sweeps at the least; polled, because a loaded machine delays timers.
    await vi.waitFor(() => expect(removed).toHaveLength(25), { timeout: 10_000, interval: 10 });
    await subject.close();
    expect(() => new SessionSubject(storage, { sweepInterval: 1 })).toThrow(InvalidArgumentError);
  });

  it('SessionSubject and CachedSessionStorage refuse an option they do not have, naming the nearest (a misspelt one was ignored: sweeping stayed off)', async () => {
    const storage = new Counting({ ttlSeconds: 1 });
    const bus = new LocalSessionEventBus(new LocalEventChannel());
    expect(() => new SessionSubject(storage, { sweepIntervl: 100 } as never)).toThrow('SessionSubject: unknown option "sweepIntervl" (did you mean "sweepInterval"?)');
    expect(() => new SessionSubject(storage, { bsu: bus } as never)).toThrow(/SessionSubject: unknown option "bsu" \(did you mean "bus"\?\)/);
    expect(() => new SessionSubject(storage, null as never)).toThrow(/SessionSubject: options must be an object, got null/);
    expect(() => new CachedSessionStorage(storage, { bus, maxEntires: 10 } as never)).toThrow('CachedSessionStorage: unknown option "maxEntires" (did you mean "maxEntries"?)');
    // Every option each has is accepted.
    const subject = new SessionSubject(storage, { bus, id: 'a', onObserverError: () => {}, onBusError: () => {}, resubscribeDelay: 10, sweepInterval: 100, sweepBatch: 10, onSweepError: () => {} });
    await subject.close();
    const cache = new CachedSessionStorage(storage, { bus, maxEntries: 10, clock: Date.now, onBusError: () => {}, resubscribeDelay: 10 });
    await cache.close();
  });

  it("SessionSubject's timer options stop at setTimeout's limit (a longer delay would fire after 1 ms)", () => {
    const storage = new Counting({ ttlSeconds: 1 });
    for (const sweepInterval of [2 ** 31, 9, 10.5, Number.NaN, '100' as never]) {
      expect(() => new SessionSubject(storage, { sweepInterval }), String(sweepInterval)).toThrow(/sweepInterval must be an integer number of ms from 10 to 2147483647/);
    }
    for (const resubscribeDelay of [2 ** 31, 0, 1.5, '5' as never]) {
      expect(() => new SessionSubject(storage, { resubscribeDelay }), String(resubscribeDelay)).toThrow(/resubscribeDelay must be an integer number of ms from 1 to 2147483647/);
    }
    for (const heartbeatInterval of [2 ** 31, 99, 100.5, '1000' as never]) {
      expect(() => heartbeatIntervalOption(heartbeatInterval, 'TestBus'), String(heartbeatInterval)).toThrow(/TestBus: heartbeatInterval must be an integer number of ms from 100 to 2147483647/);
    }
    expect(heartbeatIntervalOption(2 ** 31 - 1, 'TestBus')).toBe(2 ** 31 - 1);
    expect(heartbeatIntervalOption(undefined, 'TestBus')).toBe(15_000);
  });

  it('ttlSeconds is validated; an adapter without lifetime support refuses it', () => {
    expect(() => new Counting({ ttlSeconds: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Counting({ ttlSeconds: 1.5 })).toThrow(InvalidArgumentError);
    class Plain extends Counting {
      protected override get supportsLifetime(): boolean {
        return false;
      }
    }
    expect(() => new Plain({ ttlSeconds: 10 })).toThrow(/does not support ttlSeconds/);
  });

  it('the destroy reason crosses the wire; an event without one still decodes', () => {
    const e: SessionEvent = { type: 'destroyed', authKeyId: -1n, sessionId: 2n, origin: 'x', reason: 'expired' };
    expect(decodeSessionEvent(encodeSessionEvent(e))).toEqual(e);
    expect(decodeSessionEvent('{"t":"d","a":"1","s":"2","o":"x"}')).toEqual({ type: 'destroyed', authKeyId: 1n, sessionId: 2n, origin: 'x' });
    expect(() => encodeSessionEvent({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'x', reason: 'expired' })).toThrow(InvalidArgumentError);
  });
});
