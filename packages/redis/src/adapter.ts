import { createFromUrl, describeParameter, prefixFromUrl, InvalidArgumentError, nearestName, redactUrl, type StorageAdapter } from '@mtstore/core';
import { RedisSessionEventBus } from './bus.js';
import { RedisStorage } from './client.js';
import { redisOptionsFromUrl, type RedisConnectionOptions } from './connection.js';
import { RedisSessionStorage } from './server.js';

const PARAMETERS = new Set(['prefix', 'cluster', 'session', 'create']);

/**
 * Connection options from an adapter URL:
 *
 *   redis://[user:password@]host[:port][/db][?prefix=mtstore:][&cluster=true][&session=name][&create=false]
 *   rediss://…  (TLS)
 *
 * `prefix` is the key prefix (default `mtstore:`); `cluster=true` opens a Cluster
 * client with host:port as its seed node (no `/db` then); `session` (client storage
 * only) is read by core's openStorage; `create=false` opens only a store that is
 * there (RedisConnectionOptions.create). The adapter owns what it opens.
 */
export function connectionFromUrl(url: URL): RedisConnectionOptions {
  // No query in messages: a parameter refused below may hold a secret (`?password=…`).
  const shown = new URL(redactUrl(url));
  shown.search = '';
  const where = `@mtstore/redis: ${shown.href}`;
  const seen = new Set<string>();
  for (const key of url.searchParams.keys()) {
    if (!PARAMETERS.has(key)) {
      const guess = nearestName(key, PARAMETERS);
      throw new InvalidArgumentError(`${where}: unknown parameter ${describeParameter(key)}${guess === undefined ? '' : ` (did you mean "${guess}"?)`} (known: ${[...PARAMETERS].join(', ')})`);
    }
    // Only the first would be read (searchParams.get): `?prefix=a&prefix=b` opening under `a` is a guess.
    if (seen.has(key)) throw new InvalidArgumentError(`${where}: parameter "${key}" is given twice`);
    seen.add(key);
  }
  const options: RedisConnectionOptions = {};
  const prefix = prefixFromUrl(url, 'prefix', where);
  if (prefix !== undefined) options.prefix = prefix;
  const create = createFromUrl(url, where);
  if (create !== undefined) options.create = create;
  const cluster = url.searchParams.get('cluster') ?? 'false';
  if (!['true', '1', 'false', '0'].includes(cluster)) throw new InvalidArgumentError(`${where}: cluster must be true or false`);
  const redisOptions = redisOptionsFromUrl(url);
  if (cluster === 'true' || cluster === '1') {
    if (redisOptions.db !== undefined) throw new InvalidArgumentError(`${where}: a Redis Cluster has no database number`);
    const { host, port, ...nodeOptions } = redisOptions;
    options.cluster = { nodes: [{ host: host as string, port: port as number }], options: { redisOptions: nodeOptions } };
  } else {
    options.options = redisOptions;
  }
  return options;
}

/**
 * `openStorage('redis://host:6379?prefix=app:&session=bot')` and
 * `openSessionStorage('redis://host:6379')` → `{ storage, bus }`; each opens and
 * owns its connection (the bus one more, for its subscription).
 */
export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => new RedisStorage({ ...connectionFromUrl(url), name, encryption }),
  openSessionStorage: (url) => {
    const options = connectionFromUrl(url);
    return { storage: new RedisSessionStorage(options), bus: new RedisSessionEventBus(options) };
  },
};
