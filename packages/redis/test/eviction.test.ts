/**
 * A Redis whose maxmemory-policy evicts any key (allkeys-*) can drop session keys without
 * an error: the storages warn once per process when they first connect to one. The
 * policy is changed on the local test server only inside this test, and restored.
 */
import { checkServer, minimalSession } from '@mtstore/conformance/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, dropPrefix, probe, randomName, REDIS_URL } from './helpers.js';

const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** The warnings with mtstore's eviction code emitted while `work` ran (and the ticks after it). */
async function warningsDuring(work: () => Promise<unknown>): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (warning: Error): void => {
    if ((warning as { code?: string }).code === 'MTSTORE_REDIS_EVICTION') seen.push(warning);
  };
  process.on('warning', listener);
  try {
    await work();
    // process.emitWarning emits on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

describe.runIf(server.available)('maxmemory-policy', () => {
  it('allkeys-lru: the storages warn once per process on first connecting (keys can be evicted silently); noeviction and volatile-lru do not', async () => {
    const redis = admin();
    const prefix = `mtstore-test:${randomName('eviction')}:`;
    const [, original] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    cleanup.push(async () => {
      await redis.config('SET', 'maxmemory-policy', original);
      await dropPrefix(redis, prefix);
      redis.disconnect();
    });
    const open = (): RedisStorage => {
      const storage = new RedisStorage({ url: REDIS_URL, prefix });
      cleanup.push(() => storage.close());
      return storage;
    };

    for (const policy of ['noeviction', 'volatile-lru']) {
      await redis.config('SET', 'maxmemory-policy', policy);
      expect(await warningsDuring(() => open().save(minimalSession()))).toEqual([]);
    }

    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const warnings = await warningsDuring(() => open().load());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/maxmemory-policy allkeys-lru.*noeviction/);
    // Once per process: more instances, server storages and the bus (which keeps no keys) say nothing more.
    const sessions = new RedisSessionStorage({ url: REDIS_URL, prefix });
    const bus = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    cleanup.push(() => Promise.all([sessions.close(), bus.close()]));
    expect(await warningsDuring(() => Promise.all([open().load(), sessions.createSession(1n, 2n), bus.subscribe(() => {})]))).toEqual([]);
  });
});
