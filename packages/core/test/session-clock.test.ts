/**
 * A server storage's `clock` must return epoch ms (docs/contract.md §7.1); BaseSessionStorage
 * checks each reading of an application's clock. Unchecked, a fraction
 * (performance.timeOrigin + performance.now()), NaN or a string went to the adapter:
 * PostgreSQL refused the write as StorageUnavailableError, Redis stored a session every
 * later read called CorruptDataError, memory threw a TypeError for NaN, and memory and
 * SQLite took '1000000000000' + ttl as a string concatenation, an expiry centuries away.
 */
import { describe, expect, it } from 'vitest';
import { MemorySessionStorage, MemorySessionEventBus, MemoryEventChannel } from '../../memory/src/index.js';
import { MemoryStore } from '../../memory/src/store.js';
import { CachedSessionStorage } from '../src/index.js';

const START = 1_000_000_000_000;

describe('a server storage clock that returns no epoch ms', () => {
  for (const [label, reading] of [
    ['a fraction', START + 0.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a string', String(START)],
    ['a bigint', BigInt(START)],
    ['undefined', undefined],
  ] as const) {
    it(`${label}: every session call rejects InvalidArgumentError and nothing is stored`, async () => {
      const store = new MemoryStore();
      const bad = new MemorySessionStorage({ store, ttlSeconds: 10, clock: () => reading as never });
      const good = new MemorySessionStorage({ store, ttlSeconds: 10, clock: () => START });
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['createSession', () => bad.createSession(1n, 1n)],
        ['hasSession', () => bad.hasSession(1n, 1n)],
        ['touchSession', () => bad.touchSession(1n, 1n)],
        ['sessionInfo', () => bad.sessionInfo(1n, 1n)],
        ['destroySession', () => bad.destroySession(1n, 1n)],
        ['listSessions', () => bad.listSessions(1n)],
        ['destroyAllSessions', () => bad.destroyAllSessions(1n)],
        ['expireSessions', () => bad.expireSessions()],
      ];
      for (const [name, call] of calls) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e as Error & { code?: string },
        );
        expect(error?.code, name).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message, name).toContain('MemorySessionStorage: clock must return epoch ms as an integer');
      }
      expect(await good.listSessions(1n)).toEqual([]);
      await bad.close();
      await good.close();
    });
  }

  it('a cache over such a storage rejects hasSession the same way, not a wrong answer', async () => {
    const bad = new MemorySessionStorage({ ttlSeconds: 10, clock: () => Number.NaN });
    const bus = new MemorySessionEventBus(new MemoryEventChannel());
    const cache = new CachedSessionStorage(bad, { bus });
    await expect(cache.hasSession(1n, 1n)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await cache.close();
    await bus.close();
    await bad.close();
  });

  it('an integer clock, a step back included, is taken', async () => {
    let now = START;
    const storage = new MemorySessionStorage({ ttlSeconds: 10, clock: () => now });
    expect(await storage.createSession(1n, 1n)).toBe(true);
    now -= 20_000;
    expect(await storage.touchSession(1n, 1n)).toBe(true);
    expect(await storage.sessionInfo(1n, 1n)).toEqual({ lastUsedAt: START - 20_000, expiresAt: START - 10_000 });
    await storage.close();
  });
});
