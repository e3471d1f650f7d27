/**
 * Transitions under contention from many processes' worth of connections: 50
 * callers, each on its own connection, race on one session — exactly one wins —
 * on a single server and on the cluster.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, type RedisSessionStorageOptions } from '../src/index.js';
import { admin, adminCluster, clusterSeed, dropPrefix, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const CALLERS = 50;

async function race(open: () => RedisSessionStorageOptions): Promise<void> {
  const storages = Array.from({ length: CALLERS }, () => new RedisSessionStorage(open()));
  try {
    // Connect every caller first, so the race is between 50 live connections.
    await Promise.all(storages.map((s) => s.hasSession(0n, 0n)));
    for (let round = 0n; round < 3n; round++) {
      const created = await Promise.all(storages.map((s) => s.createSession(-(2n ** 63n), round)));
      expect(created.filter(Boolean), `create round ${round}`).toHaveLength(1);
      const destroyed = await Promise.all(storages.map((s) => s.destroySession(-(2n ** 63n), round)));
      expect(destroyed.filter(Boolean), `destroy round ${round}`).toHaveLength(1);
    }
    for (let id = 0n; id < 10n; id++) await storages[0]?.createSession(9n, id);
    const removed = await Promise.all(storages.map((s) => s.destroyAllSessions(9n)));
    expect(removed.flat().sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));
  } finally {
    await Promise.all(storages.map((s) => s.close()));
  }
}

describe.runIf(single.available)('50 connections racing on a single server', () => {
  const redis = admin();
  afterAll(() => redis.quit());

  it('create, destroy and destroyAllSessions each have exactly one winner per transition', async () => {
    const prefix = `${randomName('race')}:`;
    try {
      await race(() => ({ url: REDIS_URL, prefix }));
    } finally {
      await dropPrefix(redis, prefix);
    }
  });
});

describe.runIf(cluster.available)('50 connections racing on Redis Cluster', () => {
  const redis = adminCluster();
  afterAll(() => redis.quit());

  it('create, destroy and destroyAllSessions each have exactly one winner per transition', async () => {
    const prefix = `${randomName('race')}:`;
    const clients: Cluster[] = [];
    try {
      await race(() => {
        // 50 clients fetch the slot map at once on a busy machine: ioredis' 1 s default fails some.
        const client = new Cluster([clusterSeed()], { lazyConnect: true, slotsRefreshTimeout: 10_000 });
        clients.push(client);
        return { client, prefix };
      });
    } finally {
      await Promise.all(clients.map((c) => c.quit()));
      await dropPrefix(redis, prefix);
    }
  });
});

/**
 * An auth key with more sessions than Lua's unpack takes at once (8,000: a client picks
 * its session ids, so nothing stops one from making that many): destroyAllSessions
 * removes and returns them all, and a resend of the same call (its receipt) answers the
 * same ids. Its script used to fail 'too many results to unpack' past 8,000, so such a
 * key could never be cleared.
 */
async function destroyMany(options: RedisSessionStorageOptions): Promise<void> {
  const sessions = new RedisSessionStorage(options);
  try {
    const count = 8_500;
    const ids = Array.from({ length: count }, (_, i) => BigInt(i + 1));
    for (let i = 0; i < count; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => sessions.createSession(11n, id)));
    const removed = await sessions.destroyAllSessions(11n);
    expect(removed).toHaveLength(count);
    expect(new Set(removed).size).toBe(count);
    expect(await sessions.listSessions(11n)).toEqual([]);
    expect(await sessions.hasSession(11n, BigInt(count))).toBe(false);
  } finally {
    await sessions.close();
  }
}

describe.runIf(single.available)('an auth key with 8,500 sessions on a single server', () => {
  const redis = admin();
  afterAll(() => redis.quit());

  it('destroyAllSessions removes and returns every one', async () => {
    const prefix = `${randomName('many')}:`;
    try {
      await destroyMany({ url: REDIS_URL, prefix });
    } finally {
      await dropPrefix(redis, prefix);
    }
  });
});

describe.runIf(cluster.available)('an auth key with 8,500 sessions on Redis Cluster', () => {
  const redis = adminCluster();
  afterAll(() => redis.quit());

  it('destroyAllSessions removes and returns every one', async () => {
    const prefix = `${randomName('many')}:`;
    const client = new Cluster([clusterSeed()], { lazyConnect: true });
    try {
      await destroyMany({ client, prefix });
    } finally {
      await client.quit();
      await dropPrefix(redis, prefix);
    }
  });
});
