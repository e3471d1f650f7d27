/**
 * The label-free peer check used on batches and stored rows must accept and reject
 * exactly what assertPeer does: each bad field, alone, is rejected by both. So must
 * upsert's one-pass take-and-check (intake.ts takeCheckedPeer), which repeats the rules
 * on its locals: a valid peer comes back as an equal copy, any other as undefined.
 */
import { describe, expect, it } from 'vitest';
import { takeCheckedPeer } from '../src/intake.js';
import { assertPeer, isPeer, isStorableText, storableText } from '../src/validate.js';

const good = { type: 'user', id: 5n, accessHash: -(2n ** 63n), usernames: ['Ab_1', 'cd'], phone: '123', min: false, updatedAt: 1_700_000_000, displayName: 'Name', complete: new Uint8Array(3) };

const bad: Array<[string, Record<string, unknown>]> = [
  ['type', { type: 'bot' }],
  ['id as number', { id: 5 }],
  ['id past int64', { id: 2n ** 63n }],
  ['accessHash below int64', { accessHash: -(2n ** 63n) - 1n }],
  ['usernames not an array', { usernames: 'ab' }],
  ['username with @', { usernames: ['@ab'] }],
  ['username too long', { usernames: ['a'.repeat(65)] }],
  ['usernames repeated case-insensitively', { usernames: ['ab', 'AB'] }],
  ['phone with +', { phone: '+123' }],
  ['phone too long', { phone: '1'.repeat(21) }],
  ['min not boolean', { min: 1 }],
  ['updatedAt in milliseconds', { updatedAt: 1_700_000_000_000 }],
  ['updatedAt negative', { updatedAt: -1 }],
  ['updatedAt fractional', { updatedAt: 1.5 }],
  ['displayName too long', { displayName: 'x'.repeat(1025) }],
  ['displayName with U+0000', { displayName: 'a\u0000b' }],
  ['displayName ending in a high surrogate', { displayName: 'a\ud83d' }],
  ['displayName with a high surrogate before a letter', { displayName: '\ud83da' }],
  ['displayName with a lone low surrogate', { displayName: 'a\ude00b' }],
  ['displayName with a pair in the wrong order', { displayName: '\ude00\ud83d' }],
  ['complete as array', { complete: [1, 2] }],
  ['complete too large', { complete: new Uint8Array(65_537) }],
];

describe('isPeer agrees with assertPeer', () => {
  it('accepts a valid peer and one with only the required fields', () => {
    const bare = { type: 'channel', id: 1n, accessHash: 0n, usernames: [], updatedAt: 0 };
    expect(isPeer(good)).toBe(true);
    expect(isPeer(bare)).toBe(true);
    for (const peer of [good, bare, { ...good, usernames: ['a', 'b', 'c'] }]) {
      for (const bytes of ['copy', 'view'] as const) {
        const taken = takeCheckedPeer(peer, bytes);
        expect(taken).toEqual(peer);
        expect(taken).not.toBe(peer);
      }
    }
  });
  it('accepts any well-formed Unicode name: surrogate pairs, the highest code point, U+FFFD itself', () => {
    for (const displayName of ['😀', 'a😀b😀', '\u{10FFFF}', '\ufffd', 'Ünïcödé 名前', '\u0001\u007f']) {
      const peer = { ...good, displayName };
      expect(isPeer(peer), displayName).toBe(true);
      expect(() => assertPeer(peer, 'peer')).not.toThrow();
    }
  });
  for (const [what, change] of bad) {
    it(`rejects ${what}, as assertPeer does`, () => {
      const peer = { ...good, ...change };
      expect(isPeer(peer)).toBe(false);
      expect(takeCheckedPeer(peer, 'copy')).toBeUndefined();
      expect(() => assertPeer(peer, 'peer')).toThrow();
    });
  }
  it('rejects non-objects', () => {
    for (const value of [null, undefined, 1, 'peer', [good], new Uint8Array(1)]) {
      expect(isPeer(value)).toBe(false);
      expect(takeCheckedPeer(value, 'copy')).toBeUndefined();
    }
  });
});

describe('isStorableText', () => {
  it('answers as its definition (no U+0000, no unpaired surrogate) at every length around the loop / native-scan switch (8 code units) and past it', () => {
    // The definition, by code points: a lone surrogate is a code point of its own.
    const storable = (text: string): boolean => [...text].every((c) => c !== '\u0000' && !(c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff));
    const specials = ['\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', '\ude00\ud83d', 'é', '\uffff'];
    const differ: string[] = [];
    for (const length of [1, 2, 7, 8, 9, 10, 16, 64]) {
      for (const special of specials) {
        for (let at = 0; at < length; at++) {
          const text = `${'a'.repeat(at)}${special}${'b'.repeat(length - at)}`.slice(0, Math.max(length, special.length));
          if (isStorableText(text) !== storable(text)) differ.push(JSON.stringify(text));
        }
      }
      const plain = 'n'.repeat(length);
      if (!isStorableText(plain)) differ.push(plain);
    }
    expect(differ).toEqual([]);
  });
});

describe('storableText', () => {
  it('leaves out U+0000 and unpaired surrogates, cuts without splitting a pair, and returns a fitting text itself', () => {
    const fits = 'Ünïcödé 😀';
    expect(storableText(fits, 1024)).toBe(fits);
    expect(storableText('a\u0000b\ud83dc\ude00d😀', 1024)).toBe('abcd😀');
    expect(storableText(`${'x'.repeat(9)}😀`, 10)).toBe('x'.repeat(9));
    expect(storableText(`${'x'.repeat(8)}😀`, 10)).toBe(`${'x'.repeat(8)}😀`);
    for (const text of ['\ud800', '\udc00\ud800', 'a\u0000', `${'y'.repeat(20)}\ud83d\ude00`]) expect(isStorableText(storableText(text, 21))).toBe(true);
  });
});
