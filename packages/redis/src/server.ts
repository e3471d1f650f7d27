import { BaseSessionStorage, int64FromStorage } from '@mtstore/core';
import { execResults, RedisConnection, type RedisConnectionOptions } from './connection.js';
import { sessionsKey } from './schema.js';

/** SADD / SREM / SISMEMBER answer 1 for "added", "removed", "is a member". */
function isOne(reply: number): boolean {
  return reply === 1;
}

export type RedisSessionStorageOptions = RedisConnectionOptions;

/**
 * Server sessions in Redis: one set per auth key, `<prefix>auth:{<authKeyId>}:sessions`,
 * holding session ids as decimal strings. SADD / SREM answer whether this call added
 * or removed the member, which is the atomic transition report create and destroy
 * need; the hash tag on the auth key id spreads auth keys over a cluster's slots.
 */
export class RedisSessionStorage extends BaseSessionStorage {
  readonly prefix: string;
  readonly #connection: RedisConnection;

  constructor(options: RedisSessionStorageOptions = {}) {
    super();
    this.#connection = new RedisConnection(options, 'RedisSessionStorage');
    this.prefix = this.#connection.prefix;
  }

  protected insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run((client) => client.sadd(key, sessionId.toString()), key, isOne);
  }

  /** The per-message hot path: one SISMEMBER, and no await of our own once ready. */
  protected sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run((client) => client.sismember(key, sessionId.toString()), key, isOne);
  }

  protected removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run((client) => client.srem(key, sessionId.toString()), key, isOne);
  }

  protected findSessions(authKeyId: bigint): Promise<bigint[]> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run(async (client) => this.#decode(await client.smembers(key), authKeyId), key);
  }

  /** SMEMBERS and DEL in one MULTI: concurrent callers each get exactly what they removed. */
  protected removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const key = sessionsKey(this.prefix, authKeyId);
    return this.#connection.run(async (client) => {
      const [ids] = execResults(await client.multi().smembers(key).del(key).exec());
      return this.#decode(ids as string[], authKeyId);
    }, key);
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
