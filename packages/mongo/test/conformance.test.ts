import { BSON } from 'mongodb';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
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
    cleanup,
  });

  describeSessionEventBus('mongo', {
    open: (namespace) => new MongoSessionEventBus({ url: url(namespace) }),
    openStorage: (namespace) => new MongoSessionStorage({ url: url(namespace) }),
    cleanup,
  });
}
