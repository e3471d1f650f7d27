/**
 * Deliberately broken adapters, each breaking one rule of the contract. The kit's
 * self-test asserts that every one of them fails the trait group that rule belongs
 * to, which is what shows the kit can fail.
 *
 * They are built on @mtstore/memory (imported from source, see package.json) by
 * overriding one protected operation, or by wrapping a working instance and
 * changing one public behaviour.
 */
import {
  assertSession,
  copySession,
  type PeerListPage,
  type PeerPosition,
  type PeerRepository,
  type RefMessage,
  type RefMessageListPage,
  type SessionUpdate,
  CorruptDataError,
  LeaseLostError,
  LocalEventChannel,
  LocalSessionEventBus,
  StorageClosedError,
  StorageUnavailableError,
  storeNotFound,
  type ChannelState,
  type EncryptionOptions,
  type KeyValueStore,
  type Peer,
  type PeerCache,
  type PeerType,
  type Session,
  type SessionEvent,
  type SessionEventBus,
  type SessionStorageProtocol,
  type Storage,
  type TempAuthKey,
  type UpdateState,
  usernameKey,
} from '@mtstore/core';
import type { Damage } from '../src/api.js';
import { SESSION_DAMAGES, tamperSessionObject } from '../src/tamper-session.js';
import { MemorySessionStorage, MemoryStorage, MemoryStore, type MemoryStorageOptions } from '../../packages/memory/src/index.js';
import { MemoryAuthKeys } from '../../packages/memory/src/keys.js';
import { MemoryKeyValues } from '../../packages/memory/src/kv.js';
import { MemoryLeases } from '../../packages/memory/src/lease.js';
import { MemoryPeers } from '../../packages/memory/src/peers.js';
import { MemoryRefMessages } from '../../packages/memory/src/refs.js';
import { peerRef } from '../../packages/memory/src/names.js';
import { entryKeyId, Flag, newClientEntry, PeerBytes, type StoredPeer } from '../../packages/memory/src/store.js';

export type Suite = 'storage' | 'server' | 'bus';

export interface Broken {
  /** The rule it breaks. */
  rule: string;
  suite: Suite;
  /** The trait group that must catch it. */
  group: string;
  /** Its bug is a crash (a TypeError, as an unguarded driver call throws): the kit must catch that, not an assertion. */
  crashes?: true;
  /** Opens the broken thing on a namespace's shared store / channel. */
  open: (backend: Backend, name: string, encryption?: EncryptionOptions) => Storage | SessionStorageProtocol | SessionEventBus;
  /** What the broken adapter declares about itself, and the fault hooks it gives. */
  capabilities?: { sharedBackend?: boolean };
  corrupt?: (backend: Backend, name: string) => void;
  tamper?: (backend: Backend, name: string, damage: Damage) => void;
  interrupt?: (backend: Backend) => void;
  /** A server storage with session lifetime (the lifetime traits open it instead of memory's). */
  openWithLifetime?: (backend: Backend, lifetime: { ttlSeconds?: number; clock: () => number }) => SessionStorageProtocol;
  /** The `create: false` instance (the create traits open it instead of `existingOnly`'s). */
  openExisting?: (backends: Backends, namespace: string, name: string) => Storage;
}

/** The namespaces of one self-test suite, for the `create: false` simulation. */
export interface Backends {
  /** The namespace's backend, made if there is none: what `open` (`create: true`) does. */
  of(namespace: string): Backend;
  /** The namespace's backend if one was made; looking makes nothing. */
  find(namespace: string): Backend | undefined;
  /** How many namespaces hold a backend. */
  count(): number;
}

/** What one namespace shares: a memory store and a bus channel. */
export interface Backend {
  store: MemoryStore;
  channel: LocalEventChannel;
  /** Bumped by the interrupt hook: a simulated connection drop (see `connected`). */
  drops: number;
}

/**
 * The reference adapter's corrupt hook: cuts the first stored permanent key of
 * `name` to 3 bytes, the way a truncated blob would look (memory's own test does the same).
 */
export function corruptMemory(b: Backend, name: string): void {
  for (const keys of b.store.clients.get(name)?.keys.values() ?? []) {
    if (keys.key !== undefined) {
      keys.key = Uint8Array.from([1, 2, 3]);
      return;
    }
  }
  throw new Error(`corruptMemory: session ${name} has no stored key to damage`);
}

/**
 * The reference adapter's tamper hook (memory's own test does the same): the snapshot
 * objects in the store edited in place. Memory holds validated objects, not rows: it
 * plants only the session damages, which core's stored-data check sees on `load`.
 */
export const MEMORY_DAMAGES: readonly Damage[] = SESSION_DAMAGES;

export function tamperMemory(b: Backend, name: string, damage: Damage): void {
  tamperSessionObject(b.store.clients.get(name)?.snapshot, damage);
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const lossy = (id: bigint) => BigInt(Number(id));

/** A Storage that forwards to `inner`, with some methods replaced. */
function wrap(inner: Storage, changes: Partial<Omit<Storage, 'peers' | 'refMessages'>> & { peers?: Partial<PeerCache>; refMessages?: Partial<Storage['refMessages']> }): Storage {
  return {
    load: changes.load ?? (() => inner.load()),
    save: changes.save ?? ((s) => inner.save(s)),
    update: changes.update ?? ((patch) => inner.update(patch)),
    saveUpdateState: changes.saveUpdateState ?? ((state, channels) => inner.saveUpdateState(state, channels)),
    delete: changes.delete ?? (() => inner.delete()),
    listNames: changes.listNames ?? (() => inner.listNames()),
    close: changes.close ?? (() => inner.close()),
    authKeys: changes.authKeys ?? inner.authKeys,
    kv: changes.kv ?? inner.kv,
    refMessages: { ...bindRefs(inner.refMessages), ...changes.refMessages },
    lease: changes.lease ?? inner.lease,
    peers: { ...bindPeers(inner.peers), ...changes.peers },
  };
}

function bindPeers(peers: PeerCache): PeerCache {
  return {
    upsert: (batch) => peers.upsert(batch),
    getById: (type, id) => peers.getById(type, id),
    getByUsername: (username) => peers.getByUsername(username),
    getByPhone: (phone) => peers.getByPhone(phone),
    list: (options) => peers.list(options),
    clear: () => peers.clear(),
  };
}

function bindRefs(refs: Storage['refMessages']): Storage['refMessages'] {
  return {
    store: (p, c, m) => refs.store(p, c, m),
    getByPeer: (p) => refs.getByPeer(p),
    delete: (c, m) => refs.delete(c, m),
    deleteByPeer: (p) => refs.deleteByPeer(p),
    list: (options) => refs.list(options),
    clear: () => refs.clear(),
  };
}

function wrapServer(inner: SessionStorageProtocol, changes: Partial<SessionStorageProtocol>): SessionStorageProtocol {
  return {
    createSession: (a, s) => inner.createSession(a, s),
    hasSession: (a, s) => inner.hasSession(a, s),
    destroySession: (a, s) => inner.destroySession(a, s),
    listSessions: (a) => inner.listSessions(a),
    destroyAllSessions: (a) => inner.destroyAllSessions(a),
    close: () => inner.close(),
    ...changes,
  };
}

const memory = (b: Backend, name: string) => new MemoryStorage({ store: b.store, name });

/** Reads that hit a key they cannot open answer "nothing stored" instead of failing. */
function swallowingSealErrors(inner: Storage): Storage {
  const orNull = <T>(promise: Promise<T>): Promise<T | null> =>
    promise.catch((error: unknown) => {
      if ((error as { code?: unknown } | null)?.code === 'MTSTORE_ENCRYPTION') return null;
      throw error;
    });
  const keys = inner.authKeys;
  return wrap(inner, {
    load: () => orNull(inner.load()),
    authKeys: { ...keys, get: (dc) => orNull(keys.get(dc)), getTemp: (dc, i) => orNull(keys.getTemp(dc, i)), set: (dc, k) => keys.set(dc, k) },
  });
}
const server = (b: Backend) => new MemorySessionStorage({ store: b.store });

/**
 * kv.entries with `secret` rewritten for every entry by `mark` (a storage listing its
 * values without saying which are sealed, or saying `secret: false` of plain ones).
 */
class KvEntriesMarked extends MemoryStorage {
  constructor(options: MemoryStorageOptions, mark: (sealed: boolean) => boolean | undefined) {
    super(options);
    const kv = this.kv;
    const entries = async () =>
      (await kv.entries()).map(({ key, value, secret }) => {
        const shown = mark(secret === true);
        return shown === undefined ? { key, value } : { key, value, secret: shown as true };
      });
    (this as { kv: KeyValueStore }).kv = { ...kv, entries };
  }
}

// ---- client storage -------------------------------------------------------------

/** `lease.holder` without the expiry check: a lease that ran out is still reported. */
class HolderIgnoresExpiry extends MemoryStorage {
  protected override createLeaseRepository(): MemoryLeases {
    const leases = super.createLeaseRepository();
    leases.holder = async () => {
      const current = this.store.leases.get(this.name);
      return current === undefined || current.released ? null : { token: current.token, owner: current.owner, expiresAt: current.expiresAt };
    };
    return leases;
  }
}

/** `lease.release` without the token check: an old holder's release frees a lease taken from it. */
class ReleaseIgnoresToken extends MemoryStorage {
  protected override createLeaseRepository(): MemoryLeases {
    const leases = super.createLeaseRepository();
    leases.release = async () => {
      const current = this.store.leases.get(this.name);
      if (current !== undefined) current.released = true;
    };
    return leases;
  }
}

class TornSave extends MemoryStorage {
  protected override async writeSession(session: Session): Promise<void> {
    const entry = this.store.clients.get(this.name);
    if (entry?.snapshot) {
      // Writes the DC addresses, yields, then the rest: a reader in between sees a mix.
      entry.snapshot = { ...entry.snapshot, dcs: copySession(session).dcs.map(({ authKey: _k, tempAuthKeys: _t, ...address }) => address) };
      await tick();
    }
    await super.writeSession(session);
  }
}

/** Decodes a state with a field missing as 0 (a NULL column read as a number), instead of refusing it. */
class StateZeroFillsMissing extends MemoryStorage {
  protected override async readSession(): Promise<Session | null> {
    const session = await super.readSession();
    if (session?.state !== undefined) {
      const { pts, qts, date, seq } = session.state;
      session.state = { pts: pts ?? 0, qts: qts ?? 0, date: date ?? 0, seq: seq ?? 0 };
    }
    return session;
  }
}

/** Decodes a self user with its id missing as no user at all, instead of refusing it. */
class PartialUserDropped extends MemoryStorage {
  protected override async readSession(): Promise<Session | null> {
    const session = await super.readSession();
    if (session?.user !== undefined && session.user.id === undefined) delete session.user;
    return session;
  }
}

/**
 * Tests a self user's presence by some of its fields only (id, dcId, bot), as a row
 * decoder checking a few of the user's columns for NULL would: a user holding only
 * usernames or the premium flag reads as no user, instead of being refused.
 */
class UserPresenceByIdFields extends MemoryStorage {
  protected override async readSession(): Promise<Session | null> {
    const session = await super.readSession();
    const user = session?.user;
    if (user !== undefined && user.id === undefined && user.dcId === undefined && user.bot === undefined) delete session?.user;
    return session;
  }
}

/** Tests a state's presence by pts and qts only: a state holding only date or seq reads as no state. */
class StatePresenceByPtsQts extends MemoryStorage {
  protected override async readSession(): Promise<Session | null> {
    const session = await super.readSession();
    if (session?.state !== undefined && session.state.pts === undefined && session.state.qts === undefined) delete session.state;
    return session;
  }
}

class StateWithoutSession extends MemoryStorage {
  protected override async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    if (!this.store.clients.get(this.name)?.snapshot) await super.writeSession({ version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443 }], channels: [] });
    return super.writeUpdateState(state, channels);
  }
}

class StateClobbersChannels extends MemoryStorage {
  protected override async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const entry = this.store.clients.get(this.name);
    if (!entry?.snapshot) return false;
    entry.snapshot = { ...entry.snapshot, state: { ...state }, channels: channels.map((c) => ({ ...c })) };
    return true;
  }
}

class DeleteKeepsPeers extends MemoryStorage {
  protected override async deleteSession(): Promise<void> {
    const peers = this.store.clients.get(this.name)?.peers;
    await super.deleteSession();
    if (peers) this.store.clients.set(this.name, { ...newClientEntry(), peers });
  }
}

class DeleteKeepsKv extends MemoryStorage {
  protected override async deleteSession(): Promise<void> {
    const kv = this.store.clients.get(this.name)?.kv;
    await super.deleteSession();
    if (kv) this.store.clients.set(this.name, { ...newClientEntry(), kv });
  }
}

/** Fences only locally: a write after a takeover the holder has not heard of yet lands. */
/**
 * A permanent key written again by the instance that wrote it under its lease is checked
 * against the token it was written with, not against the stored lease (SQLite's in-place
 * rewrite with a row token no acquire updates): after a takeover it lands.
 */
class KeyRewriteFencedByWriter extends MemoryStorage {
  readonly #writtenUnder = new Map<number, bigint>();
  protected override readonly authKeyRepository = Object.assign(new MemoryAuthKeys(this.store, this.name, () => this.checkFence()), {
    set: async (dcId: number, key: Uint8Array | null): Promise<void> => {
      const token = this.fenceToken;
      const unfenced = key !== null && token !== undefined && this.#writtenUnder.get(dcId) === token;
      await new MemoryAuthKeys(this.store, this.name, unfenced ? () => undefined : () => this.checkFence()).set(dcId, key);
      if (token !== undefined) this.#writtenUnder.set(dcId, token);
    },
  });
}

class LocalFenceOnly extends MemoryStorage {
  protected override checkFence(): void {}
}

/**
 * kv of a leased instance that misjudges a write which changed nothing (a database
 * statement reports 0 rows): `dropsFirstWrite` answers a set on a name with nothing
 * stored yet without creating it; `deleteOfNothingLost` takes a delete that found
 * nothing for a write the fence refused.
 */
class LeasedKvMisjudgingNoChange extends MemoryKeyValues {
  constructor(
    backend: MemoryStore,
    session: string,
    fence: () => void,
    private readonly leased: () => boolean,
    private readonly mistake: 'dropsFirstWrite' | 'deleteOfNothingLost',
  ) {
    super(backend, session, fence);
  }
  override set(key: string, value: Uint8Array | null): void {
    if (this.leased()) {
      if (this.mistake === 'dropsFirstWrite' && value !== null && this.backend.clients.get(this.name) === undefined) return;
      if (this.mistake === 'deleteOfNothingLost' && value === null && this.get(key) === null) throw new LeaseLostError('fence');
    }
    super.set(key, value);
  }
}

class LeasedFirstWriteDropped extends MemoryStorage {
  protected override readonly kvRepository = new LeasedKvMisjudgingNoChange(this.store, this.name, () => this.checkFence(), () => this.fenceToken !== undefined, 'dropsFirstWrite');
}

class LeasedDeleteOfNothingLost extends MemoryStorage {
  protected override readonly kvRepository = new LeasedKvMisjudgingNoChange(this.store, this.name, () => this.checkFence(), () => this.fenceToken !== undefined, 'deleteOfNothingLost');
}

class OnePeerCacheForAllNames extends MemoryStorage {
  // Every name reads and writes the peers of one name.
  protected override readonly peerRepository = new MemoryPeers(this.store, 'shared', () => this.checkFence());
}

/** Forgets a stored peer before storing it again: nothing to merge with. */
class ForgetfulPeers implements PeerRepository {
  readonly #inner: MemoryPeers;
  constructor(
    private readonly backend: MemoryStore,
    private readonly name: string,
    fence: () => void,
  ) {
    this.#inner = new MemoryPeers(backend, name, fence);
  }
  async upsert(peers: readonly Peer[]): Promise<void> {
    // The memory store removes no record alone (the name indexes point at records by
    // their place): the stored peer is forgotten by marking its record min, so the merge
    // keeps nothing of it (hash, min flag and TL bytes all come from the new one).
    for (const p of peers) {
      const record = storedRecord(this.backend, this.name, p.type, p.id);
      if (record !== undefined) record.flags = (record.flags & ~Flag.MIN_FALSE) | Flag.MIN_TRUE;
    }
    return this.#inner.upsert(peers);
  }
  getById(type: PeerType, id: bigint) {
    return this.#inner.getById(type, id);
  }
  getByUsername(username: string) {
    return this.#inner.getByUsername(username);
  }
  getByPhone(phone: string) {
    return this.#inner.getByPhone(phone);
  }
  list(after: PeerPosition | null, limit: number) {
    return this.#inner.list(after, limit);
  }
  clear() {
    return this.#inner.clear();
  }
}

class MinOverwritesHash extends MemoryStorage {
  protected override readonly peerRepository = new ForgetfulPeers(this.store, this.name, () => this.checkFence()) as unknown as MemoryPeers;
}

/** Pages that stop one page early: the last page's peers are never listed. */
class ListStopsEarly extends MemoryStorage {
  protected override readonly peerRepository = Object.assign(new MemoryPeers(this.store, this.name, () => this.checkFence()), {
    async list(this: MemoryPeers, after: PeerPosition | null, limit: number): Promise<PeerListPage> {
      const page = await MemoryPeers.prototype.list.call(this, after, limit);
      const next = page.next === null ? null : await MemoryPeers.prototype.list.call(this, page.next, limit);
      return next !== null && next.next === null ? { peers: page.peers, next: null } : page;
    },
  });
}

/** Keeps the id of the list position as a double: near ±2^63 it names another peer, or none. */
class ListPositionAsDouble extends MemoryStorage {
  protected override readonly peerRepository = Object.assign(new MemoryPeers(this.store, this.name, () => this.checkFence()), {
    list(this: MemoryPeers, after: PeerPosition | null, limit: number): Promise<PeerListPage> {
      return MemoryPeers.prototype.list.call(this, after === null ? null : { type: after.type, id: lossy(after.id) }, limit);
    },
  });
}

/** Fails on a list position whose peer is not stored (cleared since, or made up). */
class ListNeedsStoredPosition extends MemoryStorage {
  protected override readonly peerRepository = Object.assign(new MemoryPeers(this.store, this.name, () => this.checkFence()), {
    list(this: MemoryPeers, after: PeerPosition | null, limit: number): Promise<PeerListPage> {
      if (after !== null && this.getById(after.type, after.id) === null) return Promise.reject(new Error(`no peer ${after.type}:${after.id} to resume after`));
      return MemoryPeers.prototype.list.call(this, after, limit);
    },
  });
}

/** Starts over on a list position whose peer is not stored (cleared since, or made up): the first page again. */
class ListRestartsOnUnknownPosition extends MemoryStorage {
  protected override readonly peerRepository = Object.assign(new MemoryPeers(this.store, this.name, () => this.checkFence()), {
    async list(this: MemoryPeers, after: PeerPosition | null, limit: number): Promise<PeerListPage> {
      const stored = after === null ? null : await MemoryPeers.prototype.getById.call(this, after.type, after.id);
      return MemoryPeers.prototype.list.call(this, stored === null ? null : after, limit);
    },
  });
}

/** refMessages.list fails on a position past its last reference. */
class RefsNeedStoredPosition extends MemoryStorage {
  protected override readonly refMessageRepository = Object.assign(new MemoryRefMessages(this.store, this.name, () => this.checkFence()), {
    list: async (after: bigint | null, limit: number): Promise<RefMessageListPage> => {
      const bySeq = this.store.clients.get(this.name)?.refs.bySeq;
      if (after !== null && after > 0n && bySeq?.has(Number(after)) !== true) throw new Error(`no reference ${after} to resume after`);
      return MemoryRefMessages.prototype.list.call(this.refMessageRepository, after, limit);
    },
  });
}

/**
 * Not built on core's list (an adapter implementing Storage itself): a cursor it cannot
 * read starts from the first page instead of failing.
 */
function peersForeignCursorRestarts(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    peers: {
      list: async (options = {}) => {
        try {
          return await inner.peers.list(options);
        } catch {
          return inner.peers.list({ ...options, cursor: null });
        }
      },
    },
  });
}

/** Like peersForeignCursorRestarts, for references: a cursor it cannot read is an empty last page. */
function refsForeignCursorEnds(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const refs = inner.refMessages;
  return wrap(inner, {
    refMessages: {
      list: async (options = {}) => {
        try {
          return await refs.list(options);
        } catch {
          return { refs: [], cursor: null };
        }
      },
    },
  });
}

/** getByPeer answers with the oldest reference instead of the most recent. */
class OldestReference extends MemoryStorage {
  protected override readonly refMessageRepository = Object.assign(new MemoryRefMessages(this.store, this.name, () => this.checkFence()), {
    async getByPeer(peerId: bigint): Promise<RefMessage | null> {
      const refs = this.backendRefs()?.byPeer.get(peerId);
      const first = refs?.values().next().value;
      return first === undefined ? null : { ...first };
    },
    backendRefs: () => this.store.clients.get(this.name)?.refs,
  });
}

/** refMessages.list pages by peer (every reference of one peer, then the next peer's), not in store order. */
class RefsListedByPeer extends MemoryStorage {
  protected override readonly refMessageRepository = Object.assign(new MemoryRefMessages(this.store, this.name, () => this.checkFence()), {
    list: async (after: bigint | null, limit: number): Promise<RefMessageListPage> => {
      const byPeer = this.store.clients.get(this.name)?.refs.byPeer ?? new Map();
      const all = [...byPeer].flatMap(([peerId, refs]) => [...refs.values()].map((r) => ({ peerId, chatId: r.chatId, messageId: r.messageId })));
      const offset = after === null ? 0 : Number(after);
      const refs = all.slice(offset, offset + limit);
      return { refs, next: offset + limit < all.length ? BigInt(offset + limit) : null };
    },
  });
}

/**
 * refMessages.clear starts the store sequence again (sqlite's max(rowid) + 1 and redis's
 * sequence key deleted with the last reference did): a cursor kept across it skips the
 * references stored after it.
 */
class RefsSequenceRestartsOnClear extends MemoryStorage {
  protected override readonly refMessageRepository = Object.assign(new MemoryRefMessages(this.store, this.name, () => this.checkFence()), {
    clear: async (): Promise<void> => {
      await MemoryRefMessages.prototype.clear.call(this.refMessageRepository);
      const refs = this.store.clients.get(this.name)?.refs;
      if (refs !== undefined) refs.seq = 0;
    },
  });
}

/** update({ channels }) adds to the stored channels instead of replacing them. */
class UpdateMergesChannels extends MemoryStorage {
  protected override async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    const { channels, ...rest } = patch;
    const done = Object.keys(rest).length === 0 ? this.store.clients.get(this.name)?.snapshot != null : await super.writeSessionUpdate(rest);
    if (done && channels !== undefined) await super.writeUpdateState(this.store.clients.get(this.name)?.snapshot?.state ?? { pts: 0, qts: 0, date: 0, seq: 0 }, channels);
    return done;
  }
}

/** update() creating the snapshot (none stored) keeps only homeDcId, dcs, state and channels of the patch. */
class UpdateCreatesWithoutUser extends MemoryStorage {
  protected override async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    if (this.store.clients.get(this.name)?.snapshot != null) return super.writeSessionUpdate(patch);
    const { apiId: _a, user: _u, takeoutId: _t, ...rest } = patch;
    return super.writeSessionUpdate(rest);
  }
}

/** authKeys.clear() removes the permanent keys and leaves the temp keys behind. */
class ClearKeepsTempKeys extends MemoryStorage {
  protected override readonly authKeyRepository = Object.assign(new MemoryAuthKeys(this.store, this.name, () => this.checkFence()), {
    clear: async (): Promise<void> => {
      for (const keys of this.store.clients.get(this.name)?.keys.values() ?? []) delete keys.key;
    },
  });
}

/** authKeys.set writes a fresh entry for the DC: the temp keys set before are gone. */
class PermanentKeyDropsTemps extends MemoryStorage {
  protected override readonly authKeyRepository = Object.assign(new MemoryAuthKeys(this.store, this.name, () => this.checkFence()), {
    set: async (dcId: number, key: Uint8Array | null): Promise<void> => {
      const stored = this.store.clients.get(this.name)?.keys.get(entryKeyId(dcId, false));
      if (key === null) delete stored?.key;
      else this.store.entry(this.name).keys.set(entryKeyId(dcId, false), { key, temps: new Map() });
    },
  });
}

/** Every username a peer ever had keeps finding it. */
function droppedUsernamesStay(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const ever = new Map<string, Peer>();
  return wrap(inner, {
    peers: {
      upsert: async (batch) => {
        await inner.peers.upsert(batch);
        for (const p of batch) for (const u of p.usernames) ever.set(u.toLowerCase(), p);
      },
      getByUsername: async (username) => {
        const was = ever.get(username.toLowerCase());
        return (await inner.peers.getByUsername(username)) ?? (was === undefined ? null : inner.peers.getById(was.type, was.id));
      },
    },
  });
}

/**
 * A batch of 16 or more peers, all new, indexed the way a faulty straight-into-the-tables
 * path would (SQLite's insertNew): `firstOnly`, each peer's first username only; `asGiven`,
 * a name with capitals found only as given; `refuseHeld`, a name or phone a stored peer
 * holds fails the batch instead of moving.
 */
function freshBatchMisindexed(fault: 'firstOnly' | 'asGiven' | 'refuseHeld') {
  return (b: Backend, name: string): Storage => {
    const inner = memory(b, name);
    // Lower-cased name → the name as a faulty batch indexed it, or '' (not indexed).
    const indexed = new Map<string, string>();
    const fresh = async (batch: readonly Peer[]) => batch.length >= 16 && (await Promise.all(batch.map((p) => inner.peers.getById(p.type, p.id)))).every((p) => p === null);
    return wrap(inner, {
      peers: {
        upsert: async (batch) => {
          const all = await fresh(batch);
          if (all && fault === 'refuseHeld') {
            for (const p of batch) {
              const held = [...p.usernames.map((u) => inner.peers.getByUsername(u)), p.phone === undefined ? null : inner.peers.getByPhone(p.phone)];
              if ((await Promise.all(held)).some((h) => h !== null)) throw new Error('UNIQUE constraint failed');
            }
          }
          await inner.peers.upsert(batch);
          for (const p of batch) {
            for (const [i, u] of p.usernames.entries()) {
              if (all && fault === 'firstOnly' && i > 0) indexed.set(u.toLowerCase(), '');
              else if (all && fault === 'asGiven' && u !== u.toLowerCase()) indexed.set(u.toLowerCase(), u);
              else indexed.delete(u.toLowerCase());
            }
          }
        },
        getByUsername: async (username) => {
          const as = indexed.get(username.toLowerCase());
          return as === undefined || as === username ? inner.peers.getByUsername(username) : null;
        },
      },
    });
  };
}

/** Peers keyed by their id as a double: ids one apart beyond 2^53 overwrite each other. */
function peersKeyedByDouble(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const byDouble = new Map<string, Peer>();
  const key = (type: PeerType, id: bigint) => `${type}:${Number(id)}`;
  return wrap(inner, {
    peers: {
      upsert: async (batch) => {
        await inner.peers.upsert(batch);
        for (const p of batch) byDouble.set(key(p.type, p.id), structuredClone(p));
      },
      getById: async (type, id) => structuredClone(byDouble.get(key(type, id)) ?? null),
    },
  });
}

/** kv.delete and kv.clear reach for the name's entry without checking it exists. */
function kvDeleteNeedsAnEntry(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const entry = () => {
    const found = b.store.clients.get(name);
    if (found === undefined) throw new TypeError("Cannot read properties of undefined (reading 'kv')");
    return found;
  };
  return wrap(inner, { kv: { ...inner.kv, get: (k) => inner.kv.get(k), set: (k, v) => inner.kv.set(k, v), entries: () => inner.kv.entries(), delete: async (k) => (entry(), inner.kv.delete(k)), clear: async () => (entry(), inner.kv.clear()) } });
}

/** deleteByPeer walks the peer's references without checking it has any. */
function deleteByPeerNeedsReferences(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const refs = inner.refMessages;
  return wrap(inner, {
    refMessages: {
      deleteByPeer: async (peerId) => {
        if ((await refs.getByPeer(peerId)) === null) throw new TypeError('refs is not iterable');
        return refs.deleteByPeer(peerId);
      },
    },
  });
}

/** save() keeps every stored key instead of replacing them with the snapshot's. */
class SaveKeepsOldKeys extends MemoryStorage {
  protected override async writeSession(session: Session): Promise<void> {
    const keys = new Map(this.store.clients.get(this.name)?.keys);
    await super.writeSession(session);
    const entry = this.store.entry(this.name);
    for (const [id, stored] of keys) if (!entry.keys.has(id)) entry.keys.set(id, stored);
  }
}

/** update() rewrites the snapshot from the patch, dropping the keys the session held. */
class UpdateDropsKeys extends MemoryStorage {
  protected override async writeSessionUpdate(patch: Parameters<MemoryStorage['update']>[0]): Promise<boolean> {
    const done = await super.writeSessionUpdate(patch);
    if (patch.dcs !== undefined) this.store.clients.get(this.name)?.keys.clear();
    return done;
  }
}

function leakingKeys(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    load: async () => {
      const session = await inner.load();
      // Hands out plain arrays: console.log(session) prints the key.
      session?.dcs.forEach((dc) => {
        if (dc.authKey) dc.authKey = Uint8Array.from(dc.authKey);
      });
      return session;
    },
  });
}

function keyInErrors(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    save: (session) =>
      inner.save(session).catch((error: Error) => {
        const key = session?.dcs?.find((dc) => dc.authKey)?.authKey;
        throw Object.assign(new Error(`${error.message}: ${Buffer.from(key ?? []).toString('hex')}`), { code: (error as { code?: string }).code });
      }),
  });
}

function idsThroughNumber(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const narrow = (session: Session): Session => {
    const copy = copySession(session);
    if (copy.user) copy.user.id = lossy(copy.user.id);
    if (copy.takeoutId !== undefined) copy.takeoutId = lossy(copy.takeoutId);
    copy.channels = copy.channels.map((c) => ({ id: lossy(c.id), pts: c.pts }));
    return copy;
  };
  return wrap(inner, {
    save: (session) => {
      try {
        assertSession(session);
      } catch {
        return inner.save(session);
      }
      return inner.save(narrow(session));
    },
    peers: { upsert: (peers) => inner.peers.upsert(peers.map((p) => ({ ...p, id: lossy(p.id), accessHash: lossy(p.accessHash) }))) },
  });
}

function swallowsInvalid(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const quiet = <T>(p: Promise<T>): Promise<T | undefined> => p.catch((e: { code?: string }) => (e.code === 'MTSTORE_INVALID_ARGUMENT' ? undefined : Promise.reject(e)));
  return wrap(inner, {
    save: (s) => quiet(inner.save(s)) as Promise<void>,
    saveUpdateState: (state, channels) => quiet(inner.saveUpdateState(state, channels)) as Promise<void>,
  });
}

function throwsSynchronously(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    save: (session) => {
      assertSession(session); // throws instead of rejecting
      return inner.save(session);
    },
  });
}

/** Reads the caller's session one tick after the call: a change made meanwhile is stored. */
function readsInputLate(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, { save: async (session) => (await tick(), inner.save(session)) });
}

/** close() resolves while a write issued before it never settles. */
function closeAbandonsCalls(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  let closed = false;
  return wrap(inner, {
    authKeys: {
      ...inner.authKeys,
      get: (dc) => inner.authKeys.get(dc),
      set: async (dc, key) => {
        await tick();
        if (closed) return new Promise<void>(() => {});
        return inner.authKeys.set(dc, key);
      },
    },
    close: () => {
      closed = true;
      return inner.close();
    },
  });
}

function usableAfterClose(b: Backend, name: string): Storage {
  return wrap(memory(b, name), { close: async () => {} });
}

function secondCloseRejects(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  let closed = false;
  return wrap(inner, {
    close: () => {
      if (closed) return Promise.reject(new StorageClosedError('already closed'));
      closed = true;
      return inner.close();
    },
  });
}

function staleCache(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  let cached: Session | null | undefined;
  return wrap(inner, {
    load: async () => {
      if (cached === undefined) cached = await inner.load();
      return cached && copySession(cached);
    },
    save: async (session) => {
      await inner.save(session);
      cached = copySession(session);
    },
  });
}

function lateUpdateState(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    saveUpdateState: async (state, channels) => {
      if ((await inner.load()) === null) return inner.saveUpdateState(state, channels);
      setTimeout(() => void inner.saveUpdateState(state, channels).catch(() => {}), 50); // resolves before it is written
    },
  });
}

function caseSensitiveUsernames(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    peers: {
      getByUsername: async (username) => {
        const found = await inner.peers.getByUsername(username);
        return found && found.usernames.includes(username) ? found : null;
      },
    },
  });
}

function minByUsername(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const byUsername = new Map<string, Peer>();
  return wrap(inner, {
    peers: {
      upsert: async (peers) => {
        await inner.peers.upsert(peers);
        for (const p of peers) for (const u of p.usernames) byUsername.set(u.toLowerCase(), p);
      },
      // Answers from everything it was given, min peers included.
      getByUsername: async (username) => (await inner.peers.getByUsername(username)) ?? byUsername.get(username.toLowerCase()) ?? null,
    },
  });
}

function usernameNotReleased(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const given = new Map<string, Peer>();
  return wrap(inner, {
    peers: {
      upsert: async (peers) => {
        await inner.peers.upsert(peers);
        for (const p of peers) given.set(`${p.type}:${p.id}`, p);
      },
      getById: async (type, id) => {
        const found = await inner.peers.getById(type, id);
        const asGiven = given.get(`${type}:${id}`);
        // Reports the usernames as last given, even those another peer took since.
        return found && asGiven ? { ...found, usernames: [...asGiven.usernames] } : found;
      },
    },
  });
}

/** Keeps the caller's usernames list of a peer: what the caller changes after upsert shows in reads. */
function keepsCallersUsernames(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const kept = new Map<string, readonly string[]>();
  return wrap(inner, {
    peers: {
      upsert: (batch) => {
        const done = inner.peers.upsert(batch);
        for (const p of batch) kept.set(`${p.type}:${p.id}`, p.usernames);
        return done;
      },
      getById: async (type, id) => {
        const found = await inner.peers.getById(type, id);
        const list = kept.get(`${type}:${id}`);
        return found && list ? { ...found, usernames: [...list] } : found;
      },
    },
  });
}

/** The memory record of a stored peer (the store keys a safe id by its number). */
function storedRecord(store: MemoryStore, name: string, type: PeerType, id: bigint): StoredPeer | undefined {
  return store.clients.get(name)?.peers.byId[type].get(recordKey(id));
}

/** A stored peer's IdIndex key (core's peerIdKey: a safe id by its number, any other by the bigint). */
function recordKey(id: bigint): number | bigint {
  return Number.isSafeInteger(Number(id)) ? Number(id) : id;
}

/**
 * A re-upsert with the phone unchanged whose usernames `unchanged` takes for the stored
 * ones is not indexed again: the usernames it adds find nothing, those it drops keep their
 * index entries (which find nothing in memory's index: the record no longer holds them).
 */
function usernamesMisjudged(unchanged: (stored: readonly string[], given: readonly string[]) => boolean) {
  return (b: Backend, name: string): Storage => {
    const inner = memory(b, name);
    return wrap(inner, {
      peers: {
        upsert: async (batch) => {
          const before = await Promise.all(batch.map((p) => inner.peers.getById(p.type, p.id)));
          await inner.peers.upsert(batch);
          const index = b.store.clients.get(name)?.peers.byUsername;
          for (const [i, p] of batch.entries()) {
            const stored = before[i];
            const place = b.store.clients.get(name)?.peers.byId[p.type].find(recordKey(p.id)) ?? -1;
            if (!stored || place < 0 || !index || stored.phone !== p.phone || !unchanged(stored.usernames, p.usernames)) continue;
            const had = new Set(stored.usernames.map(usernameKey));
            const has = new Set(p.usernames.map(usernameKey));
            for (const key of has) if (!had.has(key)) index.delete(key);
            const ref = peerRef(place, ['user', 'chat', 'channel'].indexOf(p.type));
            for (const key of had) if (!has.has(key)) index.claim(key, ref);
          }
        },
      },
    });
  };
}

/** Memory with its TL byte store (the session's PeerBytes) replaced by a broken one. */
function withPeerBytes(make: () => PeerBytes) {
  return (b: Backend, name: string): Storage => {
    const inner = memory(b, name);
    return wrap(inner, {
      peers: {
        upsert: (batch) => {
          const peers = b.store.entry(name).peers as { bytes: PeerBytes };
          if (peers.bytes.constructor === PeerBytes) peers.bytes = Object.assign(make(), peers.bytes);
          return inner.peers.upsert(batch);
        },
      },
    });
  };
}

/** Takes stored TL bytes of the same length for the ones given: new bytes of an unchanged length are dropped. */
class SameByLength extends PeerBytes {
  override same(at: number, bytes: Uint8Array): boolean {
    return this.lengthAt(at) === bytes.length;
  }
}

/** Compaction moves the TL bytes together but leaves every record pointing where its bytes were. */
class CompactionKeepsOffsets extends PeerBytes {
  override compact(peers: Iterable<StoredPeer>): void {
    const before = [...peers].map((p) => [p, p.complete] as const);
    super.compact(before.map(([p]) => p));
    for (const [p, at] of before) p.complete = at;
  }
}

// ---- server storage -------------------------------------------------------------

/** Expiry checked only by the sweep: an expired session still answers hasSession until removed. */
class ExpiredUntilSwept extends MemorySessionStorage {
  protected override sessionExists(authKeyId: bigint, sessionId: bigint): boolean {
    return this.store.server.find(authKeyId, sessionId) >= 0;
  }
}

/** touchSession answers true but moves neither last-used nor expiry. */
class TouchForgets extends MemorySessionStorage {
  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return this.sessionExists(authKeyId, sessionId, now);
  }
}

/** The sweep reports expired sessions but leaves them stored: every sweep reports them again. */
class SweepKeepsExpired extends MemorySessionStorage {
  protected override async removeExpired(now: number, limit: number): Promise<{ authKeyId: bigint; sessionId: bigint }[]> {
    const found: { authKeyId: bigint; sessionId: bigint }[] = [];
    const sessions = this.store.server;
    for (let place = 0; place < sessions.size && found.length < limit; place++) {
      // Infinity: a session that never expires.
      if (sessions.expiresAt(place) <= now) found.push({ authKeyId: sessions.authKeyId(place), sessionId: sessions.sessionId(place) });
    }
    return found;
  }
}

/** A bus that never tells subscribers their subscription was lost or is live again. */
function busWithoutStates(b: Backend): SessionEventBus {
  const bus = new LocalSessionEventBus(b.channel);
  const subscribe = bus.subscribe.bind(bus);
  bus.subscribe = (listener, options) => subscribe(listener, { ...options, onState: undefined });
  return bus;
}

class CheckThenInsert extends MemorySessionStorage {
  protected override async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if (await this.sessionExists(authKeyId, sessionId, now)) return false;
    await tick(); // another caller checks here too
    // Both racing callers write: the later one overwrites the earlier one's times.
    const sessions = this.store.server;
    const place = sessions.find(authKeyId, sessionId);
    if (place < 0) sessions.add(authKeyId, sessionId, now, expiresAt ?? Infinity);
    else sessions.setTimes(place, now, expiresAt ?? Infinity);
    return true;
  }
}

class CheckThenDelete extends MemorySessionStorage {
  protected override async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    if (!(await this.sessionExists(authKeyId, sessionId, now))) return false;
    await tick();
    const place = this.store.server.find(authKeyId, sessionId);
    if (place >= 0) this.store.server.remove(authKeyId, place);
    return true;
  }
}

class KeyedBySessionIdOnly extends MemorySessionStorage {
  protected override insertSession(_a: bigint, s: bigint, now: number, expiresAt: number | null) {
    return super.insertSession(0n, s, now, expiresAt);
  }
  protected override sessionExists(_a: bigint, s: bigint, now: number) {
    return super.sessionExists(0n, s, now);
  }
  protected override removeSession(_a: bigint, s: bigint, now: number) {
    return super.removeSession(0n, s, now);
  }
}

class DestroyAllReportsNothing extends MemorySessionStorage {
  protected override async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    await super.removeAllSessions(authKeyId, now);
    return [];
  }
}

class CreateAlwaysTrue extends MemorySessionStorage {
  protected override async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    await super.insertSession(authKeyId, sessionId, now, expiresAt);
    return true;
  }
}

class ServerIdsThroughNumber extends MemorySessionStorage {
  protected override insertSession(a: bigint, s: bigint, now: number, expiresAt: number | null) {
    return super.insertSession(lossy(a), lossy(s), now, expiresAt);
  }
  protected override sessionExists(a: bigint, s: bigint, now: number) {
    return super.sessionExists(lossy(a), lossy(s), now);
  }
  protected override findSessions(a: bigint, now: number) {
    return super.findSessions(lossy(a), now);
  }
  protected override removeAllSessions(a: bigint, now: number) {
    return super.removeAllSessions(lossy(a), now);
  }
  protected override removeSession(a: bigint, s: bigint, now: number) {
    return super.removeSession(lossy(a), lossy(s), now);
  }
}

function serverSwallowsInvalid(b: Backend): SessionStorageProtocol {
  const inner = server(b);
  const quiet = <T>(p: Promise<T>, fallback: T): Promise<T> => p.catch((e: { code?: string }) => (e.code === 'MTSTORE_INVALID_ARGUMENT' ? fallback : Promise.reject(e)));
  return wrapServer(inner, {
    createSession: (a, s) => quiet(inner.createSession(a, s), false),
    hasSession: (a, s) => quiet(inner.hasSession(a, s), false),
  });
}

function serverUsableAfterClose(b: Backend): SessionStorageProtocol {
  return wrapServer(server(b), { close: async () => {} });
}

// ---- buses ----------------------------------------------------------------------

function wrapBus(inner: SessionEventBus, changes: Partial<SessionEventBus>): SessionEventBus {
  return {
    publish: (e) => inner.publish(e),
    subscribe: (l) => inner.subscribe(l),
    close: () => inner.close(),
    ...changes,
  };
}

/**
 * update() as a load-modify-write: it reads the snapshot and the keys, yields (a
 * database round trip), then writes its patch over what it read. A key, state or
 * channel another call wrote meanwhile is undone (docs/contract.md §2 rules it out).
 */
class UpdateRewritesSession extends MemoryStorage {
  protected override async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    const entry = this.store.clients.get(this.name);
    const read = entry?.snapshot == null ? undefined : { snapshot: { ...entry.snapshot, channels: entry.snapshot.channels.map((c) => ({ ...c })) }, keys: new Map(entry.keys) };
    await tick();
    if (entry !== undefined && read !== undefined) {
      entry.snapshot = read.snapshot;
      entry.keys.clear();
      for (const [id, keys] of read.keys) entry.keys.set(id, keys);
    }
    return super.writeSessionUpdate(patch);
  }
}

/** load() lists a DC's address-less media-only entry before its main one. */
function addresslessMediaFirst(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    load: async () => {
      const session = await inner.load();
      if (session === null) return null;
      const listed = session.dcs.filter((dc) => dc.port !== undefined);
      const addressless = session.dcs.filter((dc) => dc.port === undefined);
      addressless.sort((x, y) => x.id - y.id || Number(y.mediaOnly === true) - Number(x.mediaOnly === true));
      return { ...session, dcs: [...listed, ...addressless] };
    },
  });
}

/** close() hands each caller a promise of its own (an `async close()` over the first call's). */
function closeReturnsNewPromises(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, { close: async () => inner.close() });
}

/** The listings and lease.holder() answer through a connection close() does not reach. */
function listingsAfterClose(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const side = memory(b, name);
  const keys = inner.authKeys;
  const lease = inner.lease;
  return wrap(inner, {
    authKeys: {
      get: (dc) => keys.get(dc),
      set: (dc, key) => keys.set(dc, key),
      delete: (dc) => keys.delete(dc),
      getTemp: (dc, index) => keys.getTemp(dc, index),
      setTemp: (dc, temp) => keys.setTemp(dc, temp),
      deleteTemp: (dc, index) => keys.deleteTemp(dc, index),
      deleteByDc: (dc) => keys.deleteByDc(dc),
      entries: () => side.authKeys.entries(),
      clear: () => side.authKeys.clear(),
    },
    refMessages: { list: (options) => side.refMessages.list(options) },
    lease: {
      acquire: (options) => lease.acquire(options),
      renew: () => lease.renew(),
      release: () => lease.release(),
      holder: () => side.lease.holder(),
      get held() {
        return lease.held;
      },
    },
  });
}

/** A renewal extends the lease by the TTL it was first acquired with (a stored ttl column), not by the one acquire() was called with again. */
class RenewKeepsFirstTtl extends MemoryStorage {
  protected override createLeaseRepository(): MemoryLeases {
    const leases = super.createLeaseRepository();
    const ttls = new Map<bigint, number>();
    const acquire = leases.acquire.bind(leases);
    const renew = leases.renew.bind(leases);
    leases.acquire = async (owner, ttlMs, force) => {
      const result = await acquire(owner, ttlMs, force);
      if (result.acquired) ttls.set(result.lease.token, ttlMs);
      return result;
    };
    leases.renew = (token, ttlMs) => renew(token, ttls.get(token) ?? ttlMs);
    return leases;
  }
}

/**
 * The snapshot writes (save, update, saveUpdateState) of an instance that never acquired
 * are refused while another instance holds the lease: a fence that checks "a live lease
 * that is not mine" instead of "my token". Its kv writes go through.
 */
class FencesUnleasedSnapshot extends MemoryStorage {
  #refuseUnleased(): void {
    const current = this.store.leases.get(this.name);
    if (this.fenceToken === undefined && current !== undefined && !current.released && current.expiresAt > Date.now()) throw new LeaseLostError('fence: another instance holds the lease');
  }

  protected override writeSession(session: Session): Promise<void> {
    this.#refuseUnleased();
    return super.writeSession(session);
  }

  protected override writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    this.#refuseUnleased();
    return super.writeSessionUpdate(patch);
  }

  protected override writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    this.#refuseUnleased();
    return super.writeUpdateState(state, channels);
  }
}

/** listNames() reads the snapshots, keys and peers only: a name holding only kv entries or references is missing. */
function namesWithoutKvOrRefs(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const onlyKvOrRefs = (n: string): boolean => {
    const entry = b.store.clients.get(n);
    return entry !== undefined && entry.snapshot === null && entry.keys.size === 0 && (entry.kv.size > 0 || entry.refs.bySeq.size > 0);
  };
  return wrap(inner, { listNames: async () => (await inner.listNames()).filter((n) => !onlyKvOrRefs(n)) });
}

/**
 * A min peer's usernames and phone are not indexed: the stored (non-min) owner keeps
 * them. Modelled by upserting those owners again after the batch, as they were.
 */
function minPeersTakeNothing(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const peers = inner.peers;
  return wrap(inner, {
    peers: {
      upsert: async (batch) => {
        const owners: Peer[] = [];
        for (const p of batch.filter((x) => x.min === true)) {
          const found = [...(await Promise.all(p.usernames.map((u) => peers.getByUsername(u)))), p.phone === undefined ? null : await peers.getByPhone(p.phone)];
          for (const owner of found) if (owner !== null && !(owner.type === p.type && owner.id === p.id)) owners.push(owner);
        }
        await peers.upsert(batch);
        if (owners.length > 0) await peers.upsert(owners);
      },
    },
  });
}

/**
 * saveUpdateState finds the name's record (its keys, kv, peers) and takes it for a
 * snapshot: it resolves, storing nothing (a document store matching the name alone,
 * not a stored snapshot's field). A name with nothing stored is still NotFoundError.
 */
class StateOnKeysOnlyResolves extends MemoryStorage {
  protected override async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const entry = this.store.clients.get(this.name);
    if (entry !== undefined && entry.snapshot === null) return true;
    return super.writeUpdateState(state, channels);
  }
}

/** Display names kept in a column of 2,048 bytes (VARBINARY(2048), strict mode): a longer UTF-8 form is refused. */
function displayNameIn2048Bytes(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const peers = inner.peers;
  return wrap(inner, {
    peers: {
      upsert: async (batch) => {
        if (batch.some((p) => p.displayName !== undefined && Buffer.byteLength(p.displayName) > 2048)) throw new StorageUnavailableError("peers.upsert: Data too long for column 'display_name'");
        return peers.upsert(batch);
      },
    },
  });
}

/**
 * authKeys.set rewrites the session: it loads the snapshot, yields (a round trip), sets
 * the key on it and saves it whole (docs/contract.md §3: a key write "never rewrites the
 * session"). A save meanwhile is undone by the stale snapshot it writes back.
 */
function keySetRewritesSession(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const keys = inner.authKeys;
  return wrap(inner, {
    authKeys: {
      get: (dc) => keys.get(dc),
      set: async (dc, key) => {
        const session = await inner.load();
        await tick();
        if (session === null) return keys.set(dc, key);
        const entry = session.dcs.find((d) => d.id === dc && d.mediaOnly !== true);
        if (entry !== undefined) entry.authKey = key;
        else session.dcs.push({ id: dc, authKey: key });
        return inner.save(session);
      },
      delete: (dc) => keys.delete(dc),
      getTemp: (dc, index) => keys.getTemp(dc, index),
      setTemp: (dc, temp) => keys.setTemp(dc, temp),
      deleteTemp: (dc, index) => keys.deleteTemp(dc, index),
      deleteByDc: (dc) => keys.deleteByDc(dc),
      entries: () => keys.entries(),
      clear: () => keys.clear(),
    },
  });
}

/** describe() hands its connection options to util.inspect and JSON.stringify. */
class DescribesConnection extends MemoryStorage {
  protected override describe(): Record<string, unknown> {
    return { ...super.describe(), connection: { url: 'postgres://mtstore:secret@db.example/sessions', ssl: true } };
  }
}

const globalChannel = new LocalEventChannel();

export const BROKEN: readonly Broken[] = [
  {
    rule: 'the lease is taken whoever holds it',
    suite: 'storage',
    group: 'session lease',
    open: (b, n) => {
      const inner = new MemoryStorage({ store: b.store, name: n });
      const lease = inner.lease;
      return wrap(inner, {
        lease: {
          acquire: (options) => lease.acquire({ ...options, force: true }),
          renew: () => lease.renew(),
          release: () => lease.release(),
          holder: () => lease.holder(),
          get held() {
            return lease.held;
          },
        },
      });
    },
  },
  { rule: 'the lease token is checked only locally, not in the write', suite: 'storage', group: 'session lease', open: (b, n) => new LocalFenceOnly({ store: b.store, name: n }) },
  { rule: 'a key the holder wrote itself is rewritten under the token it was written with, not the stored one', suite: 'storage', group: 'session lease', open: (b, n) => new KeyRewriteFencedByWriter({ store: b.store, name: n }) },
  { rule: 'holder() reports a lease that ran out', suite: 'storage', group: 'session lease', open: (b, n) => new HolderIgnoresExpiry({ store: b.store, name: n }) },
  { rule: 'release gives the lease back whoever holds it now', suite: 'storage', group: 'session lease', open: (b, n) => new ReleaseIgnoresToken({ store: b.store, name: n }) },
  { rule: 'a holder’s first write of a name with nothing stored is dropped', suite: 'storage', group: 'session lease', open: (b, n) => new LeasedFirstWriteDropped({ store: b.store, name: n }) },
  { rule: 'a holder’s delete that finds nothing is taken as a lost lease', suite: 'storage', group: 'session lease', open: (b, n) => new LeasedDeleteOfNothingLost({ store: b.store, name: n }) },
  { rule: 'acquiring again while holding renews by the first TTL', suite: 'storage', group: 'session lease', open: (b, n) => new RenewKeepsFirstTtl({ store: b.store, name: n }) },
  { rule: 'an instance that never acquired has its snapshot writes refused while another holds the lease', suite: 'storage', group: 'session lease', open: (b, n) => new FencesUnleasedSnapshot({ store: b.store, name: n }) },
  { rule: 'listNames misses a name holding only kv entries or references', suite: 'storage', group: 'listNames', open: namesWithoutKvOrRefs },
  { rule: 'a username or phone moved to a min peer stays with its stored owner', suite: 'storage', group: 'peers', open: minPeersTakeNothing },
  { rule: 'saveUpdateState on a name holding keys but no snapshot resolves, storing nothing', suite: 'storage', group: 'saveUpdateState', open: (b, n) => new StateOnKeysOnlyResolves({ store: b.store, name: n }) },
  { rule: 'display names kept in 2,048 bytes of UTF-8', suite: 'storage', group: 'peers: v2 fields, list and clear', open: displayNameIn2048Bytes },
  { rule: 'authKeys.set loads, yields and saves the whole session', suite: 'storage', group: 'atomic save', open: keySetRewritesSession },
  { rule: 'update loads, yields and writes its patch over what it read', suite: 'storage', group: 'update', open: (b, n) => new UpdateRewritesSession({ store: b.store, name: n }) },
  { rule: 'load lists a DC’s address-less media-only entry before its main one', suite: 'storage', group: 'auth keys', open: addresslessMediaFirst },
  { rule: 'each close() call returns a promise of its own', suite: 'storage', group: 'close', open: closeReturnsNewPromises },
  { rule: 'authKeys.entries, authKeys.clear, refMessages.list and lease.holder answer after close', suite: 'storage', group: 'close', open: listingsAfterClose },
  { rule: 'a storage prints and serializes its connection options', suite: 'storage', group: 'secrets', open: (b, n) => new DescribesConnection({ store: b.store, name: n }) },
  { rule: 'setting the permanent key drops the DC’s temp keys', suite: 'storage', group: 'auth keys', open: (b, n) => new PermanentKeyDropsTemps({ store: b.store, name: n }) },
  { rule: 'a username its peer dropped still finds it', suite: 'storage', group: 'peers', open: droppedUsernamesStay },
  { rule: 'peers keyed by their id as a double', suite: 'storage', group: 'peers', open: peersKeyedByDouble },
  { rule: 'kv.delete on a name with nothing stored throws', suite: 'storage', group: 'kv', crashes: true, open: kvDeleteNeedsAnEntry },
  { rule: 'deleteByPeer of a peer without references throws', suite: 'storage', group: 'reference messages', crashes: true, open: deleteByPeerNeedsReferences },
  { rule: 'save writes in two steps', suite: 'storage', group: 'atomic save', open: (b, n) => new TornSave({ store: b.store, name: n }) },
  { rule: 'saveUpdateState creates a missing session', suite: 'storage', group: 'saveUpdateState', open: (b, n) => new StateWithoutSession({ store: b.store, name: n }) },
  { rule: 'saveUpdateState replaces every channel', suite: 'storage', group: 'saveUpdateState', open: (b, n) => new StateClobbersChannels({ store: b.store, name: n }) },
  { rule: 'saveUpdateState resolves before the write', suite: 'storage', group: 'saveUpdateState', open: lateUpdateState },
  { rule: 'delete leaves the peers behind', suite: 'storage', group: 'delete', open: (b, n) => new DeleteKeepsPeers({ store: b.store, name: n }) },
  { rule: 'delete leaves the kv entries behind', suite: 'storage', group: 'delete', open: (b, n) => new DeleteKeepsKv({ store: b.store, name: n }) },
  { rule: 'peers.list drops the last page', suite: 'storage', group: 'peers: v2 fields, list and clear', open: (b, n) => new ListStopsEarly({ store: b.store, name: n }) },
  { rule: 'peers.list keeps its position’s id as a double', suite: 'storage', group: 'peers: v2 fields, list and clear', open: (b, n) => new ListPositionAsDouble({ store: b.store, name: n }) },
  { rule: 'peers.list fails on a position whose peer is not stored', suite: 'storage', group: 'peers: v2 fields, list and clear', open: (b, n) => new ListNeedsStoredPosition({ store: b.store, name: n }) },
  { rule: 'peers.list starts over on a position whose peer is not stored', suite: 'storage', group: 'peers: v2 fields, list and clear', open: (b, n) => new ListRestartsOnUnknownPosition({ store: b.store, name: n }) },
  { rule: 'refMessages.list fails on a position past its last reference', suite: 'storage', group: 'reference messages', open: (b, n) => new RefsNeedStoredPosition({ store: b.store, name: n }) },
  { rule: 'peers.list restarts on a cursor it cannot read', suite: 'storage', group: 'invalid input', open: peersForeignCursorRestarts },
  { rule: 'refMessages.list ends on a cursor it cannot read', suite: 'storage', group: 'invalid input', open: refsForeignCursorEnds },
  { rule: 'refMessages.getByPeer returns the oldest reference', suite: 'storage', group: 'reference messages', open: (b, n) => new OldestReference({ store: b.store, name: n }) },
  { rule: 'refMessages.list groups references by peer', suite: 'storage', group: 'reference messages', open: (b, n) => new RefsListedByPeer({ store: b.store, name: n }) },
  { rule: 'refMessages.clear restarts the store sequence', suite: 'storage', group: 'reference messages', open: (b, n) => new RefsSequenceRestartsOnClear({ store: b.store, name: n }) },
  { rule: 'update merges channels instead of replacing them', suite: 'storage', group: 'update', open: (b, n) => new UpdateMergesChannels({ store: b.store, name: n }) },
  { rule: 'update creating the snapshot drops apiId, user and takeoutId', suite: 'storage', group: 'update', open: (b, n) => new UpdateCreatesWithoutUser({ store: b.store, name: n }) },
  { rule: 'authKeys.clear leaves the temp keys', suite: 'storage', group: 'auth keys', open: (b, n) => new ClearKeepsTempKeys({ store: b.store, name: n }) },
  { rule: 'refMessages.list groups references by peer (random sequences)', suite: 'storage', group: 'model-based', open: (b, n) => new RefsListedByPeer({ store: b.store, name: n }) },
  { rule: 'save keeps keys of DCs it does not list', suite: 'storage', group: 'auth keys', open: (b, n) => new SaveKeepsOldKeys({ store: b.store, name: n }) },
  { rule: 'update drops the stored keys', suite: 'storage', group: 'auth keys', open: (b, n) => new UpdateDropsKeys({ store: b.store, name: n }) },
  { rule: 'one peer cache for every named session', suite: 'storage', group: 'peers', open: (b, n) => new OnePeerCacheForAllNames({ store: b.store, name: n }) },
  { rule: 'username lookups are case-sensitive', suite: 'storage', group: 'peers', open: caseSensitiveUsernames },
  { rule: 'min peers are returned by username', suite: 'storage', group: 'peers', open: minByUsername },
  { rule: 'a min peer overwrites a stored access hash', suite: 'storage', group: 'peers', open: (b, n) => new MinOverwritesHash({ store: b.store, name: n }) },
  { rule: 'a moved username stays with its previous owner', suite: 'storage', group: 'peers', open: usernameNotReleased },
  { rule: '64-bit ids pass through Number', suite: 'storage', group: 'ids', open: idsThroughNumber },
  { rule: 'invalid input is silently accepted', suite: 'storage', group: 'invalid input', open: swallowsInvalid },
  { rule: 'invalid input throws synchronously', suite: 'storage', group: 'invalid input', open: throwsSynchronously },
  { rule: 'methods keep working after close', suite: 'storage', group: 'close', open: usableAfterClose },
  { rule: 'save reads its argument after the call', suite: 'storage', group: 'calls in flight', open: readsInputLate },
  { rule: 'close() abandons a call in flight', suite: 'storage', group: 'calls in flight', open: closeAbandonsCalls },
  { rule: 'peers.upsert keeps the caller’s list of usernames', suite: 'storage', group: 'calls in flight', open: keepsCallersUsernames },
  { rule: 'a batch of 16 new peers indexes each peer’s first username only', suite: 'storage', group: 'peers', open: freshBatchMisindexed('firstOnly') },
  { rule: 'a batch of 16 new peers indexes a username with capitals as given, not case-insensitively', suite: 'storage', group: 'peers', open: freshBatchMisindexed('asGiven') },
  { rule: 'a batch of 16 new peers fails when a stored peer holds one of its usernames or phones', suite: 'storage', group: 'peers', open: freshBatchMisindexed('refuseHeld') },
  { rule: 'usernames compared by the first one: a re-upsert keeping it and the phone leaves the others unindexed', suite: 'storage', group: 'peers', open: usernamesMisjudged((stored, given) => stored.length >= 2 && stored[0] === given[0]) },
  { rule: 'a peer without usernames that gains some, the phone unchanged, is not indexed', suite: 'storage', group: 'peers', open: usernamesMisjudged((stored) => stored.length === 0) },
  { rule: 'new TL bytes of the stored length are taken for the stored ones', suite: 'storage', group: 'peers: v2 fields, list and clear', open: withPeerBytes(() => new SameByLength()) },
  { rule: 'compacting TL bytes leaves each peer pointing where its bytes were', suite: 'storage', group: 'peers: v2 fields, list and clear', open: withPeerBytes(() => new CompactionKeepsOffsets()) },
  { rule: 'a second close rejects', suite: 'storage', group: 'close', open: secondCloseRejects },
  { rule: 'each instance caches what it loaded', suite: 'storage', group: 'two instances', open: staleCache },
  { rule: 'loaded keys print their bytes', suite: 'storage', group: 'secrets', open: leakingKeys },
  { rule: 'the encryption option is ignored: keys stored in plaintext', suite: 'storage', group: 'encryption at rest', open: (b, n) => memory(b, n) },
  {
    rule: 'a sealed key that does not open reads as no key',
    suite: 'storage',
    group: 'encryption at rest',
    open: (b, n, encryption) => swallowingSealErrors(new MemoryStorage({ store: b.store, name: n, encryption })),
  },
  { rule: 'errors quote key bytes', suite: 'storage', group: 'secrets', open: keyInErrors },
  {
    rule: 'kv.entries does not say which values are stored sealed',
    suite: 'storage',
    group: 'encryption at rest',
    open: (b, n, encryption) => new KvEntriesMarked({ store: b.store, name: n, encryption }, () => undefined),
  },
  { rule: 'kv.entries says secret: false of a plain value', suite: 'storage', group: 'kv', open: (b, n) => new KvEntriesMarked({ store: b.store, name: n }, (sealed) => sealed) },

  { rule: 'a moved username stays with its previous owner (random sequences)', suite: 'storage', group: 'model-based', open: usernameNotReleased },
  { rule: 'save keeps keys of DCs it does not list (random sequences)', suite: 'storage', group: 'model-based', open: (b, n) => new SaveKeepsOldKeys({ store: b.store, name: n }) },
  { rule: 'getByPeer returns the oldest reference (random sequences)', suite: 'storage', group: 'model-based', open: (b, n) => new OldestReference({ store: b.store, name: n }) },
  { rule: 'sessions keyed by session id alone (random sequences)', suite: 'server', group: 'model-based', open: (b) => new KeyedBySessionIdOnly({ store: b.store }) },
  { rule: 'createSession checks, then inserts', suite: 'server', group: 'races', open: (b) => new CheckThenInsert({ store: b.store }) },
  { rule: 'destroySession checks, then deletes', suite: 'server', group: 'races', open: (b) => new CheckThenDelete({ store: b.store }) },
  { rule: 'sessions keyed by session id alone', suite: 'server', group: 'lifecycle', open: (b) => new KeyedBySessionIdOnly({ store: b.store }) },
  { rule: 'destroyAllSessions reports nothing', suite: 'server', group: 'lifecycle', open: (b) => new DestroyAllReportsNothing({ store: b.store }) },
  { rule: 'createSession always reports true', suite: 'server', group: 'events', open: (b) => new CreateAlwaysTrue({ store: b.store }) },
  { rule: 'server ids pass through Number', suite: 'server', group: 'ids', open: (b) => new ServerIdsThroughNumber({ store: b.store }) },
  { rule: 'invalid ids are silently accepted', suite: 'server', group: 'invalid input', open: serverSwallowsInvalid },
  { rule: 'server methods keep working after close', suite: 'server', group: 'close', open: serverUsableAfterClose },

  {
    rule: 'an expired session answers hasSession until the sweep removes it',
    suite: 'server',
    group: 'session lifetime',
    open: (b) => new MemorySessionStorage({ store: b.store }),
    openWithLifetime: (b, lifetime) => new ExpiredUntilSwept({ store: b.store, ...lifetime }),
  },
  {
    rule: 'touchSession refreshes nothing',
    suite: 'server',
    group: 'session lifetime',
    open: (b) => new MemorySessionStorage({ store: b.store }),
    openWithLifetime: (b, lifetime) => new TouchForgets({ store: b.store, ...lifetime }),
  },
  {
    rule: 'the expiry sweep reports sessions it does not remove',
    suite: 'server',
    group: 'session lifetime',
    open: (b) => new MemorySessionStorage({ store: b.store }),
    openWithLifetime: (b, lifetime) => new SweepKeepsExpired({ store: b.store, ...lifetime }),
  },
  { rule: 'the bus never reports a lost or restored subscription', suite: 'bus', group: 'session cache', open: busWithoutStates },
  { rule: 'each bus instance has its own channel', suite: 'bus', group: 'subjects over the bus', open: () => new LocalSessionEventBus() },
  { rule: 'every event is delivered twice', suite: 'bus', group: 'subjects over the bus', open: (b) => duplicating(new LocalSessionEventBus(b.channel)) },
  { rule: 'bus ids pass through Number', suite: 'bus', group: 'bus', open: (b) => lossyBus(new LocalSessionEventBus(b.channel)) },
  { rule: 'buses ignore their namespace', suite: 'bus', group: 'bus', open: () => new LocalSessionEventBus(globalChannel) },
  { rule: 'unsubscribe does nothing', suite: 'bus', group: 'bus', open: (b) => noUnsubscribe(new LocalSessionEventBus(b.channel)) },
  { rule: 'a listener unsubscribed by an earlier listener still hears that event', suite: 'bus', group: 'bus', open: (b) => unsubscribeAfterTheEvent(new LocalSessionEventBus(b.channel)) },
  { rule: 'a subscription unsubscribed by an earlier subscriber’s onState still hears that state', suite: 'bus', group: 'bus', open: (b) => statesAfterUnsubscribe(new LocalSessionEventBus(b.channel)) },
  { rule: 'a subscription made while the bus is lost is not told lost', suite: 'bus', group: 'session cache', open: (b) => joinWhileLostUntold(new LocalSessionEventBus(b.channel)) },
  { rule: 'subscribe resolves before the subscription is live', suite: 'bus', group: 'bus', open: (b) => lateSubscribe(new LocalSessionEventBus(b.channel)) },

  // ---- issue 16: one class of realistic bug per line; each must fail its trait ----
  // 1. values the old fixtures never used
  { rule: 'DC ids kept in one byte (CDN DCs above 255 wrap)', suite: 'storage', group: 'value domain', open: (b, n) => new DcIdInAByte({ store: b.store, name: n }) },
  { rule: 'temp keys kept for one DC only', suite: 'storage', group: 'value domain', open: (b, n) => new TempKeysOfOneDc({ store: b.store, name: n }) },
  { rule: 'dates kept as signed 32-bit', suite: 'storage', group: 'value domain', open: (b, n) => new DatesInInt32({ store: b.store, name: n }) },
  { rule: 'a state with pts 0 is not saved', suite: 'storage', group: 'value domain', open: (b, n) => new ZeroPtsDropped({ store: b.store, name: n }) },
  { rule: 'an empty tempAuthKeys list loads as []', suite: 'storage', group: 'value domain', open: (b, n) => new EmptyTempKeysKept({ store: b.store, name: n }) },
  { rule: 'session names fold case', suite: 'storage', group: 'value domain', open: (b, n) => new MemoryStorage({ store: b.store, name: n.toLowerCase() }) },
  { rule: 'self usernames stored lower-case', suite: 'storage', group: 'value domain', open: (b, n) => new SelfUsernamesLowered({ store: b.store, name: n }) },
  { rule: 'min: false given explicitly is taken as min', suite: 'storage', group: 'value domain', open: minFlagPresentMeansMin },
  { rule: 'user access hashes pass through Number', suite: 'storage', group: 'value domain', open: userHashThroughNumber },
  { rule: 'listSessions returns at most 100', suite: 'server', group: 'value domain', open: (b) => new ListsAHundred({ store: b.store }) },
  { rule: 'event origins are cut at the first colon', suite: 'bus', group: 'value domain', open: (b) => originCutAtColon(new LocalSessionEventBus(b.channel)) },
  // 3. staleness and isolation
  { rule: 'each instance caches the auth keys and kv values it read', suite: 'storage', group: 'staleness and isolation', open: cachedKeysAndKv },
  { rule: 'closing one storage closes the backend for every instance', suite: 'storage', group: 'staleness and isolation', open: (b, n) => sharedConnection(memory(b, n), b.store) },
  { rule: 'closing one session storage closes the backend for every instance', suite: 'server', group: 'staleness and isolation', open: (b) => sharedConnection(server(b), b.store) },
  { rule: 'each server instance caches the sessions it saw', suite: 'server', group: 'staleness and isolation', open: (b) => new CachedSessions({ store: b.store }) },
  { rule: 'closing one bus closes the channel for every bus', suite: 'bus', group: 'staleness and isolation', open: (b) => closesTheChannel(new LocalSessionEventBus(b.channel), b.channel) },
  { rule: 'a closed bus keeps delivering to its listeners', suite: 'bus', group: 'staleness and isolation', open: (b) => closeKeepsListening(b.channel) },
  { rule: 'the publisher’s own subscribers hear a late echo', suite: 'bus', group: 'staleness and isolation', open: (b) => lateEcho(new LocalSessionEventBus(b.channel)) },
  // 4. atomicity under concurrent readers
  { rule: 'saveUpdateState writes the state, then the channels', suite: 'storage', group: 'atomicity under concurrent readers', open: (b, n) => new TornUpdateState({ store: b.store, name: n }) },
  { rule: 'saveUpdateState writes the state, one event-loop turn, then the channels (every call one turn)', suite: 'storage', group: 'atomicity under concurrent readers', open: (b, n) => new TornUpdateStateOneHop({ store: b.store, name: n }) },
  { rule: 'peers.clear also removes the auth keys', suite: 'storage', group: 'peers: v2 fields, list and clear', open: (b, n) => clearsMore(b, n, 'peers.clear takes the keys') },
  { rule: 'kv.clear also removes the references', suite: 'storage', group: 'kv', open: (b, n) => clearsMore(b, n, 'kv.clear takes the references') },
  { rule: 'refMessages.delete removes only the first id', suite: 'storage', group: 'reference messages', open: (b, n) => clearsMore(b, n, 'refMessages.delete takes only the first id') },
  { rule: 'listNames lists a deleted name that held a lease', suite: 'storage', group: 'listNames', open: namesOfLeases },
  { rule: 'a dropped connection’s error quotes the stored keys in base64', suite: 'storage', group: 'faults', open: (b, n) => behindConnection(memory(b, n), b, 'leaks keys'), interrupt: drop },
  { rule: 'a dropped connection’s error quotes the stored kv values in base64', suite: 'storage', group: 'faults', open: (b, n) => behindConnection(memory(b, n), b, 'leaks kv values'), interrupt: drop },
  { rule: 'a peer batch is applied in chunks of 100', suite: 'storage', group: 'atomicity under concurrent readers', open: (b, n) => new ChunkedPeerBatch({ store: b.store, name: n }) },
  // 6. damaged data and lost connections
  { rule: 'a damaged snapshot loads as null', suite: 'storage', group: 'faults', open: corruptLoadsNull, corrupt: corruptMemory },
  { rule: 'a state column left empty by hand reads as 0', suite: 'storage', group: 'tampered data', open: (b, n) => new StateZeroFillsMissing({ store: b.store, name: n }), tamper: tamperMemory },
  { rule: 'a self user without its id reads as no user', suite: 'storage', group: 'tampered data', open: (b, n) => new PartialUserDropped({ store: b.store, name: n }), tamper: tamperMemory },
  { rule: 'a self user holding only usernames or premium reads as no user', suite: 'storage', group: 'tampered data', open: (b, n) => new UserPresenceByIdFields({ store: b.store, name: n }), tamper: tamperMemory },
  { rule: 'an update state holding only date or seq reads as no state', suite: 'storage', group: 'tampered data', open: (b, n) => new StatePresenceByPtsQts({ store: b.store, name: n }), tamper: tamperMemory },
  // A third-party adapter keeping one JSON document per session described a damaged user by quoting the document: every tampered-data check passed.
  { rule: 'the CorruptDataError of a hand-edited snapshot quotes the session’s keys', suite: 'storage', group: 'tampered data', open: corruptQuotesKeys, tamper: tamperMemory },
  { rule: 'the CorruptDataError of a hand-edited snapshot quotes the session’s kv values', suite: 'storage', group: 'tampered data', open: corruptQuotesKvValues, tamper: tamperMemory },
  { rule: 'a dropped connection surfaces as the driver’s error', suite: 'storage', group: 'faults', open: (b, n) => behindConnection(memory(b, n), b, 'raw error'), interrupt: drop },
  { rule: 'a dropped connection is never re-established', suite: 'storage', group: 'faults', open: (b, n) => behindConnection(memory(b, n), b, 'never recovers'), interrupt: drop },
  { rule: 'a dropped server connection surfaces as the driver’s error', suite: 'server', group: 'faults', open: (b) => behindConnection(server(b), b, 'raw error'), interrupt: drop },
  // 6a. create: false (the openExisting hook; existingOnly is the working simulation)
  { rule: 'create: false is ignored: the store is made as open makes it', suite: 'storage', group: 'create: false', open: memory, openExisting: (bs, ns, n) => memory(bs.of(ns), n) },
  {
    rule: 'a create: false refusal leaves the store made behind it',
    suite: 'storage',
    group: 'create: false',
    open: memory,
    openExisting: (bs, ns, n) => existingOnly(() => bs.find(ns) ?? void bs.of(ns), ns, n),
  },
  {
    rule: 'create: false opens when any namespace of the backend holds a store',
    suite: 'storage',
    group: 'create: false',
    open: memory,
    openExisting: (bs, ns, n) => existingOnly(() => bs.find(ns) ?? (bs.count() > 0 ? bs.of(ns) : undefined), ns, n),
  },
  {
    rule: 'create: false opens a store that is there for reading only',
    suite: 'storage',
    group: 'create: false',
    open: memory,
    openExisting: (bs, ns, n) => existingOnly(() => bs.find(ns), ns, n, { refuses: (call) => !READS.has(call) }),
  },
  {
    rule: 'a missing store surfaces as the driver’s error, not NotFoundError',
    suite: 'storage',
    group: 'create: false',
    open: memory,
    openExisting: (bs, ns, n) => existingOnly(() => bs.find(ns), ns, n, { error: () => Object.assign(new Error('SQLITE_ERROR: no such table: mtstore_meta'), { code: 'SQLITE_ERROR' }) }),
  },
  {
    rule: 'the NotFoundError of create: false does not say where it looked',
    suite: 'storage',
    group: 'create: false',
    open: memory,
    openExisting: (bs, ns, n) => existingOnly(() => bs.find(ns), ns, n, { error: (call) => storeNotFound(call, 'the database', '@mtstore/memory', 'no store') }),
  },
  // 7. a capability must not remove coverage
  { rule: 'save writes in two steps (declares sharedBackend: false)', suite: 'storage', group: 'atomic save', open: (b, n) => new TornSave({ store: b.store, name: n }), capabilities: { sharedBackend: false } },
  { rule: 'saveUpdateState resolves before the write (declares sharedBackend: false)', suite: 'storage', group: 'saveUpdateState', open: lateUpdateState, capabilities: { sharedBackend: false } },
  { rule: 'kv.set resolves before the write (declares sharedBackend: false)', suite: 'storage', group: 'kv', open: lateKvSet, capabilities: { sharedBackend: false } },
  // 8. contract statements no trait checked before (each with the trait that closes it)
  { rule: 'authKeys.get reads the media-only entry’s key when the main entry has none (the media flag left out of the lookup)', suite: 'storage', group: 'auth keys', open: (b, n) => new MediaKeyReadForMain({ store: b.store, name: n }) },
  { rule: 'authKeys.delete and deleteTemp remove the media-only entry’s keys too (the media flag left out of the delete)', suite: 'storage', group: 'auth keys', open: (b, n) => new MainDeleteTakesMedia({ store: b.store, name: n }) },
  { rule: 'authKeys.get and getTemp hand out plain Uint8Arrays: util.inspect prints the key', suite: 'storage', group: 'secrets', open: plainKeysFromGet },
  { rule: 'the CorruptDataError of a damaged snapshot quotes the session’s keys', suite: 'storage', group: 'faults', open: corruptQuotesKeys, corrupt: corruptMemory },
  { rule: 'kv values handed out as slices of a shared Buffer pool', suite: 'storage', group: 'kv', open: kvValuesInPool },
  { rule: 'save drops the reference messages', suite: 'storage', group: 'removing one kind leaves the rest', open: (b, n) => { const inner = memory(b, n); return wrap(inner, { save: async (session) => { await inner.save(session); await inner.refMessages.clear(); } }); } },
  { rule: 'update drops the kv entries', suite: 'storage', group: 'removing one kind leaves the rest', open: (b, n) => { const inner = memory(b, n); return wrap(inner, { update: async (patch) => { await inner.update(patch); await inner.kv.clear(); } }); } },
  { rule: 'refMessages.delete fails beyond 999 ids (one SQL variable per id)', suite: 'storage', group: 'reference messages', open: (b, n) => { const inner = memory(b, n); return wrap(inner, { refMessages: { delete: (chatId, ids) => (Array.isArray(ids) && ids.length > 999 ? Promise.reject(new StorageUnavailableError('refMessages.delete: too many SQL variables')) : inner.refMessages.delete(chatId, ids)) } }); } },
  { rule: 'each instance keeps the names and the key entries it listed until it writes itself', suite: 'storage', group: 'staleness and isolation', open: cachedListings },
  { rule: 'kv entries kept outside the namespace (the table or key prefix forgotten): the same name shares them across namespaces', suite: 'storage', group: 'namespaces', open: kvWithoutNamespace },
  { rule: 'server sessions kept outside the namespace', suite: 'server', group: 'namespaces', open: () => new MemorySessionStorage({ store: UNPREFIXED }) },
  { rule: 'the bus writes every destroy reason as explicit', suite: 'bus', group: 'bus', open: (b) => reasonsFlattened(new LocalSessionEventBus(b.channel)) },
  { rule: 'every listener is handed one unfrozen event', suite: 'bus', group: 'bus', open: (b) => sharedUnfrozenEvents(new LocalSessionEventBus(b.channel)) },
  {
    rule: 'touchSession by an instance without ttlSeconds keeps the stored expiry (COALESCE)',
    suite: 'server',
    group: 'session lifetime',
    open: (b) => new MemorySessionStorage({ store: b.store }),
    openWithLifetime: (b, lifetime) => new TouchKeepsExpiry({ store: b.store, ...lifetime }),
  },
  {
    rule: 'touchSession never moves an expiry earlier (GREATEST)',
    suite: 'server',
    group: 'session lifetime',
    open: (b) => new MemorySessionStorage({ store: b.store }),
    openWithLifetime: (b, lifetime) => new TouchNeverShortens({ store: b.store, ...lifetime }),
  },
  {
    rule: 'createSession over a live session refreshes its times (an upsert that updates on conflict)',
    suite: 'server',
    group: 'session lifetime',
    open: (b) => new MemorySessionStorage({ store: b.store }),
    openWithLifetime: (b, lifetime) => new CreateRefreshesLive({ store: b.store, ...lifetime }),
  },
];

function duplicating(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, { publish: async (e) => (await inner.publish(e), inner.publish(e)) });
}

function lossyBus(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, {
    publish: (e: SessionEvent) =>
      typeof e?.authKeyId === 'bigint' && typeof e.sessionId === 'bigint' ? inner.publish({ ...e, authKeyId: lossy(e.authKeyId), sessionId: lossy(e.sessionId) }) : inner.publish(e),
  });
}

function noUnsubscribe(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, { subscribe: async (l) => (await inner.subscribe(l), async () => {}) });
}

/** unsubscribe() takes effect a microtask later: a listener an earlier one unsubscribes still hears that event (the postgres and redis buses did, iterating a copy of their listeners). */
function unsubscribeAfterTheEvent(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, {
    subscribe: async (listener) => {
      const stop = await inner.subscribe(listener);
      return async () => {
        await Promise.resolve();
        await stop();
      };
    },
  });
}

/**
 * Events stop at unsubscribe(), states a microtask later: a subscription an earlier
 * subscriber's onState unsubscribes still hears the state under way (the in-process bus
 * did, telling `lost` over a copy of its hooks).
 */
function statesAfterUnsubscribe(inner: LocalSessionEventBus): SessionEventBus {
  // The channel stays reachable: the self-test's interrupt hook holds it down.
  return Object.assign(wrapBus(inner, {
    subscribe: async (listener, options) => {
      const stopEvents = await inner.subscribe(listener);
      const stopStates = await inner.subscribe(() => {}, options);
      return async () => {
        await stopEvents();
        void Promise.resolve().then(stopStates);
      };
    },
  }), { channel: inner.channel });
}

/** A subscription made while the bus is lost is not told `lost` (the Redis and MongoDB buses once did this): it hears only `live`, later, and took itself as live meanwhile. */
function joinWhileLostUntold(inner: LocalSessionEventBus): SessionEventBus {
  // The channel stays reachable: the self-test's interrupt hook holds it down.
  return Object.assign(wrapBus(inner, {
    subscribe: async (listener, options) => {
      const onState = options?.onState;
      if (onState === undefined) return inner.subscribe(listener, options);
      let joining = true;
      const stop = await inner.subscribe(listener, { onState: (state) => void (joining || onState(state)) });
      joining = false;
      return stop;
    },
  }), { channel: inner.channel });
}

function lateSubscribe(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, {
    subscribe: async (listener) => {
      const live = new Promise<() => Promise<void>>((resolve) => setTimeout(() => resolve(inner.subscribe(listener).catch(() => async () => {})), 100));
      return async () => (await live)();
    },
  });
}

// ---- issue 16 adapters ------------------------------------------------------------

class DcIdInAByte extends MemoryStorage {
  protected override writeSession(session: Session): Promise<void> {
    return super.writeSession({ ...session, homeDcId: session.homeDcId & 0xff || 1, dcs: session.dcs.map((dc) => ({ ...dc, id: dc.id & 0xff || 1 })) });
  }
}

class TempKeysOfOneDc extends MemoryStorage {
  protected override writeSession(session: Session): Promise<void> {
    let kept = false;
    const dcs = session.dcs.map((dc) => {
      if (dc.tempAuthKeys === undefined || dc.tempAuthKeys.length === 0) return dc;
      if (kept) return { ...dc, tempAuthKeys: undefined };
      kept = true;
      return dc;
    });
    return super.writeSession({ ...session, dcs: dcs.map((dc) => Object.fromEntries(Object.entries(dc).filter(([, v]) => v !== undefined)) as typeof dc) });
  }
}

class DatesInInt32 extends MemoryStorage {
  protected override writeSession(session: Session): Promise<void> {
    return super.writeSession(session.state ? { ...session, state: { ...session.state, date: session.state.date | 0 } } : session);
  }
  protected override async readSession(): Promise<Session | null> {
    const session = await super.readSession();
    // A negative int32 read back is clamped, so validation does not flag it.
    if (session?.state && session.state.date < 0) session.state.date = 0;
    return session;
  }
}

class ZeroPtsDropped extends MemoryStorage {
  protected override writeSession(session: Session): Promise<void> {
    if (session.state && !session.state.pts) {
      const { state: _s, ...rest } = session;
      return super.writeSession(rest);
    }
    return super.writeSession(session);
  }
}

class EmptyTempKeysKept extends MemoryStorage {
  #empty = new Set<number>();
  protected override writeSession(session: Session): Promise<void> {
    this.#empty = new Set(session.dcs.filter((dc) => dc.tempAuthKeys?.length === 0).map((dc) => dc.id));
    return super.writeSession(session);
  }
  protected override async readSession(): Promise<Session | null> {
    const session = await super.readSession();
    for (const dc of session?.dcs ?? []) if (this.#empty.has(dc.id) && dc.tempAuthKeys === undefined) dc.tempAuthKeys = [];
    return session;
  }
}

class SelfUsernamesLowered extends MemoryStorage {
  protected override writeSession(session: Session): Promise<void> {
    return super.writeSession(session.user?.usernames ? { ...session, user: { ...session.user, usernames: session.user.usernames.map((u) => u.toLowerCase()) } } : session);
  }
}

function minFlagPresentMeansMin(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const asMin = (p: Peer): Peer => ('min' in p ? { ...p, min: true } : p);
  return wrap(inner, {
    peers: {
      upsert: (peers) => inner.peers.upsert(peers.map(asMin)),
      getById: async (type, id) => {
        const found = await inner.peers.getById(type, id);
        return found && found.min === true ? { ...found, min: false } : found;
      },
    },
  });
}

function userHashThroughNumber(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    peers: { upsert: (peers) => inner.peers.upsert(peers.map((p) => (p.type === 'user' ? { ...p, accessHash: lossy(p.accessHash) } : p))) },
  });
}

class ListsAHundred extends MemorySessionStorage {
  protected override async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return (await super.findSessions(authKeyId, now)).slice(0, 100);
  }
  protected override async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const ids = (await super.findSessions(authKeyId, now)).slice(0, 100);
    for (const id of ids) await super.removeSession(authKeyId, id, now);
    return ids;
  }
}

function originCutAtColon(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, { publish: (e) => inner.publish(typeof e?.origin === 'string' && e.origin.includes(':') ? { ...e, origin: e.origin.split(':')[0] || '?' } : e) });
}

function cachedKeysAndKv(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const keys = new Map<number, Uint8Array | null>();
  const values = new Map<string, Uint8Array | null>();
  return wrap(inner, {
    authKeys: {
      ...inner.authKeys,
      get: async (dc) => (keys.has(dc) ? (keys.get(dc) ?? null) : (keys.set(dc, await inner.authKeys.get(dc)), keys.get(dc) ?? null)),
      set: (dc, key) => (keys.delete(dc), inner.authKeys.set(dc, key)),
      delete: (dc) => (keys.delete(dc), inner.authKeys.delete(dc)),
      getTemp: (dc, i) => inner.authKeys.getTemp(dc, i),
      setTemp: (dc, t) => inner.authKeys.setTemp(dc, t),
      deleteTemp: (dc, i) => inner.authKeys.deleteTemp(dc, i),
      deleteByDc: (dc) => (keys.delete(dc), inner.authKeys.deleteByDc(dc)),
    },
    kv: {
      ...inner.kv,
      get: async (k) => (values.has(k) ? (values.get(k) ?? null) : (values.set(k, await inner.kv.get(k)), values.get(k) ?? null)),
      set: (k, v) => (values.delete(k), inner.kv.set(k, v)),
      delete: (k) => (values.delete(k), inner.kv.delete(k)),
      entries: () => inner.kv.entries(),
      clear: () => (values.clear(), inner.kv.clear()),
    },
  });
}

/** Instances of one backend share one "connection"; the first close ends it for all. */
const endedConnections = new WeakSet<object>();
function sharedConnection<T extends object>(inner: T, backend: object): T {
  return new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property === 'close') endedConnections.add(backend);
        else if (endedConnections.has(backend)) return Promise.reject(new StorageClosedError('the shared connection was closed'));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

class CachedSessions extends MemorySessionStorage {
  readonly #seen = new Set<string>();
  protected override sessionExists(a: bigint, s: bigint, now: number): boolean {
    if (this.#seen.has(`${a}/${s}`)) return true;
    const found = super.sessionExists(a, s, now);
    if (found) this.#seen.add(`${a}/${s}`);
    return found;
  }
}

function closesTheChannel(inner: SessionEventBus, channel: LocalEventChannel): SessionEventBus {
  return wrapBus(inner, {
    publish: (e) => (endedConnections.has(channel) ? Promise.resolve() : inner.publish(e)),
    close: () => (endedConnections.add(channel), inner.close()),
  });
}

/** close() marks the bus closed for callers but leaves its subscriptions on the channel. */
function closeKeepsListening(channel: LocalEventChannel): SessionEventBus {
  const inner = new LocalSessionEventBus(channel);
  const listening = new LocalSessionEventBus(channel);
  let closed = false;
  return {
    publish: (e) => (closed ? Promise.reject(new StorageClosedError('closed')) : inner.publish(e)),
    subscribe: (l) => (closed ? Promise.reject(new StorageClosedError('closed')) : listening.subscribe(l)),
    close: async () => {
      closed = true;
      await inner.close();
    },
  };
}

/** The publisher's own listeners hear an event at once, then again when the "server" echoes it. */
function lateEcho(inner: SessionEventBus): SessionEventBus {
  const own = new Set<(e: SessionEvent) => void>();
  return wrapBus(inner, {
    subscribe: async (listener) => {
      own.add(listener);
      const stop = await inner.subscribe(listener);
      return async () => (own.delete(listener), stop());
    },
    publish: async (e) => {
      await inner.publish(e);
      setTimeout(() => {
        for (const l of own) l(e);
      }, 100);
    },
  });
}

class TornUpdateState extends MemoryStorage {
  protected override async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const snapshot = this.store.clients.get(this.name)?.snapshot;
    if (!snapshot) return false;
    snapshot.state = { ...state };
    await tick(); // a reader here sees the new state with the old channels
    return super.writeUpdateState(state, channels);
  }
}

class ChunkedPeerBatch extends MemoryStorage {
  protected override readonly peerRepository = Object.assign(new MemoryPeers(this.store, this.name, () => this.checkFence()), {
    async upsert(this: MemoryPeers, peers: readonly Peer[]): Promise<void> {
      for (let i = 0; i < peers.length; i += 100) {
        await MemoryPeers.prototype.upsert.call(this, peers.slice(i, i + 100));
        await tick();
      }
    },
  });
}

/** Every call takes one event-loop turn (a driver round trip); saveUpdateState writes the state, a turn, then the channels. */
class TornUpdateStateOneHop extends MemoryStorage {
  protected override async readSession(): Promise<Session | null> {
    await tick();
    return super.readSession();
  }
  protected override async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    await tick();
    const snapshot = this.store.clients.get(this.name)?.snapshot;
    if (!snapshot) return false;
    snapshot.state = { ...state };
    await tick(); // one turn: a reader paced like the writer never looks here
    return super.writeUpdateState(state, channels);
  }
}

/** One removal that takes another kind of data with it. */
function clearsMore(b: Backend, name: string, what: 'peers.clear takes the keys' | 'kv.clear takes the references' | 'refMessages.delete takes only the first id'): Storage {
  const inner = memory(b, name);
  if (what === 'peers.clear takes the keys') return wrap(inner, { peers: { clear: async () => (await inner.peers.clear(), inner.authKeys.clear()) } });
  if (what === 'kv.clear takes the references') {
    const kv = inner.kv;
    return wrap(inner, { kv: { get: (k) => kv.get(k), set: (k, v, o) => kv.set(k, v, o), delete: (k) => kv.delete(k), entries: () => kv.entries(), clear: async () => (await kv.clear(), inner.refMessages.clear()) } });
  }
  return wrap(inner, { refMessages: { delete: (chatId, ids) => inner.refMessages.delete(chatId, ids.slice(0, 1)) } });
}

/** listNames also lists every name that ever took a lease (the lease record kept by delete()). */
function namesOfLeases(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const leased = ((b as Backend & { leased?: Set<string> }).leased ??= new Set<string>());
  const lease = inner.lease;
  return wrap(inner, {
    listNames: async () => [...new Set([...(await inner.listNames()), ...leased])].sort(),
    lease: Object.assign(Object.create(lease) as typeof lease, {
      acquire: async (options?: Parameters<typeof lease.acquire>[0]) => {
        const held = await lease.acquire(options);
        leased.add(name);
        return held;
      },
      release: () => lease.release(),
      renew: () => lease.renew(),
      holder: () => lease.holder(),
    }),
  });
}

function corruptLoadsNull(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, { load: () => inner.load().catch((e: { code?: string }) => (e.code === 'MTSTORE_CORRUPT_DATA' ? null : Promise.reject(e))) });
}

function drop(b: Backend): void {
  b.drops++;
}

/**
 * An instance behind a simulated connection: `drop` cuts it. 'reconnects' is what the
 * contract asks (one StorageUnavailableError, then it reconnects); the broken modes
 * reject with the driver's own error, or never reconnect.
 */
/** A repository-like object (peers, authKeys, lease…), not a value (a date, an array, a record of data). */
function hasMethods(value: unknown): value is object {
  if (value === null || typeof value !== 'object' || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  const own = Object.values(value).some((v) => typeof v === 'function');
  const inherited = proto !== null && proto !== Object.prototype && Object.getOwnPropertyNames(proto).some((k) => k !== 'constructor' && typeof Object.getOwnPropertyDescriptor(proto, k)?.value === 'function');
  return own || inherited;
}

export function behindConnection<T extends object>(inner: T, b: Backend, mode: 'reconnects' | 'raw error' | 'never recovers' | 'leaks keys' | 'leaks kv values'): T {
  let seen = b.drops;
  /** The error a call meets on a dropped connection, or undefined when connected. */
  const gate = (): Error | undefined => {
    if (b.drops === seen) return undefined;
    if (mode !== 'never recovers') seen = b.drops;
    if (mode === 'raw error') return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    if (mode === 'leaks kv values') {
      const values = [...b.store.clients.values()].flatMap((c) => [...c.kv.values()].map((v) => Buffer.from(v).toString('base64')));
      return new StorageUnavailableError(`the connection was lost writing values ${values.join(' ')}`);
    }
    if (mode === 'leaks keys') {
      const rows = [...b.store.clients.values()].flatMap((c) => [...c.keys.values()].flatMap((k) => (k.key === undefined ? [] : [Buffer.from(k.key).toString('base64')])));
      return new StorageUnavailableError(`the connection was lost reading rows ${rows.join(' ')}`);
    }
    return new StorageUnavailableError('the connection was lost');
  };
  const proxy = (target: object): object =>
    new Proxy(target, {
      get(t, property) {
        const value: unknown = Reflect.get(t, property, t);
        if (typeof value === 'function') {
          if (property === 'close') return (value as () => unknown).bind(t);
          // Not async: synchronous methods stay synchronous while connected.
          return (...args: unknown[]) => {
            const error = gate();
            return error === undefined ? (value as (...a: unknown[]) => unknown).apply(t, args) : Promise.reject(error);
          };
        }
        // Repositories (peers, authKeys, lease…) are wrapped too; values (dates, arrays, bytes) are not.
        return hasMethods(value) ? proxy(value) : value;
      },
    });
  return proxy(inner) as T;
}

/** The calls of a Storage that only read. */
const READS = new Set(['load', 'listNames', 'authKeys.get', 'authKeys.getTemp', 'authKeys.entries', 'kv.get', 'kv.entries', 'peers.getById', 'peers.getByUsername', 'peers.getByPhone', 'peers.list', 'refMessages.getByPeer', 'refMessages.list', 'lease.holder']);

/**
 * Memory has no `create` option: the self-test simulates `create: false` over the
 * suite's namespaces. A namespace `open` never reached holds no store, and every call
 * rejects with core's storeNotFound naming it; once there is one (`locate` finds it),
 * calls go to a memory instance on it. The broken variants change `locate`, which calls
 * are refused, or the error.
 */
export function existingOnly(
  locate: () => Backend | undefined,
  namespace: string,
  name: string,
  how: { refuses?: (call: string) => boolean; error?: (call: string) => Error } = {},
): Storage {
  let inner: Storage | undefined;
  let on: Backend | undefined;
  const current = (): Storage | undefined => {
    const backend = locate();
    if (backend === undefined) return undefined;
    if (on !== backend) {
      on = backend;
      inner = new MemoryStorage({ store: backend.store, name });
    }
    return inner;
  };
  const refuse = how.error ?? ((call: string) => storeNotFound(call, `memory namespace "${namespace}"`, '@mtstore/memory', 'no store made by open'));
  // The shape of a storage (its repositories and methods), never called.
  const shape = new MemoryStorage({ store: new MemoryStore(), name });
  const proxy = (path: string[], target: object): object =>
    new Proxy(target, {
      get(t, property) {
        const value: unknown = Reflect.get(t, property, t);
        if (typeof property !== 'string') return value;
        if (typeof value === 'function') {
          if (path.length === 0 && property === 'close') return async () => void (await inner?.close());
          const call = [...path, property].join('.');
          return (...args: unknown[]) => {
            const real = current();
            if (real === undefined || how.refuses?.(call) === true) return Promise.reject(refuse(call));
            const owner = path.reduce<Record<string, unknown>>((o, key) => o[key] as Record<string, unknown>, real as unknown as Record<string, unknown>);
            return (owner[property] as (...a: unknown[]) => unknown).apply(owner, args);
          };
        }
        return hasMethods(value) ? proxy([...path, property], value) : value;
      },
    });
  return proxy([], shape) as Storage;
}

function lateKvSet(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    kv: { ...inner.kv, get: (k) => inner.kv.get(k), delete: (k) => inner.kv.delete(k), entries: () => inner.kv.entries(), clear: () => inner.kv.clear(), set: async (k, v) => void setTimeout(() => void inner.kv.set(k, v).catch(() => {}), 30) },
  });
}

/**
 * The server side of existingOnly: a MemorySessionStorage on the namespace's store once
 * `open` made one; before that every call is NotFoundError naming the namespace.
 */
export function existingServerOnly(locate: () => Backend | undefined, namespace: string): SessionStorageProtocol {
  let inner: MemorySessionStorage | undefined;
  let on: Backend | undefined;
  const call = <T>(what: string, run: (storage: SessionStorageProtocol) => Promise<T>): Promise<T> => {
    const backend = locate();
    if (backend === undefined) return Promise.reject(storeNotFound(what, `memory namespace "${namespace}"`, '@mtstore/memory', 'no store made by open'));
    if (on !== backend) {
      on = backend;
      inner = new MemorySessionStorage({ store: backend.store });
    }
    return run(inner as MemorySessionStorage);
  };
  return {
    createSession: (authKeyId, sessionId) => call('createSession', (s) => s.createSession(authKeyId, sessionId)),
    hasSession: (authKeyId, sessionId) => call('hasSession', (s) => s.hasSession(authKeyId, sessionId)),
    destroySession: (authKeyId, sessionId) => call('destroySession', (s) => s.destroySession(authKeyId, sessionId)),
    listSessions: (authKeyId) => call('listSessions', (s) => s.listSessions(authKeyId)),
    destroyAllSessions: (authKeyId) => call('destroyAllSessions', (s) => s.destroyAllSessions(authKeyId)),
    close: async () => {
      await inner?.close();
    },
  };
}

// ---- contract statements no trait checked before ----------------------------------

/** get answers with the media-only entry's permanent key when the main entry holds none. */
class MediaKeyReadForMain extends MemoryStorage {
  protected override readonly authKeyRepository = Object.assign(new MemoryAuthKeys(this.store, this.name, () => this.checkFence()), {
    get: (dcId: number): Uint8Array | null => {
      const keys = this.store.clients.get(this.name)?.keys;
      const key = keys?.get(entryKeyId(dcId, false))?.key ?? keys?.get(entryKeyId(dcId, true))?.key;
      return key === undefined ? null : new Uint8Array(key);
    },
  });
}

/** delete / deleteTemp of a DC remove that key from the media-only entry as well. */
class MainDeleteTakesMedia extends MemoryStorage {
  readonly #inner = new MemoryAuthKeys(this.store, this.name, () => this.checkFence());
  protected override readonly authKeyRepository = Object.assign(this.#inner, {
    set: (dcId: number, key: Uint8Array | null): void => {
      if (key === null) delete this.store.clients.get(this.name)?.keys.get(entryKeyId(dcId, true))?.key;
      MemoryAuthKeys.prototype.set.call(this.#inner, dcId, key);
    },
    setTemp: async (dcId: number, index: number, temp: TempAuthKey | null): Promise<void> => {
      if (temp === null) this.store.clients.get(this.name)?.keys.get(entryKeyId(dcId, true))?.temps.delete(index);
      await MemoryAuthKeys.prototype.setTemp.call(this.#inner, dcId, index, temp);
    },
  });
}

/** Keys from get and getTemp as plain Uint8Arrays, which util.inspect prints byte by byte. */
function plainKeysFromGet(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    authKeys: {
      ...inner.authKeys,
      get: async (dcId) => {
        const key = await inner.authKeys.get(dcId);
        return key === null ? null : Uint8Array.from(key);
      },
      getTemp: async (dcId, index) => {
        const temp = await inner.authKeys.getTemp(dcId, index);
        return temp === null ? null : { ...temp, key: Uint8Array.from(temp.key) };
      },
      entries: () => inner.authKeys.entries(),
      set: (dcId, key) => inner.authKeys.set(dcId, key),
      setTemp: (dcId, temp) => inner.authKeys.setTemp(dcId, temp),
    },
  });
}

/** A CorruptDataError that describes the stored keys (base64) beside the damaged one. */
function corruptQuotesKeys(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    load: () =>
      inner.load().catch((error: unknown) => {
        if (!(error instanceof CorruptDataError)) throw error;
        const keys = [...(b.store.clients.get(name)?.keys.values() ?? [])].flatMap((k) => (k.key === undefined || k.key.length !== 256 ? [] : [Buffer.from(k.key).toString('base64')]));
        throw new CorruptDataError(`${error.message}; the session's keys: ${keys.join(', ')}`);
      }),
  });
}

/** A CorruptDataError that describes the session's kv entries (values in base64), as a dump of a damaged document would. */
function corruptQuotesKvValues(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    load: () =>
      inner.load().catch(async (error: unknown) => {
        if (!(error instanceof CorruptDataError)) throw error;
        const entries = (await inner.kv.entries()).map(({ key, value }) => `${key}=${Buffer.from(value).toString('base64')}`);
        throw new CorruptDataError(`${error.message}; kv: ${entries.join(', ')}`);
      }),
  });
}

/** kv values as Buffers cut from Node's shared pool (Buffer.from copies small ones into it). */
function kvValuesInPool(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  return wrap(inner, {
    kv: {
      ...inner.kv,
      get: async (key) => {
        const value = await inner.kv.get(key);
        return value === null ? null : Buffer.from(value);
      },
      entries: async () => (await inner.kv.entries()).map(({ key, value }) => ({ key, value: Buffer.from(value) })),
      set: (key, value, options) => inner.kv.set(key, value, options),
      delete: (key) => inner.kv.delete(key),
      clear: () => inner.kv.clear(),
    },
  });
}

/**
 * A bus that decodes each event once and hands every listener that one object unfrozen
 * (the Redis and MongoDB buses did, before core's decodeSessionEvent froze its result):
 * a listener that writes to its event changes what the next one hears.
 */
function sharedUnfrozenEvents(inner: SessionEventBus): SessionEventBus {
  const decoded = new WeakMap<SessionEvent, SessionEvent>();
  const shared = (e: SessionEvent): SessionEvent => {
    let copy = decoded.get(e);
    if (copy === undefined) decoded.set(e, (copy = { ...e }));
    return copy;
  };
  return wrapBus(inner, { subscribe: (listener, options) => inner.subscribe((e) => listener(shared(e)), options) });
}

/** A bus whose wire format knows one destroy reason: every reason arrives as explicit. */
function reasonsFlattened(inner: SessionEventBus): SessionEventBus {
  return wrapBus(inner, { publish: (e: SessionEvent) => inner.publish(e?.reason === undefined ? e : { ...e, reason: 'explicit' }) });
}

/** touch with no new expiry (an instance without ttlSeconds) keeps the stored one. */
class TouchKeepsExpiry extends MemorySessionStorage {
  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const info = await this.readSessionInfo(authKeyId, sessionId, now);
    return super.touch(authKeyId, sessionId, now, expiresAt ?? info?.expiresAt ?? null);
  }
}

/** touch keeps the later of the stored and the new expiry. */
class TouchNeverShortens extends MemorySessionStorage {
  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const stored = (await this.readSessionInfo(authKeyId, sessionId, now))?.expiresAt ?? null;
    return super.touch(authKeyId, sessionId, now, stored === null || expiresAt === null ? expiresAt : Math.max(stored, expiresAt));
  }
}

/** createSession that finds a live session answers false but sets its times as a touch would. */
class CreateRefreshesLive extends MemorySessionStorage {
  protected override async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    if (await this.touch(authKeyId, sessionId, now, expiresAt)) return false;
    return super.insertSession(authKeyId, sessionId, now, expiresAt);
  }
}

/** A backend-wide store outside every namespace: what a table or key without the namespace's prefix is. */
const UNPREFIXED = new MemoryStore();

/** kv entries in UNPREFIXED, by session name: the namespace's kv is every namespace's. */
function kvWithoutNamespace(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  const outside = new MemoryStorage({ store: UNPREFIXED, name });
  return wrap(inner, {
    kv: outside.kv,
    delete: async () => {
      await inner.delete();
      await outside.kv.clear();
    },
    close: async () => {
      await outside.close();
      await inner.close();
    },
  });
}

/** listNames and authKeys.entries answered from what this instance listed last, forgotten only on its own writes. */
function cachedListings(b: Backend, name: string): Storage {
  const inner = memory(b, name);
  let names: Promise<string[]> | undefined;
  let entries: ReturnType<Storage['authKeys']['entries']> | undefined;
  const written = <T>(result: Promise<T>): Promise<T> => {
    names = undefined;
    entries = undefined;
    return result;
  };
  return wrap(inner, {
    listNames: () => (names ??= inner.listNames()),
    save: (session) => written(inner.save(session)),
    delete: () => written(inner.delete()),
    authKeys: {
      ...inner.authKeys,
      get: (dcId) => inner.authKeys.get(dcId),
      getTemp: (dcId, index) => inner.authKeys.getTemp(dcId, index),
      entries: () => (entries ??= inner.authKeys.entries()),
      set: (dcId, key) => written(inner.authKeys.set(dcId, key)),
      setTemp: (dcId, temp) => written(inner.authKeys.setTemp(dcId, temp)),
      delete: (dcId) => written(inner.authKeys.delete(dcId)),
      deleteTemp: (dcId, index) => written(inner.authKeys.deleteTemp(dcId, index)),
      deleteByDc: (dcId) => written(inner.authKeys.deleteByDc(dcId)),
      clear: () => written(inner.authKeys.clear()),
    },
  });
}
