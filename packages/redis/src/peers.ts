import { parsePeerCursor, peerKey, type Peer, type PeerListPage, type PeerPosition, type PeerRepository, type PeerType } from '@mtstore/core';
import { bytes, decodePeer, encodePeer } from './codec.js';
import type { RedisConnection } from './connection.js';
import type { Fence } from './fence.js';
import type { ClientKeys } from './schema.js';
import { LuaScript } from './scripts.js';

/**
 * peers.upsert of a normalized batch (each key, username and phone at most once).
 * KEYS: peers, complete, order, usernames, phones. ARGV: per peer "<type>:<id>", the
 * record (codec.ts), and its TL bytes as "=" .. bytes, or "" for none. Per peer, in
 * batch order:
 *   - a min peer over a stored non-min one keeps the stored access hash, min flag and
 *     TL bytes (core's mergePeer);
 *   - usernames and phone the stored record had are released;
 *   - usernames and phone it claims are taken from their previous owners' records.
 * A stored record that does not parse (hand-edited) is treated as absent and
 * replaced rather than failing halfway: Redis does not roll a script back.
 * The order set gets every key; TL bytes removals and order additions are sent in
 * chunks at the end (unpack has a limit).
 */
const UPSERT_PEERS = new LuaScript(`
local peers, complete, order, usernames, phones = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local function parse(record)
  return string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)(.*)$')
end
local function join(h, t, m, p, u, rest)
  return h .. '|' .. t .. '|' .. m .. '|' .. p .. '|' .. u .. rest
end
local function take_username(owner, lower)
  local record = redis.call('HGET', peers, owner)
  if not record then return end
  local h, t, m, p, u, rest = parse(record)
  if not h then return end
  local kept = {}
  for name in string.gmatch(u, '[^,]+') do
    if string.lower(name) ~= lower then kept[#kept + 1] = name end
  end
  redis.call('HSET', peers, owner, join(h, t, m, p, table.concat(kept, ','), rest))
end
local function take_phone(owner)
  local record = redis.call('HGET', peers, owner)
  if not record then return end
  local h, t, m, p, u, rest = parse(record)
  if not h then return end
  redis.call('HSET', peers, owner, join(h, t, m, '', u, rest))
end
local ranked, uncomplete = {}, {}
for i = 1, #ARGV, 3 do
  local key = ARGV[i]
  local h, t, m, p, u, rest = parse(ARGV[i + 1])
  local keep_complete = false
  local old = redis.call('HGET', peers, key)
  local oh, ot, om, op, ou
  if old then oh, ot, om, op, ou = parse(old) end
  if oh then
    if om ~= '1' and m == '1' then
      h = oh
      m = om
      keep_complete = true
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
  redis.call('HSET', peers, key, join(h, t, m, p, u, rest))
  if not keep_complete then
    local c = ARGV[i + 2]
    if c == '' then uncomplete[#uncomplete + 1] = key
    else redis.call('HSET', complete, key, string.sub(c, 2)) end
  end
  ranked[#ranked + 1] = 0
  ranked[#ranked + 1] = key
end
if #uncomplete > 0 and redis.call('EXISTS', complete) == 1 then
  for i = 1, #uncomplete, 1000 do redis.call('HDEL', complete, unpack(uncomplete, i, math.min(i + 999, #uncomplete))) end
end
for i = 1, #ranked, 2000 do redis.call('ZADD', order, unpack(ranked, i, math.min(i + 1999, #ranked))) end
return 1
`);

/**
 * One peer with its TL bytes. KEYS: peers, complete[, index]. ARGV: "<type>:<id>",
 * or with an index (usernames or phones) the lower-cased username or the phone.
 * Returns nil or {key, record[, complete]}.
 */
const GET_PEER = new LuaScript(`
local key = ARGV[1]
if KEYS[3] then
  key = redis.call('HGET', KEYS[3], ARGV[1])
  if not key then return nil end
end
local record = redis.call('HGET', KEYS[1], key)
if not record then return nil end
local complete = redis.call('HGET', KEYS[2], key)
if complete then return {key, record, complete} end
return {key, record}
`);

/**
 * One page of peers in the order set's lexicographic order. KEYS: order, peers,
 * complete. ARGV: the last key of the previous page ("" for the first), the page size.
 * Returns {next cursor or "", key, record, complete or nil, …}.
 */
const LIST_PEERS = new LuaScript(`
local limit = tonumber(ARGV[2])
local from = (ARGV[1] == '') and '-' or ('(' .. ARGV[1])
local keys = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, limit + 1)
local page = {''}
local count = math.min(#keys, limit)
for i = 1, count do
  local key = keys[i]
  local record = redis.call('HGET', KEYS[2], key)
  if record then
    page[#page + 1] = key
    page[#page + 1] = record
    page[#page + 1] = redis.call('HGET', KEYS[3], key)
  end
end
if #keys > limit then page[1] = keys[count] end
return page
`);

const HAS_COMPLETE = Buffer.from('=');
const NO_COMPLETE = '';

/**
 * The peer cache of one session: records in a hash, TL bytes in another, the two
 * lookup indexes, and a sorted set of every key for paging (score 0, so ZRANGEBYLEX
 * pages by key and a cursor is simply the last key returned). Needs no snapshot.
 */
export class RedisPeers implements PeerRepository {
  readonly #peerKeys: string[];

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: ClientKeys,
    private readonly where: string,
    private readonly fence: Fence,
  ) {
    this.#peerKeys = [keys.peers, keys.complete, keys.order, keys.usernames, keys.phones];
  }

  upsert(peers: readonly Peer[]): Promise<void> {
    const argv: (string | Buffer)[] = [...this.#peerKeys];
    for (const peer of peers) {
      argv.push(peerKey(peer.type, peer.id), encodePeer(peer), peer.complete === undefined ? NO_COMPLETE : Buffer.concat([HAS_COMPLETE, bytes(peer.complete)]));
    }
    const token = this.fence.token();
    return this.connection.run((client) => this.fence.script(client, token, UPSERT_PEERS, 5, argv), this.where, nothing);
  }

  getById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#find([this.keys.peers, this.keys.complete, peerKey(type, id)], 2);
  }

  getByUsername(username: string): Promise<Peer | null> {
    return this.#find([this.keys.peers, this.keys.complete, this.keys.usernames, username], 3);
  }

  getByPhone(phone: string): Promise<Peer | null> {
    return this.#find([this.keys.peers, this.keys.complete, this.keys.phones, phone], 3);
  }

  #find(argv: string[], keyCount: number): Promise<Peer | null> {
    return this.connection.run(
      (client) => GET_PEER.runBuffer(client, keyCount, argv) as Promise<Buffer[] | null>,
      this.where,
      (found) => (found === null ? null : this.#decode(found[0] as Buffer, found[1] as Buffer, found[2])),
    );
  }

  list(after: PeerPosition | null, limit: number): Promise<PeerListPage> {
    const argv = [this.keys.order, this.keys.peers, this.keys.complete, after === null ? '' : peerKey(after.type, after.id), String(limit)];
    return this.connection.run(
      (client) => LIST_PEERS.runBuffer(client, 3, argv) as Promise<(Buffer | null)[]>,
      this.where,
      (reply) => {
        const peers: Peer[] = [];
        for (let i = 1; i < reply.length; i += 3) peers.push(this.#decode(reply[i] as Buffer, reply[i + 1] as Buffer, reply[i + 2]));
        const next = (reply[0] as Buffer).toString('latin1');
        // The order set's members are peerKey()s, which is the cursor format core parses.
        return { peers, next: next === '' ? null : parsePeerCursor(next) };
      },
    );
  }

  /** One DEL of the five peer keys. */
  clear(): Promise<void> {
    const token = this.fence.token();
    return this.connection.run(
      (client) => (token === undefined ? client.del(...this.#peerKeys) : this.fence.commands(client, token, [['DEL', ...this.#peerKeys]])),
      this.where,
      nothing,
    );
  }

  #decode(key: Buffer, record: Buffer, complete: Buffer | null | undefined): Peer {
    return decodePeer(key.toString('latin1'), record.toString('utf8'), complete === null || complete === undefined ? undefined : new Uint8Array(complete), this.where);
  }
}

function nothing(): void {}
