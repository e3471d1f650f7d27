/**
 * expireSessions where the expiry index holds entries of sessions touched since they
 * were indexed (a touch leaves the entry where it was; the sweep moves it). A
 * SessionSubject's sweep stops at the first batch that comes back short, so a batch
 * must be short only when nothing more is due. Real servers, real ioredis.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { SessionSubject } from '@mtstore/core';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisSessionStorage, type RedisSessionStorageOptions } from '../src/index.js';
import { admin, adminCluster, clusterSeed, dropPrefix, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const T0 = Date.UTC(2026, 0, 1);
const TTL = 100;

function open(connection: Pick<RedisSessionStorageOptions, 'url' | 'cluster'>, clock: () => number): { storage: RedisSessionStorage; prefix: string } {
  const prefix = `mtstore-test:${randomName('sweep')}:`;
  const storage = new RedisSessionStorage({ ...connection, prefix, ttlSeconds: TTL, clock });
  cleanup.push(async () => {
    const a = connection.cluster ? adminCluster() : admin();
    await dropPrefix(a, prefix);
    a.disconnect();
  });
  cleanup.push(() => storage.close());
  return { storage, prefix };
}

async function createMany(storage: RedisSessionStorage, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, from + count - i) }, (_, j) => storage.createSession(BigInt(1 + ((i + j) % 40)), BigInt(i + j + 1))));
  }
}

const sweeps = (connection: Pick<RedisSessionStorageOptions, 'url' | 'cluster'>): void => {
  it('a batch whose first window holds only touched sessions goes on to the expired ones (it removed none: the sweep stopped there)', async () => {
    let now = T0;
    const { storage } = open(connection, () => now);
    // 600 sessions indexed at T0 + 100 s, all touched at T0 + 50 s (live until T0 + 150 s);
    // 400 created at T0 + 5 s, expiring at T0 + 105 s: behind the 600 in the index.
    await createMany(storage, 0, 600);
    now = T0 + 5_000;
    await createMany(storage, 600, 400);
    now = T0 + 50_000;
    for (let i = 0; i < 600; i += 200) {
      const touched = await Promise.all(Array.from({ length: 200 }, (_, j) => storage.touchSession(BigInt(1 + ((i + j) % 40)), BigInt(i + j + 1))));
      expect(touched.every(Boolean)).toBe(true);
    }
    now = T0 + 110_000;
    const first = await storage.expireSessions(400);
    expect(first.length).toBe(400);
    expect(first.every(({ sessionId }) => sessionId > 600n)).toBe(true);
    expect(await storage.expireSessions(400)).toEqual([]);
    // The touched ones are live and their entries moved: they expire at T0 + 150 s.
    now = T0 + 151_000;
    expect((await storage.expireSessions(1_000)).length).toBe(600);
  });

  it('a subject sweeping touched and expired sessions mixed announces every expired one in one sweep', async () => {
    let now = T0;
    const { storage } = open(connection, () => now);
    await createMany(storage, 0, 2_000);
    now = T0 + 50_000;
    // Every other session touched: its entry stays among the expired ones'.
    for (let i = 0; i < 2_000; i += 400) {
      await Promise.all(Array.from({ length: 200 }, (_, j) => storage.touchSession(BigInt(1 + ((i + 2 * j) % 40)), BigInt(i + 2 * j + 1))));
    }
    now = T0 + 110_000;
    const subject = new SessionSubject(storage, { sweepBatch: 500 });
    cleanup.push(() => subject.close());
    const announced: bigint[] = [];
    subject.subscribe({ update: (e) => void (e.type === 'destroyed' && e.reason === 'expired' && announced.push(e.sessionId)) });
    // What the subject's sweep does each interval: batches until one comes back short.
    for (;;) {
      const batch = await subject.expireSessions(500);
      if (batch.length < 500) break;
    }
    expect(announced.length).toBe(1_000);
    expect(new Set(announced).size).toBe(1_000);
    expect(announced.every((id) => id % 2n === 0n)).toBe(true);
  });
};

describe.runIf(single.available)('expireSessions among touched sessions, single server', () => sweeps({ url: REDIS_URL }));
describe.runIf(cluster.available)('expireSessions among touched sessions, Cluster', () => sweeps({ cluster: { nodes: [clusterSeed()] } }));
