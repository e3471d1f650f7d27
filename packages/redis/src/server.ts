import { BaseSessionStorage, int64FromStorage } from '@mtstore/core';
import { execResults, RedisConnection, type RedisClient, type RedisConnectionOptions } from './connection.js';
import { sessionsKey } from './schema.js';

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

  async #client(): Promise<RedisClient> {
    if (!this.#connection.isReady) await this.#connection.ready();
    return this.#connection.client;
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return (await (await this.#client()).sadd(sessionsKey(this.prefix, authKeyId), sessionId.toString())) === 1;
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    // Once ready, no await beyond the command itself: this is the per-message hot path.
    const client = this.#connection.isReady ? this.#connection.client : await this.#client();
    return (await client.sismember(sessionsKey(this.prefix, authKeyId), sessionId.toString())) === 1;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    return (await (await this.#client()).srem(sessionsKey(this.prefix, authKeyId), sessionId.toString())) === 1;
  }

  protected async findSessions(authKeyId: bigint): Promise<bigint[]> {
    const ids = await (await this.#client()).smembers(sessionsKey(this.prefix, authKeyId));
    return this.#decode(ids, authKeyId);
  }

  /** SMEMBERS and DEL in one MULTI: concurrent callers each get exactly what they removed. */
  protected async removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const key = sessionsKey(this.prefix, authKeyId);
    const [ids] = execResults(await (await this.#client()).multi().smembers(key).del(key).exec());
    return this.#decode(ids as string[], authKeyId);
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
