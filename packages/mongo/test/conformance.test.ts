import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { adminClient, dropDatabase, server, urlFor } from './server.js';

// Each kit namespace is its own database (`mt_…`); every open is a new MongoClient on it.
if (server.available) {
  afterAll(() => adminClient().close());

  describeStorage('mongo', {
    open: (namespace, name) => new MongoStorage({ url: urlFor(namespace), name }),
    cleanup: dropDatabase,
  });

  describeSessionStorage('mongo', {
    open: (namespace) => new MongoSessionStorage({ url: urlFor(namespace) }),
    cleanup: dropDatabase,
  });

  describeSessionEventBus('mongo', {
    open: (namespace) => new MongoSessionEventBus({ url: urlFor(namespace) }),
    openStorage: (namespace) => new MongoSessionStorage({ url: urlFor(namespace) }),
    cleanup: dropDatabase,
  });
}
