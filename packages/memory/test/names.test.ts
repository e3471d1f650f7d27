import { describe, expect, it } from 'vitest';
import { nameHash, PhoneIndex, UsernameIndex } from '../src/names.js';
import { MANY_USERNAMES, StoredPeer } from '../src/store.js';

/** A record holding `usernames` (one: the string; more: an array, as setUsernames stores them). */
function record(usernames: readonly string[], phone?: string): StoredPeer {
  const many = usernames.length > 1;
  return new StoredPeer(many ? MANY_USERNAMES : 0, 1, 0n, many ? usernames.slice() : usernames[0], 0, phone, undefined, -1);
}

/** Two different names of one hash (found by trying: 31 bits collide within ~2^16 names). */
function collidingNames(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const name = `n${i}`;
    const other = seen.get(nameHash(name));
    if (other !== undefined) return [other, name];
    seen.set(nameHash(name), name);
  }
}

/** xorshift32: a repeatable sequence of operations. */
function random(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

describe('memory name index (names.ts)', () => {
  it('answers as a Map keyed by the lower-cased name (records holding the name in any case) over random claims and deletes, through collisions, deleted slots and rebuilds', () => {
    const [a, b] = collidingNames();
    expect(a).not.toBe(b);
    expect(nameHash(a)).toBe(nameHash(b));
    // Names whose slots collide (a table of 16-256 slots) and two of one full hash, in both cases.
    const names = [a, b, a.toUpperCase(), b.toUpperCase(), ...Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? `User_${i}` : `user_${i}`))];
    for (const seed of [1, 2, 3, 4]) {
      const next = random(seed);
      const index = new UsernameIndex();
      const model = new Map<string, StoredPeer>();
      for (let step = 0; step < 4_000; step++) {
        const name = names[next(names.length)] as string;
        const key = name.toLowerCase();
        const op = next(3);
        if (op === 0) {
          const peer = record([name]);
          expect(index.claim(key, peer)).toBe(model.get(key));
          model.set(key, peer);
        } else if (op === 1) {
          index.delete(key);
          model.delete(key);
        }
        expect(index.get(key), `seed ${seed} step ${step}: ${name}`).toBe(model.get(key));
        // Every name now and then (each step would take seconds).
        if (step % 50 === 0) for (const n of names) expect(index.get(n.toLowerCase()), `seed ${seed} step ${step}: ${n}`).toBe(model.get(n.toLowerCase()));
        expect(index.live).toBe(model.size);
      }
    }
  });

  it('a record of several usernames answers for each; a claim returns the record that held the name', () => {
    const index = new UsernameIndex();
    const first = record(['Alpha', 'beta']);
    expect(index.claim('alpha', first)).toBeUndefined();
    expect(index.claim('beta', first)).toBeUndefined();
    expect(index.get('alpha')).toBe(first);
    expect(index.get('beta')).toBe(first);
    expect(index.get('gamma')).toBeUndefined();
    expect(index.claim('alpha', first)).toBe(first);
    const second = record(['alpha']);
    expect(index.claim('alpha', second)).toBe(first);
    expect(index.get('alpha')).toBe(second);
    expect(index.live).toBe(2);
  });

  it('keeps every name through growth and drops deleted slots when it rebuilds', () => {
    const index = new PhoneIndex();
    const batch = (round: number) => Array.from({ length: 5_000 }, (_, i) => record([], String(10_000_000 + round * 5_000 + i)));
    let peers = batch(0);
    for (const peer of peers) index.claim(peer.phone as string, peer);
    for (const peer of peers) expect(index.get(peer.phone as string)).toBe(peer);
    const slots = index.hashes.length;
    expect(slots).toBeLessThanOrEqual(16_384);
    // Replacing every name by new ones (new slots, the old ones deleted) round after
    // round keeps the table's size: rebuilds reclaim the deleted slots.
    for (let round = 1; round <= 20; round++) {
      for (const peer of peers) index.delete(peer.phone as string);
      expect(index.get(peers[0]?.phone as string)).toBeUndefined();
      peers = batch(round);
      for (const peer of peers) index.claim(peer.phone as string, peer);
    }
    expect(index.hashes.length).toBe(slots);
    expect(index.live).toBe(5_000);
    for (const peer of peers) expect(index.get(peer.phone as string)).toBe(peer);
    index.clear();
    expect(index.get(peers[0]?.phone as string)).toBeUndefined();
    expect(index.live).toBe(0);
  });
});
