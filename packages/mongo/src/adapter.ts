import { createFromUrl, prefixFromUrl, InvalidArgumentError, redactUrl, type StorageAdapter } from '@mtstore/core';
import { MongoSessionEventBus } from './bus.js';
import { MongoStorage } from './client.js';
import type { MongoCloseOptions, MongoConnectionOptions } from './connection.js';
import { MongoSessionStorage } from './server.js';

/** mtstore's own query parameters: read here, never passed to the driver (it rejects unknown options). */
const OWN_PARAMETERS = ['collectionPrefix', 'session', 'create', 'closeTimeoutMillis'];

/**
 * `mongodb://[user:pass@]host[:port][,host…]/[database][?driver options][&collectionPrefix=p][&session=name][&create=false][&closeTimeoutMillis=ms]`
 * and `mongodb+srv://…` the same way. The database is the URL's path (default
 * `mtstore`); driver options (`replicaSet`, `tls`, `authSource`, timeouts…) pass
 * through; `collectionPrefix` defaults to `mtstore_`; `session` names the client
 * session (core reads it); `create=false` opens only a store that is there
 * (MongoConnectionOptions.create); `closeTimeoutMillis` is the storages' (MongoCloseOptions:
 * the URL is where the driver's timeouts are given too; the bus keeps its own grace).
 * Each opened object owns its own MongoClient.
 */
function connectionOptions(url: URL, where: string): MongoConnectionOptions & MongoCloseOptions {
  const driverUrl = new URL(url.href);
  for (const name of OWN_PARAMETERS) driverUrl.searchParams.delete(name);
  const options: MongoConnectionOptions & MongoCloseOptions = { url: driverUrl.href };
  // Without the query: another parameter there may hold a value not to be printed.
  const shown = new URL(redactUrl(url));
  shown.search = '';
  const prefix = prefixFromUrl(url, 'collectionPrefix', where);
  if (prefix !== undefined) options.collectionPrefix = prefix;
  // The driver reads ?name= as its driverInfo name (sent in the handshake); here it is a session name that would be dropped.
  if (url.searchParams.has('name')) {
    const instead = where === 'openStorage' ? "name the session with ?session=<name> or openStorage's name option" : 'server storage has no session name (a client names one with ?session=): remove it';
    throw new InvalidArgumentError(`${where}: ${shown.href}: URL parameter "name" is not a session name (the driver would take it as its own name): ${instead}`);
  }
  const create = createFromUrl(url, `${where}: ${shown.href}`);
  if (create !== undefined) options.create = create;
  const closeTimeout = url.searchParams.get('closeTimeoutMillis');
  // Digits only, else NaN: the constructor refuses it (core's timer rule) before any I/O, naming the option, not the value.
  if (closeTimeout !== null) options.closeTimeoutMillis = /^\d+$/.test(closeTimeout) ? Number(closeTimeout) : Number.NaN;
  return options;
}

export const adapter: StorageAdapter = {
  openStorage: (url, { name, encryption }) => new MongoStorage({ ...connectionOptions(url, 'openStorage'), name, encryption }),
  openSessionStorage: (url) => {
    // The bus shares the storage's store: with create=false it too opens only one that is there.
    const { closeTimeoutMillis, ...options } = connectionOptions(url, 'openSessionStorage');
    return { storage: new MongoSessionStorage({ ...options, closeTimeoutMillis }), bus: new MongoSessionEventBus(options) };
  },
};
