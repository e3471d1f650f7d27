/**
 * copyOutBytes: every copy holds exactly the source's range, is a plain Uint8Array, and
 * is its own — changing it changes neither the source nor any other copy, however many
 * copies share a pool, across pool boundaries, whatever the lengths (in V8's heap,
 * pooled, too long for a pool) and whether the source is a plain array or a Buffer;
 * copyOutOf (a range of an ArrayBuffer) likewise, its copies sharing pools with them.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copyOutBytes, copyOutOf } from '../src/bytes.js';

/** Lengths around each boundary of bytes.ts: 64 (in heap), 4,096 (pooled), 8,192 (a pool). */
const length = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 60, max: 70 }), fc.integer({ min: 4090, max: 4100 }), fc.integer({ min: 65, max: 8200 }));

/** Byte-wise equality without vitest's element-by-element diffing (copies run to 8 KiB). */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

const source = length.chain((n) =>
  fc.record({
    bytes: fc.uint8Array({ minLength: n, maxLength: n }),
    buffer: fc.boolean(),
    // Copied with copyOutOf from the ArrayBuffer (a range at a non-zero offset in it) instead.
    whole: fc.boolean(),
    // A range inside the source: [start, end).
    start: fc.integer({ min: 0, max: n }),
    cut: fc.integer({ min: 0, max: n }),
  }),
);

describe('copyOutBytes, copyOutOf', () => {
  it('copies a range into bytes of its own, for any sequence of copies', () => {
    fc.assert(
      fc.property(fc.array(source, { minLength: 1, maxLength: 40 }), (sources) => {
        const copies: { copy: Uint8Array; expected: Uint8Array; from: Uint8Array }[] = [];
        for (const { bytes, buffer, whole, start, cut } of sources) {
          const from = buffer ? Buffer.from(bytes) : bytes;
          const end = Math.max(start, Math.min(bytes.length, start + cut));
          let copy: Uint8Array;
          if (whole) {
            // The source's bytes 3 into a larger ArrayBuffer, so an offset dropped shows.
            const memory = new ArrayBuffer(bytes.length + 5);
            new Uint8Array(memory).fill(0xee).set(from, 3);
            copy = copyOutOf(memory, 3 + start, 3 + end);
            copies.push({ copy, expected: bytes.slice(start, end), from: new Uint8Array(memory) });
          } else copy = copyOutBytes(from, start, end);
          expect(Object.getPrototypeOf(copy)).toBe(Uint8Array.prototype);
          expect(copy.length).toBe(end - start);
          const expected = bytes.slice(start, end);
          expect(same(copy, expected)).toBe(true);
          if (!whole) copies.push({ copy, expected, from });
        }
        // Scribble over each copy in turn: its source and every other copy keep their bytes.
        for (const [i, { copy, from }] of copies.entries()) {
          const before = from.slice();
          copy.fill(0xa5);
          expect(same(from, before)).toBe(true);
          for (const [j, other] of copies.entries()) if (j > i) expect(same(other.copy, other.expected)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('copies the whole source by default', () => {
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
    const copy = copyOutBytes(bytes);
    expect(copy).toEqual(bytes);
    copy[0] = 255;
    expect(bytes[0]).toBe(0);
  });

  it('cuts copies of 65 to 4,096 bytes out of shared 8-aligned pools, others get buffers of their own', () => {
    const bytes = new Uint8Array(5000).fill(7);
    // The pool earlier tests left may end within the next three copies (the property test
    // above cuts random sizes): then a fresh pool starts, which has room for all three.
    let [a, b, c] = threeCopies(bytes);
    if (b.buffer !== a.buffer || c.buffer !== a.buffer) [a, b, c] = threeCopies(bytes);
    // Consecutive pooled copies share a buffer (this is what makes them cheap), 8-aligned.
    expect(b.buffer).toBe(a.buffer);
    expect(a.byteOffset % 8).toBe(0);
    expect(b.byteOffset).toBe(a.byteOffset + 104);
    // copyOutOf cuts from the same pools.
    expect(c.buffer).toBe(a.buffer);
    expect(c.byteOffset).toBe(b.byteOffset + 104);
    for (const n of [0, 1, 64, 4097, 5000]) {
      for (const own of [copyOutBytes(bytes, 0, n), copyOutOf(bytes.buffer, 0, n)]) {
        expect(own.byteOffset).toBe(0);
        expect(own.buffer.byteLength).toBe(n);
      }
    }
  });
});

/** Two pooled copies by copyOutBytes, then one by copyOutOf, each of 100 bytes. */
function threeCopies(bytes: Uint8Array<ArrayBuffer>): [Uint8Array, Uint8Array, Uint8Array] {
  return [copyOutBytes(bytes, 0, 100), copyOutBytes(bytes, 0, 100), copyOutOf(bytes.buffer, 8, 108)];
}
