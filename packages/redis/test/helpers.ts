/**
 * Test plumbing: server URLs, reachability probes, random prefixes, and cleanup by
 * SCAN (on every master of the cluster), never KEYS/FLUSHDB. Connections a test
 * kills are found by their CLIENT SETNAME name, so only our own are touched.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const REDIS_CLUSTER_URL = process.env.REDIS_CLUSTER_URL ?? 'redis://127.0.0.1:7000';

/** Seed node of the test cluster. */
export function clusterSeed(): { host: string; port: number } {
  const url = new URL(REDIS_CLUSTER_URL);
  return { host: url.hostname, port: Number(url.port || 6379) };
}

export function randomName(label: string): string {
  return `mtstore-test-${label}-${randomBytes(5).toString('hex')}`;
}

/** The key prefix a kit namespace maps to. */
export function prefixOf(namespace: string): string {
  return `mtstore-test:${namespace}:`;
}

/** A short-lived admin connection (never one under test). */
export function admin(url = REDIS_URL): Redis {
  return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000, connectionName: 'mtstore-test-admin' });
}

export function adminCluster(): Cluster {
  return new Cluster([clusterSeed()], { lazyConnect: true, redisOptions: { connectTimeout: 2_000, maxRetriesPerRequest: 1, connectionName: 'mtstore-test-admin' } });
}

export async function probe(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2_000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

export async function probeCluster(): Promise<void> {
  await probe(REDIS_CLUSTER_URL);
  const client = new Redis(REDIS_CLUSTER_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    const info = await client.cluster('INFO');
    if (!String(info).includes('cluster_state:ok')) throw new Error('cluster_state is not ok');
  } finally {
    client.disconnect();
  }
}

/** Every key under `prefix` on one node, by SCAN. */
async function scanKeys(node: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** The single server, or every master of the cluster (connecting first: a lazy Cluster knows no nodes yet). */
async function nodesOf(client: Redis | Cluster): Promise<Redis[]> {
  if (!(client instanceof Cluster)) return [client];
  if (client.status === 'wait') await client.connect();
  return client.nodes('master');
}

/** Keys under `prefix` on the single server, or on every master of the cluster. */
export async function keysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const nodes = await nodesOf(client);
  return (await Promise.all(nodes.map((node) => scanKeys(node, prefix)))).flat();
}

/** Deletes the keys under `prefix`, one UNLINK per key so no command spans two slots. */
export async function dropPrefix(client: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = await nodesOf(client);
  await Promise.all(
    nodes.map(async (node) => {
      const keys = await scanKeys(node, prefix);
      if (keys.length === 0) return;
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
    }),
  );
}

interface ClientInfo {
  id: string;
  name: string;
  flags: string;
  sub: number;
  /** The last command the server ran for this client (`info`, `subscribe`, `client|setname`…). */
  cmd: string;
}

/** CLIENT LIST of one node, parsed. */
export async function clientList(node: Redis): Promise<ClientInfo[]> {
  const text = (await node.client('LIST')) as string;
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = Object.fromEntries(line.split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
      return { id: fields.id ?? '', name: fields.name ?? '', flags: fields.flags ?? '', sub: Number(fields.sub ?? 0), cmd: fields.cmd ?? '' };
    });
}

/** Kills the connections named `name` on `node` (ours: tests give every connection they kill a unique name). */
export async function killConnections(node: Redis, name: string, filter: (client: ClientInfo) => boolean = () => true): Promise<string[]> {
  const victims = (await clientList(node)).filter((c) => c.name === name && filter(c));
  for (const victim of victims) await node.client('KILL', 'ID', victim.id);
  return victims.map((v) => v.id);
}

/** Kills the connections named `name` on the single server or on every master of the cluster; how many. */
export async function killNamed(client: Redis | Cluster, name: string): Promise<number> {
  const nodes = await nodesOf(client);
  return (await Promise.all(nodes.map((node) => killConnections(node, name)))).flat().length;
}

/** Polls `check` every 20 ms until it holds, failing after `timeout` ms with `what`. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Loaded keys are AuthKeyBytes: compare plain bytes, as the kit does. */
export { plainBytes as plain } from '@mtstore/conformance';

/** The messages of the causes under `error`, nearest first: the driver's error is kept as one (docs/contract.md §8). */
export function causeMessages(error: unknown): string[] {
  const messages: string[] = [];
  for (let at = (error as Error | undefined)?.cause; at instanceof Error && messages.length < 10; at = at.cause) messages.push(at.message);
  return messages;
}

/**
 * Every value stored under `prefix` as raw bytes (strings, hash fields and values,
 * set / sorted-set / list members), for the kit's encryption traits.
 */
export async function dumpPrefix(client: Redis | Cluster, prefix: string): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for (const node of await nodesOf(client)) {
    for (const key of await scanKeys(node, prefix)) {
      const type = await node.type(key);
      if (type === 'string') parts.push((await node.getBuffer(key)) ?? Buffer.alloc(0));
      else if (type === 'hash') for (const [field, value] of Object.entries(await node.hgetallBuffer(key))) parts.push(Buffer.from(field), value);
      else if (type === 'set') parts.push(...(await node.smembersBuffer(key)));
      else if (type === 'zset') parts.push(...(await node.zrangeBuffer(key, 0, -1)));
      else if (type === 'list') parts.push(...(await node.lrangeBuffer(key, 0, -1)));
    }
  }
  return Buffer.concat(parts);
}

/**
 * The kit's corrupt hook: every permanent auth key of session `name` (`dc<id>.key`,
 * `dc<id>.media.key` in its keys hash) cut to its first 3 bytes, as a hand edit or a
 * torn restore would leave it. Fails when the session has no stored key.
 */
export async function corruptKeys(client: Redis | Cluster, prefix: string, name: string): Promise<void> {
  const key = `${prefix}client:{${name}}:keys`;
  const fields = (await client.hkeys(key)).filter((field) => /^dc\d+(\.media)?\.key$/.test(field));
  if (fields.length === 0) throw new Error(`corrupt: session ${name} has no stored key`);
  for (const field of fields) {
    const value = (await client.hgetBuffer(key, field)) as Buffer;
    await client.hset(key, field, value.subarray(0, 3));
  }
}
