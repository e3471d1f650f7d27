import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import { bytes } from './codec.js';
import type { RedisConnection } from './connection.js';
import type { Command, Fence } from './fence.js';
import type { ClientKeys } from './schema.js';

/**
 * kv entries of one session: the fields of one hash, `<prefix>client:{<name>}:kv`,
 * values raw bytes. get / set / delete are one HGET / HSET / HDEL each (under a lease,
 * writes are that command inside the fence's script: fence.ts).
 */
export class RedisKeyValues implements KeyValueRepository {
  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: ClientKeys,
    private readonly where: string,
    private readonly fence: Fence,
  ) {}

  get(key: string): Promise<Uint8Array | null> {
    return this.connection.run((client) => client.hgetBuffer(this.keys.kv, key), this.where, plain);
  }

  set(key: string, value: Uint8Array | null): Promise<void> {
    const token = this.fence.token();
    if (token !== undefined) return this.#fenced(token, value === null ? ['HDEL', this.keys.kv, key] : ['HSET', this.keys.kv, key, bytes(value)]);
    return this.connection.run(
      (client) => (value === null ? client.hdel(this.keys.kv, key) : client.hset(this.keys.kv, key, bytes(value))),
      this.where,
      nothing,
    );
  }

  /** HGETALL, sorted here: a hash has no order. */
  entries(): Promise<KeyValueEntry[]> {
    return this.connection.run(
      (client) => client.hgetallBuffer(this.keys.kv),
      this.where,
      (hash) =>
        Object.keys(hash)
          .sort()
          .map((key) => ({ key, value: plain(hash[key] as Buffer) as Uint8Array })),
    );
  }

  clear(): Promise<void> {
    const token = this.fence.token();
    if (token !== undefined) return this.#fenced(token, ['DEL', this.keys.kv]);
    return this.connection.run((client) => client.del(this.keys.kv), this.where, nothing);
  }

  /** One command under the lease fence (fence.ts). */
  #fenced(token: bigint, command: Command): Promise<void> {
    return this.connection.run((client) => this.fence.commands(client, token, [command]), this.where, nothing);
  }
}

/** A plain Uint8Array of the reply's bytes: callers get no Buffer (and no view on the socket's chunk). */
function plain(value: Buffer | null): Uint8Array | null {
  return value === null ? null : new Uint8Array(value);
}

function nothing(): void {}
