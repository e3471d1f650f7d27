/**
 * The key layout (documented in the README) and its version.
 *
 * Every key starts with the prefix. The part in braces is the Redis Cluster hash tag:
 * all keys of one client session share `{<name>}`, so MULTI and Lua scripts over them
 * run on one node; server sessions are tagged by auth key id, so different auth keys
 * spread over the cluster. Neither a prefix nor a session name can contain braces
 * (core validates both), so nothing can move a key into another tag.
 *
 *   <prefix>schema                          string  layout version ("3")
 *   <prefix>client:{<name>}                 hash    session snapshot (no key bytes), update state, channel pts
 *   <prefix>client:{<name>}:keys            hash    auth keys: dc<id>[.media].key, …temp.<index>[.expiresAt]
 *   <prefix>client:{<name>}:kv              hash    kv key → bytes
 *   <prefix>client:{<name>}:peers           hash    "<type>:<id>" → peer record
 *   <prefix>client:{<name>}:peers:complete  hash    "<type>:<id>" → the peer's TL bytes
 *   <prefix>client:{<name>}:peers:order     zset    every "<type>:<id>", score 0: the listing order (lexicographic)
 *   <prefix>client:{<name>}:usernames       hash    lower-cased username → "<type>:<id>"
 *   <prefix>client:{<name>}:phones          hash    phone → "<type>:<id>"
 *   <prefix>client:{<name>}:refs:seq        string  INCR sequence of reference messages (kept across clear)
 *   <prefix>client:{<name>}:refs:index      zset    "<chatId>:<messageId>:<peerId>", score 0 (by message, lexicographic)
 *   <prefix>client:{<name>}:refs:<peerId>   zset    "<chatId>:<messageId>" scored by the sequence (most recent last)
 *   <prefix>client:{<name>}:refs:order      zset    "<chatId>:<messageId>:<peerId>" scored by the sequence: refMessages.list
 *   <prefix>lease:{<name>}                  string  the session lease "<token>|<expiresAtMs>|<owner>" (lease.ts)
 *   <prefix>lease:{<name>}:token            string  INCR counter of lease tokens
 *   <prefix>auth:{<authKeyId>}:sessions     set     session ids (decimal) of that auth key: the listing index
 *   <prefix>auth:{<authKeyId>}:session:<id> string  "<lastUsedAt>|<expiresAt>" (ms; empty: never), PX lifetime left + 1 h
 *   <prefix>expiries                        zset    "<authKeyId>:<sessionId>" scored by expiresAt: what expireSessions sweeps
 *   <prefix>auth:{<authKeyId>}:call:<token> string/set  receipt of one server transition, expires after 60 s
 *   <prefix>events                          pub/sub channel of the event bus
 *
 * A name has "anything stored" exactly when one of its keys exists: Redis drops a hash,
 * set or sorted set with its last field, so listNames is a SCAN for `client:{*`.
 */
import { MigrationError, storeNotFound } from '@mtstore/core';
import type { RedisClient } from './connection.js';
import { ReplyError } from 'ioredis';
import { migrateToLayout2, migrateToLayout3 } from './migrate.js';
import { LuaScript } from './scripts.js';

/** The layout this code reads and writes. */
export const SCHEMA_VERSION = 3;

/**
 * Forward migrations: `MIGRATIONS[v]` turns layout v into v + 1, run by
 * `ensureSchema` before the version key is raised. Each step must be idempotent:
 * two processes opening the same old prefix at once both run it.
 */
const MIGRATIONS: Readonly<Record<number, { title: string; run: (client: RedisClient, prefix: string, at: MigrationPlace, clock: () => number) => Promise<void> }>> = {
  1: { title: 'auth keys into the keys hash, user.usernames, the peers order set', run: migrateToLayout2 },
  2: { title: 'the reference order sets, a key per server session', run: migrateToLayout3 },
};

/**
 * The key a migration step works on (set by the step before each script), for the
 * MigrationError of a step that fails there: the session name or the key, never a
 * value.
 */
export interface MigrationPlace {
  now?: string;
}

/**
 * Step failures the next call retries (the key in the way may be fixed meanwhile),
 * unlike a newer or unreadable layout version, which no retry changes.
 */
const retryable = new WeakSet<Error>();

/** True for a MigrationError of a failed step: RedisConnection tries the migration again on the next call. */
export function isRetryableMigration(error: unknown): boolean {
  return error instanceof Error && retryable.has(error);
}

export interface ClientKeys {
  readonly session: string;
  readonly keys: string;
  readonly kv: string;
  readonly peers: string;
  readonly complete: string;
  readonly order: string;
  readonly usernames: string;
  readonly phones: string;
  readonly refSeq: string;
  readonly refIndex: string;
  readonly refOrder: string;
  /** `<refPeer><peerId>` is the peer's reference zset. */
  readonly refPeer: string;
  /** The session's lease (lease.ts): not a session key, in the same slot (fence.ts reads it in every fenced write). */
  readonly lease: string;
  /** Every fixed key (not the per-peer reference sets), for DEL and the scripts' KEYS. */
  readonly all: readonly string[];
}

export function clientKeys(prefix: string, name: string): ClientKeys {
  const base = `${prefix}client:{${name}}`;
  const keys = {
    session: base,
    keys: `${base}:keys`,
    kv: `${base}:kv`,
    peers: `${base}:peers`,
    complete: `${base}:peers:complete`,
    order: `${base}:peers:order`,
    usernames: `${base}:usernames`,
    phones: `${base}:phones`,
    refSeq: `${base}:refs:seq`,
    refIndex: `${base}:refs:index`,
    refOrder: `${base}:refs:order`,
    refPeer: `${base}:refs:`,
    lease: leaseKey(prefix, name),
  };
  return {
    ...keys,
    all: [keys.session, keys.keys, keys.kv, keys.peers, keys.complete, keys.order, keys.usernames, keys.phones, keys.refSeq, keys.refIndex, keys.refOrder],
  };
}

/** `<prefix>lease:{<name>}`: the session's hash tag, so its slot is the session's. */
export function leaseKey(prefix: string, name: string): string {
  return `${prefix}lease:{${name}}`;
}

/** SCAN pattern matching every key of every client session under the prefix. */
export function clientPattern(prefix: string): string {
  return `${prefix}client:{*`;
}

/** The session name inside a key matched by `clientPattern`, or null. */
export function nameOfKey(prefix: string, key: string): string | null {
  const start = prefix.length + 'client:{'.length;
  const end = key.indexOf('}', start);
  return key.startsWith(`${prefix}client:{`) && end > start ? key.slice(start, end) : null;
}

export function sessionsKey(prefix: string, authKeyId: bigint): string {
  return `${prefix}auth:{${authKeyId}}:sessions`;
}

/** `<prefix>auth:{<authKeyId>}:session:` — a server session's key is this and its id. */
export function sessionKeyPrefix(prefix: string, authKeyId: bigint): string {
  return `${prefix}auth:{${authKeyId}}:session:`;
}

export function sessionKey(prefix: string, authKeyId: bigint, sessionId: bigint): string {
  return `${sessionKeyPrefix(prefix, authKeyId)}${sessionId}`;
}

/** Every server session with an expiry, `<authKeyId>:<sessionId>` scored by it: what expireSessions sweeps. */
export function expiryIndexKey(prefix: string): string {
  return `${prefix}expiries`;
}

/** The receipt of one create / destroy / destroyAll call (server.ts), beside the auth key's set. */
export function callKey(prefix: string, authKeyId: bigint, token: string): string {
  return `${prefix}auth:{${authKeyId}}:call:${token}`;
}

export function schemaKey(prefix: string): string {
  return `${prefix}schema`;
}

export function eventChannel(prefix: string): string {
  return `${prefix}events`;
}

export interface EnsureSchemaOptions {
  /** The `create: false` option: a prefix without its schema key is NotFoundError, and nothing is written. */
  mustExist?: boolean;
  /** Prefix of the NotFoundError's message, e.g. `RedisStorage`. */
  where?: string;
  /**
   * The migrating instance's clock, epoch ms, for the times a step writes (layout 3's
   * server session lastUsedAt): a RedisSessionStorage's `clock` option, as its every
   * other write (contract §7.1). Default Date.now.
   */
  clock?: () => number;
}

/**
 * Claims the prefix for this layout version if it is new (SET NX), and reads the
 * version stored there: newer than this code → MigrationError; older → migrate.
 * With `mustExist` the version is only read (GET): no key, no store, nothing written.
 */
export async function ensureSchema(client: RedisClient, prefix: string, options: EnsureSchemaOptions = {}): Promise<void> {
  const where = options.where ?? 'Redis';
  const key = schemaKey(prefix);
  let stored: unknown;
  if (options.mustExist === true) {
    stored = await client.get(key);
    if (stored === null) throw storeNotFound(where, `key prefix ${JSON.stringify(prefix)}`, '@mtstore/redis', `no key ${key}`);
  } else {
    const results = await client.multi().set(key, String(SCHEMA_VERSION), 'NX').get(key).exec();
    const [setResult, getResult] = results ?? [];
    const error = setResult?.[0] ?? getResult?.[0];
    if (error) throw error;
    stored = getResult?.[1];
  }
  const version = typeof stored === 'string' && /^[1-9]\d{0,8}$/.test(stored) ? Number(stored) : Number.NaN;
  if (Number.isNaN(version)) {
    throw new MigrationError(`${where}: Redis key ${key} holds ${JSON.stringify(String(stored).slice(0, 20))}, not an mtstore layout version`);
  }
  if (version > SCHEMA_VERSION) {
    throw new MigrationError(
      `${where}: Redis keys under prefix ${JSON.stringify(prefix)} were written by a newer mtstore (layout ${version}; this version knows up to ${SCHEMA_VERSION}): upgrade @mtstore/redis`,
    );
  }
  for (let v = version; v < SCHEMA_VERSION; ) {
    const step = MIGRATIONS[v];
    if (!step) throw new MigrationError(`${where}: no migration from Redis layout ${v} to ${v + 1} (prefix ${JSON.stringify(prefix)})`);
    const at: MigrationPlace = {};
    try {
      await step.run(client, prefix, at, options.clock ?? Date.now);
    } catch (error) {
      // Redis refused a command of the step (a key of another type in the way, a script
      // error): the step cannot go on, so the store cannot be migrated. A lost
      // connection or a timeout stays what it is (StorageUnavailableError).
      if (!(error instanceof ReplyError)) throw error;
      const failure = new MigrationError(
        `${where}: could not migrate key prefix ${JSON.stringify(prefix)} from layout ${v} to ${v + 1} (${step.title})` +
          `${at.now === undefined ? '' : ` at ${at.now}`}: ${String((error as Error).message).split('\n')[0]}`,
        { cause: error },
      );
      retryable.add(failure);
      throw failure;
    }
    // Another process may have finished the upgrade meanwhile: go on from where the
    // stored version is, without running its steps again.
    v = Math.max(v + 1, await raiseSchemaVersion(client, prefix, v + 1));
  }
}

/**
 * Raises the prefix's layout version to `to` unless it is already there or higher, in one
 * step; returns the stored version after it. A plain SET let a process still upgrading
 * an older layout write a lower version over one a faster process had finished, and
 * processes opening meanwhile ran the later steps again (an audit saw 3 → 2 for 9 s).
 */
export async function raiseSchemaVersion(client: RedisClient, prefix: string, to: number): Promise<number> {
  return Number(await RAISE_VERSION.run(client, 1, [schemaKey(prefix), String(to)]));
}

const RAISE_VERSION = new LuaScript(`
local stored = tonumber(redis.call('GET', KEYS[1]))
local to = tonumber(ARGV[1])
if stored ~= nil and stored >= to then return stored end
redis.call('SET', KEYS[1], ARGV[1])
return to
`);
