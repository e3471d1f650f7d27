/**
 * PeerIndex against a plain model: random puts (peers of a few ids, usernames from a
 * small pool in mixed case, phones from a small pool, so names and phones move between
 * peers often) and clears, after each of which every lookup the index answers must be
 * the model's. The model is a Map of (type, id) to peer, where a put first takes each
 * of its usernames (case-insensitively) and its phone from every other peer: the
 * storage upsert's rule, written the slow, obvious way.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Peer, PeerType } from '@mtstore/core';
import { markedKey, PeerIndex } from '../src/peers.js';

const NAMES = ['alice', 'Alice', 'ALICE', 'bob_1', 'Bob_1', 'carol', 'dave5', 'DAVE5', 'erin_x'];
const PHONES = ['15550001', '15550002', '15550003'];
const TYPES: PeerType[] = ['user', 'chat', 'channel'];

type Op = { kind: 'put' | 'putChanged'; peer: Peer } | { kind: 'clear' };

const peerArb: fc.Arbitrary<Peer> = fc
  .record({
    type: fc.constantFrom(...TYPES),
    id: fc.integer({ min: 1, max: 6 }).map(BigInt),
    accessHash: fc.integer({ min: 0, max: 2 }).map(BigInt),
    usernames: fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }),
    phone: fc.option(fc.constantFrom(...PHONES), { nil: undefined }),
    displayName: fc.option(fc.constantFrom('A', 'B'), { nil: undefined }),
  })
  .map((p) => ({ ...p, updatedAt: 1 }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 10, arbitrary: peerArb.map((peer): Op => ({ kind: 'put', peer })) },
  { weight: 10, arbitrary: peerArb.map((peer): Op => ({ kind: 'putChanged', peer })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'clear' }) },
);

interface ModelPeer {
  usernames: string[];
  phone: string | undefined;
  accessHash: bigint;
  displayName: string | undefined;
}

const keyOf = (peer: Peer): string => `${peer.type}:${peer.id}`;

/** The model's put: takes the peer's names and phone from the others, then stores it. */
function modelPut(model: Map<string, ModelPeer>, peer: Peer): void {
  const lower = new Set(peer.usernames.map((u) => u.toLowerCase()));
  for (const [key, other] of model) {
    if (key === keyOf(peer)) continue;
    other.usernames = other.usernames.filter((u) => !lower.has(u.toLowerCase()));
    if (peer.phone !== undefined && other.phone === peer.phone) other.phone = undefined;
  }
  model.set(keyOf(peer), { usernames: [...peer.usernames], phone: peer.phone, accessHash: peer.accessHash, displayName: peer.displayName });
}

function sameAsModel(model: Map<string, ModelPeer>, peer: Peer): boolean {
  const m = model.get(keyOf(peer));
  return (
    m !== undefined &&
    m.accessHash === peer.accessHash &&
    m.phone === peer.phone &&
    m.displayName === peer.displayName &&
    m.usernames.length === peer.usernames.length &&
    m.usernames.every((u, i) => u === peer.usernames[i])
  );
}

function check(index: PeerIndex, model: Map<string, ModelPeer>): void {
  expect(index.size).toBe(model.size);
  for (const type of TYPES) {
    for (let id = 1n; id <= 6n; id++) {
      const stored = index.getByMarkedId(markedKey(type, id));
      const m = model.get(`${type}:${id}`);
      if (m === undefined) {
        expect(stored).toBeUndefined();
        continue;
      }
      // A moved phone leaves the property out (absent and undefined read the same).
      const seen = stored === undefined ? undefined : { type: stored.type, id: stored.id, accessHash: stored.accessHash, usernames: stored.usernames, phone: stored.phone, displayName: stored.displayName };
      expect(seen, `${type}:${id}`).toEqual({ type, id, accessHash: m.accessHash, usernames: m.usernames, phone: m.phone, displayName: m.displayName });
    }
  }
  for (const name of new Set(NAMES.map((n) => n.toLowerCase()))) {
    const owners = [...model].filter(([, m]) => m.usernames.some((u) => u.toLowerCase() === name));
    expect(owners.length, `owners of ${name}`).toBeLessThanOrEqual(1);
    const found = index.getByUsername(name);
    expect(found === undefined ? undefined : keyOf(found), name).toBe(owners[0]?.[0]);
    // What the name index answers is the very entry the id index holds (no stale copy).
    if (found !== undefined) expect(index.getByMarkedId(markedKey(found.type, found.id))).toBe(found);
  }
  for (const phone of PHONES) {
    const owners = [...model].filter(([, m]) => m.phone === phone);
    expect(owners.length, `owners of ${phone}`).toBeLessThanOrEqual(1);
    const found = index.getByPhone(phone);
    expect(found === undefined ? undefined : keyOf(found), phone).toBe(owners[0]?.[0]);
    if (found !== undefined) expect(index.getByMarkedId(markedKey(found.type, found.id))).toBe(found);
  }
}

describe('PeerIndex against a Map model', () => {
  it('random puts, putChanged and clears (4,000 operations) answer every lookup as the model does', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), (ops) => {
        const index = new PeerIndex();
        const model = new Map<string, ModelPeer>();
        for (const op of ops) {
          if (op.kind === 'clear') {
            index.clear();
            model.clear();
          } else if (op.kind === 'put') {
            index.put(op.peer);
            modelPut(model, op.peer);
          } else {
            const unchanged = sameAsModel(model, op.peer);
            expect(index.putChanged(op.peer, markedKey(op.peer.type, op.peer.id))).toBe(!unchanged);
            modelPut(model, op.peer);
          }
          check(index, model);
        }
      }),
      { numRuns: 100 },
    );
  });
});
