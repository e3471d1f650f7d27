import { BaseStorage, optionNames, withKnownOptions, type BaseStorageOptions, type ChannelState, type Session, type SessionUpdate, type UpdateState } from '@mtstore/core';
import { decodeSession, encodeChannels, encodeDcs, encodeKeys, encodeSession, encodeState, encodeUpdateState, encodeUser, STATE_FIELDS, USER_FIELDS, type Field } from './codec.js';
import { Fence, type Command } from './fence.js';
import { RedisLeases } from './lease.js';
import { execResults, RedisConnection, type RedisCloseOptions, type RedisConnectionOptions } from './connection.js';
import { RedisAuthKeys } from './keys.js';
import { RedisKeyValues } from './kv.js';
import { scanNames } from './migrate.js';
import { RedisPeers } from './peers.js';
import { RedisRefMessages } from './refs.js';
import { clientKeys, type ClientKeys } from './schema.js';
import { DELETE_SESSION, isOne, UPDATE_SESSION, UPDATE_STATE } from './scripts.js';

export interface RedisStorageOptions extends RedisConnectionOptions, RedisCloseOptions, BaseStorageOptions {
  /** Session name. Default: `default`. */
  name?: string | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<RedisStorageOptions>()(['url', 'options', 'cluster', 'client', 'prefix', 'create', 'closeTimeoutMillis', 'name', 'encryption']);

/**
 * Client Storage in Redis: one named session per instance. Everything of the session
 * lives in keys sharing the hash tag `{<name>}` (see schema.ts), so every operation
 * is one command, one MULTI or one Lua script — also on Redis Cluster. This file
 * holds the snapshot; keys, kv entries, peers and reference messages each have
 * their own file.
 */
export class RedisStorage extends BaseStorage {
  readonly prefix: string;
  protected readonly authKeyRepository: RedisAuthKeys;
  protected readonly kvRepository: RedisKeyValues;
  protected readonly peerRepository: RedisPeers;
  protected readonly refMessageRepository: RedisRefMessages;
  readonly #connection: RedisConnection;
  readonly #keys: ClientKeys;
  readonly #fence: Fence;

  constructor(options: RedisStorageOptions = {}) {
    // A null options object is reported by RedisConnection, after the base class took the name.
    super(withKnownOptions(options, OPTIONS, 'RedisStorage')?.name ?? 'default', { encryption: options?.encryption });
    this.#connection = new RedisConnection(options, 'RedisStorage', { closeTimeoutMillis: options?.closeTimeoutMillis });
    this.prefix = this.#connection.prefix;
    this.#keys = clientKeys(this.prefix, this.name);
    // Every write reads the held lease token once and, when there is one, runs fenced (fence.ts).
    const fence = (this.#fence = new Fence(this.#keys.lease, () => this.fenceToken));
    this.authKeyRepository = new RedisAuthKeys(this.#connection, this.#keys, this.storedLabel, fence);
    this.kvRepository = new RedisKeyValues(this.#connection, this.#keys, this.storedLabel, fence);
    this.peerRepository = new RedisPeers(this.#connection, this.#keys, this.storedLabel, fence);
    this.refMessageRepository = new RedisRefMessages(this.#connection, this.#keys, this.storedLabel, fence);
  }

  protected override createLeaseRepository(): RedisLeases {
    return new RedisLeases(this.#connection, this.prefix, this.name, this.storedLabel);
  }

  /** One MULTI of two HGETALLs: the snapshot and its keys, never torn by a concurrent save. */
  protected readSession(): Promise<Session | null> {
    return this.#connection.run(async (client) => {
      const [hash, keys] = execResults(await client.multi().hgetallBuffer(this.#keys.session).hgetallBuffer(this.#keys.keys).exec()) as Record<string, Buffer>[];
      // HGETALL of a missing key is {}: keys alone are not a snapshot.
      return hash === undefined || isEmpty(hash) ? null : decodeSession(hash, keys ?? {}, this.storedLabel);
    }, this.storedLabel);
  }

  /** Full replace of the snapshot and of every key, in one MULTI (under a lease: one fenced script of the same commands). */
  protected writeSession(session: Session): Promise<void> {
    const fields = encodeSession(session);
    const keyFields = encodeKeys(session.dcs);
    const token = this.#fence.token();
    return this.#connection.run(async (client) => {
      if (token !== undefined) {
        const commands: Command[] = [['DEL', this.#keys.session, this.#keys.keys], ...hsetChunks(this.#keys.session, fields), ...hsetChunks(this.#keys.keys, keyFields)];
        await this.#fence.commands(client, token, commands);
        return;
      }
      const multi = client.multi().del(this.#keys.session, this.#keys.keys).hset(this.#keys.session, fields);
      if (keyFields.length > 0) multi.hset(this.#keys.keys, keyFields);
      execResults(await multi.exec());
    }, this.storedLabel);
  }

  /** One script: removes the fields set to null, sets the given ones (creating the snapshot when allowed). */
  protected writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    const remove: string[] = [];
    const set: Field[] = [];
    if (patch.homeDcId !== undefined) set.push('homeDcId', String(patch.homeDcId));
    if (patch.dcs !== undefined) set.push('dcs', encodeDcs(patch.dcs));
    if (patch.apiId === null) remove.push('apiId');
    else if (patch.apiId !== undefined) set.push('apiId', String(patch.apiId));
    if (patch.takeoutId === null) remove.push('takeoutId');
    else if (patch.takeoutId !== undefined) set.push('takeoutId', patch.takeoutId.toString());
    if (patch.user !== undefined) {
      // A new user replaces every user field: optional ones it lacks must not survive.
      remove.push(...USER_FIELDS);
      if (patch.user !== null) encodeUser(patch.user, set);
    }
    if (patch.state === null) remove.push(...STATE_FIELDS);
    else if (patch.state !== undefined) encodeState(patch.state, set);
    // The script removes the stored channels first; these are the new ones, in order.
    if (patch.channels !== undefined) encodeChannels(patch.channels, set);
    const argv: Field[] = [this.#keys.session, patch.homeDcId !== undefined ? '1' : '0', patch.channels !== undefined ? '1' : '0', String(remove.length), ...remove, ...set];
    const token = this.#fence.token();
    return this.#connection.run((client) => this.#fence.script(client, token, UPDATE_SESSION, 1, argv), this.storedLabel, isOne);
  }

  protected writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const argv = encodeUpdateState(this.#keys.session, state, channels);
    const token = this.#fence.token();
    return this.#connection.run((client) => this.#fence.script(client, token, UPDATE_STATE, 1, argv), this.storedLabel, isOne);
  }

  protected deleteSession(): Promise<void> {
    const all = this.#keys.all;
    const argv = [...all, this.#keys.refPeer, String(all.indexOf(this.#keys.refIndex) + 1)];
    const token = this.#fence.token();
    return this.#connection.run(async (client) => {
      await this.#fence.script(client, token, DELETE_SESSION, all.length, argv);
    }, this.storedLabel);
  }

  /** SCAN for `<prefix>client:{*` on every master: a name is listed while any of its keys exists. */
  protected listSessionNames(): Promise<string[]> {
    return this.#connection.run(async (client) => [...(await scanNames(client, this.prefix))].sort(), this.storedLabel);
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, prefix: this.prefix, ownsConnection: this.#connection.owned };
  }

  protected closeConnection(): Promise<void> {
    return this.#connection.close();
  }
}

/** HSET commands of at most 1,000 field / value pairs each (a script's unpack has a limit). */
function hsetChunks(key: string, fields: readonly Field[]): Command[] {
  const commands: Command[] = [];
  for (let i = 0; i < fields.length; i += 2000) commands.push(['HSET', key, ...fields.slice(i, i + 2000)]);
  return commands;
}

function isEmpty(hash: Record<string, Buffer>): boolean {
  for (const _field in hash) return false;
  return true;
}
