/**
 * docs/contract.md §8: an option is left out (`undefined`: its default) or a valid value;
 * `null` is InvalidArgumentError naming it, before any I/O. assertKnownOptions (which
 * every constructor and factory calls) checks the top-level options; these are the
 * option objects inside them that core reads with its own code, where a `??` took null
 * for "left out": `encryption: { secretKvPrefixes: null }` sealed no kv value, and
 * `lease.acquire({ ttlSeconds: null })` (also a bridge's `lease: { ttlSeconds: null }`)
 * took the 30 s default, while `wait: null` and `owner: null` were refused.
 */
import { thrown } from './thrown.js';
import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../../memory/src/index.js';
import { assertKnownOptions, generateEncryptionKey, rotateEncryption } from '../src/index.js';
import { Sealer } from '../src/seal.js';

describe('null for an option', () => {
  it('assertKnownOptions refuses null for a known option, naming it, and leaves undefined and values alone', () => {
    const error = thrown(() => assertKnownOptions({ a: 1, b: null }, ['a', 'b'], 'Thing'));
    expect(error?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error?.message).toBe('Thing: b must not be null: leave it out (or undefined) for its default, or give a value');
    expect(thrown(() => assertKnownOptions({ a: undefined, b: 0 }, ['a', 'b'], 'Thing'))).toBeUndefined();
    // A getter is not called (its answer is left to the option's own check).
    let calls = 0;
    const withGetter = Object.defineProperty({}, 'a', { enumerable: true, get: () => (calls++, null) });
    expect(thrown(() => assertKnownOptions(withGetter, ['a'], 'Thing'))).toBeUndefined();
    expect(calls).toBe(0);
  });

  it('encryption.secretKvPrefixes: null is refused, not read as "no prefix"', () => {
    const keys = [{ id: 'k1', key: generateEncryptionKey() }];
    const error = thrown(() => new Sealer({ keys, secretKvPrefixes: null } as never, 'alice', 'Test'));
    expect(error?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error?.message).toContain('Test: encryption.secretKvPrefixes must be an array');
    expect(thrown(() => new Sealer({ keys, secretKvPrefixes: undefined }, 'alice', 'Test'))).toBeUndefined();
  });

  it('lease.acquire refuses null for each option and an option it does not have, before any write', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 'lease-null', store });
    // ttlSeconds: null and a misspelt ttlSecond took the 30 s default.
    const cases: [Record<string, unknown>, string][] = [
      [{ ttlSecond: 5 }, 'options: unknown option "ttlSecond" (did you mean "ttlSeconds"?)'],
      ...['ttlSeconds', 'owner', 'wait', 'force', 'heartbeat', 'onLost'].map((option): [Record<string, unknown>, string] => [{ [option]: null }, `options: ${option} must not be null`]),
    ];
    for (const [options, message] of cases) {
      const error = await storage.lease.acquire(options as never).then(
        () => undefined,
        (caught: Error & { code?: string }) => caught,
      );
      expect(error?.code, message).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).toBe(`MemoryStorage.lease.acquire("lease-null"): ${message}${message.startsWith('options: unknown') ? '; known options: owner, ttlSeconds, wait, force, heartbeat, onLost' : ': leave it out (or undefined) for its default, or give a value'}`);
    }
    // The owner's fields too: a misspelt { lable } left the holder unlabelled.
    for (const [owner, message] of [
      [{ lable: 'bot' }, 'options.owner: unknown option "lable" (did you mean "label"?); known options: host, pid, label'],
      [{ label: null }, 'options.owner: label must not be null: leave it out (or undefined) for its default, or give a value'],
    ] as const) {
      await expect(storage.lease.acquire({ owner } as never)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT', message: `MemoryStorage.lease.acquire("lease-null"): ${message}` });
    }
    expect(await storage.lease.holder(), 'nothing taken').toBeNull();
    await storage.lease.acquire({ ttlSeconds: undefined, owner: { label: 'bot' } });
    expect(storage.lease.held).not.toBeNull();
    await storage.close();
  });

  it('rotateEncryption refuses null, an option it does not have and an onProgress that is not a function, before opening any session', async () => {
    const opened: string[] = [];
    const open = (name: string) => {
      opened.push(name);
      return new MemoryStorage({ name, store: new MemoryStore() });
    };
    // batchSize: null ran batches of 8; batchsize was ignored; onProgress: 'log' threw after the first batch was re-sealed.
    for (const [options, message] of [
      [{ open, names: ['a'], batchSize: null }, 'rotateEncryption: batchSize must not be null'],
      [{ open, names: ['a'], batchsize: 2 }, 'rotateEncryption: unknown option "batchsize" (did you mean "batchSize"?)'],
      [{ open, names: ['a'], onProgress: 'log' }, 'rotateEncryption: onProgress must be a function, got string "log"'],
    ] as const) {
      const error = await rotateEncryption(options as never).then(
        () => undefined,
        (caught: Error & { code?: string }) => caught,
      );
      expect(error?.code, message).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).toContain(message);
    }
    expect(opened, 'no session opened').toEqual([]);
  });
});
