/** Places of a new table (a power of two); the index has twice as many slots. */
const MIN_CAPACITY = 16;
/**
 * A table shrinks (halves) when at most a quarter full, down to this many places
 * (48 KiB): below it, a burst of sessions created and destroyed together would
 * reallocate the arrays on every burst for little memory.
 */
export const SHRINK_FLOOR = 1024;

/** `expiresAt` of a session that never expires (null outside): `expiresAt > now` holds for every clock. */
export const NEVER = Infinity;

/** A session's four id halves as one table key: (authLo, authHi, sessionLo, sessionHi). */
export type SessionHash = (authLo: number, authHi: number, sessionLo: number, sessionHi: number) => number;

/** Per process: ids a client picks cannot be aimed at one probe chain without knowing it. */
const SEED = (Math.random() * 4_294_967_296) | 0;

/** The halves of two int64s without a BigInt operation: stored as bigints, read as int32s. */
const scratch = new BigInt64Array(2);
const halves = new Int32Array(scratch.buffer);

/** Mixes the four halves (murmur3-style multiply and shift rounds, seeded). */
export const sessionHash: SessionHash = (authLo, authHi, sessionLo, sessionHi) => {
  let h = Math.imul(sessionLo ^ SEED, 0xcc9e2d51);
  h = Math.imul(h ^ (h >>> 15) ^ sessionHi, 0x1b873593);
  h = Math.imul(h ^ (h >>> 13) ^ authLo, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ authHi, 0xc2b2ae35);
  return h ^ (h >>> 16);
};

/**
 * Every server session of a MemoryStore, (authKeyId, sessionId) → [lastUsedAt,
 * expiresAt], in a few typed arrays rather than a Map per auth key (RSS per session:
 * a Map entry, a BigInt key, a 2-element array and a HeapNumber cost ~140 heap bytes a
 * session; a Map per auth key ~200 more each). One table for all auth keys, so an
 * auth key with one session costs no more per session than one with thousands.
 *
 * Sessions sit at dense places 0 … size-1 (a removal moves the last one into the hole):
 * the ids as int32 halves in `ids`, the times in `times`, and each auth key's sessions
 * in a circular doubly linked list (`next`, `prev`; `heads` holds the first one), in
 * the order they were added. `index` is an open-addressing table (linear probing, at
 * most half full) of 1 + place (0: empty); a removal shifts the rest of its probe chain
 * back, so there are no tombstones. About 48 bytes a session, every place included.
 */
export class SessionTable {
  /** Live sessions: places 0 … size-1. */
  size = 0;
  /** Place p: authKeyId's low and high int32 at 4p and 4p+1, sessionId's at 4p+2 and 4p+3. */
  ids = new Int32Array(MIN_CAPACITY * 4);
  /** Place p: lastUsedAt at 2p, expiresAt at 2p+1 (NEVER: none), epoch ms. */
  times = new Float64Array(MIN_CAPACITY * 2);
  /** Place p: the places after and before it in its auth key's list (circular). */
  next = new Int32Array(MIN_CAPACITY);
  prev = new Int32Array(MIN_CAPACITY);
  /** 1 + place, or 0 for an empty slot; twice the places' capacity (a power of two). */
  index = new Int32Array(MIN_CAPACITY * 2);
  /** authKeyId → the place of its first session (bigint keys hash by value). */
  readonly heads = new Map<bigint, number>();

  constructor(
    /** Only tests pass another (colliding on purpose). */
    private readonly hash: SessionHash = sessionHash,
  ) {}

  /** The place of a session, or -1. */
  find(authKeyId: bigint, sessionId: bigint): number {
    scratch[0] = authKeyId;
    scratch[1] = sessionId;
    const a0 = halves[0] as number;
    const a1 = halves[1] as number;
    const s0 = halves[2] as number;
    const s1 = halves[3] as number;
    const { index, ids } = this;
    const mask = index.length - 1;
    for (let i = this.hash(a0, a1, s0, s1) & mask; ; i = (i + 1) & mask) {
      const at = index[i] as number;
      if (at === 0) return -1;
      const k = (at - 1) * 4;
      if (ids[k + 2] === s0 && ids[k + 3] === s1 && ids[k] === a0 && ids[k + 1] === a1) return at - 1;
    }
  }

  lastUsedAt(place: number): number {
    return this.times[place * 2] as number;
  }

  /** NEVER when it does not expire. */
  expiresAt(place: number): number {
    return this.times[place * 2 + 1] as number;
  }

  setTimes(place: number, lastUsedAt: number, expiresAt: number): void {
    this.times[place * 2] = lastUsedAt;
    this.times[place * 2 + 1] = expiresAt;
  }

  authKeyId(place: number): bigint {
    return this.#bigint(place * 4);
  }

  sessionId(place: number): bigint {
    return this.#bigint(place * 4 + 2);
  }

  /** The places of an auth key's sessions, in the order they were added. */
  placesOf(authKeyId: bigint): number[] {
    const places: number[] = [];
    const head = this.heads.get(authKeyId);
    if (head === undefined) return places;
    let place = head;
    do {
      places.push(place);
      place = this.next[place] as number;
    } while (place !== head);
    return places;
  }

  /** Adds a session that is not in the table (find gave -1): returns its place. */
  add(authKeyId: bigint, sessionId: bigint, lastUsedAt: number, expiresAt: number): number {
    if (this.size === this.next.length) this.#resize(this.next.length * 2);
    const place = this.size++;
    scratch[0] = authKeyId;
    scratch[1] = sessionId;
    this.ids.set(halves, place * 4);
    this.setTimes(place, lastUsedAt, expiresAt);
    this.#place(place);
    // Last in the auth key's list: before its head, the list being circular.
    const head = this.heads.get(authKeyId);
    if (head === undefined) {
      this.next[place] = this.prev[place] = place;
      this.heads.set(authKeyId, place);
    } else {
      const tail = this.prev[head] as number;
      this.next[place] = head;
      this.prev[place] = tail;
      this.next[tail] = this.prev[head] = place;
    }
    return place;
  }

  /** Removes the session at `place` (of `authKeyId`): the last session moves into it. */
  remove(authKeyId: bigint, place: number): void {
    const { next, prev } = this;
    const after = next[place] as number;
    if (after === place) this.heads.delete(authKeyId);
    else {
      const before = prev[place] as number;
      next[before] = after;
      prev[after] = before;
      if (this.heads.get(authKeyId) === place) this.heads.set(authKeyId, after);
    }
    this.#unplace(place);
    const last = --this.size;
    if (place !== last) this.#move(last, place);
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator: equivalent: shrinking earlier, later or never changes memory use only
    if (this.size * 4 <= next.length && next.length > SHRINK_FLOOR) this.#resize(next.length / 2);
  }

  /** The int64 whose halves are at ids[k] and ids[k + 1]. */
  #bigint(k: number): bigint {
    halves[0] = this.ids[k] as number;
    halves[1] = this.ids[k + 1] as number;
    return scratch[0] as bigint;
  }

  /** The home slot of the session at `place`. */
  #home(place: number, mask: number): number {
    const ids = this.ids;
    const k = place * 4;
    return this.hash(ids[k] as number, ids[k + 1] as number, ids[k + 2] as number, ids[k + 3] as number) & mask;
  }

  /** Puts `place` into the first free slot of its probe chain. */
  #place(place: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let i = this.#home(place, mask);
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = place + 1;
  }

  /** The slot that holds `place`. */
  #slotOf(place: number): number {
    const index = this.index;
    const mask = index.length - 1;
    let i = this.#home(place, mask);
    while (index[i] !== place + 1) i = (i + 1) & mask;
    return i;
  }

  /**
   * Empties the slot of `place` and shifts back the entries after it in the chain that
   * may sit there (their home is not in the cyclic range (hole, j]), so every probe
   * still reaches its entry before an empty slot.
   */
  #unplace(place: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let hole = this.#slotOf(place);
    for (let j = (hole + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = this.#home((index[j] as number) - 1, mask);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        index[hole] = index[j] as number;
        hole = j;
      }
    }
    index[hole] = 0;
  }

  /** Moves the session at `from` (the last place) to the free place `to`. */
  #move(from: number, to: number): void {
    const { ids, times, next, prev } = this;
    ids.copyWithin(to * 4, from * 4, from * 4 + 4);
    times.copyWithin(to * 2, from * 2, from * 2 + 2);
    const after = next[from] as number;
    if (after === from) next[to] = prev[to] = to;
    else {
      const before = prev[from] as number;
      next[to] = after;
      prev[to] = before;
      next[before] = to;
      prev[after] = to;
    }
    this.index[this.#slotOf(from)] = to + 1;
    const authKeyId = this.authKeyId(to);
    if (this.heads.get(authKeyId) === from) this.heads.set(authKeyId, to);
  }

  /** New arrays of `capacity` places (the sessions fit): copies the places, rebuilds the index. */
  #resize(capacity: number): void {
    const size = this.size;
    const ids = new Int32Array(capacity * 4);
    ids.set(this.ids.subarray(0, size * 4));
    const times = new Float64Array(capacity * 2);
    times.set(this.times.subarray(0, size * 2));
    const next = new Int32Array(capacity);
    next.set(this.next.subarray(0, size));
    const prev = new Int32Array(capacity);
    prev.set(this.prev.subarray(0, size));
    this.ids = ids;
    this.times = times;
    this.next = next;
    this.prev = prev;
    this.index = new Int32Array(capacity * 2);
    for (let place = 0; place < size; place++) this.#place(place);
  }
}
