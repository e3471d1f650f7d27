import { phoneHash, usernameHash } from '@mtstore/core';
import type { IdIndex } from './ids.js';
import { Flag, type StoredPeer } from './store.js';

/**
 * A slot's hash when it holds no name. A const enum: its members are written into the
 * code as literals, where a module's constants are loads from its context on every use
 * (the bundler makes them `var`s), in the probe loops of every insert and lookup.
 */
const enum Free {
  /** A slot nobody used since the last rebuild (a probe stops there). */
  EMPTY = 0,
  /** A slot whose entry was deleted (a probe goes on past it; a rebuild drops it). */
  DELETED = -1,
}
/** Slots of a new or cleared index (a power of two). */
const MIN_SLOTS = 16;

/**
 * The index of a name (a username's lower-cased key, or a phone) to the record that holds it,
 * in less memory than a Map<string, StoredPeer> (RSS per cached peer): open addressing
 * over one Int32Array of two ints a slot, the name's hash and the record's reference
 * (`peerRef`: its type and place in that type's IdIndex), 8 bytes a slot at most 3/4
 * full, against ~37 bytes a Map entry and 12 a slot for a hash beside a pointer. It keeps
 * no key: a slot's name is whichever of its record's names has the slot's hash, and a
 * probe compares the name with the record's own (`holds`), so a username needs no
 * lower-cased copy beside the record's (~32 bytes a peer). Lookups compare the stored
 * hash first: a slot of another name costs no read of its record; the hash and the
 * reference share a cache line.
 *
 * A slot stands for one (record, name) pair; two of a record's names with one hash
 * take two slots holding the same record, either of which answers for both. Correct
 * as long as at most one record holds a name (putPeer moves a name from its owner) and
 * records keep their place in their IdIndex (a peer is never removed alone: clear()
 * empties this index with them).
 */
export abstract class NameIndex {
  /** Slot i: its hash at 2i (EMPTY, DELETED or a name's), its record's peerRef at 2i + 1. */
  slots = new Int32Array(MIN_SLOTS * 2);
  /** Slots not EMPTY (live and DELETED): what the 3/4 bound counts, as probes cross both. */
  used = 0;
  /** Slots holding a record. */
  live = 0;

  constructor(
    /** The records a peerRef points into, by type index (StoredPeer.flags & TYPE_MASK). */
    private readonly peers: readonly IdIndex[],
  ) {}

  /** True when `peer` holds `key`, a name in the index's key form (keyOf; see the subclasses). */
  protected abstract holds(peer: StoredPeer, key: string): boolean;

  /** `name` in the index's key form (a username lower-cased; a phone as it is). */
  protected abstract keyOf(name: string): string;

  /**
   * The index's hash of a name (any case): core's usernameHash or phoneHash, the hashes
   * core hands over as it checks names (PeerRepository.upsert, getByPhone).
   */
  abstract hash(name: string): number;

  /**
   * The record that holds `key` (in the key form: keyOf), if any. `hash`: this.hash(key),
   * given when the caller has it (core hashes a phone lookup's key as it checks it).
   */
  get(key: string, hash = this.hash(key)): StoredPeer | undefined {
    const at = this.#find(key, hash === Free.EMPTY ? 1 : hash);
    return at < 0 ? undefined : this.#record(at);
  }

  /**
   * Points `name` (any case) at the record `ref` (peerRef): returns the record that held
   * it before (the claimer itself when a slot of its answers for the name already: it
   * held it, or a name of its of the same hash has a slot; undefined when none did). The
   * caller then takes the name from that record. `hash`: this.hash(name), given when the
   * caller has it (core's, from checking the batch).
   */
  claim(name: string, ref: number, hash = this.hash(name)): StoredPeer | undefined {
    if (hash === Free.EMPTY) hash = 1;
    // The usual claim, a new name: a probe that meets no slot of its hash (nor a DELETED
    // one) ends at the EMPTY slot the name then takes, probed for once. Kept this small
    // so that TurboFan inlines it into putPeer beside the rest of a peer's insertion (its
    // inlining budget is bytecode size); anything else goes to #claimFrom.
    const slots = this.slots;
    const mask = slots.length - 2;
    let i = (hash << 1) & mask;
    for (let h = slots[i] as number; h !== Free.EMPTY; h = slots[i] as number) {
      if (h === hash || h === Free.DELETED) return this.#claimFrom(name, ref, hash);
      i = (i + 2) & mask;
    }
    // Stryker disable next-line ArithmeticOperator,EqualityOperator: equivalent: rebuilding earlier or later changes memory use only (a full table is rebuilt before a probe could find no EMPTY slot)
    if ((this.used + 1) * 8 > slots.length * 3) return this.#claimFrom(name, ref, hash);
    slots[i] = hash;
    slots[i + 1] = ref;
    this.used++;
    this.live++;
    return undefined;
  }

  /** claim() past its usual case: the probe met a slot of the name's hash or a DELETED one, or the table is due for a rebuild. */
  #claimFrom(name: string, ref: number, hash: number): StoredPeer | undefined {
    // The key form only once a slot's hash matches.
    let key: string | undefined;
    // The slot of another record holding `name` comes first: a slot of the claimer may
    // answer for it already (its name of the same hash), and the owner then still holds it.
    const slots = this.slots;
    const mask = slots.length - 2;
    let self = false;
    for (let i = (hash << 1) & mask; slots[i] !== Free.EMPTY; i = (i + 2) & mask) {
      if (slots[i] !== hash) continue;
      const record = this.#record(i);
      if (!this.holds(record, (key ??= this.keyOf(name)))) continue;
      if (slots[i + 1] === ref) self = true;
      else {
        slots[i + 1] = ref;
        return record;
      }
    }
    if (self) return this.#of(ref);
    this.#insert(hash, ref);
    return undefined;
  }

  /**
   * Makes sure the record `ref` answers for `name` (any case), which it holds, taking no
   * slot from another record: for an owner that lost a name whose slot may have answered
   * for another of its names (one hash). A claimer whose names are set before it claims
   * them (putPeer) may hold that name too: it takes it with its own claim after.
   */
  keep(name: string, ref: number): void {
    const hash = this.hash(name);
    const key = this.keyOf(name);
    const slots = this.slots;
    const mask = slots.length - 2;
    for (let i = (hash << 1) & mask; slots[i] !== Free.EMPTY; i = (i + 2) & mask) {
      if (slots[i] === hash && slots[i + 1] === ref && this.holds(this.#of(ref), key)) return;
    }
    this.#insert(hash, ref);
  }

  /** A new slot of `hash` pointing at `ref`. */
  #insert(hash: number, ref: number): void {
    // Stryker disable next-line ArithmeticOperator,EqualityOperator: equivalent: rebuilding earlier or later changes memory use only (a full table is rebuilt before a probe could find no EMPTY slot)
    if ((this.used + 1) * 8 > this.slots.length * 3) this.#rebuild();
    const slots = this.slots;
    const mask = slots.length - 2;
    let i = (hash << 1) & mask;
    // Into the first slot not live (a DELETED one is reused: `used` counts it already).
    while (slots[i] !== Free.EMPTY && slots[i] !== Free.DELETED) i = (i + 2) & mask;
    if (slots[i] === Free.EMPTY) this.used++;
    slots[i] = hash;
    slots[i + 1] = ref;
    this.live++;
  }

  /** Drops the slot of `key` (in the key form: keyOf), whichever record holds it. */
  delete(key: string): void {
    const at = this.#find(key, this.hash(key));
    if (at < 0) return;
    this.slots[at] = Free.DELETED;
    this.slots[at + 1] = 0;
    this.live--;
  }

  clear(): void {
    this.slots = new Int32Array(MIN_SLOTS * 2);
    this.used = 0;
    this.live = 0;
  }

  /** The record of the slot at `at` (its hash's index in `slots`). */
  #record(at: number): StoredPeer {
    return this.#of(this.slots[at + 1] as number);
  }

  /** The record of a peerRef. */
  #of(ref: number): StoredPeer {
    return (this.peers[ref & Flag.TYPE_MASK] as IdIndex).records[ref >>> 2] as StoredPeer;
  }

  /** The index in `slots` of the slot whose record holds `name`, or -1. */
  #find(name: string, hash: number): number {
    const slots = this.slots;
    const mask = slots.length - 2;
    let i = (hash << 1) & mask;
    for (;;) {
      const h = slots[i] as number;
      if (h === Free.EMPTY) return -1;
      if (h === hash && this.holds(this.#record(i), name)) return i;
      i = (i + 2) & mask;
    }
  }

  /**
   * Re-inserts the live slots (dropping DELETED ones) into a table where they fill at
   * most half: twice the size when they would fill more, else the same size.
   */
  #rebuild(): void {
    const old = this.slots;
    let size = old.length >> 1;
    // Stryker disable next-line EqualityOperator,ArithmeticOperator: equivalent: a larger table changes memory use only
    while ((this.live + 1) * 2 > size) size *= 2;
    const slots = new Int32Array(size * 2);
    const mask = slots.length - 2;
    // Over every slot of the old table: one compare a slot. A live hash is positive
    // (slotHash: core's 31 bits, never EMPTY); EMPTY (0) and DELETED (-1) are not.
    for (let k = 0; k < old.length; k += 2) {
      const hash = old[k] as number;
      if (hash <= 0) continue;
      let i = (hash << 1) & mask;
      while (slots[i] !== Free.EMPTY) i = (i + 2) & mask;
      slots[i] = hash;
      slots[i + 1] = old[k + 1] as number;
    }
    this.slots = slots;
    this.used = this.live;
  }
}

/** A record's reference in a NameIndex: its place in its type's IdIndex and its type index. */
export function peerRef(place: number, typeIndex: number): number {
  return (place << 2) | typeIndex;
}

/**
 * Usernames, compared as core compares them (usernameKey): the key form is lower-cased
 * (core lower-cases lookups), the hash core's usernameHash, which folds case.
 */
export class UsernameIndex extends NameIndex {
  protected holds(peer: StoredPeer, key: string): boolean {
    const u = peer.usernames;
    if ((peer.flags & Flag.MANY_USERNAMES) === 0) return u !== undefined && sameName(u as string, key);
    for (const username of u as readonly string[]) if (sameName(username, key)) return true;
    return false;
  }

  protected keyOf(name: string): string {
    return name.toLowerCase();
  }

  hash(name: string): number {
    return slotHash(usernameHash(name));
  }
}

/** Phones, compared exactly; hashed by core's phoneHash. */
export class PhoneIndex extends NameIndex {
  protected holds(peer: StoredPeer, key: string): boolean {
    return peer.phone === key;
  }

  protected keyOf(name: string): string {
    return name;
  }

  hash(name: string): number {
    return slotHash(phoneHash(name));
  }
}

/** A valid name's hash (core's: 31 bits, never -1) as a slot's: never EMPTY or DELETED. */
function slotHash(hash: number): number {
  return hash === Free.EMPTY ? 1 : hash;
}

/**
 * True when a stored username is `key` (lower-cased: usernameKey) in any case. Not a
 * char loop: charCodeAt costs ~30 instructions a char in optimized code here (Node 20),
 * where toLowerCase and a string compare are native (callgrind: ~250 instructions for an
 * 11-char name that differs in case, against ~650 for the loop over both names).
 */
function sameName(stored: string, key: string): boolean {
  return stored === key || (stored.length === key.length && stored.toLowerCase() === key);
}
