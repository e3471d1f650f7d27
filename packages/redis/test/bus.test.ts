/**
 * The pub/sub bus beyond the kit: it resubscribes by itself after its subscriber
 * connection is killed (single server and Cluster), and ignores foreign messages.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RedisSessionEventBus } from '../src/index.js';
import { admin, clientList, clusterSeed, eventually, killConnections, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

function event(n: number): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: BigInt(-n), origin: 'bus-test' };
}

/** Publishes a numbered event until `heard` has it: the first one after a reconnect may fall in the gap. */
async function deliveredAgain(publisher: RedisSessionEventBus, heard: SessionEvent[]): Promise<void> {
  let n = 1_000;
  await eventually(async () => {
    await publisher.publish(event(++n));
    await new Promise((resolve) => setTimeout(resolve, 50));
    return heard.some((e) => e.authKeyId >= 1_000n);
  }, 'an event after the subscriber reconnected');
}

describe.runIf(single.available)('bus on a single server', () => {
  const redis = admin();
  afterAll(() => redis.quit());

  it('resubscribes by itself after its subscriber connection is killed', async () => {
    const prefix = `${randomName('bus')}:`;
    const connectionName = randomName('sub');
    const subscriberName = `${connectionName}:events`;
    const publisher = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    const listener = new RedisSessionEventBus({ url: REDIS_URL, prefix, options: { connectionName } });
    try {
      const heard: SessionEvent[] = [];
      await listener.subscribe((e) => heard.push(e));
      await publisher.publish(event(1));
      await eventually(() => heard.length === 1, 'the first event');

      const [killed] = await killConnections(redis, subscriberName, (c) => c.sub > 0);
      expect(killed).toBeDefined();
      // ioredis reconnects and the bus sends SUBSCRIBE again: a new connection of that name, subscribed.
      await eventually(async () => (await clientList(redis)).some((c) => c.name === subscriberName && c.id !== killed && c.sub > 0), 'the resubscribed connection');
      await publisher.publish(event(2));
      await eventually(() => heard.length === 2, 'the event published after the reconnection');
      expect(heard).toEqual([event(1), event(2)]);
    } finally {
      await Promise.all([publisher.close(), listener.close()]);
    }
  });

  it('ignores a message on its channel that is not a session event, and keeps delivering', async () => {
    const prefix = `${randomName('bus')}:`;
    const bus = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    const report = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const heard: SessionEvent[] = [];
      await bus.subscribe((e) => heard.push(e));
      await redis.publish(bus.channel, '{"not":"an event"}');
      await bus.publish(event(3));
      await eventually(() => heard.length === 1, 'the real event');
      expect(heard).toEqual([event(3)]);
      expect(report).toHaveBeenCalledTimes(1);
      expect(String(report.mock.calls[0]?.[0])).toContain('not a session event');
    } finally {
      report.mockRestore();
      await bus.close();
    }
  });

  it('subscribe after close rejects StorageClosedError, also when close comes while subscribing', async () => {
    const bus = new RedisSessionEventBus({ url: REDIS_URL, prefix: `${randomName('bus')}:` });
    const subscribing = bus.subscribe(() => {});
    await bus.close();
    await expect(subscribing).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
  });

  it('a bus on an application client duplicates it and leaves it open', async () => {
    const client = new Redis(REDIS_URL);
    try {
      const bus = new RedisSessionEventBus({ client, prefix: `${randomName('bus')}:` });
      const heard: SessionEvent[] = [];
      await bus.subscribe((e) => heard.push(e));
      await bus.publish(event(4));
      await eventually(() => heard.length === 1, 'the event');
      await bus.close();
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });
});

describe.runIf(cluster.available)('bus on Redis Cluster', () => {
  it('delivers through Cluster clients and resubscribes after its subscriber connection is killed, telling lost and live', async () => {
    const prefix = `${randomName('bus')}:`;
    const connectionName = randomName('csub');
    const clients = [
      new Cluster([clusterSeed()], { redisOptions: { connectionName } }),
      new Cluster([clusterSeed()], { redisOptions: { connectionName } }),
    ] as const;
    const nodes = [7000, 7001, 7002].map((port) => new Redis({ host: clusterSeed().host, port, lazyConnect: true }));
    const publisher = new RedisSessionEventBus({ client: clients[0], prefix });
    const listener = new RedisSessionEventBus({ client: clients[1], prefix });
    try {
      const heard: SessionEvent[] = [];
      const states: string[] = [];
      await listener.subscribe((e) => heard.push(e), { onState: (state) => states.push(state) });
      await publisher.publish(event(1));
      await eventually(() => heard.length === 1, 'the first event');

      // The bus subscribes on one master with a connection of its own; kill it wherever it is.
      const subscriberName = `${connectionName}:events`;
      const killed = (await Promise.all(nodes.map((node) => killConnections(node, subscriberName, (c) => c.sub > 0)))).flat();
      expect(killed).toHaveLength(1);
      // Its subscribers hear that events may have been missed, then that it is live again.
      await eventually(() => states.length === 2, 'lost, then live');
      expect(states).toEqual(['lost', 'live']);
      await deliveredAgain(publisher, heard);
    } finally {
      await Promise.all([publisher.close(), listener.close()]);
      await Promise.all([...clients, ...nodes].map((c) => c.quit().catch(() => c.disconnect())));
    }
  });
});
