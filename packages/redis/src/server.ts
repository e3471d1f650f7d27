import { randomBytes } from 'node:crypto';
import { BaseSessionStorage, int64FromStorage } from '@mtstore/core';
import { RedisConnection, type RedisConnectionOptions } from './connection.js';
import { callKey, sessionsKey } from './schema.js';
import { LuaScript } from './scripts.js';

/**
 * How long a call's receipt outlives it. ioredis resends a command whose connection
 * dropped (a Cluster after `retryDelayOnFailover`, a single-server client with
 * `autoResendUnfulfilledCommands`) within moments; a minute covers every retry and
 * reconnect delay with room to spare.
 */
const RECEIPT_MS = '60000';

/**
 * createSession / destroySession. KEYS: the auth key's session set, this call's
 * receipt. ARGV: "SADD" or "SREM", the session id. A client library may send the same
 * command twice (it resends what was in flight when a connection dropped): the first
 * run that makes the transition leaves a receipt named by the call's token, and a
 * resend finds it and answers 1 again instead of "nothing to do". Every other
 * caller has its own token, so exactly one call per transition answers 1.
 */
const TRANSITION = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
local changed = redis.call(ARGV[1], KEYS[1], ARGV[2])
if changed == 1 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
return changed
`);

/**
 * destroyAllSessions. KEYS: the session set, this call's receipt. ARGV: receipt TTL.
 * Returns the ids removed; the receipt keeps them (as a set) for a resend.
 */
const DESTROY_ALL = new LuaScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return redis.call('SMEMBERS', KEYS[2]) end
local ids = redis.call('SMEMBERS', KEYS[1])
if #ids > 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return ids
`);

/** SISMEMBER answers 1 for "is a member", the scripts 1 for "this call made the transition". */
function isOne(reply: unknown): boolean {
  return reply === 1;
}

export type RedisSessionStorageOptions = RedisConnectionOptions;

/**
 * Server sessions in Redis: one set per auth key, `<prefix>auth:{<authKeyId>}:sessions`,
 * holding session ids as decimal strings. SADD / SREM answer whether they added or
 * removed the member — the atomic transition report create and destroy need — and
 * a short-lived receipt per call (`…:call:<token>`, same hash tag) keeps that answer
 * exact when the client library sends the command twice. The hash tag on the auth
 * key id spreads auth keys over a cluster's slots.
 */
export class RedisSessionStorage extends BaseSessionStorage {
  readonly prefix: string;
  readonly #connection: RedisConnection;
  /** Tokens are this instance's random id and a counter: unique without a random draw per call. */
  readonly #instance = randomBytes(8).toString('hex');
  #calls = 0;

  constructor(options: RedisSessionStorageOptions = {}) {
    super();
    this.#connection = new RedisConnection(options, 'RedisSessionStorage');
    this.prefix = this.#connection.prefix;
  }

  #token(): string {
    return `${this.#instance}.${(this.#calls++).toString(36)}`;
  }

  #transition(command: 'SADD' | 'SREM', authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const key = sessionsKey(this.prefix, authKeyId);
    const argv = [key, callKey(this.prefix, authKeyId, this.#token()), command, sessionId.toString(), RECEIPT_MS];
    return this.#connection.run((client) => TRANSITION.run(client, 2, argv), key, isOne);
  }

  protected insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.#transition('SADD', authKeyId, sessionId);
  }

  /** The per-message hot path: one SISMEMBER, and no await of our own once ready. */
  protected sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run((client) => client.sismember(key, sessionId.toString()), key, isOne);
  }

  protected removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return this.#transition('SREM', authKeyId, sessionId);
  }

  protected findSessions(authKeyId: bigint): Promise<bigint[]> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run(async (client) => this.#decode(await client.smembers(key), authKeyId), key);
  }

  /**
   * One script: the set is renamed to this call's receipt (so a resend answers the same
   * ids), which expires. Concurrent callers each get exactly what they removed.
   */
  protected removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const key = sessionsKey(this.prefix, authKeyId);
    const argv = [key, callKey(this.prefix, authKeyId, this.#token()), RECEIPT_MS];
    return this.#connection.run(async (client) => this.#decode((await DESTROY_ALL.run(client, 2, argv)) as string[], authKeyId), key);
  }

  #decode(ids: string[], authKeyId: bigint): bigint[] {
    return ids.map((id) => int64FromStorage(id, `server session of authKeyId=${authKeyId}: session id`));
  }

  protected override describe(): Record<string, unknown> {
    return { prefix: this.prefix, ownsConnection: this.#connection.owned };
  }

  protected closeConnection(): Promise<void> {
    return this.#connection.close();
  }
}
