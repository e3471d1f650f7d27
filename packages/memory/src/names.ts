import { MANY_USERNAMES, type StoredPeer } from './store.js';

/** #hashes: a slot nobody used since the last rebuild (a probe stops there). */
const EMPTY = 0;
/** #hashes: a slot whose entry was deleted (a probe goes on past it; a rebuild drops it). */
const DELETED = -1;
/** Slots of a new or cleared index (a power of two). */
const MIN_SLOTS = 16;

/**
 * The index of a name (a username's lower-cased key, or a phone) to the record that holds it,
 * in less memory than a Map<string, StoredPeer> (RSS per cached peer): open addressing
 * over two arrays, the name's hash (an Int32Array, 4 bytes a slot) and the record (8),
 * at most 3/4 full, against ~37 bytes a Map entry. It keeps no key: a slot's name is
 * whichever of its record's names has the slot's hash, and a probe compares the name
 * with the record's own (`holds`), so a username needs no lower-cased copy beside the
 * record's (~32 bytes a peer). Lookups compare the stored hash first: a slot of another
 * name costs no read of its record.
 *
 * A slot stands for one (record, name) pair; two of a record's names with one hash
 * take two slots holding the same record, either of which answers for both. Correct
 * as long as at most one record holds a name (putPeer moves a name from its owner).
 */
abstract class NameIndex {
  hashes = new Int32Array(MIN_SLOTS);
  records: (StoredPeer | undefined)[] = new Array<StoredPeer | undefined>(MIN_SLOTS).fill(undefined);
  /** Slots not EMPTY (live and DELETED): what the 3/4 bound counts, as probes cross both. */
  used = 0;
  /** Slots holding a record. */
  live = 0;

  /** True when `peer` holds `name` (see the subclasses). */
  protected abstract holds(peer: StoredPeer, name: string): boolean;

  /** The record that holds `name`, if any. */
  get(name: string): StoredPeer | undefined {
    const at = this.#find(name, nameHash(name));
    return at < 0 ? undefined : this.records[at];
  }

  /**
   * Points `name` at `peer`: returns the record that held it before (`peer` itself when
   * it did; undefined when none did). The caller then takes the name from that record.
   */
  claim(name: string, peer: StoredPeer): StoredPeer | undefined {
    const hash = nameHash(name);
    const at = this.#find(name, hash);
    if (at >= 0) {
      const owner = this.records[at];
      this.records[at] = peer;
      return owner;
    }
    // Stryker disable next-line ArithmeticOperator,EqualityOperator: equivalent: rebuilding earlier or later changes memory use only (a full table is grown before a probe could find no EMPTY slot: see #grow)
    if ((this.used + 1) * 4 > this.hashes.length * 3) this.#rebuild();
    const mask = this.hashes.length - 1;
    let i = hash & mask;
    // Into the first slot not live (a DELETED one is reused: `used` counts it already).
    while (this.records[i] !== undefined) i = (i + 1) & mask;
    if (this.hashes[i] === EMPTY) this.used++;
    this.hashes[i] = hash;
    this.records[i] = peer;
    this.live++;
    return undefined;
  }

  /** Drops the slot of `name` (whichever record holds it). */
  delete(name: string): void {
    const at = this.#find(name, nameHash(name));
    if (at < 0) return;
    this.hashes[at] = DELETED;
    this.records[at] = undefined;
    this.live--;
  }

  clear(): void {
    this.hashes = new Int32Array(MIN_SLOTS);
    this.records = new Array<StoredPeer | undefined>(MIN_SLOTS).fill(undefined);
    this.used = 0;
    this.live = 0;
  }

  /** The slot whose record holds `name`, or -1. */
  #find(name: string, hash: number): number {
    const hashes = this.hashes;
    const mask = hashes.length - 1;
    let i = hash & mask;
    for (;;) {
      const h = hashes[i] as number;
      if (h === EMPTY) return -1;
      if (h === hash && this.holds(this.records[i] as StoredPeer, name)) return i;
      i = (i + 1) & mask;
    }
  }

  /**
   * Re-inserts the live slots (dropping DELETED ones) into a table where they fill at
   * most half: twice the size when they would fill more, else the same size.
   */
  #rebuild(): void {
    const oldHashes = this.hashes;
    const oldRecords = this.records;
    let size = oldHashes.length;
    // Stryker disable next-line EqualityOperator,ArithmeticOperator: equivalent: a larger table changes memory use only
    while ((this.live + 1) * 2 > size) size *= 2;
    const hashes = new Int32Array(size);
    const records = new Array<StoredPeer | undefined>(size).fill(undefined);
    const mask = size - 1;
    for (let k = 0; k < oldHashes.length; k++) {
      const record = oldRecords[k];
      if (record === undefined) continue;
      const hash = oldHashes[k] as number;
      let i = hash & mask;
      while (hashes[i] !== EMPTY) i = (i + 1) & mask;
      hashes[i] = hash;
      records[i] = record;
    }
    this.hashes = hashes;
    this.records = records;
    this.used = this.live;
  }
}

/**
 * Usernames, compared as core compares them (usernameKey). Every `name` given is a
 * lower-cased key (core lower-cases lookups; putPeer its usernames).
 */
export class UsernameIndex extends NameIndex {
  protected holds(peer: StoredPeer, name: string): boolean {
    const u = peer.usernames;
    if ((peer.flags & MANY_USERNAMES) === 0) return u !== undefined && sameName(u as string, name);
    for (const username of u as readonly string[]) if (sameName(username, name)) return true;
    return false;
  }
}

/** Phones, compared exactly. */
export class PhoneIndex extends NameIndex {
  protected holds(peer: StoredPeer, name: string): boolean {
    return peer.phone === name;
  }
}

/** FNV-1a of the name, as a positive int32: never EMPTY or DELETED. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  const length = name.length;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const hash = h >>> 1;
  return hash === EMPTY ? 1 : hash;
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
