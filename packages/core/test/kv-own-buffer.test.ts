import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../../memory/src/index.js';
import type { KeyValueRepository } from '../src/index.js';

/**
 * A memory storage whose kv repository answers like a database driver: every value a
 * Buffer, small ones slices of Node's shared pool (Buffer.from of an array), which other
 * values read before share; `asView` answers plain Uint8Array views into a larger buffer instead.
 */
class DriverLike extends MemoryStorage {
  static asView = false;
  protected override get kvReadsWithoutIo(): boolean {
    return false;
  }
  constructor(options: ConstructorParameters<typeof MemoryStorage>[0]) {
    super(options);
    const inner = (this as unknown as { kvRepository: KeyValueRepository }).kvRepository;
    const out = (value: Uint8Array): Uint8Array => {
      if (!DriverLike.asView) return Buffer.from(Array.from(value));
      const big = new Uint8Array(value.length + 16).fill(0x5a);
      big.set(value, 8);
      return big.subarray(8, 8 + value.length);
    };
    const repository: KeyValueRepository = {
      get: async (key) => {
        const value = await inner.get(key);
        return value === null ? null : out(value);
      },
      set: (key, value) => inner.set(key, value),
      entries: async () => (await inner.entries()).map((e) => ({ key: e.key, value: out(e.value) })),
      clear: () => inner.clear(),
    };
    Object.defineProperty(this, 'kvRepository', { value: repository });
  }
}

const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

function own(value: Uint8Array | null | undefined, expected: Uint8Array): void {
  expect(value).toBeDefined();
  const bytes = value as Uint8Array;
  expect(Object.getPrototypeOf(bytes), 'a plain Uint8Array').toBe(Uint8Array.prototype);
  expect([bytes.byteOffset, bytes.buffer.byteLength], 'a buffer of its own').toEqual([0, expected.length]);
  expect(Array.from(bytes)).toEqual(Array.from(expected));
}

describe('kv values read back are the caller’s own bytes (docs/contract.md §4)', () => {
  for (const asView of [false, true]) {
    it(`get and entries hand out plain Uint8Arrays over a buffer of their own (repository answers ${asView ? 'views into a larger buffer' : 'pool Buffers'})`, async () => {
      DriverLike.asView = asView;
      const store = new MemoryStore();
      const other = new DriverLike({ name: 'other', store });
      const mine = new DriverLike({ name: 'mine', store });
      await other.kv.set('theirs', text('OTHER-SESSION-SECRET'));
      await mine.kv.set('mine', text('MY-SECRET-VALUE'));
      await other.kv.get('theirs');
      await other.kv.entries();
      const value = await mine.kv.get('mine');
      own(value, text('MY-SECRET-VALUE'));
      expect(Buffer.from((value as Uint8Array).buffer).toString('latin1')).not.toContain('OTHER-SESSION-SECRET');
      const [entry] = await mine.kv.entries();
      own(entry?.value, text('MY-SECRET-VALUE'));
    });
  }

  it('a value that is already a plain Uint8Array over its own buffer is handed out as it is', async () => {
    const storage = new MemoryStorage({ name: 'plain' });
    await storage.kv.set('k', Uint8Array.of(1, 2, 3));
    own(await storage.kv.get('k'), Uint8Array.of(1, 2, 3));
  });
});
