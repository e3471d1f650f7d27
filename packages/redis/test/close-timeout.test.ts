/**
 * closeTimeoutMillis: close()'s grace for calls in flight (docs/contract.md §9), the
 * option @mtstore/postgres and @mtstore/typeorm have under the same name: Redis's silence
 * allowed, default CLOSE_GRACE_MS (1 s), 0 for no wait. Each test holds calls of a
 * RedisStorage and a RedisSessionStorage that Redis does not answer: their connections
 * go through a TCP proxy that is then blackholed (open, nothing forwarded). On a single
 * server and, through one proxy per node (the Cluster's natMap), on the cluster, whose
 * close() destroys every node connection instead of one.
 */
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { Redis, type ClusterOptions } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { openProxy, within, type Proxy } from '../../test-adapters/src/proxy.js';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, adminCluster, clusterSeed, dropPrefix, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

/** What the bounds allow for timers firing late on a loaded machine (two cores shared). */
const SLACK = 700;
const GRACE = 300;

const proxies: Proxy[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close().catch(() => undefined)));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

async function proxyTo(target: string | number): Promise<Proxy> {
  const proxy = await openProxy(target);
  proxies.push(proxy);
  return proxy;
}

/** How a call settled, and when, in ms after close() began (`since`). */
interface Settled {
  readonly result: string;
  readonly after: number;
}

const settle = (call: Promise<unknown>, since: () => number): Promise<Settled> =>
  call.then(
    () => ({ result: 'done', after: Date.now() - since() }),
    (error: { code?: string; message?: string }) => ({ result: `${error.code}: ${error.message}`, after: Date.now() - since() }),
  );

type Connect = { url: string } | { cluster: { nodes: { host: string; port: number }[]; options: ClusterOptions } };

/**
 * A RedisStorage and a RedisSessionStorage with `closeTimeoutMillis` on `connect`, each
 * used once through the proxies, which then go silent; then a save and a createSession
 * left unanswered, settling as `settle` says (from close()).
 */
async function hold(connect: Connect, links: Proxy[], prefix: string, closeTimeoutMillis: number, closedAt: () => number) {
  const storage = new RedisStorage({ ...connect, prefix, name: 'held', closeTimeoutMillis });
  const sessions = new RedisSessionStorage({ ...connect, prefix, closeTimeoutMillis });
  closers.push(() => storage.close(), () => sessions.close());
  await storage.save(fullSession(1));
  expect(await sessions.createSession(1n, 1n)).toBe(true);
  for (const link of links) link.blackhole();
  const calls = [settle(storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }), closedAt), settle(sessions.createSession(1n, 2n), closedAt)];
  // Both written to the silent sockets (auto-pipelining sends on the next turn) before close().
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { storage, sessions, calls };
}

const cutOff = (operation: string, why: string) =>
  `MTSTORE_STORAGE_UNAVAILABLE: ${operation} failed: the storage was closed ${why}, with the call queued or in flight: it may or may not have been applied`;

/** The closeTimeoutMillis cases, on the topology `open` sets up (a proxy per connection target). */
function closeTimeoutCases(label: string, open: () => Promise<{ connect: Connect; links: Proxy[]; prefix: string }>): void {
  it('0: close() does not wait; the calls in flight reject StorageUnavailableError at once', async () => {
    const { connect, links, prefix } = await open();
    let started = 0;
    const held = await hold(connect, links, prefix, 0, () => started);
    started = Date.now();
    await within(CLOSE_GRACE_MS, 'close()', Promise.all([held.storage.close(), held.sessions.close()]));
    const closedAfter = Date.now() - started;
    const [save, create] = await Promise.all(held.calls);
    expect(save?.result).toBe(cutOff('RedisStorage.saveUpdateState("held")', 'with closeTimeoutMillis 0 (close() does not wait)'));
    expect(create?.result).toBe(cutOff('RedisSessionStorage.createSession(authKeyId=1, sessionId=2)', 'with closeTimeoutMillis 0 (close() does not wait)'));
    for (const call of [save, create]) expect(call?.after).toBeLessThan(200);
    expect(closedAfter).toBeLessThan(200);
    console.info(`${label}: closeTimeoutMillis 0, calls rejected after ${save?.after} / ${create?.after} ms, close() resolved after ${closedAfter} ms`);
  });

  it(`${GRACE}: close() gives up on a silent Redis after ${GRACE} ms, not CLOSE_GRACE_MS (${CLOSE_GRACE_MS} ms)`, async () => {
    const { connect, links, prefix } = await open();
    let started = 0;
    const held = await hold(connect, links, prefix, GRACE, () => started);
    started = Date.now();
    await within(GRACE + SLACK, 'close()', Promise.all([held.storage.close(), held.sessions.close()]));
    const closedAfter = Date.now() - started;
    const [save, create] = await Promise.all(held.calls);
    expect(save?.result).toBe(cutOff('RedisStorage.saveUpdateState("held")', 'while Redis did not answer'));
    expect(create?.result).toBe(cutOff('RedisSessionStorage.createSession(authKeyId=1, sessionId=2)', 'while Redis did not answer'));
    for (const call of [save, create]) {
      expect(call?.after).toBeGreaterThanOrEqual(GRACE - 10);
      expect(call?.after).toBeLessThan(GRACE + SLACK);
    }
    expect(closedAfter).toBeGreaterThanOrEqual(GRACE - 10);
    expect(closedAfter).toBeLessThan(GRACE + SLACK);
    console.info(`${label}: closeTimeoutMillis ${GRACE}, calls rejected after ${save?.after} / ${create?.after} ms, close() resolved after ${closedAfter} ms`);
  });
}

describe.runIf(single.available)('closeTimeoutMillis (single server)', () => {
  const redis = admin();
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map((prefix) => dropPrefix(redis, prefix)));
  });
  afterAll(() => redis.quit());

  closeTimeoutCases('redis', async () => {
    const proxy = await proxyTo(REDIS_URL);
    const prefix = `${randomName('closeto')}:`;
    prefixes.push(prefix);
    return { connect: { url: proxy.url() }, links: [proxy], prefix };
  });

  it('0 with Redis answering: nothing in flight, close() resolves at once (no QUIT awaited) and what was stored stays', async () => {
    const prefix = `${randomName('closeto')}:`;
    prefixes.push(prefix);
    const storage = new RedisStorage({ url: REDIS_URL, prefix, name: 'quick', closeTimeoutMillis: 0 });
    await storage.save(fullSession(2));
    const started = Date.now();
    await storage.close();
    expect(Date.now() - started).toBeLessThan(200);
    const again = new RedisStorage({ url: REDIS_URL, prefix, name: 'quick' });
    try {
      expect((await again.load())?.state).toEqual(fullSession(2).state);
    } finally {
      await again.close();
    }
  });

  it('a bad value is InvalidArgumentError from the constructor, before any connection is made; so is the option with an application client', async () => {
    const proxy = await proxyTo(REDIS_URL);
    const bad: unknown[] = [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 32, '5', true, {}, null];
    for (const value of bad) {
      const closeTimeoutMillis = value as number;
      expect(() => new RedisStorage({ url: proxy.url(), closeTimeoutMillis }), String(value)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('RedisStorage: closeTimeoutMillis') }));
      expect(() => new RedisSessionStorage({ url: proxy.url(), closeTimeoutMillis }), String(value)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('RedisSessionStorage: closeTimeoutMillis') }));
    }
    // The bounds themselves are taken.
    for (const closeTimeoutMillis of [0, 2 ** 31 - 1]) closers.push(() => new RedisStorage({ url: proxy.url(), closeTimeoutMillis }).close());
    // An application's client is never closed by mtstore: the option would do nothing there.
    const client = new Redis(proxy.url(), { lazyConnect: true });
    try {
      expect(() => new RedisStorage({ client, closeTimeoutMillis: 300 })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('closeTimeoutMillis applies only to a connection mtstore opens') }));
      expect(() => new RedisSessionStorage({ client, closeTimeoutMillis: 0 })).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('closeTimeoutMillis applies only to a connection mtstore opens') }));
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(proxy.connections).toBe(0);
  });
});

describe.runIf(cluster.available)('closeTimeoutMillis (Redis Cluster)', () => {
  const seed = clusterSeed();
  const ports = [seed.port, seed.port + 1, seed.port + 2];
  const redis = adminCluster();
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map((prefix) => dropPrefix(redis, prefix)));
  });
  afterAll(() => redis.quit());

  // Every node connection through a proxy of its own: the nodes announce 127.0.0.1:700x, which natMap sends to the proxies.
  closeTimeoutCases('redis cluster', async () => {
    const links = await Promise.all(ports.map((port) => proxyTo(port)));
    const natMap = Object.fromEntries(ports.map((port, i) => [`${seed.host}:${port}`, { host: '127.0.0.1', port: (links[i] as Proxy).port }]));
    const prefix = `${randomName('closeto')}:`;
    prefixes.push(prefix);
    return { connect: { cluster: { nodes: [{ host: '127.0.0.1', port: (links[0] as Proxy).port }], options: { natMap } } }, links, prefix };
  });
});
