import { BSON } from 'mongodb';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { openProxy, type Proxy } from './proxy.js';
import { adminClient, dropDatabase, server, urlFor } from './server.js';

// Each kit namespace is its own database (`mt_…`); every open is a new MongoClient on it.
// Some traits open a second namespace the kit never cleans up (the bus isolation
// trait), so cleanup drops every database opened since the last cleanup: tests in a
// file run one after another.
const opened = new Set<string>();
const url = (namespace: string) => {
  opened.add(namespace);
  return urlFor(namespace);
};
const cleanup = async (namespace: string) => {
  opened.add(namespace);
  for (const name of [...opened]) {
    opened.delete(name);
    await dropDatabase(name);
  }
};

/** Every document of every collection of the namespace's database, as the BSON bytes the server returns. */
async function dumpDatabase(namespace: string): Promise<Uint8Array> {
  const db = adminClient().db(namespace);
  const parts: Uint8Array[] = [];
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    for (const doc of await db.collection(name).find({}, { raw: true }).toArray()) parts.push(doc as unknown as Uint8Array);
  }
  return Buffer.concat(parts.length === 0 ? [BSON.serialize({})] : parts);
}

if (server.available) {
  afterAll(() => adminClient().close());

  describeStorage('mongo', {
    open: (namespace, name) => new MongoStorage({ url: url(namespace), name }),
    cleanup,
    // The kit's worker processes (lease, crash and race traits) open the same databases through this module.
    processes: { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) },
    // FerretDB 1.x scans whole collections for anything but an _id lookup: the batch of
    // 10,000 peers, upserted twice, takes 10-20 s there on a loaded 2-core machine.
    timeout: 90_000,
    encryption: {
      open: (namespace, name, encryption) => new MongoStorage({ url: url(namespace), name, encryption }),
      dump: dumpDatabase,
    },
  });

  describeSessionStorage('mongo', {
    open: (namespace) => new MongoSessionStorage({ url: url(namespace) }),
    openWithLifetime: (namespace, lifetime) => new MongoSessionStorage({ url: url(namespace), ...lifetime }),
    cleanup,
  });

  // Each bus connects through a proxy of its own, so interrupt() resets that bus's connections only.
  const proxies = new WeakMap<object, Proxy>();
  const allProxies: Proxy[] = [];
  afterAll(() => Promise.all(allProxies.map((p) => p.close())));
  describeSessionEventBus('mongo', {
    open: async (namespace) => {
      const proxy = await openProxy();
      allProxies.push(proxy);
      opened.add(namespace);
      // A short server selection timeout: with the proxy refusing, a poll fails (and the bus
      // says lost) instead of waiting up to 30 s for the server to come back.
      const bus = new MongoSessionEventBus({ url: proxy.url(namespace), onError: () => {}, clientOptions: { serverSelectionTimeoutMS: 300 } });
      proxies.set(bus, proxy);
      return bus;
    },
    openStorage: (namespace) => new MongoSessionStorage({ url: url(namespace) }),
    cleanup,
    // Down for 1 s: longer than the driver's one immediate retry and its server selection timeout.
    interrupt: (bus) => (proxies.get(bus) as Proxy).cut(1_000),
  });
}
