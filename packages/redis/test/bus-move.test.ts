/**
 * A Cluster bus whose subscriber's node stays away moves to another master, and never
 * back to the node it left while the Cluster client still lists that one. A real master
 * that dies stays listed a while: the other nodes name it in CLUSTER SLOTS until they
 * mark it failed (cluster-node-timeout, 15 s by default), so every slots refresh of the
 * client adds it back. bus-failover.test.ts cannot show this: its cluster marks a
 * node failed after 1 s, before the move.
 *
 * Here the test Cluster (7000-7002, never stopped) is reached through a proxy per master
 * (natMap); the proxy of the subscriber's node starts refusing (it drops every connection
 * and every new one once it has sent its first command), so to the bus that node is
 * gone while Redis still lists it as a master, as a killed master is listed until
 * cluster-node-timeout. The test keeps refreshing the client's slots, as ioredis does on
 * errors. The bus's random draw is made the worst one: whenever the node it left is
 * listed, the draw points at it. Before the fix the bus subscribed there again, failed,
 * and drew again a second later, for ever; now it goes to another master.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { Cluster } from 'ioredis';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RedisSessionEventBus } from '../src/index.js';
import { NODE_RETRIES } from '../src/bus.js';
import { adminCluster, eventually, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';
import { PairProxy, proxiedCluster, suiteResources } from './proxies.js';

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

/**
 * Forwards both ways and names each connection by its first command (the subscriber's
 * starts with CLIENT SETNAME <name>:events). Once `refuse()`d it drops every connection,
 * and each new one after its first command: the node is away for the clients, while
 * Redis still has it.
 */
class RefusingProxy extends PairProxy {
  #refusing = false;
  /** Subscriber connections (`:events`) made through it since refuse(). */
  subscriberAttempts = 0;
  /** Subscriber connections open through it. */
  subscribers = 0;
  /** Where it listens: the node's address in the client's list (natMap). */
  port = 0;

  override async listen(): Promise<number> {
    this.port = await super.listen();
    return this.port;
  }

  protected link(client: Socket, upstream: Socket, end: () => void): void {
    client.once('data', (first: Buffer) => {
      const subscriber = first.includes(':events');
      if (this.#refusing) {
        if (subscriber) this.subscriberAttempts++;
        end();
        return;
      }
      upstream.write(first);
      client.on('data', (chunk) => upstream.write(chunk));
      if (!subscriber) return;
      this.subscribers++;
      client.once('close', () => this.subscribers--);
    });
    upstream.on('data', (chunk) => client.write(chunk));
  }

  refuse(): void {
    this.#refusing = true;
    this.dropAll();
  }
}

describe.runIf(cluster.available)('a Cluster subscriber whose node stays away', () => {
  const resources = suiteResources<RefusingProxy>(adminCluster);
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('moves to another master, never to the node it left while the client still lists that node (before: it picked it again, failed, and drew again a second later)', async () => {
    const proxies: RefusingProxy[] = [];
    const nodes = await proxiedCluster((port) => {
      const proxy = resources.proxy(new RefusingProxy(port));
      proxies.push(proxy);
      return proxy;
    });
    const client = new Cluster([nodes.seed], { natMap: nodes.natMap, redisOptions: { connectionName: randomName('bus-move') } });
    client.on('error', () => {});
    cleanup.push(() => client.disconnect());
    // Ready: its list holds the masters (through the proxies), not the seed it started from.
    await eventually(() => client.status === 'ready', 'the Cluster client to be ready');
    const prefix = resources.prefix('bus-move');
    const bus = new RedisSessionEventBus({ client, prefix });
    cleanup.push(() => bus.close());
    const states: string[] = [];
    const heard: bigint[] = [];
    await bus.subscribe((event) => heard.push(event.authKeyId), { onState: (state) => states.push(state) });
    await eventually(() => proxies.some((p) => p.subscribers === 1), 'the subscriber connection through a proxy');
    const away = proxies.find((p) => p.subscribers === 1)!;

    // The worst draw for the bus's pick (and only the bus's: ioredis draws too): the node it left, whenever listed.
    let drawsWithLeftListed = 0;
    const random = Math.random.bind(Math);
    vi.spyOn(Math, 'random').mockImplementation(() => {
      if (!(new Error().stack ?? '').includes('/src/bus.ts')) return random();
      const masters = client.nodes('master');
      const index = masters.findIndex((node) => node.options.port === away.port);
      if (index < 0) return random();
      drawsWithLeftListed++;
      return (index + 0.5) / masters.length;
    });
    // The other nodes still name it: each slots refresh adds it back to the client's list
    // (refuse() dropped the client's own connection to it, which took it off), as ioredis'
    // refreshes do after a real master's death.
    const refresher = setInterval(() => client.refreshSlotsCache(() => undefined), 200);
    cleanup.push(() => clearInterval(refresher));
    away.refuse();
    // Live, or a subscriber opened on the node left after its own reconnects (what the old pick did, for ever here).
    await eventually(() => states.includes('live') || away.subscriberAttempts > NODE_RETRIES, 'the bus to hear live', 8_000);

    // Its own reconnects only, before the move: no subscriber was opened on it after.
    expect(away.subscriberAttempts).toBe(NODE_RETRIES);
    expect(states).toEqual(['lost', 'live']);
    // The draw was made while the node left was listed: the situation the fix is for.
    expect(drawsWithLeftListed).toBeGreaterThan(0);
    expect(proxies.filter((p) => p !== away).map((p) => p.subscribers).sort()).toEqual([0, 1]);
    // Subscribed on the new node: an event published there (straight, not through a proxy) is heard.
    const publisher = new RedisSessionEventBus({ cluster: { nodes: [nodes.seed] }, prefix });
    cleanup.push(() => publisher.close());
    await publisher.publish({ type: 'created', authKeyId: 7n, sessionId: 1n, origin: 'bus-move' });
    await eventually(() => heard.includes(7n), 'the event published after live');
  });
});
