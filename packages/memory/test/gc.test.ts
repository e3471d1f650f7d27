import { setFlagsFromString, getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Peer } from '@mtstore/core';
import { MemoryStorage, MemoryStore } from '../src/index.js';

// `gc` of a context made after the flag is set: the test needs no node flag of its own.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options: { type: 'minor' | 'major'; execution: 'sync' }) => void;
const minorGc = (): void => gc({ type: 'minor', execution: 'sync' });

const oldSpaceUsed = (): number => (getHeapSpaceStatistics().find((space) => space.space_name === 'old_space') as { space_used_size: number }).space_used_size;

const batch: Peer[] = Array.from({ length: 1000 }, (_, k) => ({
  type: 'user',
  id: BigInt(k + 1),
  accessHash: BigInt(k) * 7919n + 13n,
  usernames: [`user_${k + 1}`],
  phone: String(10_000_000_000 + k),
  updatedAt: 1_700_000_000,
  displayName: `User ${k + 1}`,
}));

/** A storage of its own store, given 1,000 peers, then dropped. */
async function useAndDrop(): Promise<void> {
  const storage = new MemoryStorage({ store: new MemoryStore() });
  await storage.peers.upsert(batch);
}

describe('memory adapter and the garbage collector', () => {
  it('a storage dropped after use is freed by young-generation GCs, not promoted to old space until a full GC', async () => {
    // Until 3 Dec 2026 the lease host core builds per storage was an object literal with
    // `get closed()`: V8 allocates such an accessor's AccessorPair in old space, and a
    // young-generation GC counts every old-to-young pointer as live, so that dead pair
    // kept the getter, the storage, its store and every peer record: ~108 KB promoted per
    // dropped storage of 1,000 peers (~540 KB for the five below), freed only by a full GC.
    for (let i = 0; i < 20; i++) await useAndDrop();
    // The median of three tries: V8 sometimes promotes a few hundred KB of its own around
    // a try (the first after the warm-up's full GC, ~250 KB), or a full GC starts within one.
    const promoted: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      gc({ type: 'major', execution: 'sync' });
      minorGc();
      minorGc();
      const before = oldSpaceUsed();
      for (let i = 0; i < 5; i++) await useAndDrop();
      // Twice at least: the first copies survivors within the young generation, the second promotes them.
      minorGc();
      minorGc();
      minorGc();
      promoted.push(oldSpaceUsed() - before);
    }
    promoted.sort((a, b) => a - b);
    // Without storages kept: under 1 KB a try, up to ~33 KB (3 Dec 2026, Node 20).
    expect(promoted[1]).toBeLessThan(100_000);
  });
});
