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
import { RedisLeases } from './lease.js';
import { execResults, RedisConnection, type RedisConnectionOptions } from './connection.js';
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

  constructor(options: RedisStorageOptions = {}) {
    // A null options object is reported by RedisConnection, after the base class took the name.
    super(options?.name ?? 'default');
    this.#connection = new RedisConnection(options, 'RedisStorage');
    this.prefix = this.#connection.prefix;
    this.#keys = clientKeys(this.prefix, this.name);
  }

  protected override createLeaseRepository(): RedisLeases {
    return new RedisLeases(this.#connection, this.prefix, this.name, this.storedLabel);
  }

  protected readSession(): Promise<Session | null> {
    return this.#connection.run(async (client) => {
      const hash = await client.hgetallBuffer(this.#keys.session);
      // HGETALL of a missing key is {}; `version` is the first field of every saved hash.
      return hash.version === undefined && isEmpty(hash) ? null : decodeSession(hash, this.storedLabel);
    }, this.storedLabel);
  }

  protected writeSession(session: Session): Promise<void> {
    const fields = encodeSession(session);
    return this.#connection.run(async (client) => {
      execResults(await client.multi().del(this.#keys.session).hset(this.#keys.session, fields).exec());
    }, this.storedLabel);
  }

  protected writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const argv = encodeUpdateState(this.#keys.session, state, channels);
    return this.#connection.run((client) => UPDATE_STATE.run(client, 1, argv), this.storedLabel, isOne);
  }

  protected deleteSession(): Promise<void> {
    return this.#connection.run(async (client) => {
      await client.del(...this.#keys.all);
    }, this.storedLabel);
  }

  protected upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    const argv: string[] = [...this.#keys.all];
    for (const peer of peers) argv.push(peerKey(peer.type, peer.id), encodePeer(peer));
    return this.#connection.run((client) => UPSERT_PEERS.run(client, 4, argv), this.storedLabel, isOne);
  }

  protected findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    const key = peerKey(type, id);
    return this.#connection.run(async (client) => {
      const record = await client.hget(this.#keys.peers, key);
      return record === null ? null : decodePeer(key, record, this.storedLabel);
    }, this.storedLabel);
  }

  protected findPeerByUsername(username: string): Promise<Peer | null> {
    return this.#findPeer(this.#keys.usernames, username);
  }

  protected findPeerByPhone(phone: string): Promise<Peer | null> {
    return this.#findPeer(this.#keys.phones, phone);
  }

  #findPeer(index: string, value: string): Promise<Peer | null> {
    return this.#connection.run(async (client) => {
      const found = (await FIND_PEER.run(client, 2, [this.#keys.peers, index, value])) as [string, string] | null;
      return found === null ? null : decodePeer(found[0], found[1], this.storedLabel);
    }, this.storedLabel);
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, prefix: this.prefix, ownsConnection: this.#connection.owned };
  }

  protected closeConnection(): Promise<void> {
    return this.#connection.close();
  }
}

/** Script replies: 1 done, 0 no session. */
function isOne(reply: unknown): boolean {
  return reply === 1;
}

function isEmpty(hash: Record<string, Buffer>): boolean {
  for (const _field in hash) return false;
  return true;
}
