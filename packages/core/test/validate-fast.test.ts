/**
 * The label-free checks of update state and channels (isUpdateState, isChannel) must
 * accept exactly what their labelled checks (explainUpdateState, explainChannel) accept:
 * one accepting a value the other refuses would let a bad value through, or refuse a
 * good one with no message. Checked over values built from each field's edge cases, and
 * through assertUpdateState / assertChannels, which must still name the field at fault.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accepts } from './accepts.js';
import { assertChannels, assertUpdateState, explainChannel, explainUpdateState, isChannel, isUpdateState } from '../src/validate.js';

/** Numbers at and around each rule's bounds, and values of other types. */
const number = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.5, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 1_700_000_000_000, Number.NaN, Infinity, -0),
  fc.integer(),
  fc.double(),
);
const other = fc.constantFrom(undefined, null, '1', 1n, true, [], {});
const counterLike = fc.oneof(number, other);
const int64Like = fc.oneof(fc.constantFrom(0n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 63n, -(2n ** 63n) - 1n), fc.bigInt(), number, other);

const state = fc.oneof(
  fc.record({ pts: counterLike, qts: counterLike, date: counterLike, seq: counterLike }, { requiredKeys: [] }),
  other,
  fc.constant(new Uint8Array(4)),
);
const channel = fc.oneof(fc.record({ id: int64Like, pts: counterLike }, { requiredKeys: [] }), other);


describe('the label-free checks agree with the labelled ones', () => {
  it('isUpdateState accepts exactly what explainUpdateState accepts', () => {
    fc.assert(
      fc.property(state, (value) => {
        expect(isUpdateState(value)).toBe(accepts(() => explainUpdateState(value, 'state')));
      }),
      { numRuns: 5_000 },
    );
  });
  it('isChannel accepts exactly what explainChannel accepts', () => {
    fc.assert(
      fc.property(channel, (value) => {
        expect(isChannel(value)).toBe(accepts(() => explainChannel(value, 'c')));
      }),
      { numRuns: 5_000 },
    );
  });
  it('both accept valid values (the generators reach the accepting side)', () => {
    expect(isUpdateState({ pts: 0, qts: 2 ** 31 - 1, date: 2 ** 32 - 1, seq: 5 })).toBe(true);
    expect(isChannel({ id: -(2n ** 63n), pts: 2 ** 31 - 1 })).toBe(true);
  });
});

describe('assertUpdateState and assertChannels still name the field at fault', () => {
  it('a bad state field', () => {
    expect(() => assertUpdateState({ pts: 1, qts: 1, date: 1_700_000_000_000, seq: 1 }, 'state')).toThrow(/^state\.date must be epoch seconds/);
    expect(() => assertUpdateState({ pts: 1, qts: -1, date: 1, seq: 1 }, 'state')).toThrow(/^state\.qts must be an integer from 0/);
  });
  it('a bad channel, at its index', () => {
    expect(() => assertChannels([{ id: 1n, pts: 1 }, { id: 2, pts: 1 }], 'channels')).toThrow(/^channels\[1\]\.id must be a bigint/);
    expect(() => assertChannels([{ id: 1n, pts: 1 }, null], 'channels')).toThrow(/^channels\[1\] must be an object/);
  });
  // Up to 16 channels are compared pairwise, longer lists through a Set: both must find a repeat anywhere.
  for (const length of [2, 16, 17, 200]) {
    it(`a repeated channel id in a list of ${length}, wherever it is`, () => {
      fc.assert(
        fc.property(fc.nat(length - 1), fc.nat(length - 1), (a, b) => {
          fc.pre(a !== b);
          const list = Array.from({ length }, (_, i) => ({ id: BigInt(i) * 1_000_003n, pts: i }));
          (list[b] as { id: bigint }).id = (list[a] as { id: bigint }).id;
          expect(() => assertChannels(list, 'channels')).toThrow(new RegExp(`^channels\\[${Math.max(a, b)}\\]\\.id must be unique in the list`));
        }),
        { numRuns: 50 },
      );
      expect(() => assertChannels(Array.from({ length }, (_, i) => ({ id: BigInt(i), pts: i })), 'channels')).not.toThrow();
    });
  }
});
