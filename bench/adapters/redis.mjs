// redis adapter vs. raw ioredis sending the same commands and the same Lua scripts
// (copied from packages/redis/src/scripts.ts and peers.ts), both with auto-pipelining on and the
// same connection options, against REDIS_URL. Raw encodes and decodes the same hash / record layout by hand, without
// mtstore's validation, so both sides return the same objects. The username lookup folds
// the username's case first, as any caller must: the index holds lower-cased names
// (lookups are case-insensitive). Keys live under a random prefix, removed (SCAN +
// UNLINK) on close.
import { randomBytes } from 'node:crypto';
import { fullSession, peer } from '@mtstore/conformance';
import { adapterTargets, benchKey, benchKeyDc, kvKey, kvValue, lookupId, lookupPhone, lookupUsername, sealedRows } from '../common.mjs';
import { REDIS_DEFAULTS, RedisSessionStorage, RedisStorage } from '@mtstore/redis';
import { Redis } from 'ioredis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const UPDATE_STATE = `
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
`;

// server.ts's create / destroy scripts (layout 3: a key per session, the set lists them).
const LIVE = `
local function live(value, now)
  if not value then return false end
  local expires = string.match(value, '|(.*)$')
  return expires == '' or tonumber(expires) > now
end
`;

const CREATE = `${LIVE}
local function follow(set, at)
  if not at then redis.call('PERSIST', set) return end
  if redis.call('PTTL', set) >= 0 then redis.call('PEXPIREAT', set, at, 'GT')
  elseif redis.call('SCARD', set) == 1 then redis.call('PEXPIREAT', set, at) end
end
local function store(key, value, at)
  if at then redis.call('SET', key, value, 'PXAT', at) else redis.call('SET', key, value) end
end
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
if live(redis.call('GET', KEYS[2]), tonumber(ARGV[1])) then return 0 end
local at = (ARGV[5] ~= '') and ARGV[5] or nil
store(KEYS[2], ARGV[1] .. '|' .. ARGV[2], at)
redis.call('SADD', KEYS[1], ARGV[3])
follow(KEYS[1], at)
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
return 1
`;

const DESTROY = `${LIVE}
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
local value = redis.call('GET', KEYS[2])
if not value then
  redis.call('SREM', KEYS[1], ARGV[2])
  return 0
end
if not live(value, tonumber(ARGV[1])) then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
return 1
`;

/** A stored `<lastUsed>|<expiresAt>` live at `now` (server.ts's isLive). */
const isLive = (value, now) => {
  if (value === null) return false;
  const expires = value.slice(value.indexOf('|') + 1);
  return expires === '' || Number(expires) > now;
};

const UPSERT_PEERS = `
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
`;

const GET_PEER = `
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
`;

/** The snapshot hash fields and the keys hash fields, as a hand-written ioredis program would build them. */
function sessionFields(session) {
  const f = ['version', '1', 'homeDcId', String(session.homeDcId)];
  if (session.apiId !== undefined) f.push('apiId', String(session.apiId));
  if (session.takeoutId !== undefined) f.push('takeoutId', session.takeoutId.toString());
  if (session.user) {
    const u = session.user;
    f.push('user.id', u.id.toString(), 'user.dcId', String(u.dcId), 'user.bot', u.bot ? '1' : '0');
    if (u.usernames !== undefined) f.push('user.usernames', u.usernames.join(','));
    if (u.premium !== undefined) f.push('user.premium', u.premium ? '1' : '0');
  }
  if (session.state) {
    const s = session.state;
    f.push('state.pts', String(s.pts), 'state.qts', String(s.qts), 'state.date', String(s.date), 'state.seq', String(s.seq));
  }
  const keys = [];
  const dcs = session.dcs.map(({ authKey, tempAuthKeys, ...address }) => {
    const entry = address.mediaOnly === true ? `dc${address.id}.media.` : `dc${address.id}.`;
    if (authKey) keys.push(`${entry}key`, Buffer.from(authKey));
    for (const t of tempAuthKeys ?? []) keys.push(`${entry}temp.${t.index}`, Buffer.from(t.key), `${entry}temp.${t.index}.expiresAt`, String(t.expiresAt));
    return address;
  });
  f.push('dcs', JSON.stringify(dcs), 'channels', session.channels.map((c) => c.id.toString()).join(','));
  for (const c of session.channels) f.push(`channel.${c.id}`, String(c.pts));
  return { fields: f, keys };
}

/** The session back from its two hashes, as a hand-written ioredis program would read it (no validation). */
function sessionFrom(h, k) {
  const text = (f) => h[f]?.toString();
  const withKeys = (dc) => {
    const entry = dc.mediaOnly === true ? `dc${dc.id}.media.` : `dc${dc.id}.`;
    const key = k[`${entry}key`];
    if (key) dc.authKey = key;
    const temps = [];
    for (const field in k) {
      if (!field.startsWith(`${entry}temp.`) || field.endsWith('.expiresAt')) continue;
      temps.push({ index: Number(field.slice(entry.length + 5)), key: k[field], expiresAt: Number(k[`${field}.expiresAt`].toString()) });
    }
    if (temps.length) dc.tempAuthKeys = temps.sort((a, b) => a.index - b.index);
    return dc;
  };
  const dcs = JSON.parse(text('dcs')).map(withKeys);
  // Keys of an entry the snapshot lacks (authKeys.set of another DC) follow as address-less
  // entries, by DC id, main before media, as the adapter's decodeSession adds them.
  const listed = new Set(dcs.map((dc) => `${dc.id}${dc.mediaOnly === true ? '.media' : ''}`));
  const orphans = new Map();
  for (const field in k) {
    const m = /^dc(\d+)(\.media)?\./.exec(field);
    if (m !== null && !listed.has(`${m[1]}${m[2] ?? ''}`)) orphans.set(`${m[1]}${m[2] ?? ''}`, { id: Number(m[1]), mediaOnly: m[2] !== undefined });
  }
  for (const { id, mediaOnly } of [...orphans.values()].sort((a, b) => a.id - b.id || Number(a.mediaOnly) - Number(b.mediaOnly))) {
    dcs.push(withKeys(mediaOnly ? { id, mediaOnly: true } : { id }));
  }
  const order = text('channels');
  const s = { version: 1, homeDcId: Number(text('homeDcId')), dcs, channels: order ? order.split(',').map((id) => ({ id: BigInt(id), pts: Number(text(`channel.${id}`)) })) : [] };
  if (h.apiId) s.apiId = Number(text('apiId'));
  if (h['user.id']) {
    s.user = { id: BigInt(text('user.id')), dcId: Number(text('user.dcId')), bot: text('user.bot') === '1' };
    if (h['user.usernames'] !== undefined) s.user.usernames = text('user.usernames') === '' ? [] : text('user.usernames').split(',');
    if (h['user.premium'] !== undefined) s.user.premium = text('user.premium') === '1';
  }
  if (h['state.pts']) s.state = { pts: Number(text('state.pts')), qts: Number(text('state.qts')), date: Number(text('state.date')), seq: Number(text('state.seq')) };
  if (h.takeoutId) s.takeoutId = BigInt(text('takeoutId'));
  return s;
}

/** A peer back from its record (and TL bytes), no validation. */
function peerFrom([key, record, complete]) {
  const text = record.toString();
  const parts = text.split('|');
  const [h, t, m, phone, u] = parts;
  const k = key.toString();
  const colon = k.indexOf(':');
  const p = { type: k.slice(0, colon), id: BigInt(k.slice(colon + 1)), accessHash: BigInt(h), usernames: u ? u.split(',') : [], updatedAt: Number(t) };
  if (phone) p.phone = phone;
  if (m) p.min = m === '1';
  if (parts.length > 5) p.displayName = parts.slice(5).join('|');
  if (complete) p.complete = new Uint8Array(complete);
  return p;
}

const peerRecord = (p) => {
  const record = `${p.accessHash}|${p.updatedAt}|${p.min === undefined ? '' : p.min ? '1' : '0'}|${p.phone ?? ''}|${p.usernames.join(',')}`;
  return p.displayName === undefined ? record : `${record}|${p.displayName}`;
};

export default {
  name: 'redis',
  async unavailable() {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2_000, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      return null;
    } catch (error) {
      return `Redis is not reachable at ${url.replace(/\/\/[^@/]*@/, '//***@')}: ${error.message}`;
    } finally {
      probe.disconnect();
    }
  },
  async open() {
    const prefix = `mtstore-bench:${randomBytes(4).toString('hex')}:`;
    const server = new RedisSessionStorage({ url, prefix });
    const client = new RedisStorage({ url, prefix, name: 'bench' });
    const session = fullSession(1);
    await client.save(session);
    const batch = (i) => Array.from({ length: 1000 }, (_, k) => peer('user', (i % 50) * 1000 + k + 1));
    await client.peers.upsert(batch(0));
    await server.createSession(1n, 1n);
    for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));

    // The connection settings the adapter uses (auto-pipelining, and the commandTimeout
    // whose per-command timer costs about 0.5 µs): the rows compare the mtstore layer.
    const raw = new Redis(url, { ...REDIS_DEFAULTS, lazyConnect: false, connectionName: 'mtstore-bench-raw' });
    const scripts = {};
    const token = randomBytes(8).toString('hex');
    let calls = 0;
    for (const [name, source] of Object.entries({ UPDATE_STATE, UPSERT_PEERS, GET_PEER, CREATE, DESTROY })) scripts[name] = await raw.script('LOAD', source);
    const session0 = `${prefix}client:{bench}`;
    const keyHash = `${session0}:keys`;
    const kvHash = `${session0}:kv`;
    const peerKeys = [`${session0}:peers`, `${session0}:peers:complete`, `${session0}:peers:order`, `${session0}:usernames`, `${session0}:phones`];

    const targets = {
        adapter: adapterTargets(client, server),
        raw: {
          'hasSession hit': async () => isLive(await raw.get(`${prefix}auth:{${1n}}:session:${1n}`), Date.now()),
          'hasSession miss': async () => isLive(await raw.get(`${prefix}auth:{${1n}}:session:${2n}`), Date.now()),
          // The adapter's create / destroy scripts with a per-call receipt key (server.ts).
          'createSession+destroySession': async (i) => {
            const set = `${prefix}auth:{${2n}}:sessions`;
            const key = `${prefix}auth:{${2n}}:session:${BigInt(i)}`;
            const now = String(Date.now());
            await raw.evalsha(scripts.CREATE, 3, set, key, `${prefix}auth:{${2n}}:call:${token}.${(calls++).toString(36)}`, now, '', BigInt(i).toString(), '60000', '');
            await raw.evalsha(scripts.DESTROY, 3, set, key, `${prefix}auth:{${2n}}:call:${token}.${(calls++).toString(36)}`, now, BigInt(i).toString(), '60000');
          },
          load: async () => {
            const [[, h], [, k]] = await raw.multi().hgetallBuffer(session0).hgetallBuffer(keyHash).exec();
            return Object.keys(h).length === 0 ? null : sessionFrom(h, k);
          },
          save: () => {
            const { fields, keys } = sessionFields(session);
            const multi = raw.multi().del(session0, keyHash).hset(session0, fields);
            if (keys.length) multi.hset(keyHash, keys);
            return multi.exec();
          },
          saveUpdateState: (i) => raw.evalsha(scripts.UPDATE_STATE, 1, session0, String(i), '1', '1', '1', '1', String(i)),
          'peers.upsert ×1000': (i) => {
            const args = [];
            for (const p of batch(i)) args.push(`${p.type}:${p.id}`, peerRecord(p), p.complete === undefined ? '' : Buffer.concat([Buffer.from('='), Buffer.from(p.complete)]));
            return raw.evalsha(scripts.UPSERT_PEERS, 5, [...peerKeys, ...args]);
          },
          'peers.getByUsername': async (i) => {
            const found = await raw.evalshaBuffer(scripts.GET_PEER, 3, peerKeys[0], peerKeys[1], peerKeys[3], lookupUsername(i).toLowerCase());
            return found && peerFrom(found);
          },
          'peers.getById': async (i) => {
            const found = await raw.evalshaBuffer(scripts.GET_PEER, 2, peerKeys[0], peerKeys[1], `user:${lookupId(i)}`);
            return found && peerFrom(found);
          },
          'peers.getByPhone': async (i) => {
            const found = await raw.evalshaBuffer(scripts.GET_PEER, 3, peerKeys[0], peerKeys[1], peerKeys[4], lookupPhone(i));
            return found && peerFrom(found);
          },
          'authKeys.set': (i) => raw.hset(keyHash, `dc${benchKeyDc(i)}.key`, Buffer.from(benchKey(i))),
          'kv.get': async (i) => {
            const value = await raw.hgetBuffer(kvHash, kvKey(i));
            return value === null ? null : new Uint8Array(value);
          },
          'kv.set': (i) => raw.hset(kvHash, kvKey(i), Buffer.from(kvValue(i))),
        },
    };

    // The same warm-up for both sides (JIT, ioredis queues at 64 in flight, heap size):
    // otherwise whichever side runs first in a row pays for it.
    for (const operation of Object.keys(targets.adapter)) {
      if (operation.startsWith('peers.upsert')) continue;
      for (const side of ['adapter', 'raw']) {
        for (let wave = 0; wave < 50; wave++) await Promise.all(Array.from({ length: 64 }, (_, k) => targets[side][operation](wave * 64 + k)));
      }
    }

    // One connection for both sides of the encryption rows (common.mjs sealedRows).
    const sealedRedis = new Redis(url, { ...REDIS_DEFAULTS, connectionName: 'mtstore-bench-sealed' });
    const sealed = await sealedRows((name, encryption) => new RedisStorage({ client: sealedRedis, prefix, name, encryption }), () => sealedRedis.quit());
    return {
      sealed,
      // Redis runs one script at a time: 64 concurrent 1,000-peer upserts only queue
      // inside Redis (64,000 peers per wave, minutes per run) and measure its Lua
      // engine, not the adapter. The batch is measured at concurrency 1.
      concurrency: { 'peers.upsert ×1000': [1] },
      targets,
      close: async () => {
        await client.close();
        await server.close();
        let cursor = '0';
        do {
          const [next, found] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (found.length) await raw.unlink(...found);
          cursor = next;
        } while (cursor !== '0');
        await raw.quit();
      },
    };
  },
};
