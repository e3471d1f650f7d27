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

  // docs/contract.md §8: null for an option is InvalidArgumentError naming it. Each but
  // testMode was taken for "left out": `lease: null` kept the lease on, `closeOnDestroy:
  // null` closed a shared storage, `displayNames: null` stored names.
  it('refuses null for each of its options, naming it', async () => {
    const storage = new MemoryStorage({ name: 'options-null' });
    for (const option of ['closeOnDestroy', 'displayNames', 'lease', 'testMode']) {
      expect(() => mtcuteStorage(storage, { [option]: null } as never), option).toThrow(`mtcuteStorage: ${option} must not be null`);
    }
    // Left out (undefined), each is at its default.
    const provider = mtcuteStorage(storage, { closeOnDestroy: undefined, displayNames: undefined, lease: undefined, testMode: undefined });
    await provider.driver.load?.();
    await provider.driver.destroy?.();
  });

  // closeOnDestroy: 'no' (truthy) closed a storage the application shares when the client
  // was destroyed; displayNames: 0 stored no names. Neither type was checked.
  it('refuses closeOnDestroy and displayNames that are not booleans, naming them', async () => {
    const storage = new MemoryStorage({ name: 'options-types' });
    for (const [option, value] of [['closeOnDestroy', 'no'], ['closeOnDestroy', 0], ['displayNames', 0], ['displayNames', 'false']] as const) {
      expect(() => mtcuteStorage(storage, { [option]: value } as never), `${option}: ${value}`).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(`mtcuteStorage: options.${option} must be a boolean`) }),
      );
    }
    await storage.close();
  });

  // The lease object is acquired only when the client loads the session: it was checked
  // only then (a misspelt { ttlSecond: 5 } passed construction and failed the client's
  // start). Checked where it is given now, as lease.acquire checks it.
  it('refuses lease options acquire would refuse, at construction, naming them', () => {
    const storage = new MemoryStorage({ name: 'options-lease' });
    // Each refusal is core's (assertLeaseAcquireOptions; core's null-options test goes through them): here, that it runs now.
    expect(() => mtcuteStorage(storage, { lease: { ttlSecond: 5 } } as never)).toThrow(
      expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('mtcuteStorage: options.lease: options: unknown option "ttlSecond" (did you mean "ttlSeconds"?)') }),
    );
    expect(() => mtcuteStorage(storage, { lease: { ttlSeconds: 5, owner: { label: 'bot' }, wait: 100 } } as never)).not.toThrow();
  });
});
