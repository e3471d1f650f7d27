import type { Collection } from 'mongodb';
import {
  BaseStorage,
  InvalidArgumentError,
  Once,
  usernameKey,
  type ChannelState,
  type Peer,
  type PeerType,
  type Session,
  type UpdateState,
} from '@mtstore/core';
import {
  decodePeer,
  decodeSession,
  encodeSession,
  peerDocumentId,
  phoneHandleId,
  READ,
  updateStateOperators,
  usernameHandleId,
  type StringIdDocument,
} from './codec.js';
import { openConnection, type Connection, type MongoConnectionOptions } from './connection.js';
import { isDuplicateKey, SessionLocks, type LockDocument } from './lock.js';
import { writePeers, type PeerCollections } from './peers.js';
import { collectionNames, prepare } from './schema.js';

/**
 * How concurrent writes to one session stay correct.
 * - `atomic`: `save` is one replace and `saveUpdateState` one `$set`, each atomic on
 *   the server (MongoDB);
 * - `locked`: they also take the session's write lease, for servers that apply update
 *   operators as a non-atomic read-modify-write (FerretDB 1.x loses concurrent `$set`s).
 * - `auto` (default): `locked` on FerretDB 1.x, detected on first use; else `atomic`.
 * Peer batches and `delete()` take the lease in every mode.
 */
export type MongoWriteMode = 'auto' | 'atomic' | 'locked';

export interface MongoStorageOptions extends MongoConnectionOptions {
  /** Session name: one named session (one account) per instance. Default `default`. */
  name?: string;
  writeMode?: MongoWriteMode;
}

interface Context extends PeerCollections {
  sessions: Collection<StringIdDocument>;
  locks: SessionLocks;
  locked: boolean;
}

/**
 * Client Storage on MongoDB (or a MongoDB-wire server such as FerretDB): one document
 * per session in `<prefix>sessions`, one per peer in `<prefix>peers`, username and
 * phone lookups in `<prefix>peer_index`. Connects and migrates on first use.
 */
export class MongoStorage extends BaseStorage {
  readonly database: string;
  readonly collectionPrefix: string;
  readonly #connection: Connection;
  readonly #writeMode: MongoWriteMode;
  /** Collections and server facts, once; a failed attempt (server down) is retried by the next call. */
  readonly #context = new Once(() => this.#prepare());

  constructor(options: MongoStorageOptions) {
    super(options?.name ?? 'default');
    const writeMode = options?.writeMode ?? 'auto';
    if (!['auto', 'atomic', 'locked'].includes(writeMode)) {
      throw new InvalidArgumentError(`MongoStorage: writeMode must be 'auto', 'atomic' or 'locked', got ${JSON.stringify(writeMode)}`);
    }
    this.#writeMode = writeMode;
    this.#connection = openConnection(options, 'MongoStorage');
    this.database = this.#connection.db.databaseName;
    this.collectionPrefix = this.#connection.prefix;
  }

  protected override describe(): Record<string, unknown> {
    return { ...super.describe(), ...this.#connection.describe };
  }

  #ready(): Promise<Context> {
    return this.#context.run();
  }

  async #prepare(): Promise<Context> {
    const { profile } = await prepare(this.#connection, this.where('connect'));
    const db = this.#connection.db;
    const names = collectionNames(this.#connection.prefix);
    return {
      sessions: db.collection(names.sessions),
      peers: db.collection(names.peers),
      index: db.collection(names.peerIndex),
      locks: new SessionLocks(db.collection<LockDocument>(names.locks)),
      profile,
      locked: this.#writeMode === 'locked' || (this.#writeMode === 'auto' && profile.ferretdb1),
    };
  }

  protected async readSession(): Promise<Session | null> {
    const c = await this.#ready();
    const doc = await c.sessions.findOne({ _id: this.name }, READ);
    return doc === null ? null : decodeSession(doc, this.storedLabel);
  }

  protected async writeSession(session: Session): Promise<void> {
    const c = await this.#ready();
    const { _id, ...doc } = encodeSession(this.name, session);
    const replace = () => c.sessions.replaceOne({ _id }, doc, { upsert: true });
    const write = async () => {
      // Two first saves racing: the loser's upsert meets the winner's insert; replace it then.
      await replace().catch((error: unknown) => (isDuplicateKey(error) ? replace() : Promise.reject(error)));
    };
    await (c.locked ? c.locks.run(this.name, this.where('save'), write) : write());
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const c = await this.#ready();
    const write = async () => (await c.sessions.updateOne({ _id: this.name }, updateStateOperators(state, channels))).matchedCount === 1;
    return c.locked ? c.locks.run(this.name, this.where('saveUpdateState'), write) : write();
  }

  protected async deleteSession(): Promise<void> {
    const c = await this.#ready();
    // The session first: a concurrent saveUpdateState or upsert then finds nothing to add to.
    await c.locks.run(this.name, this.where('delete'), async () => {
      await c.sessions.deleteOne({ _id: this.name });
      await Promise.all([c.peers.deleteMany({ session: this.name }), c.index.deleteMany({ session: this.name })]);
    });
  }

  protected async upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    const c = await this.#ready();
    return c.locks.run(this.name, this.where('peers.upsert'), () => writePeers(c, this.name, peers, `${this.storedLabel}, peer`));
  }

  /**
   * A miss while a peer batch holds the lease may be the batch's own gap (FerretDB
   * replaces by delete + insert; lookups move after peers): wait for it, look again.
   */
  async #lookup(c: Context, find: () => Promise<Peer | null>): Promise<Peer | null> {
    const found = await find();
    if (found !== null || !(await c.locks.held(this.name))) return found;
    await c.locks.settled(this.name);
    return find();
  }

  async #peerAt(c: Context, id: string): Promise<Peer | null> {
    const doc = await c.peers.findOne({ _id: id }, READ);
    return doc === null ? null : decodePeer(doc, `${this.storedLabel}, peer`);
  }

  /** The owner a lookup points to, if it still lists what was looked up (lookups of released names linger). */
  async #owner(c: Context, handleId: string, owns: (peer: Peer) => boolean): Promise<Peer | null> {
    const handle = await c.index.findOne({ _id: handleId });
    if (handle === null || typeof handle.peer !== 'string') return null;
    const peer = await this.#peerAt(c, handle.peer);
    return peer !== null && owns(peer) ? peer : null;
  }

  protected async findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    const c = await this.#ready();
    return this.#lookup(c, () => this.#peerAt(c, peerDocumentId(this.name, type, id)));
  }

  protected async findPeerByUsername(username: string): Promise<Peer | null> {
    const c = await this.#ready();
    const owns = (peer: Peer) => Array.isArray(peer.usernames) && peer.usernames.some((u) => typeof u === 'string' && usernameKey(u) === username);
    return this.#lookup(c, () => this.#owner(c, usernameHandleId(this.name, username), owns));
  }

  protected async findPeerByPhone(phone: string): Promise<Peer | null> {
    const c = await this.#ready();
    return this.#lookup(c, () => this.#owner(c, phoneHandleId(this.name, phone), (peer) => peer.phone === phone));
  }

  protected async closeConnection(): Promise<void> {
    if (this.#connection.owned) await this.#connection.client?.close();
  }
}
