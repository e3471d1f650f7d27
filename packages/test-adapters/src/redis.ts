/**
 * A test's own Redis keys, found and removed by their key prefix: SCAN (never KEYS, which
 * blocks the server) and DEL of that prefix only, never FLUSHDB — the server is shared
 * with every other test running beside it.
 */
import type { Redis } from 'ioredis';

/** The commands used: an ioredis client, or one node of a cluster (`cluster.nodes()`). */
export type RedisKeysClient = Pick<Redis, 'scan' | 'del'>;

/** `prefix` as a SCAN MATCH pattern of itself followed by anything: its glob characters escaped. */
function patternOf(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
}

/** The keys that start with `prefix`, a SCAN page at a time. */
async function* scanPages(client: RedisKeysClient, prefix: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', patternOf(prefix), 'COUNT', 1000);
    yield keys;
    cursor = next;
  } while (cursor !== '0');
}

/** Every key that starts with `prefix`. */
export async function keysWithPrefix(client: RedisKeysClient, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of scanPages(client, prefix)) found.push(...keys);
  return found;
}

/** Removes every key that starts with `prefix` (a page at a time: SCAN returns a key that exists throughout, deletions or not). */
export async function deleteKeysWithPrefix(client: RedisKeysClient, prefix: string): Promise<void> {
  for await (const keys of scanPages(client, prefix)) if (keys.length > 0) await client.del(...keys);
}
