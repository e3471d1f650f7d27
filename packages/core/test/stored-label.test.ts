/**
 * int64FromStorage's label may be a function, built only when the value is bad: the
 * message must read exactly as with the same label given as a string.
 */
import { describe, expect, it } from 'vitest';
import { CorruptDataError, int64FromStorage } from '../src/index.js';

function message(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(CorruptDataError);
    return (error as Error).message;
  }
  throw new Error('expected a CorruptDataError');
}

describe('int64FromStorage with a lazy label', () => {
  it.each([['abc'], ['9223372036854775808'], [1.5], [null], [new Uint8Array(3)]])('a bad value %s reads as with the string label', (value) => {
    const label = 'session "s": peer "user:1" access hash';
    const lazy = message(() => int64FromStorage(value, () => label));
    expect(lazy).toBe(message(() => int64FromStorage(value, label)));
    expect(lazy.startsWith(`${label} is not a 64-bit integer (`)).toBe(true);
  });

  it('a good value never builds the label', () => {
    let built = 0;
    const label = (): string => {
      built++;
      return 'unused';
    };
    expect(int64FromStorage('-9223372036854775808', label)).toBe(-9223372036854775808n);
    expect(int64FromStorage(7, label)).toBe(7n);
    expect(int64FromStorage(7n, label)).toBe(7n);
    expect(built).toBe(0);
  });
});
