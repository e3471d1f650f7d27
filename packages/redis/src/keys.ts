import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import { bytes, decimal, decodeKeyEntries, entryField, tempFields } from './codec.js';
import type { RedisConnection } from './connection.js';
import type { Command, Fence } from './fence.js';
import type { ClientKeys } from './schema.js';
import { LuaScript } from './scripts.js';

/**
 * deleteByDc. KEYS: the keys hash. ARGV: the field prefixes of the DC's two entries
 * (`dc<id>.` covers the media entry `dc<id>.media.` too). Returns the fields removed.
 */
const DELETE_DC = new LuaScript(`
local prefix = ARGV[1]
local doomed = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #prefix) == prefix then doomed[#doomed + 1] = field end
end
if #doomed == 0 then return 0 end
return redis.call('HDEL', KEYS[1], unpack(doomed))
`);

/**
 * Auth keys of one session, fields of the session's keys hash (codec.ts names them).
 * Every write is one command on one key — HSET or HDEL, a temp key and its expiry
 * together — so writers of different keys never lose each other's writes and no
 * snapshot is needed. Under a lease each write is that command inside the fence's
 * script instead (fence.ts).
 */
export class RedisAuthKeys implements AuthKeyRepository {
  readonly #main = new Map<number, string>();

  constructor(
    private readonly connection: RedisConnection,
    private readonly keys: ClientKeys,
    private readonly where: string,
    private readonly fence: Fence,
  ) {}

  /** `dc<id>.`, cached: the field names of the main entry are built on every call. */
  #entry(dcId: number): string {
    let entry = this.#main.get(dcId);
    if (entry === undefined) this.#main.set(dcId, (entry = entryField(dcId, false)));
    return entry;
  }

  get(dcId: number): Promise<Uint8Array | null> {
    return this.connection.run((client) => client.hgetBuffer(this.keys.keys, `${this.#entry(dcId)}key`), this.where);
  }

  set(dcId: number, key: Uint8Array | null): Promise<void> {
    const field = `${this.#entry(dcId)}key`;
    const token = this.fence.token();
    if (token !== undefined) {
      return this.#fenced(token, key === null ? ['HDEL', this.keys.keys, field] : ['HSET', this.keys.keys, field, bytes(key)]);
    }
    return this.connection.run(
      (client) => (key === null ? client.hdel(this.keys.keys, field) : client.hset(this.keys.keys, field, bytes(key))),
      this.where,
      nothing,
    );
  }

  /** One command under the lease fence (fence.ts). */
  #fenced(token: bigint, command: Command): Promise<void> {
    return this.connection.run((client) => this.fence.commands(client, token, [command]), this.where, nothing);
  }

  getTemp(dcId: number, index: number): Promise<TempAuthKey | null> {
    const field = `${this.#entry(dcId)}temp.${index}`;
    return this.connection.run(
      (client) => client.hmgetBuffer(this.keys.keys, field, `${field}.expiresAt`),
      this.where,
      ([key, expiresAt]) => (key === null || key === undefined ? null : { index, key, expiresAt: decimal(expiresAt?.toString('latin1')) }),
    );
  }

  setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void> {
    const entry = this.#entry(dcId);
    const token = this.fence.token();
    if (token !== undefined) {
      return this.#fenced(
        token,
        temp === null ? ['HDEL', this.keys.keys, `${entry}temp.${index}`, `${entry}temp.${index}.expiresAt`] : ['HSET', this.keys.keys, ...tempFields(entry, temp)],
      );
    }
    return this.connection.run(
      (client) =>
        temp === null ? client.hdel(this.keys.keys, `${entry}temp.${index}`, `${entry}temp.${index}.expiresAt`) : client.hset(this.keys.keys, tempFields(entry, temp)),
      this.where,
      nothing,
    );
  }

  deleteByDc(dcId: number): Promise<void> {
    const token = this.fence.token();
    return this.connection.run((client) => this.fence.script(client, token, DELETE_DC, 1, [this.keys.keys, this.#entry(dcId)]), this.where, nothing);
  }

  /** One HGETALL of the keys hash. */
  entries(): Promise<AuthKeyEntry[]> {
    return this.connection.run(
      (client) => client.hgetallBuffer(this.keys.keys),
      this.where,
      (hash) => decodeKeyEntries(hash, this.where),
    );
  }

  /** One DEL of the keys hash: the snapshot hash holds no key bytes. */
  clear(): Promise<void> {
    const token = this.fence.token();
    if (token !== undefined) return this.#fenced(token, ['DEL', this.keys.keys]);
    return this.connection.run((client) => client.del(this.keys.keys), this.where, nothing);
  }
}

function nothing(): void {}
