import { randomBytes } from 'node:crypto';
import { optionNames, withKnownOptions, BaseSessionStorage, CorruptDataError, int64FromStorage, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { RedisConnection, type RedisClient, type RedisCloseOptions, type RedisConnectionOptions } from './connection.js';
import { callKey, expiryIndexKey, sessionKey, sessionKeyPrefix, sessionsKey } from './schema.js';
import { isOne, LuaScript } from './scripts.js';

/**
 * How long a call's receipt outlives it. ioredis resends a command whose connection
 * dropped (a Cluster after `retryDelayOnFailover`, a single-server client with
 * `autoResendUnfulfilledCommands`) within moments; a minute covers every retry and
 * reconnect delay with room to spare.
 */
const RECEIPT_MS = '60000';

/** Lua: `live(value, now)` — a stored `<lastUsed>|<expiresAt>` (empty expiry: never) is live at `now`. */
const LIVE = `
local function live(value, now)
  if not value then return false end
  local expires = string.match(value, '|(.*)$')
  return expires == '' or tonumber(expires) > now
end
`;

/**
 * How the session set (the listing index) follows its sessions' native expiry: a
 * session without expiry makes it persistent; otherwise its expiry is raised to the
 * session's (GT: never lowered, and a persistent set stays so), or set when the set
 * was just created. KEYS[1] is the set; `ttl` the session key's native expiry in ms
 * from now (PX), or nil.
 *
 * Relative, never absolute (PXAT): the expiry the process computed is a time of its
 * clock (contract §7.1), and an absolute time would be judged by Redis's clock, so a
 * process clock behind Redis's by more than the grace (or a test clock) had Redis
 * remove a session the moment it was created. A TTL from now runs on Redis's clock
 * for the same remaining lifetime whatever the two clocks say.
 */
const FOLLOW = `
local function follow(set, ttl)
  if not ttl then redis.call('PERSIST', set) return end
  if redis.call('PTTL', set) >= 0 then redis.call('PEXPIRE', set, ttl, 'GT')
  elseif redis.call('SCARD', set) == 1 then redis.call('PEXPIRE', set, ttl) end
end
local function store(key, value, ttl)
  if ttl then redis.call('SET', key, value, 'PX', ttl) else redis.call('SET', key, value) end
end
`;

/**
 * createSession. KEYS: the auth key's session set, the session's key, this call's
 * receipt. ARGV: now, expiresAt ('' = never), the session id, receipt TTL, the native
 * expiry in ms from now (expiresAt - now + grace, '' = none). A client library may send the same command
 * twice (it resends what was in flight when a connection dropped): the run that makes
 * the transition leaves a receipt named by the call's token, and a resend finds it
 * and answers 1 again instead of "already there". A stored session that is expired at
 * `now` is replaced: it no longer exists.
 */
const CREATE = new LuaScript(`${LIVE}${FOLLOW}
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
if live(redis.call('GET', KEYS[2]), tonumber(ARGV[1])) then return 0 end
local ttl = (ARGV[5] ~= '') and ARGV[5] or nil
store(KEYS[2], ARGV[1] .. '|' .. ARGV[2], ttl)
redis.call('SADD', KEYS[1], ARGV[3])
follow(KEYS[1], ttl)
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
return 1
`);

/**
 * destroySession. KEYS: session set, session key, receipt. ARGV: now, session id,
 * receipt TTL. 1 when this call removed a live session; an expired one is left to the
 * sweep (which announces it).
 */
const DESTROY = new LuaScript(`${LIVE}
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
`);

/** touchSession. KEYS: session set, session key. ARGV: now, new expiresAt ('' = never), its native expiry in ms from now ('' = none). */
const TOUCH = new LuaScript(`${LIVE}${FOLLOW}
if not live(redis.call('GET', KEYS[2]), tonumber(ARGV[1])) then return 0 end
local ttl = (ARGV[3] ~= '') and ARGV[3] or nil
store(KEYS[2], ARGV[1] .. '|' .. ARGV[2], ttl)
follow(KEYS[1], ttl)
return 1
`);

/** listSessions. KEYS: session set. ARGV: now, the session key prefix. The ids of live sessions. */
const LIST = new LuaScript(`${LIVE}
local now, ids = tonumber(ARGV[1]), {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if live(redis.call('GET', ARGV[2] .. id), now) then ids[#ids + 1] = id end
end
return ids
`);

/**
 * destroyAllSessions. KEYS: the session set, this call's receipt. ARGV: now, the
 * session key prefix, receipt TTL. Removes the live sessions (their keys and members)
 * and returns their ids; the receipt keeps them (as a set) for a resend. Expired
 * sessions stay for the sweep; members whose key is gone (native expiry) are dropped.
 */
const DESTROY_ALL = new LuaScript(`${LIVE}
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('SMEMBERS', KEYS[2]) end
local now, ids = tonumber(ARGV[1]), {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local value = redis.call('GET', ARGV[2] .. id)
  if not value then redis.call('SREM', KEYS[1], id)
  elseif live(value, now) then
    redis.call('DEL', ARGV[2] .. id)
    redis.call('SREM', KEYS[1], id)
    ids[#ids + 1] = id
  end
end
-- In chunks: unpack fails past LUAI_MAXCSTACK (8,000) values, and a key may have more sessions.
for i = 1, #ids, 1000 do redis.call('SADD', KEYS[2], unpack(ids, i, math.min(i + 999, #ids))) end
if #ids > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return ids
`);

/**
 * One candidate of the sweep. KEYS: session set, session key. ARGV: now, session id.
 * Returns {1, expiresAt} when this call removed the expired session, {0, expiresAt}
 * when it is live (touched since it was indexed), {0, ''} when it is gone.
 */
const EXPIRE_ONE = new LuaScript(`
local value = redis.call('GET', KEYS[2])
if not value then
  redis.call('SREM', KEYS[1], ARGV[2])
  return {0, ''}
end
local expires = string.match(value, '|(.*)$')
if expires == '' or tonumber(expires) > tonumber(ARGV[1]) then return {0, expires} end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[1], ARGV[2])
return {1, expires}
`);

/**
 * The sweep's update of the expiry index. KEYS: the index. ARGV: triples member, the
 * score the sweep read, the new score ('' = remove). Each applies only while the
 * member still has the score read: a create in between keeps its own.
 */
const REINDEX = new LuaScript(`
for i = 1, #ARGV, 3 do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[i + 1]) then
    if ARGV[i + 2] == '' then redis.call('ZREM', KEYS[1], ARGV[i])
    else redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i]) end
  end
end
return 1
`);

/** A stored `<lastUsed>|<expiresAt>`, read against `now`; null when absent or expired. */
function decodeInfo(value: string | null, now: number, where: string): SessionInfo | null {
  if (value === null) return null;
  const bar = value.indexOf('|');
  const lastUsedAt = Number(value.slice(0, bar));
  const expires = value.slice(bar + 1);
  const expiresAt = expires === '' ? null : Number(expires);
  if (bar < 0 || !Number.isSafeInteger(lastUsedAt) || (expiresAt !== null && !Number.isSafeInteger(expiresAt))) {
    throw new CorruptDataError(`${where}: stored session ${JSON.stringify(value.slice(0, 40))} is not <lastUsedAt>|<expiresAt>`);
  }
  return expiresAt !== null && expiresAt <= now ? null : { lastUsedAt, expiresAt };
}

/** The hot path: live or not, without building an object. */
function isLive(value: string | null, now: number, where: string): boolean {
  if (value === null) return false;
  const expires = value.slice(value.indexOf('|') + 1);
  if (expires === '') return true;
  const at = Number(expires);
  if (at > now) return true;
  if (at <= now) return false;
  throw new CorruptDataError(`${where}: stored session ${JSON.stringify(value.slice(0, 40))} has no readable expiry`);
}

/**
 * Most index entries one expireSessions call looks at. Each window is at most its
 * limit, and every entry looked at is removed or moved past `now`, so the bound only
 * matters when entries cannot be moved (a node whose clock is behind the others').
 */
const SWEEP_CANDIDATES = 100_000;

export type RedisSessionStorageOptions = RedisConnectionOptions & RedisCloseOptions & SessionLifetimeOptions;

/**
 * Native removal comes this long after a session's expiry: the key's TTL is the
 * lifetime left on the mtstore process's clock plus this, so Redis (counting it on its
 * own clock) never removes a session that still exists, and the sweep gets the time
 * to announce what expired (as MongoDB's TTL index, an hour).
 */
export const EXPIRY_GRACE_MS = 3_600_000;

/** The native expiry of a session key, in ms from now (SET … PX), or '' for none. */
function nativeTtl(now: number, expiresAt: number | null): string {
  // expiresAt > now (ttlSeconds > 0); at least 1 ms whatever a clock does between the two reads.
  return expiresAt === null ? '' : String(Math.max(1, expiresAt - now) + EXPIRY_GRACE_MS);
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<RedisSessionStorageOptions>()(['url', 'options', 'cluster', 'client', 'prefix', 'create', 'closeTimeoutMillis', 'ttlSeconds', 'clock']);

/**
 * Server sessions in Redis, each its own key `<prefix>auth:{<authKeyId>}:session:<id>`
 * holding `<lastUsedAt>|<expiresAt>` (epoch ms of the mtstore process's clock; an
 * empty expiry never expires), and the auth key's set of session ids
 * `<prefix>auth:{<authKeyId>}:sessions` for listing. A session exists while its key
 * holds a value unexpired at the caller's `now`: `hasSession` is one GET. Every
 * transition is one script on the auth key's slot, so of racing callers exactly one
 * makes it, and a short-lived receipt per call (`…:call:<token>`) keeps that answer
 * exact when the client library sends the command twice.
 *
 * Lifetime: a session with an expiry gets a native one too (a TTL of the lifetime
 * left on the process clock plus EXPIRY_GRACE_MS: PX, never PXAT, which Redis would
 * judge by its own clock), and an entry in `<prefix>expiries` (a sorted set by expiry) that
 * `expireSessions` sweeps: the sweep is what removes an expired session in time and
 * reports it; native expiry removes, silently, what no sweep did.
 */
export class RedisSessionStorage extends BaseSessionStorage {
  readonly prefix: string;
  readonly #connection: RedisConnection;
  readonly #index: string;
  /** Tokens are this instance's random id and a counter: unique without a random draw per call. */
  readonly #instance = randomBytes(8).toString('hex');
  #calls = 0;

  constructor(options: RedisSessionStorageOptions = {}) {
    super(withKnownOptions(options, OPTIONS, 'RedisSessionStorage'));
    this.#connection = new RedisConnection(options, 'RedisSessionStorage', { clock: () => this.now(), closeTimeoutMillis: options?.closeTimeoutMillis });
    this.prefix = this.#connection.prefix;
    this.#index = expiryIndexKey(this.prefix);
  }

  protected override get supportsLifetime(): boolean {
    return true;
  }

  #token(authKeyId: bigint): string {
    return callKey(this.prefix, authKeyId, `${this.#instance}.${(this.#calls++).toString(36)}`);
  }

  #where(authKeyId: bigint, sessionId: bigint): string {
    return `server session authKeyId=${authKeyId}, sessionId=${sessionId}`;
  }

  /**
   * With an expiry, the index entry goes first (ZADD LT: an entry never moves later
   * than a session's expiry by a create), then the session: a process that stops in
   * between leaves an entry the sweep drops, never an expiring session it cannot find.
   */
  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const set = sessionsKey(this.prefix, authKeyId);
    if (expiresAt !== null) {
      await this.#connection.run((client) => client.zadd(this.#index, 'LT', expiresAt, `${authKeyId}:${sessionId}`), this.#index);
    }
    const argv = [
      set,
      sessionKey(this.prefix, authKeyId, sessionId),
      this.#token(authKeyId),
      String(now),
      expiresAt === null ? '' : String(expiresAt),
      sessionId.toString(),
      RECEIPT_MS,
      nativeTtl(now, expiresAt),
    ];
    return this.#connection.run((client) => CREATE.run(client, 3, argv), set, isOne);
  }

  /** The per-message hot path: one GET, and no await of our own once ready. */
  protected sessionExists(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    const key = sessionKey(this.prefix, authKeyId, sessionId);
    return this.#connection.run((client) => client.get(key), key, (value) => isLive(value, now, key));
  }

  protected override readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const key = sessionKey(this.prefix, authKeyId, sessionId);
    return this.#connection.run((client) => client.get(key), key, (value) => decodeInfo(value, now, this.#where(authKeyId, sessionId)));
  }

  /** One script; the expiry index is not touched (the sweep re-reads a touched session's expiry). */
  protected override touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const set = sessionsKey(this.prefix, authKeyId);
    const argv = [set, sessionKey(this.prefix, authKeyId, sessionId), String(now), expiresAt === null ? '' : String(expiresAt), nativeTtl(now, expiresAt)];
    return this.#connection.run((client) => TOUCH.run(client, 2, argv), set, isOne);
  }

  protected removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    const set = sessionsKey(this.prefix, authKeyId);
    const argv = [set, sessionKey(this.prefix, authKeyId, sessionId), this.#token(authKeyId), String(now), sessionId.toString(), RECEIPT_MS];
    return this.#connection.run((client) => DESTROY.run(client, 3, argv), set, isOne);
  }

  protected findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const set = sessionsKey(this.prefix, authKeyId);
    const argv = [set, String(now), sessionKeyPrefix(this.prefix, authKeyId)];
    return this.#connection.run(async (client) => this.#decode((await LIST.run(client, 1, argv)) as string[], authKeyId), set);
  }

  /** One script: the live sessions go, their ids are kept in this call's receipt so a resend answers the same. */
  protected removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const set = sessionsKey(this.prefix, authKeyId);
    const argv = [set, this.#token(authKeyId), String(now), sessionKeyPrefix(this.prefix, authKeyId), RECEIPT_MS];
    return this.#connection.run(async (client) => this.#decode((await DESTROY_ALL.run(client, 2, argv)) as string[], authKeyId), set);
  }

  /**
   * One bounded batch: windows of index entries due at `now` (one ZRANGE each), one
   * script per candidate on its auth key's slot (sent together), one script fixing the
   * index. The candidate script deletes the session only if it is still expired, so of
   * racing sweeps each session is reported by the one whose script removed it; a
   * session touched since its entry was written gets its entry moved to its expiry.
   *
   * Windows follow one another until `limit` sessions are removed or the index has
   * nothing more due (at most SWEEP_CANDIDATES entries looked at): a touch leaves its
   * session's entry where it was, so a window can hold few expired sessions or none
   * (entries of sessions touched since, or taken by a racing node), and a subject's
   * sweep stops at the first batch that comes back short. One window per call left
   * most of a backlog for later intervals (seen: 520 of 3,000 expired sessions removed,
   * 3,000 touched ones among them), and native expiry then removed them unannounced.
   */
  protected override removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    return this.#connection.run(async (client) => {
      const removed: ExpiredSession[] = [];
      for (let looked = 0; removed.length < limit && looked < SWEEP_CANDIDATES; ) {
        const want = limit - removed.length;
        let window: number;
        try {
          window = await this.#sweepWindow(client, now, want, removed);
        } catch (error) {
          // Sessions already removed are returned, so they are announced; the next call meets the failure again.
          if (removed.length === 0) throw error;
          break;
        }
        looked += window;
        if (window < want) break; // nothing more due
      }
      return removed;
    }, this.#index);
  }

  /** One window of the sweep: up to `count` due entries; what it removed goes to `removed`. How many entries it looked at. */
  async #sweepWindow(client: RedisClient, now: number, count: number, removed: ExpiredSession[]): Promise<number> {
    const due = await client.zrangebyscore(this.#index, '-inf', now, 'WITHSCORES', 'LIMIT', 0, count);
    const candidates: { member: string; score: string; authKeyId: bigint; sessionId: bigint }[] = [];
    for (let i = 0; i < due.length; i += 2) {
      const member = due[i] as string;
      const colon = member.indexOf(':', 1);
      const where = `expiry index entry ${JSON.stringify(member.slice(0, 60))}`;
      candidates.push({ member, score: due[i + 1] as string, authKeyId: int64FromStorage(member.slice(0, colon), where), sessionId: int64FromStorage(member.slice(colon + 1), where) });
    }
    const outcomes = (await Promise.all(
      candidates.map(({ authKeyId, sessionId }) =>
        EXPIRE_ONE.run(client, 2, [sessionsKey(this.prefix, authKeyId), sessionKey(this.prefix, authKeyId, sessionId), String(now), sessionId.toString()]),
      ),
    )) as [number | string, string][];
    const reindex: string[] = [];
    outcomes.forEach(([done, expires], i) => {
      const candidate = candidates[i] as (typeof candidates)[number];
      if (isOne(done)) removed.push({ authKeyId: candidate.authKeyId, sessionId: candidate.sessionId });
      // Removed or gone: the entry goes; live again (touched, or never expiring now): it moves to the expiry, or goes.
      reindex.push(candidate.member, candidate.score, isOne(done) ? '' : expires);
    });
    if (reindex.length > 0) await REINDEX.run(client, 1, [this.#index, ...reindex]);
    return candidates.length;
  }

  #decode(ids: string[], authKeyId: bigint): bigint[] {
    return ids.map((id) => int64FromStorage(id, `server session of authKeyId=${authKeyId}: session id`));
  }

  protected override describe(): Record<string, unknown> {
    return { prefix: this.prefix, ownsConnection: this.#connection.owned, ttlSeconds: this.ttlMs === null ? null : this.ttlMs / 1000 };
  }

  protected closeConnection(): Promise<void> {
    return this.#connection.close();
  }
}
