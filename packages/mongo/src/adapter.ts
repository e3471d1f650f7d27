import type { StorageAdapter } from '@mtstore/core';
import { MongoSessionEventBus } from './bus.js';
import { MongoStorage } from './client.js';
import type { MongoConnectionOptions } from './connection.js';
import { MongoSessionStorage } from './server.js';

/** mtstore's own query parameters: read here, never passed to the driver (it rejects unknown options). */
const OWN_PARAMETERS = ['collectionPrefix', 'session'];

/**
 * `mongodb://[user:pass@]host[:port][,host…]/[database][?driver options][&collectionPrefix=p][&session=name]`
 * and `mongodb+srv://…` the same way. The database is the URL's path (default
 * `mtstore`); driver options (`replicaSet`, `tls`, `authSource`, timeouts…) pass
 * through; `collectionPrefix` defaults to `mtstore_`; `session` names the client
 * session (core reads it). Each opened object owns its own MongoClient.
 */
function connectionOptions(url: URL): MongoConnectionOptions {
  const driverUrl = new URL(url.href);
  for (const name of OWN_PARAMETERS) driverUrl.searchParams.delete(name);
  const options: MongoConnectionOptions = { url: driverUrl.href };
  const prefix = url.searchParams.get('collectionPrefix');
  if (prefix !== null) options.collectionPrefix = prefix;
  return options;
}

export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => new MongoStorage({ ...connectionOptions(url), name, encryption }),
  openSessionStorage: (url) => {
    const options = connectionOptions(url);
    return { storage: new MongoSessionStorage(options), bus: new MongoSessionEventBus(options) };
  },
};
