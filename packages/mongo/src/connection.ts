/**
 * Where an instance's data lives: a MongoClient it owns (from `url`) or one the
 * application owns (`client` / `db`), a validated database name and collection
 * prefix, and what the server can do (detected once per client).
 */
import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import { assertIdentifier, createOption, decodeUrlPart, describeValue, InvalidArgumentError, redactUrl } from '@mtstore/core';

/** How an instance reaches its database. Exactly one of `url`, `client` and `db`. */
export interface MongoConnectionOptions {
  /**
   * `mongodb://` or `mongodb+srv://` connection string. The instance creates its own
   * MongoClient (with the timeouts below unless the URL sets them) and closes it.
   */
  url?: string;
  /** A MongoClient the application owns: used as is and never closed by mtstore. */
  client?: MongoClient;
  /** A Db the application owns (its client is never closed by mtstore). Excludes `database`. */
  db?: Db;
  /** Database name. Default: the URL's path (`mongodb://host/<db>`), else `mtstore`. */
  database?: string;
  /** Prefix of every collection name: letters, digits, underscores. Default `mtstore_`. */
  collectionPrefix?: string;
  /** Extra MongoClient options for a client made from `url`; they win over the URL and the defaults. */
  clientOptions?: MongoClientOptions;
  /**
   * `false`: open only an @mtstore/mongo store that is there. A database without this
   * prefix's schema document (`<prefix>meta`, `_id: 'schema'`) — an empty one, another
   * program's — is NotFoundError on first use and nothing is written: no collection, no
   * index, no document (MongoDB's reads create nothing). A store at an older schema
   * version is migrated as usual. For tools that only read (`mtstore inspect`).
   * Default `true`: create what is missing.
   */
  create?: boolean;
}

export const DEFAULT_DATABASE = 'mtstore';
export const DEFAULT_PREFIX = 'mtstore_';

/**
 * Defaults for a client mtstore owns, so that no call waits forever on a server that
 * is gone: pick a server within 5 s, connect within 5 s, a reply within 60 s (the
 * longest legitimate command is a 10,000-peer batch on a slow server), a pooled
 * connection within 10 s. 20 connections are plenty for one storage and keep FerretDB
 * 1.x's per-database SQLite pool (100) far from exhaustion. A URL option wins.
 */
const CLIENT_DEFAULTS: Readonly<Record<string, number | string>> = {
  serverSelectionTimeoutMS: 5_000,
  connectTimeoutMS: 5_000,
  socketTimeoutMS: 60_000,
  waitQueueTimeoutMS: 10_000,
  maxPoolSize: 20,
  appName: 'mtstore',
};

export interface Connection {
  readonly db: Db;
  /** The client to close when owned; undefined for an application's Db. */
  readonly client: MongoClient | undefined;
  /** What server facts are cached on: one entry per client (or Db). */
  readonly cacheKey: object;
  readonly prefix: string;
  /** False: the store must be there (MongoConnectionOptions.create); nothing is created. */
  readonly create: boolean;
  /** True when this instance created the client and must close it. */
  readonly owned: boolean;
  /** For messages and `util.inspect`: never a password. */
  readonly describe: Record<string, string>;
}

/** The database name in a connection string's path, if any. */
function databaseFromUrl(url: string, where: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/?#]*\/([^?#]*)/i.exec(url);
  const path = match?.[1];
  return path ? decodeUrlPart(path, 'database name', url, where) : undefined;
}

/** URL query keys, lower-cased: the driver treats option names case-insensitively. */
function urlOptionNames(url: string, where: string): Set<string> {
  const query = url.split('#')[0]?.split('?')[1] ?? '';
  return new Set(query.split('&').map((pair) => decodeUrlPart(pair.split('=')[0] ?? '', 'parameter name', url, where).toLowerCase()));
}

function isClient(value: unknown): value is MongoClient {
  return typeof value === 'object' && value !== null && typeof (value as MongoClient).db === 'function' && typeof (value as MongoClient).close === 'function';
}

function isDb(value: unknown): value is Db {
  return typeof value === 'object' && value !== null && typeof (value as Db).collection === 'function' && typeof (value as Db).databaseName === 'string';
}

/** Builds the client of a `url`, turning parse errors into InvalidArgumentError without the password. */
function clientFromUrl(url: string, extra: MongoClientOptions | undefined, where: string): MongoClient {
  if (!/^mongodb(\+srv)?:\/\//i.test(url)) {
    throw new InvalidArgumentError(`${where}: url must start with mongodb:// or mongodb+srv://, got ${redactUrl(url)}`);
  }
  const given = urlOptionNames(url, where);
  const defaults = Object.fromEntries(Object.entries(CLIENT_DEFAULTS).filter(([key]) => !given.has(key.toLowerCase())));
  try {
    return new MongoClient(url, { ...defaults, ...extra });
  } catch (error) {
    // Parse errors may quote the string: keep only the reason, never the URL itself.
    const reason = error instanceof Error ? error.message.split(url).join(redactUrl(url)) : String(error);
    const password = /\/\/[^:/@]+:([^@/]+)@/.exec(url)?.[1];
    throw new InvalidArgumentError(`${where}: invalid MongoDB url ${redactUrl(url)}: ${password ? reason.split(password).join('***') : reason}`);
  }
}

/** Validates the options and prepares the client (no I/O: the driver connects on first use). */
export function openConnection(options: MongoConnectionOptions | undefined, where: string): Connection {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object, got ${describeValue(options)}`);
  const given = (['url', 'client', 'db'] as const).filter((key) => options[key] !== undefined);
  if (given.length !== 1) {
    throw new InvalidArgumentError(`${where}: give exactly one of url, client or db (got ${given.length === 0 ? 'none' : given.join(', ')})`);
  }
  if (options.clientOptions !== undefined && options.url === undefined) {
    throw new InvalidArgumentError(`${where}: clientOptions apply only with url (configure your own client yourself)`);
  }
  const prefix = options.collectionPrefix ?? DEFAULT_PREFIX;
  assertIdentifier(prefix, `${where}: collectionPrefix`, { allowEmpty: true });
  const create = createOption(options.create, where);
  if (options.db !== undefined) {
    if (!isDb(options.db)) throw new InvalidArgumentError(`${where}: db must be a Db of the mongodb driver, got ${describeValue(options.db)}`);
    if (options.database !== undefined) throw new InvalidArgumentError(`${where}: give database or db, not both`);
    // Driver 7 exposes the Db's client; cache server facts on it when it is there.
    const client = (options.db as Db & { client?: unknown }).client;
    const cacheKey = isClient(client) ? client : options.db;
    return { db: options.db, client: undefined, cacheKey, prefix, create, owned: false, describe: { database: options.db.databaseName, collectionPrefix: prefix } };
  }
  let client: MongoClient;
  let database: string;
  if (options.client !== undefined) {
    if (!isClient(options.client)) throw new InvalidArgumentError(`${where}: client must be a MongoClient, got ${describeValue(options.client)}`);
    client = options.client;
    database = options.database ?? DEFAULT_DATABASE;
  } else {
    if (typeof options.url !== 'string') throw new InvalidArgumentError(`${where}: url must be a string, got ${describeValue(options.url)}`);
    database = options.database ?? databaseFromUrl(options.url, where) ?? DEFAULT_DATABASE;
    assertIdentifier(database, `${where}: database`);
    client = clientFromUrl(options.url, options.clientOptions, where);
  }
  assertIdentifier(database, `${where}: database`);
  return { db: client.db(database), client, cacheKey: client, prefix, create, owned: options.client === undefined, describe: { database, collectionPrefix: prefix } };
}
