import { Api, helpers, sessions, utils } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import type { EntityLike } from 'telegram/define.js';
import { assertKnownOptions, BackoffTimer, assertLeaseAcquireOptions, assertOptional, AUTH_KEY_LENGTH, describeValue, InvalidArgumentError, isStorageError, optionNames, wellKnownDcAddress, type DataCenter, type LeaseAcquireOptions, type Peer, type SelfUser, type Storage } from '@mtstore/core';
import { addressEntry, assertAddress, serverAddressOf, withoutKeys } from './address.js';
import { ApiUser, entitiesOf, inputPeerOf, otherEntityToPeer, toBigint, userToPeer } from './entities.js';
import { keyOfMarked, markedKey, PeerIndex, type MarkedKey } from './peers.js';
import { WriteQueue, type WriteErrorHandler } from './writes.js';

export interface StorageSessionOptions {
  /**
   * Called for every write that failed (the session keeps working from memory).
   * Default: `console.error`. Errors from mtstore never contain key bytes.
   */
  onError?: WriteErrorHandler | undefined;
  /**
   * Also keep each entity's TL bytes (`getBytes()`, at GramJS's layer) as the peer's
   * `complete` object, for clients of the same TL layer that read the full object
   * back. Default: false: caching then costs ~180 µs a user instead of ~6 µs,
   * GramJS itself never reads the object back, and mtcute (a later layer) cannot
   * read it — it resolves peers from id and access hash alone.
   */
  completeObjects?: boolean | undefined;
  /**
   * Take the session's lease in `load()` (GramJS calls it when the client connects)
   * and give it back in `close()`, so a second client on the same session fails at
   * connect with LeaseHeldError naming the first — not with a revoked key
   * (AUTH_KEY_DUPLICATED). Default true; an object is passed to
   * `storage.lease.acquire` (owner label, TTL, wait); false turns it off.
   */
  lease?: boolean | LeaseAcquireOptions | undefined;
}

/** Every option of StorageSession: any other name is refused (a misspelt `lease: false` left the lease on). */
const OPTIONS = optionNames<StorageSessionOptions>()(['onError', 'completeObjects', 'lease']);

/** What `attach` needs of a GramJS TelegramClient. */
export interface DestroyableClient {
  session: unknown;
  destroy(): Promise<void>;
}

/**
 * GramJS 2.26's per-DC connects of its exported senders (`_borrowExportedSender` puts
 * each `_connectSender` promise there): a promise settles once the sender is connected
 * and, for a DC other than the home DC, the login imported there.
 */
type ExportedSenders = { get(dcId: number): PromiseLike<unknown> | undefined };

/** Marks a destroy() attach already wrapped for this session (attach twice is one wrap). */
const ATTACHED = Symbol('mtstore.gramjs.attached');

/** Peers per `peers.list` page in load(). */
const LOAD_PAGE = 1000;
const PEER_SUBCLASS = 0x2d45687; // crc32('Peer'): PeerUser / PeerChat / PeerChannel
const INPUT_SUBCLASSES: readonly number[] = [0xc91c90b6, 0xe669bf46, 0x40f202fd]; // InputPeer, InputUser, InputChannel
/**
 * The background retry of writes an outage refused (see `unsynced`): the first delay,
 * doubled after every round the database still refused, up to the cap. A server back
 * within a second is written to within ~0.1-0.8 s; a long outage costs one round of
 * writes every 2.5-5 s (jittered), each refused at once by a pool or client that
 * cannot connect.
 */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * A GramJS session over any mtstore Storage. GramJS reads its session synchronously,
 * so `load()` reads everything (the snapshot, the auth key of every DC, the whole
 * peer cache) and the rest works from memory; every change is written through in
 * call order (see WriteQueue). `save()` and `close()` wait for those writes.
 */
export class StorageSession extends sessions.Session {
  readonly storage: Storage;
  private readonly writes: WriteQueue;
  private readonly completeObjects: boolean;
  private readonly peers = new PeerIndex();
  /** AuthKey objects by DC id, handed to GramJS's senders (which change them in place). */
  private readonly keys = new Map<number, AuthKey>();
  /** The bytes stored (or queued) per DC, so an unchanged key is not written again. */
  private readonly storedKeys = new Map<number, Uint8Array>();
  /** Address entries of the snapshot, rewritten by setDC. */
  private dcs: DataCenter[] = [];
  private homeDcId = 0;
  private address: string | undefined;
  private portNumber: number | undefined;
  private takeout: bigint | undefined;
  private self: SelfUser | undefined;
  /** A snapshot is stored (or queued): the fields update() cannot create can be written. */
  private hasSnapshot = false;
  /** A load() has read the storage: from then on `storedKeys` lists every stored key. */
  private loaded = false;
  /**
   * `takeout` was set while no snapshot was known and is not written yet: update()
   * cannot create a snapshot from a takeout id (NotFoundError, contract §2). The
   * snapshot setDC creates carries it, or the load() that finds one writes it.
   */
  private takeoutHeld = false;
  /**
   * `self` (the logged-in user) was seen while no snapshot was known and is not written
   * yet: like a takeout id, update() cannot create a snapshot from it, and GramJS caches
   * the user of a sign-in (or getMe) result once. The snapshot setDC creates carries it
   * (with that DC as the user's), or the load() that finds one writes it.
   */
  private selfHeld = false;
  private readonly lease: LeaseAcquireOptions | undefined;
  /**
   * The lease acquisition a load() started and that has not settled: a second load()
   * meanwhile (two connect() calls at once) waits for it instead of acquiring again,
   * which this session's own lease would refuse (LeaseHeldError naming this process),
   * and close() waits for it, or the lease would be taken, and renewed, after close().
   */
  private acquiring: Promise<unknown> | undefined;
  /** load() calls so far: a release close() defers until a waiting acquisition ends is skipped when a load() started after it. */
  private loadsStarted = 0;
  /**
   * One list per load() in flight of the changes made since it was queued, each as a
   * function that makes it again in memory. The load replaces the state with what it
   * read, which is from before those changes (their writes wait behind it), then makes
   * them again. GramJS calls load() on every connect, also inside a running client (a
   * DC switch, CONNECTION_NOT_INITED), while its other senders keep caching entities
   * and storing keys.
   */
  private readonly loading = new Set<(() => void)[]>();
  /**
   * What memory holds and a write failed to store for want of the database
   * (StorageUnavailableError: a lost connection, a server down). Written again from
   * memory — the newest values, never the failed write's own, which a later one may
   * have replaced — before the next write, load, save or close (`resync`), and by
   * itself on a timer (`retry`) when none comes: GramJS sets a key or caches a peer
   * once, a reconnect's load() would otherwise read back what was stored before the
   * outage, and an idle bot killed long after the database came back lost it.
   */
  private readonly unsynced = { keys: new Set<number>(), peers: new Set<MarkedKey>(), dc: false, takeout: false, self: false };
  /** Something in `unsynced`. */
  private unsyncedAny = false;
  /** The attached client's exported-sender connects (see `attach`, `holdUntilImported`). */
  private exportedSenders: ExportedSenders | undefined;
  /**
   * Keys of DCs other than the home DC that GramJS made for an exported sender whose
   * login import has not finished: in memory only until it has (`holdUntilImported`).
   */
  private readonly held = new Map<number, AuthKey>();
  /** The background retry's timer (see `retrySoon`): RETRY_FIRST_MS, doubled per round the database refused, up to RETRY_MAX_MS. */
  private readonly retryTimer = new BackoffTimer(() => this.retry(), RETRY_FIRST_MS, RETRY_MAX_MS);
  /** A background retry's writes are queued and not all settled: its end decides the next round. */
  private retrying = false;
  /**
   * No background retry until the next load(): set by close(), and by a write refused
   * with LeaseLostError or StorageClosedError, which no retry gets past (the next
   * connect's load() takes the lease anew and reads the stored session back).
   */
  private retryStopped = false;
  /** delete() calls in flight: a background retry waits, or it would queue what memory held before the logout behind it. */
  private deleting = 0;

  constructor(storage: Storage, options: StorageSessionOptions = {}) {
    super();
    if (typeof storage !== 'object' || storage === null || typeof storage.load !== 'function' || typeof storage.peers !== 'object') {
      throw new TypeError('StorageSession: storage must be an mtstore Storage');
    }
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('StorageSession: options must be an object');
    assertKnownOptions(options, OPTIONS, 'StorageSession');
    this.storage = storage;
    // Each checked before it is used: an onError that is not a function threw at the first
    // failed write (the error it reported lost), completeObjects: 'no' kept the TL bytes.
    assertOptional(options.onError, 'function', 'StorageSession: options.onError');
    assertOptional(options.completeObjects, 'boolean', 'StorageSession: options.completeObjects');
    const onError = options.onError ?? ((error: unknown, operation: string) => console.error(`@mtstore/gramjs: ${operation} failed:`, error));
    this.writes = new WriteQueue(onError);
    this.completeObjects = options.completeObjects ?? false;
    const lease = options.lease ?? true;
    if (typeof lease !== 'boolean' && (typeof lease !== 'object' || lease === null)) {
      throw new InvalidArgumentError(`StorageSession: options.lease must be a boolean or lease options, got ${describeValue(lease)}`);
    }
    // Checked here, where it is given: acquired only in load().
    if (typeof lease === 'object') assertLeaseAcquireOptions(lease, 'StorageSession: options.lease');
    this.lease = lease === false ? undefined : lease === true ? {} : { ...lease };
  }

  // region DC and keys

  get dcId(): number {
    return this.homeDcId;
  }

  /** Undefined until known, as in GramJS's MemorySession (the client then picks its default DC). */
  get serverAddress(): string {
    return this.address as string;
  }

  get port(): number {
    return this.portNumber as number;
  }

  /** Throws InvalidArgumentError, changing nothing, for an address or port the storage would refuse. */
  setDC(dcId: number, serverAddress: string, port: number): void {
    assertAddress(dcId, serverAddress, port);
    this.resync();
    const id = dcId;
    const unchanged = id === this.homeDcId && serverAddress === this.address && port === this.portNumber;
    // A key set before any DC (a session built by hand may do that) waits under DC 0: it is the new home DC's.
    const waiting = this.homeDcId === 0 && id !== 0 ? this.keys.get(0) : undefined;
    this.homeDcId = id;
    this.address = serverAddress;
    this.portNumber = port;
    if (!unchanged || !this.hasSnapshot) {
      const previous = this.dcs.find((dc) => dc.id === id && dc.mediaOnly !== true);
      this.dcs = [...this.dcs.filter((dc) => dc !== previous), addressEntry(id, serverAddress, port, previous)];
      const dcs = this.dcs.map((dc) => ({ ...dc }));
      const takeoutId = this.takeoutHeld ? this.takeout : undefined;
      // The logged-in user seen before any snapshot: its home DC is the one named now.
      const user = this.selfHeld && this.self !== undefined ? { ...this.self, dcId: id } : undefined;
      if (user !== undefined) {
        this.self = user;
        this.selfHeld = false;
        if (this.loading.size !== 0) {
          this.changed(() => {
            this.self = user;
            this.selfHeld = false;
          });
        }
      }
      if (takeoutId !== undefined || user !== undefined) {
        // What was held for a snapshot goes in the update that creates one: one atomic
        // write, and a restart never finds the snapshot without it.
        const missed = (error: unknown): never => {
          if (unavailable(error)) {
            if (takeoutId !== undefined) this.unsynced.takeout = true;
            if (user !== undefined) this.unsynced.self = true;
          }
          return this.missed(error, 'dc');
        };
        this.writes.write(`setDC(${id})`, () => this.storage.update({ homeDcId: id, dcs, takeoutId, user }).catch(missed));
        if (takeoutId === undefined && this.takeoutHeld && !this.loaded) this.writes.write('takeoutId', () => this.storage.update({ takeoutId: null }).catch(this.missedTakeout));
      } else {
        this.writes.write(`setDC(${id})`, () => this.storage.update({ homeDcId: id, dcs }).catch(this.missedDc));
        // Cleared before the first load(): a snapshot stored meanwhile may hold one.
        if (this.takeoutHeld && !this.loaded) this.writes.write('takeoutId', () => this.storage.update({ takeoutId: null }).catch(this.missedTakeout));
      }
      this.takeoutHeld = false;
      this.hasSnapshot = true;
      if (this.loading.size !== 0) {
        const entries = this.dcs;
        this.changed(() => {
          this.dcs = entries;
          this.hasSnapshot = true;
        });
      }
    }
    if (this.loading.size !== 0) {
      this.changed(() => {
        this.homeDcId = id;
        this.address = serverAddress;
        this.portNumber = port;
      });
    }
    if (waiting !== undefined) {
      // Moved, not copied: DC 0 is never stored, so only memory holds it. Not through
      // setAuthKey(undefined, 0): its `dcId || homeDcId` reads 0 as "the home DC",
      // which is `id` by now. A copy left under DC 0 would pass for a waiting key
      // whenever a load() finds no home DC (a session logged out elsewhere), and the
      // next setDC would store it as that DC's key.
      this.keys.delete(0);
      if (this.loading.size !== 0) this.changed(() => this.keys.delete(0));
      this.setAuthKey(waiting, id);
    }
  }

  get authKey(): AuthKey | undefined {
    return this.keys.get(this.homeDcId);
  }

  set authKey(value: AuthKey | undefined) {
    this.setAuthKey(value);
  }

  /** The key of DC `dcId` (default: the home DC), for any DC whose key is stored. */
  getAuthKey(dcId?: number): AuthKey | undefined {
    return this.keys.get(dcId || this.homeDcId);
  }

  /**
   * Stores (or, with no key, removes) the key of DC `dcId`, default the home DC. Throws
   * InvalidArgumentError, changing nothing, for a key that is not 256 bytes: the storage
   * would refuse it, and memory would then hold a key a restart does not find.
   */
  setAuthKey(authKey?: AuthKey, dcId?: number): void {
    const bytes = authKey?.getKey();
    if (bytes !== undefined && bytes.length !== AUTH_KEY_LENGTH) {
      // The length only: never the bytes.
      throw new InvalidArgumentError(`StorageSession.setAuthKey: key must be ${AUTH_KEY_LENGTH} bytes, got ${bytes.length}`);
    }
    const dc = dcId || this.homeDcId;
    if (authKey === undefined) this.keys.delete(dc);
    else this.keys.set(dc, authKey);
    if (this.held.size !== 0) this.held.delete(dc);
    if (this.loading.size !== 0) {
      this.changed(() => {
        if (authKey === undefined) this.keys.delete(dc);
        else this.keys.set(dc, authKey);
      });
    }
    // No DC given and no home DC yet: the key waits in memory (the session's `authKey`,
    // as in GramJS's MemorySession) until setDC names the DC it is stored under.
    if (dc === 0) return;
    this.resync();
    const stored = this.storedKeys.get(dc);
    if (bytes === undefined) {
      // Once loaded, storedKeys knows every stored key: no delete for a key never
      // stored. Before the first load() it knows nothing of the storage: delete anyway.
      if (stored === undefined && this.loaded) return;
      this.storedKeys.delete(dc);
      if (this.loading.size !== 0) this.changed(() => this.storedKeys.delete(dc));
      this.writes.write(`authKeys.delete(${dc})`, () => this.storage.authKeys.delete(dc).catch((error: unknown) => this.missedKey(dc, error)));
      return;
    }
    if (stored !== undefined && sameKey(stored, bytes)) return; // GramJS re-sets the key on every connect
    if (dc !== this.homeDcId && this.exportedSenders !== undefined && this.holdUntilImported(dc, authKey!)) return;
    this.storeKey(dc, bytes, stored);
  }

  /**
   * A key GramJS made for an exported sender (a DC other than the home DC: a file
   * download, an export of the login) is not authorized until `_connectSender` has
   * imported the login there, a round trip or two after the key is set. Stored before
   * that, a process that dies in between leaves a key the next start hands to GramJS,
   * whose MTProtoSender takes any key it is given as authorized and skips the import:
   * the first request on that DC then fails with AUTH_KEY_UNREGISTERED. So the key
   * stays in memory (GramJS's sender has it anyway) until that DC's connect settles,
   * then is stored if it is still the DC's key. Only for an attached client, whose
   * connects the session can see; returns false when no connect of `dc` is under way.
   */
  private holdUntilImported(dc: number, authKey: AuthKey): boolean {
    const connecting = this.exportedSenders?.get(dc);
    if (connecting === undefined || typeof connecting.then !== 'function') return false;
    this.held.set(dc, authKey);
    const release = (): void => {
      if (this.held.get(dc) !== authKey) return; // replaced or removed meanwhile
      this.held.delete(dc);
      const bytes = authKey.getKey();
      const stored = this.storedKeys.get(dc);
      if (this.keys.get(dc) !== authKey || bytes === undefined || (stored !== undefined && sameKey(stored, bytes))) return;
      this.resync();
      this.storeKey(dc, bytes, this.storedKeys.get(dc));
    };
    // A connect that fails for good (the client destroyed) leaves the key unstored: the next start makes a new one.
    connecting.then(release, () => this.held.get(dc) === authKey && this.held.delete(dc));
    return true;
  }

  /** Queues the write of DC `dc`'s key `bytes` over `stored`, the bytes stored before (setAuthKey compared them). */
  private storeKey(dc: number, bytes: Buffer, stored: Uint8Array | undefined): void {
    // The bytes compared next time. storedKeys' arrays are this session's alone (never
    // handed to a write; load() gets fresh copies, contract §9), so the previous one is
    // overwritten in place rather than a new one allocated. The typed-array constructor
    // copies with one memcpy (Uint8Array.from iterates the 256 bytes).
    if (stored !== undefined && stored.length === bytes.length) stored.set(bytes);
    else this.storedKeys.set(dc, new Uint8Array(bytes));
    if (this.loading.size !== 0) {
      const written = new Uint8Array(bytes);
      this.changed(() => this.storedKeys.set(dc, written));
    }
    // On an idle queue the write starts now, inside this call, and the storage copies
    // what it is given at call time (contract §9): GramJS's bytes go as they are, no
    // copy of ours. Behind other writes it starts later: then it gets a copy made now.
    const key = this.writes.idle ? bytes : new Uint8Array(bytes);
    this.writes.write(authKeySetLabel(dc), () => this.storage.authKeys.set(dc, key).catch((error: unknown) => this.missedKey(dc, error)));
  }

  /** The takeout session id (`account.initTakeoutSession`), kept in the snapshot. */
  get takeoutId(): Api.long | undefined {
    return this.takeout === undefined ? undefined : helpers.returnBigInt(this.takeout);
  }

  set takeoutId(value: Api.long | bigint | undefined) {
    const next = value === undefined ? undefined : toBigint(value);
    this.resync();
    // Before the first load() with no snapshot queued, memory says nothing of what is
    // stored: a value equal to memory's may still differ from the storage's.
    if (next === this.takeout && (this.loaded || this.hasSnapshot)) return;
    this.takeout = next;
    if (this.loading.size !== 0) this.changed(() => (this.takeout = next));
    if (!this.hasSnapshot) {
      // update() would reject it with NotFoundError: held (see takeoutHeld).
      this.takeoutHeld = true;
      return;
    }
    this.writes.write('takeoutId', () => this.storage.update({ takeoutId: next ?? null }).catch(this.missedTakeout));
  }

  // endregion
  // region Lifecycle

  /**
   * Reads everything GramJS will ask for synchronously: the snapshot (home DC and its
   * address, keys of every DC, takeout id) and the whole peer cache, page by page.
   * Waits for this session's pending writes first, so it reads them back.
   */
  async load(): Promise<void> {
    this.loadsStarted++;
    // A new start (a connect after close() or a lost lease): outages are retried again.
    this.retryStopped = false;
    const lease = this.lease;
    if (lease !== undefined && this.storage.lease.held === null) {
      this.acquiring ??= this.storage.lease.acquire({ ...lease, owner: { label: 'gramjs', ...lease.owner } }).finally(() => (this.acquiring = undefined));
      await this.acquiring;
    }
    this.forgetEmptied();
    // What an outage kept from the database goes first: the load reads it back.
    this.resync();
    // Changes from here on are not in what the load reads: their writes queue behind it.
    const journal: (() => void)[] = [];
    this.loading.add(journal);
    try {
      await this.writes.run(() => this.read(journal));
    } finally {
      this.loading.delete(journal);
    }
  }

  /** load()'s task: reads the stored state, puts it in place of the state in memory, then makes `journal`'s changes again. */
  private async read(journal: (() => void)[]): Promise<void> {
    const session = await this.storage.load();
    const keys = new Map<number, AuthKey>();
    const storedKeys = new Map<number, Uint8Array>();
    // A snapshot lists every stored key (address-less entries for DCs it has no address
    // of, contract §2). Without one, load() gives no keys, yet keys may be stored before
    // anything else (§3: setAuthKey(key, dc) before any setDC): entries() lists them.
    // Only then, so a connect of a session with a snapshot still costs one read.
    const entries = session === null ? (await this.storage.authKeys.entries()).map((entry) => ({ ...entry, id: entry.dcId })) : session.dcs;
    for (const dc of entries) {
      // authKeys address the main entry of a DC id; media-only keys are not GramJS's.
      if (dc.authKey === undefined || dc.mediaOnly === true) continue;
      const key = new AuthKey();
      await key.setKey(Buffer.from(dc.authKey));
      keys.set(dc.id, key);
      storedKeys.set(dc.id, dc.authKey);
    }
    const peers: Peer[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await this.storage.peers.list({ cursor, limit: LOAD_PAGE });
      peers.push(...page.peers);
      cursor = page.cursor;
    } while (cursor !== null);

    // Everything read: replace the state in one synchronous step. A key that waits
    // for a home DC (setAuthKey before setDC) stays while the stored session has none.
    const waiting = this.keys.get(0);
    const heldTakeout = this.takeout;
    this.keys.clear();
    for (const [dc, key] of keys) this.keys.set(dc, key);
    // Keys waiting for their DC's login import (holdUntilImported) are not stored: still this DC's.
    for (const [dc, key] of this.held) this.keys.set(dc, key);
    this.storedKeys.clear();
    for (const [dc, key] of storedKeys) this.storedKeys.set(dc, key);
    this.peers.clear();
    // GramJS never caches min peers (their access hash cannot be used): neither do we.
    for (const peer of peers) if (peer.min !== true) this.peers.put(peer);
    this.hasSnapshot = session !== null;
    this.loaded = true;
    this.dcs = (session?.dcs ?? []).filter((dc) => dc.port !== undefined).map(withoutKeys);
    this.homeDcId = session?.homeDcId ?? 0;
    const home = this.dcs.find((dc) => dc.id === this.homeDcId && dc.mediaOnly !== true);
    this.address = home === undefined ? undefined : serverAddressOf(home);
    this.portNumber = home?.port;
    if (this.address === undefined && this.homeDcId !== 0) {
      // A home DC stored without its address (a Pyrogram session imported: Pyrogram keeps
      // none; keys written before any address): GramJS, finding no serverAddress, would
      // move the session to its default DC 4 — a DC without the key, so logged out — and
      // store that as the home DC for every client. Telegram's well-known address of the
      // DC instead, in memory only (the stored entry stays as it is).
      const entry = session?.dcs.find((dc) => dc.id === this.homeDcId && dc.mediaOnly !== true);
      const known = wellKnownDcAddress(this.homeDcId, entry?.testMode === true);
      if (known !== undefined) {
        this.address = known.ipv4;
        this.portNumber = known.port;
      }
    }
    this.takeout = session?.takeoutId;
    if (this.takeoutHeld) {
      // Set before any snapshot was known: still waits for one, or is written to the one found.
      this.takeout = heldTakeout;
      if (session !== null) {
        this.takeoutHeld = false;
        this.writes.write('takeoutId', () => this.storage.update({ takeoutId: heldTakeout ?? null }).catch(this.missedTakeout));
      }
    }
    const heldSelf = this.selfHeld ? this.self : undefined;
    this.self = session?.user;
    // Seen before any snapshot was known: the newest word on who is logged in, kept
    // over the stored one (written below, once the journal is replayed).
    if (heldSelf !== undefined) this.self = heldSelf;
    if (waiting !== undefined && this.homeDcId === 0) this.keys.set(0, waiting);
    this.loading.delete(journal);
    for (const redo of journal) redo();
    // A self user still held (a setDC made meanwhile writes it itself): written to the
    // snapshot the load found, under its home DC; without one it stays held.
    if (this.selfHeld && this.hasSnapshot && this.homeDcId !== 0 && this.self !== undefined) {
      const user: SelfUser = { ...this.self, dcId: this.homeDcId };
      this.self = user;
      this.selfHeld = false;
      if (!sameSelf(user, session?.user ?? null)) this.writes.write('update(user)', () => this.storage.update({ user }).catch(this.missedSelf));
    }
  }

  /**
   * Removes the key of every DC whose AuthKey object (handed to a sender by getAuthKey)
   * was emptied in place. GramJS's _switchDC (a login answered with PHONE_MIGRATE /
   * USER_MIGRATE) empties the old home DC's key that way, as "not valid anymore", and
   * never names that DC to the session: the key was made before the login, so it is not
   * authorized, and the next connect's load() read it back from storage, where an
   * exported sender for that DC (a file download) took it as authorized and skipped
   * auth.importAuthorization, failing with AUTH_KEY_UNREGISTERED. Called by save(),
   * which _switchDC calls, and load(), before it reads.
   */
  private forgetEmptied(): void {
    for (const [dc, key] of this.keys) {
      // DC 0 is a key waiting for setDC, never stored: setAuthKey(undefined, 0) would mean the home DC.
      if (dc !== 0 && key.getKey() === undefined) this.setAuthKey(undefined, dc);
    }
  }

  /** Records `redo`, which makes a change just made in memory again, for every load() in flight. */
  private changed(redo: () => void): void {
    for (const journal of this.loading) journal.push(redo);
  }

  /**
   * Resolves once every write made so far is stored (failures went to `onError`).
   * Not `async`: the queue's promise is handed back as it is.
   */
  save(): Promise<void> {
    this.forgetEmptied();
    this.resync();
    return this.writes.settled();
  }

  /**
   * Waits for pending writes and gives the lease back. Never rejects, like save(): a
   * failed release goes to `onError` (the lease then runs out after its TTL). The
   * Storage stays open: it belongs to the caller.
   */
  async close(): Promise<void> {
    // Before the last resync: its writes, refused too, must not start a timer after close().
    this.stopRetries();
    this.resync();
    const acquiring = this.acquiring;
    if (acquiring !== undefined && !waitsForLease(this.lease)) {
      // A load() still taking the lease (destroy() right after connect()): one round trip. Its failure is that load()'s to report.
      await acquiring.catch(() => undefined);
    } else if (acquiring !== undefined) {
      // A load() waiting for another process's lease (the `wait` option) may wait long: close()
      // does not; the lease, once taken, is given back, unless a load() started after this close().
      const loads = this.loadsStarted;
      void acquiring.then(
        () => {
          if (this.loadsStarted === loads && this.storage.lease.held !== null) this.writes.write('lease.release', () => this.storage.lease.release());
        },
        () => undefined,
      );
    }
    if (this.lease !== undefined && this.storage.lease.held !== null) this.writes.write('lease.release', () => this.storage.lease.release());
    await this.writes.settled();
  }

  /**
   * Makes `client.destroy()` also close this session (pending writes, then the lease
   * given back), so a client that stops frees its session for the next process at
   * once instead of after the lease TTL. GramJS 2.26 calls nothing on its session when
   * a client is destroyed (or disconnected), so the session cannot see it by itself;
   * `disconnect()` is left alone, since GramJS also disconnects internally to
   * reconnect (and `connect()` takes the lease again through `load()`). Returns the
   * client: `const client = session.attach(new TelegramClient(session, apiId, apiHash, {}))`.
   */
  attach<C extends DestroyableClient>(client: C): C {
    if (typeof client !== 'object' || client === null || typeof client.destroy !== 'function') {
      throw new TypeError('StorageSession.attach: expected a GramJS TelegramClient');
    }
    if (client.session !== this) throw new TypeError('StorageSession.attach: the client was created with another session');
    const destroy = client.destroy;
    if ((destroy as { [ATTACHED]?: StorageSession })[ATTACHED] === this) return client;
    const senders = (client as { _exportedSenderPromises?: unknown })._exportedSenderPromises;
    if (senders instanceof Map) this.exportedSenders = senders as ExportedSenders;
    const session = this;
    const wrapped = async function (this: C): Promise<void> {
      try {
        await destroy.call(this);
      } finally {
        await session.close();
      }
    };
    Object.defineProperty(wrapped, ATTACHED, { value: this });
    client.destroy = wrapped;
    return client;
  }

  /**
   * Logout: after pending writes, removes everything stored under the session's name
   * (snapshot, keys, peers…) and forgets it in memory. Rejects when the storage fails.
   */
  async delete(): Promise<void> {
    this.cancelRetry();
    this.deleting++;
    try {
      await this.writes.run(() => this.storage.delete());
      this.clearUnsynced();
    } finally {
      this.deleting--;
      // A failed delete leaves the session as it was: what an outage kept from the database is retried again.
      if (this.unsyncedAny) this.retrySoon();
    }
    this.keys.clear();
    this.held.clear();
    this.storedKeys.clear();
    this.peers.clear();
    this.dcs = [];
    this.homeDcId = 0;
    this.address = undefined;
    this.portNumber = undefined;
    this.takeout = undefined;
    this.takeoutHeld = false;
    this.self = undefined;
    this.selfHeld = false;
    this.hasSnapshot = false;
  }

  // endregion
  // region Entities

  /**
   * Caches the users, chats and channels of a TL object or list, as MemorySession
   * does, and writes those that changed. The logged-in user (`self`) also goes to
   * the snapshot's `user`, so other clients opening the session know who it is.
   */
  processEntities(tlo: unknown): void {
    const now = Math.floor(Date.now() / 1000);
    const changed: Peer[] = [];
    for (const entity of entitiesOf(tlo)) {
      // One instanceof per entity: the user path both converts and checks for self.
      let peer: Peer | null;
      if (entity instanceof ApiUser) {
        peer = userToPeer(entity, now, this.completeObjects);
        if (peer === null) continue;
        if (entity.self === true) this.rememberSelf(entity, peer);
      } else {
        peer = otherEntityToPeer(entity, now, this.completeObjects);
        if (peer === null) continue;
      }
      // A peer that lost a username or the phone to this one is written too: this peer may
      // give it up again before the batch is written (the batch keeps each peer's last
      // version), and storage, never seeing the move, would still give the name to it.
      if (this.peers.putChanged(peer, markedKey(peer.type, peer.id), changed)) changed.push(peer);
    }
    this.resync();
    if (changed.length === 0) return;
    if (this.loading.size !== 0) {
      // A copy: later peers may join `changed` as a queued batch (WriteQueue.upsertPeers).
      const cached = changed.slice();
      this.changed(() => cached.forEach((peer) => this.peers.put(peer)));
    }
    this.writes.upsertPeers(changed, this.upsert);
  }

  /**
   * The InputPeer for a cached peer: by marked or bare id (number, bigint, string,
   * big-integer), `+phone`, username or t.me link, Peer object, or display name —
   * MemorySession.getInputEntity's rules. Throws when nothing matches (GramJS then
   * asks Telegram).
   */
  getInputEntity(key: EntityLike): Api.TypeInputPeer {
    let lookup: unknown = key;
    let exact: boolean;
    if (typeof key === 'object' && key !== null && 'SUBCLASS_OF_ID' in key && key.SUBCLASS_OF_ID) {
      if (INPUT_SUBCLASSES.includes(key.SUBCLASS_OF_ID)) return key as Api.TypeInputPeer;
      // MemorySession stops at getInputPeer, which throws for a Peer (PeerUser…): look
      // those up by id instead, as Telethon does.
      if (key.SUBCLASS_OF_ID !== PEER_SUBCLASS) return utils.getInputPeer(key);
      lookup = utils.getPeerId(key);
      exact = true;
    } else if (typeof key === 'object' && key !== null) {
      lookup = utils.getPeerId(key); // a big-integer: an exact (marked) id
      exact = true;
    } else {
      exact = false;
    }
    const text = String(lookup);
    const peer = this.lookup(text, exact);
    if (peer === undefined) throw new Error(`Could not find input entity with key ${text}`);
    return inputPeerOf(peer);
  }

  private lookup(key: string, exact: boolean): Peer | undefined {
    let peer: Peer | undefined;
    const phone = utils.parsePhone(key);
    if (phone !== undefined) {
      peer = this.peers.getByPhone(phone);
    } else {
      const { username, isInvite } = utils.parseUsername(key);
      if (username !== undefined && !isInvite) peer = this.peers.getByUsername(username);
    }
    if (peer === undefined) {
      const id = utils.parseID(key);
      if (id !== undefined) peer = this.getById(toBigint(id), exact);
    }
    return peer ?? this.peers.getByName(key);
  }

  /** An exact id is marked; a bare one may be a user's, a chat's or a channel's (in that order). */
  private getById(id: bigint, exact: boolean): Peer | undefined {
    const exactMatch = this.peers.getByMarkedId(keyOfMarked(id));
    if (exact || exactMatch !== undefined || id <= 0n) return exactMatch;
    return this.peers.getByMarkedId(markedKey('chat', id)) ?? this.peers.getByMarkedId(markedKey('channel', id));
  }

  private rememberSelf(user: Api.User, peer: Peer): void {
    // Without a snapshot the DC id is 0 until setDC (or a load() finding one) names it.
    const held = this.homeDcId === 0 || !this.hasSnapshot;
    const self: SelfUser = { id: peer.id, dcId: held ? 0 : this.homeDcId, bot: user.bot === true, usernames: peer.usernames };
    if (user.premium !== undefined) self.premium = user.premium === true;
    if (this.self !== undefined && this.selfHeld === held && sameSelf(this.self, self)) return;
    this.self = self;
    this.selfHeld = held;
    if (this.loading.size !== 0) {
      this.changed(() => {
        this.self = self;
        this.selfHeld = held;
      });
    }
    if (held) return; // update() cannot create a snapshot from it (see selfHeld)
    this.writes.write('update(user)', () => this.storage.update({ user: self }).catch(this.missedSelf));
  }

  // endregion

  // region Writes the database missed

  /** A peer batch's upsert; on a lost connection its peers are marked for resync. */
  private readonly upsert = (batch: Peer[]): Promise<void> =>
    this.storage.peers.upsert(batch).catch((error: unknown) => {
      if (this.outage(error)) for (const peer of batch) this.unsynced.peers.add(markedKey(peer.type, peer.id));
      throw error;
    });

  /** `upsert` for a background retry: an outage's failure is marked again, not reported (see `quiet`). */
  private readonly quietUpsert = (batch: Peer[]): Promise<void> => this.upsert(batch).catch(this.quiet);

  private missedKey(dc: number, error: unknown): never {
    if (this.outage(error)) {
      this.unsynced.keys.add(dc);
      // Not "stored": the same key set again must be written (resync does it first anyway).
      this.storedKeys.delete(dc);
    }
    throw error;
  }

  private readonly missedDc = (error: unknown): never => this.missed(error, 'dc');
  private readonly missedTakeout = (error: unknown): never => this.missed(error, 'takeout');
  private readonly missedSelf = (error: unknown): never => this.missed(error, 'self');

  private missed(error: unknown, slot: 'dc' | 'takeout' | 'self'): never {
    if (this.outage(error)) this.unsynced[slot] = true;
    throw error;
  }

  /**
   * What every failed write's handler asks first. True for a failure for want of the
   * database: the caller marks its part unsynced, and the background retry is set. A
   * refusal no retry gets past (the lease lost, the storage closed) stops the retry.
   */
  private outage(error: unknown): boolean {
    if (unavailable(error)) {
      this.unsyncedAny = true;
      this.retrySoon();
      return true;
    }
    if (isStorageError(error) && (error.code === 'MTSTORE_LEASE_LOST' || error.code === 'MTSTORE_STORAGE_CLOSED')) this.stopRetries();
    return false;
  }

  /**
   * A background retry's failure for want of the database again: its handler marked it
   * again, and it is not reported. The write's first failure in this outage was, when
   * it was made, and a retry every few seconds for as long as the outage lasts would
   * bury it; any other failure (the lease lost, the storage closed, a refused value) is
   * news and reaches onError.
   */
  private readonly quiet = (error: unknown): void => {
    if (!unavailable(error)) throw error;
  };

  /**
   * Queues, from memory, what writes failed to store for want of the database (see
   * `unsynced`). A write queued here that fails the same way marks its part again.
   * `background`: the timer's retry (`retry`), whose repeated outage failures are quiet.
   */
  private resync(background = false): void {
    if (!this.unsyncedAny) return;
    const { keys, peers, dc, takeout, self } = this.unsynced;
    const dcs = [...keys];
    const marked = [...peers];
    this.clearUnsynced();
    const write = background
      ? (operation: string, task: () => Promise<void>): void => this.writes.write(operation, () => task().catch(this.quiet))
      : (operation: string, task: () => Promise<void>): void => this.writes.write(operation, task);
    if (dc && this.homeDcId !== 0) {
      const id = this.homeDcId;
      const entries = this.dcs.map((entry) => ({ ...entry }));
      write(`setDC(${id})`, () => this.storage.update({ homeDcId: id, dcs: entries }).catch(this.missedDc));
    }
    for (const id of dcs) {
      const bytes = this.keys.get(id)?.getKey();
      if (bytes === undefined) {
        write(`authKeys.delete(${id})`, () => this.storage.authKeys.delete(id).catch((error: unknown) => this.missedKey(id, error)));
      } else {
        const key = new Uint8Array(bytes);
        this.storedKeys.set(id, new Uint8Array(bytes));
        write(authKeySetLabel(id), () => this.storage.authKeys.set(id, key).catch((error: unknown) => this.missedKey(id, error)));
      }
    }
    if (takeout) {
      const next = this.takeout;
      write('takeoutId', () => this.storage.update({ takeoutId: next ?? null }).catch(this.missedTakeout));
    }
    if (self && this.self !== undefined) {
      const user = this.self;
      write('update(user)', () => this.storage.update({ user }).catch(this.missedSelf));
    }
    const cached: Peer[] = [];
    for (const key of marked) {
      const peer = this.peers.getByMarkedId(key);
      if (peer !== undefined) cached.push(peer);
    }
    if (cached.length > 0) this.writes.upsertPeers(cached, background ? this.quietUpsert : this.upsert);
  }

  /**
   * Sets the background retry's timer (core's BackoffTimer: jittered, unref()ed, so it
   * never keeps a process alive; one that exits loses what memory held, as it would have
   * without the timer), unless one is set, a retry is under way (its end sets the next)
   * or retries are stopped.
   */
  private retrySoon(): void {
    if (this.retrying || this.retryStopped) return;
    this.retryTimer.soon();
  }

  /** The timer's round: `resync` (the same writes the next call would queue), then, once they settled, the next round if any is still unsynced. */
  private retry(): void {
    if (!this.unsyncedAny) {
      // A call resynced meanwhile: its writes, refused again, set a new timer.
      this.retryTimer.reset();
      return;
    }
    if (this.loading.size !== 0 || this.deleting !== 0) {
      // A load() resyncs before it reads and a delete() clears: decide after them.
      this.retrySoon();
      return;
    }
    this.retrying = true;
    this.resync(true);
    void this.writes.settled().then(this.retried);
  }

  private readonly retried = (): void => {
    this.retrying = false;
    if (!this.unsyncedAny) this.retryTimer.reset();
    else this.retrySoon();
  };

  private cancelRetry(): void {
    this.retryTimer.cancel();
  }

  private stopRetries(): void {
    this.cancelRetry();
    this.retryStopped = true;
  }

  private clearUnsynced(): void {
    const unsynced = this.unsynced;
    unsynced.keys.clear();
    unsynced.peers.clear();
    unsynced.dc = unsynced.takeout = unsynced.self = false;
    this.unsyncedAny = false;
  }

  // endregion

  /** What util.inspect shows: where the session stands, never key bytes (GramJS's AuthKey objects hold them). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const keys = [...this.keys.keys()].sort((a, b) => a - b);
    return `StorageSession { dcId: ${this.homeDcId}, serverAddress: ${JSON.stringify(this.address)}, port: ${this.portNumber}, authKeys: [DC ${keys.join(', ') || 'none'}], peers: ${this.peers.size} }`;
  }
}

/** `authKeys.set(<dc>)`, built once per DC id of GramJS's range: the label is read only if the write fails. */
const AUTH_KEY_SET_LABELS: string[] = [];
function authKeySetLabel(dc: number): string {
  if (!(dc >= 1 && dc <= 16)) return `authKeys.set(${dc})`;
  return (AUTH_KEY_SET_LABELS[dc] ??= `authKeys.set(${dc})`);
}

/**
 * Whether `bytes` are the stored key's. A loop, not Buffer.compare: a new key differs
 * within its first bytes, and the loop then costs less than the call into C++ does;
 * the same key again (a reconnect) is 256 steps once per connect.
 */
function sameKey(stored: Uint8Array, bytes: Uint8Array): boolean {
  if (stored.length !== bytes.length) return false;
  for (let i = 0; i < stored.length; i++) if (stored[i] !== bytes[i]) return false;
  return true;
}

function sameSelf(a: SelfUser, b: SelfUser | null): boolean {
  if (b === null) return false;
  const au = a.usernames ?? [];
  const bu = b.usernames ?? [];
  return a.id === b.id && a.dcId === b.dcId && a.bot === b.bot && a.premium === b.premium && au.length === bu.length && au.every((u, i) => u === bu[i]);
}

/** Whether acquiring may wait for another holder (the `wait` option), for longer than one round trip. */
function waitsForLease(lease: LeaseAcquireOptions | undefined): boolean {
  const wait = lease?.wait;
  return wait === true || (typeof wait === 'number' && wait > 0);
}

/** A write that failed for want of the database (a lost connection, a server down), not for what it wrote. */
function unavailable(error: unknown): boolean {
  return isStorageError(error) && error.code === 'MTSTORE_STORAGE_UNAVAILABLE';
}
