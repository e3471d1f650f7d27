/** The `create` option every adapter shares: validation, the URL parameter, the refusal's text. */
import { describe, expect, it } from 'vitest';
import { createFromUrl, createOption, describeParameter, storeNotFound } from '../src/index.js';

describe('create', () => {
  it('the option is true when not given, a boolean as given, and InvalidArgumentError otherwise', () => {
    expect(createOption(undefined, 'X')).toBe(true);
    expect(createOption(true, 'X')).toBe(true);
    expect(createOption(false, 'X')).toBe(false);
    for (const value of ['false', 0, 1, null, {}]) {
      expect(() => createOption(value, 'X')).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringMatching(/^X: create must be a boolean, got /) }));
    }
  });

  it('?create= is true or false (the last one given counts), absent is undefined, anything else InvalidArgumentError', () => {
    expect(createFromUrl(new URL('postgres://h/db'), 'X')).toBeUndefined();
    expect(createFromUrl(new URL('postgres://h/db?create=false'), 'X')).toBe(false);
    expect(createFromUrl(new URL('postgres://h/db?schema=a&create=true'), 'X')).toBe(true);
    expect(createFromUrl(new URL('redis://h?create=true&create=false'), 'X')).toBe(false);
    for (const value of ['', 'no', 'FALSE', '0', '1']) {
      expect(() => createFromUrl(new URL(`redis://h?create=${value}`), 'X')).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: `X: URL parameter create must be true or false, got ${JSON.stringify(value)}` }),
      );
    }
    // One valid and one invalid value: refused, whatever the order.
    expect(() => createFromUrl(new URL('redis://h?create=false&create=nope'), 'X')).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
  });

  it('a ?create= value or a parameter name that may be a pasted key or token is described by its length, never quoted', () => {
    const hex = 'ad972859d0ca7c9d885e41c8f0a1b2c3d4e5f607';
    const pasted = [hex.slice(0, 16), hex, `${hex}${hex}`, 'q5cjWdDKfJ2IXkHI8KGyw9Tl9gcYKTpLXG1-j5Chssw_', 'x'.repeat(41)];
    for (const value of pasted) {
      let message = '';
      try {
        createFromUrl(new URL(`redis://h?create=${encodeURIComponent(value)}`), 'X');
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe(`X: URL parameter create must be true or false, got a value of ${value.length} characters (not shown)`);
      expect(describeParameter(value)).toBe(`(a name of ${value.length} characters, not shown)`);
    }
    // What anybody types is named as it is, to be found and fixed.
    for (const name of ['shcema', 'tablePrefx', 'serverSelectionTimeout', 'cafe', 'a.b-c_d']) expect(describeParameter(name)).toBe(JSON.stringify(name));
  });

  it('the refusal is NotFoundError naming the place, the library and what is missing', () => {
    const error = storeNotFound('RedisStorage', 'key prefix "tg:"', '@mtstore/redis', 'no key tg:schema');
    expect(error.code).toBe('MTSTORE_NOT_FOUND');
    expect(error.name).toBe('NotFoundError');
    expect(error.message).toBe('RedisStorage: key prefix "tg:" holds no @mtstore/redis store (no key tg:schema); opened with create: false, so nothing was created');
  });
});
