/**
 * The conversions the bridge does per peer, checked against mtcute's own code: the
 * access hash "fast string" against `longToFastString` / `longFromFastString`, and the
 * display name read from the leading fields against mtcute's full deserializer.
 */
import { Long } from '@mtcute/core';
import { __tlReaderMap, __tlWriterMap, longFromFastString, longToFastString, TlBinaryReader, TlBinaryWriter } from '@mtcute/core/utils.js';
import { createStub } from '@mtcute/test/stub.js';
import { describe, expect, it } from 'vitest';
import { fromMarkedId, InvalidArgumentError } from '@mtstore/core';
import { accessHashFromString, accessHashToString, displayNameOf, peerFromInfo } from '../src/index.js';
import { isMarkedId, unmarkId } from '../src/peer-info.js';

/** A deterministic pseudo-random stream (xorshift32). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const serialize = (object: unknown): Uint8Array => TlBinaryWriter.serializeObject(__tlWriterMap, object as never);

/** What the bridge read before: mtcute's whole object, then first + last name or title. */
function nameByMtcute(bytes: Uint8Array): string | undefined {
  const tl = TlBinaryReader.deserializeObject(__tlReaderMap, bytes) as { _: string; firstName?: string; lastName?: string; title?: string };
  const name = tl._ === 'user' ? [tl.firstName, tl.lastName].filter((p) => p !== undefined && p !== '').join(' ') : tl.title;
  return name === '' ? undefined : name;
}

describe('access hash fast strings', () => {
  it('match mtcute both ways over the whole int64 range', () => {
    const next = random(7);
    const values = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 32n, 2n ** 31n, -(2n ** 31n)];
    for (let i = 0; i < 2000; i++) values.push(BigInt.asIntN(64, (BigInt(next()) << 32n) | BigInt(next())));
    for (const value of values) {
      const long = Long.fromBits(Number(BigInt.asIntN(32, value)), Number(BigInt.asIntN(32, value >> 32n)));
      const fast = longToFastString(long);
      expect(accessHashToString(value)).toBe(fast);
      expect(accessHashFromString(fast)).toBe(value);
      expect(BigInt(longFromFastString(fast).toString())).toBe(value);
    }
  });

  it('parse loose strings as mtcute does, and reject what mtcute rejects', () => {
    for (const loose of ['4294967295|0', '12abc|3', ' 5|-1', '99999999999|7']) {
      const long = longFromFastString(loose);
      expect(accessHashFromString(loose)).toBe(BigInt(long.toString()));
    }
    for (const bad of ['5', '1|2|3', 'x|1', '1|', '|1']) {
      expect(() => longFromFastString(bad)).toThrow();
      expect(() => accessHashFromString(bad)).toThrow(TypeError);
    }
    expect(accessHashFromString('')).toBe(0n);
  });
});

describe('display names', () => {
  const names = ['', 'A', 'Abc', 'Four', 'Привет мир', '😀 emoji', 'x'.repeat(253), 'y'.repeat(254), 'z'.repeat(300), 'w'.repeat(2000)];

  it('read from the leading fields match mtcute reading the whole object', () => {
    const next = random(11);
    const objects: unknown[] = [];
    for (const first of [undefined, ...names]) {
      // 'Müller': an ASCII first name with a short non-ASCII last name (not joined as ASCII).
      for (const last of [undefined, 'Last', '', 'Müller', 'é'.repeat(200)]) {
        objects.push(
          createStub('user', {
            id: 1 + (next() % 1e9),
            accessHash: next() % 2 === 0 ? Long.fromBits(next() | 0, next() | 0) : undefined,
            firstName: first,
            lastName: last,
            username: next() % 2 === 0 ? `user_${next()}` : undefined,
            phone: next() % 2 === 0 ? '15551234567' : undefined,
            bot: next() % 2 === 0,
            usernames: next() % 2 === 0 ? [{ _: 'username', username: 'extra', active: true }] : undefined,
          }),
        );
      }
    }
    for (const title of names) {
      const id = 1 + (next() % 1e9);
      objects.push(createStub('chat', { id, title }));
      objects.push({ _: 'chatForbidden', id, title });
      objects.push(createStub('channel', { id, title, accessHash: next() % 2 === 0 ? Long.fromBits(next() | 0, next() | 0) : undefined, megagroup: next() % 2 === 0 }));
      objects.push({ _: 'channelForbidden', id, title, accessHash: Long.fromBits(next() | 0, next() | 0), untilDate: next() % 2 === 0 ? 5 : undefined });
    }
    let checked = 0;
    for (const object of objects) {
      const bytes = serialize(object);
      const expected = nameByMtcute(bytes);
      expect(displayNameOf(bytes)).toBe(expected === undefined ? undefined : expected.slice(0, 1024));
      checked++;
    }
    expect(checked).toBe(95);
  });

  it('are read from the leading fields only (the rest is not decoded)', () => {
    // A user with a photo whose constructor mtcute does not know: its full reader throws.
    const bytes = serialize(createStub('user', { id: 5, firstName: 'Lead', lastName: 'Only', photo: { _: 'userProfilePhotoEmpty' } }));
    const photoAt = bytes.length - 4;
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(photoAt, 0xdeadbeef, true);
    expect(() => TlBinaryReader.deserializeObject(__tlReaderMap, bytes)).toThrow();
    expect(displayNameOf(bytes)).toBe('Lead Only');
  });

  it('fall back to mtcute for other objects, and give none for bytes that are not one', () => {
    expect(displayNameOf(serialize({ _: 'userEmpty', id: 5 }))).toBeUndefined();
    expect(displayNameOf(serialize({ _: 'chatEmpty', id: 5 }))).toBeUndefined();
    const user = serialize(createStub('user', { id: 5, firstName: 'Cut', lastName: 'Short' }));
    for (let length = 0; length < 40; length++) expect(() => displayNameOf(user.subarray(0, length))).not.toThrow();
    expect(displayNameOf(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]))).toBeUndefined();
  });
});

describe('marked ids', () => {
  it('unmarkId / isMarkedId agree with core’s fromMarkedId on every range edge and a random spread', () => {
    const next = random(11);
    const edges = [0, 1, -1, 2 ** 40 - 1, 2 ** 40, -999_999_999_999, -1_000_000_000_000, -1_000_000_000_001, -1_000_000_000_000 - (1_000_000_000_000 - 2 ** 31), -1_000_000_000_000 - (1_000_000_000_000 - 2 ** 31) - 1];
    const values: number[] = [...edges.flatMap((n) => [n, n + 1, n - 1]), 1.5, -0.5, Number.NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER];
    // Integers from about -2.1e12 to 2.3e12: across every range and the gaps between them.
    for (let i = 0; i < 3000; i++) values.push(next() * 1024 + (next() % 1024) - 2_100_000_000_000);
    for (const value of values) {
      let expected: ReturnType<typeof fromMarkedId> | undefined;
      try {
        expected = fromMarkedId(value);
      } catch {
        expected = undefined;
      }
      expect(unmarkId(value), String(value)).toEqual(expected);
      expect(isMarkedId(value), String(value)).toBe(expected !== undefined);
    }
  });

  it('peerFromInfo still throws core’s InvalidArgumentError for an id outside the ranges', () => {
    const info = { id: 2 ** 41, accessHash: '1|0', isMin: false, usernames: [], updated: 0, complete: new Uint8Array(0) };
    expect(() => peerFromInfo(info, { displayName: false })).toThrow(InvalidArgumentError);
    expect(peerFromInfo({ ...info, id: -1_000_000_000_005 }, { displayName: false })).toMatchObject({ type: 'channel', id: 5n });
  });
});
