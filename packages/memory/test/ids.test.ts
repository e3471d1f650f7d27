import { describe, expect, it } from 'vitest';
import { peerIdKey } from '@mtstore/core';
import { IdIndex } from '../src/ids.js';
import { StoredPeer } from '../src/store.js';

const record = (id: bigint): StoredPeer => new StoredPeer(0, peerIdKey(id), 0n, undefined, 0, undefined, undefined, -1);

describe('memory id index (ids.ts)', () => {
  it('answers as a Map over ids of every range (small, past 2^31 and 2^53, negative, equal low bits) and keeps insertion order through growth', () => {
    const ids: bigint[] = [];
    for (let i = 0n; i < 3_000n; i++) {
      ids.push(i + 1n, -(i + 1n), (i << 32n) + 7n, 2n ** 53n + i, -(2n ** 63n) + i, (2n ** 63n - 1n) - i, 1_000_000_000_000n * i);
    }
    const index = new IdIndex();
    const model = new Map<bigint, StoredPeer>();
    const order: StoredPeer[] = [];
    for (const [n, id] of ids.entries()) {
      if (model.has(id)) continue;
      const peer = record(id);
      index.add(peer);
      model.set(id, peer);
      order.push(peer);
      // Now and then, every id so far and some never added.
      if (n % 2_000 === 0) for (const [other, stored] of model) expect(index.get(peerIdKey(other)), String(other)).toBe(stored);
    }
    for (const id of ids) expect(index.get(peerIdKey(id)), String(id)).toBe(model.get(id));
    for (const id of [3_001n, -3_001n, 2n ** 53n - 1n, 2n ** 62n]) expect(index.get(peerIdKey(id)), String(id)).toBeUndefined();
    expect(index.records).toEqual(order);
    // At most 3/4 full: growth kept up.
    expect(index.slots.length * 3).toBeGreaterThanOrEqual(index.records.length * 4);
    index.clear();
    expect(index.get(1)).toBeUndefined();
    expect(index.records).toEqual([]);
  });
});
