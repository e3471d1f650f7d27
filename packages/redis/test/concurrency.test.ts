/**
 * Writers of one session on two connections (two processes' worth): key, kv, peer,
 * reference and snapshot writes interleave without losing each other's changes —
 * each is one command or one script on its own fields, never a read-modify-write of
 * the session. On a single server and on the cluster.
 */
import { authKey, checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStorage, type RedisStorageOptions } from '../src/index.js';
import { admin, adminCluster, clusterSeed, dropPrefix, plain, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const ROUNDS = 40;

async function interleave(open: () => RedisStorageOptions): Promise<void> {
  const [a, b] = [new RedisStorage({ ...open(), name: 'shared' }), new RedisStorage({ ...open(), name: 'shared' })];
  try {
    await a.save(fullSession(1));
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // a: permanent keys of DCs 100.., kv entries a:*; b: temp keys of DC 1, kv entries b:*.
      writes.push(a.authKeys.set(100 + i, authKey(i)));
      writes.push(b.authKeys.setTemp(1, { index: i, key: authKey(i + 1), expiresAt: 1_900_000_000 + i }));
      writes.push(a.kv.set(`a:${i}`, new Uint8Array([i])));
      writes.push(b.kv.set(`b:${i}`, new Uint8Array([i, i])));
      writes.push((i % 2 === 0 ? a : b).peers.upsert([peer('user', 1000 + i)]));
      writes.push((i % 2 === 0 ? b : a).refMessages.store(BigInt(i), -100n, i + 1));
      writes.push(a.saveUpdateState({ pts: i, qts: 0, date: 0, seq: 0 }, [{ id: BigInt(5000 + i), pts: i }]));
      writes.push(b.update({ apiId: 1 + i }));
    }
    await Promise.all(writes);

    for (let i = 0; i < ROUNDS; i++) {
      expect(plain(await b.authKeys.get(100 + i)), `key of DC ${100 + i}`).toEqual(authKey(i));
      expect(plain(await a.authKeys.getTemp(1, i)), `temp key ${i}`).toEqual({ index: i, key: authKey(i + 1), expiresAt: 1_900_000_000 + i });
      expect(await b.refMessages.getByPeer(BigInt(i))).toEqual({ chatId: -100n, messageId: i + 1 });
    }
    const entries = await a.kv.entries();
    expect(entries).toHaveLength(2 * ROUNDS);
    const loaded = await b.load();
    // Every channel any saveUpdateState listed, and the last apiId, on top of the saved snapshot.
    expect(loaded?.channels).toHaveLength(fullSession(1).channels.length + ROUNDS);
    expect(loaded?.apiId).toBe(ROUNDS);
    // The saved keys of DC 1's main entry are there alongside the 40 temp keys written meanwhile.
    expect(plain(loaded?.dcs.find((dc) => dc.id === 1 && dc.mediaOnly !== true)?.authKey)).toEqual(fullSession(1).dcs[0]?.authKey);
    expect(loaded?.dcs.find((dc) => dc.id === 1)?.tempAuthKeys).toHaveLength(ROUNDS);
    let count = 0;
    for (let cursor: string | null = null; ; ) {
      const page = await a.peers.list({ cursor, limit: 7 });
      count += page.peers.length;
      if ((cursor = page.cursor) === null) break;
    }
    expect(count).toBe(ROUNDS);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

describe.runIf(single.available)('two writers of one session on a single server', () => {
  const redis = admin();
  afterAll(() => redis.quit());

  it('no write of one is lost to the other', async () => {
    const prefix = `${randomName('writers')}:`;
    try {
      await interleave(() => ({ url: REDIS_URL, prefix }));
    } finally {
      await dropPrefix(redis, prefix);
    }
  });
});

describe.runIf(cluster.available)('two writers of one session on Redis Cluster', () => {
  const redis = adminCluster();
  afterAll(() => redis.quit());

  it('no write of one is lost to the other', async () => {
    const prefix = `${randomName('writers')}:`;
    const clients: Cluster[] = [];
    try {
      await interleave(() => {
        const client = new Cluster([clusterSeed()], { lazyConnect: true, enableAutoPipelining: true });
        clients.push(client);
        return { client, prefix };
      });
    } finally {
      await Promise.all(clients.map((c) => c.quit()));
      await dropPrefix(redis, prefix);
    }
  });
});
