/**
 * The Lua scripts: what must read and write in one atomic step. Each is sent with
 * EVALSHA (falling back to EVAL once per server when it is not cached), and every
 * key it touches is passed in KEYS with one hash tag, so it runs on Redis Cluster.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './connection.js';

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
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(this.source, keyCount, argv);
    });
  }
}

/**
 * saveUpdateState. KEYS: session hash. ARGV: pts, qts, date, seq, then channel id /
 * pts pairs. Returns 0 and writes nothing when the session does not exist. A channel
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
 * peers.upsert of a normalized batch (each key, username and phone at most once).
 * KEYS: session hash, peers, usernames, phones. ARGV: "<type>:<id>" / record pairs
 * (record format in codec.ts). Returns 0 and writes nothing when the session does
 * not exist. Per peer, in batch order:
 *   - a min peer over a stored non-min one keeps the stored access hash and min flag;
 *   - usernames and phone the stored record had are released;
 *   - usernames and phone it claims are taken from their previous owners' records.
 * A stored record that does not parse (hand-edited) is treated as absent and
 * replaced rather than failing halfway: Redis does not roll a script back.
 */
export const UPSERT_PEERS = new LuaScript(`
local session, peers, usernames, phones = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', session) == 0 then return 0 end
local function parse(record)
  return string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
end
local function join(h, t, m, p, u)
  return h .. '|' .. t .. '|' .. m .. '|' .. p .. '|' .. u
end
local function take_username(owner, lower)
  local record = redis.call('HGET', peers, owner)
  if not record then return end
  local h, t, m, p, u = parse(record)
  if not h then return end
  local kept = {}
  for name in string.gmatch(u, '[^,]+') do
    if string.lower(name) ~= lower then kept[#kept + 1] = name end
  end
  redis.call('HSET', peers, owner, join(h, t, m, p, table.concat(kept, ',')))
end
local function take_phone(owner)
  local record = redis.call('HGET', peers, owner)
  if not record then return end
  local h, t, m, p, u = parse(record)
  if not h then return end
  redis.call('HSET', peers, owner, join(h, t, m, '', u))
end
for i = 1, #ARGV, 2 do
  local key = ARGV[i]
  local h, t, m, p, u = parse(ARGV[i + 1])
  local old = redis.call('HGET', peers, key)
  local oh, ot, om, op, ou
  if old then oh, ot, om, op, ou = parse(old) end
  if oh then
    if om ~= '1' and m == '1' then
      h = oh
      m = om
    end
    for name in string.gmatch(ou, '[^,]+') do
      local lower = string.lower(name)
      if redis.call('HGET', usernames, lower) == key then redis.call('HDEL', usernames, lower) end
    end
    if op ~= '' and redis.call('HGET', phones, op) == key then redis.call('HDEL', phones, op) end
  end
  for name in string.gmatch(u, '[^,]+') do
    local lower = string.lower(name)
    local owner = redis.call('HGET', usernames, lower)
    if owner and owner ~= key then take_username(owner, lower) end
    redis.call('HSET', usernames, lower, key)
  end
  if p ~= '' then
    local owner = redis.call('HGET', phones, p)
    if owner and owner ~= key then take_phone(owner) end
    redis.call('HSET', phones, p, key)
  end
  redis.call('HSET', peers, key, join(h, t, m, p, u))
end
return 1
`);

/**
 * Peer by username or phone in one round trip. KEYS: peers, index (usernames or
 * phones). ARGV: the lower-cased username or the phone. Returns nil or {key, record}.
 */
export const FIND_PEER = new LuaScript(`
local key = redis.call('HGET', KEYS[2], ARGV[1])
if not key then return nil end
local record = redis.call('HGET', KEYS[1], key)
if not record then return nil end
return {key, record}
`);

/**
 * PUBLISH through a Cluster client. A command without keys goes to a random node,
 * and two messages that entered the cluster on different nodes can reach a
 * subscriber in either order. Declaring the channel name as the script's key makes
 * every publish on that channel enter at the node owning its slot: one order for all.
 * KEYS: the channel (never read as a key). ARGV: the channel, the message.
 */
export const CLUSTER_PUBLISH = new LuaScript(`return redis.call('PUBLISH', ARGV[1], ARGV[2])`);
