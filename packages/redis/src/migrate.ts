/**
 * Layout 1 → 2. Layout 1 kept a session's auth keys inside the snapshot hash, by the
 * DC's position (`dc.<n>.authKey`, `dc.<n>.temp.<index>`, expiries in the `dcs` JSON),
 * a single `user.username`, and no listing order for peers. Layout 2 moves the keys to
 * the session's keys hash (by DC id), stores `user.usernames`, and fills the peers'
 * order set. Peer records need nothing: a layout-1 record reads as a layout-2 record
 * without a display name.
 *
 * Each session is converted by one script (atomic, and a no-op on a session already
 * converted, so two processes upgrading one prefix at once do no harm). Sessions are
 * found with SCAN — on every master of a cluster — never KEYS.
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.js';
import type { MigrationPlace } from './schema.js';
import { clientKeys, clientPattern, nameOfKey, sessionKeyPrefix } from './schema.js';
import { LuaScript } from './scripts.js';

/** KEYS: session hash, keys hash, peers hash, peers order set. */
const MIGRATE_SESSION = new LuaScript(`
local session, keys, peers, order = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('TYPE', session).ok == 'hash' then
  local text = redis.call('HGET', session, 'dcs')
  local ok, dcs = pcall(cjson.decode, text or 'null')
  if ok and type(dcs) == 'table' then
    local changed = false
    for n, dc in ipairs(dcs) do
      local old = 'dc.' .. (n - 1) .. '.'
      local entry = 'dc' .. string.format('%d', dc.id) .. ((dc.mediaOnly == true) and '.media.' or '.')
      local key = redis.call('HGET', session, old .. 'authKey')
      if key then
        redis.call('HSET', keys, entry .. 'key', key)
        redis.call('HDEL', session, old .. 'authKey')
      end
      if type(dc.temp) == 'table' then
        for _, t in ipairs(dc.temp) do
          local index = string.format('%d', t.index)
          local temp = redis.call('HGET', session, old .. 'temp.' .. index)
          if temp then
            redis.call('HSET', keys, entry .. 'temp.' .. index, temp, entry .. 'temp.' .. index .. '.expiresAt', string.format('%d', t.expiresAt))
            redis.call('HDEL', session, old .. 'temp.' .. index)
          end
        end
      end
      if dc.temp ~= nil then
        dc.temp = nil
        changed = true
      end
    end
    if changed then
      redis.call('HSET', session, 'dcs', (#dcs == 0) and '[]' or cjson.encode(dcs))
    end
  end
  local username = redis.call('HGET', session, 'user.username')
  if username then
    redis.call('HSET', session, 'user.usernames', username)
    redis.call('HDEL', session, 'user.username')
  end
end
if redis.call('TYPE', peers).ok == 'hash' then
  local all = redis.call('HKEYS', peers)
  for i = 1, #all, 1000 do
    local args = {}
    for j = i, math.min(i + 999, #all) do
      args[#args + 1] = 0
      args[#args + 1] = all[j]
    end
    redis.call('ZADD', order, unpack(args))
  end
end
return 1
`);

/** Hash slots of a Redis Cluster. */
const SLOTS = 16384;

/**
 * The single server, or every master of the cluster, for a SCAN of every key. A Cluster
 * drops a master's connection from its pool when it ends (the node died, or its link
 * did) while its slot map still sends that master's slots there: SCANning the masters
 * left then missed every key on it without a word, so `listNames()` answered a partial
 * list and a layout migration converted only the sessions it saw and still raised the
 * version. So every slot must be served by a master in the pool; one that is not makes
 * the call fail (StorageUnavailableError), as a command for that slot would.
 */
export function mastersOf(client: RedisClient): RedisClient[] {
  if (!(client instanceof Cluster)) return [client];
  const masters = client.nodes('master');
  const connected = new Set(masters.map((node) => `${node.options.host}:${node.options.port}`));
  // ioredis 5: slot → [master, …replicas] as "host:port" (the pool's keys).
  const slots = (client as unknown as { slots?: unknown }).slots;
  if (!Array.isArray(slots)) return masters;
  for (let slot = 0; slot < SLOTS; slot++) {
    const owner: unknown = (slots[slot] as unknown[] | undefined)?.[0];
    if (typeof owner !== 'string' || !connected.has(owner)) {
      throw new Error(
        `cluster slot ${slot} has ${typeof owner === 'string' ? `master ${owner}, which is not connected` : 'no master'}: a SCAN of the connected masters would miss its keys`,
      );
    }
  }
  return masters;
}

/** Names of every client session under the prefix that has any key, by SCAN on every master. */
export async function scanNames(client: RedisClient, prefix: string): Promise<Set<string>> {
  const names = new Set<string>();
  const pattern = clientPattern(prefix);
  for (const node of mastersOf(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) {
        const name = nameOfKey(prefix, key);
        if (name !== null) names.add(name);
      }
      cursor = next;
    } while (cursor !== '0');
  }
  return names;
}

export async function migrateToLayout2(client: RedisClient, prefix: string, at: MigrationPlace = {}): Promise<void> {
  for (const name of await scanNames(client, prefix)) {
    const keys = clientKeys(prefix, name);
    at.now = `session ${JSON.stringify(name)}`;
    await MIGRATE_SESSION.run(client, 4, [keys.session, keys.keys, keys.peers, keys.order]);
  }
}

/**
 * Layout 2 → 3, server sessions. Layout 2 kept a server session as a member of its auth key's set and
 * nothing else; layout 3 gives each session its own key holding `<lastUsedAt>|<expiresAt>`
 * (existence is that key), the set staying as the listing index. KEYS: the set.
 * ARGV: the session key prefix, the last-used time to record (the migrating instance's
 * clock: EnsureSchemaOptions.clock). `SET … NX`: idempotent, and a session a layout-3 process already wrote keeps
 * its times. Sessions get no expiry: they had none.
 */
const MIGRATE_SERVER_SESSIONS = new LuaScript(`
if redis.call('TYPE', KEYS[1]).ok ~= 'set' then return 0 end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('SET', ARGV[1] .. id, ARGV[2] .. '|', 'NX')
end
return 1
`);

/** `<prefix>auth:{<authKeyId>}:sessions` → the auth key id, or null. */
function authKeyOfSet(prefix: string, key: string): bigint | null {
  const match = /^auth:\{(-?\d{1,19})\}:sessions$/.exec(key.slice(prefix.length));
  if (!key.startsWith(prefix) || match === null) return null;
  try {
    return BigInt(match[1] as string);
  } catch {
    return null;
  }
}

/**
 * Layout 2 → 3, client sessions: the reference order set (every index member scored
 * by its sequence number in its peer's set, what refMessages.list pages through).
 * KEYS: index, order. ARGV: the per-peer key prefix. ZADD of the same scores:
 * idempotent, and a reference stored meanwhile by a layout-3 process keeps its own.
 */
const MIGRATE_REF_ORDER = new LuaScript(`
if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then return 0 end
local batch = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local message, peer = string.match(member, '^(.+):([^:]+)$')
  local score = message and redis.call('ZSCORE', ARGV[1] .. peer, message)
  if score then
    batch[#batch + 1] = score
    batch[#batch + 1] = member
  end
  if #batch >= 2000 then
    redis.call('ZADD', KEYS[2], 'NX', unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[2], 'NX', unpack(batch)) end
return 1
`);

export async function migrateToLayout3(client: RedisClient, prefix: string, at: MigrationPlace = {}, clock: () => number = Date.now): Promise<void> {
  for (const name of await scanNames(client, prefix)) {
    const keys = clientKeys(prefix, name);
    at.now = `session ${JSON.stringify(name)}`;
    await MIGRATE_REF_ORDER.run(client, 2, [keys.refIndex, keys.refOrder, keys.refPeer]);
  }
  const now = String(clock());
  for (const node of mastersOf(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}auth:{*}:sessions`, 'COUNT', 1000);
      for (const key of keys) {
        const authKeyId = authKeyOfSet(prefix, key);
        if (authKeyId === null) continue;
        at.now = `server sessions of auth key ${authKeyId}`;
        await MIGRATE_SERVER_SESSIONS.run(client, 1, [key, sessionKeyPrefix(prefix, authKeyId), now]);
      }
      cursor = next;
    } while (cursor !== '0');
  }
}
