/**
 * What every adapter shares, written once: argument validation before any I/O,
 * close semantics, driver-error wrapping, decoding checks and a secret-free
 * `util.inspect`. An adapter extends `BaseStorage` / `BaseSessionStorage` and
 * implements only the protected database operations, which receive valid input.
 */
import { takeChannels, takeCheckedPeers, takeSession, takeSessionUpdate, takeTempKey, takeUpdateState } from './intake.js';
import { parsePeerCursor, parseRefCursor, peerCursor, refCursor, type PeerPosition } from './cursor.js';
import {
  CorruptDataError,
  InvalidArgumentError,
  LeaseLostError,
  NotFoundError,
  StorageClosedError,
  StorageError,
  toStorageError,
} from './errors.js';
import type {
  AuthKeyEntry,
  AuthKeyStore,
  ChannelState,
  ExpiredSession,
  SessionInfo,
  KeyValueEntry,
  KeyValueStore,
  Peer,
  PeerCache,
  RefMessageEntry,
  RefMessageStore,
  Session,
  DataCenter,
  SessionLease,
  SessionStorageProtocol,
  SessionUpdate,
  Storage,
  TempAuthKey,
  UpdateState,
} from './model.js';
import { checkPeerBatch, normalizePeerBatch, takeInOrderBatch } from './peers.js';
import type { AuthKeyRepository, KeyValueRepository, LeaseRepository, PeerRepository, RefMessageRepository } from './repositories.js';
import { escapeKv, isEscaped, isSealed, noEncryptionError, startsLikeSealed, unescapeKv, PERMANENT_KEY_SLOT as PERMANENT_SLOT, Sealer, type EncryptionOptions, type SealContext } from './seal.js';
import { CallsInFlight } from './inflight.js';
import { StorageLease } from './lease.js';
import { AuthKeyBytes, authKeyBytes, checkStoredPeer, checkStoredSession } from './stored.js';
import {
  assertAuthKey,
  assertChannels,
  assertDcId,
  assertEpochSeconds,
  assertInt64,
  assertKvKey,
  assertKvValue,
  assertKvSetOptions,
  assertMessageId,
  assertMessageIds,
  assertPeerType,
  assertPhone,
  assertSession,
  assertSessionName,
  assertSessionUpdate,
  assertTempKeyIndex,
  assertUpdateState,
  assertUsername,
  AUTH_KEY_LENGTH,
  isRecord,
  bytesLength,
  describeValue,
  INT64_MAX,
  INT64_MIN,
  isKvKey,
  phoneHash,
  lookedUpKey,
  usernameLookupHash,
  MAX_DC_ID,
  MAX_KV_VALUE_BYTES,
  MAX_PEER_PAGE,
} from './validate.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * A validation's failure as the call's error: an InvalidArgumentError is prefixed with
 * the operation it came from; core's other typed errors pass as they are. Anything else
 * was thrown by the caller's argument itself while core read it (a getter, a Proxy
 * trap, a revoked Proxy): that is bad input too, so it becomes an InvalidArgumentError
 * (docs/contract.md §8) whose message says only that, with the thrown value kept as
 * `cause` (the caller's own error, never one of core's messages).
 */
function invalid(error: unknown, where: string): unknown {
  if (error instanceof InvalidArgumentError) return new InvalidArgumentError(`${where}: ${error.message}`);
  if (error instanceof StorageError) return error;
  return new InvalidArgumentError(`${where}: an argument could not be read (a getter or Proxy trap of it threw)`, { cause: error });
}

/**
 * Shared close bookkeeping: `close()` is idempotent (every call returns the first
 * call's promise) and flips the closed flag synchronously, so a call made after
 * `close()` was called rejects even while the connection is still shutting down.
 */
abstract class Closable {
  #closing: Promise<void> | undefined;

  protected get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Close the connection if this instance owns it. Called once. */
  protected abstract closeConnection(): Promise<void>;

  /** Extra fields for `util.inspect` (never connection objects or secrets). */
  protected describe(): Record<string, unknown> {
    return {};
  }

  /** Work before the connection closes (BaseStorage gives its lease back). Must not reject. */
  protected beforeClose(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closing ??= this.beforeClose().then(() => this.closeConnection()).catch((error: unknown) => {
      throw toStorageError(error, `${this.constructor.name}.close`);
    });
    return this.#closing;
  }

  protected closedError(operation: string): StorageClosedError {
    return new StorageClosedError(`${this.constructor.name}.${operation}: the storage is closed`);
  }

  /**
   * What `JSON.stringify` shows: the inspect fields. Without it a logger serializing an
   * object that holds a storage walked its connection, driver options (a password) included.
   */
  toJSON(): Record<string, unknown> {
    return { type: this.constructor.name, ...this.describe(), closed: this.closed };
  }

  [INSPECT](): string {
    const fields = { ...this.describe(), closed: this.closed };
    const body = Object.entries(fields)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
      .join(', ');
    return `${this.constructor.name} { ${body} }`;
  }
}

/** What every client storage's options may carry, whatever its database. */
export interface BaseStorageOptions {
  /**
   * Seal auth keys (and secret kv values) at rest with AES-256-GCM. Absent: keys are
   * stored as plain bytes, as before. See docs/contract.md "Encryption at rest".
   */
  encryption?: EncryptionOptions | undefined;
}

/** What `reseal()` did to one session. */
export interface ResealReport {
  name: string;
  /** Keys (permanent and temporary) re-sealed with the write key, plaintext ones included. */
  keys: number;
  /** kv values re-sealed (sealed ones, and plaintext ones under a secret prefix). */
  kvEntries: number;
  /** Keys and kv values already sealed with the write key: left as they are. */
  current: number;
  /**
   * False when no snapshot is stored under the name: its keys (a client writes keys
   * before it saves anything) were listed with `authKeys.entries()` instead.
   */
  snapshot: boolean;
}

/**
 * Shared settled promises for the synchronous answers of the hot paths: a promise's
 * state cannot be changed by whoever receives it, so one serves every call.
 */
const DONE: Promise<void> = Promise.resolve();
/** How many valid kv keys an instance remembers (BaseStorage.#validKvKeys): at most ~64 KiB of strings. */
const MAX_REMEMBERED_KV_KEYS = 256;
const NULL: Promise<null> = Promise.resolve(null);

/**
 * A plaintext kv value as the caller gets it (docs/contract.md §4): a plain Uint8Array
 * over a buffer holding its bytes and nothing else. A repository's value that is not
 * (a driver's Buffer, possibly a slice of Node's shared pool holding other values, or a
 * view into a larger buffer) is copied; one that is, is handed out as it is.
 */
function ownKvValue(value: Uint8Array): Uint8Array {
  if (value.constructor === Uint8Array && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value;
  return new Uint8Array(value);
}

/** A key opened for re-sealing must be a key: anything else is reported, never re-sealed. */
function checkedKey(key: Uint8Array, label: string, what: string): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== AUTH_KEY_LENGTH) {
    throw new CorruptDataError(`${label}: stored ${what} is ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}, expected ${AUTH_KEY_LENGTH} bytes`);
  }
  return key;
}

/**
 * Base class of every client `Storage`. The public methods check `closed`, copy
 * what the caller passed (each field read once: intake.ts; changing it after the call
 * changes nothing stored), validate that copy, call the protected operation or
 * repository with it and turn driver failures into StorageUnavailableError; loaded
 * data passes the stored-data checks.
 *
 * An adapter implements the snapshot operations below and one repository per
 * concern (see repositories.ts), each in its own file.
 */
export abstract class BaseStorage extends Closable implements Storage {
  /** The session name: one named session (one account) per instance. */
  readonly name: string;
  readonly peers: PeerCache;
  readonly authKeys: AuthKeyStore;
  readonly kv: KeyValueStore;
  readonly refMessages: RefMessageStore;
  readonly lease: SessionLease;
  /** The same object as `lease`: the write fence and close() reach it without a cast. */
  readonly #lease: StorageLease;
  /**
   * `session "name"`: the prefix of CorruptDataError messages for this session's stored
   * data, built once so adapters' decoders need not build it on every read.
   */
  protected readonly storedLabel: string;
  /** Seals and opens keys; undefined without `encryption` (the hot paths then do nothing extra). */
  readonly #sealer: Sealer | undefined;
  /**
   * kv keys this instance has seen pass isKvKey, up to MAX_REMEMBERED_KV_KEYS: kv.get and
   * kv.set check a key by one Set lookup (its hash is then cached on the string, and the
   * adapter's own lookup reuses it) instead of a per-character loop. A client uses a few
   * keys over and over; once the set is full it is not grown, and new keys take the loop.
   */
  readonly #validKvKeys = new Set<string>();
  /**
   * Calls of several database steps with awaits between them (reseal): close() waits for
   * them (docs/contract.md §9), since the closed check at their start does not cover their
   * later steps. Single-step calls are the adapters' to count.
   */
  readonly #steps = new CallsInFlight();

  /** Set by the adapter's constructor; called only with valid input, after the closed check. */
  protected abstract readonly authKeyRepository: AuthKeyRepository;
  protected abstract readonly kvRepository: KeyValueRepository;
  protected abstract readonly peerRepository: PeerRepository;
  protected abstract readonly refMessageRepository: RefMessageRepository;

  constructor(name: string, options: BaseStorageOptions = {}) {
    super();
    assertSessionName(name, `${new.target.name}: name`);
    this.name = name;
    this.storedLabel = `session ${JSON.stringify(name)}`;
    this.#sealer = options.encryption === undefined ? undefined : new Sealer(options.encryption, name, new.target.name);
    this.peers = this.#peerCache();
    this.authKeys = this.#authKeys();
    this.kv = this.#kv();
    this.refMessages = this.#refMessages();
    let leases: LeaseRepository | undefined;
    // Functions only, no `get closed()`: V8 allocates an object literal's accessor (its
    // AccessorPair) straight in old space, and that pair kept the getter — and through
    // its context this storage, its store and every peer in it — alive across every
    // young-generation GC until a full one: a storage dropped after use was copied and
    // promoted instead of freed (a MemoryStorage of 1,000 peers: ~108 KB promoted; the
    // memory package's gc.test.ts).
    this.lease = this.#lease = new StorageLease({
      name,
      closed: () => this.closed,
      // Created on first use: the adapter's constructor has run by then.
      repository: () => (leases ??= this.createLeaseRepository()),
      where: (operation) => this.where(operation),
      closedError: (operation) => this.closedError(operation),
    });
  }

  /** The adapter's lease operations (its lease.ts); undefined: `storage.lease` rejects. */
  protected createLeaseRepository(): LeaseRepository | undefined {
    return undefined;
  }

  protected override beforeClose(): Promise<void> {
    return this.#steps.settled().then(() => this.#lease.end());
  }

  /**
   * The stored snapshot, or null when none is saved (keys or peers alone are not a
   * snapshot). Keys may be any Uint8Array; keys stored for a DC id without an entry
   * are returned as address-less entries after the stored ones. A key that is not
   * AUTH_KEY_LENGTH bytes (sealed, or damaged) never reaches the caller — load opens it
   * into a new buffer or rejects it — so an adapter may return its own bytes for it.
   */
  protected abstract readSession(): Promise<Session | null>;
  /** Atomically replace the snapshot and every auth key (not peers, kv or reference messages). */
  protected abstract writeSession(session: Session): Promise<void>;
  /**
   * Apply a valid, copied patch in one atomic step, keeping stored keys. Without a
   * stored snapshot: create it from the patch when it has `homeDcId` (and so `dcs`),
   * with no state and no channels, and return true; otherwise write nothing and
   * return false.
   */
  protected abstract writeSessionUpdate(patch: SessionUpdate): Promise<boolean>;
  /**
   * Set the update state and the listed channels in one atomic step. Return false
   * (having written nothing) when no snapshot is stored under this name.
   */
  protected abstract writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean>;
  /** Remove everything stored under this name. No error when absent. */
  protected abstract deleteSession(): Promise<void>;
  /** Names of every session with anything stored in this backend/namespace, sorted. */
  protected abstract listSessionNames(): Promise<string[]>;

  protected override describe(): Record<string, unknown> {
    return { name: this.name };
  }

  /** `Class.operation("name")`, the prefix of every message. */
  protected where(operation: string): string {
    return `${this.constructor.name}.${operation}(${JSON.stringify(this.name)})`;
  }

  /**
   * The shape of every public method but the hot paths: closed check, validation
   * (errors prefixed with the operation), then the work with driver errors wrapped.
   */
  async #run<T>(operation: string, validate: (() => void) | undefined, work: () => T | Promise<T>): Promise<T> {
    if (this.closed) throw this.closedError(operation);
    if (validate !== undefined) {
      try {
        validate();
      } catch (error) {
        throw invalid(error, this.where(operation));
      }
    }
    const writes = WRITES.has(operation);
    if (writes) this.#lease.fence(operation);
    try {
      return await work();
    } catch (error) {
      throw writes ? this.#writeFailed(operation, error) : toStorageError(error, this.where(operation));
    }
  }

  /**
   * The token of the lease this instance holds (also one it lost: a write already past
   * the local fence must still be refused by the database), or undefined when it holds
   * none. An adapter that fences in the
   * database reads it once per write, right before the write's statements, and makes the
   * write apply only while the stored lease still has this token; when it does not, the
   * adapter throws any LeaseLostError and writes nothing (docs/contract.md §12).
   */
  protected get fenceToken(): bigint | undefined {
    return this.#lease.token();
  }

  /** A write's failure: a token the database refused marks the lease lost (once, with onLost); anything else is wrapped. */
  #writeFailed(operation: string, error: unknown): Error {
    if (error instanceof LeaseLostError) return this.#lease.refused(operation);
    return toStorageError(error, this.where(operation));
  }

  /** Runs a validation, prefixing its error with the operation. */
  #check(operation: string, validate: () => void): void {
    try {
      validate();
    } catch (error) {
      throw invalid(error, this.where(operation));
    }
  }

  /** kv.get's key check past the remembered keys: remembers a valid key, throws for an invalid one. */
  #validKvKey(operation: string, key: unknown): void {
    if (!isKvKey(key)) this.#invalid(operation, kvKeyCheck(key));
    if (this.#validKvKeys.size < MAX_REMEMBERED_KV_KEYS) this.#validKvKeys.add(key);
  }

  /** The slow path of an inline check that failed: throws the validation's error. */
  #invalid(operation: string, validate: () => void): never {
    this.#check(operation, validate);
    throw new InvalidArgumentError(`${this.where(operation)}: invalid arguments`);
  }

  #notFound(operation: string): NotFoundError {
    return new NotFoundError(`${this.where(operation)}: no session is saved under this name`);
  }

  // Not async: an async load() awaiting #load() would cost every call a second promise
  // and the ticks of resolving one promise with another.
  load(): Promise<Session | null> {
    if (this.closed) return Promise.reject(this.closedError('load'));
    return this.#load();
  }

  /** load() past its closed check: also for reseal's later steps, which close() waits for. */
  async #load(): Promise<Session | null> {
    let session: Session | null;
    try {
      session = await this.readSession();
    } catch (error) {
      throw toStorageError(error, this.where('load'));
    }
    if (session === null) return null;
    const opened = this.#openSessionKeys(session);
    return checkStoredSession(session, this.storedLabel, this.sessionKeysFresh, opened);
  }

  // Not async, as load().
  save(session: Session): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError('save'));
    return this.#save(session);
  }

  /** save() past its closed check (see #load). */
  async #save(session: Session): Promise<void> {
    let copy: Session;
    try {
      // Copied first (every field read once, keys into one buffer), and the copy is what
      // is validated and written: a value that changes between two reads cannot slip past.
      // With encryption the keys are sealed at once (below, synchronously): plain views of
      // the caller's bytes do, where a plaintext copy would only be thrown away.
      copy = takeSession(session, this.#sealer === undefined ? 'copy' : 'view');
      assertSession(copy, 'session');
    } catch (error) {
      throw invalid(error, this.where('save'));
    }
    if (this.#sealer !== undefined) this.#sealKeys(copy, this.#sealer);
    this.#lease.fence('save');
    try {
      await this.writeSession(copy);
    } catch (error) {
      throw this.#writeFailed('save', error);
    }
  }

  async update(patch: SessionUpdate): Promise<void> {
    let copy: SessionUpdate | undefined;
    const stored = await this.#run(
      'update',
      () => {
        // Copied first, then validated: the copy (each field read once) is what is written.
        copy = takeSessionUpdate(patch);
        assertSessionUpdate(copy, 'patch');
      },
      () => this.writeSessionUpdate(copy as SessionUpdate),
    );
    if (!stored) throw this.#notFound('update');
  }

  async saveUpdateState(state: UpdateState, channels: readonly ChannelState[] = []): Promise<void> {
    if (this.closed) throw this.closedError('saveUpdateState');
    let stateCopy: UpdateState;
    let channelsCopy: ChannelState[];
    try {
      // Copied first (each field read once), then validated: the copies are what is written.
      stateCopy = takeUpdateState(state);
      channelsCopy = takeChannels(channels);
      assertUpdateState(stateCopy, 'state');
      assertChannels(channelsCopy, 'channels');
    } catch (error) {
      throw invalid(error, this.where('saveUpdateState'));
    }
    this.#lease.fence('saveUpdateState');
    let stored: boolean;
    try {
      stored = await this.writeUpdateState(stateCopy, channelsCopy);
    } catch (error) {
      throw this.#writeFailed('saveUpdateState', error);
    }
    if (!stored) throw this.#notFound('saveUpdateState');
  }

  async delete(): Promise<void> {
    return this.#run('delete', undefined, () => this.deleteSession());
  }

  async listNames(): Promise<string[]> {
    return this.#run('listNames', undefined, () => this.listSessionNames());
  }

  /** Where a key belongs: bound into its sealed form's associated data. */
  static #keyContext(dcId: number, mediaOnly: boolean, slot: number): SealContext {
    return { kind: slot === PERMANENT_SLOT ? 'authKey' : 'tempAuthKey', dcId, mediaOnly, slot };
  }

  static #keyWhat(dcId: number, mediaOnly: boolean, slot: number): string {
    return `${slot === PERMANENT_SLOT ? 'auth key' : `temp auth key ${slot}`} for DC ${dcId}${mediaOnly ? ' (media-only entry)' : ''}`;
  }

  /**
   * A stored key as plaintext: a 256-byte value is plaintext (also with encryption
   * configured: a store written before it is read as is and sealed on the next write),
   * a sealed one is opened. Anything else is returned for the length check to report.
   */
  #openKey(stored: Uint8Array, dcId: number, mediaOnly: boolean, slot: number): Uint8Array {
    if (stored.length === AUTH_KEY_LENGTH || !isSealed(stored)) return stored;
    const what = `${this.storedLabel}: stored ${BaseStorage.#keyWhat(dcId, mediaOnly, slot)}`;
    if (this.#sealer === undefined) throw noEncryptionError(stored, what);
    return this.#sealer.open(stored, BaseStorage.#keyContext(dcId, mediaOnly, slot), what);
  }

  /**
   * Opens every sealed key of a session an adapter read, in place: all at once, so the
   * plaintexts share one fresh buffer (Sealer.openKeys), as AuthKeyBytes views of it.
   * Returns those keys (made for this read, nobody else holds them: load keeps them
   * instead of copying them again), or undefined when none was sealed. Plaintext keys
   * stay as read. The sealed bytes are only read here and then replaced, so an adapter
   * may hand them over without copying (`readSession`).
   */
  #openSessionKeys(session: Session): AuthKeyBytes[] | undefined {
    if (!Array.isArray(session.dcs)) return undefined;
    // The session this instance last saved, read back unchanged (most loads): no arrays built.
    const reopened = this.#sealer?.reopenSession(session.dcs);
    if (reopened !== undefined) return reopened;
    // The sealed values, where each is (as Sealer.sealKeys: DC id, media-only, slot), and
    // what holds it (the DC for its permanent key, else the temp key).
    let sealed: Uint8Array[] | undefined;
    const where: number[] = [];
    const holders: (DataCenter | TempAuthKey)[] = [];
    for (const dc of session.dcs as (DataCenter | undefined)[]) {
      if (dc === undefined || dc === null) continue;
      const media = dc.mediaOnly === true ? 1 : 0;
      if (dc.authKey instanceof Uint8Array && this.#isSealedKey(dc.authKey)) {
        (sealed ??= []).push(dc.authKey);
        where.push(dc.id, media, PERMANENT_SLOT);
        holders.push(dc);
      }
      if (!Array.isArray(dc.tempAuthKeys)) continue;
      for (const temp of dc.tempAuthKeys) {
        if (temp?.key instanceof Uint8Array && Number.isInteger(temp.index) && this.#isSealedKey(temp.key)) {
          (sealed ??= []).push(temp.key);
          where.push(dc.id, media, temp.index);
          holders.push(temp);
        }
      }
    }
    if (sealed === undefined) return undefined;
    const what = (i: number): string =>
      `${this.storedLabel}: stored ${BaseStorage.#keyWhat(where[3 * i] as number, where[3 * i + 1] === 1, where[3 * i + 2] as number)}`;
    if (this.#sealer === undefined) throw noEncryptionError(sealed[0] as Uint8Array, what(0));
    const opened = this.#sealer.openKeys(sealed, where, what);
    for (let i = 0; i < opened.length; i++) {
      if (where[3 * i + 2] === PERMANENT_SLOT) (holders[i] as DataCenter).authKey = opened[i] as AuthKeyBytes;
      else (holders[i] as TempAuthKey).key = opened[i] as AuthKeyBytes;
    }
    return opened;
  }

  /** True for a stored key in sealed form (a 256-byte value is plaintext, see #openKey). */
  #isSealedKey(stored: Uint8Array): boolean {
    return stored.length !== AUTH_KEY_LENGTH && isSealed(stored);
  }

  /**
   * Seals the keys of `copy`, save's validated copy (takeSession: its keys are plain
   * views of the caller's bytes made from the internals, so the sealer never reads the
   * caller's objects), in place, into one fresh buffer. Places go as numbers
   * (Sealer.sealKeys), not objects.
   */
  #sealKeys(copy: Session, sealer: Sealer): void {
    // The keys of the session this instance last saved, at the same places (most saves).
    if (sealer.resealSession(copy.dcs)) return;
    const plains: Uint8Array[] = [];
    const where: number[] = [];
    for (const dc of copy.dcs) {
      const media = dc.mediaOnly === true ? 1 : 0;
      if (dc.authKey !== undefined) {
        plains.push(dc.authKey);
        where.push(dc.id, media, PERMANENT_SLOT);
      }
      if (dc.tempAuthKeys !== undefined) {
        for (const temp of dc.tempAuthKeys) {
          plains.push(temp.key);
          where.push(dc.id, media, temp.index);
        }
      }
    }
    if (plains.length === 0) return;
    const sealed = sealer.sealKeys(plains, where);
    let i = 0;
    for (const dc of copy.dcs) {
      if (dc.authKey !== undefined) dc.authKey = sealed[i++] as Uint8Array;
      if (dc.tempAuthKeys !== undefined) for (const temp of dc.tempAuthKeys) temp.key = sealed[i++] as Uint8Array;
    }
  }

  /** A stored kv value as plaintext: sealed values are opened, whatever the secret prefixes say. */
  #openKv(stored: Uint8Array, key: string): Uint8Array {
    if (!isSealed(stored)) return isEscaped(stored) ? unescapeKv(stored) : stored;
    const what = `${this.storedLabel}: stored kv entry ${JSON.stringify(key)}`;
    if (this.#sealer === undefined) throw noEncryptionError(stored, what);
    return this.#sealer.open(stored, { kind: 'kv', key }, what);
  }

  /**
   * Re-seals every key and kv value of this session that is not sealed with the
   * write key (the first of `encryption.keys`): plaintext ones, and ones sealed with
   * an older key. Values already current are opened first (other material under the
   * write key's id refuses before any write) and left alone, so running it again is
   * cheap and an interrupted run can simply be repeated. Keys of the main entry are
   * rewritten one at a time (as `authKeys.set` does); keys of a media-only entry can
   * only be written by `save`, so a session holding such a key that needs re-sealing
   * is re-saved whole. A key a client rewrites between this read and write is set
   * back to the value read: run it while no client writes this session's keys, or
   * accept that a client may have to create a key again. `rotateEncryption` runs this
   * over a whole backend.
   */
  async reseal(): Promise<ResealReport> {
    return this.#steps.track(this.#reseal());
  }

  #reseal(): Promise<ResealReport> {
    return this.#run('reseal', () => {
      if (this.#sealer === undefined) throw new InvalidArgumentError('no encryption is configured: pass encryption: { keys: [...] } to re-seal with its first key');
    }, async () => {
      const sealer = this.#sealer as Sealer;
      const report: ResealReport = { name: this.name, keys: 0, kvEntries: 0, current: 0, snapshot: false };
      const current = (stored: Uint8Array): boolean => stored.length !== AUTH_KEY_LENGTH && sealer.keyIdOf(stored) === sealer.writeKeyId;
      const session = await this.readSession();
      report.snapshot = session !== null;
      // Without a snapshot, the keys a client wrote one at a time: every DC, temp keys too.
      const dcs = session !== null ? session.dcs : (await this.authKeyRepository.entries()).map((e) => ({ id: e.dcId, mediaOnly: e.mediaOnly, authKey: e.authKey, tempAuthKeys: e.tempAuthKeys }));
      const keys: { dcId: number; media: boolean; slot: number; stored: Uint8Array; expiresAt?: number }[] = [];
      for (const dc of dcs) {
        const media = dc.mediaOnly === true;
        if (dc.authKey !== undefined) keys.push({ dcId: dc.id, media, slot: PERMANENT_SLOT, stored: dc.authKey });
        for (const temp of dc.tempAuthKeys ?? []) keys.push({ dcId: dc.id, media, slot: temp.index, stored: temp.key, expiresAt: temp.expiresAt });
      }
      const entries = (await this.kvRepository.entries()).filter((entry): entry is { key: string; value: Uint8Array } => entry.value instanceof Uint8Array);
      // Every value already sealed with the write key's id is opened before anything is
      // written: a write key given with other material under that id (a mistyped
      // environment variable) would otherwise find them current, report the session done,
      // and seal the rest with material that nothing else opens. EncryptionError
      // 'does-not-open' instead, with the session as it was.
      for (const key of keys) if (current(key.stored)) this.#openKey(key.stored, key.dcId, key.media, key.slot);
      for (const entry of entries) if (isSealed(entry.value) && sealer.keyIdOf(entry.value) === sealer.writeKeyId) this.#openKv(entry.value, entry.key);
      let mediaStale = 0;
      for (const { dcId, media, slot, stored, expiresAt } of keys) {
        if (current(stored)) {
          report.current++;
          continue;
        }
        if (media) {
          mediaStale++;
          continue;
        }
        const plain = checkedKey(this.#openKey(stored, dcId, false, slot), this.storedLabel, BaseStorage.#keyWhat(dcId, false, slot));
        const sealed = sealer.seal(plain, BaseStorage.#keyContext(dcId, false, slot));
        if (slot === PERMANENT_SLOT) await this.authKeyRepository.set(dcId, sealed);
        else await this.authKeyRepository.setTemp(dcId, slot, { index: slot, key: sealed, expiresAt: expiresAt as number });
        report.keys++;
      }
      if (mediaStale > 0) {
        // Re-read (the main-entry keys were just rewritten) and save whole: load() opens and checks every key, save() seals each again.
        // Media-only entries exist only through save, so there is a snapshot to re-save.
        const fresh = await this.#load();
        if (fresh !== null) await this.#save(fresh);
        report.keys += mediaStale;
      }
      for (const entry of entries) {
        if (isSealed(entry.value) ? sealer.keyIdOf(entry.value) === sealer.writeKeyId : !sealer.isSecretKv(entry.key)) {
          if (isSealed(entry.value)) report.current++;
          continue;
        }
        await this.kvRepository.set(entry.key, sealer.seal(this.#openKv(entry.value, entry.key), { kind: 'kv', key: entry.key }));
        report.kvEntries++;
      }
      return report;
    });
  }

  /**
   * The adapter's key and kv repositories as they are, below sealing and the stored-
   * data checks: what they return is what the database holds. For tools and tests
   * (the conformance kit moves sealed values between sessions with it); an
   * application has no use for it.
   */
  static storedRepositories(storage: BaseStorage): { readonly authKeys: AuthKeyRepository; readonly kv: KeyValueRepository } {
    if (!(storage instanceof BaseStorage)) throw new InvalidArgumentError('BaseStorage.storedRepositories: expected a storage built on BaseStorage');
    return { authKeys: storage.authKeyRepository, kv: storage.kvRepository };
  }

  #authKeys(): AuthKeyStore {
    const repo = (): AuthKeyRepository => this.authKeyRepository;
    const checkKey = (stored: Uint8Array | null, dcId: number, what: string, slot: number, mediaOnly = false): AuthKeyBytes | null => {
      if (stored === null) return null;
      const key = stored instanceof Uint8Array && stored.length !== AUTH_KEY_LENGTH ? this.#openKey(stored, dcId, mediaOnly, slot) : stored;
      if (!(key instanceof Uint8Array) || key.length !== AUTH_KEY_LENGTH) {
        throw new CorruptDataError(`${this.storedLabel}: stored ${what} for DC ${dcId} is ${key instanceof Uint8Array ? `${key.length} bytes` : typeof key}, expected ${AUTH_KEY_LENGTH} bytes`);
      }
      return authKeyBytes(key);
    };
    /** A temp key of `entries()`: index and expiry checked, the key opened and checked like getTemp's. */
    const checkTemp = (temp: TempAuthKey, dcId: number, mediaOnly: boolean): TempAuthKey => {
      const what = mediaOnly ? ' (media-only entry)' : '';
      try {
        assertTempKeyIndex(temp.index, 'index');
        assertEpochSeconds(temp.expiresAt, 'expiresAt');
      } catch {
        throw new CorruptDataError(`${this.storedLabel}: stored temp auth key ${describeValue(temp.index)}${what} for DC ${dcId} has no valid index or expiresAt`);
      }
      const key = checkKey(temp.key, dcId, `temp auth key ${temp.index}${what}`, temp.index, mediaOnly) as AuthKeyBytes;
      return { index: temp.index, key, expiresAt: temp.expiresAt };
    };
    const setKeyLater = async (pending: Promise<void>): Promise<void> => {
      try {
        await pending;
      } catch (error) {
        throw this.#writeFailed('authKeys.set', error);
      }
    };
    return {
      // get and set are written out (no #run closures): a client reads and writes keys on every connect.
      // A repository may answer without a promise (MaybePromise): then nothing is awaited.
      get: async (dcId) => {
        if (this.closed) throw this.closedError('authKeys.get');
        if (!isDcId(dcId)) this.#invalid('authKeys.get', dcIdCheck(dcId));
        let key: Uint8Array | null;
        try {
          const result = this.authKeyRepository.get(dcId);
          key = result instanceof Promise ? await result : result;
        } catch (error) {
          throw toStorageError(error, this.where('authKeys.get'));
        }
        return checkKey(key, dcId, 'auth key', PERMANENT_SLOT);
      },
      // Not `async`, as kv.set: a repository that answers synchronously (sqlite) gets the
      // shared settled DONE back, no promise of this call's own; every error still rejects.
      set: (dcId, key) => {
        try {
          if (this.closed) throw this.closedError('authKeys.set');
          // bytesLength: the real length, from the typed array's internals (validate.ts).
          if (!isDcId(dcId) || bytesLength(key) !== AUTH_KEY_LENGTH) {
            this.#invalid('authKeys.set', authKeySetCheck(dcId, key));
          }
          const sealer = this.#sealer;
          // `new Uint8Array(key)` copies through the intrinsic (internal slots: a subclass's
          // overrides play no part); the sealer reads only that copy. A repository done with
          // the bytes when set returns gets the caller's array: its driver binds the internals.
          const copy = sealer !== undefined ? sealer.seal(new Uint8Array(key), BaseStorage.#keyContext(dcId, false, PERMANENT_SLOT)) : this.writesCopyBytes ? key : new Uint8Array(key);
          this.#lease.fence('authKeys.set');
          let done: void | Promise<void>;
          try {
            done = this.authKeyRepository.set(dcId, copy);
          } catch (error) {
            throw this.#writeFailed('authKeys.set', error);
          }
          return done instanceof Promise ? setKeyLater(done) : DONE;
        } catch (error) {
          return Promise.reject(error);
        }
      },
      delete: (dcId) => this.#run('authKeys.delete', () => assertDcId(dcId, 'dcId'), () => repo().set(dcId, null)),
      getTemp: (dcId, index) =>
        this.#run(
          'authKeys.getTemp',
          () => {
            assertDcId(dcId, 'dcId');
            assertTempKeyIndex(index, 'index');
          },
          async () => {
            const temp = await repo().getTemp(dcId, index);
            if (temp === null) return null;
            const key = checkKey(temp.key, dcId, `temp auth key ${index}`, index) as AuthKeyBytes;
            try {
              assertEpochSeconds(temp.expiresAt, 'expiresAt');
            } catch {
              throw new CorruptDataError(`${this.storedLabel}: stored temp auth key ${index} for DC ${dcId} has no valid expiresAt`);
            }
            return { index, key, expiresAt: temp.expiresAt };
          },
        ),
      setTemp: (dcId, temp) => {
        let copy: TempAuthKey | undefined;
        return this.#run(
          'authKeys.setTemp',
          () => {
            assertDcId(dcId, 'dcId');
            // Each field read once; the key's bytes copied through the intrinsic right after its check.
            const taken = takeTempKey(temp);
            assertTempAuthKey(taken, 'temp');
            const plain = new Uint8Array(taken.key);
            const key = this.#sealer === undefined ? plain : this.#sealer.seal(plain, BaseStorage.#keyContext(dcId, false, taken.index));
            copy = { index: taken.index, key, expiresAt: taken.expiresAt };
          },
          () => repo().setTemp(dcId, (copy as TempAuthKey).index, copy as TempAuthKey),
        );
      },
      deleteTemp: (dcId, index) =>
        this.#run(
          'authKeys.deleteTemp',
          () => {
            assertDcId(dcId, 'dcId');
            assertTempKeyIndex(index, 'index');
          },
          () => repo().setTemp(dcId, index, null),
        ),
      deleteByDc: (dcId) => this.#run('authKeys.deleteByDc', () => assertDcId(dcId, 'dcId'), () => repo().deleteByDc(dcId)),
      entries: () =>
        this.#run('authKeys.entries', undefined, async () =>
          (await repo().entries()).map((stored): AuthKeyEntry => {
            const { dcId, mediaOnly } = stored;
            if (!isDcId(dcId) || typeof mediaOnly !== 'boolean' || !Array.isArray(stored.tempAuthKeys)) {
              throw new CorruptDataError(`${this.storedLabel}: a stored auth key entry does not decode (DC ${describeValue(dcId)})`);
            }
            const entry: AuthKeyEntry = { dcId, mediaOnly, tempAuthKeys: stored.tempAuthKeys.map((temp) => checkTemp(temp, dcId, mediaOnly)) };
            if (stored.authKey !== undefined) {
              entry.authKey = checkKey(stored.authKey, dcId, `auth key${mediaOnly ? ' (media-only entry)' : ''}`, PERMANENT_SLOT, mediaOnly) as AuthKeyBytes;
            }
            return entry;
          }),
        ),
      clear: () => this.#run('authKeys.clear', undefined, () => repo().clear()),
    };
  }

  #kv(): KeyValueStore {
    const repo = (): KeyValueRepository => this.kvRepository;
    const checkValue = (value: Uint8Array | null, key: string): Uint8Array | null => {
      if (value !== null && !(value instanceof Uint8Array)) {
        throw new CorruptDataError(`${this.storedLabel}: stored kv entry ${JSON.stringify(key)} is ${typeof value}, expected bytes`);
      }
      if (value === null) return null;
      const plain = this.#openKv(value, key);
      // Opened and unescaped values are fresh copies already.
      return plain !== value || fresh ? plain : ownKvValue(plain);
    };
    const validKeys = this.#validKvKeys;
    const checkOnMiss = this.kvReadsWithoutIo;
    // An in-process repository (kvReadsWithoutIo: memory) holds only values core's kv.set
    // copied in, and copies them out (the kit's 'values are copied in and out'): no driver
    // buffer is involved. The structural check of ownKvValue would cost it more than the
    // rest of a get: a typed array of ≤ 64 bytes lives in V8's heap, and asking for its
    // `.buffer` moves it out (memory kv.get c=64: ~2,200 -> ~4,050 Ir/op).
    const fresh = this.kvValuesFresh || checkOnMiss;
    // The slow halves of get and set, for a repository that answers with a promise. Kept
    // out of get/set: a closure inside them capturing `key` would make V8 allocate a
    // context on every call, the synchronous ones too.
    const getLater = async (pending: Promise<Uint8Array | null>, key: string): Promise<Uint8Array | null> => {
      let value: Uint8Array | null;
      try {
        value = await pending;
      } catch (error) {
        throw toStorageError(error, this.where('kv.get'));
      }
      return checkValue(value, key);
    };
    const setLater = async (pending: Promise<void>): Promise<void> => {
      try {
        await pending;
      } catch (error) {
        throw this.#writeFailed('kv.set', error);
      }
    };
    return {
      // get and set are written out (no #run closures): bridges read and write kv entries
      // often. Nor are they async functions: when the repository answers without a promise
      // (MaybePromise; memory, SQLite), get makes the one promise it returns and set makes
      // none (a shared resolved one), where an async function also allocates its own
      // state. Every error still rejects: the body throws into one catch.
      get: (key) => {
        try {
          if (this.closed) throw this.closedError('kv.get');
          if (!checkOnMiss && !validKeys.has(key as string)) this.#validKvKey('kv.get', key);
          let result: Uint8Array | null | Promise<Uint8Array | null>;
          try {
            result = this.kvRepository.get(key);
          } catch (error) {
            throw toStorageError(error, this.where('kv.get'));
          }
          // The synchronous answers first: bytes need no promise check, and are opened
          // only when sealed. instanceof alone: a `constructor === Uint8Array` pre-check
          // was credited with ~350 instructions fewer, measured without a warm-up; after
          // a 100,000-call warm-up it shows no gain (node bench/icount.mjs --report
          // memory:kv.get 1 and 64: 4,698 and 2,423 Ir/op without it, 4,724 and 2,440
          // with it, where runs of the same code spread by ~±100). `resolved`, not
          // Promise.resolve: at 64 calls in flight ~2,350 against ~2,440 Ir/op (5 runs
          // each, spread ~±70); one at a time no difference shows through the spread.
          if (result instanceof Uint8Array) {
            const plain = this.#openKv(result, key);
            return resolved(plain !== result || fresh ? plain : ownKvValue(plain));
          }
          if (result === null) {
            if (checkOnMiss && !validKeys.has(key as string)) this.#validKvKey('kv.get', key);
            return NULL;
          }
          if (result instanceof Promise) return getLater(result, key);
          return Promise.resolve(checkValue(result, key));
        } catch (error) {
          return Promise.reject(error);
        }
      },
      set: (key, value, options) => {
        try {
          if (this.closed) throw this.closedError('kv.set');
          const length = bytesLength(value);
          // The options read once (`secret`): what is checked is what decides the sealing.
          const taken = options === undefined ? undefined : kvOptionsOf(options, this.where('kv.set'));
          if (!validKeys.has(key) || length < 0 || length > MAX_KV_VALUE_BYTES || taken !== undefined) {
            this.#check('kv.set', kvSetCheck(key, value, taken));
            if (validKeys.size < MAX_REMEMBERED_KV_KEYS) validKeys.add(key);
          }
          const sealer = this.#sealer;
          // Copied through the intrinsic first (see authKeys.set): what is checked for the
          // seal's magic and sealed is this copy, never the caller's object again.
          const plain = new Uint8Array(value);
          // A value that merely starts like a sealed (or escaped) one is sealed too, or
          // without encryption escaped, so it reads back as written (docs/contract.md §10a).
          const lookalike = startsLikeSealed(plain);
          const seal = sealer !== undefined && (taken?.secret === true || lookalike || sealer.isSecretKv(key));
          const copy = seal ? sealer.seal(plain, { kind: 'kv', key }) : lookalike ? escapeKv(plain) : plain;
          this.#lease.fence('kv.set');
          let done: void | Promise<void>;
          try {
            done = this.kvRepository.set(key, copy);
          } catch (error) {
            throw this.#writeFailed('kv.set', error);
          }
          return done instanceof Promise ? setLater(done) : DONE;
        } catch (error) {
          return Promise.reject(error);
        }
      },
      delete: (key) => this.#run('kv.delete', () => assertKvKey(key, 'key'), () => repo().set(key, null)),
      // New entries, not the repository's: what an entry says (its plaintext, and `secret`
      // when the stored bytes are sealed) is decided here from the stored bytes alone, the
      // same for every adapter; nothing else an adapter's object carries is handed out.
      entries: () =>
        this.#run('kv.entries', undefined, async () => {
          const stored = await repo().entries();
          const entries: KeyValueEntry[] = [];
          for (const { key, value } of stored) {
            const plain = checkValue(value, key) as Uint8Array;
            // Sealed and opened (checkValue refused it otherwise: without encryption, missing-key).
            entries.push(value !== null && isSealed(value) ? { key, value: plain, secret: true } : { key, value: plain });
          }
          return entries;
        }),
      clear: () => this.#run('kv.clear', undefined, () => repo().clear()),
    };
  }

  #refMessages(): RefMessageStore {
    const repo = (): RefMessageRepository => this.refMessageRepository;
    return {
      store: (peerId, chatId, messageId) =>
        this.#run(
          'refMessages.store',
          () => {
            assertInt64(peerId, 'peerId');
            assertInt64(chatId, 'chatId');
            assertMessageId(messageId, 'messageId');
          },
          () => repo().store(peerId, chatId, messageId),
        ),
      getByPeer: (peerId) =>
        this.#run('refMessages.getByPeer', () => assertInt64(peerId, 'peerId'), async () => {
          const ref = await repo().getByPeer(peerId);
          if (ref !== null && (typeof ref.chatId !== 'bigint' || !Number.isInteger(ref.messageId) || ref.messageId < 1)) {
            throw new CorruptDataError(`${this.storedLabel}: stored reference message of peer ${peerId} does not decode`);
          }
          return ref;
        }),
      delete: (chatId, messageIds) => {
        let copy: number[] = [];
        return this.#run(
          'refMessages.delete',
          () => {
            assertInt64(chatId, 'chatId');
            assertMessageIds(messageIds, 'messageIds');
            copy = [...new Set(messageIds)];
          },
          async () => {
            if (copy.length > 0) await repo().delete(chatId, copy);
          },
        );
      },
      deleteByPeer: (peerId) => this.#run('refMessages.deleteByPeer', () => assertInt64(peerId, 'peerId'), () => repo().deleteByPeer(peerId)),
      clear: () => this.#run('refMessages.clear', undefined, () => repo().clear()),
      list: (options = {}) => {
        let page: PageOptions | undefined;
        let after: bigint | null = null;
        return this.#run(
          'refMessages.list',
          () => {
            page = pageOptions(options);
            if (page.cursor !== null) after = parseRefCursor(page.cursor);
          },
          async () => {
            const result = await repo().list(after, (page as PageOptions).limit);
            for (const ref of result.refs) checkStoredRef(ref, this.storedLabel);
            return { refs: result.refs, cursor: result.next === null ? null : refCursor(result.next) };
          },
        );
      },
    };
  }

  /**
   * True when readSession returns every plaintext key as an AuthKeyBytes the adapter
   * made for this one read (views on a buffer nobody else holds): load then keeps them
   * after checking them, instead of copying each into a new buffer. Keys of any other
   * class (and keys opened from their sealed form) are still copied. False by default:
   * an adapter returning a driver's buffers, or objects it keeps, must be copied from.
   */
  protected get sessionKeysFresh(): boolean {
    return false;
  }

  /**
   * True when the peer repository's data never crossed a process or disk boundary
   * (memory: it holds the objects core validated on upsert), so a lookup need not
   * re-check what it returns with checkStoredPeer. Every other adapter decodes rows or
   * documents someone else could have written, and keeps the check.
   */
  protected get peersNeedNoStoredCheck(): boolean {
    return false;
  }

  /**
   * True when the peer repository applies an upsert batch peer by peer, in order and
   * synchronously, copying what it keeps (memory): then it gets core's validated copies
   * (each field of the caller's read once; `complete` the caller's Uint8Array itself,
   * checked by its internals: see PeerRepository.upsert) as they are when no peer appears twice in them, and applying them in order means what
   * `normalizePeerBatch` resolves. A batch that repeats a peer is normalized first:
   * in order, a later entry of a peer that drops a username would leave that name with
   * nobody after its earlier entry took it from another peer, where the normalized
   * batch (one merged entry per peer) leaves it with that other peer (found by the
   * kit's model-based trait). Every other adapter gets the normalized batch of fresh copies.
   */
  protected get peersUpsertInOrder(): boolean {
    return false;
  }

  /**
   * True when the auth-key and peer repositories are done with the bytes they are given
   * when `authKeys.set` / `upsert` return: they write synchronously, through a driver
   * that copies what it binds (better-sqlite3 binds blobs SQLITE_TRANSIENT), and keep
   * no reference. Core then hands them the caller's validated bytes (the key; each
   * peer's `complete` as a plain view of them made from the internals) instead of
   * copies of its own: a copy of more than 64 bytes is an allocation outside V8's heap,
   * per key write and per peer of a batch. A peer batch that needs no normalizing
   * (`checkPeerBatch`) is handed over as core's array of its one-pass copies of the
   * caller's peers (never the caller's objects: a getter read twice could answer the
   * write something the check never saw), which the repository must read only. False by
   * default: a repository that keeps the bytes (memory) or writes after an await (every
   * networked one, where the caller could change them meanwhile) gets copies.
   */
  protected get writesCopyBytes(): boolean {
    return false;
  }

  /**
   * True when every plaintext value the kv repository returns (get, entries) is a plain
   * Uint8Array over a buffer made for that one read, holding those bytes only and kept by
   * nobody: core then hands it to the caller as it is. False by default: core hands out a
   * value as it is only when it is a plain Uint8Array spanning its whole buffer, and
   * copies any other (a driver's Buffer, maybe a slice of Node's shared pool that holds
   * other sessions' values; a view into a larger buffer), so a caller never gets another
   * value's bytes through `.buffer` (docs/contract.md §4). A storage whose
   * kvReadsWithoutIo is true counts as fresh too.
   */
  protected get kvValuesFresh(): boolean {
    return false;
  }

  /**
   * True when the kv repository's `get` does no I/O and holds only entries kv.set put
   * there through core (memory): a hit then proves its key passed kv.set's check, so
   * kv.get checks a key only when the repository has no entry for it, and an invalid
   * key still gets its typed error, with no I/O before it because there is none. The
   * check of a hit was the largest cost left of a memory kv.get against a bare Map
   * (a Set lookup with a string compare, ~145 of ~270 instructions a call more than
   * the raw side; callgrind_annotate of `node bench/icount.mjs --report memory:kv.get
   * 64`). False by default: a database may answer for a key written by anyone.
   */
  protected get kvReadsWithoutIo(): boolean {
    return false;
  }

  #peerCache(): PeerCache {
    const peerLabel = `${this.storedLabel}, peer`;
    const repo = (): PeerRepository => this.peerRepository;
    /** What a lookup returns, checked unless the repository's data never left this process. */
    const found = (peer: Peer | null, usable: boolean): Peer | null => {
      if (peer === null) return null;
      if (!this.peersNeedNoStoredCheck) checkStoredPeer(peer, peerLabel);
      // Lookups by username or phone serve to obtain a usable access hash: a min one is not.
      return usable && peer.min === true ? null : peer;
    };
    // The slow half of a lookup whose repository answered with a promise (kept out of
    // the lookups for the reason kv's getLater is).
    const lookupLater = async (pending: Promise<Peer | null>, operation: string, usable: boolean): Promise<Peer | null> => {
      let peer: Peer | null;
      try {
        peer = await pending;
      } catch (error) {
        throw toStorageError(error, this.where(operation));
      }
      return found(peer, usable);
    };
    // A lookup refused before any work: closed, or the caller's input invalid (`check`
    // throws the validation's error), as a rejected promise.
    const refused = (operation: string, check: () => void): Promise<never> => {
      try {
        if (this.closed) throw this.closedError(operation);
        this.#invalid(operation, check);
      } catch (error) {
        return Promise.reject(error);
      }
    };
    /** A repository's lookup that threw: its error as a StorageError (mtstore errors pass through). */
    const failed = (error: unknown, operation: string): Promise<never> => Promise.reject(toStorageError(error, this.where(operation)));
    /** A repository's answer without a promise, checked (found) and resolved: a stored peer that fails the check rejects. */
    const settled = (peer: Peer | null, usable: boolean): Promise<Peer | null> => {
      try {
        return answer(found(peer, usable));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    // Lookups are written out (no closures per call): they are a client's hottest path.
    // A repository may answer without a promise (see MaybePromise): then nothing is awaited.
    return {
      upsert: async (peers) => {
        if (this.closed) throw this.closedError('peers.upsert');
        let batch: readonly Peer[];
        // What core hashed while checking the batch, for a repository applying it in order (memory).
        let hashes: Int32Array | undefined;
        try {
          // The batch is copied first (takePeers: fresh objects, each field of the
          // caller's read once) and the copies are validated and written: a getter or
          // Proxy that answers the check one thing and the write another cannot slip past
          // (the copy used to come after the check, or, for a repository done with the
          // batch when its synchronous write returns, not at all: it read the caller's
          // objects again). `complete` is copied, or a view of the caller's bytes made from
          // the internals for a repository done with them when that write returns
          // (writesCopyBytes), or the caller's checked Uint8Array itself for one that copies
          // it through intrinsics as it applies the batch (in order; TakenBytes 'source').
          // checkPeerBatch validates as assertPeers does and answers whether normalizing
          // is needed in the same pass; normalizing then takes the copies as they are.
          const inOrder = this.peersUpsertInOrder;
          const bytes = this.writesCopyBytes ? 'view' : 'copy';
          if (this.writesCopyBytes && !inOrder) {
            const copies: Peer[] = [];
            batch = checkPeerBatch(peers, 'peers', copies, bytes) ? normalizePeerBatch(copies, false, true) : copies;
          } else if (inOrder) {
            // The caller's bytes themselves: the repository copies them at once, through intrinsics only.
            const taken = takeInOrderBatch(peers, 'peers');
            // A normalized batch is other objects (merged, names moved): its repository hashes them itself.
            if (taken.repeats) batch = normalizePeerBatch(taken.peers, false, true);
            else {
              batch = taken.peers;
              hashes = taken.checked;
            }
          } else batch = normalizePeerBatch(takeCheckedPeers(peers, 'peers', bytes), false, true);
        } catch (error) {
          throw invalid(error, this.where('peers.upsert'));
        }
        if (batch.length === 0) return;
        this.#lease.fence('peers.upsert');
        try {
          const done = this.peerRepository.upsert(batch, hashes);
          if (done instanceof Promise) await done;
        } catch (error) {
          throw this.#writeFailed('peers.upsert', error);
        }
      },
      // Nor are the lookups async functions (as kv.get): an answer without a promise
      // costs the one promise returned (none for a miss), and no validation closure
      // captures an argument (V8 would allocate a context for it on every call). Each
      // is small, its refusals and failures in the helpers above: TurboFan's inlining
      // budget is the bytecode size of what it inlines into the caller, and with the
      // error paths written out here (269 bytes of bytecode for getById) it ran out
      // before the repository's lookup and copy were inlined.
      getById: (type, id) => {
        // An int64 is what wrapping to 64 bits leaves as it is (intake.ts' check): one
        // asIntN and one compare, where the bound compares called BigIntLessThan and
        // loaded the bounds from the bundle's module vars (callgrind, a memory lookup by id).
        if (this.closed || (type !== 'user' && type !== 'chat' && type !== 'channel') || typeof id !== 'bigint' || BigInt.asIntN(64, id) !== id) {
          return refused('peers.getById', peerKeyCheck(type, id));
        }
        let result: Peer | null | Promise<Peer | null>;
        try {
          result = this.peerRepository.getById(type, id);
        } catch (error) {
          return failed(error, 'peers.getById');
        }
        return result instanceof Promise ? lookupLater(result, 'peers.getById', false) : settled(result, false);
      },
      getByUsername: (username) => {
        if (this.closed) return refused('peers.getByUsername', usernameCheck(username));
        // The check hashes on the way (usernameHash's hash, which folds case): the hash
        // goes to the repository (memory's username index is keyed by it).
        const hash = usernameLookupHash(username);
        if (hash < 0) return refused('peers.getByUsername', usernameCheck(username));
        const key = lookedUpKey(username as string);
        let result: Peer | null | Promise<Peer | null>;
        try {
          result = this.peerRepository.getByUsername(key, hash);
        } catch (error) {
          return failed(error, 'peers.getByUsername');
        }
        return result instanceof Promise ? lookupLater(result, 'peers.getByUsername', true) : settled(result, true);
      },
      getByPhone: (phone) => {
        if (this.closed) return refused('peers.getByPhone', phoneCheck(phone));
        // phoneHash checks what isPhone does and hashes on the way: the hash goes to the
        // repository (memory's index hashes phones alike, and need not scan it again).
        const hash = phoneHash(phone);
        if (hash < 0) return refused('peers.getByPhone', phoneCheck(phone));
        let result: Peer | null | Promise<Peer | null>;
        try {
          result = this.peerRepository.getByPhone(phone as string, hash);
        } catch (error) {
          return failed(error, 'peers.getByPhone');
        }
        return result instanceof Promise ? lookupLater(result, 'peers.getByPhone', true) : settled(result, true);
      },
      list: (options = {}) => {
        let page: PageOptions | undefined;
        let after: PeerPosition | null = null;
        return this.#run(
          'peers.list',
          () => {
            page = pageOptions(options);
            if (page.cursor !== null) after = parsePeerCursor(page.cursor);
          },
          async () => {
            const result = await repo().list(after, (page as PageOptions).limit);
            for (const peer of result.peers) checkStoredPeer(peer, peerLabel);
            return { peers: result.peers, cursor: result.next === null ? null : peerCursor(result.next) };
          },
        );
      },
      clear: () => this.#run('peers.clear', undefined, () => repo().clear()),
    };
  }
}

const DEFAULT_PAGE = 1000;

interface PageOptions {
  cursor: string | null;
  limit: number;
}

/** The options of `peers.list` and `refMessages.list`: a cursor string (cursor.ts parses it) and a page size. */
function pageOptions(options: unknown): PageOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`options must be an object, got ${describeValue(options)}`);
  const { cursor, limit } = options as { cursor?: unknown; limit?: unknown };
  const page: PageOptions = { cursor: null, limit: DEFAULT_PAGE };
  if (cursor !== undefined && cursor !== null) {
    if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > 1024) {
      throw new InvalidArgumentError(`options.cursor must be a cursor from a previous page, got ${describeValue(cursor)}`);
    }
    page.cursor = cursor;
  }
  if (limit !== undefined) {
    assertPageLimit(limit, 'options.limit');
    page.limit = limit;
  }
  return page;
}

function checkStoredRef(ref: RefMessageEntry, label: string): void {
  if (!isInt64(ref.peerId) || !isInt64(ref.chatId) || !Number.isInteger(ref.messageId) || ref.messageId < 1 || ref.messageId > 2 ** 31 - 1) {
    throw new CorruptDataError(`${label}: a stored reference message does not decode (peer ${describeValue(ref.peerId)})`);
  }
}
/**
 * A promise resolved with `value` (adopting it if it is a thenable, as Promise.resolve
 * does), for the synchronous answers of the hot reads. In V8 this async function costs
 * fewer instructions per call than `Promise.resolve(value)` once warmed (figures at the
 * callers, from callgrind; not reasoned from V8's source).
 */
async function resolved<T>(value: T): Promise<T> {
  return value;
}

/**
 * A lookup's synchronous answer: a miss is the shared NULL. Promise.resolve, not
 * `resolved` (kv.get's): in the lookups no gain showed through the run-to-run spread
 * (node bench/lookup-icount.mjs id: 2,371 and 2,801 Ir/lookup with Promise.resolve,
 * 2,470 and 2,788 with resolved; username 4,026 against 4,035).
 */
function answer(peer: Peer | null): Promise<Peer | null> {
  return peer === null ? NULL : Promise.resolve(peer);
}

/** Operations run through #run that write: fenced by the lease (the hand-written hot paths call the fence themselves). */
const WRITES: ReadonlySet<string> = new Set([
  'update',
  'delete',
  'authKeys.delete',
  'authKeys.setTemp',
  'authKeys.deleteTemp',
  'authKeys.deleteByDc',
  'authKeys.clear',
  'kv.delete',
  'kv.clear',
  'refMessages.store',
  'refMessages.delete',
  'refMessages.deleteByPeer',
  'refMessages.clear',
  'peers.clear',
]);

/*
 * The validations of the written-out authKeys / kv get and set, built outside them: a
 * closure written inside would capture the call's arguments, and V8 would then allocate
 * a context for them on every call, the valid ones too.
 */
function dcIdCheck(dcId: unknown): () => void {
  return () => assertDcId(dcId, 'dcId');
}

function authKeySetCheck(dcId: unknown, key: unknown): () => void {
  return () => {
    assertDcId(dcId, 'dcId');
    assertAuthKey(key, 'key');
  };
}

function peerKeyCheck(type: unknown, id: unknown): () => void {
  return () => {
    assertPeerType(type, 'type');
    assertInt64(id, 'id');
  };
}

function usernameCheck(username: unknown): () => void {
  return () => assertUsername(username, 'username');
}

function phoneCheck(phone: unknown): () => void {
  return () => assertPhone(phone, 'phone');
}

function kvKeyCheck(key: unknown): () => void {
  return () => assertKvKey(key, 'key');
}

/**
 * kv.set's options as read once: `{ secret }` of a record, else the value itself for its
 * validation to refuse; a throwing getter or trap is invalid() (the try block kept out
 * of kv.set's hot path).
 */
function kvOptionsOf(options: unknown, where: string): { secret?: unknown } {
  try {
    return isRecord(options) ? { secret: options.secret } : (options as { secret?: unknown });
  } catch (error) {
    throw invalid(error, where);
  }
}

function kvSetCheck(key: unknown, value: unknown, options: unknown): () => void {
  return () => {
    assertKvKey(key, 'key');
    assertKvValue(value, 'value');
    if (options !== undefined) assertKvSetOptions(options, 'options');
  };
}

function isDcId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_DC_ID;
}

function assertPageLimit(value: unknown, label: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PEER_PAGE) {
    throw new InvalidArgumentError(`${label} must be an integer from 1 to ${MAX_PEER_PAGE}, got ${describeValue(value)}`);
  }
}

function assertTempAuthKey(value: unknown, label: string): asserts value is TempAuthKey {
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`${label} must be an object, got ${describeValue(value)}`);
  const temp = value as Record<string, unknown>;
  assertTempKeyIndex(temp.index, `${label}.index`);
  assertAuthKey(temp.key, `${label}.key`);
  assertEpochSeconds(temp.expiresAt, `${label}.expiresAt`);
}

function isInt64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

/** Session lifetime options every server storage takes (docs/contract.md §7.1). */
export interface SessionLifetimeOptions {
  /**
   * A session not used (created or touched) for this many seconds expires: it stops
   * existing for every call at once and is removed by `expireSessions` (or the
   * database's own expiry). Integer 1 … 2^31-1. Default: sessions never expire.
   */
  ttlSeconds?: number | undefined;
  /** The wall clock, epoch ms. Default `Date.now`. Tests pass a controllable one. */
  clock?: (() => number) | undefined;
}

/** Most sessions `expireSessions` removes in one step, and its default. */
export const MAX_EXPIRE_BATCH = 10_000;
export const DEFAULT_EXPIRE_BATCH = 1_000;
const MAX_TTL_SECONDS = 2 ** 31 - 1;

/** A server storage's clock reading, refused unless it is an integer number of ms. */
function checkedNow(now: unknown, where: string): number {
  if (typeof now !== 'number' || !Number.isSafeInteger(now)) {
    throw new InvalidArgumentError(`${where}: clock must return epoch ms as an integer, got ${describeValue(now)}`);
  }
  return now;
}

/**
 * Base class of every server `SessionStorageProtocol`. Same split as BaseStorage:
 * validation, close semantics and error wrapping here; the database work in the
 * adapter. `hasSession` is kept lean: it is called once per incoming message.
 *
 * Lifetime: the base reads the clock once per call and hands the adapter `now` (and
 * the new expiry, `now + ttl` or null) so every adapter decides "expired" the same
 * way — `expiresAt <= now` — with the same clock, whatever the database's own clock says.
 */
export abstract class BaseSessionStorage extends Closable implements SessionStorageProtocol {
  /** Milliseconds a session lives after its last use; null = for ever. */
  protected readonly ttlMs: number | null;
  readonly #clock: () => number;

  constructor(lifetime: SessionLifetimeOptions = {}) {
    super();
    const where = new.target.name;
    if (typeof lifetime !== 'object' || lifetime === null) throw new InvalidArgumentError(`${where}: options must be an object, got ${describeValue(lifetime)}`);
    const { ttlSeconds, clock } = lifetime;
    if (ttlSeconds !== undefined) {
      if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
        throw new InvalidArgumentError(`${where}: ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}, got ${describeValue(ttlSeconds)}`);
      }
      if (!this.supportsLifetime) throw new InvalidArgumentError(`${where}: this adapter does not support ttlSeconds yet`);
    }
    if (clock !== undefined && typeof clock !== 'function') throw new InvalidArgumentError(`${where}: clock must be a function returning epoch ms, got ${describeValue(clock)}`);
    this.ttlMs = ttlSeconds === undefined ? null : ttlSeconds * 1000;
    // An application's clock is checked on each read: what it returns is stored and compared
    // as epoch ms, and a fraction (performance.timeOrigin + performance.now()), NaN or a
    // string went on unchecked: PostgreSQL refused the write as StorageUnavailableError,
    // Redis stored a session that every later read called CorruptDataError, memory threw a
    // TypeError, and memory / SQLite took '…' + ttl as a string concatenation (an expiry
    // centuries away). Date.now, the default, is not wrapped: the hot path stays as it was.
    this.#clock = clock === undefined ? Date.now : () => checkedNow(clock(), where);
  }

  /** True when the adapter stores last-used and expiry times (and so takes `ttlSeconds`). */
  protected get supportsLifetime(): boolean {
    return false;
  }

  /** The storage's clock, epoch ms. */
  protected now(): number {
    return this.#clock();
  }

  /**
   * Insert if absent; true when this call inserted it. Must be atomic across processes.
   * `now` is the last-used time, `expiresAt` null or `now + ttl`. A row that is there
   * but expired (`expiresAt <= now`, not yet removed) is replaced: it no longer exists.
   */
  protected abstract insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean>;
  /**
   * One indexed lookup, no write: a row with `expiresAt <= now` does not exist. An
   * adapter that answers without I/O (memory, SQLite) may return the boolean itself:
   * hasSession then awaits nothing (one promise per incoming message instead of two).
   */
  protected abstract sessionExists(authKeyId: bigint, sessionId: bigint, now: number): boolean | Promise<boolean>;
  /** Delete if present and not expired; true when this call deleted it. Atomic across processes. Expired rows are left to `removeExpired`. */
  protected abstract removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean>;
  /** The unexpired sessions of the key. */
  protected abstract findSessions(authKeyId: bigint, now: number): Promise<bigint[]>;
  /** Delete the unexpired sessions of the key; return exactly the ids this call deleted. */
  protected abstract removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]>;

  /**
   * Set last-used to `now` and the expiry to `expiresAt` of an unexpired session; true
   * when it exists. Default (an adapter without lifetime support): an existence check.
   */
  protected async touch(authKeyId: bigint, sessionId: bigint, now: number, _expiresAt: number | null): Promise<boolean> {
    return this.sessionExists(authKeyId, sessionId, now);
  }

  /**
   * Whether an unexpired session exists, answered without I/O, or undefined when the
   * adapter cannot answer so (the default; memory and SQLite can). A number: it exists until
   * then (epoch ms, Infinity: no expiry); false: it does not. Must not throw.
   * CachedSessionStorage answers its misses with it, without a promise hop of its own.
   */
  protected sessionExistsNow(_authKeyId: bigint, _sessionId: bigint, _now: number): number | false | undefined {
    return undefined;
  }

  /**
   * `sessionExistsNow` for core (CachedSessionStorage), after the closed check and the
   * id validation; undefined when either fails (hasSession then rejects as it should).
   */
  static sessionExistsNow(storage: BaseSessionStorage, authKeyId: unknown, sessionId: unknown): number | false | undefined {
    if (storage.closed || !isInt64(authKeyId) || !isInt64(sessionId)) return undefined;
    let now: number;
    try {
      now = storage.#clock();
    } catch {
      return undefined; // a clock that returned no epoch ms: hasSession rejects with it
    }
    return storage.sessionExistsNow(authKeyId, sessionId, now);
  }

  /** Last-used and expiry of an unexpired session, or null. Adapters with lifetime support override it. */
  protected async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    return (await this.sessionExists(authKeyId, sessionId, now)) ? { lastUsedAt: null, expiresAt: null } : null;
  }

  /**
   * Delete up to `limit` sessions with `expiresAt <= now` in one bounded statement /
   * script / batch, returning exactly the ones this call deleted. Default: none.
   */
  protected async removeExpired(_now: number, _limit: number): Promise<ExpiredSession[]> {
    return [];
  }

  #expiry(now: number): number | null {
    return this.ttlMs === null ? null : now + this.ttlMs;
  }

  #check(operation: string, authKeyId: unknown, sessionId: unknown, pair: boolean): void {
    if (this.closed) throw this.closedError(operation);
    try {
      assertInt64(authKeyId, 'authKeyId');
      if (pair) assertInt64(sessionId, 'sessionId');
    } catch (error) {
      throw invalid(error, `${this.constructor.name}.${operation}`);
    }
  }

  /** Names the operation and the key; ids are not secret, key bytes never reach here. */
  #fail(error: unknown, operation: string, authKeyId?: bigint, sessionId?: bigint): never {
    const key = authKeyId === undefined ? '' : sessionId === undefined ? `authKeyId=${authKeyId}` : `authKeyId=${authKeyId}, sessionId=${sessionId}`;
    throw toStorageError(error, `${this.constructor.name}.${operation}(${key})`);
  }

  async createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    this.#check('createSession', authKeyId, sessionId, true);
    try {
      const now = this.#clock();
      return await this.insertSession(authKeyId, sessionId, now, this.#expiry(now));
    } catch (error) {
      this.#fail(error, 'createSession', authKeyId, sessionId);
    }
  }

  async hasSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    // Inline fast path of #check: this runs once per incoming MTProto message.
    if (this.closed || !isInt64(authKeyId) || !isInt64(sessionId)) this.#check('hasSession', authKeyId, sessionId, true);
    try {
      const exists = this.sessionExists(authKeyId, sessionId, this.#clock());
      return typeof exists === 'boolean' ? exists : await exists;
    } catch (error) {
      this.#fail(error, 'hasSession', authKeyId, sessionId);
    }
  }

  async touchSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    this.#check('touchSession', authKeyId, sessionId, true);
    try {
      const now = this.#clock();
      return await this.touch(authKeyId, sessionId, now, this.#expiry(now));
    } catch (error) {
      this.#fail(error, 'touchSession', authKeyId, sessionId);
    }
  }

  async sessionInfo(authKeyId: bigint, sessionId: bigint): Promise<SessionInfo | null> {
    this.#check('sessionInfo', authKeyId, sessionId, true);
    try {
      return await this.readSessionInfo(authKeyId, sessionId, this.#clock());
    } catch (error) {
      this.#fail(error, 'sessionInfo', authKeyId, sessionId);
    }
  }

  async destroySession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    this.#check('destroySession', authKeyId, sessionId, true);
    try {
      return await this.removeSession(authKeyId, sessionId, this.#clock());
    } catch (error) {
      this.#fail(error, 'destroySession', authKeyId, sessionId);
    }
  }

  async listSessions(authKeyId: bigint): Promise<bigint[]> {
    this.#check('listSessions', authKeyId, undefined, false);
    try {
      return await this.findSessions(authKeyId, this.#clock());
    } catch (error) {
      this.#fail(error, 'listSessions', authKeyId);
    }
  }

  async destroyAllSessions(authKeyId: bigint): Promise<bigint[]> {
    this.#check('destroyAllSessions', authKeyId, undefined, false);
    try {
      return await this.removeAllSessions(authKeyId, this.#clock());
    } catch (error) {
      this.#fail(error, 'destroyAllSessions', authKeyId);
    }
  }

  async expireSessions(limit: number = DEFAULT_EXPIRE_BATCH): Promise<ExpiredSession[]> {
    if (this.closed) throw this.closedError('expireSessions');
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_EXPIRE_BATCH) {
      throw new InvalidArgumentError(`${this.constructor.name}.expireSessions: limit must be an integer from 1 to ${MAX_EXPIRE_BATCH}, got ${describeValue(limit)}`);
    }
    if (this.ttlMs === null && !this.supportsLifetime) return [];
    try {
      return await this.removeExpired(this.#clock(), limit);
    } catch (error) {
      this.#fail(error, 'expireSessions');
    }
  }
}
