/**
 * peerIdKey: a number exactly when the id is a safe integer, that integer; else the
 * bigint itself. Checked against that definition (Number and isSafeInteger) at every
 * boundary of the int32 halves it reads, of the safe range, of int64 and beyond it
 * (where a 64-bit store wraps), and for any bigint.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { peerIdFromKey, peerIdKey, peerIdKeyOf } from '../src/peers.js';

const byDefinition = (id: bigint): number | bigint => (Number.isSafeInteger(Number(id)) ? Number(id) : id);

const edges: bigint[] = [];
for (const base of [0n, 2n ** 31n, 2n ** 32n, 2n ** 52n, 2n ** 53n, 2n ** 63n, 2n ** 64n, 2n ** 64n + 2n ** 53n, 2n ** 100n]) {
  for (const d of [-2n, -1n, 0n, 1n, 2n]) edges.push(base + d, -(base + d));
}

describe('peerIdKey', () => {
  it('is the safe integer of a safe id and the bigint of any other, at every boundary', () => {
    for (const id of edges) expect(peerIdKey(id)).toBe(byDefinition(id));
  });

  it('is the same for any bigint', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt(), fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }), fc.bigInt({ min: -(2n ** 65n), max: 2n ** 65n })), (id) => {
        expect(peerIdKey(id)).toBe(byDefinition(id));
      }),
      { numRuns: 2000 },
    );
  });
});

/** An int64's int32 halves (low, high), as PeerRepository.upsert's `checked` stream carries them. */
const halves = (id: bigint): [number, number] => [Number(BigInt.asIntN(32, id)), Number(BigInt.asIntN(32, id >> 32n))];
const int64 = (id: bigint): bigint => BigInt.asIntN(64, id);

describe('peerIdKeyOf', () => {
  it('is peerIdKey of the int64 its halves make, at every boundary', () => {
    for (const id of edges.map(int64)) expect(peerIdKeyOf(...halves(id), id), String(id)).toBe(peerIdKey(id));
  });

  it('is the same for any int64', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n })), (id) => {
        expect(peerIdKeyOf(...halves(id), id)).toBe(peerIdKey(id));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('peerIdFromKey', () => {
  it('gives back the id of any key peerIdKey makes, at every boundary', () => {
    for (const id of edges) expect(peerIdFromKey(peerIdKey(id))).toBe(id);
  });

  it('does so for any bigint', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt(), fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }), fc.bigInt({ min: -(2n ** 33n), max: 2n ** 33n })), (id) => {
        expect(peerIdFromKey(peerIdKey(id))).toBe(id);
      }),
      { numRuns: 2000 },
    );
  });
});
