/**
 * needsNormalizing lets a batch skip normalizePeerBatch (base.ts: a repository that
 * writes synchronously gets it as it is), so it must answer true whenever a (type, id),
 * a username (case-insensitively) or a phone is in the batch twice, and a batch it
 * passes must be one normalizing leaves as it is.
 */
import { describe, expect, it } from 'vitest';
import type { Peer, PeerType } from '../src/model.js';
import { needsNormalizing, normalizePeerBatch } from '../src/peers.js';

/** A small deterministic generator: the same batches every run. */
function random(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    return x % n;
  };
}

const TYPES: PeerType[] = ['user', 'chat', 'channel'];
const peer = (type: PeerType, id: bigint, usernames: string[] = [], phone?: string): Peer => {
  const p: Peer = { type, id, accessHash: 1n, usernames, updatedAt: 1 };
  if (phone !== undefined) p.phone = phone;
  return p;
};

/** The answer by the definition, with strings and Sets. */
function repeats(batch: readonly Peer[]): boolean {
  const ids = new Set<string>();
  const names = new Set<string>();
  const phones = new Set<string>();
  for (const p of batch) {
    const key = `${p.type}:${p.id}`;
    if (ids.has(key)) return true;
    ids.add(key);
    for (const u of p.usernames) {
      if (names.has(u.toLowerCase())) return true;
      names.add(u.toLowerCase());
    }
    if (p.phone !== undefined) {
      if (phones.has(p.phone)) return true;
      phones.add(p.phone);
    }
  }
  return false;
}

describe('needsNormalizing', () => {
  it('is true exactly when a batch repeats a peer, a username in any case or a phone, over random batches of every size', () => {
    const next = random(14);
    let passed = 0;
    let caught = 0;
    for (let round = 0; round < 3000; round++) {
      // Sizes from 0 to 1,500 in no order: the scratch tables of a larger batch are reused by smaller ones.
      const size = round % 50 === 0 ? 1000 + next(500) : next(40);
      const pool = 2 + next(4 * size + 2);
      const batch: Peer[] = [];
      for (let k = 0; k < size; k++) {
        const names: string[] = [];
        for (let n = next(3); n > 0; n--) {
          const name = `Name_${next(pool * 2)}`;
          if (!names.some((u) => u.toLowerCase() === name.toLowerCase())) names.push(next(3) === 0 ? name.toUpperCase() : name);
        }
        // Ids near 2^50 in magnitude too: the keyed range's edge (id * 4 + type stays exact).
        const id = next(20) === 0 ? BigInt(2 ** 50 - next(3)) * (next(2) === 0 ? 1n : -1n) : BigInt(next(pool)) - 3n;
        batch.push(peer(TYPES[next(3)] as PeerType, id, names, next(2) === 0 ? String(5550000 + next(pool)) : undefined));
      }
      const expected = repeats(batch);
      expect(needsNormalizing(batch), `round ${round}`).toBe(expected);
      if (expected) caught++;
      else {
        passed++;
        // What it lets through, normalizing would leave as it is.
        expect(normalizePeerBatch(batch)).toEqual(batch);
      }
    }
    // Both answers were exercised many times.
    expect(passed).toBeGreaterThan(300);
    expect(caught).toBeGreaterThan(300);
  });

  it('catches each kind of repeat alone, in the last peer of a large batch', () => {
    const base = Array.from({ length: 999 }, (_, i) => peer('user', BigInt(i + 1), [`user_${i + 1}`], String(1_000_000 + i)));
    expect(needsNormalizing(base)).toBe(false);
    expect(needsNormalizing([...base, peer('user', 5n)])).toBe(true);
    expect(needsNormalizing([...base, peer('chat', 5n)])).toBe(false);
    expect(needsNormalizing([...base, peer('channel', 5000n, ['USER_7'])])).toBe(true);
    expect(needsNormalizing([...base, peer('channel', 5000n, ['user_7a'])])).toBe(false);
    expect(needsNormalizing([...base, peer('channel', 5000n, [], '1000010')])).toBe(true);
    // '_' folds to 0x7f, which no valid character has: not the same name as any other.
    expect(needsNormalizing([peer('user', 1n, ['a_']), peer('user', 2n, ['A_'])])).toBe(true);
    expect(needsNormalizing([peer('user', 1n, ['a_']), peer('user', 2n, ['a0'])])).toBe(false);
  });

  it('sends ids beyond 2^50 in magnitude (not keyed exactly) to normalizing', () => {
    expect(needsNormalizing([peer('user', 2n ** 50n)])).toBe(false);
    expect(needsNormalizing([peer('user', 2n ** 50n + 1n)])).toBe(true);
    expect(needsNormalizing([peer('user', -(2n ** 63n))])).toBe(true);
    expect(needsNormalizing([peer('user', 2n ** 63n - 1n)])).toBe(true);
  });
});
