/**
 * The application's own ioredis client, configured as applications do: without an
 * offline queue (this README advises it for a Cluster) and handed over while it is
 * still connecting, or put in subscriber mode. Real servers, real ioredis.
 */
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, adminCluster, causeMessages, clusterSeed, dropPrefix, eventually, plain, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const INVALID = expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('subscriber mode') });
const UNAVAILABLE = expect.objectContaining({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function event(n: number): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: BigInt(-n), origin: 'app-clients-test' };
}

/**
 * A client (single server or Cluster) without an offline queue, still connecting, and a
 * fresh prefix on it; both cleaned up after the test.
 */
function offlineClient(kind: 'single' | 'cluster'): { client: Redis | Cluster; prefix: string } {
  const prefix = `mtstore-test:${randomName('app-offline')}:`;
  const client = kind === 'single' ? new Redis(REDIS_URL, { enableOfflineQueue: false }) : new Cluster([clusterSeed()], { enableOfflineQueue: false });
  client.on('error', () => {});
  cleanup.push(() => client.disconnect(), async () => {
    const a = kind === 'single' ? admin() : adminCluster();
    await dropPrefix(a, prefix);
    a.disconnect();
  });
  return { client, prefix };
}

/** Storage, server sessions and a bus on `client`, used at once: the first call of each comes while it connects. */
async function useAtOnce(client: Redis | Cluster, prefix: string): Promise<void> {
  const storage = new RedisStorage({ client, prefix, name: 'alice' });
  const sessions = new RedisSessionStorage({ client, prefix });
  const bus = new RedisSessionEventBus({ client, prefix });
  cleanup.push(() => Promise.all([storage.close(), sessions.close(), bus.close()]));
  expect(['connecting', 'connect']).toContain(client.status);
  const heard: SessionEvent[] = [];
  await Promise.all([storage.save(fullSession(1)), sessions.createSession(1n, 2n), bus.subscribe((e) => heard.push(e))]);
  expect(plain(await storage.load())).toEqual(fullSession(1));
  expect(await sessions.listSessions(1n)).toEqual([2n]);
  await bus.publish(event(1));
  await eventually(() => heard.length === 1, 'the event');
}

/**
 * Many storages on one client, each one's first call made while the client connects:
 * they share one wait for that attempt (and, on a Cluster, one per node connection), so
 * Node's MaxListenersExceededWarning (past 10 listeners of one event) never comes. Each
 * instance added its own 'ready', 'close', 'end' and 'error' listeners before.
 */
async function manyAtOnce(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  try {
    const storages = Array.from({ length: 12 }, (_, i) => new RedisStorage({ client, prefix, name: `s${i}` }));
    cleanup.push(() => Promise.all(storages.map((storage) => storage.close())));
    expect(['connecting', 'connect']).toContain(client.status);
    await Promise.all(storages.map((storage) => storage.kv.set('k', Uint8Array.of(1))));
    // Warnings are emitted a tick later.
    await new Promise((resolve) => setImmediate(resolve));
    return warnings;
  } finally {
    process.off('warning', onWarning);
  }
}

describe.runIf(single.available)("an application's client without an offline queue, still connecting", () => {
  it('single server: the first calls wait for the connection under way (they failed "Stream isn\'t writeable")', async () => {
    const { client, prefix } = offlineClient('single');
    await useAtOnce(client, prefix);
  });

  it('single server: twelve storages whose first calls wait for it add no MaxListenersExceededWarning', async () => {
    const { client, prefix } = offlineClient('single');
    expect(await manyAtOnce(client, prefix)).toEqual([]);
  });

  it('a connection attempt that fails rejects the calls waiting for it with StorageUnavailableError, at once', async () => {
    // Port 1 on loopback: nothing listens, so every attempt is refused.
    const client = new Redis({ host: '127.0.0.1', port: 1, enableOfflineQueue: false, retryStrategy: () => 1_000 });
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix: 'mtstore-test:refused:' });
    cleanup.push(() => client.disconnect(), () => storage.close());
    const started = Date.now();
    await expect(storage.load()).rejects.toThrow(UNAVAILABLE);
    expect(Date.now() - started).toBeLessThan(900);
  });
});

describe.runIf(cluster.available)("an application's Cluster without an offline queue, still connecting", () => {
  it('the first calls wait for the cluster to be ready (they failed "Cluster isn\'t ready")', async () => {
    const { client, prefix } = offlineClient('cluster');
    await useAtOnce(client, prefix);
  });

  it('twelve storages whose first calls wait for it add no MaxListenersExceededWarning', async () => {
    const { client, prefix } = offlineClient('cluster');
    expect(await manyAtOnce(client, prefix)).toEqual([]);
  });
});

describe.runIf(single.available)("an application's client in subscriber mode", () => {
  it('is InvalidArgumentError, not a retryable StorageUnavailableError: in the constructor, or on each call once it subscribed later', async () => {
    const prefix = `mtstore-test:${randomName('app-subscribed')}:`;
    const client = new Redis(REDIS_URL);
    client.on('error', () => {});
    cleanup.push(() => client.disconnect(), async () => {
      const a = admin();
      await dropPrefix(a, prefix);
      a.disconnect();
    });
    const storage = new RedisStorage({ client, prefix });
    const sessions = new RedisSessionStorage({ client, prefix });
    const bus = new RedisSessionEventBus({ client, prefix });
    cleanup.push(() => Promise.all([storage.close(), sessions.close(), bus.close()]));
    await client.subscribe('some-channel-of-the-app');
    for (const Make of [RedisStorage, RedisSessionStorage, RedisSessionEventBus]) {
      expect(() => new Make({ client, prefix })).toThrow(INVALID);
    }
    await expect(storage.load()).rejects.toThrow(INVALID);
    await expect(sessions.createSession(1n, 2n)).rejects.toThrow(INVALID);
    await expect(bus.publish(event(1))).rejects.toThrow(INVALID);
    // ioredis' own refusal stays reachable as the cause (docs/contract.md §8).
    const refused = await storage.load().catch((error: unknown) => error);
    expect(causeMessages(refused)).toContainEqual(expect.stringContaining('Connection in subscriber mode'));
    // Nothing was sent: the connection is still subscribed and answers.
    expect(await client.unsubscribe()).toBe(0);
    expect(await storage.load()).toBeNull();
  });
});

describe.runIf(cluster.available)("an application's Cluster that reads from replicas (scaleReads)", () => {
  it("is InvalidArgumentError for the storages before any I/O (reads could miss the write just made); the bus takes it; the advised duplicate works", async () => {
    const REPLICAS = expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('reads from replicas') });
    const prefix = `mtstore-test:${randomName('app-scale')}:`;
    const slave = new Cluster([clusterSeed()], { lazyConnect: true, scaleReads: 'slave' });
    const all = new Cluster([clusterSeed()], { lazyConnect: true, scaleReads: 'all' });
    const custom = new Cluster([clusterSeed()], { lazyConnect: true, scaleReads: (nodes: unknown[]) => nodes[0] });
    cleanup.push(() => {
      slave.disconnect();
      all.disconnect();
      custom.disconnect();
    });
    for (const Make of [RedisStorage, RedisSessionStorage]) {
      for (const client of [slave, all, custom]) expect(() => new Make({ client, prefix })).toThrow(REPLICAS);
      expect(() => new Make({ cluster: { nodes: [clusterSeed()], options: { scaleReads: 'slave' } }, prefix })).toThrow(REPLICAS);
    }
    for (const client of [slave, all, custom]) expect(client.status).toBe('wait');
    const bus = new RedisSessionEventBus({ client: slave, prefix });
    // What the message advises: a copy of the application's Cluster that reads from masters.
    const masters = slave.duplicate([], { scaleReads: 'master' });
    const storage = new RedisStorage({ client: masters, prefix });
    cleanup.push(async () => {
      await Promise.all([bus.close(), storage.close()]);
      await dropPrefix(masters, prefix);
      masters.disconnect();
    });
    await storage.save(fullSession(2));
    expect(plain(await storage.load())).toEqual(fullSession(2));
  });
});

describe.runIf(single.available)("an application's client with stringNumbers (integer replies as strings)", () => {
  it('transitions, update, the lease and expiry read the scripts\' replies right (they took "1" for "not done")', async () => {
    const prefix = `mtstore-test:${randomName('app-strnum')}:`;
    const client = new Redis(REDIS_URL, { stringNumbers: true });
    client.on('error', () => {});
    let now = 1_000_000;
    const storage = new RedisStorage({ client, prefix, name: 'alice' });
    const sessions = new RedisSessionStorage({ client, prefix, ttlSeconds: 60, clock: () => now });
    cleanup.push(async () => {
      await Promise.all([storage.close(), sessions.close()]);
      await dropPrefix(client, prefix);
      client.disconnect();
    });
    expect(await sessions.createSession(1n, 2n)).toBe(true);
    expect(await sessions.createSession(1n, 3n)).toBe(true);
    expect(await sessions.touchSession(1n, 3n)).toBe(true);
    expect(await sessions.destroySession(1n, 3n)).toBe(true);
    now += 61_000;
    expect(await sessions.expireSessions()).toEqual([{ authKeyId: 1n, sessionId: 2n }]);
    await storage.save(fullSession(1));
    await storage.update({ apiId: 7 });
    expect((await storage.load())?.apiId).toBe(7);
    const held = await storage.lease.acquire({ ttlSeconds: 30, heartbeat: false });
    expect(held.owner.pid).toBe(process.pid);
    await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 });
    await storage.lease.release();
  });
});

describe.runIf(cluster.available)("an application's Cluster with stringNumbers", () => {
  it("is InvalidArgumentError for the storages before any I/O (ioredis leaves a third of the slot map empty with it); the advised duplicate lists names", async () => {
    const NUMBERS = expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('stringNumbers is not supported') });
    const prefix = `mtstore-test:${randomName('app-strnum-cluster')}:`;
    const client = new Cluster([clusterSeed()], { lazyConnect: true, redisOptions: { stringNumbers: true } });
    cleanup.push(() => client.disconnect());
    for (const Make of [RedisStorage, RedisSessionStorage]) {
      expect(() => new Make({ client, prefix })).toThrow(NUMBERS);
      expect(() => new Make({ cluster: { nodes: [clusterSeed()], options: { redisOptions: { stringNumbers: true } } }, prefix })).toThrow(NUMBERS);
    }
    expect(client.status).toBe('wait');
    const bus = new RedisSessionEventBus({ client, prefix });
    const fixed = client.duplicate([], { redisOptions: { ...client.options.redisOptions, stringNumbers: false } });
    const storage = new RedisStorage({ client: fixed, prefix, name: 'alice' });
    cleanup.push(async () => {
      await Promise.all([bus.close(), storage.close()]);
      await dropPrefix(fixed, prefix);
      fixed.disconnect();
    });
    await storage.save(fullSession(3));
    expect(await storage.listNames()).toEqual(['alice']);
  });
});

describe.runIf(single.available)("an application's client that the application quits", () => {
  it('rejects with StorageUnavailableError saying the application closed it (it said only "Connection is closed.")', async () => {
    const client = new Redis(REDIS_URL);
    client.on('error', () => {});
    const prefix = `mtstore-test:${randomName('app-quit')}:`;
    const storage = new RedisStorage({ client, prefix });
    const bus = new RedisSessionEventBus({ client, prefix });
    cleanup.push(() => Promise.all([storage.close(), bus.close()]));
    await storage.save(fullSession(1));
    await client.quit();
    const CLOSED = expect.objectContaining({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('closed by its application') });
    await expect(storage.load()).rejects.toThrow(CLOSED);
    await expect(bus.publish(event(1))).rejects.toThrow(CLOSED);
    const a = admin();
    await dropPrefix(a, prefix);
    a.disconnect();
  });
});

describe.runIf(single.available)("close() with calls in flight on an application's client", () => {
  it('every call made before close() settles before it resolves; the client stays open', async () => {
    const client = new Redis(REDIS_URL);
    client.on('error', () => {});
    const prefix = `mtstore-test:${randomName('app-close')}:`;
    const storage = new RedisStorage({ client, prefix, name: 'alice' });
    cleanup.push(async () => {
      const a = admin();
      await dropPrefix(a, prefix);
      a.disconnect();
      client.disconnect();
    });
    await storage.load();
    let settled = 0;
    const calls = Array.from({ length: 1_000 }, (_, i) => storage.kv.set(`k${i}`, Uint8Array.of(i & 255)).finally(() => settled++));
    await storage.close();
    // Before, close() resolved at once with none of them settled, and an application
    // that disconnected its client next cut them off.
    expect(settled).toBe(1_000);
    await Promise.all(calls);
    expect(client.status).toBe('ready');
    const reader = new RedisStorage({ client, prefix, name: 'alice' });
    expect((await reader.kv.entries()).length).toBe(1_000);
    await reader.close();
  });
});
