/**
 * CachedSessionStorage: `hasSession` answered from process memory, kept correct
 * across nodes by the event bus (docs/contract.md §7.2).
 *
 * What it caches: only "yes" answers, each with the session's expiry when it has one.
 * A "no" is never cached: no bus promises to deliver `created` events (delivery is
 * at-most-once), so a cached "no" could outlive the session's creation on another node
 * for ever; a "yes" is safe because every way a session stops existing reaches the
 * cache — a `destroyed` event (from any node, expired or explicit) evicts it, its
 * expiry time passes, or the bus says its subscription was lost or is live again, which
 * drops everything.
 *
 * Why a dropped subscription drops the whole cache: while the bus was away, a
 * `destroyed` event may have been missed, and nothing says which. On `lost` the cache
 * empties and stops caching (every call reaches storage); on `live` it empties again
 * (a read that was in flight across the gap must not land) and resumes. The cache can
 * be no faster than the bus at noticing a dead connection: a silently dead TCP link is
 * noticed by the bus's keep-alive, and until then the bus — and so the cache — does not
 * know it is deaf (each adapter's README says how fast its bus notices).
 *
 * Races: a storage read that started before an eviction must not put back what the
 * eviction removed. Every eviction bumps a generation number; a read inserts its answer
 * if the generation is unchanged since it started, or else if neither its session nor
 * its auth key was evicted since (and the cache was not dropped): evictions are noted
 * by session id and by key while reads are under way. Giving up on any eviction at all
 * stopped the cache filling on a busy server, where other sessions are evicted all the
 * time (destroys, touches, a sweep announcing thousands a second).
 *
 * Memory: bounded by `maxEntries`, approximately LRU with two generations of maps keyed
 * by session id — a hit in the young map costs one Map lookup and no reordering; a hit in the old map
 * moves the entry to the young one; when the young map is full the old one is dropped.
 */
import { BaseSessionStorage } from './base.js';
import { InvalidArgumentError, StorageClosedError } from './errors.js';
import type {
  ExpiredSession,
  SessionEvent,
  SessionEventBus,
  SessionEventBusState,
  SessionInfo,
  SessionStorageProtocol,
} from './model.js';
import { assertKnownOptions, assertTimerMs, describeValue, INT64_MAX, INT64_MIN, optionNames } from './validate.js';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

export interface CachedSessionStorageOptions {
  /**
   * The bus every node's SessionSubject publishes on: its `destroyed` events evict, its
   * state changes drop the cache. Required — without one this node cannot hear other
   * nodes' destroys. The cache subscribes; it never closes the bus.
   */
  bus: SessionEventBus;
  /** Most sessions kept. Default 100,000 (about 15 MB). */
  maxEntries?: number | undefined;
  /** The wall clock, epoch ms, to compare cached expiries with: give the storage's. Default `Date.now`. */
  clock?: (() => number) | undefined;
  /** Told when subscribing failed (it retries every `resubscribeDelay` ms). Default: console.error. */
  onBusError?: ((error: unknown) => void) | undefined;
  /** Wait before trying to subscribe again after a failure, ms. Default 1,000. */
  resubscribeDelay?: number | undefined;
}

/** Every option of CachedSessionStorage's constructor: any other name is refused. */
const CACHE_OPTIONS = optionNames<CachedSessionStorageOptions>()(['bus', 'maxEntries', 'clock', 'onBusError', 'resubscribeDelay']);

/** Counters since the cache was made (cheap increments; read them for metrics). */
export interface CachedSessionStorageStats {
  /** `hasSession` answered from memory. */
  hits: number;
  /** `hasSession` that went to storage. */
  misses: number;
  /** Sessions in memory now. */
  entries: number;
  /** Entries evicted because their session changed: `destroyed` events, local destroys, touches (`touchSession`) and `expireSessions`. */
  evictions: number;
  /**
   * Entries dropped to stay within `maxEntries`: when the young generation is full, the
   * old one (the entries least recently used, about half of maxEntries) goes at once.
   * Growing fast while the hit rate falls: maxEntries is smaller than the sessions in use.
   */
  capacityEvictions: number;
  /** Whole-cache drops: the bus said `lost` or `live`. */
  resets: number;
  /** True while the bus subscription is live (only then does the cache fill). */
  live: boolean;
}

/**
 * One cached session: its auth key and expiry deadline (epoch ms, Infinity for none).
 * Generations are keyed by session id alone, so a hit or a miss costs one Map lookup
 * (bigint keys are hashed anew on every lookup, ~250 instructions each on Node 20); the
 * rare sessions of other auth keys with the same id hang off `next`.
 */
interface Entry {
  readonly authKeyId: bigint;
  deadline: number;
  next: Entry | undefined;
}

type Generation = Map<bigint, Entry>;

/** The entry of `authKeyId` in a chain, or undefined. */
function find(entry: Entry | undefined, authKeyId: bigint): Entry | undefined {
  while (entry !== undefined && entry.authKeyId !== authKeyId) entry = entry.next;
  return entry;
}

/** Takes the entry of (authKeyId, sessionId) out of `generation`; true when there was one. */
function remove(generation: Generation, authKeyId: bigint, sessionId: bigint): boolean {
  const head = generation.get(sessionId);
  if (head === undefined) return false;
  if (head.authKeyId === authKeyId) {
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: the id is left mapped to undefined, read as absent everywhere (sizes are counted apart); memory only until the generation goes. Its `true` (the rest of the chain dropped) goes with it: cache-edges' three-key test kills it
    if (head.next === undefined) generation.delete(sessionId);
    else generation.set(sessionId, head.next);
    return true;
  }
  for (let previous = head, entry = head.next; entry !== undefined; previous = entry, entry = entry.next) {
    if (entry.authKeyId === authKeyId) {
      previous.next = entry.next;
      return true;
    }
  }
  return false;
}

/** Takes every entry of `authKeyId` out of `generation`; how many there were. */
function removeKey(generation: Generation, authKeyId: bigint): number {
  let removed = 0;
  // Deleting or replacing the entry being visited is allowed while iterating a Map.
  for (const sessionId of generation.keys()) {
    while (remove(generation, authKeyId, sessionId)) removed++;
  }
  return removed;
}

/** Notes `id` evicted at `generation`, moved to the end so the map stays in generation order. */
function note(evicted: Map<bigint, number>, id: bigint, generation: number): void {
  evicted.delete(id);
  evicted.set(id, generation);
}

/** Forgets evictions no read under way started before (the oldest read started at `oldest`). */
// Stryker disable next-line BlockStatement: equivalent: notes kept longer are memory only; a read compares only notes newer than its own start
function prune(evicted: Map<bigint, number>, oldest: number): void {
  // Stryker disable next-line BlockStatement: equivalent, as above
  for (const [id, generation] of evicted) {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent where it stops at once (`true`: memory only) or also drops notes made at `oldest` (`>=`: a read that started at a generation ignores notes of that generation); its `false` and `<=` go with them: cache-edges' two-read test kills both
    if (generation > oldest) return;
    evicted.delete(id);
  }
}

/** One resolved promise for every hit (and every synchronous no): no allocation on the hot path. */
const YES: Promise<boolean> = Promise.resolve(true);
const NO: Promise<boolean> = Promise.resolve(false);
const DEFAULT_MAX_ENTRIES = 100_000;
const NO_INFO: SessionInfo = Object.freeze({ lastUsedAt: null, expiresAt: null });

function isInt64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

export class CachedSessionStorage implements SessionStorageProtocol {
  readonly #storage: SessionStorageProtocol;
  /** A BaseSessionStorage: it may answer a miss without a promise (memory, SQLite; BaseSessionStorage.sessionExistsNow). */
  readonly #answersNow: boolean;
  readonly #bus: SessionEventBus;
  readonly #clock: () => number;
  readonly #half: number;
  readonly #onBusError: (error: unknown) => void;
  readonly #resubscribeDelay: number;
  #young: Generation = new Map();
  #old: Generation = new Map();
  #youngSize = 0;
  #oldSize = 0;
  /** Bumped by every eviction and drop: a read that started before it inserts only if #untouched says so. */
  #generation = 0;
  /** The generation the last drop made: a read that started before it never inserts. */
  #droppedAt = 0;
  /** Reads under way by the generation they started at (insertion order is generation order). */
  readonly #reads = new Map<number, number>();
  /** While reads are under way: the generation of each session id's latest eviction, oldest first. */
  readonly #evictedIds = new Map<bigint, number>();
  /** The same for destroyAllSessions' evictions of whole auth keys. */
  readonly #evictedKeys = new Map<bigint, number>();
  #live = false;
  /** The subscription being made said `lost` and not `live` since: it must not go live when subscribe resolves. */
  // Stryker disable next-line BooleanLiteral: equivalent: #subscribe() sets it before anything reads it
  #lost = false;
  #ready: Promise<void>;
  #unsubscribe: (() => Promise<void>) | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #capacityEvictions = 0;
  #resets = 0;

  constructor(storage: SessionStorageProtocol, options: CachedSessionStorageOptions) {
    if (typeof storage?.hasSession !== 'function' || typeof storage.destroyAllSessions !== 'function') {
      throw new InvalidArgumentError('CachedSessionStorage: storage must implement SessionStorageProtocol');
    }
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`CachedSessionStorage: options must be an object, got ${describeValue(options)}`);
    // A misspelt option was ignored: `{ maxEntires }` kept the default size.
    assertKnownOptions(options, CACHE_OPTIONS, 'CachedSessionStorage');
    const { bus, maxEntries = DEFAULT_MAX_ENTRIES, clock = Date.now, onBusError, resubscribeDelay = 1_000 } = options;
    if (typeof bus?.subscribe !== 'function') throw new InvalidArgumentError('CachedSessionStorage: options.bus must be a SessionEventBus');
    // Number.isInteger converts nothing: false for every non-number.
    if (!Number.isInteger(maxEntries) || maxEntries < 2 || maxEntries > 100_000_000) {
      throw new InvalidArgumentError(`CachedSessionStorage: maxEntries must be an integer from 2 to 100000000, got ${describeValue(maxEntries)}`);
    }
    if (typeof clock !== 'function') throw new InvalidArgumentError('CachedSessionStorage: clock must be a function returning epoch ms');
    if (onBusError !== undefined && typeof onBusError !== 'function') throw new InvalidArgumentError('CachedSessionStorage: onBusError must be a function');
    assertTimerMs(resubscribeDelay, 'CachedSessionStorage: resubscribeDelay');
    this.#storage = storage;
    this.#answersNow = storage instanceof BaseSessionStorage;
    this.#bus = bus;
    this.#clock = clock;
    this.#half = Math.ceil(maxEntries / 2);
    this.#resubscribeDelay = resubscribeDelay;
    this.#onBusError = onBusError ?? ((error) => console.error('CachedSessionStorage: subscribing to the event bus failed; serving from storage and retrying', error));
    this.#ready = this.#subscribe();
    this.#ready.catch(() => undefined);
  }

  /** Resolves once the bus subscription is live (the cache fills from then on); rejects if the first attempt failed (it keeps retrying). */
  ready(): Promise<void> {
    return this.#ready;
  }

  stats(): CachedSessionStorageStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#youngSize + this.#oldSize, evictions: this.#evictions, capacityEvictions: this.#capacityEvictions, resets: this.#resets, live: this.#live };
  }

  async #subscribe(): Promise<void> {
    this.#lost = false;
    try {
      const unsubscribe = await this.#bus.subscribe((event) => this.#onEvent(event), { onState: (state) => this.#onState(state) });
      if (this.#closing) {
        await unsubscribe();
        return;
      }
      this.#unsubscribe = unsubscribe;
      this.#drop();
      // A bus may report `lost` before subscribe() resolves (its connection dropped just
      // after the subscription was made): the cache then waits for `live`, as after any lost.
      this.#live = !this.#lost;
    } catch (error) {
      if (this.#closing) return;
      try {
        this.#onBusError(error);
      } catch {
        // A failing hook must not stop the retries.
      }
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: close() clears this timer before it can run
        if (!this.#closing) this.#ready = this.#subscribe();
      }, this.#resubscribeDelay);
      this.#retry.unref();
      throw error;
    }
  }

  #onState(state: SessionEventBusState): void {
    // Both ways the whole cache goes: on `lost` because destroys may be missed from now
    // on, on `live` because some were (and a read in flight across the gap must not land).
    this.#drop();
    this.#resets++;
    this.#lost = state === 'lost';
    this.#live = state === 'live' && !this.#closing;
  }

  #onEvent(event: SessionEvent): void {
    if (event.type === 'destroyed') this.#evict(event.authKeyId, event.sessionId);
  }

  #drop(): void {
    this.#droppedAt = ++this.#generation;
    this.#evictedIds.clear();
    this.#evictedKeys.clear();
    this.#young = new Map();
    this.#old = new Map();
    this.#youngSize = 0;
    this.#oldSize = 0;
  }

  #evict(authKeyId: bigint, sessionId: bigint): void {
    this.#generation++;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent where it notes with no read under way (`true`, `>=`): memory only, cleared when the next read ends; its `false` and `<=` go with them: cache-edges' read-under-way test kills both
    if (this.#reads.size > 0) note(this.#evictedIds, sessionId, this.#generation);
    if (remove(this.#young, authKeyId, sessionId)) {
      this.#youngSize--;
      this.#evictions++;
    }
    if (remove(this.#old, authKeyId, sessionId)) {
      this.#oldSize--;
      this.#evictions++;
    }
  }

  /** Every session of a key: a scan of both generations (destroyAllSessions is rare next to hasSession). */
  #evictKey(authKeyId: bigint): void {
    this.#generation++;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, as in #evict
    if (this.#reads.size > 0) note(this.#evictedKeys, authKeyId, this.#generation);
    const young = removeKey(this.#young, authKeyId);
    const old = removeKey(this.#old, authKeyId);
    this.#youngSize -= young;
    this.#oldSize -= old;
    this.#evictions += young + old;
  }

  #insert(authKeyId: bigint, sessionId: bigint, deadline: number): void {
    if (this.#youngSize >= this.#half) {
      // The young generation is full: it becomes the old one; the old one is forgotten.
      this.#capacityEvictions += this.#oldSize;
      this.#old = this.#young;
      this.#oldSize = this.#youngSize;
      this.#young = new Map();
      this.#youngSize = 0;
    }
    const head = this.#young.get(sessionId);
    const entry = find(head, authKeyId);
    if (entry !== undefined) {
      entry.deadline = deadline;
      return;
    }
    this.#young.set(sessionId, { authKeyId, deadline, next: head });
    this.#youngSize++;
  }

  /** The per-message hot path: a hit is one Map lookup and a shared resolved promise. */
  hasSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: close() emptied both generations and nothing inserts after it; its `false` goes with it (killed: no hit at all)
    if (this.#closing === undefined) {
      let entry = this.#young.get(sessionId);
      if (entry !== undefined && entry.authKeyId !== authKeyId) entry = find(entry.next, authKeyId);
      if (entry !== undefined) {
        const deadline = entry.deadline;
        // Stryker disable next-line ConditionalExpression: equivalent where `deadline === Infinity` becomes false: Infinity > clock() too, the test only spares the clock call; the whole test's true / false go with it (killed by cache-edges' expiry tests)
        if (deadline === Infinity || deadline > this.#clock()) {
          this.#hits++;
          return YES;
        }
      } else {
        const promoted = this.#promote(authKeyId, sessionId);
        if (promoted) return YES;
      }
    }
    return this.#miss(authKeyId, sessionId);
  }

  /** A hit in the old generation moves to the young one. */
  #promote(authKeyId: bigint, sessionId: bigint): boolean {
    // Until the cache first fills half of maxEntries there is no old generation: a miss
    // then skips its lookup (bigint keys are hashed anew by every Map lookup).
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: a lookup in the empty old generation finds nothing, the test only spares it; its `true` goes with it (killed: no old-generation hit)
    if (this.#oldSize === 0) return false;
    const entry = find(this.#old.get(sessionId), authKeyId);
    if (entry === undefined) return false;
    const deadline = entry.deadline;
    // Stryker disable next-line ConditionalExpression: equivalent where `deadline === Infinity` becomes false, as in hasSession
    if (!(deadline === Infinity || deadline > this.#clock())) return false;
    remove(this.#old, authKeyId, sessionId);
    this.#oldSize--;
    this.#insert(authKeyId, sessionId, deadline);
    this.#hits++;
    return true;
  }

  /**
   * A miss asks storage's `hasSession` — the same single lookup an uncached server makes,
   * so a "no" costs what it costs without the cache. Only a "yes" reads the session's
   * expiry (`sessionInfo`) to cache it with: once per session per cache lifetime. A
   * storage that answers synchronously (memory, SQLite) is asked for both at once.
   */
  #miss(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) return Promise.reject(this.#closedError('hasSession'));
    this.#misses++;
    if (this.#answersNow) {
      // Read and cached in one synchronous step: no eviction can come in between.
      const until = BaseSessionStorage.sessionExistsNow(this.#storage as BaseSessionStorage, authKeyId, sessionId);
      if (until === false) return NO;
      if (until !== undefined) {
        if (this.#live) this.#insert(authKeyId, sessionId, until);
        return YES;
      }
      // Closed or invalid ids: hasSession rejects them.
    }
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: a read made while not live goes through #fill, which inserts only while live (and not across a drop); its `true` goes with it (killed: nothing cached)
    if (!this.#live) return this.#storage.hasSession(authKeyId, sessionId);
    const generation = this.#generation;
    this.#reads.set(generation, (this.#reads.get(generation) ?? 0) + 1);
    // Invalid ids are not checked here: storage rejects them (naming hasSession) and the
    // rejection passes through; #fill checks them again before caching anything.
    return this.#storage.hasSession(authKeyId, sessionId).then(
      // Stryker disable next-line ArrowFunction: equivalent where #readDone is skipped: the reads never empty, so notes are kept for ever: memory only, never an answer (a read compares only notes newer than its start); the other arrow's mutant goes with it (killed)
      (has) => (has ? this.#fill(authKeyId, sessionId, generation).finally(() => this.#readDone(generation)) : (this.#readDone(generation), false)),
      (error: unknown) => {
        this.#readDone(generation);
        throw error;
      },
    );
  }

  /** A read that started at `generation` ended: what no read under way needs any more is forgotten. */
  // Stryker disable next-line BlockStatement: equivalent, as the skipped #readDone above: memory only
  #readDone(generation: number): void {
    // Stryker disable next-line ArithmeticOperator: equivalent: `+ 1` never forgets the generation: memory only, as above
    const left = (this.#reads.get(generation) ?? 1) - 1;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent where the generation is never forgotten (`true`, `>=`): memory only; its `false` and `<=` go with them: cache-edges' two-read test kills both
    if (left > 0) this.#reads.set(generation, left);
    else this.#reads.delete(generation);
    const oldest = this.#reads.keys().next();
    // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent where it becomes false or empty: prune() with no oldest read drops every note, as clear() does; its `true` goes with them: cache-edges' two-read test kills it
    if (oldest.done) {
      this.#evictedIds.clear();
      this.#evictedKeys.clear();
      return;
    }
    prune(this.#evictedIds, oldest.value);
    prune(this.#evictedKeys, oldest.value);
  }

  /** Nothing a read that started at `generation` must not cache happened since. */
  #untouched(authKeyId: bigint, sessionId: bigint, generation: number): boolean {
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: with no eviction since the read began no note is newer than it; its `true` goes with it (killed by cache-edges' read tests)
    if (generation === this.#generation) return true;
    if (generation < this.#droppedAt) return false;
    return !((this.#evictedIds.get(sessionId) ?? 0) > generation || (this.#evictedKeys.get(authKeyId) ?? 0) > generation);
  }

  /**
   * Caches a session storage said exists, unless an eviction happened since the read
   * began or the ids are not valid ones, and answers true. Done before answering, so
   * the next call is a hit.
   */
  async #fill(authKeyId: bigint, sessionId: bigint, generation: number): Promise<true> {
    // A storage outside the contract might say yes to invalid ids: such an answer is passed on, never cached.
    if (!isInt64(authKeyId) || !isInt64(sessionId)) return true;
    let deadline = Infinity;
    if (typeof this.#storage.sessionInfo === 'function') {
      let info: SessionInfo | null;
      try {
        info = await this.#storage.sessionInfo(authKeyId, sessionId);
      } catch {
        return true; // hasSession answered; the expiry read is only for caching
      }
      // Gone between the two reads (destroyed or expired): hasSession's answer stands, uncached.
      if (info === null) return true;
      deadline = info.expiresAt ?? Infinity;
    }
    if (this.#live && this.#untouched(authKeyId, sessionId, generation) && !this.#closing) this.#insert(authKeyId, sessionId, deadline);
    return true;
  }

  /** Not cached on the way in: the next `hasSession` reads the session's expiry with it. */
  createSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) return Promise.reject(this.#closedError('createSession'));
    return this.#storage.createSession(authKeyId, sessionId);
  }

  async destroySession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) throw this.#closedError('destroySession');
    // Evicted before (no hit while the delete runs) and after (no read in flight lands).
    this.#evict(authKeyId, sessionId);
    try {
      return await this.#storage.destroySession(authKeyId, sessionId);
    } finally {
      this.#evict(authKeyId, sessionId);
    }
  }

  listSessions(authKeyId: bigint): Promise<bigint[]> {
    if (this.#closing) return Promise.reject(this.#closedError('listSessions'));
    return this.#storage.listSessions(authKeyId);
  }

  async destroyAllSessions(authKeyId: bigint): Promise<bigint[]> {
    if (this.#closing) throw this.#closedError('destroyAllSessions');
    // Stryker disable next-line ConditionalExpression: equivalent: evicting an invalid key finds nothing (storage refuses it); not evicting before the delete lets a hit answer yes while it runs, as storage itself would before the delete lands
    if (isInt64(authKeyId)) this.#evictKey(authKeyId);
    try {
      return await this.#storage.destroyAllSessions(authKeyId);
    } finally {
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: an invalid key finds nothing; its `false` goes with it: cache-edges' destroy-while-reading test kills it
      if (isInt64(authKeyId)) this.#evictKey(authKeyId);
    }
  }

  /**
   * The storage's `touchSession`. The cached entry is evicted (the next `hasSession`
   * reads the new expiry): a touch is rare next to `hasSession` — once per connection
   * per interval, not per message.
   */
  async touchSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    if (this.#closing) throw this.#closedError('touchSession');
    if (typeof this.#storage.touchSession !== 'function') return this.#storage.hasSession(authKeyId, sessionId);
    try {
      return await this.#storage.touchSession(authKeyId, sessionId);
    } finally {
      // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent where it evicts for invalid ids too (`true`, `||`): it finds nothing; its `false` goes with them: cache-edges' touch test kills it
      if (isInt64(authKeyId) && isInt64(sessionId)) this.#evict(authKeyId, sessionId);
    }
  }

  sessionInfo(authKeyId: bigint, sessionId: bigint): Promise<SessionInfo | null> {
    if (this.#closing) return Promise.reject(this.#closedError('sessionInfo'));
    if (typeof this.#storage.sessionInfo !== 'function') {
      return this.#storage.hasSession(authKeyId, sessionId).then((has) => (has ? { ...NO_INFO } : null));
    }
    return this.#storage.sessionInfo(authKeyId, sessionId);
  }

  /** The storage's `expireSessions`; what it removed is evicted here at once. */
  async expireSessions(limit?: number): Promise<ExpiredSession[]> {
    if (this.#closing) throw this.#closedError('expireSessions');
    if (typeof this.#storage.expireSessions !== 'function') return [];
    const removed = await this.#storage.expireSessions(limit);
    for (const s of removed) this.#evict(s.authKeyId, s.sessionId);
    return removed;
  }

  /**
   * Unsubscribes and forgets every entry. Closes neither the storage nor the bus:
   * whoever created them closes them. Later calls reject with StorageClosedError.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#retry);
      this.#live = false;
      this.#drop();
      await this.#ready.catch(() => undefined);
      const unsubscribe = this.#unsubscribe;
      this.#unsubscribe = undefined;
      await unsubscribe?.();
    })();
    return this.#closing;
  }

  #closedError(operation: string): StorageClosedError {
    return new StorageClosedError(`CachedSessionStorage.${operation}: the cache is closed`);
  }

  [INSPECT](): string {
    const s = this.stats();
    return `CachedSessionStorage { entries: ${s.entries}, live: ${s.live}, hits: ${s.hits}, misses: ${s.misses}, closed: ${this.#closing !== undefined} }`;
  }
}
