import { checkServer, describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { Cluster } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { adminCluster, clusterSeed, corruptKeys, dropPrefix, dumpPrefix, killNamed, prefixOf, randomName, probeCluster, REDIS_CLUSTER_URL } from './helpers.js';

// The whole kit again through ioredis Cluster clients the application owns: every
// `open` gets a new Cluster client (its own connections), quit when the test's
// namespace is cleaned up. Nothing in the adapter may send a CROSSSLOT command.
const server = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

if (server.available) {
  const clients = new Map<string, Cluster[]>();
  // Node connections carry the namespace, so interrupt() kills that namespace's only.
  const connectionName = (namespace: string) => `mtstore-kit-cluster-${namespace}`;
  const clusterFor = (namespace: string, name = connectionName(namespace)): Cluster => {
    const client = new Cluster([clusterSeed()], { lazyConnect: true, enableAutoPipelining: true, redisOptions: { connectionName: name } });
    clients.set(namespace, [...(clients.get(namespace) ?? []), client]);
    return client;
  };
  const quitClients = async (namespace: string) => {
    const opened = clients.get(namespace) ?? [];
    clients.delete(namespace);
    await Promise.all(opened.map((client) => client.quit().catch(() => client.disconnect())));
  };
  const cleaner = adminCluster();
  const cleanup = async (namespace: string) => {
    await quitClients(namespace);
    await dropPrefix(cleaner, prefixOf(namespace));
  };
  // Each bus has its own connection name (its subscriber is `<name>:events`).
  const busNames = new WeakMap<object, string>();
  const interrupt = async (namespace: string) => {
    if ((await killNamed(cleaner, connectionName(namespace))) === 0) throw new Error(`interrupt: no connection named ${connectionName(namespace)}`);
  };
  afterAll(async () => {
    // Buses the kit opened on other namespaces (the isolation trait) are quit here.
    await Promise.all([...clients.keys()].map(quitClients));
    await cleaner.quit();
  });

  // The kit's worker processes (crash and race traits) open the same prefixes through this module.
  process.env.MTSTORE_REDIS_KIT_CLUSTER = '1';
  const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

  describeStorage('redis cluster', {
    open: (namespace, name) => new RedisStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace), name }),
    openExisting: (namespace, name) => new RedisStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace), name, create: false }),
    cleanup,
    processes,
    corrupt: (namespace, name) => corruptKeys(cleaner, prefixOf(namespace), name),
    interrupt,
    encryption: {
      open: (namespace, name, encryption) => new RedisStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace), name, encryption }),
      dump: (namespace) => dumpPrefix(cleaner, prefixOf(namespace)),
    },
  });

  describeSessionStorage('redis cluster', {
    open: (namespace) => new RedisSessionStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace) }),
    openExisting: (namespace) => new RedisSessionStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace), create: false }),
    openWithLifetime: (namespace, lifetime) => new RedisSessionStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace), ...lifetime }),
    cleanup,
    processes,
    interrupt,
  });

  describeSessionEventBus('redis cluster', {
    open: (namespace) => {
      const name = randomName('bus');
      const bus = new RedisSessionEventBus({ client: clusterFor(namespace, name), prefix: prefixOf(namespace) });
      busNames.set(bus, name);
      return bus;
    },
    openStorage: (namespace) => new RedisSessionStorage({ client: clusterFor(namespace), prefix: prefixOf(namespace) }),
    cleanup,
    // The bus subscribes on one master with a connection `<name>:events`: kill it wherever it is.
    interrupt: async (bus) => {
      const name = `${busNames.get(bus)}:events`;
      if ((await killNamed(cleaner, name)) === 0) throw new Error(`interrupt: no connection named ${name}`);
    },
  });
}
