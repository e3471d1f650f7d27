/**
 * Session leases in Redis: `<prefix>lease:{<name>}` holds `token|expiresAtMs|owner`
 * with a native expiry (`PX`), `<prefix>lease:{<name>}:token` the counter its tokens
 * come from, `<prefix>lease:{<name>}:call:<id>` an acquire's receipt (60 s). All carry
 * the session name as their hash tag (the session's own keys do too: fence.ts), so on
 * a Cluster they sit in one slot and each script below is one atomic step on one
 * node: acquire is
 * `SET … PX` of a fresh `INCR`ed token when the key is absent (or `force`), renew and
 * release compare the stored token first. The lease keys are not session keys:
 * `delete()` and `listNames()` leave them alone.
 *
 * Time is the server's (`TIME` and `PX`): the clocks of the hosts running clients
 * need not agree. A Redis without persistence (or a failover to a replica that had
 * not received the write) can forget a lease, like any other write.
 */
import { randomBytes } from 'node:crypto';
import type { LeaseRepository, StoredLease } from '@mtstore/core';
import type { RedisConnection } from './connection.js';
import { leaseKey } from './schema.js';
import { isOne, LuaScript } from './scripts.js';

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS: lease, counter, this call's receipt. ARGV: owner, ttlMs, force ('1'), receipt
 * TTL. Returns {1, value} when taken, {0, value} when held. A client library may send
 * the script twice (ioredis resends what was in flight when a connection dropped): the
 * run that takes the lease leaves a receipt holding the token, so a resend that finds
 * the lease still on that token answers "taken" again instead of "held by someone"
 * (and a forced resend does not take it back from whoever took it since).
 */
const ACQUIRE = new LuaScript(`
local current = redis.call('GET', KEYS[1])
local mine = redis.call('GET', KEYS[3])
if mine and current then
  return {(string.sub(current, 1, #mine + 1) == mine .. '|') and 1 or 0, current}
end
if current and ARGV[3] ~= '1' then return {0, current} end
${NOW}
local token = redis.call('INCR', KEYS[2])
local value = token .. '|' .. (now + tonumber(ARGV[2])) .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
redis.call('SET', KEYS[3], token, 'PX', ARGV[4])
return {1, value}
`);

/** How long an acquire's receipt outlives it: resends come within moments (as server.ts's receipts). */
const RECEIPT_MS = '60000';

/** KEYS: lease. ARGV: token, ttlMs. Returns the new expiry (ms) or false when the token is not the lease's. */
const RENEW = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if not current then return false end
local bar = string.find(current, '|', 1, true)
if string.sub(current, 1, bar - 1) ~= ARGV[1] then return false end
local rest = string.sub(current, bar + 1)
local owner = string.sub(rest, string.find(rest, '|', 1, true) + 1)
${NOW}
local expires = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. expires .. '|' .. owner, 'PX', ARGV[2])
return tostring(expires)
`);

/** KEYS: lease. ARGV: token. */
const RELEASE = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then redis.call('DEL', KEYS[1]) end
return 1
`);

function decode(value: string): StoredLease {
  const first = value.indexOf('|');
  const second = value.indexOf('|', first + 1);
  let token = -1n;
  try {
    token = BigInt(value.slice(0, first));
  } catch {
    // core reports a lease that does not decode
  }
  return { token, owner: value.slice(second + 1), expiresAt: Number(value.slice(first + 1, second)) };
}

export class RedisLeases implements LeaseRepository {
  readonly #lease: string;
  readonly #counter: string;
  /** Receipt names are this instance's random id and a counter. */
  readonly #instance = randomBytes(8).toString('hex');
  #calls = 0;

  constructor(
    private readonly connection: RedisConnection,
    prefix: string,
    name: string,
    private readonly label: string,
  ) {
    this.#lease = leaseKey(prefix, name);
    this.#counter = `${this.#lease}:token`;
  }

  acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }> {
    return this.connection.run(async (client) => {
      const receipt = `${this.#lease}:call:${this.#instance}.${(this.#calls++).toString(36)}`;
      const argv = [this.#lease, this.#counter, receipt, owner, String(ttlMs), force ? '1' : '0', RECEIPT_MS];
      const [taken, value] = (await ACQUIRE.run(client, 3, argv)) as [number | string, string];
      return { acquired: isOne(taken), lease: decode(value) };
    }, this.label);
  }

  renew(token: bigint, ttlMs: number): Promise<number | null> {
    return this.connection.run(async (client) => {
      const expires = (await RENEW.run(client, 1, [this.#lease, String(token), String(ttlMs)])) as string | null;
      return expires === null ? null : Number(expires);
    }, this.label);
  }

  release(token: bigint): Promise<void> {
    return this.connection.run(async (client) => {
      await RELEASE.run(client, 1, [this.#lease, String(token)]);
    }, this.label);
  }

  holder(): Promise<StoredLease | null> {
    return this.connection.run(async (client) => {
      const value = await client.get(this.#lease);
      return value === null ? null : decode(value);
    }, this.label);
  }
}
