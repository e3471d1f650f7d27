import { checkServer, describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, corruptKeys, dropPrefix, dumpPrefix, killNamed, prefixOf, probe, randomName, REDIS_URL } from './helpers.js';

// Every `open` is a new connection the instance owns; a namespace is a key prefix.
const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

if (server.available) {
  const cleaner = admin();
  afterAll(() => cleaner.quit());
  const cleanup = (namespace: string) => dropPrefix(cleaner, prefixOf(namespace));
  // Every connection opened on a namespace carries its name, so interrupt() kills those only.
  const connectionName = (namespace: string) => `mtstore-kit-${namespace}`;
  const options = (namespace: string) => ({ url: REDIS_URL, prefix: prefixOf(namespace), options: { connectionName: connectionName(namespace) } });
  const interrupt = async (namespace: string) => {
    if ((await killNamed(cleaner, connectionName(namespace))) === 0) throw new Error(`interrupt: no connection named ${connectionName(namespace)}`);
  };

  // The kit's worker processes (crash and race traits) open the same prefixes through this module.
  const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

  describeStorage('redis', {
    open: (namespace, name) => new RedisStorage({ ...options(namespace), name }),
    cleanup,
    processes,
    corrupt: (namespace, name) => corruptKeys(cleaner, prefixOf(namespace), name),
    interrupt,
    encryption: {
      open: (namespace, name, encryption) => new RedisStorage({ url: REDIS_URL, prefix: prefixOf(namespace), name, encryption }),
      dump: (namespace) => dumpPrefix(cleaner, prefixOf(namespace)),
    },
  });

  describeSessionStorage('redis', {
    open: (namespace) => new RedisSessionStorage(options(namespace)),
    openWithLifetime: (namespace, lifetime) => new RedisSessionStorage({ ...options(namespace), ...lifetime }),
    cleanup,
    processes,
    interrupt,
  });

  // Each bus has its own connection name (its subscriber is `<name>:events`), so
  // interrupt() kills that bus's subscribed connection only, with CLIENT KILL.
  const busNames = new WeakMap<object, string>();
  describeSessionEventBus('redis', {
    open: (namespace) => {
      const name = randomName('bus');
      const bus = new RedisSessionEventBus({ url: REDIS_URL, prefix: prefixOf(namespace), options: { connectionName: name } });
      busNames.set(bus, name);
      return bus;
    },
    openStorage: (namespace) => new RedisSessionStorage({ url: REDIS_URL, prefix: prefixOf(namespace) }),
    cleanup,
    interrupt: async (bus) => {
      const name = `${busNames.get(bus)}:events`;
      const list = String(await cleaner.client('LIST'));
      const ids = [...list.matchAll(/^id=(\d+) .*\bname=(\S*)/gm)].filter((m) => m[2] === name).map((m) => m[1] as string);
      if (ids.length === 0) throw new Error(`no connection named ${name}`);
      for (const id of ids) await cleaner.client('KILL', 'ID', id);
    },
  });
}
