import type { DataCenter, PeerType, RefMessage, SelfUser, TempAuthKey, UpdateState, ChannelState } from '@mtstore/core';
import { copyOutOf } from '@mtstore/core';
import { IdIndex } from './ids.js';
import { PhoneIndex, UsernameIndex } from './names.js';
import { SessionTable } from './sessions.js';

/**
 * A peer as the memory store keeps it, in fewer heap objects than a Peer (RSS per
 * cached peer): one class, so every record shares one hidden class and copying out is
 * monomorphic; the id as its map key (a number when it is one exactly: no bigint
 * object); one username as the string itself (no array: most peers have none or one);
 * TL bytes in the session's PeerBytes, `complete` being where (no object per peer: a
 * Uint8Array costs its bytes plus ~200 of object, buffer and backing store; and a copy
 * out is one memcpy, where rebuilding bytes from a latin1 string cost ~34 instructions
 * a byte — callgrind: ~2.2k against ~0.6k for 48 bytes). Absent fields are undefined.
 * Type, `min` and the form of `usernames` share one small integer (`flags`): a field
 * less per record, and a copy tells one username from several without reading the
 * string's header — with 100k peers each such read is a likely cache miss.
 */
export class StoredPeer {
  constructor(
    /** The type's index in PEER_TYPES | MIN_FALSE or MIN_TRUE (neither: absent) | MANY_USERNAMES. */
    public flags: number,
    /** The id as its `byId` key (see PeerTable.byId). */
    readonly key: number | bigint,
    public accessHash: bigint,
    /** None: undefined; one: that string; more (MANY_USERNAMES set): an array owned by the store (copied out). */
    public usernames: string | readonly string[] | undefined,
    public updatedAt: number,
    public phone: string | undefined,
    public displayName: string | undefined,
    /** Where `Peer.complete` starts in the table's PeerBytes; -1: absent. */
    public complete: number,
  ) {}
}

/** Peer types by their index in StoredPeer.flags (also list()'s order). */
export const PEER_TYPES: readonly PeerType[] = ['user', 'chat', 'channel'];
/**
 * The bits of StoredPeer.flags. A const enum: the bundler writes its members into the
 * code as literals, where a module's constants are `var`s V8 loads on every use (every
 * insert and copy reads them).
 */
export const enum Flag {
  /** The bits of the type index. */
  TYPE_MASK = 3,
  /** `min: false`. */
  MIN_FALSE = 4,
  /** `min: true`. */
  MIN_TRUE = 8,
  /** `usernames` is an array (two or more). */
  MANY_USERNAMES = 16,
}

/**
 * A typed array's length from its internals, through %TypedArray%.prototype's `length`
 * getter (0 when detached or out of bounds). The getter and Reflect.apply are `const`
 * bindings of this closure's scope, not the module's: the bundler turns a module's
 * top-level `const` into `var`, which V8 loads on every call and calls through the
 * generic Call builtin, where it folds a closure's `const` into the inlining caller
 * (core's bytesLength does the same).
 */
const lengthOf: (bytes: Uint8Array) => number = (() => {
  const length = Reflect.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'length')?.get as (this: Uint8Array) => number;
  const call = Reflect.apply;
  return (bytes: Uint8Array): number => call(length, bytes, []);
})();

/**
 * PeerBytes.add's copy of a caller's bytes whose length is no longer the one core checked:
 * byte by byte (indexed reads of a typed array go to its elements, never a getter; past
 * its end they answer undefined, stored as 0). Apart, so that add stays small enough to
 * be inlined into putPeer.
 */
function copyChanged(target: Uint8Array, offset: number, source: Uint8Array, length: number): void {
  for (let i = 0; i < length; i++) target[offset + i] = (source[i] as number | undefined) ?? 0;
}

/**
 * The TL bytes (`Peer.complete`) of one session's peers, back to back in one buffer:
 * each entry is its length in 3 bytes (little-endian; at most 65,536) and the bytes.
 * An entry no record points at any more is garbage until `compact` moves the live
 * ones together (upsert calls it when garbage is over half of what is used).
 */
export class PeerBytes {
  buffer: Uint8Array = new Uint8Array(0);
  /**
   * `buffer.buffer`, kept: the getter is a call into the runtime (~100 instructions a
   * lookup, callgrind) and a copy out (core's copyOutOf) reads the ArrayBuffer.
   */
  memory: ArrayBuffer = this.buffer.buffer as ArrayBuffer;
  /** End of the last entry. */
  used = 0;
  /** Bytes of entries no record points at. */
  garbage = 0;

  /**
   * Appends a copy of `bytes`, a caller's Uint8Array core checked to be `length` bytes
   * long (PeerRepository.upsert: read through intrinsics only): returns where the entry
   * starts. The entry is `length` bytes whatever `bytes` holds by now: when its length
   * changed since core's check (a buffer resized or detached by a caller's getter later in
   * the batch) its bytes are read one by one, a missing one as 0, and nothing throws
   * half-way through a batch.
   */
  add(bytes: Uint8Array, length: number): number {
    const at = this.used;
    const end = at + 3 + length;
    if (end > this.buffer.length) this.#grow(end);
    const buffer = this.buffer;
    buffer[at] = length & 0xff;
    buffer[at + 1] = (length >> 8) & 0xff;
    buffer[at + 2] = length >> 16;
    // %TypedArray%.prototype.set reads a typed array source by its internals (no getter
    // runs); it throws for a detached or out-of-bounds one, whose length reads 0 here.
    if (lengthOf(bytes) === length) {
      if (length > 0) buffer.set(bytes, at + 3);
    } else copyChanged(buffer, at + 3, bytes, length);
    this.used = end;
    return at;
  }

  lengthAt(at: number): number {
    const buffer = this.buffer;
    return (buffer[at] as number) | ((buffer[at + 1] as number) << 8) | ((buffer[at + 2] as number) << 16);
  }

  /** A fresh copy of the entry at `at`, the caller's to change (core's pooled copy: TL bytes are not secret). */
  copy(at: number): Uint8Array {
    const start = at + 3;
    return copyOutOf(this.memory, start, start + this.lengthAt(at));
  }

  /** True when the entry at `at` holds exactly `bytes`. */
  // Stryker disable next-line BlockStatement: equivalent: never the same only stores the bytes again (memory use)
  same(at: number, bytes: Uint8Array, length: number): boolean {
    // `length`: what core checked (see add); indexed reads only.
    if (this.lengthAt(at) !== length) return false;
    const buffer = this.buffer;
    const start = at + 3;
    for (let i = 0; i < length; i++) if (buffer[start + i] !== bytes[i]) return false;
    // Stryker disable next-line BooleanLiteral: equivalent: never the same only stores the bytes again (memory use)
    return true;
  }

  /** The entry at `at` is no longer pointed at. */
  // Stryker disable next-line BlockStatement: equivalent: garbage never counted only means never compacting (memory use)
  release(at: number): void {
    // Stryker disable next-line AssignmentOperator,ArithmeticOperator: equivalent: garbage counted low only compacts later or never (memory use)
    this.garbage += 3 + this.lengthAt(at);
  }

  /** True when compacting would at least halve the used bytes (and free more than 64 KiB). */
  // Stryker disable next-line BlockStatement: equivalent: when to compact is memory use (compaction itself is checked by the kit's TL bytes trait)
  wasteful(): boolean {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator,ArithmeticOperator: equivalent: when to compact is memory use (compaction itself is checked by the kit's TL bytes trait)
    return this.garbage > 65_536 && this.garbage * 2 > this.used;
  }

  /** Moves the entries of `peers` (every record that has one) together into a buffer of their size. */
  // Stryker disable next-line BlockStatement: equivalent: never compacting keeps the replaced bytes (memory use); a wrong compaction fails the kit's TL bytes trait
  compact(peers: Iterable<StoredPeer>): void {
    const old = this.buffer;
    // Stryker disable next-line ArithmeticOperator: equivalent: a larger buffer than the live entries need (memory use; `used` is recounted)
    const next = new Uint8Array(this.used - this.garbage);
    let used = 0;
    for (const peer of peers) {
      const at = peer.complete;
      if (at < 0) continue;
      const end = at + 3 + this.lengthAt(at);
      next.set(old.subarray(at, end), used);
      peer.complete = used;
      used += end - at;
    }
    this.#use(next);
    this.used = used;
    this.garbage = 0;
  }

  // Stryker disable next-line BlockStatement: equivalent: bytes no record points at any more (memory use)
  clear(): void {
    this.#use(new Uint8Array(0));
    this.used = 0;
    this.garbage = 0;
  }

  #grow(end: number): void {
    // Doubling: appends cost amortized O(1); the untouched tail of a large buffer is not resident.
    // Stryker disable next-line ArithmeticOperator: equivalent: growing from a smaller size doubles until the entry fits
    let size = Math.max(4096, this.buffer.length * 2);
    while (size < end) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.used));
    this.#use(next);
  }

  /** Replaces the buffer, and `memory` with it. */
  #use(buffer: Uint8Array): void {
    this.buffer = buffer;
    this.memory = buffer.buffer as ArrayBuffer;
  }
}

/** The peers of one named session, with the two lookup indexes. */
export interface PeerTable {
  /**
   * Per type, id → peer (ids.ts). The key is the id as a number when it is one exactly,
   * else the bigint (no string is built per lookup). Insertion order is stable (peers are
   * never removed one by one), so list() pages by offset.
   */
  readonly byId: Record<PeerType, IdIndex>;
  /** lower-cased username → its owner (names.ts: no key strings kept; it points into `byId`) */
  readonly byUsername: UsernameIndex;
  /** phone → its owner */
  readonly byPhone: PhoneIndex;
  /** The peers' TL bytes (StoredPeer.complete). */
  readonly bytes: PeerBytes;
}

/** The snapshot without its keys: keys live in `keys`, written one at a time. */
export interface Snapshot {
  homeDcId: number;
  /** Address entries, copies without keys. */
  dcs: DataCenter[];
  apiId?: number | undefined;
  user?: SelfUser | undefined;
  state?: UpdateState | undefined;
  channels: ChannelState[];
  takeoutId?: bigint | undefined;
}

/** The keys of one DC entry (main or media-only). */
export interface EntryKeys {
  key?: Uint8Array | undefined;
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
  /**
   * Set when the entry leaves `clients` (MemoryStore.removeClient): a repository that
   * kept a reference to it (SessionPart) then looks its session up again.
   */
  removed: boolean;
  /** null until a snapshot is saved: keys, kv, peers and references need none. */
  snapshot: Snapshot | null;
  /** entryKeyId (main and media-only entries apart) → keys */
  readonly keys: Map<number, EntryKeys>;
  readonly kv: Map<string, Uint8Array>;
  readonly peers: PeerTable;
  readonly refs: RefTable;
}

/** An empty peer table: the name indexes point into its IdIndexes, by type index (PEER_TYPES). */
function newPeerTable(): PeerTable {
  const user = new IdIndex();
  const chat = new IdIndex();
  const channel = new IdIndex();
  const byType = [user, chat, channel];
  return { byId: { user, chat, channel }, byUsername: new UsernameIndex(byType), byPhone: new PhoneIndex(byType), bytes: new PeerBytes() };
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** What a session's entry shows to util.inspect and JSON: counts, never key bytes or kv values. */
function entrySummary(entry: ClientEntry): Record<string, number | boolean> {
  let peers = 0;
  for (const type of PEER_TYPES) peers += entry.peers.byId[type].records.length;
  return { snapshot: entry.snapshot !== null, keyEntries: entry.keys.size, kv: entry.kv.size, peers, refMessages: entry.refs.bySeq.size };
}

/** The prototype of every ClientEntry: an entry printed by mistake (`console.log(store.clients.get(name))`) holds keys. */
const ENTRY_PROTOTYPE = {
  [INSPECT](this: ClientEntry): string {
    const summary = entrySummary(this);
    return `ClientEntry { ${Object.entries(summary).map(([key, value]) => `${key}: ${value}`).join(', ')} }`;
  },
  toJSON(this: ClientEntry): Record<string, number | boolean> {
    return entrySummary(this);
  },
};

export function newClientEntry(): ClientEntry {
  const entry = Object.create(ENTRY_PROTOTYPE) as ClientEntry;
  return Object.assign(entry, {
    // Stryker disable next-line BooleanLiteral: equivalent: an entry taken for removed is looked up by name again on every call (speed only)
    removed: false,
    snapshot: null,
    keys: new Map(),
    kv: new Map(),
    peers: newPeerTable(),
    refs: { byPeer: new Map(), byMessage: new Map(), bySeq: new Map(), seq: 0 },
  });
}

/**
 * What the repositories of one session (auth keys, kv, peers, references) share: the
 * store, the session name, the lease fence, and the session's entry as last looked up.
 * They use that entry without a lookup by name until it is removed (`removed` is then
 * set, by this instance or another on the store) — then, or while there is none, they
 * look it up again, so an entry another instance created or recreated is seen at once.
 */
export abstract class SessionPart {
  #entry: ClientEntry | undefined;

  constructor(
    /** `backend`, not `store`: refs.ts has a `store` operation. */
    protected readonly backend: MemoryStore,
    protected readonly name: string,
    /** Throws LeaseLostError when another instance took this session's lease (lease.ts). */
    protected readonly fence: () => void,
  ) {}

  /** The session's entry, or undefined while nothing of it is stored (reads, deletes). */
  protected current(): ClientEntry | undefined {
    const entry = this.#entry;
    if (entry !== undefined && !entry.removed) return entry;
    return (this.#entry = this.backend.clients.get(this.name));
  }

  /** The session's entry, created on first write. */
  protected entry(): ClientEntry {
    return this.current() ?? (this.#entry = this.backend.entry(this.name));
  }
}

/**
 * The data of one memory backend. Every MemoryStorage / MemorySessionStorage opened
 * on the same store sees the same data, the way two connections see one database.
 * Without a store each instance gets its own.
 */
export class MemoryStore {
  /** Client sessions by name. Remove one only with `removeClient` (repositories keep references). */
  readonly clients = new Map<string, ClientEntry>();
  /** Server sessions: (auth key id, session id) → last used and expiry times (sessions.ts). */
  readonly server = new SessionTable();
  /**
   * Leases by session name (lease.ts), apart from `clients`: a lease outlives
   * `delete()`, and its token keeps growing after a release.
   */
  readonly leases = new Map<string, { token: bigint; owner: string; expiresAt: number; released: boolean }>();

  /** Removes a session's entry, marking it removed for whoever still holds it. */
  removeClient(name: string): void {
    const entry = this.clients.get(name);
    if (entry === undefined) return;
    entry.removed = true;
    this.clients.delete(name);
  }

  /** What util.inspect shows: counts only. The entries hold auth keys and kv values (which may be secret). */
  [INSPECT](): string {
    return `MemoryStore { clients: ${this.clients.size}, serverSessions: ${this.server.size}, leases: ${this.leases.size} }`;
  }

  toJSON(): Record<string, number> {
    return { clients: this.clients.size, serverSessions: this.server.size, leases: this.leases.size };
  }

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

/**
 * Key of an entry's keys: main and media-only entries of one DC id hold keys apart. A
 * small integer, `2 × dcId + 1 if media-only` (DC ids are validated integers ≤ 1000):
 * a Map finds it without hashing a string, and none is built per key call (a template
 * string here was ~330 of the ~6.9k instructions of the GramJS bridge's `setAuthKey`).
 * Numeric order is entry order: by DC id, main before media-only.
 */
export function entryKeyId(dcId: number, mediaOnly: boolean | undefined): number {
  return dcId * 2 + (mediaOnly === true ? 1 : 0);
}

/** The DC id and media-only flag of an entryKeyId. */
export function entryOfKeyId(id: number): { dcId: number; mediaOnly: boolean } {
  return { dcId: id >> 1, mediaOnly: (id & 1) === 1 };
}

