/**
 * The client-side session model and the contracts every adapter implements.
 * docs/contract.md is the spec these types follow (contract v2); keep the two in
 * step. 64-bit ids are `bigint`, times are epoch seconds.
 */

/** A datacenter the client knows, with the keys it holds for it. */
export interface DataCenter {
  id: number;
  /** Dotted quad. */
  ipv4?: string | undefined;
  /** Without brackets. */
  ipv6?: string | undefined;
  /** A DNS name (GramJS in browsers / over WSS: `vesta.web.telegram.org`). */
  host?: string | undefined;
  /** Absent for an entry that only holds keys (a DC whose address was never saved). */
  port?: number | undefined;
  testMode?: boolean | undefined;
  mediaOnly?: boolean | undefined;
  /** Permanent auth key for this DC, exactly 256 bytes. */
  authKey?: Uint8Array | undefined;
  /** PFS keys, one per connection slot. */
  tempAuthKeys?: TempAuthKey[] | undefined;
}

export interface TempAuthKey {
  /** Connection slot, a non-negative integer unique within its DC. */
  index: number;
  /** 256 bytes. */
  key: Uint8Array;
  /** Epoch seconds. */
  expiresAt: number;
}

export interface SelfUser {
  id: bigint;
  dcId: number;
  bot: boolean;
  /** Every username of the account, the main one first. Absent: none known. */
  usernames?: string[] | undefined;
  premium?: boolean | undefined;
}

export interface UpdateState {
  pts: number;
  qts: number;
  /** Epoch seconds. */
  date: number;
  seq: number;
}

export interface ChannelState {
  id: bigint;
  pts: number;
}

export interface Session {
  version: 1;
  homeDcId: number;
  /** Keys for every DC, not only the home one. */
  dcs: DataCenter[];
  apiId?: number | undefined;
  /** Absent: not logged in. */
  user?: SelfUser | undefined;
  /** Absent: no update state yet. */
  state?: UpdateState | undefined;
  channels: ChannelState[];
  takeoutId?: bigint | undefined;
}

export type PeerType = 'user' | 'chat' | 'channel';

export interface Peer {
  type: PeerType;
  id: bigint;
  accessHash: bigint;
  /** As given; lookups are case-insensitive. */
  usernames: string[];
  /** Digits only. */
  phone?: string | undefined;
  /** From a "min" constructor: the access hash is not usable for lookups. */
  min?: boolean | undefined;
  /** Epoch seconds. */
  updatedAt: number;
  /** Display name as clients keep it (Telethon's and GramJS's `name`), at most 1024 characters. */
  displayName?: string | undefined;
  /** The full TL object the peer came from (mtcute's `complete`), at most 65536 bytes. */
  complete?: Uint8Array | undefined;
}

/** One page of `PeerCache.list`: pass `cursor` back for the next page; null means done. */
export interface PeerPage {
  peers: Peer[];
  cursor: string | null;
}

export interface PeerListOptions {
  /** From the previous page; absent for the first. */
  cursor?: string | null | undefined;
  /** Peers per page, 1-10000. Default 1000. */
  limit?: number | undefined;
}

/** The peer cache of one named session. Access hashes only mean something to the account that got them. */
export interface PeerCache {
  /**
   * One atomic batch; for a repeated (type, id) or username the last entry wins. Works
   * whether or not a snapshot is saved: the cache belongs to the session name.
   */
  upsert(peers: readonly Peer[]): Promise<void>;
  getById(type: PeerType, id: bigint): Promise<Peer | null>;
  /** Case-insensitive; never returns a min peer. */
  getByUsername(username: string): Promise<Peer | null>;
  /** Never returns a min peer. */
  getByPhone(phone: string): Promise<Peer | null>;
  /**
   * Every peer of the session, a page at a time, in an order the adapter chooses.
   * Without concurrent writes each peer is returned exactly once; a peer written
   * during the iteration may be missed or returned twice.
   */
  list(options?: PeerListOptions): Promise<PeerPage>;
  /** Removes every peer of the session (and nothing else). */
  clear(): Promise<void>;
}

/**
 * Auth keys of one session, written one at a time and durable on resolve, without
 * rewriting the session. They address the main (not media-only) entry of a DC id;
 * no saved address or snapshot is needed. `load()` shows them on the DC entries.
 */
export interface AuthKeyStore {
  /** The permanent key of DC `dcId`, or null. */
  get(dcId: number): Promise<Uint8Array | null>;
  set(dcId: number, key: Uint8Array): Promise<void>;
  /** Removes the permanent key of DC `dcId`; no error when absent. */
  delete(dcId: number): Promise<void>;
  /** The temporary (PFS) key of connection slot `index` of DC `dcId`, expired or not. */
  getTemp(dcId: number, index: number): Promise<TempAuthKey | null>;
  setTemp(dcId: number, temp: TempAuthKey): Promise<void>;
  deleteTemp(dcId: number, index: number): Promise<void>;
  /** Removes every key (permanent and temporary, main and media-only entries) of DC `dcId`. */
  deleteByDc(dcId: number): Promise<void>;
  /**
   * Every key of the session, with or without a snapshot: one entry per DC entry that
   * holds a key, ordered by DC id, the main entry before the media-only one.
   */
  entries(): Promise<AuthKeyEntry[]>;
  /** Removes every key of the session (mtcute's `authKeys.deleteAll()`), and nothing else. */
  clear(): Promise<void>;
}

/** The keys of one DC entry, as `AuthKeyStore.entries` lists them. */
export interface AuthKeyEntry {
  dcId: number;
  /** The media-only entry of the DC id (its keys are written by `save`). */
  mediaOnly: boolean;
  /** The permanent key, 256 bytes. */
  authKey?: Uint8Array | undefined;
  /** Temporary keys, ordered by index; [] when none. */
  tempAuthKeys: TempAuthKey[];
}

/** One entry of `KeyValueStore.entries`: the value as plaintext, and how it is stored. */
export interface KeyValueEntry {
  key: string;
  value: Uint8Array;
  /**
   * Present, and `true`, when the value is stored sealed (docs/contract.md §10a): written
   * with `{ secret: true }`, under one of `encryption.secretKvPrefixes`, or starting like a
   * sealed value, by a storage with `encryption`. Absent when it is stored as plain bytes,
   * also under a secret prefix (written before the prefix was configured, or without
   * encryption). A storage without `encryption` never marks an entry: it cannot open a
   * sealed value (`entries()` is `EncryptionError` `missing-key`), and `{ secret: true }`
   * without encryption stores the plain bytes and keeps no record of the wish. Copy an
   * entry with `kv.set(key, value, { secret: entry.secret })` to keep it sealed.
   */
  secret?: true | undefined;
}

/**
 * Bytes a client keeps beside the typed session (mtcute's future salts, anything a
 * bridge cannot map to a typed field). Per session, durable on resolve, kept across
 * `save()`, removed by `delete()`. Keys: 1-255 printable ASCII characters without
 * spaces; values: at most 65536 bytes.
 */
/** Options of `kv.set`. */
export interface KeyValueSetOptions {
  /**
   * The value is a secret: with `encryption` configured on the storage it is stored
   * sealed, like auth keys (without encryption it is stored as is). `undefined` is
   * left out, so `{ secret: entry.secret }` of a `kv.entries()` entry passes as it is.
   */
  secret?: boolean | undefined;
}

export interface KeyValueStore {
  get(key: string): Promise<Uint8Array | null>;
  set(key: string, value: Uint8Array, options?: KeyValueSetOptions): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every entry, sorted by key; `secret: true` on each one whose value is stored sealed. */
  entries(): Promise<KeyValueEntry[]>;
  clear(): Promise<void>;
}

/** Where a min peer was seen: message `messageId` in chat `chatId` (marked ids). */
export interface RefMessage {
  chatId: bigint;
  messageId: number;
}

/** One reference of `RefMessageStore.list`: `peerId` was seen in message `messageId` of chat `chatId`. */
export interface RefMessageEntry {
  peerId: bigint;
  chatId: bigint;
  messageId: number;
}

/** One page of `RefMessageStore.list`: pass `cursor` back for the next page; null means done. */
export interface RefMessagePage {
  refs: RefMessageEntry[];
  cursor: string | null;
}

export interface RefMessageListOptions {
  /** From the previous page; absent for the first. */
  cursor?: string | null | undefined;
  /** References per page, 1-10000. Default 1000. */
  limit?: number | undefined;
}

/**
 * Reference messages (mtcute's `refMessages`): for a min peer, a message where it was
 * seen, so the client can reach it through `inputPeerUserFromMessage`. Peer and chat
 * ids are Bot-API marked ids (`toMarkedId`).
 */
export interface RefMessageStore {
  /** Records that `peerId` was seen in message `messageId` of chat `chatId`. */
  store(peerId: bigint, chatId: bigint, messageId: number): Promise<void>;
  /** The reference stored most recently for the peer, or null. */
  getByPeer(peerId: bigint): Promise<RefMessage | null>;
  /** Removes the references to these messages of the chat (deleted messages), for every peer. */
  delete(chatId: bigint, messageIds: readonly number[]): Promise<void>;
  deleteByPeer(peerId: bigint): Promise<void>;
  clear(): Promise<void>;
  /**
   * Every reference of the session, a page at a time, oldest first (in the order they
   * were stored; storing one again moves it last), so storing them again in this order
   * reproduces which one is the most recent of each peer. Without concurrent writes
   * each is returned exactly once.
   */
  list(options?: RefMessageListOptions): Promise<RefMessagePage>;
}

/**
 * A partial update of the snapshot: only the given fields change; keys, state,
 * channels, peers, kv and reference messages are kept. `null` removes a field.
 * `homeDcId` and `dcs` go together.
 */
export interface SessionUpdate {
  homeDcId?: number | undefined;
  /** Replaces every DC address entry; entries may not carry keys (use `authKeys`), stored keys stay. */
  dcs?: DataCenter[] | undefined;
  apiId?: number | null | undefined;
  user?: SelfUser | null | undefined;
  takeoutId?: bigint | null | undefined;
  /** The update state; null removes it. Needs a stored snapshot, like every field but homeDcId + dcs. */
  state?: UpdateState | null | undefined;
  /** Replaces every channel's pts (in this order); [] removes them all. */
  channels?: ChannelState[] | undefined;
}

/** Who holds a lease: shown to the next process that wants the session. */
export interface LeaseOwner {
  /** Default: the machine's host name. */
  host: string;
  /** Default: this process's id. */
  pid: number;
  /** Free text that tells a person which program this is: `bot@v1.4`, `worker-2`. */
  label?: string | undefined;
}

/** A lease as the database holds it. */
export interface LeaseHolder {
  owner: LeaseOwner;
  /** Grows with every acquisition of the session's lease (fencing token). */
  token: bigint;
  /** When the lease runs out unless renewed, by the database's clock where it has one. */
  expiresAt: Date;
}

export interface LeaseAcquireOptions {
  /** Partly or wholly replaces the default owner (host name, pid). */
  owner?: { host?: string | undefined; pid?: number | undefined; label?: string | undefined } | undefined;
  /** How long the lease lasts without renewal: what a dead holder costs the next one. 1 … 86400, default 30. */
  ttlSeconds?: number | undefined;
  /**
   * When another holder has it: `false` (default) rejects at once with LeaseHeldError,
   * `true` waits until it is released or runs out, a number waits at most that many
   * milliseconds and then rejects with LeaseHeldError.
   */
  wait?: boolean | number | undefined;
  /** Take the lease even from a live holder (an operator's override); its writes are then rejected. */
  force?: boolean | undefined;
  /** Renew every ttlSeconds/4 while held (default true). `false`: call `renew()` yourself. */
  heartbeat?: boolean | undefined;
  /** Called once when a renewal finds the lease taken over (the bridges stop their client). */
  onLost?: ((error: Error & { code: 'MTSTORE_LEASE_LOST' }) => void) | undefined;
}

/**
 * One owner per session. Two processes using one auth key at once make Telegram
 * answer AUTH_KEY_DUPLICATED and revoke the key; the lease turns that into an early
 * LeaseHeldError naming the holder. While held, every write of this instance is
 * fenced: once the lease was taken over or ran out, writes reject with
 * LeaseLostError instead of being applied. Reads are never fenced.
 */
export interface SessionLease {
  /** Takes the lease (again: renews it, when this instance holds it). */
  acquire(options?: LeaseAcquireOptions): Promise<LeaseHolder>;
  /** Extends this instance's lease by its TTL; LeaseLostError when another holder took it. */
  renew(): Promise<LeaseHolder>;
  /** Gives the lease back. Idempotent; also done by `close()`. */
  release(): Promise<void>;
  /** The live holder, whoever it is, or null. */
  holder(): Promise<LeaseHolder | null>;
  /** This instance's lease as last confirmed, or null when it holds none. */
  readonly held: LeaseHolder | null;
}

/** One named client session (one account) in one backend. */
export interface Storage {
  /** The stored session, or null when nothing is stored under this name. */
  load(): Promise<Session | null>;
  /**
   * Atomic full replace of the snapshot, auth keys included (keys of DCs not in it are
   * removed). Peers, kv entries and reference messages are kept.
   */
  save(session: Session): Promise<void>;
  /**
   * Changes only the fields given (see SessionUpdate). Creates the snapshot when none
   * is stored and `homeDcId` + `dcs` are given; otherwise rejects with NotFoundError.
   */
  update(patch: SessionUpdate): Promise<void>;
  /**
   * The hot path: durable when it resolves, changes only the state and the listed
   * channels. Rejects with NotFoundError (storing nothing) when no session is saved.
   */
  saveUpdateState(state: UpdateState, channels?: readonly ChannelState[]): Promise<void>;
  /**
   * Logout: removes everything stored under this name (snapshot, keys, state,
   * channels, peers, kv entries, reference messages). Idempotent.
   */
  delete(): Promise<void>;
  /** The names of every session stored in this backend (under this namespace), sorted. */
  listNames(): Promise<string[]>;
  readonly authKeys: AuthKeyStore;
  readonly kv: KeyValueStore;
  readonly peers: PeerCache;
  readonly refMessages: RefMessageStore;
  /** One owner per session: see SessionLease. */
  readonly lease: SessionLease;
  /** Idempotent; every later call rejects with StorageClosedError. */
  close(): Promise<void>;
}

/** Server side: the set of live MTProto sessions, keyed by (authKeyId, sessionId). */
export interface SessionStorageProtocol {
  /** True when created by this call, false when it already existed. */
  createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean>;
  hasSession(authKeyId: bigint, sessionId: bigint): Promise<boolean>;
  /** True when it existed and this call removed it. */
  destroySession(authKeyId: bigint, sessionId: bigint): Promise<boolean>;
  listSessions(authKeyId: bigint): Promise<bigint[]>;
  /** The ids this call removed (destroy_auth_key). */
  destroyAllSessions(authKeyId: bigint): Promise<bigint[]>;
  /**
   * Marks the session used now, pushing its expiry `ttlSeconds` ahead (session
   * lifetime, docs/contract.md §7.1). True when it exists (and was refreshed).
   * Optional for third-party implementations; every mtstore adapter has it.
   */
  touchSession?: ((authKeyId: bigint, sessionId: bigint) => Promise<boolean>) | undefined;
  /** When the session was last used and when it expires; null when it does not exist (or has expired). */
  sessionInfo?: ((authKeyId: bigint, sessionId: bigint) => Promise<SessionInfo | null>) | undefined;
  /**
   * Removes up to `limit` expired sessions in one bounded step and returns exactly
   * the ones this call removed (of racing callers on any node, each is returned once).
   */
  expireSessions?: ((limit?: number) => Promise<ExpiredSession[]>) | undefined;
  close(): Promise<void>;
}

/** What `sessionInfo` returns. Times are epoch **milliseconds** of the storage's clock. */
export interface SessionInfo {
  /** Creation or the last `touchSession`; null when the storage keeps no such time (no lifetime support). */
  lastUsedAt: number | null;
  /** When it stops existing; null = never (the storage has no `ttlSeconds`). */
  expiresAt: number | null;
}

/** A session `expireSessions` removed. */
export interface ExpiredSession {
  authKeyId: bigint;
  sessionId: bigint;
}

export type SessionEventType = 'created' | 'destroyed';

/** Why a session was destroyed: a call (`destroySession`, `destroyAllSessions`) or its time-to-live. */
export type SessionDestroyReason = 'explicit' | 'expired';

export interface SessionEvent {
  type: SessionEventType;
  authKeyId: bigint;
  sessionId: bigint;
  /** Id of the SessionSubject that made the change. */
  origin: string;
  /**
   * On `destroyed` events: why. SessionSubject always sets it; an event without one
   * (from an older mtstore on another node) means `explicit`.
   */
  reason?: SessionDestroyReason | undefined;
}

export interface SessionObserver {
  update(event: SessionEvent): void | Promise<void>;
}

/**
 * Carries session events between processes. Every subscriber of every bus instance
 * on the same channel receives each published event, the publisher's own included.
 * Delivery to other processes is at-most-once.
 */
export interface SessionEventBus {
  publish(event: SessionEvent): Promise<void>;
  /**
   * Resolves once the subscription is live; resolves to an idempotent unsubscribe.
   * `options.onState` hears when the subscription is lost and live again (see
   * SessionEventSubscribeOptions): a bus that can lose its connection must call it.
   */
  subscribe(listener: (event: SessionEvent) => void, options?: SessionEventSubscribeOptions): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * `lost`: the subscription stopped hearing events (connection dropped, a poll or
 * stream failed, events were skipped): from now on events may be missed.
 * `live`: it hears events again; events published while it was lost were missed.
 * Each `live` follows a `lost`; nothing is called for the first subscription.
 */
export type SessionEventBusState = 'lost' | 'live';

export interface SessionEventSubscribeOptions {
  /** Called synchronously by the bus on each change of state; a throw is reported and ignored. */
  onState?: ((state: SessionEventBusState) => void) | undefined;
}
