import { checkServer, describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, dropPrefix, dumpPrefix, prefixOf, probe, REDIS_URL } from './helpers.js';

// Every `open` is a new connection the instance owns; a namespace is a key prefix.
const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

if (server.available) {
  const cleaner = admin();
  afterAll(() => cleaner.quit());
  const cleanup = (namespace: string) => dropPrefix(cleaner, prefixOf(namespace));

  // The kit's worker processes (crash and race traits) open the same prefixes through this module.
  const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

  describeStorage('redis', {
    open: (namespace, name) => new RedisStorage({ url: REDIS_URL, prefix: prefixOf(namespace), name }),
    cleanup,
    processes,
    encryption: {
      open: (namespace, name, encryption) => new RedisStorage({ url: REDIS_URL, prefix: prefixOf(namespace), name, encryption }),
      dump: (namespace) => dumpPrefix(cleaner, prefixOf(namespace)),
    },
  });

  describeSessionStorage('redis', {
    open: (namespace) => new RedisSessionStorage({ url: REDIS_URL, prefix: prefixOf(namespace) }),
    cleanup,
    processes,
  });

  describeSessionEventBus('redis', {
    open: (namespace) => new RedisSessionEventBus({ url: REDIS_URL, prefix: prefixOf(namespace) }),
    openStorage: (namespace) => new RedisSessionStorage({ url: REDIS_URL, prefix: prefixOf(namespace) }),
    cleanup,
  });
}
