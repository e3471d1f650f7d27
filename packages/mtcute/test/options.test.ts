/**
 * mtcuteStorage's options: a misspelt one was ignored (`{ testmode: true }` left a test
 * session unmarked, read as production by other clients; `{ leas: false }` left the lease
 * on). Refused before anything else, naming the nearest.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '@mtstore/memory';
import { mtcuteStorage } from '../src/index.js';

describe('mtcuteStorage options', () => {
  it('refuses an option it does not have, naming the nearest', async () => {
    const storage = new MemoryStorage({ name: 'options' });
    expect(() => mtcuteStorage(storage, { testmode: true } as never)).toThrow('mtcuteStorage: unknown option "testmode" (did you mean "testMode"?)');
    expect(() => mtcuteStorage(storage, { leas: false } as never)).toThrow(/unknown option "leas" \(did you mean "lease"\?\)/);
    // Every option it has is accepted.
    const provider = mtcuteStorage(storage, { closeOnDestroy: true, displayNames: false, lease: false, testMode: false });
    await provider.driver.load?.();
    await provider.driver.destroy?.();
  });
});
