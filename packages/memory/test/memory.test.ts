import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@mtstore/core';
import { fullSession } from '@mtstore/conformance';
import { MemorySessionStorage, MemoryStorage, MemoryStore } from '../src/index.js';

describe('memory adapter', () => {
  it('rejects options that are not an object or a store that is not a MemoryStore', () => {
    expect(() => new MemoryStorage(null as never)).toThrow(InvalidArgumentError);
    expect(() => new MemorySessionStorage('x' as never)).toThrow(InvalidArgumentError);
    expect(() => new MemoryStorage({ store: {} as never })).toThrow(InvalidArgumentError);
    expect(() => new MemoryStorage({ name: 'bad name' })).toThrow(InvalidArgumentError);
  });

  it('without a store each instance has its own data; with one they share it', async () => {
    const alone = new MemoryStorage({ name: 'a' });
    const store = new MemoryStore();
    const first = new MemoryStorage({ store, name: 'a' });
    const second = new MemoryStorage({ store, name: 'a' });
    await first.save(fullSession(1));
    expect(await alone.load()).toBeNull();
    expect((await second.load())?.user).toEqual(fullSession(1).user);
  });

  it('inspects as its name and state, never the store', async () => {
    const storage = new MemoryStorage({ name: 'bot' });
    await storage.save(fullSession(1));
    expect(inspect(storage)).toBe('MemoryStorage { name: "bot", closed: false }');
  });
});
