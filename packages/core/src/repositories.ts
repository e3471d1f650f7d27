/**
 * What an adapter implements per concern, one small CRUD surface each (like
 * mtcute's storage repositories). The base class validates every argument, checks
 * `closed`, copies caller data at call time and wraps driver errors before calling
 * these, so a repository only holds database code and receives valid input.
 *
 * Each repository is bound to one session name and needs no saved snapshot: keys,
 * kv entries, peers and reference messages belong to the name (mtcute writes keys
 * before it first saves anything). `Storage.delete()` removes all of them.
 */
import type { PeerPosition } from './cursor.js';
import type { AuthKeyEntry, KeyValueEntry, Peer, PeerType, RefMessage, RefMessageEntry, TempAuthKey } from './model.js';

/**
 * A repository whose store answers without I/O (memory) may return its results
 * directly instead of a promise where the type says MaybePromise: core then spends no
 * extra microtask (and no promise resolution) on the call. A synchronous throw is
 * handled like a rejection.
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Keys address the main (not media-only) entry of a DC id. Every write is durable on
 * resolve. `get` and `set` may answer synchronously (see MaybePromise).
 */
export interface AuthKeyRepository {
  get(dcId: number): MaybePromise<Uint8Array | null>;
  /** `null` removes the permanent key. */
  set(dcId: number, key: Uint8Array | null): MaybePromise<void>;
  getTemp(dcId: number, index: number): Promise<TempAuthKey | null>;
  /** `null` removes the temporary key of that slot. */
  setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void>;
  /** Every key of the DC id: permanent and temporary, main and media-only entries. */
  deleteByDc(dcId: number): Promise<void>;
  /**
   * Every entry holding a key (main or media-only, with or without a snapshot), by DC
   * id, main before media-only; temp keys by index. Entries without keys are left out.
   */
  entries(): Promise<AuthKeyEntry[]>;
  /** Every key of the session, and nothing else. */
  clear(): Promise<void>;
}

/** `get` and `set` may answer synchronously (see MaybePromise). */
export interface KeyValueRepository {
  get(key: string): MaybePromise<Uint8Array | null>;
  /** `null` removes the entry. */
  set(key: string, value: Uint8Array | null): MaybePromise<void>;
  /**
   * Sorted by key, each value as stored (sealed, escaped or plain). Only `key` and
   * `value` are read: core opens each value and decides `secret` itself (a `secret`
   * field an adapter sets is ignored).
   */
  entries(): Promise<StoredKeyValueEntry[]>;
  clear(): Promise<void>;
}

/** One stored kv entry as a repository lists it: the key and the bytes the database holds. */
export type StoredKeyValueEntry = Pick<KeyValueEntry, 'key' | 'value'>;

export interface PeerRepository {
  /**
   * Store a normalized batch (each key, username and phone at most once; see
   * `normalizePeerBatch`) in one atomic step, applying `mergePeer` against stored
   * peers and taking usernames/phones away from their previous owners. A repository
   * of a storage whose `peersUpsertInOrder` is true gets the caller's validated batch
   * instead, and must apply it in order before returning, keeping no caller object.
   * One whose `writesCopyBytes` is true gets the caller's validated array as it is when
   * it is normalized already (`checkPeerBatch`), and must not change it.
   *
   * An in-order repository's peers hold the caller's own Uint8Array as `complete`
   * (core checked it by its internals: a real Uint8Array, at most MAX_COMPLETE_BYTES
   * long then). It must copy it before it returns, reading it through intrinsics only
   * (`%TypedArray%.prototype.set` into its own array, indexed reads), never its
   * `length` or other properties (a subclass or an own property could answer anything),
   * and copy the length core checked whatever the array's length is by then (a caller's
   * getter run later in the batch may have resized or detached its buffer).
   *
   * `checked`, given to an in-order repository with the caller's batch (never with a
   * normalized one): what core found while checking it, in batch order, each peer's id
   * as its int32 halves (low, then high: `peerIdKeyOf(low, high, id)` is its
   * `peerIdKey`), its usernames' `usernameHash` (validate.ts: a 31-bit FNV-1a of the
   * characters each `| 0x20`, so a name hashes as its lower-cased form does), then its
   * phone's `phoneHash` when it has one, then its `complete` bytes' length when it has
   * them. A repository keying ids by peerIdKey or indexing names by the same hashes may
   * use them instead of converting or hashing again (memory); it must read them before
   * it returns. Without it (a normalized batch) the length is `bytesLength(complete)`.
   * The in-order repository's peers may hold their absent optional fields as
   * `undefined` (one hidden class for every peer core takes): it reads an absent field
   * and an undefined one alike.
   */
  upsert(peers: readonly Peer[], checked?: Int32Array): MaybePromise<void>;
  getById(type: PeerType, id: bigint): MaybePromise<Peer | null>;
  /**
   * `username` is already lower-cased. Return the owner, min or not. `hash` is core's
   * `usernameHash(username)` (validate.ts), computed while checking it: a repository
   * that hashes usernames the same way may use it instead of hashing again (memory).
   */
  getByUsername(username: string, hash: number): MaybePromise<Peer | null>;
  /**
   * Return the owner of the phone, min or not. `hash` is core's `phoneHash(phone)`
   * (validate.ts: a 31-bit FNV-1a of its characters), computed while checking it: a
   * repository that hashes phones the same way may use it instead of hashing again (memory).
   */
  getByPhone(phone: string, hash: number): MaybePromise<Peer | null>;
  /**
   * The peers after `after` in the adapter's order (from the start when null), at most
   * `limit` (1..10000). `after` is one this repository returned as `next`, or any
   * well-formed position a caller made up (a peer that is not stored, or was cleared):
   * page from where it would sort, never fail. `next` is the last peer of the page when
   * more follow, null when done. Core parses and writes the cursor strings.
   */
  list(after: PeerPosition | null, limit: number): Promise<PeerListPage>;
  clear(): Promise<void>;
}

export interface RefMessageRepository {
  /** Storing a reference again makes it the most recent one for the peer. */
  store(peerId: bigint, chatId: bigint, messageId: number): Promise<void>;
  /** The most recently stored reference of the peer. */
  getByPeer(peerId: bigint): Promise<RefMessage | null>;
  /** `messageIds` is non-empty. */
  delete(chatId: bigint, messageIds: readonly number[]): Promise<void>;
  deleteByPeer(peerId: bigint): Promise<void>;
  clear(): Promise<void>;
  /**
   * Oldest first, in store order (a reference stored again counts as stored then):
   * the references stored after sequence number `after` (from the start when null), at
   * most `limit` (1..10000). `after` may be any number in 0..2^63−1 (a caller's made-up
   * cursor): page from there, never fail. `next` is the sequence number of the page's
   * last reference when more follow, null when done.
   */
  list(after: bigint | null, limit: number): Promise<RefMessageListPage>;
}

/** One page of `PeerRepository.list`; core turns `next` into the caller's cursor. */
export interface PeerListPage {
  peers: Peer[];
  next: PeerPosition | null;
}

/** One page of `RefMessageRepository.list`; core turns `next` into the caller's cursor. */
export interface RefMessageListPage {
  refs: RefMessageEntry[];
  next: bigint | null;
}

/** A lease as an adapter stores it; `owner` is the JSON text core gives it. */
export interface StoredLease {
  token: bigint;
  owner: string;
  /** Epoch milliseconds, by the database's clock where it has one. */
  expiresAt: number;
}

/**
 * The database side of `storage.lease`: the base class validates, keeps the
 * heartbeat and fences writes; an adapter only takes, extends and gives back one
 * record per session name, atomically across processes. The lease lives beside the
 * session's data and survives `Storage.delete()`.
 */
export interface LeaseRepository {
  /**
   * Atomically: when no live lease exists (none, released or expired) or `force`, store
   * one with a token greater than any before it for this name and return it as
   * `{ acquired: true }`; otherwise change nothing and return the live one.
   */
  acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }>;
  /** When `token` is still the name's lease (expired or not), extend it to now + ttlMs and return the new expiry; otherwise null. */
  renew(token: bigint, ttlMs: number): Promise<number | null>;
  /** Remove or expire the lease when `token` is still it; otherwise nothing. */
  release(token: bigint): Promise<void>;
  /** The live lease of the name, or null. */
  holder(): Promise<StoredLease | null>;
}
