/**
 * Lua scripts: what must read and write in one atomic step. Each is sent with
 * EVALSHA (falling back to EVAL once per server when it is not cached), and every
 * key it touches shares one hash tag (the fixed ones passed in KEYS), so it runs on
 * Redis Cluster. The snapshot's scripts are here; keys.ts, peers.ts and refs.ts hold
 * their own next to the code that sends them.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './connection.js';

interface BufferScripting {
  evalshaBuffer(sha: string, keyCount: number, ...argv: (string | Buffer)[]): Promise<unknown>;
  evalBuffer(source: string, keyCount: number, ...argv: (string | Buffer)[]): Promise<unknown>;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * Runs the script: one round trip, two the first time a server sees it. `argv` is
   * the `keyCount` keys, then the arguments.
   */
  run(client: RedisClient, keyCount: number, argv: (string | Buffer)[]): Promise<unknown> {
    return client.evalsha(this.sha, keyCount, argv).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      return client.eval(this.source, keyCount, argv);
    });
  }

  /** The same with bulk replies as Buffers (for replies carrying bytes). */
  runBuffer(client: RedisClient, keyCount: number, argv: (string | Buffer)[]): Promise<unknown> {
    // ioredis defines evalshaBuffer / evalBuffer for every client, but its types omit
    // them; callBuffer would lose its command name under auto-pipelining.
    const buffered = client as unknown as BufferScripting;
    return buffered.evalshaBuffer(this.sha, keyCount, ...argv).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      return buffered.evalBuffer(this.source, keyCount, ...argv);
    });
  }
}

/**
 * saveUpdateState. KEYS: session hash. ARGV: pts, qts, date, seq, then channel id /
 * pts pairs. Returns 0 and writes nothing when no snapshot is saved. A channel
 * not seen before (HSET created its field) is appended to the `channels` order list.
 */
export const UPDATE_STATE = new LuaScript(`
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'state.pts', ARGV[1], 'state.qts', ARGV[2], 'state.date', ARGV[3], 'state.seq', ARGV[4])
local added = {}
for i = 5, #ARGV, 2 do
  if redis.call('HSET', key, 'channel.' .. ARGV[i], ARGV[i + 1]) == 1 then added[#added + 1] = ARGV[i] end
end
if #added > 0 then
  local order = redis.call('HGET', key, 'channels')
  if order and order ~= '' then table.insert(added, 1, order) end
  redis.call('HSET', key, 'channels', table.concat(added, ','))
end
return 1
`);

/**
 * update(patch). KEYS: session hash. ARGV: "1" when the patch may create the snapshot
 * (it has homeDcId and dcs), "1" when it replaces the channels (every `channel.<id>`
 * field the `channels` order lists goes first), the number n of fields to remove, those
 * n fields, then field / value pairs to set. Without a snapshot: creates one (version,
 * no state, no channels) when allowed, else returns 0 having written nothing. Long
 * argument lists go in chunks: Lua's unpack stops at a few thousand values.
 */
export const UPDATE_SESSION = new LuaScript(`
local key = KEYS[1]
local function chunked(command, list, first, last)
  for i = first, last, 1000 do
    redis.call(command, key, unpack(list, i, math.min(i + 999, last)))
  end
end
if redis.call('EXISTS', key) == 0 then
  if ARGV[1] ~= '1' then return 0 end
  redis.call('HSET', key, 'version', '1', 'channels', '')
end
if ARGV[2] == '1' then
  local old = {}
  for id in string.gmatch(redis.call('HGET', key, 'channels') or '', '[^,]+') do old[#old + 1] = 'channel.' .. id end
  if #old > 0 then chunked('HDEL', old, 1, #old) end
  redis.call('HSET', key, 'channels', '')
end
local n = tonumber(ARGV[3])
if n > 0 then chunked('HDEL', ARGV, 4, 3 + n) end
if #ARGV > 3 + n then chunked('HSET', ARGV, 4 + n, #ARGV) end
return 1
`);

/**
 * delete(). KEYS: every fixed key of the session (reference index among them, at
 * `ARGV[2]`). ARGV: the per-peer reference key prefix, the position of the index in
 * KEYS. The per-peer reference sets are found through the index (member
 * "<chatId>:<messageId>:<peerId>"), then everything goes in one step.
 */
export const DELETE_SESSION = new LuaScript(`
local index = KEYS[tonumber(ARGV[2])]
local seen = {}
for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local peer = string.match(member, ':([^:]+)$')
  if peer and not seen[peer] then
    seen[peer] = true
    redis.call('DEL', ARGV[1] .. peer)
  end
end
return redis.call('DEL', unpack(KEYS))
`);

/**
 * PUBLISH through a Cluster client. A command without keys goes to a random node,
 * and two messages that entered the cluster on different nodes can reach a
 * subscriber in either order. Declaring the channel name as the script's key makes
 * every publish on that channel enter at the node owning its slot: one order for all.
 * KEYS: the channel (never read as a key). ARGV: the channel, the message.
 */
export const CLUSTER_PUBLISH = new LuaScript(`return redis.call('PUBLISH', ARGV[1], ARGV[2])`);

/**
 * A script's integer reply 1 ("done", "this call made the transition"). ioredis gives
 * integer replies as strings on a client with `stringNumbers: true` (an application's
 * setting for integers past 2^53), where `reply === 1` was false every time: createSession
 * and destroySession said false, update() said NotFoundError, a free lease was reported
 * held by its own taker, expireSessions removed nothing.
 */
export function isOne(reply: unknown): boolean {
  return reply === 1 || reply === '1';
}
