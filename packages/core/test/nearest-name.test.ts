import { describe, expect, test } from 'vitest';
import { nearestName } from '../src/index.js';

describe('nearestName (the "did you mean" of unknown options)', () => {
  const known = ['schema', 'session', 'sslmode', 'search_path', 'connectTimeoutMS', 'connect_timeout'];

  test('answers the known name one or two edits away', () => {
    expect(nearestName('shema', known)).toBe('schema');
    expect(nearestName('sslmod', known)).toBe('sslmode');
    expect(nearestName('sesion', known)).toBe('session');
    expect(nearestName('schmea', known)).toBe('schema');
  });

  test('answers the nearest, not the first within reach', () => {
    expect(nearestName('sessio', ['sesxyz', 'session'])).toBe('session');
    expect(nearestName('abcd', ['abxy', 'abcx'])).toBe('abcx');
  });

  test('of equally near names, the first in the list', () => {
    expect(nearestName('ab', ['ax', 'xb'])).toBe('ax');
    expect(nearestName('ab', ['xb', 'ax'])).toBe('xb');
  });

  test('nothing for a name three edits or more from every known one', () => {
    expect(nearestName('host', known)).toBeUndefined();
    expect(nearestName('', known)).toBeUndefined();
    expect(nearestName('schema', [])).toBeUndefined();
  });

  test('case counts unless ignoreCase (a driver that reads names case-insensitively)', () => {
    expect(nearestName('CONNECTTIMEOUTMSX', known)).toBeUndefined();
    expect(nearestName('CONNECTTIMEOUTMSX', known, true)).toBe('connectTimeoutMS');
    expect(nearestName('connecttimeoutms', known, true)).toBe('connectTimeoutMS');
  });
});
