/**
 * The event bus through a master failover, on a Redis Cluster with a replica per master
 * (test/replicas.ts: 3 + 3 redis-server processes of this file's own on ports 7350-7355,
 * cluster-node-timeout 1 s), buses opened the way users open them (`cluster: { nodes }`,
 * mtstore's defaults).
 * The master killed (SIGKILL) is both the one the publishers send through (it owns the
 * channel name's slot) and the one some subscribers' connections are on:
 *
 * - Those subscribers hear `lost`, then `live` once subscribed on another node, on the
 *   same bus instance with nothing done by the application; the others hear nothing and
 *   miss nothing that was published. A subscription made meanwhile hears `lost` at once
 *   and `live` with them.
 * - Every publish made through the failover settles within commandTimeout: resolved, or
 *   StorageUnavailableError in mtstore's words (never ioredis' own error).
 * - Events published after `live` reach every subscriber exactly once (no second
 *   subscribed connection).
 * - close() in the middle of the failover settles at once, with every publish it had,
 *   and leaves no connection behind.
 * - Once the old master is back (a replica now), each bus is still subscribed on one
 *   node only.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionEventBus } from '../src/index.js';
import { clientList, eventually, randomName } from './helpers.js';
import { BASE_PORT, onNode, probeBinaries, ReplicatedCluster, timed, type Outcome } from './replicas.js';

const binaries = await checkServer('redis-server and redis-cli (for a Cluster with replicas of the test\'s own)', 'redis-server', probeBinaries);

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
const CLOSED = 'MTSTORE_STORAGE_CLOSED';
/** mtstore's default commandTimeout: no publish may take longer, failover or not. */
const COMMAND_TIMEOUT_MS = 5_000;
/** ioredis' words as the reason the caller reads: what a failover must not look like. */
const RAW = /failed: (MOVED|ASK|CLUSTERDOWN|TRYAGAIN|Cluster isn't ready|Too many Cluster redirections|Connection is closed\.$)/;
/** Subscribers opened at most while looking for some on the victim and some elsewhere (each lands on a random master). */
const MAX_BUSES = 40;

function event(n: number): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: 1n, origin: 'bus-failover' };
}

interface Subscriber {
  bus: RedisSessionEventBus;
  /** Its connections' CLIENT SETNAME: the subscriber connection is `<name>:events`. */
  name: string;
  /** The node its subscriber connection is on at the start. */
  port: number;
  heard: number[];
  states: string[];
}

describe.runIf(binaries.available)('the event bus through a master failover', () => {
  let cluster: ReplicatedCluster;

  beforeAll(async () => {
    // Ports of its own (7350-7355 or the next free block): failover.test.ts may be starting its cluster at the same time.
    cluster = await ReplicatedCluster.start(BASE_PORT + 50);
  }, 30_000);

  afterAll(async () => {
    await cluster?.dispose();
  });

  /** The nodes where a connection named `<name>:events` is subscribed. */
  async function whereSubscribed(name: string): Promise<number[]> {
    const ports: number[] = [];
    for (const port of cluster.live()) {
      const clients = await onNode(port, (client) => clientList(client)).catch(() => []);
      for (const c of clients) if (c.name === `${name}:events` && c.sub > 0) ports.push(port);
    }
    return ports;
  }

  /** Connections named `<name>` or `<name>:events` on the live nodes. */
  async function connectionsOf(name: string): Promise<number> {
    let count = 0;
    for (const port of cluster.live()) {
      const clients = await onNode(port, (client) => clientList(client)).catch(() => []);
      count += clients.filter((c) => c.name === name || c.name === `${name}:events`).length;
    }
    return count;
  }

  it('a master killed (SIGKILL) under publishers and subscribers: lost then live on the same bus, every publish settled in mtstore\'s words, each later event heard once; close() mid-failover settles', async () => {
    const prefix = `${randomName('bus-failover')}:`;
    const nodes = cluster.seeds();
    const open = (name: string): RedisSessionEventBus => new RedisSessionEventBus({ cluster: { nodes, options: { redisOptions: { connectionName: name } } }, prefix });
    const subscribers: Subscriber[] = [];
    const subscribe = async (): Promise<Subscriber> => {
      const name = randomName('sub');
      const subscriber: Subscriber = { bus: open(name), name, port: 0, heard: [], states: [] };
      subscribers.push(subscriber);
      await subscriber.bus.subscribe((e) => subscriber.heard.push(Number(e.authKeyId)), { onState: (state) => subscriber.states.push(state) });
      subscriber.port = (await whereSubscribed(name))[0] ?? 0;
      return subscriber;
    };
    // Closed mid-failover: subscribed on the victim, publishing.
    let closing: Subscriber | undefined;
    try {
      // The publisher hears its own events too, as a SessionSubject does.
      const publisher = (await subscribe()).bus;
      const { master: victim, replica } = await cluster.shardOf(publisher.channel);
      // Subscribers until two are on the victim (one of them to be closed mid-failover) and one elsewhere.
      while (subscribers.filter((s) => s.port === victim).length < 2 || !subscribers.some((s) => s.port !== victim)) {
        expect(subscribers.length, 'subscribers opened to find two on the victim').toBeLessThan(MAX_BUSES);
        await subscribe();
      }
      closing = subscribers.filter((s) => s.port === victim).at(-1) as Subscriber;
      subscribers.splice(subscribers.indexOf(closing), 1);
      const onVictim = subscribers.filter((s) => s.port === victim);
      const elsewhere = subscribers.filter((s) => s.port !== victim);

      // An event every 25 ms from before the kill until every subscriber is live again,
      // from the publisher and from the bus closed mid-failover.
      const since = Date.now();
      const outcomes: Promise<Outcome>[] = [];
      const closingOutcomes: Promise<Outcome>[] = [];
      let stop = false;
      const load = (async () => {
        for (let n = 1; !stop; n++) {
          outcomes.push(timed(`publish ${n}`, since, () => publisher.publish(event(n)), 2 * COMMAND_TIMEOUT_MS));
          if (closing !== undefined) {
            const bus = closing.bus;
            closingOutcomes.push(timed(`closing bus publish ${n}`, since, () => bus.publish(event(100_000 + n)), 2 * COMMAND_TIMEOUT_MS));
          }
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killed = Date.now();
      await cluster.kill(victim);
      const dead = Date.now();

      // Mid-failover (before the promotion, after the subscribers' connections dropped): close one bus.
      await eventually(() => onVictim.every((s) => s.states.includes('lost')), 'the subscribers on the victim to hear lost', 5_000);
      // A subscription made now, on a bus that lost its subscriber connection, hears lost at once and live with the others.
      const late: Subscriber = { ...(onVictim[0] as Subscriber), heard: [], states: [] };
      await late.bus.subscribe((e) => late.heard.push(Number(e.authKeyId)), { onState: (state) => late.states.push(state) });
      expect(late.states, 'a subscription made while lost').toEqual(['lost']);
      subscribers.push(late);
      onVictim.push(late);

      const closingBus = (closing as Subscriber).bus;
      const closingName = (closing as Subscriber).name;
      closing = undefined;
      const closeStarted = Date.now();
      const closed = await timed('close()', since, () => closingBus.close(), 2 * COMMAND_TIMEOUT_MS);
      expect(closed.error).toBeUndefined();
      expect(closed.ms, 'close() mid-failover').toBeLessThan(COMMAND_TIMEOUT_MS);

      // The subscribers on the victim come back by themselves, on the same instances.
      await eventually(() => onVictim.every((s) => s.states.length === 2), 'the subscribers on the victim to hear live', 20_000);
      const live = Date.now() - killed;
      await eventually(async () => (await onNode(replica, (client) => client.role()))[0] === 'master', `replica ${replica} promoted`, 20_000);
      const promoted = Date.now() - killed;
      stop = true;
      await load;
      const settled = await Promise.all(outcomes);
      const closingSettled = await Promise.all(closingOutcomes);

      const failed = settled.filter((o) => o.error !== undefined);
      console.info(
        `bus failover: ${onVictim.length} subscriptions on master ${victim}, ${elsewhere.length} elsewhere; replica ${replica} promoted ${promoted} ms after the kill, every subscriber live by ${live} ms; ` +
          `${settled.length} publishes, ${failed.length} rejected, the longest ${Math.max(...settled.map((o) => o.ms))} ms; close() mid-failover (${closeStarted - killed} ms after the kill) took ${closed.ms} ms with ${closingSettled.length} publishes of its own`,
      );
      for (const s of onVictim) expect(s.states, `subscriber on ${victim}`).toEqual(['lost', 'live']);
      for (const s of elsewhere) expect(s.states, `subscriber on ${s.port}`).toEqual([]);
      // Every publish settled within commandTimeout: resolved, or StorageUnavailableError in mtstore's words.
      expect([...settled, ...closingSettled].filter((o) => o.ms >= COMMAND_TIMEOUT_MS).map((o) => `${o.what} at ${o.at} ms: ${o.ms} ms`)).toEqual([]);
      expect(failed.filter((o) => o.error?.code !== UNAVAILABLE).map((o) => `${o.what}: ${String(o.error)}`)).toEqual([]);
      expect(closingSettled.filter((o) => o.error !== undefined && o.error.code !== UNAVAILABLE && o.error.code !== CLOSED).map((o) => `${o.what}: ${String(o.error)}`)).toEqual([]);
      const messages = new Set([...failed, ...closingSettled].map((o) => o.error?.message ?? ''));
      if (process.env.FAILOVER_MESSAGES) console.info([...messages].join('\n'));
      expect([...messages].filter((message) => RAW.test(message))).toEqual([]);

      // The old master back (as a replica of the new one): nothing subscribes there again.
      await cluster.startNode(victim);
      await cluster.waitHealthy();
      for (const s of subscribers) expect(await whereSubscribed(s.name), `nodes the subscriber first on ${s.port} is subscribed on`).toHaveLength(1);

      // After live: each event heard exactly once by every subscriber, in order.
      const first = outcomes.length + 1;
      await eventually(() => publisher.publish(event(first)).then(() => true, () => false), 'a publish after the failover', 10_000);
      const after = Array.from({ length: 20 }, (_, i) => first + 1 + i);
      for (const n of after) await publisher.publish(event(n));
      await eventually(() => subscribers.every((s) => after.every((n) => s.heard.includes(n))), 'every event after live at every subscriber');
      // Time for a second copy to arrive, were a second connection subscribed.
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const s of subscribers) expect(s.heard.filter((n) => n > first && n < 100_000), `events after live at the subscriber first on ${s.port}`).toEqual(after);
      // Nobody heard anything twice; a subscriber that never heard lost missed nothing published
      // after the kill (one the victim acknowledged just before it may have died unforwarded).
      const resolved = settled.filter((o) => o.error === undefined && o.at >= dead - since).map((o) => Number(o.what.split(' ')[1]));
      for (const s of subscribers) expect(s.heard.length, `duplicates at the subscriber first on ${s.port}`).toBe(new Set(s.heard).size);
      for (const s of elsewhere) expect(resolved.filter((n) => !s.heard.includes(n)), `published and missed by the subscriber on ${s.port}`).toEqual([]);

      // The bus closed mid-failover left nothing behind, seconds later and with the old master back (no subscriber reconnecting or moved).
      expect(await connectionsOf(closingName), 'connections of the bus closed mid-failover').toBe(0);
    } finally {
      await Promise.all([...subscribers.map((s) => s.bus.close()), closing?.bus.close()]);
    }
  }, 40_000);
});
