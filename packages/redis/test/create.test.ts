/**
 * `create: false` (URL `?create=false`): only a store that is there opens. A prefix
 * without its `<prefix>schema` key — nothing there, or another program's keys — is
 * NotFoundError and every key under it stays exactly as it was (single server and
 * cluster); a store that is there opens and reads; an older layout is migrated as with
 * `true`.
 */
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { openSessionStorage, openStorage, registerAdapter } from '@mtstore/core';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { adapter, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, adminCluster, clusterSeed, dropPrefix, keysUnder, plain, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { failure, storeCalls } from '../../test-adapters/src/outcomes.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

registerAdapter('redis', async () => adapter);

const opened: { close(): Promise<void> }[] = [];
function track<T extends { close(): Promise<void> }>(instance: T): T {
  opened.push(instance);
  return instance;
}
afterEach(async () => {
  for (const instance of opened.splice(0)) await instance.close().catch(() => {});
});

/** Every key under `prefix` with its type and value dump: what "as it was" means here. */
async function snapshot(client: Redis | Cluster, prefix: string): Promise<Record<string, string>> {
  const keys = (await keysUnder(client, prefix)).sort();
  const out: Record<string, string> = {};
  for (const key of keys) out[key] = `${await client.type(key)}:${(await client.dumpBuffer(key))?.toString('hex')}`;
  return out;
}

function withParameters(base: string, parameters: Record<string, string>): string {
  const target = new URL(base);
  for (const [key, value] of Object.entries(parameters)) target.searchParams.set(key, value);
  return target.href;
}

describe.runIf(single.available)('create: false, single server', () => {
  const redis = admin();
  const prefixes: string[] = [];
  const fresh = (label: string) => {
    const prefix = `${randomName(label)}:`;
    prefixes.push(prefix);
    return prefix;
  };
  afterAll(async () => {
    for (const prefix of prefixes) await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('a prefix with nothing of mtstore\'s is NotFoundError and every key under it stays as it was', async () => {
    const empty = fresh('create-empty');
    const other = fresh('create-other');
    await redis.set(`${other}app:data`, 'precious');
    await redis.hset(`${other}client:{x}`, 'field', 'theirs');
    for (const prefix of [empty, other]) {
      const before = await snapshot(redis, prefix);
      const client = track(new RedisStorage({ url: REDIS_URL, prefix, create: false }));
      const server = track(new RedisSessionStorage({ url: REDIS_URL, prefix, create: false }));
      const viaUrl = track(await openStorage(withParameters(REDIS_URL, { prefix, create: 'false' })));
      const viaServerUrl = (await openSessionStorage(withParameters(REDIS_URL, { prefix, create: 'false' }))).storage as RedisSessionStorage;
      track(viaServerUrl);
      for (const [what, call] of [
        ...storeCalls(client, server),
        ['url load', () => viaUrl.load()],
        ['url hasSession', () => viaServerUrl.hasSession(1n, 2n)],
      ] as [string, () => Promise<unknown>][]) {
        const error = await failure(call());
        expect(error.code, `${prefix} ${what}`).toBe('MTSTORE_NOT_FOUND');
        expect(error.message).toContain(`holds no @mtstore/redis store (no key ${prefix}schema)`);
      }
      expect(await snapshot(redis, prefix), prefix).toEqual(before);
    }
    expect(await redis.get(`${other}app:data`)).toBe('precious');
  });

  it('a store that is there opens and reads, and reading writes nothing', async () => {
    const prefix = fresh('create-store');
    const writer = track(new RedisStorage({ url: REDIS_URL, prefix, name: 'alice' }));
    await writer.save(fullSession(1));
    await writer.close();
    const before = await snapshot(redis, prefix);
    const reader = track(new RedisStorage({ url: REDIS_URL, prefix, name: 'alice', create: false }));
    expect(plain(await reader.load())).toEqual(fullSession(1));
    expect(await reader.listNames()).toEqual(['alice']);
    expect(await reader.lease.holder()).toBeNull();
    const viaUrl = track(await openStorage(withParameters(REDIS_URL, { prefix, session: 'alice', create: 'false' })));
    expect(plain(await viaUrl.load())).toEqual(fullSession(1));
    const server = track(new RedisSessionStorage({ url: REDIS_URL, prefix, create: false }));
    expect(await server.hasSession(1n, 2n)).toBe(false);
    expect(await snapshot(redis, prefix)).toEqual(before);
  });

  it('a store at an older layout is migrated, as with create: true', async () => {
    const prefix = fresh('create-old');
    await redis.set(`${prefix}schema`, '2');
    const reader = track(new RedisStorage({ url: REDIS_URL, prefix, create: false }));
    expect(await reader.load()).toBeNull();
    expect(await redis.get(`${prefix}schema`)).toBe('3');
  });
});

describe.runIf(cluster.available)('create: false, cluster', () => {
  const nodes = adminCluster();
  const prefixes: string[] = [];
  afterAll(async () => {
    for (const prefix of prefixes) await dropPrefix(nodes, prefix);
    nodes.disconnect();
  });

  it('a prefix with nothing of mtstore\'s is NotFoundError and no key appears on any master; a store that is there opens', async () => {
    const prefix = `${randomName('create-cluster')}:`;
    prefixes.push(prefix);
    const client = track(new RedisStorage({ cluster: { nodes: [clusterSeed()] }, prefix, name: 'alice', create: false }));
    const viaUrl = track(await openStorage(withParameters(REDIS_CLUSTER_URL, { cluster: 'true', prefix, create: 'false' })));
    for (const call of [() => client.load(), () => client.listNames(), () => viaUrl.load()]) {
      expect((await failure(call())).code).toBe('MTSTORE_NOT_FOUND');
    }
    expect(await keysUnder(nodes, prefix)).toEqual([]);
    const writer = track(new RedisStorage({ cluster: { nodes: [clusterSeed()] }, prefix, name: 'alice' }));
    await writer.save(fullSession(2));
    const keys = (await keysUnder(nodes, prefix)).sort();
    // The instance that failed tries again on its next call (a refusal is not remembered).
    expect(plain(await client.load())).toEqual(fullSession(2));
    expect((await keysUnder(nodes, prefix)).sort()).toEqual(keys);
  });
});

describe('create option', () => {
  it('must be a boolean, and ?create true or false: InvalidArgumentError before any I/O', async () => {
    for (const create of ['false', 0, null]) {
      for (const make of [
        () => new RedisStorage({ url: 'redis://127.0.0.1:1', create: create as never }),
        () => new RedisSessionStorage({ url: 'redis://127.0.0.1:1', create: create as never }),
      ]) {
        expect(make).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(create === null ? 'create must not be null' : 'create must be a boolean') }));
      }
    }
    for (const value of ['no', '1', '']) {
      const error = await failure(openStorage(`redis://:hunter2@127.0.0.1:1?create=${value}`));
      expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain('URL parameter create must be true or false');
      expect(error.message).not.toContain('hunter2');
    }
  });
});
