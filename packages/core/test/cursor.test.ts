import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, parsePeerCursor, parseRefCursor, peerCursor, refCursor } from '../src/index.js';

const MAX = 2n ** 63n - 1n;
const MIN = -(2n ** 63n);

describe('list cursors', () => {
  it('a peer cursor is type:id and reads back, at both ends of the 64-bit range', () => {
    for (const type of ['user', 'chat', 'channel'] as const) {
      for (const id of [MIN, MIN + 1n, -1n, 0n, 1n, MAX - 1n, MAX]) {
        const cursor = peerCursor({ type, id });
        expect(cursor).toBe(`${type}:${id}`);
        expect(parsePeerCursor(cursor)).toEqual({ type, id });
      }
    }
  });

  it('a peer cursor one past either end, or not in canonical form, is an InvalidArgumentError', () => {
    const bad = [`user:${MAX + 1n}`, `user:${MIN - 1n}`, 'user:-0', 'user:01', 'user:+1', ' user:1', 'user:1 ', 'xuser:1', 'user:1x', 'bot:1', 'user:', ':1', '', 'user:99999999999999999999'];
    for (const cursor of bad) expect(() => parsePeerCursor(cursor), cursor).toThrow(InvalidArgumentError);
  });

  it('a reference cursor is the decimal sequence number, 0..2^63−1', () => {
    for (const seq of [0n, 1n, 2n ** 53n + 1n, MAX]) expect(parseRefCursor(refCursor(seq))).toBe(seq);
    for (const cursor of [String(MAX + 1n), '-1', '01', '+1', ' 1', '1 ', 'x1', '1x', '1.0', '1e3', '', '99999999999999999999']) {
      expect(() => parseRefCursor(cursor), cursor).toThrow(InvalidArgumentError);
    }
  });

  it('the message describes a rejected cursor as describeValue does: a key in hex or base64 never shows', () => {
    const long = `user:${'9'.repeat(1000)}`;
    expect(() => parsePeerCursor(long)).toThrow(/^options\.cursor must be a cursor peers\.list returned, got a string of 1005 chars \(not shown\)$/);
    expect(() => parsePeerCursor('bot:1')).toThrow('options.cursor must be a cursor peers.list returned, got string "bot:1"');
    const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
    for (const text of [Buffer.from(key).toString('hex'), Buffer.from(key).toString('base64'), Buffer.from(key.subarray(0, 16)).toString('hex')]) {
      for (const parse of [parsePeerCursor, parseRefCursor]) {
        let message = '';
        try {
          parse(text);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidArgumentError);
          message = (error as Error).message;
        }
        expect(message).toContain(`a string of ${text.length} chars (not shown)`);
        expect(message).not.toContain(text.slice(0, 8));
      }
    }
  });
});
