/**
 * Peer batches by the definition, for the tests of checkPeerBatch and repeatsPeer:
 * strings and Sets instead of the scratch tables under test.
 */
import type { Peer, PeerType } from '../src/model.js';

/** A small deterministic generator: the same batches every run. */
export function random(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    return x % n;
  };
}

export const TYPES: PeerType[] = ['user', 'chat', 'channel'];
export const peer = (type: PeerType, id: bigint, usernames: string[] = [], phone?: string): Peer => {
  const p: Peer = { type, id, accessHash: 1n, usernames, updatedAt: 1 };
  if (phone !== undefined) p.phone = phone;
  return p;
};

/** repeatsPeer's answer by the definition, with strings and a Set. */
export function repeatsId(batch: readonly Peer[]): boolean {
  const ids = new Set<string>();
  for (const p of batch) {
    const key = `${p.type}:${p.id}`;
    if (ids.has(key)) return true;
    ids.add(key);
  }
  return false;
}

/** The answer by the definition, with strings and Sets. */
export function repeats(batch: readonly Peer[]): boolean {
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

