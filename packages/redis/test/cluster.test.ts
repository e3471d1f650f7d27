/**
 * Redis Cluster specifics: one session's keys in one slot, server sessions spread
 * over slots and nodes, an owned Cluster connection from options or a URL.
 */
import { checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { adapter, clientKeys, RedisSessionStorage, RedisStorage, sessionsKey } from '../src/index.js';
import { adminCluster, clusterSeed, dropPrefix, eventually, keysUnder, plain, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';

const server = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

describe.runIf(server.available)('Redis Cluster', () => {
  const cluster = adminCluster();
  const prefixes: string[] = [];
  const opened: { close(): Promise<void> }[] = [];
  const newPrefix = () => {
    const prefix = `${randomName('cluster')}:`;
    prefixes.push(prefix);
    return prefix;
  };
  const track = <T extends { close(): Promise<void> }>(instance: T): T => {
    opened.push(instance);
    return instance;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all(prefixes.splice(0).map((p) => dropPrefix(cluster, p)));
  });
  afterAll(() => cluster.quit());

  const slotOf = async (key: string) => Number(await cluster.cluster('KEYSLOT', key));

  it('all keys of one client session share one slot; different sessions spread', async () => {
    const prefix = newPrefix();
    const names = Array.from({ length: 20 }, (_, i) => `account-${i}`);
    const slots = new Set<number>();
    for (const name of names) {
      const keys = clientKeys(prefix, name).all;
      const own = new Set(await Promise.all(keys.map(slotOf)));
      expect(own.size, name).toBe(1);
      slots.add([...own][0] as number);
    }
    expect(slots.size).toBeGreaterThan(1);
  });

  it('the keys a storage actually writes for a session sit in one slot', async () => {
    const prefix = newPrefix();
    const storage = track(new RedisStorage({ client: cluster, prefix, name: 'bot' }));
    await storage.save(fullSession(1));
    await storage.peers.upsert([peer('user', 1, { complete: new Uint8Array(3) }), peer('channel', 2)]);
    await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 3n, pts: 3 }]);
    await storage.kv.set('k', new Uint8Array(1));
    await storage.refMessages.store(1n, 2n, 3);
    await storage.refMessages.store(4n, 2n, 3);
    const keys = (await keysUnder(cluster, prefix)).filter((key) => key !== `${prefix}schema`);
    expect(keys).toHaveLength(13);
    expect(new Set(await Promise.all(keys.map(slotOf))).size).toBe(1);
  });

  it('server-session keys of many auth keys land in many slots and on every master', async () => {
    const prefix = newPrefix();
    const storage = track(new RedisSessionStorage({ client: cluster, prefix }));
    const authKeys = Array.from({ length: 60 }, (_, i) => BigInt(i) * 7919n - 2n ** 62n);
    await Promise.all(authKeys.map((authKeyId) => storage.createSession(authKeyId, 1n)));
    const slots = new Set(await Promise.all(authKeys.map((id) => slotOf(sessionsKey(prefix, id)))));
    expect(slots.size).toBeGreaterThan(30);
    const perNode = await Promise.all(cluster.nodes('master').map(async (node) => (await keysUnder(node, `${prefix}auth:`)).filter((key) => key.endsWith(":sessions")).length));
    expect(perNode.every((count) => count > 0)).toBe(true);
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(authKeys.length);
  });

  it('opens and owns a Cluster connection from `cluster` options, and from a ?cluster=true URL', async () => {
    const prefix = newPrefix();
    const owned = track(new RedisStorage({ cluster: { nodes: [clusterSeed()] }, prefix, name: 'owned' }));
    await owned.save(fullSession(2));
    const url = new URL(`${REDIS_CLUSTER_URL}?cluster=true&prefix=${encodeURIComponent(prefix)}`);
    const fromUrl = track(await adapter.openStorage(url, { name: 'owned' }));
    expect(plain(await fromUrl.load())).toEqual(fullSession(2));
    const { storage, bus } = await adapter.openSessionStorage(url);
    track(storage);
    track(bus as NonNullable<typeof bus>);
    expect(await storage.createSession(1n, 2n)).toBe(true);
    expect(await new RedisSessionStorage({ client: cluster, prefix }).hasSession(1n, 2n)).toBe(true);
    const heard: SessionEvent[] = [];
    await bus?.subscribe((e) => heard.push(e));
    await bus?.publish({ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'owned' });
    await eventually(() => heard.length === 1, 'the event on the owned Cluster bus');
  });

  it('an application Cluster client is left open by close()', async () => {
    const client = new Cluster([clusterSeed()], { lazyConnect: true });
    try {
      const storage = new RedisStorage({ client, prefix: newPrefix() });
      await storage.save(fullSession(1));
      await storage.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });
});
