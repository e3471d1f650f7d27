import {
  optionNames,
  withKnownOptions,
  BaseStorage,
  describeValue,
  InvalidArgumentError,
  Once,
  type BaseStorageOptions,
  type ChannelState,
  type Session,
  type SessionUpdate,
  type UpdateState,
} from '@mtstore/core';
import { decodeSession, encodeChannels, encodeDataCenter, encodeSession, encodeUser, READ, updateStateOperators } from './codec.js';
import { openConnection, type Connection, type MongoCloseOptions, type MongoConnectionOptions } from './connection.js';
import { guarded, leased, upsertRetry, type Context, type Scope } from './context.js';
import { WriteFence, type FenceDocument } from './fence.js';
import { MongoAuthKeys } from './keys.js';
import { MongoKeyValues } from './kv.js';
import { MongoLeases, type LeaseDocument, type LeaseRun } from './lease.js';
import { isDuplicateKey, SessionLocks, type LockDocument } from './lock.js';
import { MongoPeers } from './peers.js';
import { MongoRefMessages } from './refs.js';
import { collectionNames, prepare } from './schema.js';
import { assertDocumentSize, UNSIZED_CHANNELS } from './size.js';

/**
 * How concurrent writes to one session stay correct.
 * - `atomic`: single-document writes (`save`, `update`, `saveUpdateState`, auth keys,
 *   the reference-message counter) are one command each, atomic on the server (MongoDB);
 * - `locked`: they also take the session's write lease, for servers that apply update
 *   operators as a non-atomic read-modify-write (FerretDB 1.x loses concurrent `$set`s).
 * - `auto` (default): `locked` on FerretDB 1.x, detected on first use; else `atomic`.
 * Peer batches, `peers.clear()` and `delete()` take the lease in every mode.
 */
export type MongoWriteMode = 'auto' | 'atomic' | 'locked';

export interface MongoStorageOptions extends MongoConnectionOptions, MongoCloseOptions, BaseStorageOptions {
  /** Session name: one named session (one account) per instance. Default `default`. */
  name?: string | undefined;
  writeMode?: MongoWriteMode | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<MongoStorageOptions>()(['url', 'client', 'db', 'database', 'collectionPrefix', 'clientOptions', 'create', 'closeTimeoutMillis', 'name', 'writeMode', 'encryption']);

/**
 * Client Storage on MongoDB (or a MongoDB-wire server such as FerretDB): per session
 * name one document in `<prefix>sessions` holding the snapshot and the auth keys, one
 * per peer in `<prefix>peers` (username and phone lookups in `<prefix>peer_index`),
 * per kv entry in `<prefix>kv` and per reference message in `<prefix>ref_messages`.
 * Keys, kv, peers and references each have their own file; this one holds the
 * snapshot. Connects and migrates on first use.
 */
export class MongoStorage extends BaseStorage {
  readonly database: string;
  readonly collectionPrefix: string;
  protected readonly authKeyRepository: MongoAuthKeys;
  protected readonly kvRepository: MongoKeyValues;
  protected readonly peerRepository: MongoPeers;
  protected readonly refMessageRepository: MongoRefMessages;
  readonly #connection: Connection;
  readonly #writeMode: MongoWriteMode;
  /** Collections and server facts, once; a failed attempt (server down) is retried by the next call. */
  readonly #context = new Once(() => this.#prepare());
  readonly #scope: Scope;

  constructor(options: MongoStorageOptions) {
    super(withKnownOptions(options, OPTIONS, 'MongoStorage')?.name ?? 'default', { encryption: options?.encryption });
    const writeMode: unknown = options?.writeMode ?? 'auto';
    if (writeMode !== 'auto' && writeMode !== 'atomic' && writeMode !== 'locked') {
      // describeValue: any value (a bigint, a circular object, a key in hex) is described safely.
      throw new InvalidArgumentError(`MongoStorage: writeMode must be 'auto', 'atomic' or 'locked', got ${describeValue(writeMode)}`);
    }
    this.#writeMode = writeMode;
    this.#connection = openConnection(options, 'MongoStorage', options?.closeTimeoutMillis);
    this.database = this.#connection.db.databaseName;
    this.collectionPrefix = this.#connection.prefix;
    const closing = this.#connection.closing;
    this.#scope = {
      name: this.name,
      label: this.storedLabel,
      // Counted while in flight: close() lets it finish (Closing.track).
      run: (work) => closing.track(this.#context.value !== undefined ? work(this.#context.value) : this.#ready().then(work)),
      where: (operation) => this.where(operation),
      fenceToken: () => this.fenceToken,
    };
    this.authKeyRepository = new MongoAuthKeys(this.#scope);
    this.kvRepository = new MongoKeyValues(this.#scope);
    this.peerRepository = new MongoPeers(this.#scope);
    this.refMessageRepository = new MongoRefMessages(this.#scope);
  }

  protected override createLeaseRepository(): MongoLeases {
    const db = this.#connection.db;
    const prefix = this.#connection.prefix;
    // Connected and migrated first, and counted while in flight, like every other operation.
    const run: LeaseRun = (work) => this.#scope.run(() => work(db.collection<LeaseDocument>(`${prefix}leases`), db.collection<FenceDocument>(collectionNames(prefix).fences)));
    return new MongoLeases(run, this.name, this.where('lease.acquire'));
  }

  /** The prepared context (the snapshot's own calls check their input before this, and count themselves). Once prepared, no await. */
  #ready(): Promise<Context> {
    return this.#context.value !== undefined ? Promise.resolve(this.#context.value) : this.#context.run();
  }

  protected override describe(): Record<string, unknown> {
    return { ...super.describe(), ...this.#connection.describe };
  }

  async #prepare(): Promise<Context> {
    const { profile } = await prepare(this.#connection, this.where('connect'));
    const db = this.#connection.db;
    const names = collectionNames(this.#connection.prefix);
    const closing = this.#connection.closing;
    const stopped = () => closing.forced;
    return {
      sessions: db.collection(names.sessions),
      peers: db.collection(names.peers),
      index: db.collection(names.peerIndex),
      journal: db.collection(names.peerJournal),
      kv: db.collection(names.kv),
      refs: db.collection(names.refs),
      locks: new SessionLocks(db.collection<LockDocument>(names.locks), undefined, undefined, stopped),
      fence: new WriteFence(db.collection<FenceDocument>(names.fences), this.name, stopped),
      profile,
      locked: this.#writeMode === 'locked' || (this.#writeMode === 'auto' && profile.ferretdb1),
    };
  }

  protected readSession(): Promise<Session | null> {
    return this.#scope.run(async (c) => {
      const doc = await c.sessions.findOne({ _id: this.name }, READ);
      return doc === null ? null : decodeSession(doc, this.storedLabel);
    });
  }

  /** One replace of the whole per-name document: snapshot and keys change together. */
  protected writeSession(session: Session): Promise<void> {
    return this.#connection.closing.track(
      (async () => {
        const { _id, ...doc } = encodeSession(this.name, session);
        // Before connecting: a session too large for one document is refused, nothing sent.
        assertDocumentSize({ _id, ...doc }, 'the session document', session.channels.length, this.where('save'));
        const c = await this.#ready();
        await guarded(c, this.#scope, 'save', () => upsertRetry(() => c.sessions.replaceOne({ _id }, doc, { upsert: true }), isDuplicateKey));
      })(),
    );
  }

  /**
   * One `updateOne` of the given fields. Without `homeDcId` it matches only a stored
   * snapshot (a document holding only keys has none) and never upserts; with it, it
   * upserts, and a document without a snapshot gets one (channels start empty).
   */
  protected writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    return this.#connection.closing.track(
      (async () => {
        const $set: Record<string, unknown> = {};
        const $unset: Record<string, ''> = {};
        if (patch.homeDcId !== undefined) $set.homeDcId = patch.homeDcId;
        if (patch.dcs !== undefined) $set.dcs = patch.dcs.map(encodeDataCenter);
        if (patch.apiId === null) $unset.apiId = '';
        else if (patch.apiId !== undefined) $set.apiId = patch.apiId;
        if (patch.user === null) $unset.user = '';
        else if (patch.user !== undefined) $set.user = encodeUser(patch.user);
        if (patch.takeoutId === null) $unset.takeoutId = '';
        else if (patch.takeoutId !== undefined) $set.takeoutId = patch.takeoutId;
        if (patch.state === null) $unset.state = '';
        else if (patch.state !== undefined) $set.state = { pts: patch.state.pts, qts: patch.state.qts, date: patch.state.date, seq: patch.state.seq };
        // The whole sub-document: channels not in the patch go.
        if (patch.channels !== undefined) $set.channels = encodeChannels(patch.channels);
        const update: Record<string, Record<string, unknown>> = {};
        if (Object.keys($set).length > 0) update.$set = $set;
        if (Object.keys($unset).length > 0) update.$unset = $unset;
        // The operators, not the resulting document (which needs a read to size): they
        // hold every field the patch replaces, channels included.
        assertDocumentSize(update, 'the update of the session document', patch.channels?.length ?? 0, this.where('update'));
        const c = await this.#ready();
        const creates = patch.homeDcId !== undefined;
        const filter = creates ? { _id: this.name } : { _id: this.name, homeDcId: { $exists: true } };
        if (Object.keys(update).length === 0) {
          // An empty patch changes nothing: it succeeds exactly when a snapshot is stored.
          return (await c.sessions.findOne(filter, { projection: { _id: 1 } })) !== null;
        }
        return guarded(c, this.#scope, 'update', async () => {
          const result = await upsertRetry(() => c.sessions.updateOne(filter, update, { upsert: creates }), isDuplicateKey);
          return result.matchedCount === 1 || result.upsertedCount === 1;
        });
      })(),
    );
  }

  protected writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    return this.#connection.closing.track(
      (async () => {
        const operators = updateStateOperators(state, channels);
        if (channels.length > UNSIZED_CHANNELS) assertDocumentSize(operators, 'the update of the session document', channels.length, this.where('saveUpdateState'));
        const c = await this.#ready();
        const write = async () => (await c.sessions.updateOne({ _id: this.name, homeDcId: { $exists: true } }, operators)).matchedCount === 1;
        return guarded(c, this.#scope, 'saveUpdateState', write);
      })(),
    );
  }

  protected deleteSession(): Promise<void> {
    return this.#scope.run(async (c) => {
      const name = this.name;
      await leased(c, this.#scope, 'delete', async (check) => {
        check.check();
        // The snapshot and keys first: a concurrent saveUpdateState then finds nothing to add to.
        await c.sessions.deleteOne({ _id: name });
        await c.journal.deleteMany({ session: name }); // before the peers: readers fall back to it
        await Promise.all([
          c.peers.deleteMany({ session: name }),
          c.index.deleteMany({ session: name }),
          c.kv.deleteMany({ session: name }),
          c.refs.deleteMany({ session: name }),
          c.refs.deleteOne({ _id: name }),
        ]);
      });
    });
  }

  /** Every name with a per-name document, a peer, a kv entry or a reference message. */
  protected listSessionNames(): Promise<string[]> {
    return this.#scope.run(async (c) => {
      const [sessions, ...others] = await Promise.all([
        c.sessions.find({}, { projection: { _id: 1 } }).toArray(),
        c.peers.distinct('session'),
        c.kv.distinct('session'),
        c.refs.distinct('session'),
      ]);
      const names = new Set<string>(sessions.map((doc) => doc._id));
      for (const list of others) for (const name of list) if (typeof name === 'string') names.add(name);
      return [...names].sort();
    });
  }

  /** close() begins by giving the session lease back (core): the grace of Closing starts here. */
  protected override beforeClose(): Promise<void> {
    this.#connection.closing.begin();
    return super.beforeClose();
  }

  protected async closeConnection(): Promise<void> {
    try {
      // Calls in flight finish first: closing the client would interrupt them (Closing.track).
      await this.#connection.closing.settled();
      // Leased work in flight finishes and gives its lease back before the client goes
      // (cut short on a server silent for CLOSE_GRACE_MS: connection.ts, Closing).
      await this.#context.value?.locks.close();
      await this.#context.value?.fence.close();
    } finally {
      await this.#connection.closing.end();
    }
  }
}
