import type { DataCenter, Peer, RefMessage, SelfUser, TempAuthKey, UpdateState, ChannelState } from '@mtstore/core';

/** The peers of one named session, with the two lookup indexes. */
export interface PeerTable {
  /** `type:id` → peer. Insertion order is stable (peers are never removed one by one), so list() pages by offset. */
  readonly byKey: Map<string, Peer>;
  /** lower-cased username → `type:id` */
  readonly byUsername: Map<string, string>;
  /** phone → `type:id` */
  readonly byPhone: Map<string, string>;
}

/** The snapshot without its keys: keys live in `keys`, written one at a time. */
export interface Snapshot {
  homeDcId: number;
  /** Address entries, copies without keys. */
  dcs: DataCenter[];
  apiId?: number;
  user?: SelfUser;
  state?: UpdateState;
  channels: ChannelState[];
  takeoutId?: bigint;
}

/** The keys of one DC entry (main or media-only). */
export interface EntryKeys {
  key?: Uint8Array;
  /** slot index → temp key */
  temps: Map<number, TempAuthKey>;
}

/** A stored reference with its place in the session's store order. */
export interface StoredRef extends RefMessage {
  readonly seq: number;
}

/** Reference messages of one session. */
export interface RefTable {
  /** peerId → `chatId:messageId` → reference; Map order is recency (re-stored moves last). */
  readonly byPeer: Map<bigint, Map<string, StoredRef>>;
  /** `chatId:messageId` → peers referenced by that message. */
  readonly byMessage: Map<string, Set<bigint>>;
  /** seq → `peerId` of every reference, in store order (Map order; seq only grows). */
  readonly bySeq: Map<number, { peerId: bigint; ref: StoredRef }>;
  /** The last seq handed out: the per-session store sequence. */
  seq: number;
}

export interface ClientEntry {
  /** null until a snapshot is saved: keys, kv, peers and references need none. */
  snapshot: Snapshot | null;
  /** `dcId:0` (main) / `dcId:1` (media-only) → keys */
  readonly keys: Map<string, EntryKeys>;
  readonly kv: Map<string, Uint8Array>;
  readonly peers: PeerTable;
  readonly refs: RefTable;
}

export function newClientEntry(): ClientEntry {
  return {
    snapshot: null,
    keys: new Map(),
    kv: new Map(),
    peers: { byKey: new Map(), byUsername: new Map(), byPhone: new Map() },
    refs: { byPeer: new Map(), byMessage: new Map(), bySeq: new Map(), seq: 0 },
  };
}

/**
 * The data of one memory backend. Every MemoryStorage / MemorySessionStorage opened
 * on the same store sees the same data, the way two connections see one database.
 * Without a store each instance gets its own.
 */
export class MemoryStore {
  /** Client sessions by name. */
  readonly clients = new Map<string, ClientEntry>();
  /**
   * Server sessions: authKeyId → sessionIds. bigint keys hash by value, so a lookup
   * allocates nothing (no string key is built per hasSession).
   */
  readonly server = new Map<bigint, Set<bigint>>();
  /**
   * Leases by session name (lease.ts), apart from `clients`: a lease outlives
   * `delete()`, and its token keeps growing after a release.
   */
  readonly leases = new Map<string, { token: bigint; owner: string; expiresAt: number; released: boolean }>();

  /** The entry of a session name, created on first write. */
  entry(name: string): ClientEntry {
    let entry = this.clients.get(name);
    if (entry === undefined) {
      entry = newClientEntry();
      this.clients.set(name, entry);
    }
    return entry;
  }
}

/** Key of an entry's keys: main and media-only entries of one DC id hold keys apart. */
export function entryKeyId(dcId: number, mediaOnly: boolean | undefined): string {
  return `${dcId}:${mediaOnly === true ? 1 : 0}`;
}
