import {
  optionNames,
  withKnownOptions,
  AUTH_KEY_LENGTH,
  AuthKeyBytes,
  BaseStorage,
  copyDcAddress,
  copySelfUser,
  describeValue,
  InvalidArgumentError,
  LeaseLostError,
  type ChannelState,
  type BaseStorageOptions,
  type DataCenter,
  type Session,
  type SessionUpdate,
  type UpdateState,
} from '@mtstore/core';
import { MemoryAuthKeys } from './keys.js';
import { MemoryKeyValues } from './kv.js';
import { MemoryLeases } from './lease.js';
import { MemoryPeers } from './peers.js';
import { MemoryRefMessages } from './refs.js';
import { entryKeyId, entryOfKeyId, MemoryStore, type EntryKeys, type Snapshot } from './store.js';

export interface MemoryStorageOptions extends BaseStorageOptions {
  /** Shared backend; instances on one store see each other's writes. Default: a new store. */
  store?: MemoryStore | undefined;
  /** Session name. Default: `default`. */
  name?: string | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<MemoryStorageOptions>()(['store', 'name', 'encryption']);

/**
 * Client Storage kept in process memory: the reference implementation. Everything
 * is copied in (by the base class, at call time) and out, so callers never share
 * objects with the store. Keys, kv entries, peers and reference messages each live
 * in their own table (keys.ts, kv.ts, peers.ts, refs.ts); this file holds the snapshot.
 */
export class MemoryStorage extends BaseStorage {
  readonly store: MemoryStore;
  protected readonly authKeyRepository: MemoryAuthKeys;
  protected readonly kvRepository: MemoryKeyValues;
  protected readonly peerRepository: MemoryPeers;
  protected readonly refMessageRepository: MemoryRefMessages;

  constructor(options: MemoryStorageOptions = {}) {
    // Stryker disable all: constructor options are this adapter's own API (memory.test.ts); the kit builds instances only through the suite's `open`, outside the contract it checks
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(`MemoryStorage: options must be an object, got ${describeValue(options)}`);
    }
    super(withKnownOptions(options, OPTIONS, 'MemoryStorage').name ?? 'default', { encryption: options.encryption });
    if (options.store !== undefined && !(options.store instanceof MemoryStore)) {
      throw new InvalidArgumentError('MemoryStorage: store must be a MemoryStore');
    }
    // Stryker restore all
    this.store = options.store ?? new MemoryStore();
    const fence = (): void => this.checkFence();
    this.authKeyRepository = new MemoryAuthKeys(this.store, this.name, fence);
    this.kvRepository = new MemoryKeyValues(this.store, this.name, fence);
    this.peerRepository = new MemoryPeers(this.store, this.name, fence);
    this.refMessageRepository = new MemoryRefMessages(this.store, this.name, fence);
  }

  /**
   * The database side of the lease fence: a write under a lease another instance of
   * this store has since taken (force, or after it ran out) is refused. Synchronous,
   * in the same step as the write, so nothing can come between check and write.
   */
  protected checkFence(): void {
    const token = this.fenceToken;
    // Stryker disable next-line OptionalChaining: a fenced instance acquired the lease, so the name's lease record exists (records are never removed)
    if (token !== undefined && this.store.leases.get(this.name)?.token !== token) throw new LeaseLostError('fence');
  }

  protected override createLeaseRepository(): MemoryLeases {
    return new MemoryLeases(this.store, this.name);
  }

  /** readSession's plaintext keys are AuthKeyBytes views on a buffer made for that one read (KeyCopier). */
  // Stryker disable next-line BlockStatement,BooleanLiteral: equivalent: false only makes core copy the fresh keys once more; only speed differs
  protected override get sessionKeysFresh(): boolean {
    return true;
  }

  protected async readSession(): Promise<Session | null> {
    const entry = this.store.clients.get(this.name);
    const snapshot = entry?.snapshot;
    // Stryker disable next-line ConditionalExpression: redundant guards, equivalent: the snapshot is undefined exactly when the entry is
    if (entry === undefined || snapshot === null || snapshot === undefined) return null;
    const used = new Set<number>();
    const copier = new KeyCopier(entry.keys);
    const dcs = snapshot.dcs.map((dc) => {
      const id = entryKeyId(dc.id, dc.mediaOnly);
      used.add(id);
      // copyDcAddress, not `{ ...dc }`: a spread of the stored object gave every load's objects new
      // hidden classes, so core's reads of them went megamorphic and each key written onto them rebuilt a map.
      return withKeys(copyDcAddress(dc), entry.keys.get(id), copier);
    });
    // Keys of DC ids without an entry (written through authKeys): address-less entries, by DC id.
    const orphans = [...entry.keys.entries()].filter(([id, keys]) => !used.has(id) && hasKeys(keys));
    orphans.sort(([a], [b]) => a - b);
    for (const [id, keys] of orphans) {
      const { dcId, mediaOnly } = entryOfKeyId(id);
      const dc: DataCenter = { id: dcId };
      if (mediaOnly) dc.mediaOnly = true;
      dcs.push(withKeys(dc, keys, copier));
    }
    // Channels and state field by field too, not spread (see copyDcAddress above): after
    // readSession was optimized, spread copies had other hidden classes than the first
    // loads' did, and core's checks of them deoptimized.
    const session: Session = { version: 1, homeDcId: snapshot.homeDcId, dcs, channels: snapshot.channels.map((c) => ({ id: c.id, pts: c.pts })) };
    if (snapshot.apiId !== undefined) session.apiId = snapshot.apiId;
    if (snapshot.user !== undefined) session.user = copySelfUser(snapshot.user);
    if (snapshot.state !== undefined) {
      const { pts, qts, date, seq } = snapshot.state;
      session.state = { pts, qts, date, seq };
    }
    if (snapshot.takeoutId !== undefined) session.takeoutId = snapshot.takeoutId;
    return session;
  }

  /** `session` is the base class's call-time copy: its objects can be kept. */
  protected async writeSession(session: Session): Promise<void> {
    this.checkFence();
    const entry = this.store.entry(this.name);
    entry.keys.clear();
    const dcs = session.dcs.map(({ authKey, tempAuthKeys, ...dc }) => {
      // Field by field (copyDcAddress), not the rest object itself: see readSession.
      const address = copyDcAddress(dc);
      // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent: an entry holding no key is never loaded or listed (hasKeys, entries() skip it)
      if (authKey !== undefined || (tempAuthKeys !== undefined && tempAuthKeys.length > 0)) {
        const keys: EntryKeys = { temps: new Map((tempAuthKeys ?? []).map((t) => [t.index, t])) };
        // Stryker disable next-line ConditionalExpression: equivalent: a key set to undefined reads as no key everywhere
        if (authKey !== undefined) keys.key = authKey;
        entry.keys.set(entryKeyId(address.id, address.mediaOnly), keys);
      }
      return address;
    });
    const snapshot: Snapshot = { homeDcId: session.homeDcId, dcs, channels: session.channels };
    // Stryker disable next-line ConditionalExpression: equivalent: a snapshot field set to undefined is never read back (readSession copies defined fields only)
    if (session.apiId !== undefined) snapshot.apiId = session.apiId;
    // Stryker disable next-line ConditionalExpression: equivalent: a snapshot field set to undefined is never read back (readSession copies defined fields only)
    if (session.user !== undefined) snapshot.user = session.user;
    // Stryker disable next-line ConditionalExpression: equivalent: a snapshot field set to undefined is never read back (readSession copies defined fields only)
    if (session.state !== undefined) snapshot.state = session.state;
    // Stryker disable next-line ConditionalExpression: equivalent: a snapshot field set to undefined is never read back (readSession copies defined fields only)
    if (session.takeoutId !== undefined) snapshot.takeoutId = session.takeoutId;
    entry.snapshot = snapshot;
  }

  protected async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    this.checkFence();
    let snapshot = this.store.clients.get(this.name)?.snapshot ?? null;
    if (snapshot === null) {
      // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent: the surviving variants differ only for a patch with one of homeDcId / dcs, which core rejects before the adapter
      if (patch.homeDcId === undefined || patch.dcs === undefined) return false;
      snapshot = this.store.entry(this.name).snapshot = { homeDcId: patch.homeDcId, dcs: patch.dcs, channels: [] };
    }
    if (patch.homeDcId !== undefined) snapshot.homeDcId = patch.homeDcId;
    if (patch.dcs !== undefined) snapshot.dcs = patch.dcs;
    if (patch.apiId === null) delete snapshot.apiId;
    else if (patch.apiId !== undefined) snapshot.apiId = patch.apiId;
    if (patch.user === null) delete snapshot.user;
    else if (patch.user !== undefined) snapshot.user = patch.user;
    if (patch.takeoutId === null) delete snapshot.takeoutId;
    else if (patch.takeoutId !== undefined) snapshot.takeoutId = patch.takeoutId;
    if (patch.state === null) delete snapshot.state;
    else if (patch.state !== undefined) snapshot.state = patch.state;
    if (patch.channels !== undefined) snapshot.channels = patch.channels;
    return true;
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    this.checkFence();
    const snapshot = this.store.clients.get(this.name)?.snapshot;
    if (snapshot === null || snapshot === undefined) return false;
    snapshot.state = state;
    for (const channel of channels) {
      const stored = snapshot.channels.find((c) => c.id === channel.id);
      if (stored) stored.pts = channel.pts;
      else snapshot.channels.push(channel);
    }
    return true;
  }

  protected async deleteSession(): Promise<void> {
    this.checkFence();
    this.store.removeClient(this.name);
  }

  protected async listSessionNames(): Promise<string[]> {
    return [...this.store.clients.keys()].sort();
  }

  /** Peers never leave this process: each record was built from a batch core validated. */
  // Stryker disable next-line BlockStatement,BooleanLiteral: equivalent: core's stored-peer check passes on every record memory holds; only speed differs
  protected override get peersNeedNoStoredCheck(): boolean {
    return true;
  }

  /** The peer repository copies a batch into its records peer by peer, before upsert returns (peers.ts). */
  protected override get peersUpsertInOrder(): boolean {
    return true;
  }

  /** kv entries live in this process's Maps and only core's kv.set puts them there (kv.ts). */
  protected override get kvReadsWithoutIo(): boolean {
    return true;
  }

  protected async closeConnection(): Promise<void> {
    // Nothing to release: the store belongs to whoever holds it.
  }
}

function hasKeys(keys: EntryKeys): boolean {
  return keys.key !== undefined || keys.temps.size > 0;
}

/**
 * Copies a session's plaintext keys out into consecutive AuthKeyBytes views of one
 * fresh buffer: one allocation per read instead of one per key (V8 allocates a typed
 * array over 64 bytes off the heap, which costs more than the copy), and core keeps
 * them as they are (sessionKeysFresh). A stored value of any other length (a sealed
 * key) is handed over as stored: core only opens it into a new buffer (or rejects it),
 * it never reaches the caller (BaseStorage.readSession), so copying it would be waste.
 */
class KeyCopier {
  readonly #memory: ArrayBuffer | undefined;
  #offset = 0;

  constructor(entries: ReadonlyMap<number, EntryKeys>) {
    let total = 0;
    for (const keys of entries.values()) {
      // Stryker disable next-line ConditionalExpression: equivalent: counting other values too only makes the buffer longer than its views
      if (keys.key?.length === AUTH_KEY_LENGTH) total += AUTH_KEY_LENGTH;
      // Stryker disable next-line ConditionalExpression: equivalent: as above
      for (const temp of keys.temps.values()) if (temp.key.length === AUTH_KEY_LENGTH) total += AUTH_KEY_LENGTH;
    }
    // Stryker disable next-line ConditionalExpression: equivalent: an empty buffer where none is needed; copy() is then never called for a 256-byte key
    this.#memory = total === 0 ? undefined : new ArrayBuffer(total);
  }

  copy(key: Uint8Array): Uint8Array {
    // Stryker disable next-line ConditionalExpression: equivalent: a stored plaintext key handed over uncopied is a plain Uint8Array (memory stores core's call-time copies), which core's load copies into an AuthKeyBytes anyway (only an AuthKeyBytes is kept as fresh); only speed differs
    if (key.length !== AUTH_KEY_LENGTH) return key;
    const view = new AuthKeyBytes(this.#memory as ArrayBuffer, this.#offset, AUTH_KEY_LENGTH);
    view.set(key);
    this.#offset += AUTH_KEY_LENGTH;
    return view;
  }
}

/** Copies the entry's keys onto `dc`: temp keys ordered by slot index. */
function withKeys(dc: DataCenter, keys: EntryKeys | undefined, copier: KeyCopier): DataCenter {
  if (keys === undefined) return dc;
  if (keys.key !== undefined) dc.authKey = copier.copy(keys.key);
  if (keys.temps.size > 0) {
    dc.tempAuthKeys = [...keys.temps.values()]
      .sort((a, b) => a.index - b.index)
      .map((t) => ({ index: t.index, key: copier.copy(t.key), expiresAt: t.expiresAt }));
  }
  return dc;
}
