import {
  BaseStorage,
  peerKey,
  type ChannelState,
  type Peer,
  type PeerType,
  type Session,
  type UpdateState,
} from '@mtstore/core';
import { decodePeer, decodeSession, encodePeer, encodeSession, encodeUpdateState } from './codec.js';
import { execResults, RedisConnection, type RedisClient, type RedisConnectionOptions } from './connection.js';
import { clientKeys, type ClientKeys } from './schema.js';
import { FIND_PEER, UPDATE_STATE, UPSERT_PEERS } from './scripts.js';

export interface RedisStorageOptions extends RedisConnectionOptions {
  /** Session name. Default: `default`. */
  name?: string;
}

/**
 * Client Storage in Redis: one named session per instance. Everything of the session
 * lives in four keys sharing the hash tag `{<name>}` (see schema.ts), so every
 * operation is one command, one MULTI or one Lua script — also on Redis Cluster.
 */
export class RedisStorage extends BaseStorage {
  readonly prefix: string;
  readonly #connection: RedisConnection;
  readonly #keys: ClientKeys;
  readonly #where: string;

  constructor(options: RedisStorageOptions = {}) {
    // A null options object is reported by RedisConnection, after the base class took the name.
    super(options?.name ?? 'default');
    this.#connection = new RedisConnection(options, 'RedisStorage');
    this.prefix = this.#connection.prefix;
    this.#keys = clientKeys(this.prefix, this.name);
    this.#where = `session ${JSON.stringify(this.name)}`;
  }

  /** The connection, once the layout version is checked. */
  async #client(): Promise<RedisClient> {
    if (!this.#connection.isReady) await this.#connection.ready();
    return this.#connection.client;
  }

  protected async readSession(): Promise<Session | null> {
    const hash = await (await this.#client()).hgetallBuffer(this.#keys.session);
    return isEmpty(hash) ? null : decodeSession(hash, this.#where);
  }

  protected async writeSession(session: Session): Promise<void> {
    const client = await this.#client();
    execResults(await client.multi().del(this.#keys.session).hset(this.#keys.session, encodeSession(session)).exec());
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const client = await this.#client();
    return (await UPDATE_STATE.run(client, [this.#keys.session], encodeUpdateState(state, channels))) === 1;
  }

  protected async deleteSession(): Promise<void> {
    await (await this.#client()).del(...this.#keys.all);
  }

  protected async upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    const args: string[] = [];
    for (const peer of peers) args.push(peerKey(peer.type, peer.id), encodePeer(peer));
    return (await UPSERT_PEERS.run(await this.#client(), this.#keys.all, args)) === 1;
  }

  protected async findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    const key = peerKey(type, id);
    const record = await (await this.#client()).hget(this.#keys.peers, key);
    return record === null ? null : decodePeer(key, record, this.#where);
  }

  protected findPeerByUsername(username: string): Promise<Peer | null> {
    return this.#findPeer(this.#keys.usernames, username);
  }

  protected findPeerByPhone(phone: string): Promise<Peer | null> {
    return this.#findPeer(this.#keys.phones, phone);
  }

  async #findPeer(index: string, value: string): Promise<Peer | null> {
    const found = (await FIND_PEER.run(await this.#client(), [this.#keys.peers, index], [value])) as [string, string] | null;
    return found === null ? null : decodePeer(found[0], found[1], this.#where);
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, prefix: this.prefix, ownsConnection: this.#connection.owned };
  }

  protected closeConnection(): Promise<void> {
    return this.#connection.close();
  }
}

function isEmpty(hash: Record<string, Buffer>): boolean {
  for (const _field in hash) return false;
  return true;
}
