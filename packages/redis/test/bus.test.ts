/**
 * The pub/sub bus beyond the kit: it resubscribes by itself after its subscriber
 * connection is killed (single server and Cluster), notices one that died silently
 * (behind a blackholed proxy) by its heartbeat, and ignores foreign messages.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { CachedSessionStorage, type SessionEvent } from '@mtstore/core';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { unhandledRejections } from '../../test-adapters/src/outcomes.js';
import { openProxy, within, type Proxy } from '../../test-adapters/src/proxy.js';
import { answeredWhileStalling, darkWhileStalling } from '../../test-adapters/src/stall.js';
import { RedisSessionEventBus, RedisSessionStorage } from '../src/index.js';
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

/** A short heartbeat, so a silent death is noticed within 2 × 200 ms. */
const HEARTBEAT = 200;
/** What the bounds below allow for timers firing late on a loaded machine (CI runs packages side by side on two cores). */
const SLACK = 1_500;

describe.runIf(single.available)('bus whose subscriber connection dies silently (a proxy that goes dark)', () => {
  const redis = admin();
  afterAll(() => redis.quit());
  const proxies: Proxy[] = [];
  const buses: RedisSessionEventBus[] = [];
  const rejections = unhandledRejections();
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  /** A subscriber bus through a fresh proxy (its subscriber named `subscriberName`), and a publisher straight to the server, on one fresh prefix. */
  async function setup(): Promise<{ proxy: Proxy; listener: RedisSessionEventBus; publisher: RedisSessionEventBus; subscriberName: string }> {
    const proxy = await openProxy(REDIS_URL);
    proxies.push(proxy);
    const prefix = `${randomName('bus')}:`;
    const connectionName = randomName('dark');
    const listener = new RedisSessionEventBus({ url: proxy.url(), prefix, heartbeatInterval: HEARTBEAT, options: { connectionName } });
    const publisher = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    buses.push(listener, publisher);
    return { proxy, listener, publisher, subscriberName: `${connectionName}:events` };
  }

  it('notices within two heartbeats, says lost, and once a route is back resubscribes, says live and delivers; no socket is left behind', async () => {
    const { proxy, listener, publisher, subscriberName } = await setup();
    const heard: SessionEvent[] = [];
    const states: { state: string; at: number }[] = [];
    await listener.subscribe((e) => heard.push(e), { onState: (state) => states.push({ state, at: Date.now() }) });
    await publisher.publish(event(1));
    await eventually(() => heard.length === 1, 'the first event');

    // The link goes dark: the subscriber's connection stays open, nothing passes, nobody is told.
    const dark = Date.now();
    proxy.blackhole();
    await eventually(() => states.length > 0, 'lost', 5_000);
    expect(states.map((s) => s.state)).toEqual(['lost']);
    const noticedMs = (states[0]?.at ?? 0) - dark;
    expect(noticedMs).toBeLessThan(2 * HEARTBEAT + SLACK);
    // Dark a while longer: reconnects meanwhile are accepted and never answered (a handshake the heartbeat must bound too).
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT));
    expect(states.map((s) => s.state)).toEqual(['lost']);

    // A new route: new connections reach Redis; the old one stays dead for good (its peer is gone).
    const back = Date.now();
    proxy.up({ resume: false });
    await eventually(() => states.length === 2, 'live again', 5_000);
    expect(states.map((s) => s.state)).toEqual(['lost', 'live']);
    await publisher.publish(event(2));
    await eventually(() => heard.some((e) => e.authKeyId === 2n), 'the event published after live', 2_000);
    const recoveredMs = Date.now() - back;
    // A reconnect still held from the dark spell dropped (two heartbeats at most), the
    // reconnect backoff (at most 2 s), a connect and a SUBSCRIBE (500 ms is plenty).
    expect(recoveredMs).toBeLessThan(2 * HEARTBEAT + 2_000 + 500 + SLACK);
    // The bus destroyed the sockets it gave up on: once the proxy hears of it, only the new subscriber is left on the server.
    await eventually(async () => (await clientList(redis)).filter((c) => c.name === subscriberName).length === 1, 'one subscriber connection left', 5_000);
    expect(rejections).toEqual([]);
    console.info(`redis bus, silent death: lost after ${noticedMs} ms (heartbeat ${HEARTBEAT} ms); delivering ${recoveredMs} ms after the route came back`);
  });

  it('a subscription made while the bus is lost hears lost at once, and live with the others: a cache made then does not fill while deaf', async () => {
    const { proxy, listener } = await setup();
    const first: string[] = [];
    await listener.subscribe(() => {}, { onState: (state) => first.push(state) });
    proxy.blackhole();
    await eventually(() => first.length > 0, 'lost', 5_000);
    // Subscribed while the bus is deaf: it resolves at once (the bus's SUBSCRIBE is shared), so it must be told.
    const second: string[] = [];
    await listener.subscribe(() => {}, { onState: (state) => second.push(state) });
    expect(second).toEqual(['lost']);
    const storage = new RedisSessionStorage({ url: REDIS_URL, prefix: `${randomName('unused')}:` });
    const cache = new CachedSessionStorage(storage, { bus: listener });
    try {
      await cache.ready();
      expect(cache.stats().live).toBe(false);
      proxy.up({ resume: false });
      await eventually(() => first.length === 2 && second.length === 2, 'live again', 5_000);
      expect(first).toEqual(['lost', 'live']);
      expect(second).toEqual(['lost', 'live']);
      expect(cache.stats().live).toBe(true);
    } finally {
      await cache.close();
      await storage.close();
    }
    expect(rejections).toEqual([]);
  });

  it('an application that blocks its loop for longer than a heartbeat after every tick still hears lost when the link goes dark', async () => {
    // Every heartbeat tick comes late: a late tick alone proves nothing, two in a row without an answer do (core heartbeatJudge).
    const { states, noticedMs } = await darkWhileStalling(await setup(), HEARTBEAT, event);
    expect(states).toEqual(['lost']);
    // The first tick after the link went dark asks, the next two (late, each after a 2.5-heartbeat stall) find no answer.
    expect(noticedMs).toBeLessThan(3 * 3.5 * HEARTBEAT + SLACK);
    console.info(`redis bus, silent death under stalls of ${2.5 * HEARTBEAT} ms after every tick: lost after ${noticedMs.toFixed(0)} ms (heartbeat ${HEARTBEAT} ms)`);
  });

  it('a first subscribe through a dark link rejects StorageUnavailableError within two heartbeats, and the next one succeeds once the link is back', async () => {
    const { proxy, listener, publisher } = await setup();
    proxy.blackhole();
    const started = Date.now();
    await expect(within(3_000, 'subscribe', listener.subscribe(() => {}))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2 * HEARTBEAT + SLACK);
    proxy.up({ resume: false });
    const heard: SessionEvent[] = [];
    await listener.subscribe((e) => heard.push(e));
    await publisher.publish(event(3));
    await eventually(() => heard.length === 1, 'the event', 2_000);
    expect(rejections).toEqual([]);
  });

  it("a first subscribe through a dark link rejects within the connection's commandTimeout, not two heartbeats (30 s with the defaults), and the next one succeeds once the link is back", async () => {
    const proxy = await openProxy(REDIS_URL);
    proxies.push(proxy);
    const prefix = `${randomName('bus')}:`;
    // The default heartbeat (15 s): before, only its two ticks bounded this subscribe.
    const connectionName = randomName('dark');
    const listener = new RedisSessionEventBus({ url: proxy.url(), prefix, options: { connectionName, commandTimeout: 300 } });
    const publisher = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    buses.push(listener, publisher);
    proxy.blackhole();
    const started = Date.now();
    const error = await within(3_000, 'subscribe', listener.subscribe(() => {})).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('commandTimeout (300 ms') });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + SLACK);
    proxy.up({ resume: false });
    const heard: SessionEvent[] = [];
    await listener.subscribe((e) => heard.push(e));
    await publisher.publish(event(4));
    await eventually(() => heard.length === 1, 'the event', 2_000);
    // The connection it gave up on was dropped: once the proxy hears of it, only the new subscriber is left on the server.
    await eventually(async () => (await clientList(redis)).filter((c) => c.name === `${connectionName}:events`).length === 1, 'one subscriber connection left', 5_000);
    expect(rejections).toEqual([]);
    console.info(`redis bus, first subscribe over a dark link: rejected after ${elapsed} ms (commandTimeout 300 ms)`);
  });

  it('close() while the link is dark settles at once, also with a subscribe under way (which rejects StorageClosedError)', async () => {
    const { proxy, listener } = await setup();
    await listener.subscribe(() => {});
    proxy.blackhole();
    let started = Date.now();
    await listener.close();
    expect(Date.now() - started).toBeLessThan(SLACK);

    const other = new RedisSessionEventBus({ url: proxy.url(), prefix: `${randomName('bus')}:`, heartbeatInterval: HEARTBEAT });
    buses.push(other);
    const subscribing = other.subscribe(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    started = Date.now();
    await other.close();
    await expect(subscribing).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
    expect(Date.now() - started).toBeLessThan(SLACK);
    expect(rejections).toEqual([]);
  });

  it('heartbeatInterval is checked before any I/O', () => {
    for (const heartbeatInterval of [0, 99, 1.5, -1, 2 ** 31, Number.NaN, '1000' as unknown as number]) {
      expect(() => new RedisSessionEventBus({ url: 'redis://127.0.0.1:1', heartbeatInterval, options: { lazyConnect: false } })).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('heartbeatInterval') }),
      );
    }
    // In range: accepted (nothing connects until used).
    return new RedisSessionEventBus({ url: REDIS_URL, heartbeatInterval: 100 }).close();
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

describe.runIf(cluster.available)('bus on Redis Cluster whose nodes go silent (a proxy per node, natMap)', () => {
  const rejections = unhandledRejections();
  it("a first subscribe rejects within the node connections' commandTimeout, not two heartbeats, and the next one succeeds once the links are back", async () => {
    const ports = [7000, 7001, 7002];
    const proxies = await Promise.all(ports.map((port) => openProxy(port)));
    const natMap = Object.fromEntries(ports.map((port, i) => [`${clusterSeed().host}:${port}`, { host: '127.0.0.1', port: (proxies[i] as Proxy).port }]));
    const prefix = `${randomName('bus')}:`;
    // The default heartbeat (15 s): before, only its two ticks bounded this subscribe.
    const listener = new RedisSessionEventBus({
      cluster: { nodes: [{ host: '127.0.0.1', port: (proxies[0] as Proxy).port }], options: { natMap, redisOptions: { commandTimeout: 300 } } },
      prefix,
    });
    const publisher = new RedisSessionEventBus({ cluster: { nodes: [clusterSeed()] }, prefix });
    try {
      // Connected first (slots known), so it is the subscriber's own connection that meets the silence.
      await listener.publish(event(1));
      for (const proxy of proxies) proxy.blackhole();
      const started = Date.now();
      const error = await within(3_000, 'subscribe', listener.subscribe(() => {})).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(error).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('commandTimeout (300 ms') });
      expect(elapsed).toBeLessThan(300 + SLACK);
      for (const proxy of proxies) proxy.up({ resume: false });
      const heard: SessionEvent[] = [];
      await eventually(() => listener.subscribe((e) => heard.push(e)).then(() => true, () => false), 'a subscribe once the links are back', 10_000);
      await publisher.publish(event(2));
      await eventually(() => heard.length === 1, 'the event', 2_000);
      expect(rejections).toEqual([]);
      console.info(`redis bus on a Cluster, first subscribe over dark links: rejected after ${elapsed} ms (commandTimeout 300 ms)`);
    } finally {
      await Promise.all([publisher.close(), listener.close()]);
      await Promise.all(proxies.map((proxy) => proxy.close()));
    }
  });
});

describe.runIf(single.available)('bus heartbeat and a blocked event loop', () => {
  it('an event loop blocked for several heartbeats at a time does not drop a subscriber connection that answers', async () => {
    const prefix = `${randomName('bus')}:`;
    const listener = new RedisSessionEventBus({ url: REDIS_URL, prefix, heartbeatInterval: 100 });
    const publisher = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    try {
      const { states, delivered } = await answeredWhileStalling({ listener, publisher }, event);
      expect(states, 'lost / live heard while the server answered every check').toEqual([]);
      expect(delivered, 'an event after the stalls').toBe(true);
    } finally {
      await Promise.all([publisher.close(), listener.close()]);
    }
  });
});
