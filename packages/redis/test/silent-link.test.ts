/**
 * The main connection (the one every storage call and bus publish uses) behind a TCP
 * proxy that goes silent: blackholed, the connection stays open and nothing passes
 * either way, as when a NAT forgets the flow or a host freezes (no FIN, no RST).
 * `up({ resume: false })` then lets new connections through while the old one stays
 * silent for good. Calls must reject with StorageUnavailableError within
 * `commandTimeout`, the same instance must work again by itself once new connections
 * get through, and close() must settle at once with every call in flight settled.
 * On a single server and, through one proxy per node and the Cluster's natMap (the
 * nodes announce their own addresses), on the cluster.
 */
import { checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import { Redis, type ClusterOptions } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { openProxy, within, type Proxy } from '../../test-adapters/src/proxy.js';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, adminCluster, clientList, clusterSeed, dropPrefix, eventually, plain, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
/** A short commandTimeout, so the tests run in seconds; the silence check scales with it. */
const TIMEOUT = 1_000;
/** What the bounds allow for timers firing late on a loaded machine (CI runs packages side by side on two cores). */
const SLACK = 1_500;
/**
 * From `up()` to a call that succeeds: the silent connection is dropped within 1.5 ×
 * TIMEOUT of its commands going unanswered, a reconnect made while the link was dark is
 * silent for good too and goes the same way, and ioredis waits up to 2 s between attempts.
 */
const RECOVERY = 2 * 1.5 * TIMEOUT + 2_000 + SLACK;

/** Lua: busy for ARGV[1] ms (by the server's clock), holding the whole server meanwhile. */
const BUSY = `
local start = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - start[1]) * 1000 + (now[2] - start[2]) / 1000 >= tonumber(ARGV[1])
return 1
`;

/** The error `promise` rejects with (failing the test if it resolves), and how long that took from `since`. */
async function failure(promise: Promise<unknown>, since: number): Promise<{ error: unknown; ms: number }> {
  const error = await within(3 * TIMEOUT + SLACK, 'a call over the silent link', promise).then(
    () => new Error('resolved'),
    (e: unknown) => e,
  );
  return { error, ms: Date.now() - since };
}

/** Every call in `calls` rejects with StorageUnavailableError within TIMEOUT + SLACK of `since`. */
async function allUnavailable(calls: Record<string, Promise<unknown>>, since: number): Promise<number> {
  let slowest = 0;
  // Every call gets its handler now: one that rejects while another is awaited is not unhandled.
  const outcomes = await Promise.all(Object.entries(calls).map(async ([what, call]) => ({ what, ...(await failure(call, since)) })));
  for (const { what, error, ms } of outcomes) {
    expect(error, what).toMatchObject({ code: UNAVAILABLE });
    expect(ms, `${what}: rejected after ${ms} ms`).toBeLessThan(TIMEOUT + SLACK);
    slowest = Math.max(slowest, ms);
  }
  return slowest;
}

/** Rejections nobody handled, per test: a drop must not leave any. */
const rejections: unknown[] = [];
const onRejection = (reason: unknown): void => {
  rejections.push(reason);
};
const proxies: Proxy[] = [];
const closers: (() => Promise<void>)[] = [];
beforeEach(() => {
  rejections.length = 0;
  process.on('unhandledRejection', onRejection);
});
afterEach(async () => {
  process.off('unhandledRejection', onRejection);
  await Promise.all(closers.splice(0).map((close) => close().catch(() => undefined)));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

async function proxyTo(target: string | number): Promise<Proxy> {
  const proxy = await openProxy(target);
  proxies.push(proxy);
  return proxy;
}

describe.runIf(single.available)('main connection behind a link that goes silent (single server)', () => {
  const redis = admin();
  const prefixes: string[] = [];
  const newPrefix = (): string => {
    const prefix = `${randomName('silent')}:`;
    prefixes.push(prefix);
    return prefix;
  };
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map((prefix) => dropPrefix(redis, prefix)));
  });
  afterAll(() => redis.quit());

  it('calls in flight reject StorageUnavailableError within commandTimeout, and once new connections get through the same instance works again by itself; no connection is left behind', async () => {
    const proxy = await proxyTo(REDIS_URL);
    const connectionName = randomName('silent');
    const storage = new RedisStorage({ url: proxy.url(), prefix: newPrefix(), name: 'silent', options: { connectionName, commandTimeout: TIMEOUT } });
    closers.push(() => storage.close());
    await storage.save(fullSession(1));
    await storage.peers.upsert([peer('user', 1)]);

    proxy.blackhole();
    const dark = Date.now();
    const slowest = await allUnavailable(
      {
        load: storage.load(),
        saveUpdateState: storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }),
        'peers.getById': storage.peers.getById('user', 1n),
      },
      dark,
    );
    // A call made while the link is still dark fails within the same bound (on the silent
    // connection, or queued behind a reconnect whose handshake goes unanswered).
    const again = Date.now();
    expect(await allUnavailable({ 'load while dark': storage.load() }, again)).toBeLessThan(TIMEOUT + SLACK);

    // New connections get through; the one the adapter holds stays silent for good.
    proxy.up({ resume: false });
    const back = Date.now();
    await eventually(() => storage.load().then((s) => s !== null, () => false), 'load through a new connection', RECOVERY);
    const recoveredMs = Date.now() - back;
    expect(plain(await storage.load())).toEqual(fullSession(1));
    await storage.saveUpdateState({ pts: 3, qts: 3, date: 3, seq: 3 });
    expect((await storage.load())?.state).toEqual({ pts: 3, qts: 3, date: 3, seq: 3 });
    // The silent sockets were destroyed, not left open: Redis sees one connection of ours.
    await eventually(async () => (await clientList(redis)).filter((c) => c.name === connectionName).length === 1, 'one connection left', 5_000);
    expect(rejections).toEqual([]);
    console.info(`redis, silent main connection: calls rejected within ${slowest} ms (commandTimeout ${TIMEOUT} ms); working again ${recoveredMs} ms after new connections got through`);
  }, 30_000);

  it('a connection that died while idle: the first call rejects within commandTimeout, then server sessions and bus publishes work again by themselves', async () => {
    const proxy = await proxyTo(REDIS_URL);
    const prefix = newPrefix();
    const options = { commandTimeout: TIMEOUT };
    const sessions = new RedisSessionStorage({ url: proxy.url(), prefix, options });
    const bus = new RedisSessionEventBus({ url: proxy.url(), prefix, options });
    const listener = new RedisSessionEventBus({ url: REDIS_URL, prefix });
    closers.push(() => sessions.close(), () => bus.close(), () => listener.close());
    const heard: unknown[] = [];
    await listener.subscribe((event) => heard.push(event));
    const event = { type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'silent-test' } as const;
    expect(await sessions.createSession(1n, 1n)).toBe(true);
    await bus.publish(event);
    await eventually(() => heard.length === 1, 'the first event');

    // Both connections die while idle: nothing tells them, and nothing is in flight.
    proxy.blackhole();
    proxy.up({ resume: false });
    const started = Date.now();
    await allUnavailable({ hasSession: sessions.hasSession(1n, 1n), 'bus.publish': bus.publish(event) }, started);

    await eventually(() => sessions.hasSession(1n, 1n).catch(() => false), 'hasSession through a new connection', RECOVERY);
    expect(await sessions.createSession(1n, 2n)).toBe(true);
    await eventually(() => bus.publish(event).then(() => true, () => false), 'publish through a new connection', RECOVERY);
    await eventually(() => heard.length >= 2, 'an event published through the new connection');
    expect(rejections).toEqual([]);
  }, 30_000);

  it('close() over a silent link settles within a second, and every call in flight settles with it', async () => {
    const proxy = await proxyTo(REDIS_URL);
    const prefix = newPrefix();
    // The default commandTimeout (5 s): QUIT over the silent link would wait for it.
    const storage = new RedisStorage({ url: proxy.url(), prefix, name: 'closing' });
    const sessions = new RedisSessionStorage({ url: proxy.url(), prefix });
    await storage.save(fullSession(2));
    expect(await sessions.createSession(1n, 1n)).toBe(true);

    proxy.blackhole();
    const inFlight = [storage.load(), storage.saveUpdateState({ pts: 4, qts: 4, date: 4, seq: 4 }), sessions.hasSession(1n, 1n), sessions.createSession(1n, 2n)];
    const settled = Promise.allSettled(inFlight);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await within(CLOSE_GRACE_MS + SLACK, 'close()', Promise.all([storage.close(), sessions.close()]));
    const closeMs = Date.now() - started;
    expect(closeMs).toBeLessThan(CLOSE_GRACE_MS + SLACK);
    const outcomes = await within(SLACK, 'the calls in flight', settled);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 'rejected', reason: { code: UNAVAILABLE } });
    expect(rejections).toEqual([]);
    console.info(`redis, close() over a silent link: ${closeMs} ms, ${inFlight.length} calls in flight rejected`);
  });

  it('close() over a silent link with a lease held gives up on giving it back after 2 s (not commandTimeout), then closes within its second', async () => {
    const proxy = await proxyTo(REDIS_URL);
    const prefix = newPrefix();
    // The default commandTimeout (5 s): the release over the silent link would wait for it.
    const storage = new RedisStorage({ url: proxy.url(), prefix, name: 'leased' });
    await storage.save(fullSession(2));
    await storage.lease.acquire({ ttlSeconds: 60 });
    proxy.blackhole();
    const started = Date.now();
    // Core's RELEASE_ON_CLOSE_MS (2 s), then the bounded close.
    await within(2_000 + CLOSE_GRACE_MS + SLACK, 'close() with a lease held', storage.close());
    const closeMs = Date.now() - started;
    expect(closeMs).toBeGreaterThanOrEqual(2_000 - 10);
    expect(closeMs).toBeLessThan(2_000 + CLOSE_GRACE_MS + SLACK);
    // Not given back: it runs out by its TTL.
    const other = new RedisStorage({ url: REDIS_URL, prefix, name: 'leased' });
    try {
      expect(await other.lease.holder()).not.toBeNull();
    } finally {
      await other.close();
    }
    expect(rejections).toEqual([]);
    console.info(`redis, close() over a silent link with a lease held: ${closeMs} ms`);
  });

  it('close() between two reconnect attempts settles the calls queued meanwhile at once', async () => {
    const proxy = await proxyTo(REDIS_URL);
    // The next attempt is 10 s away and nothing bounds the queued calls before commandTimeout (5 s).
    const storage = new RedisStorage({ url: proxy.url(), prefix: newPrefix(), name: 'between', options: { retryStrategy: () => 10_000 } });
    await storage.save(fullSession(5));
    proxy.down();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const settled = Promise.allSettled([storage.load(), storage.saveUpdateState({ pts: 5, qts: 5, date: 5, seq: 5 })]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await within(SLACK, 'close()', storage.close());
    const outcomes = await within(SLACK, 'the queued calls', settled);
    for (const outcome of outcomes) expect(outcome).toMatchObject({ status: 'rejected', reason: { code: UNAVAILABLE } });
    expect(Date.now() - started).toBeLessThan(SLACK);
    expect(rejections).toEqual([]);
  });
});

describe.runIf(cluster.available)('main connections behind links that go silent (Redis Cluster)', () => {
  const seed = clusterSeed();
  const ports = [seed.port, seed.port + 1, seed.port + 2];
  const redis = adminCluster();
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map((prefix) => dropPrefix(redis, prefix)));
  });
  afterAll(() => redis.quit());

  /**
   * A RedisStorage on an owned Cluster whose every node connection goes through a proxy
   * of its own: the nodes announce 127.0.0.1:700x, which natMap sends to the proxies.
   */
  async function behindProxies(redisOptions: ClusterOptions['redisOptions'] = {}): Promise<{ storage: RedisStorage; proxies: Proxy[] }> {
    const nodeProxies = await Promise.all(ports.map((port) => proxyTo(port)));
    const natMap = Object.fromEntries(ports.map((port, i) => [`${seed.host}:${port}`, { host: '127.0.0.1', port: (nodeProxies[i] as Proxy).port }]));
    const prefix = `${randomName('silent')}:`;
    prefixes.push(prefix);
    const storage = new RedisStorage({
      cluster: { nodes: [{ host: '127.0.0.1', port: (nodeProxies[0] as Proxy).port }], options: { natMap, redisOptions } },
      prefix,
      name: 'silent',
    });
    closers.push(() => storage.close());
    return { storage, proxies: nodeProxies };
  }

  it('a call rejects StorageUnavailableError within commandTimeout, and once new connections get through the same instance works again by itself', async () => {
    const { storage, proxies: nodeProxies } = await behindProxies({ commandTimeout: TIMEOUT });
    await storage.save(fullSession(3));
    // Through the proxies (node connections open lazily: the session's node has one at least).
    expect(nodeProxies.some((proxy) => proxy.connections > 0)).toBe(true);

    for (const proxy of nodeProxies) proxy.blackhole();
    const dark = Date.now();
    const slowest = await allUnavailable({ load: storage.load() }, dark);
    for (const proxy of nodeProxies) proxy.up({ resume: false });
    const back = Date.now();
    await eventually(() => storage.load().then((s) => s !== null, () => false), 'load through new connections', RECOVERY);
    const recoveredMs = Date.now() - back;
    expect(plain(await storage.load())).toEqual(fullSession(3));
    expect(rejections).toEqual([]);
    console.info(`redis cluster, silent node connections: a call rejected within ${slowest} ms (commandTimeout ${TIMEOUT} ms); working again ${recoveredMs} ms after new connections got through`);
  }, 30_000);

  it('close() over silent links settles within a second, and the call in flight settles with it', async () => {
    const { storage, proxies: nodeProxies } = await behindProxies();
    await storage.save(fullSession(4));
    for (const proxy of nodeProxies) proxy.blackhole();
    const loading = Promise.allSettled([storage.load()]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await within(CLOSE_GRACE_MS + SLACK, 'close()', storage.close());
    const closeMs = Date.now() - started;
    expect(closeMs).toBeLessThan(CLOSE_GRACE_MS + SLACK);
    const [outcome] = await within(SLACK, 'the call in flight', loading);
    expect(outcome).toMatchObject({ status: 'rejected', reason: { code: UNAVAILABLE } });
    expect(rejections).toEqual([]);
  });
});

describe.runIf(single.available)('the silence check leaves working connections alone', () => {
  it('an application client is never watched: it keeps its own behaviour', async () => {
    // With a commandTimeout, which the silence check would arm itself with (on 'connect').
    const client = new Redis(REDIS_URL, { lazyConnect: true, commandTimeout: 2_000 });
    try {
      const before = client.listenerCount('connect');
      const storage = new RedisStorage({ client, prefix: `${randomName('silent')}:` });
      // One: the count of sockets every client gets (connection.ts SocketLog), which only reads; none of the silence check's.
      expect(client.listenerCount('connect')).toBe(before + 1);
      await storage.close();
    } finally {
      client.disconnect();
    }
  });

  it('a command slower than half of commandTimeout on a connection that answers is not cut', async () => {
    // A script that holds the server (every connection) for 1.2 s: with commandTimeout 2 s the
    // check runs every second and sees one quiet interval at most, never the two that drop.
    const timeout = 2_000;
    const connectionName = randomName('slow');
    const prefix = `${randomName('silent')}:`;
    const storage = new RedisSessionStorage({ url: REDIS_URL, prefix, options: { connectionName, commandTimeout: timeout } });
    const redis = admin();
    const busy = admin();
    try {
      expect(await storage.createSession(1n, 1n)).toBe(true);
      const ids = async () => (await clientList(redis)).filter((c) => c.name === connectionName).map((c) => c.id);
      const [id] = await ids();
      for (let i = 0; i < 3; i++) {
        const holding = busy.eval(BUSY, 0, String(0.6 * timeout)).catch((e: Error) => e);
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(await storage.hasSession(1n, 1n)).toBe(true);
        expect(await holding).toBe(1);
      }
      // The same connection throughout.
      expect(await ids()).toEqual([id]);
      expect(rejections).toEqual([]);
    } finally {
      await storage.close();
      busy.disconnect();
      await dropPrefix(redis, prefix);
      await redis.quit();
    }
  });
});
