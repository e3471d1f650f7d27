import type { StoredPeer } from './store.js';

/** Slots of a new or cleared index (a power of two). */
const MIN_SLOTS = 16;

/**
 * The peers of one type by id (their `key`: core's peerIdKey), in less memory than a
 * Map (RSS per cached peer): the records in insertion order in one array (list()'s
 * order; a peer is never removed alone, so it has no holes), and an open-addressing
 * table of 1 + a record's place in it (an Int32Array, at most 3/4 full; 0: empty).
 * About 18 bytes a peer against ~37 a Map entry.
 *
 * A slot's bits above those of a place hold its key's hash bits above those of the
 * slot's index (its tag; the sign bit left out, so that probe() can return one): a probe
 * passes a slot of another key without reading `records` and the record (two dependent
 * loads, with 100,000 peers two likely cache misses). A place is below the slot count
 * (at most 3/4 of it), so it fits the index's bits; the tag is what is left, fewer bits
 * as the table grows.
 */
export class IdIndex {
  /** Records in insertion order. */
  records: StoredPeer[] = [];
  slots = new Int32Array(MIN_SLOTS);

  get(key: number | bigint): StoredPeer | undefined {
    const place = this.find(key);
    return place < 0 ? undefined : this.records[place];
  }

  /** The place in `records` of the record of `key`, or -1. */
  find(key: number | bigint): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    const hash = idHash(key);
    const tag = hash & ~mask & 0x7fff_ffff;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const at = slots[i] as number;
      if (at === 0) return -1;
      if ((at & ~mask) === tag && (this.records[(at & mask) - 1] as StoredPeer).key === key) return (at & mask) - 1;
    }
  }

  /**
   * The place in `records` of the record of `key`, or, when there is none, `~(tag | slot)`
   * (a negative number) of the empty slot where the probe stopped and the key's tag, for
   * addAt: a new peer is probed for and hashed once, not again to be added.
   */
  probe(key: number | bigint): number {
    const slots = this.slots;
    const mask = slots.length - 1;
    const hash = idHash(key);
    const tag = hash & ~mask & 0x7fff_ffff;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const at = slots[i] as number;
      if (at === 0) return ~(tag | i);
      if ((at & ~mask) === tag && (this.records[(at & mask) - 1] as StoredPeer).key === key) return (at & mask) - 1;
    }
  }

  /**
   * Adds a record whose key is not in the index yet, `probed` being probe()'s answer for
   * its key (nothing added since): returns its place in `records`.
   */
  addAt(record: StoredPeer, probed: number): number {
    const records = this.records;
    // Stryker disable next-line ArithmeticOperator,EqualityOperator: equivalent: growing earlier or later changes memory use only
    if ((records.length + 1) * 4 > this.slots.length * 3) {
      this.#grow();
      records.push(record);
      this.#place(this.slots, record.key, records.length);
    } else {
      records.push(record);
      const mask = this.slots.length - 1;
      this.slots[~probed & mask] = (~probed & ~mask) | records.length;
    }
    return records.length - 1;
  }

  /** Adds a record whose key is not in the index yet: returns its place in `records`. */
  add(record: StoredPeer): number {
    const records = this.records;
    // Stryker disable next-line ArithmeticOperator,EqualityOperator: equivalent: growing earlier or later changes memory use only
    if ((records.length + 1) * 4 > this.slots.length * 3) this.#grow();
    records.push(record);
    this.#place(this.slots, record.key, records.length);
    return records.length - 1;
  }

  clear(): void {
    this.records = [];
    this.slots = new Int32Array(MIN_SLOTS);
  }

  #place(slots: Int32Array, key: number | bigint, at: number): void {
    const mask = slots.length - 1;
    const hash = idHash(key);
    let i = hash & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = (hash & ~mask & 0x7fff_ffff) | at;
  }

  #grow(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const records = this.records;
    const count = records.length;
    const mask = slots.length - 1;
    // #place written out: every record is placed again, and a call per record cost about
    // as much as placing it.
    for (let k = 0; k < count; k++) {
      const hash = idHash((records[k] as StoredPeer).key);
      let i = hash & mask;
      while (slots[i] !== 0) i = (i + 1) & mask;
      slots[i] = (hash & ~mask & 0x7fff_ffff) | (k + 1);
    }
    this.slots = slots;
  }
}

/**
 * A table position for an id key: its 32 low bits (and, past them, the high ones)
 * multiplied by 2^32 / phi with the high half folded in, so ids in a run or a stride
 * spread. A Smi id (most ids) needs no division.
 */
export function idHash(key: number | bigint): number {
  let h: number;
  if (typeof key === 'number') {
    h = key | 0;
    if (h !== key) h ^= (key / 4_294_967_296) | 0;
  } else h = Number(BigInt.asIntN(32, key) ^ BigInt.asIntN(32, key >> 32n));
  h = Math.imul(h, 0x9e3779b1);
  return h ^ (h >>> 16);
}
