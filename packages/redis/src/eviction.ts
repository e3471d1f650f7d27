/**
 * A Redis that evicts any key under memory pressure (`maxmemory-policy allkeys-*`, what a
 * Redis set up as a cache runs) drops mtstore's keys without a word: an auth key gone is
 * a new login, a snapshot without its keys hash a session that no longer connects, a lost
 * `<prefix>schema` a store that `create: false` no longer finds. Nothing in a reply says
 * a key was evicted, so the storages look at the policy once, when an instance first
 * connects, and warn. The `volatile-*` policies evict only keys with an expiry: mtstore's
 * client session keys have none (a server session's, a lease's and a receipt's do, and
 * they go as if they had run out), so those are not warned about.
 */
import type { RedisClient } from './connection.js';

/** Policies already warned about in this process: one warning each, not one per instance. */
const warned = new Set<string>();

/** The warning's code, for `process.on('warning')` and `--disable-warning`. */
export const EVICTION_WARNING = 'MTSTORE_REDIS_EVICTION';

/**
 * Reads `maxmemory_policy` from `INFO memory` (sent alongside the layout check, not
 * after it) and emits a process warning for an `allkeys-*` policy. Never rejects: a
 * server that refuses INFO (renamed on some managed services) or a lost connection only
 * means no warning.
 */
export async function warnIfEvicting(client: RedisClient): Promise<void> {
  let info: string;
  try {
    info = await client.info('memory');
  } catch {
    return;
  }
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy === undefined || !policy.startsWith('allkeys-') || warned.has(policy)) return;
  warned.add(policy);
  const limit = /^maxmemory_human:(\S+)/m.exec(info)?.[1];
  process.emitWarning(
    `@mtstore/redis: this Redis evicts any key under memory pressure (maxmemory-policy ${policy}, maxmemory ${limit ?? 'unknown'}): ` +
      'session keys, auth keys among them, can vanish without an error, and a lost auth key is a new login. ' +
      'Keep sessions on a Redis with maxmemory-policy noeviction (or a volatile-* policy), see the @mtstore/redis README',
    { code: EVICTION_WARNING },
  );
}
