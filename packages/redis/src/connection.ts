/**
 * Connections: either one the adapter opens and owns (from a URL, ioredis options or
 * cluster seed nodes, closed by `close()`), or a Redis / Cluster client the
 * application owns (used as is, never closed by mtstore).
 */
import { assertKeyPrefix, assertTimerMs, CallList, CallsInFlight, type ListedCall, CorruptDataError, createOption, InvalidArgumentError, LeaseLostError, MigrationError, Once, decodeUrlPart, hideSecret, quotesSecret, redactUrl } from '@mtstore/core';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ensureSchema, isRetryableMigration } from './schema.js';
import { isFenceRefusal } from './fence.js';
import { warnIfEvicting } from './eviction.js';

/** A single-server client or a Cluster client: every command mtstore sends works on both. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /**
   * `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). The adapter opens
   * the connection and quits it on close. Default: `redis://127.0.0.1:6379`.
   */
  url?: string | undefined;
  /** ioredis options for the connection the adapter opens, over the defaults (`REDIS_DEFAULTS`) and the URL. */
  options?: RedisOptions | undefined;
  /** Open (and own) a Redis Cluster client from these seed nodes instead of a single-server one. */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions | undefined } | undefined;
  /**
   * A client the application owns, single-server or Cluster: used as is and never
   * closed by mtstore. Configure its timeouts yourself (see `REDIS_DEFAULTS`).
   */
  client?: RedisClient | undefined;
  /** Key prefix, up to 64 of `A-Z a-z 0-9 _ . : -`. Default `mtstore:`. */
  prefix?: string | undefined;
  /**
   * `false`: open only an @mtstore/redis store that is there. A prefix without its
   * `<prefix>schema` key (nothing of mtstore's, or another program's keys) is
   * NotFoundError on first use and no key is written. A store at an older layout is
   * migrated as usual. For tools that only read (`mtstore inspect`). Default `true`:
   * the first use claims the prefix. The event bus writes no key and ignores it.
   */
  create?: boolean | undefined;
}

/** RedisStorage's and RedisSessionStorage's own option (not the bus's: it keeps CLOSE_GRACE_MS). */
export interface RedisCloseOptions {
  /**
   * How long `close()` waits, in ms, with no call in flight settling before it gives up
   * on the rest (default 1000, CLOSE_GRACE_MS); also how long it waits for Redis to
   * answer QUIT. The wait restarts whenever a call settles, so a backlog Redis keeps
   * answering finishes however long it takes; time in which this process was too busy
   * to send the calls or read the replies does not count. Once Redis answered nothing
   * for that long, the sockets are destroyed and the calls still waiting reject with
   * StorageUnavailableError (saying whether they may have been applied). 0: close()
   * does not wait (nor sends QUIT). 0 to 2^31 - 1, as @mtstore/postgres's option of the
   * same name. Only for a connection mtstore opens: refused with `client` (see the
   * constructor), whose calls close() lets finish on the application's settings.
   */
  closeTimeoutMillis?: number | undefined;
}

/**
 * What the adapter sets on connections it opens, so that no operation waits forever
 * while Redis is down: a command is rejected after `commandTimeout` ms at most,
 * queued commands are dropped after `maxRetriesPerRequest` failed reconnects, and the
 * connection keeps reconnecting in the background so operations succeed again
 * once Redis is back. A command that was in flight when the connection dropped is
 * not resent (`autoResendUnfulfilledCommands: false`): such a call rejects with
 * StorageUnavailableError as soon as the loss is known (failInFlightOnLoss). A
 * connection that went silent (commands waiting, no byte from Redis for
 * `commandTimeout`) is dropped and reconnected (dropWhenSilent). Anything here can be
 * overridden through `options`.
 */
export const REDIS_DEFAULTS = Object.freeze({
  /** Connect on first use: constructors stay synchronous. */
  lazyConnect: true,
  /** Concurrent calls share round trips. */
  enableAutoPipelining: true,
  connectTimeout: 5_000,
  commandTimeout: 5_000,
  maxRetriesPerRequest: 3,
  autoResendUnfulfilledCommands: false,
  /** Reconnect forever, backing off to one attempt every 2 s. */
  retryStrategy: (attempt: number): number => Math.min(attempt * 100, 2_000),
  connectionName: 'mtstore',
} satisfies RedisOptions);

/**
 * What mtstore adds for a connection it opens through Redis Sentinel (`sentinels` in
 * `options`). `failoverDetector`: ioredis subscribes to the sentinels' `+switch-master`
 * and reconnects (through the sentinels, to the new master) as soon as one is announced.
 * Without it a connection stays on the old master until that one closes it: after a
 * failover of a master that is still up (`SENTINEL FAILOVER`, or one cut off and back),
 * the sentinels reconfigure it as a replica only about 10 s later (measured:
 * sentinel.test.ts), and every write made there meanwhile was acknowledged and then
 * lost with the old master's data; with it the connections moved within about 0.3 s.
 * Costs one connection per sentinel (up to `sentinelMaxConnections`, 10) per client.
 */
export const SENTINEL_DEFAULTS = Object.freeze({
  failoverDetector: true,
} satisfies RedisOptions);

/**
 * The same bounds for a Cluster mtstore opens. Node connections take the per-command
 * limits (reconnecting is the Cluster's job). The Cluster's own offline queue has no
 * limit while no node answers, so it is off: while the cluster is unreachable calls
 * fail at once instead of queueing; the Cluster keeps reconnecting in the background.
 */
export const CLUSTER_DEFAULTS = Object.freeze({
  lazyConnect: true,
  enableAutoPipelining: true,
  enableOfflineQueue: false,
  clusterRetryStrategy: (attempt: number): number => Math.min(attempt * 100, 2_000),
  /**
   * How long a node has to answer the Cluster's slots query (CLUSTER SLOTS, on a new
   * connection of its own). ioredis' 1 s failed the first connect, and the first calls
   * with it, of a process stalled that long (40 storages starting at a load of 10-20),
   * though the node had answered: the reply is read only after the expired timer has
   * fired. The connections' bound, 5 s.
   */
  slotsRefreshTimeout: REDIS_DEFAULTS.connectTimeout,
  redisOptions: Object.freeze({
    connectTimeout: REDIS_DEFAULTS.connectTimeout,
    commandTimeout: REDIS_DEFAULTS.commandTimeout,
    maxRetriesPerRequest: REDIS_DEFAULTS.maxRetriesPerRequest,
    autoResendUnfulfilledCommands: REDIS_DEFAULTS.autoResendUnfulfilledCommands,
    connectionName: REDIS_DEFAULTS.connectionName,
  }),
} satisfies ClusterOptions);

export const DEFAULT_PREFIX = 'mtstore:';

/** Parses a redis:// URL without ever echoing it unredacted. */
function parseRedisUrl(url: unknown, where: string): URL {
  if (typeof url !== 'string') throw new InvalidArgumentError(`${where}: url must be a string`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(`${where}: url is not a valid redis:// or rediss:// URL`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidArgumentError(`${where}: url must start with redis:// or rediss://, got ${redactUrl(parsed)}`);
  }
  return parsed;
}

/**
 * The `url` option: its query is read by nothing (only host, port, credentials, `/db`
 * and the scheme are), so `?prefix=app:` or `?cluster=true` there were ignored without
 * a word (the default prefix, a single-server client). Only openStorage(url) reads
 * mtstore's parameters; here they are options.
 */
function urlWithoutParameters(url: URL, where: string): URL {
  const names = [...new Set(url.searchParams.keys())];
  if (names.length > 0) {
    const shown = names.map((name) => (/^[A-Za-z0-9_.-]{1,32}$/.test(name) ? `"${name}"` : 'one')).join(', ');
    throw new InvalidArgumentError(
      `${where}: url takes no query parameters (got ${shown}): give prefix, create and cluster as options (only openStorage / openSessionStorage read them from a URL)`,
    );
  }
  return url;
}

/** Connection settings in a URL, as ioredis options (mtstore's own query parameters are not ioredis options). */
export function redisOptionsFromUrl(url: URL): RedisOptions {
  const db = url.pathname.replace(/^\//, '');
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: url.port === '' ? 6379 : Number(url.port),
  };
  if (url.username) options.username = decodeUrlPart(url.username, 'user name', url, 'redis URL');
  if (url.password) options.password = decodeUrlPart(url.password, 'password', url, 'redis URL');
  if (db !== '') {
    // Redis numbers databases with a C int: a larger index only failed at SELECT, on first use.
    if (!/^\d+$/.test(db) || Number(db) > 2 ** 31 - 1) throw new InvalidArgumentError(`redis URL ${redactUrl(url)}: the path must be a database number (0 to 2147483647)`);
    options.db = Number(db);
  }
  if (url.protocol === 'rediss:') options.tls = {};
  return options;
}

/**
 * `commandTimeout` of a connection mtstore opens, before any I/O: ioredis arms a timer
 * with it for every command, and dropWhenSilent checks the socket every half of it; a
 * delay past Node's timer limit would fire after 1 ms (every command timed out, every
 * busy socket dropped). 0 (or absent) is off, as in ioredis.
 */
function assertCommandTimeout(value: unknown, label: string, where: string): void {
  if (value !== undefined) assertTimerMs(value, `${where}: ${label}`, 0, false);
}

/**
 * The other ioredis options it arms Node timers with, checked the same way before any
 * I/O: past 2^31 − 1 ms a timer fires after 1 ms, so a `connectTimeout` that large gave
 * up on every connection that took over 1 ms, and a Cluster's `slotsRefreshTimeout`
 * failed every slots refresh ("None of startup nodes is available"). 0 is none.
 */
const REDIS_TIMERS = ['connectTimeout', 'socketTimeout'] as const;
const CLUSTER_TIMERS = ['slotsRefreshTimeout', 'slotsRefreshInterval', 'retryDelayOnFailover', 'retryDelayOnClusterDown', 'retryDelayOnTryAgain', 'retryDelayOnMoved'] as const;

function assertTimers(options: object | undefined, names: readonly string[], label: string, where: string): void {
  const given = (options ?? {}) as Record<string, unknown>;
  for (const name of names) assertCommandTimeout(given[name], `${label}.${name}`, where);
}

/**
 * The option objects, before anything reads them: a string spread into ioredis' options
 * is a set of numbered keys, so `options: 'redis://db:6379'` (a URL where `url` was meant)
 * connected to the default 127.0.0.1:6379 without a word; `cluster: null` was a
 * TypeError from a destructuring.
 */
function assertOptionObjects(options: RedisConnectionOptions, where: string): void {
  const check = (value: unknown, label: string): void => {
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      // Only the kind: a string here may well be a URL with its password.
      throw new InvalidArgumentError(`${where}: ${label} must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`);
    }
  };
  check(options.options, 'options');
  check(options.cluster, 'cluster');
  check(options.cluster?.options, 'cluster.options');
  check(options.cluster?.options?.redisOptions, 'cluster.options.redisOptions');
}

function openOwned(options: RedisConnectionOptions, where: string): RedisClient {
  if (options.cluster !== undefined) {
    const { nodes, options: clusterOptions = {} } = options.cluster;
    if (!Array.isArray(nodes) || nodes.length === 0) throw new InvalidArgumentError(`${where}: cluster.nodes must be a non-empty array`);
    const redisOptions = { ...CLUSTER_DEFAULTS.redisOptions, ...clusterOptions.redisOptions };
    assertCommandTimeout(redisOptions.commandTimeout, 'cluster.options.redisOptions.commandTimeout', where);
    assertTimers(redisOptions, REDIS_TIMERS, 'cluster.options.redisOptions', where);
    assertTimers(clusterOptions, CLUSTER_TIMERS, 'cluster.options', where);
    return new Cluster(nodes, { ...CLUSTER_DEFAULTS, ...clusterOptions, redisOptions });
  }
  const fromUrl = options.url === undefined ? {} : redisOptionsFromUrl(urlWithoutParameters(parseRedisUrl(options.url, where), where));
  const given = options.options;
  const sentinel = given !== undefined && Array.isArray(given.sentinels) && given.sentinels.length > 0 ? SENTINEL_DEFAULTS : {};
  const merged = { ...REDIS_DEFAULTS, ...sentinel, ...fromUrl, ...given };
  assertCommandTimeout(merged.commandTimeout, 'options.commandTimeout', where);
  assertTimers(merged, REDIS_TIMERS, 'options', where);
  return new Redis(merged);
}

/** ioredis' `keyPrefix` given anywhere in `options` (its default, `''`, is none). */
function keyPrefixes(options: RedisConnectionOptions): string[] {
  const set = (value: unknown): boolean => value !== undefined && value !== null && value !== '';
  const found: string[] = [];
  if (set(options.options?.keyPrefix)) found.push('options.keyPrefix');
  if (set(options.cluster?.options?.keyPrefix)) found.push('cluster.options.keyPrefix');
  if (set(options.cluster?.options?.redisOptions?.keyPrefix)) found.push('cluster.options.redisOptions.keyPrefix');
  const client: unknown = options.client;
  if (client instanceof Redis && set(client.options.keyPrefix)) found.push("the client's keyPrefix");
  if (client instanceof Cluster && (set(client.options.keyPrefix) || set(client.options.redisOptions?.keyPrefix))) found.push("the client's keyPrefix");
  return found;
}

/**
 * ioredis' `keyPrefix` is refused where mtstore keeps keys: ioredis prepends it to the
 * key arguments of commands it knows, but not to SCAN's MATCH pattern nor to the key
 * names mtstore's Lua scripts build from their arguments. With it `listNames()` found
 * nothing and the migrations no session; a server session was written under one name
 * and listed under another (`listSessions` came back empty after `createSession`); a
 * prefix with `{` moved keys of one session to other Cluster slots. mtstore's own
 * `prefix` option does what it was meant for. The bus keeps no keys (channels are not
 * prefixed by ioredis), so it takes such a client.
 */
function assertNoKeyPrefix(options: RedisConnectionOptions, where: string): void {
  const found = keyPrefixes(options);
  if (found.length === 0) return;
  throw new InvalidArgumentError(
    `${where}: ioredis keyPrefix is not supported (${found.join(', ')}): ioredis would prefix only some of mtstore's keys. Use the prefix option; for a client of your own with keyPrefix, pass client.duplicate({ keyPrefix: '' })`,
  );
}

/**
 * A Cluster's `scaleReads` other than `'master'` (ioredis' default) sends read-only
 * commands to replicas, which Redis updates asynchronously: a read right after a write
 * (`authKeys.getTemp` after `setTemp`, `hasSession` after `createSession`, `lease.holder()`
 * after an acquire, a migration's SCAN) could miss it, and a missing auth key is a new
 * login. Refused where mtstore reads keys, like keyPrefix; the bus reads none.
 */
function assertReadsFromMasters(options: RedisConnectionOptions, where: string): void {
  const client: unknown = options.client;
  const found: [string, unknown][] = [];
  const scaleReads = options.cluster?.options?.scaleReads;
  if (scaleReads !== undefined && scaleReads !== 'master') found.push(['cluster.options.scaleReads', scaleReads]);
  if (client instanceof Cluster && client.options.scaleReads !== undefined && client.options.scaleReads !== 'master') found.push(["the client's scaleReads", client.options.scaleReads]);
  const [label, value] = found[0] ?? [];
  if (label === undefined) return;
  const shown = typeof value === 'string' ? JSON.stringify(value) : `a ${typeof value}`;
  throw new InvalidArgumentError(
    `${where}: ${label} ${shown} reads from replicas, which Redis updates asynchronously: a read right after a write could miss it. Use scaleReads 'master'; for a Cluster of your own, pass client.duplicate([], { scaleReads: 'master' })`,
  );
}

/**
 * Redis Sentinel's `role: 'slave'` (ioredis' own default is 'master') connects to a
 * replica the sentinels name: Redis refuses every write there (READONLY), a read could
 * miss a write made just before (replication is asynchronous), and an event the bus
 * publishes there reaches only that replica's subscribers, not the master's (which
 * other instances subscribe on). Refused for storages and the bus alike, before any I/O.
 */
function assertSentinelMaster(options: RedisConnectionOptions, where: string): void {
  const client: unknown = options.client;
  const given = options.options;
  const owned = given !== undefined && Array.isArray(given.sentinels) && given.sentinels.length > 0 && given.role === 'slave';
  const theirs = client instanceof Redis && isSentinelClient(client) && client.options.role === 'slave';
  if (!owned && !theirs) return;
  throw new InvalidArgumentError(
    `${where}: ${owned ? 'options.role' : "the client's role"} 'slave' connects through Redis Sentinel to a replica, where Redis refuses writes (READONLY), reads could miss a write made just before (replicas are updated asynchronously) and published events reach only that replica's subscribers. Use role 'master' (ioredis' default)${theirs ? "; for a client of your own, pass client.duplicate({ role: 'master' })" : ''}`,
  );
}

/**
 * `stringNumbers` on a Cluster's node connections: ioredis' Cluster then reads the
 * slot numbers of CLUSTER SLOTS as strings and compares them as strings, so a third of
 * the slots stay unmapped (on a three-master cluster, 5461 to 10922): commands for them
 * go to a random node and follow MOVED, and listNames() and the migrations, which SCAN
 * every slot's master, refused with "slot 5461 has no master". Refused where mtstore
 * reads keys; a single-server client with it works (scripts.ts isOne).
 */
function assertClusterNumbers(options: RedisConnectionOptions, where: string): void {
  const client: unknown = options.client;
  const owned = options.cluster?.options?.redisOptions?.stringNumbers === true;
  const given = client instanceof Cluster && client.options.redisOptions?.stringNumbers === true;
  if (!owned && !given) return;
  throw new InvalidArgumentError(
    `${where}: ${owned ? 'cluster.options.redisOptions.stringNumbers' : "the Cluster client's redisOptions.stringNumbers"} is not supported: ioredis' Cluster then misreads its slot map (a third of the slots unmapped). Leave it off; for a Cluster of your own, pass client.duplicate([], { redisOptions: { ...client.options.redisOptions, stringNumbers: false } })`,
  );
}

/**
 * One instance's connection: the client, whether we own it, the key prefix, and the
 * memoized "ready" step (schema check) every operation awaits once.
 */
export class RedisConnection {
  readonly client: RedisClient;
  readonly owned: boolean;
  readonly prefix: string;
  /**
   * Checks the layout version once; a failed attempt (Redis down, a migration step
   * Redis refused) is retried by the next call, a newer or unreadable layout is kept.
   */
  readonly #layout = new Once(
    () =>
      this.connect()
        // A Cluster without an offline queue refused a command for a node connection being set up (nodeConnectionsReady).
        .then(() => nodeConnectionsReady(this.#nodes))
        .then(() => this.#selectedDatabase())
        .then(() => {
          // In the same round trip as the layout check (auto-pipelining); it never rejects.
          void warnIfEvicting(this.client);
          return ensureSchema(this.client, this.prefix, { mustExist: !this.create, where: this.#where, clock: this.#clock });
        }),
    (error) => !(error instanceof MigrationError) || isRetryableMigration(error),
  );
  /** False: the store must be there (RedisConnectionOptions.create); nothing is written to make one. */
  readonly create: boolean;
  readonly #where: string;
  /** What its owner is called in messages: "storage", or "bus" (see closedWhileSilent). */
  readonly #noun: string;
  #connecting: Promise<void> | undefined;
  /** Rejects the connect under way: close() calls it (see connect()). */
  #abortConnect: ((error: Error) => void) | undefined;
  /**
   * The last 'error' event of a connection mtstore opened since it was last ready: why
   * it closed (WRONGPASS, NOAUTH, ECONNREFUSED…). ioredis fails a first connect, and
   * commands sent while it closes, with a bare "Connection is closed.".
   */
  #lastError: Error | undefined;
  /** Calls of this instance not settled yet: close() lets them finish first (see close()). */
  readonly #calls = new CallsInFlight();
  /** close() began: a call cut off from here on says whether it was sent. */
  #closing = false;
  /** The application's client: its calls, rejected once it is closed for good (AppClientWatch). */
  readonly #watch: AppClientWatch | undefined;
  /** The client's sockets: whether a call rejected by maxRetriesPerRequest was sent (SocketLog). */
  readonly #sockets: SocketLog;
  /** A Cluster without an offline queue: its node connections being replaced, which calls wait for (NodeWatch). */
  readonly #nodes: NodeWatch | undefined;

  /** The instance's clock for the times a layout step writes (EnsureSchemaOptions.clock). */
  readonly #clock: (() => number) | undefined;
  /** close()'s grace, ms (RedisCloseOptions.closeTimeoutMillis); 0: no wait. */
  readonly #closeTimeout: number;

  /**
   * `keys: false` for the bus, which keeps no keys (and so takes an ioredis keyPrefix);
   * `clock`: a RedisSessionStorage's, so the server sessions a layout step stamps carry
   * its time as its every other write does (contract §7.1); others leave it (Date.now).
   * `noun`: what the owner is called in the messages of calls close() cut off ("the bus
   * was closed while ..."); "storage" by default. `closeTimeoutMillis`: a storage's
   * RedisCloseOptions (the bus passes none: CLOSE_GRACE_MS).
   */
  constructor(
    options: RedisConnectionOptions,
    where: string,
    { keys = true, clock, noun = 'storage', closeTimeoutMillis }: { keys?: boolean; clock?: () => number; noun?: 'storage' | 'bus'; closeTimeoutMillis?: unknown } = {},
  ) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object`);
    if (closeTimeoutMillis !== undefined) {
      // core's timer rule, as @mtstore/postgres: past 2^31 - 1 Node's timer fires after 1 ms (no grace at all).
      assertTimerMs(closeTimeoutMillis, `${where}: closeTimeoutMillis`, 0, false);
      // The application's client is never closed by mtstore: there close() has no socket to
      // destroy and nothing to give up on (its calls settle on the client's own commandTimeout),
      // so an option that would do nothing is refused rather than ignored.
      if (options.client !== undefined) {
        throw new InvalidArgumentError(`${where}: closeTimeoutMillis applies only to a connection mtstore opens (url, options or cluster); with client, close() lets the calls in flight finish on your client's own commandTimeout`);
      }
    }
    this.#closeTimeout = (closeTimeoutMillis as number | undefined) ?? CLOSE_GRACE_MS;
    assertOptionObjects(options, where);
    assertSentinelMaster(options, where);
    if (keys) {
      assertNoKeyPrefix(options, where);
      assertReadsFromMasters(options, where);
      assertClusterNumbers(options, where);
    }
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    assertKeyPrefix(prefix, `${where}: prefix`);
    this.prefix = prefix;
    this.create = createOption(options.create, where);
    this.#where = where;
    this.#noun = noun;
    this.#clock = clock;
    const given = options.client;
    if (given !== undefined) {
      if (!(given instanceof Redis) && !(given instanceof Cluster)) {
        throw new InvalidArgumentError(`${where}: client must be an ioredis Redis or Cluster instance`);
      }
      if (options.url !== undefined || options.options !== undefined || options.cluster !== undefined) {
        throw new InvalidArgumentError(`${where}: pass either client or url/options/cluster, not both`);
      }
      // ioredis refuses every other command on a subscribed connection (locally, nothing sent).
      if (inSubscriberMode(given)) throw new InvalidArgumentError(`${where}: ${SUBSCRIBER_MODE}`);
      this.client = given;
      this.owned = false;
      this.#watch = watchOf(given);
    } else {
      if (options.cluster !== undefined && (options.url !== undefined || options.options !== undefined)) {
        throw new InvalidArgumentError(`${where}: pass either cluster or url/options, not both`);
      }
      this.client = openOwned(options, where);
      // Failures reach callers as rejected operations; an unhandled 'error' event would only print noise.
      this.client.on('error', (error: unknown) => {
        if (error instanceof Error) this.#lastError = error;
      });
      this.client.on('ready', () => {
        this.#lastError = undefined;
      });
      if (this.client instanceof Redis) {
        failInFlightOnLoss(this.client);
        dropWhenSilent(this.client);
      } else {
        // Each node connection the Cluster opens (lazily: none exists yet). A dropped
        // node connection ends (the Cluster gives them no retryStrategy); NodeWatch has
        // the slots refreshed, which adds a new one, or the Cluster reconnects as a
        // whole once none is left.
        this.client.on('+node', (node: Redis) => dropWhenSilent(node));
      }
      this.owned = true;
    }
    this.#sockets = socketLogOf(this.client);
    this.#nodes = nodeWatchOf(this.client);
  }

  /**
   * Connects a client that waits for its first command (lazyConnect). ioredis would
   * do it on that command, but a client without an offline queue would refuse the
   * command meanwhile.
   */
  connect(): Promise<void> {
    if (this.#connecting) return this.#connecting;
    if (this.client.status !== 'wait') return this.#connectingWithoutQueue();
    const attempt = this.client.connect();
    // ioredis' Cluster leaves connect() pending for good when disconnect() comes while
    // it checks the cluster (after its slots refresh, before ready: its 'close' listener
    // is gone by then), and every call waiting for the connection with it. close()
    // therefore settles the attempt itself.
    const aborted = new Promise<never>((_, reject) => {
      this.#abortConnect = reject;
    });
    attempt.catch(() => {});
    const deadline = sentinelDeadline(this.client, () => this.#lastError);
    this.#connecting = Promise.race(deadline === undefined ? [attempt, aborted] : [attempt, aborted, deadline.expired]).then(
      () => {
        deadline?.clear();
        this.#connecting = undefined;
        this.#abortConnect = undefined;
      },
      (error: unknown) => {
        deadline?.clear();
        this.#connecting = undefined;
        this.#abortConnect = undefined;
        // A connect that failed sent nothing of the calls waiting for it.
        throw this.explain(error, false);
      },
    );
    return this.#connecting;
  }

  /**
   * connect(), then, on an application's Cluster still making its connection, the end of
   * that attempt as well (connect() does not wait for it when the client has an offline
   * queue: calls are queued). For a caller that reads the client's node list (the bus
   * picks a master to subscribe on): until its first slots refresh, ioredis' Cluster lists
   * its startup nodes as masters, every one as given (a node that is down included), and
   * none while their hostnames are being resolved. The same wait as calls on a client
   * without an offline queue (connectAttempt): ready, or the attempt's failure.
   */
  async connectNodes(): Promise<void> {
    await this.connect();
    const client = this.client;
    if (!(client instanceof Cluster) || (client.status !== 'connecting' && client.status !== 'connect')) return;
    const error = await connectAttempt(client);
    if (error !== undefined) throw this.explain(error, false);
  }

  /**
   * An application's client without an offline queue (`enableOfflineQueue: false`, what
   * this README advises for a Cluster) that is still making its connection: ioredis
   * refuses every command until it is ready ("Cluster isn't ready and
   * enableOfflineQueue options is false"), so the first calls on a client created just
   * before them all failed. They wait for that attempt instead, and fail with it (its
   * 'close' or 'end'); between two attempts (`reconnecting`) nothing waits, as the
   * application asked. Clients mtstore opens connect lazily, through the 'wait' path.
   * Every instance on the client shares one wait for the attempt (connectAttempt).
   */
  #connectingWithoutQueue(): Promise<void> {
    const client = this.client;
    if (this.owned || client.options.enableOfflineQueue !== false || (client.status !== 'connecting' && client.status !== 'connect')) return Promise.resolve();
    return connectAttempt(client).then((error) => {
      if (error !== undefined) throw this.explain(error, false);
    });
  }

  /**
   * What a failure of a command or of connecting says, for the caller's error: instead
   * of ioredis' bare "Connection is closed." the connection's own last error (a wrong
   * password is WRONGPASS at the first call, not only at the next ones), and never an
   * AUTH or HELLO command's arguments (ioredis puts them, password included, on the
   * error it gets back). `sent`: whether the call may have been sent (false: a connect
   * that failed, or a call refused before its command was given to the client).
   */
  explain(error: unknown, sent: boolean): unknown {
    // The application subscribed on its client after handing it over: no retry helps.
    if (error instanceof Error && error.message.startsWith(SUBSCRIBER_MODE_REPLY)) return new InvalidArgumentError(`${this.#where}: ${SUBSCRIBER_MODE}`, { cause: error });
    // The application quit (or disconnected) its own client: ioredis' bare "Connection is
    // closed." read like an outage that would pass, but nothing reopens it. A call whose
    // command the client had (queued, written, or held back to resend) may have been
    // applied; one refused before that was not.
    if (!this.owned && error instanceof Error && error.message === CONNECTION_CLOSED && closedForGood(this.client)) {
      return new Error(`${CONNECTION_CLOSED} ${sent ? APP_CLOSED_AFTER_SENDING : APP_CLOSED_BEFORE_SENDING}`, { cause: error });
    }
    // A MULTI or pipeline (auto-pipelined calls are one) that Redis had partly answered
    // when its connection closed: ioredis rejects the commands after the last reply it
    // read with a bare "Command aborted due to connection close", though Redis may have
    // run them (an EXEC among them: the whole transaction). Said as every other cut-off
    // call is: whether it may have been applied (docs/contract.md §9).
    if (
      // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent where the `instanceof` or the name check goes (`true`, `||`): only ioredis' AbortError carries this message, and what ioredis rejects with is an Error; the whole condition's `true` and `false` go with them (aborted-pipeline and max-retries kill both)
      error instanceof Error && error.name === 'AbortError' &&
      error.message === COMMAND_ABORTED
    ) {
      const message = this.#closing ? closedWhileSilent(this.#noun, true, this.#closeTimeout) : !this.owned && closedForGood(this.client) ? CLIENT_CLOSED_AFTER_SENDING : CONNECTION_LOST;
      return new Error(message, { cause: error });
    }
    // ioredis gave up on the call after maxRetriesPerRequest failed reconnects (or at the
    // drop itself, with 0): its "Reached the max retries per request limit" flushes the
    // commands written to the lost socket and those queued while none was connected alike.
    if (isMaxRetries(error)) return new Error(sent ? RETRIES_AFTER_SENDING : RETRIES_BEFORE_SENDING, { cause: error });
    const cluster = this.client instanceof Cluster ? (clusterFailure(this.client, error) ?? startupFailure(this.client, error, this.#lastError, this.owned)) : undefined;
    if (cluster !== undefined) return new Error(`${cluster}: ${sent ? MAY_HAVE_BEEN_APPLIED : NOT_SENT}`, { cause: error });
    const real = error instanceof Error && error.message === CONNECTION_CLOSED && this.#lastError !== undefined ? this.#lastError : error;
    // ioredis' Sentinel lookup that gave up ("All sentinels are unreachable and retry is
    // disabled.": a sentinelRetryStrategy returning no delay), or the last one of those
    // that keep trying, read as if it were about the call.
    if (real instanceof Error && real.message.startsWith(SENTINELS_UNREACHABLE) && this.client instanceof Redis) {
      return new Error(`no Redis Sentinel named the master "${String(this.client.options.name)}" (${sentinelReason(real)}): ${sent ? MAY_HAVE_BEEN_APPLIED : NOT_SENT}`, { cause: real });
    }
    return withoutCredentials(real, this.client instanceof Cluster ? this.client.options.redisOptions : this.client.options);
  }

  /**
   * The database of the URL's `/db` (or `options.db`), confirmed before the layout check.
   * ioredis SELECTs it on connecting, and when the server refuses (`/99` on a server of
   * 16 databases: "ERR DB index is out of range") it only emits 'error' and goes on in
   * database 0, so every call read and wrote the store of database 0. SELECTed again here
   * (the same index: a no-op for ioredis), its refusal fails the layout check, and so
   * every call, before any key is read or written. Only on a connection mtstore opened:
   * an application's client is in the database the application selected last.
   */
  #selectedDatabase(): Promise<unknown> | undefined {
    if (!this.owned || !(this.client instanceof Redis)) return undefined;
    const db = this.client.options.db ?? 0;
    return db === 0 ? undefined : this.client.select(db);
  }

  /** True once the layout check passed: the hot path then skips awaiting `ready()`. */
  get isReady(): boolean {
    return this.#layout.done;
  }

  ready(): Promise<void> {
    return this.#layout.run();
  }

  /**
   * Runs `op` on the client once the layout version is checked, and maps its result
   * (not async, and one `then` for both: the hot path gets no extra promise). A key
   * of the wrong type (WRONGTYPE: written by hand or by something else under our
   * prefix) is CorruptDataError naming `where`.
   *
   * On the application's client the call is also held by the client's AppClientWatch,
   * which rejects it once the application closed the client for good (ioredis may keep
   * its command queued for ever then), and a call made after that sends nothing. The
   * watch settles the caller's promise itself: one promise more per call than on a
   * connection mtstore owns (about 500 instructions a call, 64 calls at a time).
   */
  run<T, R = T>(op: (client: RedisClient) => Promise<T>, where: string, map?: (value: T) => R): Promise<R> {
    return this.#call(true, op, where, map);
  }

  /**
   * `op` as run() runs it (counted, so close() lets it finish; refused unsent on an
   * application's client closed for good; its failure said the same way), once the
   * client is connected, without the layout check: the bus's publish, which reads and
   * writes no key.
   */
  track<T>(op: (client: RedisClient) => Promise<T>, where: string): Promise<T> {
    return this.#call(false, op, where, undefined);
  }

  /** run() (`layout`: after the layout check) and track() (after connecting). */
  #call<T, R>(layout: boolean, op: (client: RedisClient) => Promise<T>, where: string, map: ((value: T) => R) | undefined): Promise<R> {
    // Counted until it settles: close() lets it finish (see close()).
    this.#calls.add();
    /** NOT_RUN: a call closed or refused before `op` ran sent nothing; else the SocketLog stamp when it ran. */
    // Stryker disable next-line ConditionalExpression: equivalent where the hot path's check becomes false: the call then waits for ready(), resolved once the layout is checked, and checks #appClientClosed() there as a call on a fresh instance does (a microtask later, the same answer); its `true`s go with it (every test of an application's client closed for good kills them)
    let started = layout && this.isReady && this.#nodes?.held === undefined && !this.#appClientClosed() ? this.#sockets.stamp : NOT_RUN;
    const result =
      // Stryker disable next-line ConditionalExpression: equivalent, as above (`false`: through ready(), resolved, the same checks); its `true` goes with it (every test kills it)
      started !== NOT_RUN
        ? op(this.client)
        : this.#beforeSending(layout).then(() => {
            // ioredis would refuse it unsent ('end') or queue it for ever (closedForGood); so
            // would it a call that waited for a node connection while close() ended the client.
            if (this.#appClientClosed() || (this.#closing && closedForGood(this.client))) throw new Error(CONNECTION_CLOSED);
            started = this.#sockets.stamp;
            return op(this.client);
          });
    const settled = (value: T): R => {
      this.#calls.done();
      return map === undefined ? (value as unknown as R) : map(value);
    };
    const failed = (error: unknown): never => {
      this.#calls.done();
      throw this.#failure(error, where, started);
    };
    return this.#watch === undefined ? result.then(settled, failed) : this.#watch.hold(result, settled, failed);
  }

  /**
   * What a call waits for before it sends anything: the layout check (`layout`) or the
   * connection, then, on a Cluster without an offline queue, any node connection being
   * replaced (NodeWatch: ioredis would refuse the call's command meanwhile and resend it
   * only after retryDelayOnFailover).
   */
  #beforeSending(layout: boolean): Promise<unknown> {
    const before = layout ? this.ready() : this.connect();
    const nodes = this.#nodes;
    return nodes === undefined ? before : before.then(() => nodes.held);
  }

  /** The application closed its client for good (closedForGood): a call is refused before it is sent. */
  #appClientClosed(): boolean {
    // Stryker disable next-line ConditionalExpression: equivalent where the `#watch` check goes: a connection mtstore owns is closed for good only by close(), after which core refuses every call before it gets here (StorageClosedError), and close() ends with no call of its own left waiting; the whole condition's `true` and `false` go with it (app-client-ended kills both)
    return this.#watch !== undefined && closedForGood(this.client);
  }

  /**
   * What a call rejects with; `started`: NOT_RUN, or the SocketLog stamp when it ran `op`.
   * A call that ran it may have been sent, unless ioredis gave up on it after
   * maxRetriesPerRequest and it was queued with no socket connected (SocketLog.unsent).
   */
  #failure(error: unknown, where: string, started: number): unknown {
    // A fenced write found another token on the session's lease: it wrote nothing.
    // Stryker disable next-line StringLiteral: equivalent: core replaces every LeaseLostError an adapter throws with its own, naming the operation and the session (base.ts), so this message is never seen
    if (isFenceRefusal(error)) return new LeaseLostError('fence');
    if (error instanceof Error && error.message.startsWith('WRONGTYPE')) {
      return new CorruptDataError(`${where}: a Redis key holds another type than the mtstore layout says (${error.message.split('\n')[0]})`);
    }
    const sent = started !== NOT_RUN && !(isMaxRetries(error) && this.#sockets.unsent(started));
    // Cut off by close() (Redis silent for closeTimeoutMillis, or unreachable): say whether it may have been applied.
    if (this.#closing && error instanceof Error && (error.message === CONNECTION_CLOSED || isClusterGone(error))) {
      return new Error(closedWhileSilent(this.#noun, sent, this.#closeTimeout), { cause: error });
    }
    return this.explain(error, sent);
  }

  /**
   * Resolves true once every call made before close() has settled, or false once
   * closeTimeoutMillis (CLOSE_GRACE_MS by default; 0: none) pass without one settling (Redis silent, or unreachable while
   * connecting). Not awaited at all between two reconnect attempts of a single-server
   * client: no connection exists then to answer anything, and the queued calls would
   * only wait for the next attempt.
   */
  #letCallsFinish(): Promise<boolean> {
    if (this.#calls.size > 0 && this.client instanceof Redis && this.client.status === 'reconnecting') return Promise.resolve(false);
    // 0: no wait at all (settledWithin(0)), as @mtstore/postgres takes it; otherwise Redis's silence.
    return this.#closeTimeout === 0 ? this.#calls.settledWithin(0) : this.#calls.settled(this.#closeTimeout);
  }

  /**
   * Quits a connection we own (gracefully when it is up); leaves the application's
   * client alone. First the calls made before close() finish: those not sent yet (still
   * waiting for the connection and the layout check of a fresh instance, queued while
   * connecting, or in the auto-pipeline) would otherwise reject "Connection is closed."
   * on a server that answers, a write's outcome unknown. That wait ends once
   * closeTimeoutMillis pass without a call settling (Redis silent or unreachable): then the
   * sockets are destroyed at once, and every call still waiting rejects saying whether
   * it may have been applied. Otherwise QUIT, answered after every command sent before
   * it, gets closeTimeoutMillis too (0: no QUIT): over a link that went silent meanwhile no answer
   * comes, and QUIT would wait for `commandTimeout` (5 s).
   */
  async close(): Promise<void> {
    if (!this.owned) {
      // The application's client stays open, so the calls finish on it all the same, but
      // they did after close() had resolved (a thousand of them, none settled yet): an
      // application that then quit or disconnected its client cut them off. They settle
      // first, as on a connection mtstore owns; as long as the client's own settings
      // (commandTimeout, retries) make them take, as a MongoDB client of the application.
      // A call the client holds once the application closed it for good is rejected
      // (AppClientWatch): ioredis would keep some queued for ever.
      this.#watch?.checkSoon();
      await this.#calls.settled();
      return;
    }
    const client = this.client;
    this.#closing = true;
    const answered = await this.#letCallsFinish();
    // A connect under way is over: the calls waiting for it reject (see connect()).
    this.#abortConnect?.(new Error(CONNECTION_CLOSED));
    // closeTimeoutMillis 0: QUIT is not waited for either; the sockets go at once.
    if (answered && client.status === 'ready' && this.#closeTimeout > 0) {
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([
        client.quit().then(
          () => true,
          () => false,
        ),
        new Promise<false>((resolve) => {
          timer = setTimeout(resolve, this.#closeTimeout, false);
        }),
      ]);
      clearTimeout(timer);
      if (answered) {
        // ioredis' quit() leaves the failoverDetector's sentinel connections open (only
        // disconnect() closes them): they would outlive the storage and keep the process up.
        if (client instanceof Redis && isSentinelClient(client)) client.disconnect();
        return;
      }
    }
    // Taken before disconnect(): a Cluster forgets its nodes there.
    const connections = client instanceof Cluster ? client.nodes() : [client];
    const between = client instanceof Redis && client.status === 'reconnecting';
    client.disconnect();
    // disconnect() ends a socket gracefully and destroys it only after disconnectTimeout
    // (2 s) without the peer's FIN; the commands in flight reject once it is gone.
    for (const connection of connections) destroySocket(connection);
    // Between two attempts there is no socket: disconnect() only cancels the next attempt
    // and leaves the queued commands to their commandTimeout. (A Cluster mtstore opens
    // queues nothing, and its node connections never wait to reconnect.)
    if (between) (client as unknown as FlushableQueue).flushQueue?.(new Error(CONNECTION_CLOSED));
    // ioredis rejects the calls cut off when each socket's close is read, a turn or more
    // later (for thousands, seconds of building their errors): close() resolved before
    // them. It resolves once they settled (docs/contract.md §9); the quiet bound only
    // keeps a call ioredis never settles from holding it for ever.
    await this.#calls.settled(CLOSE_GRACE_MS);
  }
}

/**
 * A bound on the first connect of a client that finds its master through Redis Sentinel
 * (`sentinels` and `name` in its options), or undefined for any other client. ioredis
 * asks each sentinel in turn for the master's address and, when none answers, starts
 * over after `sentinelRetryStrategy` (by default for ever, 10 ms to 1 s apart), all of it
 * inside the one connect() call: `connectTimeout` bounds only the connection to an
 * address once one is known. With no sentinel reachable, every call of a new instance
 * waited for that connect and stayed pending for ever (commandTimeout starts only when
 * the command is given to the client). The calls waiting now reject after
 * `connectTimeout` (mtstore's 5 s; none when it is 0); ioredis goes on trying in the
 * background, and a later call goes through once a sentinel names a master that answers
 * (until then it is queued, and bounded by commandTimeout).
 */
function sentinelDeadline(client: RedisClient, lastError: () => Error | undefined): { expired: Promise<never>; clear: () => void } | undefined {
  if (!(client instanceof Redis) || !isSentinelClient(client)) return undefined;
  const bound = client.options.connectTimeout;
  if (typeof bound !== 'number' || bound <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Never an AUTH command's arguments (withoutCredentials).
      const last = withoutCredentials(lastError(), client.options) as Error | undefined;
      const why = last === undefined ? '' : ` (${sentinelReason(last)})`;
      reject(new Error(`no Redis Sentinel named a master for "${String(client.options.name)}" that answered within connectTimeout (${bound} ms)${why}; ioredis keeps trying in the background, and a later call goes through once one does: ${NOT_SENT}`, { cause: last }));
    }, bound);
  });
  expired.catch(() => {});
  return { expired, clear: () => clearTimeout(timer) };
}

/** Whether a single-server client finds its master through Redis Sentinel. */
function isSentinelClient(client: Redis): boolean {
  const sentinels: unknown = client.options.sentinels;
  return Array.isArray(sentinels) && sentinels.length > 0;
}

/** ioredis' Sentinel lookup failing ("All sentinels are unreachable. Retrying from scratch after 10ms. Last error: …"). */
const SENTINELS_UNREACHABLE = 'All sentinels are unreachable';

/** What a failed Sentinel lookup says, in mtstore's words, with the last sentinel's error when ioredis gives one. */
function sentinelReason(error: Error): string {
  if (!error.message.startsWith(SENTINELS_UNREACHABLE)) return `the last error: ${error.message}`;
  const last = /Last error: (.*)$/s.exec(error.message)?.[1];
  return `no sentinel answered${last === undefined ? '' : `; the last one's error: ${last}`}`;
}

/** The wait for the connection attempt under way of each application client (connectAttempt). */
const attempts = new WeakMap<RedisClient, Promise<Error | undefined>>();

/**
 * Resolves once the connection attempt under way of `client` is ready (undefined) or
 * has failed (its last 'error', or "Connection is closed."): never rejects. One wait per
 * attempt, however many instances ask: four listeners on the client while it connects,
 * not four per instance (twelve storages made Node warn MaxListenersExceededWarning).
 */
function connectAttempt(client: RedisClient): Promise<Error | undefined> {
  let attempt = attempts.get(client);
  if (attempt !== undefined) return attempt;
  let lastError: Error | undefined;
  const onError = (error: unknown): void => {
    if (error instanceof Error) lastError = error;
  };
  let ready = false;
  // Only read here: the application's own 'error' listener (or its absence) stays as it was.
  client.prependListener('error', onError);
  attempt = whenSettled(client, () => {
    attempts.delete(client);
    client.off('error', onError);
    ready = client.status === 'ready';
  }).then(() => (ready ? undefined : (lastError ?? new Error(CONNECTION_CLOSED))));
  attempts.set(client, attempt);
  return attempt;
}

/** ioredis' rejection of a command on a subscribed connection. */
const SUBSCRIBER_MODE_REPLY = 'Connection in subscriber mode';
const SUBSCRIBER_MODE = 'the client is in subscriber mode (it ran SUBSCRIBE or PSUBSCRIBE), where Redis runs no other command: pass a connection that is not subscribed (client.duplicate())';

/** ioredis 5 internals: a single-server client that ran SUBSCRIBE keeps its channels here. */
function inSubscriberMode(client: RedisClient): boolean {
  if (!(client instanceof Redis)) return false;
  const condition = (client as unknown as { condition?: { subscriber?: unknown } | null }).condition;
  return Boolean(condition?.subscriber);
}

/**
 * The node connections of a Cluster without an offline queue (what mtstore opens, what
 * its README advises for an application's), watched so that no call of mtstore's is
 * refused as a failover while one is being set up. ioredis' Cluster with
 * `enableOfflineQueue: false` refuses a command whose node connection is still being
 * set up (`connecting` / `connect`, not `wait` nor `ready`) with "Connection is closed.",
 * a failover to it: the command is held `retryDelayOnFailover` (100 ms by default) and
 * sent again.
 *
 * At the start (nodeConnectionsReady, `firstReady`): a fresh Cluster has one node
 * connection ready (its ready check's) and the others lazy, so two commands for one lazy
 * node in a row met that: the layout check's MULTI after `INFO memory` (sent to a random
 * node) on the same node, the first call's after either; about 1 fresh instance in 5
 * waited 100+ ms on its first call (13 and 15 of 40 held with `retryDelayOnFailover:
 * 60_000`, an application's Cluster 23 of 40: `cluster-startup.test.ts`).
 *
 * Later (`held`): a node connection that drops ends (no retryStrategy in a Cluster) and
 * leaves the pool (`-node`); nothing puts a new one there until a slots refresh, so
 * commands for that master's slots went to another master and bounced on MOVED (an
 * auto-pipeline gave up after `maxRedirections`: the call failed with "MOVED 2843 …"),
 * and the new connection the refresh added (`+node`, lazy) refused a command while the
 * first one connected it: held for the failover. So a master's connection that ends while
 * the Cluster is ready (and was not one that just failed to connect: that would loop)
 * refreshes the slots at once, and a master's connection added while the Cluster is up
 * is connected at once (a turn later: ioredis may be sending it the command that made
 * it, which connects it). Meanwhile mtstore's calls on this client wait before sending
 * anything: until the refresh is over and the new connection ready or failed, and at most
 * `retryDelayOnFailover` (what a refused call would wait anyway: a master that does not
 * answer holds the calls for the others that long, not until its new connection gives
 * up: behind a proxy that went dark, with `commandTimeout` 1 s, a call for another master
 * waited 86 ms at most with the default 100 ms, 1.5 s without the bound). A master whose
 * last attempt failed is still connected on its next
 * `+node`, but no call waits for it (a master that is down does not hold the calls for
 * the others at every attempt): those for it fail, or wait for the failover, as before.
 * Replicas get no command of mtstore's (scaleReads 'master') and are left alone (a
 * Cluster with a replica per master, a replica killed and restarted, a master killed
 * and its replica promoted: failover.test.ts). With `clusterNodeRetryStrategy` a node
 * connection that drops reconnects instead of ending, and its reconnect is waited for
 * the same way (#watchReconnects).
 *
 * When the Cluster is ready (again, after reconnecting as a whole), its master connections
 * are connected the same way: one that a refresh added while it waited to reconnect
 * would still be lazy.
 *
 * One per client (a WeakMap): three listeners on the Cluster however many storages share
 * it, and, on a node connection being set up, three until it is ready or failed (and
 * one for good with `clusterNodeRetryStrategy`).
 */
class NodeWatch {
  /** The node connections being waited for (each settles once); see nodeSettled(). */
  readonly #waits = new WeakMap<Redis, Promise<void>>();
  /** Node connections that failed their connect: their end refreshes nothing. */
  readonly #failed = new WeakSet<Redis>();
  /** Masters (node keys) whose last connection attempt failed: no call waits for the next. */
  readonly #down = new Set<string>();
  /** Node connections whose reconnects are watched (clusterNodeRetryStrategy; see #watchReconnects). */
  readonly #reconnecting = new WeakSet<Redis>();
  /** Refreshes and node connections under way that calls wait for. */
  #pending = 0;
  #held: Promise<void> | undefined;
  #release: (() => void) | undefined;

  constructor(readonly client: Cluster) {
    const reconnects = typeof client.options.clusterNodeRetryStrategy === 'function';
    client.on('+node', (node: Redis) => {
      if (reconnects) this.#watchReconnects(node);
      this.#added(node);
    });
    client.on('-node', (node: Redis) => this.#removed(node));
    // Ready (again): a master connection the pool added while the Cluster was not up (a
    // refresh that ended while it waited to reconnect) is still lazy.
    client.on('ready', () => this.#hold(this.firstReady()));
    // An application's Cluster may have its node connections already.
    if (reconnects) for (const node of client.nodes()) this.#watchReconnects(node);
  }

  /** Undefined while no refresh or new master connection is under way; else a promise that resolves once none is (never rejects). */
  get held(): Promise<void> | undefined {
    return this.#held;
  }

  /** Every master connection ready, or failed: before an instance's first calls. */
  firstReady(): Promise<unknown> {
    return Promise.all(this.client.nodes('master').map((node) => this.nodeSettled(node)));
  }

  /**
   * One node connection: resolves once it is ready or has failed (never rejects),
   * connecting it first when it waits for its first command. One wait per connection
   * being set up, however many instances ask.
   */
  nodeSettled(node: Redis): Promise<void> {
    if (node.status !== 'wait' && node.status !== 'connecting' && node.status !== 'connect' && node.status !== 'reconnecting') return Promise.resolve();
    let wait = this.#waits.get(node);
    if (wait !== undefined) return wait;
    const key = nodeKey(node);
    // Marked at the 'close' itself: the pool's 'end' listener (-node) runs before any promise callback would.
    wait = whenSettled(node, () => {
      this.#waits.delete(node);
      if (node.status === 'ready') {
        this.#down.delete(key);
        // A connection that reconnects (clusterNodeRetryStrategy) may fail an attempt and then get through.
        this.#failed.delete(node);
      } else {
        this.#failed.add(node);
        this.#down.add(key);
      }
    });
    // connect() resolves on 'ready' and rejects on 'close' (the 'error' event before it has the pool's listener).
    if (node.status === 'wait') node.connect().catch(() => {});
    this.#waits.set(node, wait);
    return wait;
  }

  #added(node: Redis): void {
    if (!isUp(this.client) || node.options.readOnly === true) return;
    const key = nodeKey(node);
    if (!isMaster(this.client, key)) return;
    const wait = new Promise<void>((resolve) => {
      // A turn later: the MOVED that added it may be sending it a command (which connects it) right now.
      queueMicrotask(() => resolve(this.nodeSettled(node)));
    });
    if (!this.#down.has(key)) this.#hold(wait);
  }

  /**
   * With `clusterNodeRetryStrategy`, a node connection that drops is not ended and
   * replaced (no `-node`, no `+node`): it reconnects by itself, and while it does the
   * Cluster refuses a command for it ("Connection is closed.", no offline queue) and
   * resends it only after `retryDelayOnFailover` (a master's connection killed, calls
   * right after it were held the whole 60 s of a test's `retryDelayOnFailover`). So a
   * master's connection that starts reconnecting while the Cluster is ready holds
   * mtstore's calls until its next attempt is ready or has failed, bounded as any hold;
   * a master whose last attempt failed holds nothing (a master that is down reconnects
   * for ever: no call waits at each attempt). One listener per node connection.
   */
  #watchReconnects(node: Redis): void {
    if (this.#reconnecting.has(node)) return;
    this.#reconnecting.add(node);
    node.on('reconnecting', () => {
      if (this.client.status !== 'ready' || node.options.readOnly === true) return;
      const key = nodeKey(node);
      if (!isMaster(this.client, key)) return;
      const down = this.#down.has(key);
      // Tracked either way: a master that gets through again holds the calls at its next drop.
      const wait = this.nodeSettled(node);
      if (!down) this.#hold(wait);
    });
  }

  #removed(node: Redis): void {
    if (this.client.status !== 'ready' || this.#failed.has(node) || !isMaster(this.client, nodeKey(node))) return;
    this.#hold(
      new Promise<void>((resolve) => {
        // Called once the refresh is over, failed or not (within slotsRefreshTimeout per node tried).
        this.client.refreshSlotsCache(() => resolve());
      }),
    );
  }

  /**
   * Calls wait until `work` is over, or `retryDelayOnFailover` has passed (what a call
   * refused meanwhile would wait anyway), whichever comes first. With
   * `retryDelayOnFailover: 0` (a refused call fails at once) the node connections'
   * `connectTimeout` (ioredis' default 10 s) bounds it: an application's node that
   * accepted the connection and never answered its ready check would hold them for ever.
   */
  #hold(work: Promise<unknown>): void {
    if (this.#pending++ === 0) {
      this.#held = new Promise<void>((resolve) => {
        this.#release = resolve;
      });
    }
    let timer: NodeJS.Timeout | undefined;
    let over = false;
    const done = (): void => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      if (--this.#pending > 0) return;
      const release = this.#release;
      this.#held = undefined;
      this.#release = undefined;
      release?.();
    };
    void work.then(done);
    const failover = this.client.options.retryDelayOnFailover;
    const bound = typeof failover === 'number' && failover > 0 ? failover : (this.client.options.redisOptions?.connectTimeout ?? IOREDIS_CONNECT_TIMEOUT);
    if (!over && bound > 0) {
      timer = setTimeout(done, bound);
      // The watch alone does not keep the process alive.
      timer.unref();
    }
  }
}

/** ioredis' default `connectTimeout`. */
const IOREDIS_CONNECT_TIMEOUT = 10_000;

/** ioredis' key of a node connection in its pool and slot map (`host:port`). */
function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/** Whether the Cluster is connecting or connected (not waiting for its first command, closing, closed or between two attempts). */
function isUp(client: Cluster): boolean {
  return client.status === 'connecting' || client.status === 'connect' || client.status === 'ready';
}

/** Whether `key` serves some slot as its master in the Cluster's slot map (empty before the first refresh). */
function isMaster(client: Cluster, key: string): boolean {
  for (const nodes of client.slots) if (nodes !== undefined && nodes[0] === key) return true;
  return false;
}

/**
 * Resolves once a connection being set up (a Cluster node's, or an application's
 * client) is ready, or closed or ended (never rejects); `done` runs in that event's
 * listener.
 */
function whenSettled(node: RedisClient, done: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const settle = (): void => {
      node.off('ready', settle);
      node.off('close', settle);
      node.off('end', settle);
      done();
      resolve();
    };
    node.on('ready', settle);
    node.on('close', settle);
    node.on('end', settle);
  });
}

/** The NodeWatch of a Cluster without an offline queue; undefined for any other client. */
function nodeWatchOf(client: RedisClient): NodeWatch | undefined {
  if (!(client instanceof Cluster) || client.options.enableOfflineQueue !== false) return undefined;
  return nodeWatches(client);
}

const nodeWatches = onePerClient((client) => new NodeWatch(client as Cluster));

/**
 * Resolves once every master connection of a Cluster without an offline queue is ready,
 * or has failed (NodeWatch): for the first calls of an instance, before its layout check.
 * The masters connect side by side, each as ioredis would on its first command (the
 * first calls wait about one handshake either way). A connection that fails is left to
 * the call that needs it, which fails or follows MOVED as before; a node connection ends
 * on failure (no retryStrategy in a Cluster), within its `connectTimeout`.
 */
function nodeConnectionsReady(watch: NodeWatch | undefined): Promise<unknown> {
  return watch === undefined ? Promise.resolve() : watch.firstReady();
}

/** ioredis' message for a command on (or a connect that ended in) a closed connection. */
const CONNECTION_CLOSED = 'Connection is closed.';

/**
 * ioredis' Cluster refusing a command it resends (one lost with its node connection,
 * held back retryDelayOnFailover) once it is ended or no longer ready: with close()
 * under way, a call that was in flight and may have been applied, though the words
 * read as if it never went out.
 */
const CLUSTER_GONE = new Set(['Cluster is ended.', "Cluster isn't ready and enableOfflineQueue options is false"]);

function isClusterGone(error: Error): boolean {
  return CLUSTER_GONE.has(error.message);
}

/**
 * What a Cluster's refusal of a command means, in mtstore's words, or undefined when
 * `error` is not one. ioredis retries a command whose slot's master does not answer
 * (its connection closed or being set up: "Connection is closed."; CLUSTERDOWN while
 * the cluster marks a master failed and before a replica takes over; MOVED, ASK,
 * TRYAGAIN while slots move) up to `maxRedirections` times, `retryDelayOnFailover` /
 * `retryDelayOnClusterDown` apart (16 × 100 ms by default), then rejects with the last
 * reply, or "Too many Cluster redirections. Last error: …". During a failover (a
 * master killed: its replica is promoted about cluster-node-timeout later) callers
 * got "Connection is closed." for a storage that was not closed, or "CLUSTERDOWN The
 * cluster is down", a MOVED to the master that was gone, or, for a MULTI, EXECABORT
 * (failover.test.ts). "Connection is closed." counts only while the
 * Cluster is ready (a node connection, not the Cluster, was lost); a first connect
 * that failed keeps its own reason.
 */
function clusterFailure(client: Cluster, error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const message = error.message;
  // A MULTI whose commands were refused as they were queued (MOVED to a master that is
  // gone…): Redis discards it at EXEC, and ioredis rejects with that, the refusals
  // attached. mtstore's transactions are well formed, so those say why.
  if (message.startsWith('EXECABORT')) {
    const previous = (error as { previousErrors?: unknown }).previousErrors;
    for (const refusal of Array.isArray(previous) ? previous : []) {
      const reason = clusterFailure(client, refusal);
      if (reason !== undefined) return reason;
    }
    return undefined;
  }
  const last = message.startsWith(TOO_MANY_REDIRECTIONS) ? message.slice(TOO_MANY_REDIRECTIONS.length).replace(/^(Error|ReplyError): /, '') : message;
  if (last.startsWith('CLUSTERDOWN')) return CLUSTER_DOWN;
  if (last !== message || /^(MOVED|ASK|TRYAGAIN) /.test(message) || (message === CONNECTION_CLOSED && client.status === 'ready')) return NO_MASTER;
  if (message === CLUSTER_NOT_READY) return CLUSTER_RECONNECTING;
  return undefined;
}

/**
 * A Cluster's connect that failed because no node answered its slots query, in mtstore's
 * words, or undefined when `error` is not that. ioredis' Cluster asks its nodes for the
 * slot map (CLUSTER SLOTS on a connection of its own, each node in turn, each within
 * `slotsRefreshTimeout`) and, once every one failed, ends the attempt with "None of
 * startup nodes is available" (a Cluster mtstore opens; an application's Cluster gives
 * the first calls, which wait for its attempt, ClusterAllFailedError's "Failed to
 * refresh slots cache."): whether the nodes were down or only slow to answer, ioredis'
 * words said neither. The last node's failure says which: a timeout (a process stalled
 * past `slotsRefreshTimeout` fails it though the node answered: cluster-startup.test.ts)
 * or its connection's error. `lastError`: the client's last 'error' event, which carries
 * that failure.
 */
function startupFailure(client: Cluster, error: unknown, lastError: Error | undefined, owned: boolean): string | undefined {
  const noNode = error instanceof Error && error.message === NO_STARTUP_NODE;
  const allFailed = isAllFailed(error) ? error : noNode && isAllFailed(lastError) ? lastError : undefined;
  if (allFailed === undefined && !noNode) return undefined;
  const last = allFailed?.lastNodeError;
  const why =
    last instanceof Error && last.message === 'timeout'
      ? ` within slotsRefreshTimeout (${client.options.slotsRefreshTimeout} ms)`
      : last instanceof Error
        ? ` (the last one tried: ${(withoutCredentials(last, client.options.redisOptions) as Error).message})`
        : '';
  const next = owned ? '; the Cluster keeps reconnecting by itself, and a later call goes through once a node answers' : '';
  return `no node of the Redis Cluster answered its slots query (CLUSTER SLOTS)${why}${next}`;
}

/** ioredis' Cluster ending a connect attempt once no node answered its slots query. */
const NO_STARTUP_NODE = 'None of startup nodes is available';

/** ioredis' ClusterAllFailedError ("Failed to refresh slots cache."): every node tried failed, the last one's error on it. */
function isAllFailed(error: unknown): error is Error & { lastNodeError?: unknown } {
  return error instanceof Error && error.name === 'ClusterAllFailedError';
}

const TOO_MANY_REDIRECTIONS = 'Too many Cluster redirections. Last error: ';
const CLUSTER_NOT_READY = "Cluster isn't ready and enableOfflineQueue options is false";
const NO_MASTER =
  "the Redis Cluster has no master answering for the call's slot (the master is down or unreachable, or a failover or a slot migration is under way), still after ioredis' retries (maxRedirections, retryDelayOnFailover apart)";
const CLUSTER_DOWN =
  "the Redis Cluster is down (CLUSTERDOWN: a master failed and no replica has taken over yet, or a slot has no master), still after ioredis' retries (maxRedirections, retryDelayOnClusterDown apart)";
const CLUSTER_RECONNECTING = 'the Redis Cluster lost every node connection and is reconnecting; without an offline queue it refuses calls until a node answers';
const MAY_HAVE_BEEN_APPLIED = 'it may or may not have been applied';
const NOT_SENT = 'the call was not sent, nothing of it was applied';

/**
 * `error` without credentials: ioredis sets `command: { name, args }` on the reply
 * error of the AUTH (or HELLO … AUTH) it sends while connecting, so the password would
 * travel as the cause of the caller's error. Such an error becomes a plain copy (name,
 * message, stack; the command's name only), and the password, where a message quotes
 * it, is replaced. Any other error is returned as it is.
 */
export function withoutCredentials(error: unknown, options: { password?: unknown } | undefined): unknown {
  if (!(error instanceof Error)) return error;
  const command = (error as { command?: { name?: unknown } }).command;
  const name = typeof command?.name === 'string' ? command.name.toLowerCase() : undefined;
  const password = typeof options?.password === 'string' && options.password !== '' ? options.password : undefined;
  // A short password is looked for as a word of its own (hideSecret): `a` is in every message.
  const quoted = quotesSecret(error.message, password) || quotesSecret(error.stack ?? '', password);
  if (name !== 'auth' && name !== 'hello' && !quoted) return error;
  const hide = (text: string): string => hideSecret(text, password);
  const copy = new Error(hide(error.message));
  copy.name = error.name;
  if (error.stack !== undefined) copy.stack = hide(error.stack);
  if (name !== undefined) Object.assign(copy, { command: { name } });
  return copy;
}

/** ioredis 5 internals: rejects every queued and in-flight command with `error`. */
interface FlushableQueue {
  flushQueue?(error: Error): void;
}

/**
 * How long close() waits for Redis to answer (the calls in flight, then QUIT) before it
 * drops the connection, unless a storage's `closeTimeoutMillis` says otherwise; the
 * bus's always. Also the bound on ioredis settling the calls cut off (end of close()).
 */
export const CLOSE_GRACE_MS = 1_000;

/**
 * What a call cut off by close() rejects with; `noun`: what was closed, as its owner is
 * called ("storage", "bus"), `sent`: whether the call may have been sent, `graceMs`: the
 * closeTimeoutMillis that ran out (0: close() did not wait, Redis may well have answered).
 */
function closedWhileSilent(noun: string, sent: boolean, graceMs: number): string {
  const outcome = sent ? 'with the call queued or in flight: it may or may not have been applied' : 'before the call was sent: nothing of it was applied';
  const why = graceMs === 0 ? 'with closeTimeoutMillis 0 (close() does not wait)' : 'while Redis did not answer';
  return `the ${noun} was closed ${why}, ${outcome}`;
}

/**
 * Destroys a connection's socket at once; false when it has none. ioredis' own
 * disconnect() ends the socket gracefully and destroys it only after disconnectTimeout
 * (2 s) without the peer's FIN: a peer that went silent never sends one. ioredis takes
 * the destroyed socket as a lost connection: it reconnects (or, after disconnect() or
 * QUIT, ends) and settles the commands that were on it.
 */
export function destroySocket(connection: Redis): boolean {
  const stream: { destroy?: unknown } | undefined = connection.stream;
  if (typeof stream?.destroy !== 'function') return false;
  connection.stream.destroy();
  return true;
}

/** ioredis 5: the commands written to the current socket and not answered yet. */
interface PendingQueue {
  commandQueue?: { length?: unknown };
}

/**
 * Drops a connection mtstore opened once it has gone silent: commands are waiting for
 * their answers and not one byte has come from Redis for `commandTimeout` ms. A peer
 * that vanished without FIN or RST (a NAT that forgot the flow, a pulled cable, a host
 * that froze) otherwise leaves the connection `ready` and every command on it timing
 * out, until TCP gives up (over two hours of keep-alive with Linux's defaults): the
 * adapter would never recover by itself. Destroying the socket makes ioredis reconnect
 * as after any drop (failInFlightOnLoss rejects what was in flight at once), and the
 * calls after that succeed as soon as a new connection gets through. It also bounds a
 * reconnect whose handshake is never answered (ioredis' own ready check takes two
 * `commandTimeout`s and a `disconnectTimeout` to give up).
 *
 * While a socket is open, it is checked every `commandTimeout / 2` ms: two checks in a
 * row that find commands waiting and no byte read since the check before mean some
 * command has waited at least `commandTimeout` with the server saying nothing, so the
 * socket goes within 1.5 × `commandTimeout` of the silence starting. A check that runs
 * late because the event loop was blocked counts once only: the loop reads the socket
 * before the next one, so a reply that was waiting there is seen. A slow server that
 * still sends bytes (a long pipeline draining) is left alone; one that sends nothing
 * for `commandTimeout` with commands waiting (a script running that long, a server
 * frozen) is treated like a dead link: those commands time out anyway.
 *
 * Not ioredis' `socketTimeout` (the same idea): it is missing before 5.4, reconnected
 * in a loop on idle connections until 5.4.2, and through 5.x its timer outlives the
 * socket it was armed for and destroys the next one. Off when `commandTimeout` is
 * (nothing bounds a command then either), and when this ioredis has no `commandQueue`.
 */
export function dropWhenSilent(connection: Redis): void {
  const timeout = connection.options.commandTimeout;
  if (typeof timeout !== 'number' || !(timeout > 0)) return;
  const pending = (): number | undefined => {
    const length = (connection as unknown as PendingQueue).commandQueue?.length;
    return typeof length === 'number' ? length : undefined;
  };
  if (pending() === undefined) return;
  // Per socket, from its TCP connect (ioredis emits 'connect' before the handshake) to its close.
  connection.on('connect', () => {
    const stream = connection.stream;
    /** bytesRead at the previous check that found commands waiting; undefined: none waiting then. */
    let read: number | undefined;
    let quiet = 0;
    const timer = setInterval(() => {
      if (connection.stream !== stream || stream.destroyed) {
        clearInterval(timer);
        return;
      }
      const waiting = pending() ?? 0;
      if (waiting === 0 || read !== stream.bytesRead) {
        read = waiting === 0 ? undefined : stream.bytesRead;
        quiet = 0;
        return;
      }
      if (++quiet < 2) return;
      clearInterval(timer);
      destroySocket(connection);
    }, Math.ceil(timeout / 2));
    // The check alone does not keep the process alive.
    timer.unref();
    stream.once('close', () => clearInterval(timer));
  });
}

/** ioredis 5 internals: the commands that were in flight when the connection closed, kept for a resend. */
interface InFlightQueue {
  prevCommandQueue?: { shift(): { command?: { reject?(error: Error): void } } | undefined } | null;
}

/**
 * With `autoResendUnfulfilledCommands: false`, ioredis keeps the commands that were in
 * flight when the connection dropped and silently forgets them on reconnect, so each
 * would wait for `commandTimeout` (5 s) before failing. They cannot be answered any
 * more: reject them as soon as the loss is known (ioredis emits 'reconnecting' right
 * after setting them aside). Only on connections mtstore opens (also the bus's
 * subscriber, which has no command timeout: a SUBSCRIBE fails here or with its
 * connection's end), and only when resending is off; anything this does not find
 * (another ioredis version) leaves the timeout, where there is one, to act.
 */
export function failInFlightOnLoss(client: Redis): void {
  if (client.options.autoResendUnfulfilledCommands !== false) return;
  client.on('reconnecting', () => {
    const internals = client as unknown as InFlightQueue;
    const queue = internals.prevCommandQueue;
    if (queue === null || queue === undefined || typeof queue.shift !== 'function') return;
    internals.prevCommandQueue = null;
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      item.command?.reject?.(new Error(CONNECTION_LOST));
    }
  });
}

const CONNECTION_LOST = 'the connection was lost with the command in flight: it may or may not have been applied';
const RETRIES_AFTER_SENDING = 'the connection was lost with the call in flight or queued, and was not back within maxRetriesPerRequest reconnect attempts: it may or may not have been applied';
const RETRIES_BEFORE_SENDING = 'the connection was lost before the call was sent, and was not back within maxRetriesPerRequest reconnect attempts: the call was not sent, nothing of it was applied';

/** ioredis' MaxRetriesPerRequestError (not exported by ioredis): the message is the same since ioredis 4. */
function isMaxRetries(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('Reached the max retries per request limit');
}
/** ioredis' rejection of the unanswered rest of a pipeline or MULTI whose connection closed after a partial answer. */
const COMMAND_ABORTED = 'Command aborted due to connection close';
const CLIENT_CLOSED_AFTER_SENDING = 'the client passed in was closed by its application (quit() or disconnect()) with the command in flight: it may or may not have been applied';
const APP_CLOSED = 'The client passed in was closed by its application (quit() or disconnect()); mtstore never reopens a client it does not own.';
const APP_CLOSED_AFTER_SENDING = `${APP_CLOSED} The call was queued, in flight or held back to be resent: it may or may not have been applied`;
const APP_CLOSED_BEFORE_SENDING = `${APP_CLOSED} The call was not sent: nothing of it was applied`;

/** ioredis 5 internals: set by disconnect() and quit(); the timer of a reconnect to come. */
interface ClosingState {
  manuallyClosing?: unknown;
  reconnectTimeout?: unknown;
}

/**
 * Whether the application closed its client for good: status `end`, or closed by
 * disconnect() / quit() with no reconnect to come in a state ioredis never leaves by
 * itself, where a command is queued and never sent nor rejected: a Cluster in
 * `close` (each of its node connections' ends sets it again after the one `end`) or
 * `disconnecting` (disconnect() while it waited to reconnect: no node is left to end),
 * a single-server client still `reconnecting` (disconnect() while it waited to
 * reconnect only cancels the reconnect; no event comes).
 */
export function closedForGood(client: RedisClient): boolean {
  if (client.status === 'end') return true;
  const state = client as unknown as ClosingState;
  if (state.manuallyClosing !== true || state.reconnectTimeout) return false;
  return client instanceof Cluster ? client.status === 'close' || client.status === 'disconnecting' : client.status === 'reconnecting';
}

/**
 * The calls of mtstore's on one application's client (every storage and bus on it),
 * rejected with ioredis' "Connection is closed." once the application closed the client
 * for good (closedForGood) with some still held: ioredis settles most of them itself,
 * but not a command a Cluster holds back to resend (a node connection dropped with it
 * in flight, retryDelayOnFailover) when disconnect() comes in that window, nor one
 * queued while the client waited to reconnect. Checked a turn after each `end` and
 * `close` (ioredis rejects what it will first), after a Cluster's `disconnecting`
 * that follows `reconnecting`, and, while a single-server client waits to reconnect,
 * when its reconnect is due and every 100 ms after (its disconnect() then says nothing).
 * One per client (a WeakMap): five listeners however many storages share it.
 */
class AppClientWatch {
  /** The calls held (see hold()): core's CallList, for the reason it gives. */
  readonly #held = new CallList<FailableCall>();
  #reconnecting = false;
  #poll: NodeJS.Timeout | undefined;

  constructor(readonly client: RedisClient) {
    const check = (): void => this.checkSoon();
    client.on('end', check);
    client.on('close', check);
    client.on('connecting', () => {
      this.#reconnecting = false;
    });
    client.on('disconnecting', () => {
      if (this.#reconnecting) check();
    });
    client.on('reconnecting', (delay: unknown) => {
      this.#reconnecting = true;
      if (client instanceof Redis) this.#pollWhileReconnecting(typeof delay === 'number' && delay > 0 ? delay + 1 : 1);
    });
  }

  /**
   * `work`'s outcome through `onValue` / `onError` (run()'s own: the caller's promise is
   * this one, not another chained on it), unless the client is closed for good first:
   * then `onError` gets "Connection is closed." and `work`'s outcome is ignored.
   */
  hold<T, R>(work: Promise<T>, onValue: (value: T) => R, onError: (error: unknown) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const call = new HeldCall<R>(resolve, reject, onError);
      this.#held.add(call);
      work.then(
        (value) => {
          // No longer held: #rejectIfClosed failed the call already.
          if (this.#held.release(call)) call.settle(onValue, value);
        },
        (error: unknown) => {
          if (this.#held.release(call)) call.fail(error);
        },
      );
    });
  }

  checkSoon(): void {
    if (this.#held.size > 0) setImmediate(() => this.#rejectIfClosed());
  }

  #rejectIfClosed(): void {
    if (this.#held.size === 0 || !closedForGood(this.client)) return;
    for (const call of this.#held.drain()) call.fail(new Error(CONNECTION_CLOSED));
  }

  #pollWhileReconnecting(ms: number): void {
    clearTimeout(this.#poll);
    this.#poll = setTimeout(() => {
      this.#poll = undefined;
      if (this.client.status !== 'reconnecting') return;
      if (closedForGood(this.client)) this.#rejectIfClosed();
      else this.#pollWhileReconnecting(100);
    }, ms);
    // The watch alone does not keep the process alive.
    this.#poll.unref();
  }
}

/** A call in an AppClientWatch's list: settled with `error` through its `onError` when the client is closed for good. */
interface FailableCall extends ListedCall {
  fail(error: unknown): void;
}

/**
 * A call an AppClientWatch holds: one object with how to settle it and its links in the
 * watch's list (not a closure per call).
 */
class HeldCall<R> implements FailableCall {
  listed = true;
  prev: ListedCall | undefined = undefined;
  next: ListedCall | undefined = undefined;
  readonly #resolve: (value: R) => void;
  readonly #reject: (error: unknown) => void;
  readonly #onError: (error: unknown) => R;

  constructor(resolve: (value: R) => void, reject: (error: unknown) => void, onError: (error: unknown) => R) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#onError = onError;
  }

  settle<T>(onValue: (value: T) => R, value: T): void {
    settleWith(this.#resolve, this.#reject, onValue, value);
  }

  fail(error: unknown): void {
    settleWith(this.#resolve, this.#reject, this.#onError, error);
  }
}

/** Settles a promise with `step(arg)`: what it returns, or what it throws. */
function settleWith<A, R>(resolve: (value: R) => void, reject: (error: unknown) => void, step: (arg: A) => R, arg: A): void {
  try {
    resolve(step(arg));
  } catch (error) {
    reject(error);
  }
}

/** run()'s `started` for a call whose `op` has not run. */
const NOT_RUN = -1;

/**
 * A single-server client's sockets as its 'connect' and 'close' events tell them, to say
 * whether a call ioredis gave up on after `maxRetriesPerRequest` was sent: that flush
 * rejects the commands written to the socket that closed and those waiting in the
 * offline queue with one and the same error. ioredis writes a command only on a
 * connected socket (the offline queue goes out once the next one is ready, after its
 * 'connect'); a command given between a 'close' and the next 'connect' waits in the
 * queue. Each call takes the `stamp` when its op runs: one that ran after a 'close',
 * with no 'connect' since, was not sent. (Events come a tick after the status changes,
 * so a call in that tick counts as sent: said "may or may not", never wrongly "not
 * sent".) A Cluster's node connections end instead of reconnecting (no such flush):
 * nothing is counted there, and every call counts as sent. One per client (a WeakMap).
 */
class SocketLog {
  /** 'connect' and 'close' events so far. */
  stamp = 0;
  /** `stamp` at the last 'connect'. */
  #connected = 0;

  constructor(client: RedisClient) {
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes false (a Cluster counted too): a Cluster's calls never fail with MaxRetriesPerRequestError (its node connections end instead of retrying), so unsent() is never asked for one; only two listeners more. Its `true` goes with it (max-retries kills it)
    if (!(client instanceof Redis)) return;
    client.on('connect', () => {
      this.#connected = ++this.stamp;
    });
    client.on('close', () => {
      this.stamp++;
    });
  }

  /** Whether a call that ran its op at `stamp` cannot have been sent: no socket was connected then or since. */
  unsent(stamp: number): boolean {
    return stamp > this.#connected;
  }
}

/**
 * `make(client)` made once per client and kept while the client lives: every storage and
 * bus on one client shares its SocketLog and its AppClientWatch (their listeners too).
 */
function onePerClient<T>(make: (client: RedisClient) => T): (client: RedisClient) => T {
  const made = new WeakMap<RedisClient, T>();
  return (client) => {
    let value = made.get(client);
    if (value === undefined) {
      value = make(client);
      made.set(client, value);
    }
    return value;
  };
}

const socketLogOf = onePerClient((client) => new SocketLog(client));
const watchOf = onePerClient((client) => new AppClientWatch(client));

/** EXEC answers [error, result] per command: the results, or the first error. */
export function execResults(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('the transaction was aborted');
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}
