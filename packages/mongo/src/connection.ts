/**
 * Where an instance's data lives: a MongoClient it owns (from `url`) or one the
 * application owns (`client` / `db`), a validated database name and collection
 * prefix, and what the server can do (detected once per client).
 */
import { MongoClient, ReadConcern, ReadPreference, type Db, type DbOptions, type MongoClientOptions } from 'mongodb';
import { assertIdentifier, assertTimerMs, CallsInFlight, createOption, decodeUrlPart, describeValue, hideSecret, InvalidArgumentError, nearestName, quotedIfPlain, redactUrl, whenSilent } from '@mtstore/core';

/** How an instance reaches its database. Exactly one of `url`, `client` and `db`. */
export interface MongoConnectionOptions {
  /**
   * `mongodb://` or `mongodb+srv://` connection string. The instance creates its own
   * MongoClient (with the timeouts below unless the URL sets them) and closes it.
   */
  url?: string | undefined;
  /** A MongoClient the application owns: used as is and never closed by mtstore. */
  client?: MongoClient | undefined;
  /** A Db the application owns (its client is never closed by mtstore). Excludes `database`. */
  db?: Db | undefined;
  /** Database name. Default: the URL's path (`mongodb://host/<db>`), else `mtstore`. */
  database?: string | undefined;
  /** Prefix of every collection name: letters, digits, underscores. Default `mtstore_`. */
  collectionPrefix?: string | undefined;
  /** Extra MongoClient options for a client made from `url`; they win over the URL and the defaults. */
  clientOptions?: MongoClientOptions | undefined;
  /**
   * `false`: open only an @mtstore/mongo store that is there. A database without this
   * prefix's schema document (`<prefix>meta`, `_id: 'schema'`) — an empty one, another
   * program's — is NotFoundError on first use and nothing is written: no collection, no
   * index, no document (MongoDB's reads create nothing). A store at an older schema
   * version is migrated as usual. For tools that only read (`mtstore inspect`).
   * Default `true`: create what is missing.
   */
  create?: boolean | undefined;
}

/** MongoStorage's and MongoSessionStorage's own option (not the bus's: it keeps CLOSE_GRACE_MS). */
export interface MongoCloseOptions {
  /**
   * How long `close()` waits, in ms, with no operation of the instance completing before
   * it closes the client it owns under the work still in flight (default 2000,
   * CLOSE_GRACE_MS). The wait restarts whenever an operation completes, so a backlog the
   * server keeps answering finishes however long it takes; time in which this process
   * was too busy to read the replies does not count. Once the server answered nothing for
   * that long, the calls still in flight reject with StorageUnavailableError. 0: calls in
   * flight when close() begins are not waited for (the client is closed under them at
   * once). 0 to 2^31 - 1, as @mtstore/postgres's option of the same name. Only for a
   * client made from `url`: refused with `client` or `db`, which mtstore never closes.
   */
  closeTimeoutMillis?: number | undefined;
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
  /** The end of close() for this instance (see Closing). */
  readonly closing: Closing;
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

/**
 * The options of the Db every operation of ours goes through, whatever the client, its
 * Db or the URL set: an application configures its client for its own data, and its
 * settings must not reach ours. Unacknowledged writes (`w: 0`) made every lease and
 * permit insert "win" (no duplicate-key error comes back) and broke the first read
 * ("BSON element cursor is missing"); `j: false` or `w: 1` acknowledge writes a
 * failover can roll back (a lease token handed out twice); a secondary can serve a read
 * that misses the write just made; `promoteLongs` / `promoteValues: false` or `raw`
 * turned every read into an error or into bytes. So: majority-acknowledged (journaled)
 * writes, reads from the primary at the default read concern, and the driver's default
 * BSON options (the reads that want bigints or Buffers still ask for them, codec.ts).
 */
export const OWN_DB_OPTIONS: Readonly<DbOptions> = {
  writeConcern: { w: 'majority' },
  readPreference: ReadPreference.primary,
  readConcern: new ReadConcern('local'),
  promoteLongs: true,
  promoteValues: true,
  promoteBuffers: false,
  useBigInt64: false,
  bsonRegExp: false,
  raw: false,
  fieldsAsRaw: {},
  ignoreUndefined: false,
  serializeFunctions: false,
  checkKeys: false,
  enableUtf8Validation: true,
};

/**
 * What bounds each operation of ours on an application's client whose `timeoutMS` the
 * driver honours: a reply within 60 s, as a client made from `url` has (CLIENT_DEFAULTS'
 * socketTimeoutMS).
 */
const OWN_TIMEOUT_MS = 60_000;

/**
 * OWN_DB_OPTIONS, and on an application's client that sets `timeoutMS` a bound of our
 * own. Drivers that honour timeoutMS (6.x before 6.22, 7.0 to 7.7; later ones ignore it
 * and leave it out of `client.options`) apply a client's to every operation of every Db
 * of it, and no Db or collection option turns it off (`undefined` falls back to the
 * client's, 0 means no bound at all, socketTimeoutMS included): an application's timeout
 * chosen for its own queries (a second, say) failed mtstore's longer legitimate commands
 * (a 10,000-peer batch, building an index on first use), a write reported failed while
 * the server went on with it, and with 1 ms every call. A client mtstore made from `url`
 * keeps a timeoutMS given there: that one was set for mtstore.
 */
function ownDbOptions(client: MongoClient, owned: boolean): DbOptions {
  if (owned || (client.options as { timeoutMS?: unknown } | undefined)?.timeoutMS == null) return OWN_DB_OPTIONS;
  return { ...OWN_DB_OPTIONS, timeoutMS: OWN_TIMEOUT_MS };
}

function isClient(value: unknown): value is MongoClient {
  return typeof value === 'object' && value !== null && typeof (value as MongoClient).db === 'function' && typeof (value as MongoClient).close === 'function';
}

function isDb(value: unknown): value is Db {
  return typeof value === 'object' && value !== null && typeof (value as Db).collection === 'function' && typeof (value as Db).databaseName === 'string';
}

/**
 * A URL as a message shows it: no password and no query. A refused query may hold a
 * value that must not be printed (a key pasted as `?sealKey=…`); the message names the
 * option instead.
 */
function shownUrl(url: string): string {
  const shown = redactUrl(url);
  const query = shown.search(/[?#]/);
  return query < 0 ? shown : `${shown.slice(0, query)}?…`;
}

/** `part` %-decoded, or as it is when its escapes are malformed (the driver then quotes it so, if at all). */
function decodedOrNot(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * `reason` without the names and values of `url`'s query that must not be shown
 * (quotedIfPlain): the driver quotes them ('URI option "<name>" cannot be specified with
 * no value', 'got: <value>'), and a name or value nobody would type may be a pasted key.
 */
function withoutPastedParts(reason: string, url: string): string {
  const query = url.split('#')[0]?.split('?')[1] ?? '';
  let shown = reason;
  for (const part of query.split(/[&=]/)) {
    for (const form of new Set([part, decodedOrNot(part)])) {
      if (form !== '' && quotedIfPlain(form) === undefined) shown = shown.split(form).join(`<${form.length} characters, not shown>`);
    }
  }
  return shown;
}

/** Builds the client of a `url`, turning parse errors into InvalidArgumentError without the password. */
function clientFromUrl(url: string, extra: MongoClientOptions | undefined, where: string): MongoClient {
  if (!/^mongodb(\+srv)?:\/\//i.test(url)) {
    throw new InvalidArgumentError(`${where}: url must start with mongodb:// or mongodb+srv://, got ${shownUrl(url)}`);
  }
  const given = urlOptionNames(url, where);
  const defaults = Object.fromEntries(Object.entries(CLIENT_DEFAULTS).filter(([key]) => !given.has(key.toLowerCase())));
  let client: MongoClient;
  try {
    client = new MongoClient(url, { ...defaults, ...extra });
  } catch (error) {
    // Parse errors may quote the string: keep only the reason, never the URL itself.
    const reason = error instanceof Error ? unknownOption(error.message, url, extra) ?? error.message.split(url).join(shownUrl(url)) : String(error);
    const password = /\/\/[^:/@]+:([^@/]+)@/.exec(url)?.[1];
    // As written in the URL and decoded; a short one only where it is a word of its own (hideSecret).
    const hidden = withoutPastedParts(password === undefined ? reason : hideSecret(hideSecret(reason, password), decodedOrNot(password)), url);
    throw new InvalidArgumentError(`${where}: invalid MongoDB url ${shownUrl(url)}: ${hidden}`);
  }
  // Constructing the client did no I/O (it connects on first use), so nothing needs closing.
  assertClientOptions(client.options as unknown as Record<string, unknown>, where);
  return client;
}

/**
 * The connection string options of the MongoDB URI specification the driver reads, and
 * mtstore's own URL parameters (adapter.ts): what a typo is compared with.
 */
const KNOWN_OPTIONS = [
  'appName', 'authMechanism', 'authMechanismProperties', 'authSource', 'compressors', 'connectTimeoutMS', 'directConnection',
  'heartbeatFrequencyMS', 'journal', 'loadBalanced', 'localThresholdMS', 'maxConnecting', 'maxIdleTimeMS', 'maxPoolSize',
  'maxStalenessSeconds', 'minPoolSize', 'proxyHost', 'proxyPassword', 'proxyPort', 'proxyUsername', 'readConcernLevel',
  'readPreference', 'readPreferenceTags', 'replicaSet', 'retryReads', 'retryWrites', 'serverMonitoringMode',
  'serverSelectionTimeoutMS', 'socketTimeoutMS', 'srvMaxHosts', 'srvServiceName', 'ssl', 'timeoutMS', 'tls',
  'tlsAllowInvalidCertificates', 'tlsAllowInvalidHostnames', 'tlsCAFile', 'tlsCertificateKeyFile', 'tlsCertificateKeyFilePassword',
  'tlsInsecure', 'w', 'waitQueueTimeoutMS', 'wtimeoutMS', 'zlibCompressionLevel', 'collectionPrefix', 'session', 'create', 'closeTimeoutMillis',
];
/** adapter.ts's OWN_PARAMETERS: removed from the URL there, unknown to the driver anywhere else. */
const OWN_URL_OPTIONS = ['collectionPrefix', 'session', 'create', 'closeTimeoutMillis'];

/**
 * The driver's "option authsorce is not supported" names the option lower-cased and
 * nothing more: the message names it as written (from the URL's query or
 * clientOptions) and the known option it is nearest to, if any is within 2 edits.
 */
function unknownOption(message: string, url: string, extra: MongoClientOptions | undefined): string | undefined {
  const lower = /^option (\S+) is not supported$/.exec(message)?.[1];
  if (lower === undefined) return undefined;
  const query = url.split('#')[0]?.split('?')[1] ?? '';
  const written = [...query.split('&').map((pair) => pair.split('=')[0] ?? ''), ...Object.keys(extra ?? {})].find((name) => name.toLowerCase() === lower) ?? lower;
  if (OWN_URL_OPTIONS.includes(written)) {
    return `"${written}" is read only from a URL given to openStorage / openSessionStorage; give the ${written === 'session' ? 'name' : written} option instead`;
  }
  const guess = nearestName(written, KNOWN_OPTIONS, true);
  return `the driver does not know the option ${JSON.stringify(written)}${guess === undefined ? '' : ` (did you mean ${guess}?)`}`;
}

/** Node's timers take at most 2^31-1 ms: a longer delay fires after 1 ms (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Timers of the driver that end up in setTimeout (server selection, pool checkout, sockets, monitoring). */
const TIMER_OPTIONS = ['serverSelectionTimeoutMS', 'connectTimeoutMS', 'socketTimeoutMS', 'waitQueueTimeoutMS', 'heartbeatFrequencyMS', 'maxIdleTimeMS', 'localThresholdMS'];
const POOL_OPTIONS = ['maxPoolSize', 'minPoolSize', 'maxConnecting'];

/**
 * The driver's parse accepts values it then cannot honour, and a mistake shows only at
 * the first call, as an outage: `serverSelectionTimeoutMS` or `waitQueueTimeoutMS`
 * above 2^31-1 (or Infinity) overflow setTimeout and fail every call at once; NaN
 * (`Number(env.X)` of an unset variable) disables the timer, so a call waits forever
 * for a server that is gone; `maxPoolSize: NaN` makes every call wait forever for a
 * connection; `minPoolSize` above `maxPoolSize` fails every call. Checked on the
 * options as the driver parsed them, from the URL and clientOptions alike; the message
 * names the option and its value, never the URL (it may hold a password).
 */
function assertClientOptions(parsed: Record<string, unknown>, where: string): void {
  const bad = (name: string, value: unknown, rule: string): never => {
    throw new InvalidArgumentError(`${where}: MongoDB option ${name} (url or clientOptions) must be ${rule}, got ${describeValue(value)}`);
  };
  for (const name of TIMER_OPTIONS) {
    const value = parsed[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_TIMER_MS) bad(name, value, `a whole number of milliseconds from 0 to ${MAX_TIMER_MS}`);
  }
  for (const name of POOL_OPTIONS) {
    const value = parsed[name];
    if (value === undefined) continue;
    const least = name === 'maxConnecting' ? 1 : 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < least) bad(name, value, `a whole number, at least ${least}`);
  }
  const max = parsed.maxPoolSize;
  const min = parsed.minPoolSize;
  // maxPoolSize 0 means no limit.
  if (typeof max === 'number' && typeof min === 'number' && max > 0 && min > max) {
    throw new InvalidArgumentError(`${where}: MongoDB option minPoolSize (${min}) must not exceed maxPoolSize (${max})`);
  }
}

/**
 * A client declaring the Stable API with `strict: true` makes MongoDB reject every command
 * outside API version 1, and the adapter runs two: `buildInfo` (is the server FerretDB 1.x,
 * whose update operators need another strategy) and `distinct` (listNames). Every first
 * call would fail with an APIStrictError, read as an outage; refused here, before any I/O.
 * (FerretDB ignores `strict`, so no server here can show the rejection itself.)
 */
function assertNotStrictApi(client: MongoClient, where: string): void {
  const api = (client.options as { serverApi?: { strict?: unknown } } | undefined)?.serverApi;
  if (api?.strict === true) {
    throw new InvalidArgumentError(
      `${where}: the client declares the Stable API with strict: true, which refuses commands mtstore runs (buildInfo, distinct); declare it without strict for mtstore's client (serverApi: { version: '1' })`,
    );
  }
}

/**
 * Validates the options and prepares the client (no I/O: the driver connects on first use).
 * `closeTimeoutMillis`: a storage's MongoCloseOptions (the bus passes none: CLOSE_GRACE_MS).
 */
export function openConnection(options: MongoConnectionOptions | undefined, where: string, closeTimeoutMillis?: unknown): Connection {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object, got ${describeValue(options)}`);
  const given = (['url', 'client', 'db'] as const).filter((key) => options[key] !== undefined);
  if (given.length !== 1) {
    throw new InvalidArgumentError(`${where}: give exactly one of url, client or db (got ${given.length === 0 ? 'none' : given.join(', ')})`);
  }
  if (closeTimeoutMillis !== undefined) {
    // core's timer rule, as @mtstore/postgres: past 2^31 - 1 Node's timer fires after 1 ms (no grace at all).
    assertTimerMs(closeTimeoutMillis, `${where}: closeTimeoutMillis`, 0, false);
    // mtstore never closes the application's client: there close() has nothing to cut off
    // (its calls end on the client's own timeouts), so an option that would do nothing is refused rather than ignored.
    if (options.url === undefined) {
      throw new InvalidArgumentError(`${where}: closeTimeoutMillis applies only to a client mtstore makes from url; with ${given[0] ?? 'client'}, close() lets the calls in flight finish on your client's own timeouts`);
    }
  }
  const grace = (closeTimeoutMillis as number | undefined) ?? CLOSE_GRACE_MS;
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
    if (isClient(client)) assertNotStrictApi(client, where);
    return {
      // The same database on the same client, with our options (OWN_DB_OPTIONS); a Db that does not expose its client is used as is.
      db: isClient(client) ? client.db(options.db.databaseName, ownDbOptions(client, false)) : options.db,
      closing: new Closing(undefined),
      client: undefined,
      cacheKey,
      prefix,
      create,
      owned: false,
      describe: { database: options.db.databaseName, collectionPrefix: prefix },
    };
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
  assertNotStrictApi(client, where);
  const owned = options.client === undefined;
  return {
    db: client.db(database, ownDbOptions(client, owned)),
    closing: new Closing(owned ? client : undefined, grace),
    client,
    cacheKey: client,
    prefix,
    create,
    owned,
    describe: { database, collectionPrefix: prefix },
  };
}

/**
 * How long close() waits without a reply from the server (no operation of the instance
 * completing) before it closes a client it owns under the work still in flight, unless
 * a storage's `closeTimeoutMillis` says otherwise; the bus's always.
 */
export const CLOSE_GRACE_MS = 2_000;

/**
 * The end of one instance: close() first lets its work in flight finish and gives back
 * what it holds (the session lease, write leases, write permits), then closes the client
 * it owns. Over a link that went silent (no FIN, no RST: a partition, a host that
 * vanished) each of those commands waits until the driver gives up on its connection:
 * the server monitor notices within heartbeatFrequencyMS + connectTimeoutMS (≈ 15 s with
 * the defaults) and fails the operations on the server's connections, and every command
 * after that waits serverSelectionTimeoutMS; for as long as socketTimeoutMS where the
 * monitor's own connection still answers.
 *
 * So once close() has begun, a client this instance owns is closed under its work as soon
 * as CLOSE_GRACE_MS pass with no operation completing: the driver (6.17 and later) fails
 * the operations on its connections at once, and `forced` tells the leases and permits
 * to send nothing more (what they did not give back runs out by itself: write leases and
 * permits after LEASE_MS, the session lease after its TTL). A server that keeps
 * answering is never cut off this way: a long batch completing command after command
 * finishes first. An application's client is never closed: there close() waits as long
 * as the application's settings make it.
 */
export class Closing {
  /** Stops begin()'s watch (core's whenSilent). */
  #watch: (() => void) | undefined;
  #heard: (() => void) | undefined;
  #forced = false;
  /** Calls of the instance that reached the database and have not settled (see track). */
  readonly #calls = new CallsInFlight();

  /**
   * `client`: the instance's own client; undefined for an application's. `graceMs`: the
   * server's silence allowed (closeTimeoutMillis; CLOSE_GRACE_MS by default).
   */
  constructor(
    private readonly client: MongoClient | undefined,
    private readonly graceMs: number = CLOSE_GRACE_MS,
  ) {}

  /** True once the client was closed under work in flight: leases and permits send nothing more. */
  get forced(): boolean {
    return this.#forced;
  }

  /** close() began: from now on `graceMs` without an operation completing closes an owned client. Once. */
  begin(): void {
    const client = this.client;
    if (client === undefined || this.#watch !== undefined || this.#forced) return;
    if (this.graceMs === 0 && this.#calls.size > 0) {
      // closeTimeoutMillis 0: the calls in flight are not waited for, as @mtstore/postgres takes it.
      this.#forced = true;
      client.close().catch(() => undefined);
      return;
    }
    let last = Date.now();
    // A connection checked back in: an operation got its answer (or failed) and the instance is making progress.
    this.#heard = () => {
      last = Date.now();
    };
    client.on('connectionCheckedIn', this.#heard);
    // Time in which this process was too busy to read the server's replies is not the
    // server's silence; replies already there are read before it counts (core's whenSilent).
    // With nothing in flight under closeTimeoutMillis 0, what follows (giving leases and
    // permits back) keeps CLOSE_GRACE_MS: a grace of 0 would only skip the give-back.
    this.#watch = whenSilent(this.graceMs === 0 ? CLOSE_GRACE_MS : this.graceMs, () => last, () => {
      this.#stop();
      this.#forced = true;
      client.close().catch(() => undefined);
    });
  }

  /**
   * `work`, counted until it settles. Every call of the instance that does I/O goes
   * through here, so that close() can let it finish: the driver (6.17 and later)
   * interrupts the operations in flight when its client is closed, and a call made just
   * before close() (the first one, still connecting and migrating, or a write) failed
   * with "Topology is closed" / "client was closed" on a server that was answering,
   * a write's outcome unknown.
   */
  track<T>(work: Promise<T>): Promise<T> {
    return this.#calls.track(work);
  }

  /**
   * Resolves once no tracked call is in flight. No bound of its own: on an owned client
   * begin()'s watch closes the client once the server is silent for CLOSE_GRACE_MS,
   * which settles the calls (its progress is any reply, also within one long call).
   */
  async settled(): Promise<void> {
    await this.#calls.settled();
  }

  /** The graceful part is over (or was cut short): the owned client is closed, or its close awaited. */
  async end(): Promise<void> {
    this.#stop();
    await this.client?.close();
  }

  #stop(): void {
    this.#watch?.();
    if (this.#heard !== undefined) this.client?.off('connectionCheckedIn', this.#heard);
    this.#heard = undefined;
  }
}
