// The kit's worker processes open the adapter here (processes.module in the
// conformance tests): the same server and key prefix as the test's `open`, a
// connection of the worker's own. MTSTORE_REDIS_KIT_CLUSTER=1 (set by the cluster
// conformance file) opens a Cluster from REDIS_CLUSTER_URL's node instead.
import { RedisSessionStorage, RedisStorage } from '@mtstore/redis';

const cluster = process.env.MTSTORE_REDIS_KIT_CLUSTER === '1';
const url = new URL(cluster ? (process.env.REDIS_CLUSTER_URL ?? 'redis://127.0.0.1:7000') : (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'));
const connection = cluster ? { cluster: { nodes: [{ host: url.hostname, port: Number(url.port || 6379) }] } } : { url: url.href };
// Same as prefixOf() in helpers.ts.
const prefixOf = (namespace) => `mtstore-test:${namespace}:`;

export const openStorage = (namespace, name) => new RedisStorage({ ...connection, prefix: prefixOf(namespace), name });
export const openSessionStorage = (namespace) => new RedisSessionStorage({ ...connection, prefix: prefixOf(namespace) });
