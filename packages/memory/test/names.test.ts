import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IdIndex } from '../src/ids.js';
import { usernameHash } from '@mtstore/core';
import { peerRef, PhoneIndex, UsernameIndex } from '../src/names.js';
import { Flag, StoredPeer } from '../src/store.js';

/** The IdIndexes of one table, by type index: the records a name index points into. */
function tables(): IdIndex[] {
  return [new IdIndex(), new IdIndex(), new IdIndex()];
}

let nextKey = 1;

/** A record's usernames as a list. */
const namesOf = (peer: StoredPeer): readonly string[] => (typeof peer.usernames === 'string' ? [peer.usernames] : (peer.usernames ?? []));

/**
 * A record holding `usernames` (one: the string; more: an array, as setUsernames stores
 * them), added to `byType` under its type index (spread over the three): returns it and
 * its peerRef.
 */
function record(byType: readonly IdIndex[], usernames: readonly string[], phone?: string): { peer: StoredPeer; ref: number } {
  const many = usernames.length > 1;
  const key = nextKey++;
  const typeIndex = key % 3;
  const peer = new StoredPeer(typeIndex | (many ? Flag.MANY_USERNAMES : 0), key, 0n, many ? usernames.slice() : usernames[0], 0, phone, undefined, -1);
  return { peer, ref: peerRef((byType[typeIndex] as IdIndex).add(peer), typeIndex) };
}

/** Two different names of one hash (found by trying: 31 bits collide within ~2^16 names). */
function collidingNames(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const name = `n${i}`;
    const other = seen.get(usernameHash(name));
    if (other !== undefined) return [other, name];
    seen.set(usernameHash(name), name);
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
    expect(usernameHash(a)).toBe(usernameHash(b));
    // Names whose slots collide (a table of 16-256 slots) and two of one full hash, in both cases.
    const names = [a, b, a.toUpperCase(), b.toUpperCase(), ...Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? `User_${i}` : `user_${i}`))];
    for (const seed of [1, 2, 3, 4]) {
      const next = random(seed);
      const byType = tables();
      const index = new UsernameIndex(byType);
      const model = new Map<string, StoredPeer>();
      for (let step = 0; step < 4_000; step++) {
        const name = names[next(names.length)] as string;
        const key = name.toLowerCase();
        const op = next(3);
        if (op === 0) {
          const { peer, ref } = record(byType, [name]);
          expect(index.claim(key, ref)).toBe(model.get(key));
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
    const byType = tables();
    const index = new UsernameIndex(byType);
    const { peer: first, ref: firstRef } = record(byType, ['Alpha', 'beta']);
    expect(index.claim('alpha', firstRef)).toBeUndefined();
    expect(index.claim('beta', firstRef)).toBeUndefined();
    expect(index.get('alpha')).toBe(first);
    expect(index.get('beta')).toBe(first);
    expect(index.get('gamma')).toBeUndefined();
    expect(index.claim('alpha', firstRef)).toBe(first);
    const { peer: second, ref: secondRef } = record(byType, ['alpha']);
    expect(index.claim('alpha', secondRef)).toBe(first);
    expect(index.get('alpha')).toBe(second);
    expect(index.live).toBe(2);
  });

  it('keeps every name through growth and drops deleted slots when it rebuilds', () => {
    const byType = tables();
    const index = new PhoneIndex(byType);
    const batch = (round: number) => Array.from({ length: 5_000 }, (_, i) => record(byType, [], String(10_000_000 + round * 5_000 + i)));
    let peers = batch(0);
    for (const { peer, ref } of peers) index.claim(peer.phone as string, ref);
    for (const { peer } of peers) expect(index.get(peer.phone as string)).toBe(peer);
    // Two ints a slot: 16,384 slots at most.
    const slots = index.slots.length;
    expect(slots).toBeLessThanOrEqual(32_768);
    // Replacing every name by new ones (new slots, the old ones deleted) round after
    // round keeps the table's size: rebuilds reclaim the deleted slots.
    for (let round = 1; round <= 20; round++) {
      for (const { peer } of peers) index.delete(peer.phone as string);
      expect(index.get(peers[0]?.peer.phone as string)).toBeUndefined();
      peers = batch(round);
      for (const { peer, ref } of peers) index.claim(peer.phone as string, ref);
    }
    expect(index.slots.length).toBe(slots);
    expect(index.live).toBe(5_000);
    for (const { peer } of peers) expect(index.get(peer.phone as string)).toBe(peer);
    index.clear();
    expect(index.get(peers[0]?.peer.phone as string)).toBeUndefined();
    expect(index.live).toBe(0);
  });

  it('answers as a Map (fast-check): claims of names from a small pool (colliding ones included) by records of every type, several names a record, deletes, over growth and rebuilds', () => {
    const [a, b] = collidingNames();
    const pool = [a, b, 'Alice', 'bob', 'carol_1'];
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('claim' as const), names: fc.uniqueArray(fc.constantFrom(...pool), { minLength: 1, maxLength: 3 }), owner: fc.nat(6) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...pool) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'filler' as const }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const byType = tables();
        const index = new UsernameIndex(byType);
        const model = new Map<string, StoredPeer>();
        const made: { peer: StoredPeer; ref: number }[] = [];
        let filler = 0;
        for (const o of ops) {
          if (o.kind === 'claim') {
            // An earlier record again (its names extended to hold these) or a new one.
            let owner = made[o.owner];
            if (owner === undefined) {
              owner = record(byType, o.names);
              made.push(owner);
            } else {
              const held = new Set([...namesOf(owner.peer), ...o.names]);
              owner.peer.usernames = [...held];
              owner.peer.flags |= Flag.MANY_USERNAMES;
            }
            for (const name of o.names) {
              const key = name.toLowerCase();
              // The record that held it; when none did, nothing or the claimer itself (a
              // slot of its, of this hash, may answer for the name already).
              const before = model.get(key);
              const got = index.claim(key, owner.ref);
              if (before !== undefined) expect(got).toBe(before);
              else expect([undefined, owner.peer]).toContain(got);
              model.set(key, owner.peer);
              // As putPeer: the name moves from the record that held it.
              if (before !== undefined && before !== owner.peer) {
                before.usernames = namesOf(before).filter((u) => u.toLowerCase() !== key);
                // ...which makes sure of a slot for its others (one may have shared that slot).
                const ref = made.find((m) => m.peer === before)?.ref as number;
                for (const name of before.usernames) index.keep(name.toLowerCase(), ref);
              }
            }
          } else if (o.kind === 'delete') {
            // The record stops holding the name and its slot goes; the record makes sure
            // of a slot for its other names (one may have shared that slot).
            const key = o.name.toLowerCase();
            const holder = model.get(key);
            index.delete(key);
            model.delete(key);
            if (holder !== undefined) {
              const left = namesOf(holder).filter((u) => u.toLowerCase() !== key);
              holder.usernames = left;
              const ref = made.find((m) => m.peer === holder)?.ref as number;
              for (const name of left) index.keep(name.toLowerCase(), ref);
            }
          } else {
            // A name of its own, claimed and deleted: DELETED slots and rebuilds.
            const name = `filler_${filler++}`;
            const { ref } = record(byType, [name]);
            index.claim(name, ref);
            index.delete(name);
          }
          for (const name of [...pool, 'nobody']) expect(index.get(name.toLowerCase()), name).toBe(model.get(name.toLowerCase()));

        }
      }),
      { numRuns: 300 },
    );
  });
});
