import { expect } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';

/** Whether a labelled check accepts its value: true when `check` returns, false when it throws InvalidArgumentError (any other error fails the test). */
export function accepts(check: () => void): boolean {
  try {
    check();
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return false;
  }
}
