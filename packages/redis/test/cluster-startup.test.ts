/**
 * The first calls of a fresh storage on a Cluster without an offline queue (the one
 * mtstore opens, or an application's as the README advises) are never held back as a
 * failover. ioredis' Cluster with `enableOfflineQueue: false` refuses a command whose
 * node connection is still connecting with "Connection is closed." and resends it after
 * `retryDelayOnFailover`: the layout check's MULTI after `INFO memory` on the same lazy
 * node connection, or the first call's, met it on about 1 fresh instance in 5 (100 ms
 * late with ioredis' default). Here that delay is 60 s, and the first calls must settle
 * within 10 s: not a speed bound, a "never held for the failover" one. Forty instances,
 * so that the old code meets the failover with near certainty (it held 13 and 15 of 40 in
 * two runs; on applications' Clusters 23 of 40).
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { Cluster } from 'ioredis';
import { StorageUnavailableError } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import { adminCluster, clusterSeed, dropPrefix, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const INSTANCES = 40;
/** A failover resend comes this long after the refusal: far past BOUND_MS. */
const FAILOVER_MS = 60_000;
/** The first calls of an instance not settled by then were held for the failover. */
const BOUND_MS = 10_000;

const base = randomName('startup');

/** Whether `calls` settled (either way) within BOUND_MS. */
async function settlesInTime(calls: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, BOUND_MS, false);
  });
  const settled = calls.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh storage's first calls, a read and a write side by side; whether they settled in time, and the read after them. */
async function firstCalls(storage: RedisStorage): Promise<{ inTime: boolean; read?: Uint8Array | null }> {
  const calls = Promise.all([storage.kv.get('absent'), storage.kv.set('k', Uint8Array.of(7))]);
  calls.catch(() => {});
  const inTime = await settlesInTime(calls);
  if (!inTime) return { inTime };
  await calls;
  return { inTime, read: await storage.kv.get('k') };
}

/**
 * Stalls this process for `ms` without using a CPU, as a loaded machine or a busy event
 * loop does to an application: a timer due meanwhile fires after it, before a reply
 * that came meanwhile is read.
 */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A fresh storage's first call, with the process stalled `ms` once the Cluster's first slots query is in flight; what it rejected with, or undefined. */
async function firstCallStalled(storage: RedisStorage, ms: number): Promise<unknown> {
  const call = storage.kv.set('k', Uint8Array.of(7));
  call.catch(() => {});
  // By then the call has connected the Cluster: its CLUSTER SLOTS, timed by slotsRefreshTimeout, is in flight.
  await new Promise<void>((resolve) => setImmediate(resolve));
  stall(ms);
  return call.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** `call()`'s first success, tried every 100 ms for up to 10 s; every failure before it must be StorageUnavailableError. */
async function eventually<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      expect(error).toBeInstanceOf(StorageUnavailableError);
      if (attempt === 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe.runIf(cluster.available)('a Cluster storage starting in a stalled process', () => {
  const prefix = randomName('startup-stall');

  afterAll(async () => {
    const admin = adminCluster();
    try {
      await dropPrefix(admin, prefix);
    } finally {
      admin.disconnect();
    }
  });

  // ioredis' slotsRefreshTimeout (1 s) failed the first slots query of a process stalled
  // that long (40 storages starting at a load of 10-20 were), and the Cluster's connect
  // with it: "None of startup nodes is available", though the node had answered.
  it('stalled 1.5 s during its first slots query: the first call succeeds (slotsRefreshTimeout 5 s by default)', async () => {
    const storage = new RedisStorage({ cluster: { nodes: [clusterSeed()] }, prefix: `${prefix}-default:`, name: 'a' });
    try {
      expect(await firstCallStalled(storage, 1_500)).toBeUndefined();
      expect(await storage.kv.get('k')).toEqual(Uint8Array.of(7));
    } finally {
      await storage.close();
    }
  });

  it("stalled past the application's own slotsRefreshTimeout: StorageUnavailableError in mtstore's words, and the same storage works again by itself", async () => {
    const storage = new RedisStorage({ cluster: { nodes: [clusterSeed()], options: { slotsRefreshTimeout: 200 } }, prefix: `${prefix}-short:`, name: 'a' });
    try {
      const error = await firstCallStalled(storage, 500);
      expect(error).toBeInstanceOf(StorageUnavailableError);
      const message = (error as Error).message;
      expect(message).toContain('no node of the Redis Cluster answered its slots query (CLUSTER SLOTS) within slotsRefreshTimeout (200 ms); the Cluster keeps reconnecting by itself');
      expect(message).toContain('the call was not sent, nothing of it was applied');
      expect(message).not.toContain('None of startup nodes');
      // The Cluster reconnects by itself (clusterRetryStrategy): a later call on the same instance goes through.
      expect(await eventually(() => storage.kv.get('k'))).toBeNull();
    } finally {
      await storage.close();
    }
  });

  it("an application's Cluster stalled past its slotsRefreshTimeout: the first call says so in mtstore's words too", async () => {
    const client = new Cluster([clusterSeed()], { enableOfflineQueue: false, slotsRefreshTimeout: 200, redisOptions: { connectionName: 'mtstore-test-startup' } });
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix: `${prefix}-app:`, name: 'a' });
    try {
      const error = await firstCallStalled(storage, 500);
      expect(error).toBeInstanceOf(StorageUnavailableError);
      const message = (error as Error).message;
      expect(message).toContain('no node of the Redis Cluster answered its slots query (CLUSTER SLOTS) within slotsRefreshTimeout (200 ms): the call was not sent, nothing of it was applied');
      expect(message).not.toContain('Failed to refresh slots cache');
    } finally {
      client.disconnect();
      await storage.close();
    }
  });
});

describe.runIf(cluster.available)('a fresh Cluster storage: first calls are not held for retryDelayOnFailover', () => {
  afterAll(async () => {
    const admin = adminCluster();
    try {
      await dropPrefix(admin, base);
    } finally {
      admin.disconnect();
    }
  });

  it(`a Cluster mtstore opens: ${INSTANCES} fresh storages, each one's first calls settle within ${BOUND_MS / 1000} s`, async () => {
    const storages = Array.from(
      { length: INSTANCES },
      (_, i) => new RedisStorage({ cluster: { nodes: [clusterSeed()], options: { retryDelayOnFailover: FAILOVER_MS } }, prefix: `${base}-owned-${i}:`, name: 'a' }),
    );
    try {
      const outcomes = await Promise.all(storages.map(firstCalls));
      expect(outcomes.filter((outcome) => !outcome.inTime).length).toBe(0);
      for (const outcome of outcomes) expect(outcome.read).toEqual(Uint8Array.of(7));
    } finally {
      await Promise.all(storages.map((storage) => storage.close().catch(() => {})));
    }
  }, 60_000);

  it(`an application's Cluster without an offline queue, passed in right after new Cluster(): ${INSTANCES} storages, the same`, async () => {
    const clients = Array.from(
      { length: INSTANCES },
      // slotsRefreshTimeout as the README advises: ioredis' 1 s fails a connect on a loaded machine (the stalls above).
      () => new Cluster([clusterSeed()], { enableOfflineQueue: false, slotsRefreshTimeout: 5_000, retryDelayOnFailover: FAILOVER_MS, redisOptions: { connectionName: 'mtstore-test-startup' } }),
    );
    const storages = clients.map((client, i) => new RedisStorage({ client, prefix: `${base}-app-${i}:`, name: 'a' }));
    try {
      const outcomes = await Promise.all(storages.map(firstCalls));
      expect(outcomes.filter((outcome) => !outcome.inTime).length).toBe(0);
      for (const outcome of outcomes) expect(outcome.read).toEqual(Uint8Array.of(7));
    } finally {
      // Clients first: close() lets every call settle, and a call held for the failover would take its 60 s.
      for (const client of clients) client.disconnect();
      await Promise.all(storages.map((storage) => storage.close().catch(() => {})));
    }
  }, 60_000);
});
