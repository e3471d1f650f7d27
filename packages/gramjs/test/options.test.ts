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

  // docs/contract.md §8: null for an option is InvalidArgumentError naming it. Each was
  // taken for "left out": `lease: null` kept the lease on, `onError: null` sent write
  // failures to console.error, `completeObjects: null` dropped the TL bytes.
  it('refuses null for each of its options, naming it', async () => {
    const storage = new MemoryStorage({ name: 'options-null' });
    for (const option of ['onError', 'completeObjects', 'lease']) {
      expect(() => new StorageSession(storage, { [option]: null } as never), option).toThrow(`StorageSession: ${option} must not be null`);
    }
    // Left out (undefined), each is at its default.
    const session = new StorageSession(storage, { onError: undefined, completeObjects: undefined, lease: undefined });
    await session.load();
    await session.close();
    await storage.close();
  });

  // Each option's type was not checked: onError: 'log' threw a TypeError at the first
  // failed write (losing the error it was to report), completeObjects: 'yes' was taken as
  // true, lease: 1 was a TypeError, not the InvalidArgumentError bad input is.
  it('refuses an option value of the wrong type with InvalidArgumentError naming it', async () => {
    const storage = new MemoryStorage({ name: 'options-types' });
    for (const [option, value] of [['onError', 'log'], ['completeObjects', 'yes'], ['completeObjects', 1], ['lease', 1]] as const) {
      expect(() => new StorageSession(storage, { [option]: value } as never), `${option}: ${value}`).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(`StorageSession: options.${option} must be`) }),
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
    expect(() => new StorageSession(storage, { lease: { ttlSecond: 5 } } as never)).toThrow(
      expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('StorageSession: options.lease: options: unknown option "ttlSecond" (did you mean "ttlSeconds"?)') }),
    );
    expect(() => new StorageSession(storage, { lease: { ttlSeconds: 5, owner: { label: 'bot' }, wait: 100 } } as never)).not.toThrow();
  });
});
