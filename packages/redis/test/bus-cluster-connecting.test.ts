/**
 * A Cluster bus on an application's Cluster handed over right after `new Cluster()`,
 * still connecting (with its offline queue: ioredis' default). Until its first slots
 * refresh, ioredis' Cluster lists its startup nodes as its masters (every one of them,
 * as given), and none at all while their hostnames are being resolved. The bus picks the
 * master its subscriber goes to from that list: before the fix it picked from it at
 * once, so a subscribe() made then failed ("the cluster has no master node to subscribe
 * on") with a hostname seed, and failed (its connection refused) when it drew a seed that is
 * down (a list of every node that may be up, as applications write). Now it waits for
 * the client's connection attempt first, as calls on a client without an offline queue
 * do. Real Cluster on 7000-7002; the draw is made the worst one where a test needs it.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { Cluster, type ClusterOptions } from 'ioredis';
import { lookup } from 'node:dns';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisSessionEventBus } from '../src/index.js';
import { adminCluster, clientList, clusterSeed, eventually, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const step of cleanup.splice(0).reverse()) await step();
});

function event(n: number): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: BigInt(-n), origin: 'bus-cluster-connecting-test' };
}

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The ports of the masters CLUSTER SLOTS lists on which a connection named `name` is
 * subscribed (a subscriber on any other node, or on none, is not among them).
 */
async function subscribedMasters(name: string): Promise<number[]> {
  const admin = adminCluster();
  try {
    await admin.connect();
    // Each range: start, end, then its master first ([host, port, id, …]) and its replicas.
    const masters = (await admin.cluster('SLOTS')).map(([, , master]) => master?.[1]);
    const found: number[] = [];
    for (const node of admin.nodes('master')) {
      const port = Number(node.options.port);
      if (!masters.includes(port)) continue;
      if ((await clientList(node)).some((client) => client.name === name && client.sub > 0)) found.push(port);
    }
    return found;
  } finally {
    admin.disconnect();
  }
}

/**
 * A bus on a `new Cluster(seeds)` made just now (asserted still connecting), subscribed
 * at once; an event published through a bus of its own (its own Cluster) must be heard,
 * and the subscriber must be on one master CLUSTER SLOTS lists.
 */
async function subscribeWhileConnecting(seeds: { host: string; port: number }[], options: ClusterOptions = {}): Promise<void> {
  const prefix = `${randomName('bus-connecting')}:`;
  const connectionName = randomName('connecting');
  const client = new Cluster(seeds, { ...options, redisOptions: { connectionName } });
  client.on('error', () => {});
  cleanup.push(() => client.disconnect());
  const listener = new RedisSessionEventBus({ client, prefix });
  const publisher = new RedisSessionEventBus({ cluster: { nodes: [clusterSeed()] }, prefix });
  cleanup.push(() => Promise.all([listener.close(), publisher.close()]));

  expect(client.status).toBe('connecting');
  const heard: SessionEvent[] = [];
  await listener.subscribe((e) => heard.push(e));
  expect(await subscribedMasters(`${connectionName}:events`)).toHaveLength(1);
  await publisher.publish(event(1));
  await eventually(() => heard.length === 1, 'the event published through the other bus');
  expect(heard).toEqual([event(1)]);
  // The application's client is never closed by mtstore.
  await listener.close();
  expect(client.status).toBe('ready');
}

describe.runIf(cluster.available)('a Cluster bus on an application client still connecting', () => {
  it('a hostname seed (resolved after new Cluster() returns): subscribes on a master the cluster lists (before: "the cluster has no master node to subscribe on")', async () => {
    const seed = clusterSeed();
    // localhost as IPv4 (the test cluster listens on 127.0.0.1): a real lookup, so the
    // startup nodes are listed only once it answered.
    const dnsLookup: ClusterOptions['dnsLookup'] = (address, callback) => lookup(address, { family: 4 }, callback);
    await subscribeWhileConnecting([{ host: 'localhost', port: seed.port }], { dnsLookup });
  });

  it('a seed that is down, drawn first: subscribes on a master the cluster lists (before: subscribe() failed, "Connection is closed.": its connection to that seed refused)', async () => {
    const down = await closedPort();
    // The draw picks the first node listed: the seed that is down while the startup nodes
    // are listed, a real master once the slots are.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    await subscribeWhileConnecting([{ host: '127.0.0.1', port: down }, clusterSeed()]);
  });
});
