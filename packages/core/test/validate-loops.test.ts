import { describe, expect, it } from 'vitest';
import { isPhone, isUsername, usernameHash, usernameLookup, usernameLookupHash, usernameLookupKey } from '../src/validate.js';

// isUsername / isPhone are char loops standing in for these patterns (a lookup's hot
// path): they must answer exactly as the patterns do, for every UTF-16 code unit;
// usernameLookupKey as the pattern, then usernameKey (toLowerCase); usernameLookupHash as
// the pattern, telling an upper-case letter, with the hash of the lower-cased name.
const USERNAME = /^[A-Za-z0-9_]{1,64}$/;
const PHONE = /^[0-9]{1,20}$/;

describe('username and phone char loops', () => {
  it('answer as the patterns for every code unit, alone and inside a valid value', () => {
    const differ: string[] = [];
    for (let code = 0; code <= 0xffff; code++) {
      const c = String.fromCharCode(code);
      for (const value of [c, `a${c}`, `${c}1`, `ab${c}cd`, `A${c}`, `${c}Z`]) {
        if (isUsername(value) !== USERNAME.test(value)) differ.push(`username ${JSON.stringify(value)}`);
        if (usernameLookupKey(value) !== (USERNAME.test(value) ? value.toLowerCase() : undefined)) differ.push(`lookup key ${JSON.stringify(value)}`);
        const hash = usernameLookupHash(value);
        if (!USERNAME.test(value) ? hash !== -1 : hash !== usernameHash(value.toLowerCase()) || usernameLookup.mixed !== /[A-Z]/.test(value)) differ.push(`lookup hash ${JSON.stringify(value)}`);
      }
      for (const value of [c, `1${c}`, `${c}2`, `12${c}34`]) if (isPhone(value) !== PHONE.test(value)) differ.push(`phone ${JSON.stringify(value)}`);
    }
    expect(differ).toEqual([]);
  });

  it('answer as the patterns at the length limits and for non-strings', () => {
    for (const length of [0, 1, 19, 20, 21, 63, 64, 65]) {
      const name = 'a'.repeat(length);
      const phone = '7'.repeat(length);
      expect(isUsername(name), `username of ${length}`).toBe(USERNAME.test(name));
      expect(usernameLookupKey(name.toUpperCase()), `lookup key of ${length}`).toBe(USERNAME.test(name) ? name : undefined);
      expect(usernameLookupHash(name.toUpperCase()), `lookup hash of ${length}`).toBe(USERNAME.test(name) ? usernameHash(name) : -1);
      expect(isPhone(phone), `phone of ${length}`).toBe(PHONE.test(phone));
    }
    for (const value of [undefined, null, 1, 1n, ['a'], { toString: () => 'a' }, new String('a')]) {
      expect(isUsername(value)).toBe(false);
      expect(usernameLookupKey(value)).toBeUndefined();
      expect(usernameLookupHash(value)).toBe(-1);
      expect(isPhone(value)).toBe(false);
    }
  });
});
