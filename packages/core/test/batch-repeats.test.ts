/**
 * checkPeerBatch lets a batch skip normalizePeerBatch (base.ts: a repository that
 * writes synchronously gets it as it is), so it must answer true whenever a (type, id),
 * a username (case-insensitively) or a phone is in the batch twice, and a batch it
 * passes must be one normalizing leaves as it is. repeatsPeer (a `peersUpsertInOrder`
 * repository's check) runs its id pass on the same scratch table, and must answer
 * exactly whether a (type, id) is in the batch twice, for every int64 id.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Peer, PeerType } from '../src/model.js';
import { checkPeerBatch, normalizePeerBatch, peerIdKey, peerIdKeyOf, repeatsPeer, takeInOrderBatch } from '../src/peers.js';
import { phoneHash, usernameHash } from '../src/validate.js';
import { peer, random, repeats, repeatsId, TYPES } from './batch-model.js';

describe('checkPeerBatch: the repeat check', () => {
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
      expect(checkPeerBatch(batch), `round ${round}`).toBe(expected);
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
    expect(checkPeerBatch(base)).toBe(false);
    expect(checkPeerBatch([...base, peer('user', 5n)])).toBe(true);
    expect(checkPeerBatch([...base, peer('chat', 5n)])).toBe(false);
    expect(checkPeerBatch([...base, peer('channel', 5000n, ['USER_7'])])).toBe(true);
    expect(checkPeerBatch([...base, peer('channel', 5000n, ['user_7a'])])).toBe(false);
    expect(checkPeerBatch([...base, peer('channel', 5000n, [], '1000010')])).toBe(true);
    // '_' folds to 0x7f, which no valid character has: not the same name as any other.
    expect(checkPeerBatch([peer('user', 1n, ['a_']), peer('user', 2n, ['A_'])])).toBe(true);
    expect(checkPeerBatch([peer('user', 1n, ['a_']), peer('user', 2n, ['a0'])])).toBe(false);
  });

  it('sends ids beyond 2^50 in magnitude (not keyed exactly) to normalizing', () => {
    expect(checkPeerBatch([peer('user', 2n ** 50n)])).toBe(false);
    expect(checkPeerBatch([peer('user', 2n ** 50n + 1n)])).toBe(true);
    expect(checkPeerBatch([peer('user', -(2n ** 63n))])).toBe(true);
    expect(checkPeerBatch([peer('user', 2n ** 63n - 1n)])).toBe(true);
  });
});

describe('repeatsPeer', () => {
  // int64 ids the scratch table cannot key exactly (beyond ±2^50) or that sit at that
  // bound, among them pairs Number() rounds to one double (2^53 and 2^53 + 1).
  const EDGE = [
    2n ** 63n - 1n, 2n ** 63n - 2n, -(2n ** 63n), -(2n ** 63n) + 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), -(2n ** 53n) - 1n,
    2n ** 52n + 1n, 2n ** 50n, 2n ** 50n + 1n, -(2n ** 50n), -(2n ** 50n) - 1n, 2n ** 50n - 1n, 0n, -1n,
  ];

  it('is true exactly when a batch repeats a (type, id), over random batches of every size with int64 edge ids', () => {
    const next = random(18);
    let passed = 0;
    let caught = 0;
    for (let round = 0; round < 3000; round++) {
      const size = round % 50 === 0 ? 1000 + next(500) : next(40);
      const pool = 2 + next(4 * size + 2);
      const batch: Peer[] = [];
      for (let k = 0; k < size; k++) {
        const id = next(4) === 0 ? (EDGE[next(EDGE.length)] as bigint) : BigInt(next(pool)) - 3n;
        batch.push(peer(TYPES[next(3)] as PeerType, id));
      }
      const expected = repeatsId(batch);
      expect(repeatsPeer(batch), `round ${round}`).toBe(expected);
      // The in-order upsert's one pass answers the same (its own generation of the table).
      expect(takeInOrderBatch(batch, 'peers').repeats, `round ${round}, takeInOrderBatch`).toBe(expected);
      if (expected) caught++;
      else passed++;
      // checkPeerBatch between batches, on the same scratch tables, at other sizes.
      if (round % 3 === 0) {
        const other = batch.slice(0, next(batch.length + 1)).map((p, k) => peer(p.type, p.id, [`n_${k}`], String(k)));
        expect(checkPeerBatch(other), `round ${round}, checkPeerBatch`).toBe(repeats(other) || other.some((p) => p.id > 2n ** 50n || p.id < -(2n ** 50n)));
      }
    }
    expect(passed).toBeGreaterThan(300);
    expect(caught).toBeGreaterThan(300);
  });

  it('growing the shared id table first leaves checkPeerBatch its other tables sized for its batch', async () => {
    // A fresh module: scratch tables of nothing yet, grown here by repeatsPeer alone.
    vi.resetModules();
    const fresh = await import('../src/peers.js');
    const batch = Array.from({ length: 1000 }, (_, i) => peer('user', BigInt(i), [`u_${i}`], String(1_000_000 + i)));
    expect(fresh.repeatsPeer(batch)).toBe(false);
    expect(fresh.checkPeerBatch(batch)).toBe(false);
    expect(fresh.checkPeerBatch([...batch, peer('chat', 1n, [], '1000999')]), 'a phone repeated').toBe(true);
    expect(fresh.checkPeerBatch([...batch, peer('chat', 1n, ['U_999'])]), 'a username repeated').toBe(true);
  });

  it('finds a repeat at every distance and position, of small and of edge ids, and no repeat across types', () => {
    const small = Array.from({ length: 150 }, (_, i) => peer('user', BigInt(i * 7 - 300)));
    // ±(2^53 + k): Number() rounds 2^53 + 1 to 2^53, 2^53 + 3 to 2^53 + 4 and so on.
    const large = Array.from({ length: 150 }, (_, i) => peer('channel', (i % 2 === 0 ? 1n : -1n) * (2n ** 53n + BigInt(i >> 1))));
    const mixed = small.slice(0, 75).concat(large.slice(0, 75), EDGE.map((id) => peer('chat', id)));
    for (const distinct of [small, large, mixed]) {
      expect(new Set(distinct.map((p) => `${p.type}:${p.id}`)).size, 'the base batch repeats nothing').toBe(distinct.length);
      expect(repeatsPeer(distinct)).toBe(false);
      for (let distance = 1; distance < distinct.length; distance++) {
        for (const first of [0, distinct.length - 1 - distance, (distinct.length - 1 - distance) >> 1]) {
          const source = distinct[first] as Peer;
          const batch = distinct.slice();
          batch[first + distance] = peer(source.type, source.id);
          expect(repeatsPeer(batch), `distance ${distance}, at ${first}`).toBe(true);
          batch[first + distance] = peer(source.type === 'user' ? 'chat' : 'user', source.id);
          expect(repeatsPeer(batch), `distance ${distance}, at ${first}, other type`).toBe(repeatsId(batch));
        }
      }
    }
  });
});

describe('takeInOrderBatch', () => {
  it('streams each peer\'s id halves, name hashes, phone hash and bytes length in batch order', () => {
    const complete = new Uint8Array(7);
    const batch: Peer[] = [
      { ...peer('user', -(2n ** 40n) - 5n, ['Alpha', 'b_2'], '123'), complete },
      peer('chat', 2n ** 62n + 3n),
      { ...peer('channel', 77n, ['Zed']), complete: new Uint8Array(0) },
    ];
    const taken = takeInOrderBatch(batch, 'peers');
    expect(taken.repeats).toBe(false);
    expect(taken.peers.map((p) => p.id)).toEqual(batch.map((p) => p.id));
    const keys: (number | bigint)[] = [];
    const stream = Array.from(taken.checked);
    let at = 0;
    for (const p of taken.peers) {
      keys.push(peerIdKeyOf(stream[at] as number, stream[at + 1] as number, p.id));
      at += 2;
      for (const name of p.usernames) expect(stream[at++], name).toBe(usernameHash(name));
      if (p.phone !== undefined) expect(stream[at++]).toBe(phoneHash(p.phone));
      if (p.complete !== undefined) expect(stream[at++]).toBe(p.complete.length);
    }
    expect(keys).toEqual(batch.map((p) => peerIdKey(p.id)));
  });

  it('answers that the batch repeats when a getter upserted a batch of its own meanwhile (its stamps may hide a repeat)', () => {
    // The nested batch has the repeated (type, id) too: it stamps that slot of the shared
    // id table with its own generation, so the outer batch's second entry finds it empty.
    const nested = [peer('user', 1n)];
    let nestedRepeats: boolean | undefined;
    const getter = { ...peer('user', 2n) } as Record<string, unknown>;
    Object.defineProperty(getter, 'type', {
      enumerable: true,
      get: () => {
        nestedRepeats ??= takeInOrderBatch(nested, 'nested').repeats;
        return 'user';
      },
    });
    const batch = [peer('user', 1n), getter, peer('user', 1n)];
    expect(takeInOrderBatch(batch, 'peers').repeats).toBe(true);
    expect(nestedRepeats).toBe(false);
  });
});
