/**
 * checkPeerBatch (upsert's check for a repository that writes synchronously) validates
 * and checks for repeats in one pass: it must throw exactly what assertPeers throws, and
 * answer true whenever the batch repeats a peer, a username or a phone or holds an id
 * beyond 2^50 (exactly that while the batch has at most two usernames a peer). It reads the hashes isPeer took while validating (usernameHash,
 * phoneHash), which must accept exactly what isUsername / isPhone accept and hash names
 * equal case-insensitively equal.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Peer } from '../src/model.js';
import { checkPeerBatch } from '../src/peers.js';
import { repeats } from './batch-model.js';
import { assertPeers, isPhone, isUsername, phoneHash, usernameHash } from '../src/validate.js';

/** Strings mostly near the username and phone alphabets, with characters just outside them. */
const nearChar = fc.constantFrom(...'aAzZ09_mM5@/:[`{\u0000 -+é\u0130\u212a'.split(''));
// size 'max': lengths spread over the whole range, the 20- and 64-character limits included.
const nearString = fc.oneof(
  fc.string({ maxLength: 70, size: 'max' }),
  fc.string({ unit: nearChar, maxLength: 70, size: 'max' }),
  fc.string({ unit: fc.constantFrom(...'aZ_9'.split('')), minLength: 60, maxLength: 68, size: 'max' }),
  fc.string({ unit: fc.constantFrom(...'0123456789+a'.split('')), maxLength: 22, size: 'max' }),
  fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), minLength: 17, maxLength: 24, size: 'max' }),
);
const nameLike = fc.oneof(fc.string({ unit: fc.constantFrom(...'aAbB_1'.split('')), minLength: 1, maxLength: 3 }), nearString);

describe('usernameHash and phoneHash', () => {
  it('accept exactly what isUsername / isPhone accept', () => {
    fc.assert(
      fc.property(fc.oneof(nearString, fc.anything()), (value) => {
        expect(usernameHash(value) !== -1).toBe(isUsername(value));
        expect(phoneHash(value) !== -1).toBe(isPhone(value));
      }),
      { numRuns: 5_000 },
    );
  });

  it('hash a username and its other-case forms alike, as a non-negative 31-bit integer', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'aAzZmM09_'.split('')), minLength: 1, maxLength: 64 }), (name) => {
        const hash = usernameHash(name);
        expect(hash).toBe(usernameHash(name.toUpperCase()));
        expect(hash).toBe(usernameHash(name.toLowerCase()));
        expect(Number.isInteger(hash) && hash >= 0 && hash < 2 ** 31).toBe(true);
      }),
    );
  });
});

/** A valid peer (mostly: a peer's own names may repeat) from small id, name and phone spaces, so batches repeat them. */
const validPeer = fc.record(
  {
    type: fc.constantFrom('user', 'chat', 'channel'),
    id: fc.oneof({ weight: 9, arbitrary: fc.bigInt({ min: -20n, max: 20n }) }, { weight: 1, arbitrary: fc.constantFrom(2n ** 50n + 1n, -(2n ** 63n)) }),
    accessHash: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    usernames: fc.array(fc.string({ unit: fc.constantFrom(...'aAbBcC_1'.split('')), minLength: 1, maxLength: 4 }), { maxLength: 3 }),
    phone: fc.option(fc.constantFrom('1', '12', '123', '1234', '5'), { nil: undefined }),
    min: fc.option(fc.boolean(), { nil: undefined }),
    updatedAt: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    displayName: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
  },
  { requiredKeys: ['type', 'id', 'accessHash', 'usernames', 'updatedAt'] },
);
/** One field of a valid peer changed to anything near (or outside) its rule. */
const anyPeer = fc.tuple(
  validPeer,
  fc.record(
    {
      type: fc.constantFrom('bot', 1, 'user'),
      id: fc.constantFrom(2n ** 63n, 7, 3n),
      usernames: fc.oneof(fc.array(nameLike, { maxLength: 4 }), fc.constant('ab')),
      phone: nearString,
      min: fc.constantFrom(1, true),
      updatedAt: fc.constantFrom(-1, 1.5, 2 ** 32),
      displayName: fc.constantFrom('a\u0000', 'x'.repeat(1025)),
    },
    { requiredKeys: [] },
  ),
).map(([peer, change]) => ({ ...peer, ...change }));
const batch = fc.oneof(
  { weight: 6, arbitrary: fc.array(validPeer, { maxLength: 12 }) },
  { weight: 3, arbitrary: fc.array(fc.oneof({ weight: 6, arbitrary: validPeer }, { weight: 1, arbitrary: anyPeer }), { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom(null, 'peers', {}), fc.array(fc.oneof(validPeer, fc.constantFrom(null, 1, [])), { maxLength: 4 })) },
);

/** What assertPeers throws for `value` (class and message), or undefined. */
function thrownBy(check: () => unknown): { type: unknown; message: string } | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return { type: (error as Error).constructor, message: (error as Error).message };
  }
}

describe('checkPeerBatch', () => {
  it('throws what assertPeers throws; else answers true whenever the batch repeats something, and exactly that at up to two names a peer', () => {
    let valid = 0;
    let repeating = 0;
    fc.assert(
      fc.property(batch, (value) => {
        const expected = thrownBy(() => assertPeers(value, 'peers'));
        let answer: boolean | undefined;
        expect(thrownBy(() => (answer = checkPeerBatch(value, 'peers')))).toEqual(expected);
        if (expected !== undefined) return;
        valid++;
        const peers = value as Peer[];
        const needs = repeats(peers) || peers.some((p) => p.id > 2n ** 50n || p.id < -(2n ** 50n));
        if (needs) repeating++;
        const names = peers.reduce((sum, peer) => sum + peer.usernames.length, 0);
        if (names <= 2 * peers.length) expect(answer).toBe(needs);
        else expect(answer).toBe(true);
      }),
      { numRuns: 5_000 },
    );
    // The generator reaches both answers on valid batches, not only errors.
    expect(valid).toBeGreaterThan(200);
    expect(repeating).toBeGreaterThan(50);
    expect(valid - repeating).toBeGreaterThan(50);
  });

  it('finds a repeat far into a large batch, and a clean large batch needs no normalizing', () => {
    const peers: Peer[] = [];
    for (let i = 0; i < 3_000; i++) peers.push({ type: 'user', id: BigInt(i), accessHash: 1n, usernames: [`user_${i}`], phone: `1555${i}`, updatedAt: 1 });
    expect(checkPeerBatch(peers)).toBe(false);
    expect(checkPeerBatch([...peers, { type: 'chat', id: 9n, accessHash: 0n, usernames: ['USER_2999'], updatedAt: 1 }])).toBe(true);
    expect(checkPeerBatch([...peers, { type: 'chat', id: 9n, accessHash: 0n, usernames: [], phone: '15552999', updatedAt: 1 }])).toBe(true);
    expect(checkPeerBatch([...peers, { type: 'user', id: 2999n, accessHash: 0n, usernames: [], updatedAt: 1 }])).toBe(true);
    // An invalid peer after a repeat is still rejected.
    expect(() => checkPeerBatch([...peers, peers[0], { ...peers[1], usernames: ['@x'] }])).toThrow(/peers\[3001\]\.usernames\[0\]/);
  });
});
