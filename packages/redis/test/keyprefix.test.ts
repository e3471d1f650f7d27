/**
 * ioredis' `keyPrefix`: ioredis prepends it to the keys of commands it knows, not to
 * SCAN patterns nor to the key names mtstore's Lua scripts build, so a storage on such
 * a connection lost track of its own keys (listNames empty, listSessions empty after
 * createSession). Refused before any I/O wherever the storages would get it; the bus,
 * which keeps no keys, takes it.
 */
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { REDIS_URL } from './helpers.js';

const INVALID = expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('keyPrefix is not supported') });

describe('ioredis keyPrefix', () => {
  it('is InvalidArgumentError for the storages, from options, cluster options or a borrowed client, before any I/O', async () => {
    // lazyConnect: nothing connects; had a storage been made, it would not have connected either.
    const single = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    const cluster = new Cluster([{ port: 7000 }], { lazyConnect: true, keyPrefix: 'x{' });
    const clusterNodes = new Cluster([{ port: 7000 }], { lazyConnect: true, redisOptions: { keyPrefix: 'app:' } });
    try {
      for (const Make of [RedisStorage, RedisSessionStorage]) {
        expect(() => new Make({ url: REDIS_URL, options: { keyPrefix: 'app:' } })).toThrow(INVALID);
        expect(() => new Make({ cluster: { nodes: [{ port: 7000 }], options: { keyPrefix: '{app}:' } } })).toThrow(INVALID);
        expect(() => new Make({ cluster: { nodes: [{ port: 7000 }], options: { redisOptions: { keyPrefix: 'app:' } } } })).toThrow(INVALID);
        expect(() => new Make({ client: single })).toThrow(INVALID);
        expect(() => new Make({ client: cluster })).toThrow(INVALID);
        expect(() => new Make({ client: clusterNodes })).toThrow(INVALID);
      }
      for (const client of [single, cluster, clusterNodes]) expect(client.status).toBe('wait');
      // ioredis' default (none) and an empty one are fine.
      const fine = [new RedisStorage({ url: REDIS_URL, options: { keyPrefix: '' } }), new RedisSessionStorage({ client: single.duplicate({ keyPrefix: '', lazyConnect: true }) })];
      // The bus keeps no keys: ioredis does not prefix channels.
      const bus = new RedisSessionEventBus({ client: single });
      await Promise.all([...fine.map((s) => s.close()), bus.close()]);
    } finally {
      single.disconnect();
      cluster.disconnect();
      clusterNodes.disconnect();
    }
  });
});
