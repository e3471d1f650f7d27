/**
 * The client-side session model (DESIGN §3.1) and the contracts every adapter
 * implements (§3.2, §3.3, §4). 64-bit ids are `bigint`, times are epoch seconds.
 */

/** A datacenter the client knows, with the keys it holds for it. */
export interface DataCenter {
  id: number;
  /** Dotted quad. */
  ipv4?: string;
  /** Without brackets. */
  ipv6?: string;
  port: number;
  testMode?: boolean;
  mediaOnly?: boolean;
  /** Permanent auth key for this DC, exactly 256 bytes. */
  authKey?: Uint8Array;
  /** PFS keys, one per connection slot. */
  tempAuthKeys?: TempAuthKey[];
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
  username?: string;
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
  apiId?: number;
  /** Absent: not logged in. */
  user?: SelfUser;
  /** Absent: no update state yet. */
  state?: UpdateState;
  channels: ChannelState[];
  takeoutId?: bigint;
}

export type PeerType = 'user' | 'chat' | 'channel';

export interface Peer {
  type: PeerType;
  id: bigint;
  accessHash: bigint;
  /** As given; lookups are case-insensitive. */
  usernames: string[];
  /** Digits only. */
  phone?: string;
  /** From a "min" constructor: the access hash is not usable for lookups. */
  min?: boolean;
  /** Epoch seconds. */
  updatedAt: number;
}

/** The peer cache of one named session. Access hashes only mean something to the account that got them. */
export interface PeerCache {
  /** One atomic batch; for a repeated (type, id) or username the last entry wins. */
  upsert(peers: readonly Peer[]): Promise<void>;
  getById(type: PeerType, id: bigint): Promise<Peer | null>;
  /** Case-insensitive; never returns a min peer. */
  getByUsername(username: string): Promise<Peer | null>;
  /** Never returns a min peer. */
  getByPhone(phone: string): Promise<Peer | null>;
}

/** One named client session (one account) in one backend. */
export interface Storage {
  /** The stored session, or null when nothing is stored under this name. */
  load(): Promise<Session | null>;
  /** Atomic full replace. Peers are a separate cache and are kept. */
  save(session: Session): Promise<void>;
  /**
   * The hot path: durable when it resolves, changes only the state and the listed
   * channels. Rejects with NotFoundError (storing nothing) when no session is saved.
   */
  saveUpdateState(state: UpdateState, channels?: readonly ChannelState[]): Promise<void>;
  /** Logout: removes the session, its state, channels and peers. Idempotent. */
  delete(): Promise<void>;
  readonly peers: PeerCache;
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
  close(): Promise<void>;
}

export type SessionEventType = 'created' | 'destroyed';

export interface SessionEvent {
  type: SessionEventType;
  authKeyId: bigint;
  sessionId: bigint;
  /** Id of the SessionSubject that made the change. */
  origin: string;
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
  /** Resolves once the subscription is live; resolves to an idempotent unsubscribe. */
  subscribe(listener: (event: SessionEvent) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
