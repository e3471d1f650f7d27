/**
 * The pool behind a PostgresStorage / PostgresSessionStorage: owned (made from a
 * connection string or config, ended on close) or borrowed (the application's pool,
 * never ended), with the schema migrated lazily, once, before the first query.
 */
import { createHash } from 'node:crypto';
import { assertIdentifier, assertTimerMs, CallsInFlight, connectionStringParam, createOption, describeParameter, describeValue, InvalidArgumentError, MAX_TIMER_MS, nearestName, Once, quotedIfPlain } from '@mtstore/core';
import type { Pool, PoolClient, PoolConfig, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { OwnedPool } from './pool.js';
import { migrate, quoteIdentifier, SCHEMA_VERSION } from './schema.js';
import { beginStatement, clientWait, isLockTimeout, isQueryTimeout, isSerializationFailure, isStatementCanceled, SERIALIZATION_ATTEMPTS, withTransaction } from './transaction.js';
import { TYPES } from './types.js';

/** How to reach PostgreSQL. Give at most one of `connectionString`, `config` and `pool`. */
export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:5432/database`. mtstore creates a pool and ends it on close. */
  connectionString?: string | undefined;
  /** A pg PoolConfig. mtstore creates the pool and ends it on close. */
  config?: PoolConfig | undefined;
  /** A pool the application owns: mtstore uses it and never ends it. */
  pool?: Pool | undefined;
  /** Schema holding mtstore's tables; created if missing (unless `create` is false). Default `mtstore`. */
  schema?: string | undefined;
  /**
   * `false`: open only an @mtstore/postgres store that is there. A schema that does not
   * exist, or has no `migrations` table (another program's schema, an empty one), is
   * NotFoundError on first use and stays as it was: no schema, table, index or lease
   * table is created. A store at an older schema version is migrated as usual. For tools
   * that only read (`mtstore inspect`). Default `true`: create what is missing.
   */
  create?: boolean | undefined;
  /**
   * How long `close()` waits, in ms, with no call in flight answered before it gives up
   * on the rest (default 5000). The wait restarts whenever a call completes, so a backlog
   * the server keeps answering finishes however long it takes; time in which this process
   * was too busy to send the calls or read the replies does not count. Once the server
   * answered nothing for that long, the calls still running reject with
   * StorageUnavailableError (their outcome unknown) and, on a pool mtstore owns, their
   * connections are closed. 0: close() does not wait. 0 to 2^31 - 1.
   */
  closeTimeoutMillis?: number | undefined;
  /**
   * `false`: every statement is sent unnamed (parsed, bound and run in one round trip,
   * values still bound as parameters), never prepared by name on the connection. For a
   * pool behind a pooler in transaction mode (PgBouncer before 1.21, or with
   * `max_prepared_statements = 0`; Supabase's port 6543, Heroku's and DigitalOcean's
   * pools), which hands each transaction any server connection: a name pg prepared on
   * one is missing on the next (26000) or already there from another client (42P05).
   * Default `true`: each connection prepares each statement once (faster on a direct
   * connection). Like postgres.js's `prepare: false` and Prisma's `pgbouncer=true`.
   */
  prepare?: boolean | undefined;
}

/**
 * Applied under the caller's config on pools mtstore creates, so nothing waits forever
 * when the server is gone: a connection attempt gives up after 10 s, and so does a call
 * that waited that long for a free connection while the server completed nothing
 * (OwnedPool: a queue the server keeps serving is never cut), and a query after 30 s
 * (the connection is then discarded, and so are the connections idle in the pool:
 * see Database.#discardIdle). `application_name` shows up in pg_stat_activity.
 */
export const POOL_DEFAULTS: Readonly<PoolConfig> = {
  connectionTimeoutMillis: 10_000,
  query_timeout: 30_000,
  keepAlive: true,
  application_name: 'mtstore',
};

/** pg's options in ms that pg (or pg-pool) hands to setTimeout: 0 or absent is none. */
const PG_TIMER_OPTIONS = ['query_timeout', 'connectionTimeoutMillis', 'idleTimeoutMillis'] as const;

/**
 * One pg timer value. A number is core's delay rule (0 = none … MAX_TIMER_MS; pg takes
 * fractions). What is pg's own: a string (a `?query_timeout=` of a connection string)
 * arms a timer for any non-empty text, `'0'` too (then every query times out at once),
 * so it must read as a number from 1; `''` is none.
 */
function assertPgTimer(value: unknown, label: string): void {
  if (value === undefined || value === null || value === '') return;
  if (typeof value === 'string') assertTimerMs(Number(value), `${label} (${describeValue(value)})`, 1, false);
  else assertTimerMs(value, label, 0, false);
}

/** pg-pool's `maxLifetimeSeconds`: in seconds, armed as `× 1000` ms, so at most MAX_TIMER_MS / 1000 s. */
function assertLifetimeSeconds(value: unknown, label: string): void {
  if (value === undefined || value === null) return;
  const max = Math.floor(MAX_TIMER_MS / 1000);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`${label} must be a number of s from 0 to ${max}, got ${describeValue(value)}`);
  }
}

/**
 * pg-pool's `max` and `min`, before any I/O. pg-pool compares its connection count with
 * `max` as given: a negative one is always reached, so every call waited for a
 * connection the pool never opened and failed after `connectionTimeoutMillis` ("timeout
 * exceeded when trying to connect"), or waited for ever with 0. `0` is pg-pool's default
 * (10). `min` (connections kept open) may not exceed `max`.
 */
function assertPoolSize(c: Record<string, unknown>, where: string): void {
  const count = (name: string): number | undefined => {
    const value = c[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${where}: config.${name} must be an integer from 0, got ${describeValue(value)}`);
    }
    return value;
  };
  const max = count('max') || 10;
  const min = count('min');
  if (min !== undefined && min > max) throw new InvalidArgumentError(`${where}: config.min (${min}) must not exceed config.max (${max})`);
}

/**
 * The parameters of the connection string(s) (assertConnectionParameters) and the pg
 * options that become Node timers, checked before any I/O: pg's client arms a
 * setTimeout with `query_timeout` (from the config, or a `?query_timeout=` of the
 * connection string, which pg lays over the config) and `connectionTimeoutMillis`;
 * pg-pool with `connectionTimeoutMillis`, `idleTimeoutMillis` and
 * `maxLifetimeSeconds` × 1000. Past 2^31 − 1 ms Node fires a timer after 1 ms (with a
 * TimeoutOverflowWarning): every query failed with "Query read timeout", every
 * connection or checkout timed out at once, idle connections were closed at once.
 * Server-side limits (statement_timeout, lock_timeout,
 * idle_in_transaction_session_timeout) arm no timer here. Messages name the option
 * and its value, never the connection string (it may hold a password).
 */
export function assertPgConfig(connectionString: unknown, config: object | undefined, where: string): void {
  const c = (config ?? {}) as Record<string, unknown>;
  assertPoolSize(c, where);
  assertClientFields(c, where);
  for (const name of PG_TIMER_OPTIONS) assertPgTimer(c[name], `${where}: config.${name}`);
  assertLifetimeSeconds(c.maxLifetimeSeconds, `${where}: config.maxLifetimeSeconds`);
  for (const [label, url] of [
    ['connectionString', connectionString],
    ['config.connectionString', c.connectionString],
  ] as const) {
    assertConnectionParameters(url, label, where);
    assertPgTimer(connectionStringParam(url, 'query_timeout'), `${where}: query_timeout in ${label}`);
  }
}

/** A config field's value for a message: a string by parameterValue's rule (an environment variable may hold a secret). */
function fieldValue(value: unknown): string {
  return typeof value === 'string' ? parameterValue(value) : describeValue(value);
}

/** A number pg reads whole: an integer from `min` to `max`. */
function isIntegerIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * The fields of a pg config with a fixed domain, as pg reads them (pg 8,
 * connection-parameters.js, client.js, connection.js), checked before any I/O. Values
 * often come straight from environment variables (`ssl: process.env.PG_SSL`), so
 * strings: pg acted on a wrong one only when connecting, or misread it (measured against
 * 127.0.0.1:5432 with pg 8.23.1): `ssl: 'false'` (also `'0'`, `'1'`, `1`) ended the
 * process, "Cannot use 'in' operator to search for 'key' in false" thrown in pg's socket
 * handler once the server offered TLS; `ssl: []` turned TLS on; `user`, `database`,
 * `application_name` or `options` as a number ended it too (pg's startup message
 * writes strings only); `port: 'abc'` or `99999` failed every call; `statement_timeout:
 * 'abc'` every connection (the server refused "NaN"), `'5s'` ran with 5 ms (pg sends
 * parseInt of it); `keepAlive: 'false'` and `binary: 'false'` turned them on (pg reads
 * any non-empty string as true). `''`, `null` and `false` stay accepted where pg reads
 * them as not given.
 */
function assertClientFields(c: Record<string, unknown>, where: string): void {
  const refuse = (name: string, expected: string, value: unknown, why = ''): never => {
    throw new InvalidArgumentError(`${where}: config.${name} must be ${expected}, got ${fieldValue(value)}${why}`);
  };
  const absent = (value: unknown): boolean => value === undefined || value === null;
  const { port, ssl, binary, sslnegotiation } = c;
  // pg: parseInt of it, and a falsy one is the default (5432).
  const portDomain = VALUE_DOMAINS.get('port') as ValueDomain;
  if (!absent(port) && !isIntegerIn(port, 1, 65535) && !(typeof port === 'string' && portDomain.test(port))) {
    refuse('port', 'a port number from 1 to 65535 (a number, or a string of digits)', port);
  }
  // pg: an object is tls.connect's options, true / 'true' TLS, 'no-verify' TLS without
  // checking the certificate, a falsy value none. Any other value turned TLS on, and
  // one that is not an object was then read with `'key' in ssl`: a TypeError thrown in
  // the socket's data handler, which no promise catches.
  const sslObject = typeof ssl === 'object' && ssl !== null && !Array.isArray(ssl);
  if (!(absent(ssl) || typeof ssl === 'boolean' || ssl === '' || ssl === 0 || ssl === 'true' || ssl === 'no-verify' || sslObject)) {
    refuse('ssl', "true, false, 'true', 'no-verify' or an object of TLS options", ssl, typeof ssl === 'string' ? ' (pg reads any other non-empty string as TLS on, and one such as "false" ended the process when the server offered TLS)' : '');
  }
  if (!absent(sslnegotiation) && sslnegotiation !== 'postgres' && sslnegotiation !== 'direct') refuse('sslnegotiation', "'postgres' or 'direct'", sslnegotiation);
  // pg refuses these two together only when a connection is made (no ssl in a connection string, which pg lays over config).
  if (sslnegotiation === 'direct' && !ssl && connectionStringParam(c.connectionString, 'ssl') === undefined && connectionStringParam(c.connectionString, 'sslmode') === undefined) {
    throw new InvalidArgumentError(`${where}: config.sslnegotiation 'direct' starts with TLS, which needs config.ssl`);
  }
  // pg sends String(parseInt(value)) when the value is truthy; the server takes 0 to 2^31 - 1 ms.
  for (const name of ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout']) {
    const value = c[name];
    if (absent(value) || value === false || isIntegerIn(value, 0, INT32) || (typeof value === 'string' && SERVER_TIMEOUT.test(value))) continue;
    refuse(name, 'a whole number of ms from 0 to 2147483647 (or false: none)', value, typeof value === 'string' ? ' (pg sends only the leading number: no unit)' : '');
  }
  // pg reads these as booleans by truthiness: 'false' would be true.
  for (const name of ['keepAlive', 'enableChannelBinding']) {
    if (!absent(c[name]) && typeof c[name] !== 'boolean') refuse(name, 'a boolean', c[name]);
  }
  // Handed to socket.setKeepAlive only when keepAlive is on; Node takes any number there.
  const delay = c.keepAliveInitialDelayMillis;
  if (!absent(delay) && !(typeof delay === 'number' && Number.isFinite(delay) && delay >= 0)) refuse('keepAliveInitialDelayMillis', 'a number of ms from 0', delay);
  // pg writes these into the startup message, which takes strings only: a number threw
  // in the socket's connect handler, ending the process.
  for (const name of ['user', 'database', 'host', 'application_name', 'fallback_application_name', 'options', 'client_encoding']) {
    if (!absent(c[name]) && typeof c[name] !== 'string') refuse(name, 'a string', c[name]);
  }
  // libpq's TLS keywords: pg reads them in a connection string only (pg-connection-string
  // turns them into `ssl`) and drops them in a config object without a word, so
  // `sslmode: 'require'` there connected without TLS.
  for (const name of ['sslmode', 'sslcert', 'sslkey', 'sslrootcert']) {
    if (!absent(c[name])) {
      throw new InvalidArgumentError(`${where}: config.${name} is read by pg only in a connection string (?${name}=); in a config object pg ignores it (no TLS): use config.ssl (true, or an object of TLS options), or put it in config.connectionString`);
    }
  }
  // mtstore's type parsers read pg's text results: with `binary: true` every save failed
  // ("Cannot convert … to a BigInt"). pg turns them on for any truthy value, 'false' too.
  // (A `?binary=` of a connection string pg 8 parses and then never reads: the client
  // takes binary from the config object only, so it stays accepted and has no effect.)
  if (!absent(binary) && binary !== false) {
    throw new InvalidArgumentError(`${where}: config.binary must be false or left out, got ${fieldValue(binary)}: mtstore reads pg's text results; binary results are not supported`);
  }
}

/**
 * Connection-string parameters pg acts on: pg-connection-string copies every
 * `?name=value` into the client config, and pg reads these from it (the rest it drops
 * without a word). `host`, `port`, `user` and `password` win over the URL's own parts.
 */
const PG_PARAMETERS = [
  'host', 'port', 'user', 'password', 'options', 'application_name', 'fallback_application_name', 'client_encoding',
  'replication', 'binary', 'ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslnegotiation', 'uselibpqcompat',
  'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'query_timeout',
];

/**
 * libpq's connection keywords (PostgreSQL 18) that pg does not implement. Accepted so a
 * URL shared with psql, libpq-based drivers or a provider's dashboard (Neon's
 * `channel_binding=require`, `connect_timeout=10`, `target_session_attrs`) keeps working
 * here as it did; pg ignores them, as it always has.
 */
const LIBPQ_ONLY_PARAMETERS = [
  'hostaddr', 'dbname', 'passfile', 'require_auth', 'channel_binding', 'connect_timeout', 'keepalives', 'keepalives_idle',
  'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'gssencmode', 'requiressl', 'sslcompression', 'sslkeylogfile',
  'sslpassword', 'sslcertmode', 'sslcrl', 'sslcrldir', 'sslsni', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version',
  'min_protocol_version', 'max_protocol_version', 'krbsrvname', 'gsslib', 'gssdelegation', 'service', 'servicefile',
  'target_session_attrs', 'load_balance_hosts', 'oauth_issuer', 'oauth_client_id', 'oauth_client_secret', 'oauth_scope',
];

/** The values one connection-string parameter may take (VALUE_DOMAINS). */
interface ValueDomain {
  /** Whether `text` is in the domain. */
  readonly test: (text: string) => boolean;
  /** What the domain is, for the message. */
  readonly expected: string;
}

/** Optional spaces, an optional sign, digits: what parseInt and libpq's parse_int_param read whole. */
const INTEGER = /^\s*([+-]?)(\d+)\s*$/;

function integerDomain(min: number, max: number, expected: string): ValueDomain {
  return {
    expected,
    test: (text) => {
      const match = INTEGER.exec(text);
      if (match === null) return false;
      const value = Number(`${match[1]}${match[2]}`);
      return value >= min && value <= max;
    },
  };
}

function oneOf(values: readonly string[], { ignoreCase = false } = {}): ValueDomain {
  const allowed = new Set(ignoreCase ? values.map((value) => value.toLowerCase()) : values);
  return { expected: `one of ${values.join(', ')}`, test: (text) => allowed.has(ignoreCase ? text.toLowerCase() : text) };
}

/** `domain`, or `''`: what pg (a falsy value) and libpq (the default) read as not given. */
function orEmpty(domain: ValueDomain): ValueDomain {
  return { expected: domain.expected, test: (text) => text === '' || domain.test(text) };
}

const INT32 = 2 ** 31 - 1;
/**
 * pg's startup timeouts: pg sends `String(parseInt(value, 10))` (`''` is none: pg
 * sends nothing), and the server takes 0 (none) to 2^31 - 1 ms; a unit (`5s`) would be
 * cut off by parseInt, a fraction rounded down.
 */
const SERVER_TIMEOUT = orEmpty(integerDomain(0, INT32, 'a whole number of ms from 0 to 2147483647 (pg sends only the number: no unit)'));
/** libpq's parse_int_param: any int (connect_timeout: zero or negative waits for ever). */
const LIBPQ_INTEGER = integerDomain(-(2 ** 31), INT32, 'an integer (as libpq reads it)');
/** libpq compares these ignoring case; empty is its default. */
const TLS_VERSION = orEmpty(oneOf(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'], { ignoreCase: true }));

/**
 * The values a parameter with a fixed domain may take, checked before any I/O (a
 * parameter not listed takes any text: a name, a path, a list). pg acted on a wrong one
 * only when connecting, or not at all: `?port=abc` failed every call ("Port should be
 * >= 0 and < 65536"), `?statement_timeout=abc` every connection (the server refused
 * "NaN"), `?statement_timeout=5s` became 5 ms (pg sends parseInt of it), `?sslmode=bogus`
 * and `?ssl=false` turned TLS on (a non-empty string is true to pg); the libpq keywords pg
 * ignores were taken whatever they held, though psql refuses the same URL
 * (`connect_timeout=abc`: "invalid integer value"). Each domain is what pg reads and uses
 * as meant, or for a libpq keyword what libpq accepts (PostgreSQL 18, fe-connect.c).
 */
const VALUE_DOMAINS: ReadonlyMap<string, ValueDomain> = new Map([
  // pg: parseInt of it (a query parameter wins over the URL's port); '' leaves the URL's port.
  ['port', orEmpty(integerDomain(1, 65535, 'a port number from 1 to 65535'))],
  ['statement_timeout', SERVER_TIMEOUT],
  ['lock_timeout', SERVER_TIMEOUT],
  ['idle_in_transaction_session_timeout', SERVER_TIMEOUT],
  // pg-connection-string: true / 1 → TLS, 0 → none; pg: no-verify → TLS without checking the certificate.
  ['ssl', oneOf(['true', '1', '0', 'no-verify'])],
  // libpq's six, and pg's no-verify (pg-connection-string).
  ['sslmode', oneOf(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'])],
  // pg throws on anything else when connecting.
  ['sslnegotiation', oneOf(['postgres', 'direct'])],
  // pg-connection-string compares with 'true' only: `TRUE` or `yes` would be false.
  ['uselibpqcompat', oneOf(['true', 'false'])],
  ['connect_timeout', LIBPQ_INTEGER],
  ['keepalives', LIBPQ_INTEGER],
  ['keepalives_idle', LIBPQ_INTEGER],
  ['keepalives_interval', LIBPQ_INTEGER],
  ['keepalives_count', LIBPQ_INTEGER],
  ['tcp_user_timeout', LIBPQ_INTEGER],
  ['gssencmode', oneOf(['disable', 'prefer', 'require'])],
  ['channel_binding', oneOf(['disable', 'prefer', 'require'])],
  ['sslcertmode', oneOf(['disable', 'allow', 'require'])],
  ['target_session_attrs', oneOf(['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'])],
  ['load_balance_hosts', oneOf(['disable', 'random'])],
  ['ssl_min_protocol_version', TLS_VERSION],
  ['ssl_max_protocol_version', TLS_VERSION],
]);

/** Every parameter a connection string given to pg may carry. */
const CONNECTION_PARAMETERS: ReadonlySet<string> = new Set([...PG_PARAMETERS, ...LIBPQ_ONLY_PARAMETERS]);

/** mtstore's own URL parameters (read by openStorage / openSessionStorage, never passed to pg). */
export const OWN_URL_PARAMETERS: ReadonlySet<string> = new Set(['schema', 'session', 'create', 'prepare']);

/**
 * Characters of a parameter name or value that is shown: core's quotedIfPlain hides only
 * the long or encoded-looking, and a pasted password (`?Zk9$x!aQ`) is neither.
 */
const PLAIN_TEXT = /^[A-Za-z0-9_.-]*$/;

/**
 * A parameter name for a message: quoted when it looks like one (core's describeParameter:
 * at most 40 characters, not encoded-looking, not 16+ hex digits, and here only of
 * [A-Za-z0-9_.-]), else only its length: it may be a pasted key or password.
 */
export function parameterName(name: string): string {
  return PLAIN_TEXT.test(name) ? describeParameter(name) : `(a name of ${name.length} characters, not shown)`;
}

/** A parameter's value for a message, by the same rule as its name (parameterName). */
export function parameterValue(value: string): string {
  return (PLAIN_TEXT.test(value) ? quotedIfPlain(value) : undefined) ?? `a value of ${value.length} characters (not shown)`;
}

/**
 * The query parameters of `connectionString`, checked before any I/O: each must be one
 * pg or libpq knows (or, with `own`, one of mtstore's URL parameters). pg takes any
 * name and ignores what it does not read, so a typo (`?shema=tg`, `?sslmod=require`)
 * was accepted and had no effect: the wrong schema, or no TLS. libpq refuses such a URL
 * too ("invalid URI query parameter"). The message names the parameter (and the name
 * it is nearest to), never the connection string: it may hold a password. mtstore's own
 * parameters in a connection string passed straight to a constructor are refused as
 * well: pg would drop them, and only `openStorage(url)` reads them. A parameter with a
 * fixed domain must hold a value in it (VALUE_DOMAINS), shown only when plain
 * (parameterValue).
 */
export function assertConnectionParameters(connectionString: unknown, label: string, where: string, own = false): void {
  // Only the URL form has parameters; pg reads a string starting with '/' as a socket path and database.
  if (typeof connectionString !== 'string' || connectionString.startsWith('/')) return;
  // pg parses anything else as a URL relative to `postgres://base`: libpq's keyword/value
  // form ('host=db dbname=app password=…') became a connection to host "base" with the
  // whole string, password included, as the database name (which a server error
  // quotes); another scheme (mysql://) was taken as PostgreSQL's.
  if (!/^(postgres|postgresql|socket):/i.test(connectionString)) {
    throw new InvalidArgumentError(
      `${where}: ${label} must be a postgres:// or postgresql:// URL (or socket:/path, or a socket directory starting with /); pg does not read libpq's keyword/value form (host=… dbname=…) nor another scheme`,
    );
  }
  const query = connectionString.indexOf('?');
  if (query < 0) return;
  const socket = /^socket:/i.test(connectionString);
  const seen = new Set<string>();
  const parameters = new URLSearchParams(connectionString.slice(query + 1));
  for (const [name, value] of parameters) {
    // pg takes the last of a repeated parameter, URLSearchParams.get (openStorage's
    // reading of mtstore's own, the query_timeout check) the first: `?query_timeout=5000&
    // query_timeout=0` passed the check and then timed every query out at once.
    if (seen.has(name)) throw new InvalidArgumentError(`${where}: parameter ${parameterName(name)} is given twice in ${label}`);
    seen.add(name);
    if (own && OWN_URL_PARAMETERS.has(name)) continue;
    if (CONNECTION_PARAMETERS.has(name)) {
      const domain = VALUE_DOMAINS.get(name);
      if (domain !== undefined && !domain.test(value)) {
        throw new InvalidArgumentError(`${where}: parameter "${name}" in ${label} must be ${domain.expected}, got ${parameterValue(value)}`);
      }
      continue;
    }
    // pg-connection-string's socket: URL names the database and encoding so.
    if (socket && (name === 'db' || name === 'encoding')) continue;
    if (OWN_URL_PARAMETERS.has(name)) {
      throw new InvalidArgumentError(
        `${where}: parameter "${name}" in ${label} is read only from a URL given to openStorage / openSessionStorage; pg would ignore it here. Use the ${name === 'session' ? 'name' : name} option.`,
      );
    }
    const guess = nearestName(name, [...OWN_URL_PARAMETERS, ...CONNECTION_PARAMETERS]);
    throw new InvalidArgumentError(
      `${where}: unknown parameter ${parameterName(name)} in ${label}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}: neither mtstore, pg nor libpq reads it`,
    );
  }
  // Combinations pg refuses only when it connects (the values alone are in their domains).
  const sslmode = parameters.get('sslmode');
  if (parameters.get('sslnegotiation') === 'direct' && (sslmode === 'disable' || (sslmode === null && parameters.get('ssl') === '0'))) {
    throw new InvalidArgumentError(`${where}: sslnegotiation=direct in ${label} starts with TLS, which ${sslmode === null ? 'ssl=0' : 'sslmode=disable'} turns off`);
  }
  if (parameters.get('uselibpqcompat') === 'true' && sslmode === 'verify-ca' && !parameters.get('sslrootcert')) {
    throw new InvalidArgumentError(`${where}: sslmode=verify-ca with uselibpqcompat=true in ${label} needs sslrootcert (the CA to verify the server with); pg refuses it when connecting`);
  }
}

export const DEFAULT_SCHEMA = 'mtstore';

const DEFAULT_CLOSE_TIMEOUT = 5_000;
/** After the calls in flight are settled, how long close() waits for an owned pool to end. */
const POOL_END_TIMEOUT = 1_000;

/**
 * The longest pause, ms, before a statement that hit the session's lock_timeout runs
 * again (#run): the first retry goes at once, then 1, 3, 7 … ms, so a lock held for a
 * long time is not polled a thousand times a second under `lock_timeout = 1ms`.
 */
const LOCK_RETRY_MAX_PAUSE = 50;

/** The rejection of a call still running when close() gave up waiting (core wraps it as StorageUnavailableError). */
function closedInFlight(): Error {
  // Without a stack: it would show only close()'s own frames, and capturing it, then
  // formatting it when core copies the error as the cause, was most of the cost of
  // rejecting a backlog (thousands of calls, each its own error) after the deadline.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new Error('the storage was closed before this call completed; it may or may not have been applied');
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Waits for `promise`, at most `ms` (its rejection still propagates); the timer never outlives it. */
async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A named statement: prepared once per connection, then only bound and executed. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** A query on a transaction's connection (see Database.transaction). */
export type TransactionQuery = <R extends QueryResultRow>(sql: Statement, values: unknown[]) => Promise<QueryResult<R>>;

/**
 * Names come from the SQL text, so two storages on different schemas sharing one
 * pool never collide, and a name always means the same text on every connection.
 * With `prepare: false` the name is not sent (Database.#config).
 */
export function statement(label: string, text: string): Statement {
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 16);
  return { name: `mtstore_${label}_${hash}`, text };
}

/** `prepare` (PostgresConnectionOptions.prepare), checked before any I/O. */
export function prepareOption(value: unknown, where: string): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${where}: prepare must be a boolean, got ${describeValue(value)}`);
  return value;
}

/**
 * A named statement the server connection does not have (26000: pg prepared it on
 * another one) or already has (42P05: another client prepared it there): the
 * connections pg prepared on are not the ones the statements reach, which is what a
 * pooler in transaction mode does. The statement did not run (the failed Parse or Bind
 * skips the rest of the message). Told as such, with the fix, instead of pg's bare
 * message, which reads as a bug of mtstore's. Only mtstore's own names are matched.
 */
function explainPrepared(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if ((code !== '26000' && code !== '42P05') || !(error instanceof Error) || !/prepared statement "mtstore_/.test(error.message)) return error;
  const explained = new Error(
    `${error.message} (SQLSTATE ${code}), so the statement did not run: is this pool behind PgBouncer (or another pooler) in transaction mode? It hands each transaction another server connection and named statements cannot follow; pass prepare: false (?prepare=false in a URL)`,
    { cause: error },
  );
  return Object.assign(explained, { code });
}

/**
 * A pg Pool (from any copy of pg: not instanceof). `query` and `connect` alone let a
 * pg.Client through, whose connect(callback) hands over no connection: the first call
 * then waited for ever. pg-pool's counters tell them apart.
 */
function isPool(value: unknown): value is Pool {
  const p = value as Partial<Pool> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.query === 'function' &&
    typeof p.connect === 'function' &&
    typeof p.totalCount === 'number' &&
    typeof p.idleCount === 'number'
  );
}

export class Database {
  readonly pool: Pool;
  /** True when mtstore created the pool (and ends it on close). */
  readonly ownsPool: boolean;
  readonly schema: string;
  /** The quoted schema, for SQL text. */
  readonly s: string;
  /** False: the store must be there (see PostgresConnectionOptions.create); nothing is created. */
  readonly create: boolean;
  /** Migrates once; a failure is not remembered, the next call tries again. */
  readonly #migration = new Once(() => migrate(this.pool, this.schema, SCHEMA_VERSION, { mustExist: !this.create, where: this.#where }));
  readonly #where: string;
  readonly #closeTimeout: number;
  /**
   * Every query and transaction until it settles, so close() knows exactly which calls
   * are in flight: abandonable, as pg's pool cannot be made to fail them (see close).
   */
  readonly #calls = new CallsInFlight();
  /** Connections of an owned pool checked out right now, to close those close() gave up on. */
  readonly #busy = new Set<PoolClient>();
  /** Every open connection of an owned pool: those not #busy are idle. */
  readonly #open = new Set<PoolClient>();
  /** Idle connections closed after a timeout, never to be handed to a call (see #checkout). */
  readonly #discarded = new WeakSet<PoolClient>();
  /** Timeouts already acted on (one may reach #failed twice: in #run and in a transaction around it). */
  readonly #timeouts = new WeakSet<Error>();
  /** Checkouts for transactions, through #checkout. */
  readonly #source = { connect: (): Promise<PoolClient> => new Promise((resolve, reject) => this.#checkout((error, client) => (client ? resolve(client) : reject(error)))) };
  /** The first message of each transaction (see beginStatement), set once the pool is. */
  readonly #begin: string;
  /** How long a single statement is run again after lock timeouts, ms (see #run). */
  readonly #lockWait: number;
  /** False: statements go unnamed (PostgresConnectionOptions.prepare). */
  readonly prepare: boolean;
  #abandoned = false;

  constructor(options: PostgresConnectionOptions, where: string) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object`);
    const given = (['connectionString', 'config', 'pool'] as const).filter((k) => options[k] !== undefined);
    if (given.length > 1) throw new InvalidArgumentError(`${where}: give one of connectionString, config or pool, not ${given.join(' and ')}`);
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    assertIdentifier(this.schema, `${where}: schema`);
    this.create = createOption(options.create, where);
    this.prepare = prepareOption(options.prepare, where);
    this.#where = where;
    const closeTimeout = options.closeTimeoutMillis ?? DEFAULT_CLOSE_TIMEOUT;
    assertTimerMs(closeTimeout, `${where}: closeTimeoutMillis`, 0, false);
    this.#closeTimeout = closeTimeout;
    this.s = quoteIdentifier(this.schema);
    if (options.pool !== undefined) {
      if (!isPool(options.pool)) throw new InvalidArgumentError(`${where}: pool must be a pg Pool (not a pg Client: pass it as config, or a new pg.Pool)`);
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
        throw new InvalidArgumentError(`${where}: connectionString must be a string`);
      }
      if (options.config !== undefined && (typeof options.config !== 'object' || options.config === null)) {
        throw new InvalidArgumentError(`${where}: config must be a pg PoolConfig object`);
      }
      const config = options.connectionString !== undefined ? { connectionString: options.connectionString } : options.config;
      assertPgConfig(options.connectionString, options.config, where);
      this.pool = new OwnedPool({ ...POOL_DEFAULTS, ...config });
      // An idle connection the server closes emits 'error' on the pool; without a
      // listener that would crash the process. The pool drops the connection and the
      // next query opens a fresh one, so there is nothing else to do.
      this.pool.on('error', () => {});
      this.ownsPool = true;
      this.pool.on('acquire', (client) => {
        // A connection handed out after close() gave up would run a call nobody waits for.
        if (this.#abandoned) void client.end().catch(() => {});
        else this.#busy.add(client);
      });
      this.pool.on('release', (_error: Error | undefined, client: PoolClient) => this.#busy.delete(client));
      this.pool.on('connect', (client) => {
        this.#open.add(client as PoolClient);
        client.once('end', () => this.#open.delete(client as PoolClient));
      });
    }
    this.#begin = beginStatement(this.pool);
    this.#lockWait = clientWait(this.pool);
  }

  ready(): Promise<void> {
    return this.#migration.run();
  }

  /** One statement on any pooled connection, with mtstore's type parsers. */
  query<R extends QueryResultRow>(sql: Statement, values: unknown[]): Promise<QueryResult<R>> {
    const config = this.#config(sql, values);
    // Once migrated, the hot paths go straight to pg: no async frame, only the tracking promise.
    if (this.#migration.done) return this.#calls.trackAbandonable(this.#run<R>(config));
    return this.#calls.trackAbandonable(
      this.ready().then(
        () => this.#run<R>(config),
        (error: unknown) => {
          // A timeout in the migration (a query's own is acted on in #run).
          this.#failed(error);
          throw error;
        },
      ),
    );
  }

  /** Runs `work` in a transaction on one connection (see withTransaction). */
  transaction<T>(work: (query: TransactionQuery) => Promise<T>): Promise<T> {
    return this.#calls.trackAbandonable(
      (async () => {
        try {
          if (!this.#migration.done) await this.ready();
          return await withTransaction(this.#source, this.#begin, (client) => work((sql, values) => client.query(this.#config(sql, values))));
        } catch (error) {
          // A timeout in the transaction or the migration.
          this.#failed(error);
          throw explainPrepared(error);
        }
      })(),
    );
  }

  /** pg's query config: named (prepared once per connection) unless `prepare: false`. */
  #config(sql: Statement, values: unknown[]): QueryConfig {
    return this.prepare ? { name: sql.name, text: sql.text, values, types: TYPES } : { text: sql.text, values, types: TYPES };
  }

  /**
   * pg's pool.query (same checkout, same release: a connection whose query failed is
   * closed, except after a serialization failure, which leaves it idle and sound), on a
   * connection from #checkout, acting on a timeout at once (#failed). A serialization
   * failure (isSerializationFailure: a session whose default isolation is stricter than
   * READ COMMITTED) runs the statement again, up to SERIALIZATION_ATTEMPTS runs in all;
   * then that failure is the caller's. A lock timeout (isLockTimeout: the session's
   * lock_timeout, shorter than a concurrent write to the same session held its row)
   * runs it again too, after a pause growing to LOCK_RETRY_MAX_PAUSE ms, until
   * clientWait ms have passed since it first failed so: about as long as a transaction's statement
   * may wait for a lock (beginStatement). A statement the server cancelled
   * (isStatementCanceled: the session's statement_timeout, the application's, was
   * shorter than it needed) runs again, once, in a transaction whose BEGIN message sets
   * mtstore's own limits: two round trips more, on that path only. Handled here, in the
   * failure branch, so a call that succeeds pays nothing for it.
   */
  #run<R extends QueryResultRow>(config: QueryConfig, attempt = 1, started = 0): Promise<QueryResult<R>> {
    return new Promise((resolve, reject) => {
      this.#checkout((error, client) => {
        if (client === undefined) return reject(error);
        let released = false;
        // A checked-out connection has no pool listener: its 'error' must not go unhandled.
        const onError = (failure: Error): void => {
          if (released) return;
          released = true;
          client.release(failure);
          reject(failure);
        };
        client.once('error', onError);
        try {
          client.query<R>(config, (failure: Error | null | undefined, result: QueryResult<R>) => {
            client.off('error', onError);
            if (released) return;
            released = true;
            // These leave the connection idle and sound: it goes back to the pool.
            const sound = failure === null || failure === undefined || isSerializationFailure(failure) || isLockTimeout(failure) || isStatementCanceled(failure);
            client.release(sound ? undefined : failure);
            if (!failure) {
              resolve(result);
              return;
            }
            // The clock is read only in the failure branch: a call that succeeds pays nothing.
            const first = started || Date.now();
            if (isSerializationFailure(failure) && attempt < SERIALIZATION_ATTEMPTS && !this.#abandoned) {
              this.#run<R>(config, attempt + 1, first).then(resolve, reject);
            } else if (isLockTimeout(failure) && Date.now() - first < this.#lockWait && !this.#abandoned) {
              const pause = Math.min(2 ** (attempt - 1) - 1, LOCK_RETRY_MAX_PAUSE);
              // close() may give up on the call during the pause: nothing runs after that.
              setTimeout(() => (this.#abandoned ? reject(failure) : this.#run<R>(config, attempt + 1, first).then(resolve, reject)), pause);
            } else if (isStatementCanceled(failure) && !this.#abandoned) {
              withTransaction(this.#source, this.#begin, (c) => c.query<R>(config)).then(resolve, (error: unknown) => {
                this.#failed(error);
                reject(explainPrepared(error));
              });
            } else {
              this.#failed(failure);
              reject(explainPrepared(failure));
            }
          });
        } catch (failure) {
          client.off('error', onError);
          released = true;
          client.release(failure as Error);
          reject(failure);
        }
      });
    });
  }

  /**
   * A pooled connection, never one #discardIdle closed (it may still be in the pool's
   * idle list until its socket's close is read). None once close() gave up on the calls
   * in flight: those still queued for a connection were rejected then ('may or may not
   * have been applied'), and on a borrowed pool, which stays open, each went on to run
   * when its turn came, after close() resolved (writes landing seconds later, the
   * application's own queries queued behind them). The connection goes straight back.
   */
  #checkout(callback: (error: Error | undefined, client?: PoolClient) => void): void {
    this.pool.connect((error, client, release) => {
      if (client === undefined) return callback(error ?? new Error('pg gave no connection'));
      if (this.#abandoned) {
        // Handed back from a microtask, not from inside pg-pool's hand-over: release()
        // gives the connection straight to the next waiter, which is the next of these
        // calls, so a backlog of a few thousand nested one release per waiter in one
        // stack. At ~1,500 that overflowed (RangeError, thrown out of pg's query callback
        // as an uncaught exception): the connection never went back, and every later
        // query of the application's pool waited for ever.
        queueMicrotask(release);
        callback(closedInFlight());
        return;
      }
      if (this.#discarded.has(client)) {
        release(true);
        this.#checkout(callback);
        return;
      }
      callback(undefined, client);
    });
  }

  /** A call failed: after a query timeout, the idle connections go (see #discardIdle). */
  #failed(error: unknown): void {
    if (!isQueryTimeout(error) || this.#timeouts.has(error as Error)) return;
    this.#timeouts.add(error as Error);
    this.#discardIdle();
  }

  /**
   * A query timed out: the link may have died without a word (a NAT that dropped the
   * flows, a frozen host), and then every connection idle in the pool is dead too. Left
   * there, each would be found by a call of its own, one query_timeout each: closed now,
   * the next calls open fresh connections. (A false alarm, a query slow on the server,
   * costs only reconnecting.) Connections checked out are left to their own calls. Only
   * on a pool mtstore owns; no round trip is added to any call.
   */
  #discardIdle(): void {
    for (const client of this.#open) {
      if (this.#busy.has(client) || this.#discarded.has(client)) continue;
      this.#discarded.add(client);
      // The pool drops it when its socket's close is read ('error' on an idle connection).
      client.connection.stream.destroy();
    }
  }

  /**
   * Settles every call already in flight before it resolves: calls finish on the
   * still-open pool (pg's pool would otherwise leave queued calls waiting for a
   * connection it never gives out). Once closeTimeoutMillis pass with none of them
   * completing (core's whenSilent: the server's silence, not this process's own backlog),
   * those still in flight reject, and an owned pool's busy connections are closed so
   * pool.end() does not wait for them (+ up to 1 s to end an owned pool). Not a deadline
   * from close(): a backlog of thousands of writes queued just before a shutdown, which
   * the server answers one after another, finished only as far as it got in that time,
   * the rest rejected while the server was answering (as Redis and MongoDB never do).
   * The base class already rejects calls made after close(), so no new call joins while
   * this waits.
   */
  async close(): Promise<void> {
    const settled = this.#closeTimeout === 0 ? this.#calls.settledWithin(0) : this.#calls.settled(this.#closeTimeout);
    if (!(await settled)) {
      this.#abandoned = true;
      this.#calls.abandon(closedInFlight);
      for (const client of this.#busy) void client.end().catch(() => {});
    }
    if (!this.ownsPool) return;
    // pool.end() waits for every connection, including one still connecting to a
    // server that does not answer: bounded, the socket then closes on its own timeout.
    await atMost(this.pool.end(), POOL_END_TIMEOUT);
  }
}
