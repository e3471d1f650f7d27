/**
 * What every adapter shares, written once: argument validation before any I/O,
 * close semantics, driver-error wrapping, decoding checks and a secret-free
 * `util.inspect`. An adapter extends `BaseStorage` / `BaseSessionStorage` and
 * implements only the protected database operations, which receive valid input.
 */
import {
  InvalidArgumentError,
  NotFoundError,
  StorageClosedError,
  toStorageError,
} from './errors.js';
import type {
  ChannelState,
  Peer,
  PeerCache,
  PeerType,
  Session,
  SessionStorageProtocol,
  Storage,
  UpdateState,
} from './model.js';
import { normalizePeerBatch, usernameKey } from './peers.js';
import { checkStoredPeer, checkStoredSession } from './stored.js';
import {
  assertChannels,
  assertInt64,
  assertPeerType,
  assertPeers,
  assertPhone,
  assertSession,
  assertSessionName,
  assertUpdateState,
  assertUsername,
  INT64_MAX,
  INT64_MIN,
} from './validate.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** Prefixes a validation error with the operation it came from. */
function invalid(error: unknown, where: string): unknown {
  return error instanceof InvalidArgumentError ? new InvalidArgumentError(`${where}: ${error.message}`) : error;
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

  close(): Promise<void> {
    this.#closing ??= this.closeConnection().catch((error: unknown) => {
      throw toStorageError(error, `${this.constructor.name}.close`);
    });
    return this.#closing;
  }

  protected closedError(operation: string): StorageClosedError {
    return new StorageClosedError(`${this.constructor.name}.${operation}: the storage is closed`);
  }

  [INSPECT](): string {
    const fields = { ...this.describe(), closed: this.closed };
    const body = Object.entries(fields)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
      .join(', ');
    return `${this.constructor.name} { ${body} }`;
  }
}

/**
 * Base class of every client `Storage`. The public methods validate, check
 * `closed`, call the protected operation and turn driver failures into
 * StorageUnavailableError; loaded data passes `checkStoredSession`/`checkStoredPeer`.
 */
export abstract class BaseStorage extends Closable implements Storage {
  /** The session name: one named session (one account) per instance. */
  readonly name: string;
  readonly peers: PeerCache;
  /**
   * `session "name"`: the prefix of CorruptDataError messages for this session's stored
   * data, built once so adapters' decoders need not build it on every read.
   */
  protected readonly storedLabel: string;

  constructor(name: string) {
    super();
    assertSessionName(name, `${new.target.name}: name`);
    this.name = name;
    this.storedLabel = `session ${JSON.stringify(name)}`;
    this.peers = this.#peerCache();
  }

  /** The stored session as decoded rows, or null. Keys may be any Uint8Array. */
  protected abstract readSession(): Promise<Session | null>;
  /** Atomically replace the snapshot (not the peers). */
  protected abstract writeSession(session: Session): Promise<void>;
  /**
   * Set the update state and the listed channels in one atomic step. Return false
   * (having written nothing) when no session is stored under this name.
   */
  protected abstract writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean>;
  /** Remove the session, its state, channels and peers. No error when absent. */
  protected abstract deleteSession(): Promise<void>;
  /**
   * Store a normalized batch (each key, username and phone at most once; see
   * `normalizePeerBatch`) in one atomic step, applying `mergePeer` against stored
   * peers and taking usernames/phones away from their previous owners. Return false
   * (having written nothing) when no session is stored under this name.
   */
  protected abstract upsertPeers(peers: readonly Peer[]): Promise<boolean>;
  protected abstract findPeerById(type: PeerType, id: bigint): Promise<Peer | null>;
  /** `username` is already lower-cased. Return the owner, min or not. */
  protected abstract findPeerByUsername(username: string): Promise<Peer | null>;
  /** Return the owner of the phone, min or not. */
  protected abstract findPeerByPhone(phone: string): Promise<Peer | null>;

  protected override describe(): Record<string, unknown> {
    return { name: this.name };
  }

  /** `Class.operation("name")`, the prefix of every message. */
  protected where(operation: string): string {
    return `${this.constructor.name}.${operation}(${JSON.stringify(this.name)})`;
  }

  async load(): Promise<Session | null> {
    if (this.closed) throw this.closedError('load');
    let session: Session | null;
    try {
      session = await this.readSession();
    } catch (error) {
      throw toStorageError(error, this.where('load'));
    }
    return session === null ? null : checkStoredSession(session, this.storedLabel);
  }

  async save(session: Session): Promise<void> {
    if (this.closed) throw this.closedError('save');
    try {
      assertSession(session, 'session');
    } catch (error) {
      throw invalid(error, this.where('save'));
    }
    try {
      await this.writeSession(session);
    } catch (error) {
      throw toStorageError(error, this.where('save'));
    }
  }

  async saveUpdateState(state: UpdateState, channels: readonly ChannelState[] = []): Promise<void> {
    if (this.closed) throw this.closedError('saveUpdateState');
    try {
      assertUpdateState(state, 'state');
      assertChannels(channels, 'channels');
    } catch (error) {
      throw invalid(error, this.where('saveUpdateState'));
    }
    let stored: boolean;
    try {
      stored = await this.writeUpdateState(state, channels);
    } catch (error) {
      throw toStorageError(error, this.where('saveUpdateState'));
    }
    if (!stored) throw new NotFoundError(`${this.where('saveUpdateState')}: no session is saved under this name`);
  }

  async delete(): Promise<void> {
    if (this.closed) throw this.closedError('delete');
    try {
      await this.deleteSession();
    } catch (error) {
      throw toStorageError(error, this.where('delete'));
    }
  }

  #peerCache(): PeerCache {
    const peerLabel = `${this.storedLabel}, peer`;
    const findPeer = async (operation: string, find: () => Promise<Peer | null>, usable: boolean): Promise<Peer | null> => {
      let peer: Peer | null;
      try {
        peer = await find();
      } catch (error) {
        throw toStorageError(error, this.where(operation));
      }
      if (peer === null) return null;
      checkStoredPeer(peer, peerLabel);
      // Lookups by username or phone serve to obtain a usable access hash: a min one is not.
      return usable && peer.min === true ? null : peer;
    };
    return {
      upsert: async (peers) => {
        if (this.closed) throw this.closedError('peers.upsert');
        try {
          assertPeers(peers, 'peers');
        } catch (error) {
          throw invalid(error, this.where('peers.upsert'));
        }
        if (peers.length === 0) return;
        let stored: boolean;
        try {
          stored = await this.upsertPeers(normalizePeerBatch(peers));
        } catch (error) {
          throw toStorageError(error, this.where('peers.upsert'));
        }
        if (!stored) throw new NotFoundError(`${this.where('peers.upsert')}: no session is saved under this name`);
      },
      getById: async (type, id) => {
        if (this.closed) throw this.closedError('peers.getById');
        try {
          assertPeerType(type, 'type');
          assertInt64(id, 'id');
        } catch (error) {
          throw invalid(error, this.where('peers.getById'));
        }
        return findPeer('peers.getById', () => this.findPeerById(type, id), false);
      },
      getByUsername: async (username) => {
        if (this.closed) throw this.closedError('peers.getByUsername');
        try {
          assertUsername(username, 'username');
        } catch (error) {
          throw invalid(error, this.where('peers.getByUsername'));
        }
        return findPeer('peers.getByUsername', () => this.findPeerByUsername(usernameKey(username)), true);
      },
      getByPhone: async (phone) => {
        if (this.closed) throw this.closedError('peers.getByPhone');
        try {
          assertPhone(phone, 'phone');
        } catch (error) {
          throw invalid(error, this.where('peers.getByPhone'));
        }
        return findPeer('peers.getByPhone', () => this.findPeerByPhone(phone), true);
      },
    };
  }
}

function isInt64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

/**
 * Base class of every server `SessionStorageProtocol`. Same split as BaseStorage:
 * validation, close semantics and error wrapping here; the database work in the
 * adapter. `hasSession` is kept lean: it is called once per incoming message.
 */
export abstract class BaseSessionStorage extends Closable implements SessionStorageProtocol {
  /** Insert if absent; true when this call inserted it. Must be atomic across processes. */
  protected abstract insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean>;
  /** One indexed lookup, no write. */
  protected abstract sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean>;
  /** Delete if present; true when this call deleted it. Must be atomic across processes. */
  protected abstract removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean>;
  protected abstract findSessions(authKeyId: bigint): Promise<bigint[]>;
  /** Delete all sessions of the key; return exactly the ids this call deleted. */
  protected abstract removeAllSessions(authKeyId: bigint): Promise<bigint[]>;

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
  #fail(error: unknown, operation: string, authKeyId: bigint, sessionId?: bigint): never {
    const key = sessionId === undefined ? `authKeyId=${authKeyId}` : `authKeyId=${authKeyId}, sessionId=${sessionId}`;
    throw toStorageError(error, `${this.constructor.name}.${operation}(${key})`);
  }

  async createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    this.#check('createSession', authKeyId, sessionId, true);
    try {
      return await this.insertSession(authKeyId, sessionId);
    } catch (error) {
      this.#fail(error, 'createSession', authKeyId, sessionId);
    }
  }

  async hasSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    // Inline fast path of #check: this runs once per incoming MTProto message.
    if (this.closed || !isInt64(authKeyId) || !isInt64(sessionId)) this.#check('hasSession', authKeyId, sessionId, true);
    try {
      return await this.sessionExists(authKeyId, sessionId);
    } catch (error) {
      this.#fail(error, 'hasSession', authKeyId, sessionId);
    }
  }

  async destroySession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    this.#check('destroySession', authKeyId, sessionId, true);
    try {
      return await this.removeSession(authKeyId, sessionId);
    } catch (error) {
      this.#fail(error, 'destroySession', authKeyId, sessionId);
    }
  }

  async listSessions(authKeyId: bigint): Promise<bigint[]> {
    this.#check('listSessions', authKeyId, undefined, false);
    try {
      return await this.findSessions(authKeyId);
    } catch (error) {
      this.#fail(error, 'listSessions', authKeyId);
    }
  }

  async destroyAllSessions(authKeyId: bigint): Promise<bigint[]> {
    this.#check('destroyAllSessions', authKeyId, undefined, false);
    try {
      return await this.removeAllSessions(authKeyId);
    } catch (error) {
      this.#fail(error, 'destroyAllSessions', authKeyId);
    }
  }
}
