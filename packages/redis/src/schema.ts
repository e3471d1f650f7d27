/**
 * The key layout (documented in the README) and its version.
 *
 * Every key starts with the prefix. The part in braces is the Redis Cluster hash tag:
 * all keys of one client session share `{<name>}`, so MULTI and Lua scripts over them
 * run on one node; server sessions are tagged by auth key id, so different auth keys
 * spread over the cluster. Neither a prefix nor a session name can contain braces
 * (core validates both), so nothing can move a key into another tag.
 *
 *   <prefix>schema                       string  layout version ("1")
 *   <prefix>client:{<name>}              hash    session snapshot, update state and channel pts
 *   <prefix>client:{<name>}:peers        hash    "<type>:<id>" → peer record
 *   <prefix>client:{<name>}:usernames    hash    lower-cased username → "<type>:<id>"
 *   <prefix>client:{<name>}:phones       hash    phone → "<type>:<id>"
 *   <prefix>auth:{<authKeyId>}:sessions  set     session ids (decimal) of that auth key
 *   <prefix>events                       pub/sub channel of the event bus
 */
import { MigrationError } from '@mtstore/core';
import type { RedisClient } from './connection.js';

/** The layout this code reads and writes. */
export const SCHEMA_VERSION = 1;

/**
 * Forward migrations: `MIGRATIONS[v]` turns layout v into v + 1. Layout 1 is the
 * first, so there is nothing to migrate yet; a future migration goes here and runs
 * from `ensureSchema` under the version key.
 */
const MIGRATIONS: Readonly<Record<number, (client: RedisClient, prefix: string) => Promise<void>>> = {};

export interface ClientKeys {
  readonly session: string;
  readonly peers: string;
  readonly usernames: string;
  readonly phones: string;
  /** All of them, for DEL and for the scripts' KEYS. */
  readonly all: readonly [string, string, string, string];
}

export function clientKeys(prefix: string, name: string): ClientKeys {
  const base = `${prefix}client:{${name}}`;
  const keys = { session: base, peers: `${base}:peers`, usernames: `${base}:usernames`, phones: `${base}:phones` };
  return { ...keys, all: [keys.session, keys.peers, keys.usernames, keys.phones] };
}

export function sessionsKey(prefix: string, authKeyId: bigint): string {
  return `${prefix}auth:{${authKeyId}}:sessions`;
}

export function schemaKey(prefix: string): string {
  return `${prefix}schema`;
}

export function eventChannel(prefix: string): string {
  return `${prefix}events`;
}

/**
 * Claims the prefix for this layout version if it is new (SET NX), and reads the
 * version stored there: newer than this code → MigrationError; older → migrate.
 */
export async function ensureSchema(client: RedisClient, prefix: string): Promise<void> {
  const key = schemaKey(prefix);
  const results = await client.multi().set(key, String(SCHEMA_VERSION), 'NX').get(key).exec();
  const [setResult, getResult] = results ?? [];
  const error = setResult?.[0] ?? getResult?.[0];
  if (error) throw error;
  const stored = getResult?.[1];
  const version = typeof stored === 'string' && /^[1-9]\d{0,8}$/.test(stored) ? Number(stored) : Number.NaN;
  if (Number.isNaN(version)) {
    throw new MigrationError(`Redis key ${key} holds ${JSON.stringify(String(stored).slice(0, 20))}, not an mtstore layout version`);
  }
  if (version > SCHEMA_VERSION) {
    throw new MigrationError(
      `Redis keys under prefix ${JSON.stringify(prefix)} were written by a newer mtstore (layout ${version}; this version knows up to ${SCHEMA_VERSION}): upgrade @mtstore/redis`,
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    const migrate = MIGRATIONS[v];
    if (!migrate) throw new MigrationError(`no migration from Redis layout ${v} to ${v + 1}`);
    await migrate(client, prefix);
    await client.set(key, String(v + 1));
  }
}
