/**
 * StorageSession's options: a misspelt one was ignored (`{ leas: false }` left the lease
 * on, so a second client on the session failed at connect; `{ onErorr }` sent write
 * failures to console.error). Refused before anything else, naming the nearest.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '@mtstore/memory';
import { StorageSession } from '../src/index.js';

describe('StorageSession options', () => {
  it('refuses an option it does not have, naming the nearest, and options that are not an object', async () => {
    const storage = new MemoryStorage({ name: 'options' });
    expect(() => new StorageSession(storage, { leas: false } as never)).toThrow('StorageSession: unknown option "leas" (did you mean "lease"?)');
    expect(() => new StorageSession(storage, { onErorr: () => {} } as never)).toThrow(/unknown option "onErorr" \(did you mean "onError"\?\)/);
    expect(() => new StorageSession(storage, null as never)).toThrow('StorageSession: options must be an object');
    // Every option it has is accepted.
    const session = new StorageSession(storage, { onError: () => {}, completeObjects: true, lease: false });
    await session.load();
    await session.close();
    await storage.close();
  });
});
