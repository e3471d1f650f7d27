/**
 * authKeys.set (base.ts): every failure comes as a rejected promise, never a synchronous
 * throw, and a repository answering with a promise is waited for — whichever way set is
 * written (an async function, or written out as kv.set is).
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../memory/src/index.js';
import { LeaseLostError } from '../src/index.js';

const key = (seed: number) => new Uint8Array(256).fill(seed);

/** The call's promise; fails the test if the call threw instead of returning one. */
function call(run: () => Promise<void>): Promise<void> {
  let promise: Promise<void>;
  try {
    promise = run();
  } catch (error) {
    throw new Error(`authKeys.set threw synchronously: ${String(error)}`);
  }
  expect(promise).toBeInstanceOf(Promise);
  return promise;
}

type Repo = { set(dcId: number, key: Uint8Array | null): unknown };
const repoOf = (storage: MemoryStorage) => (storage as unknown as { authKeyRepository: Repo }).authKeyRepository;

describe('authKeys.set answers with a promise', () => {
  it('rejects (never throws) bad arguments, a closed storage and a repository that throws', async () => {
    const storage = new MemoryStorage({ name: 'a' });
    await expect(call(() => storage.authKeys.set(0, key(1)))).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await expect(call(() => storage.authKeys.set(2, new Uint8Array(5)))).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await expect(call(() => storage.authKeys.set(2, 'key' as unknown as Uint8Array))).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });

    const repo = repoOf(storage);
    const set = repo.set.bind(repo);
    repo.set = () => {
      throw new Error('disk gone');
    };
    const thrown = await call(() => storage.authKeys.set(2, key(1))).catch((error: unknown) => error);
    expect(thrown).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    expect((thrown as Error).message).toContain('authKeys.set');
    // An adapter's LeaseLostError becomes the write's own refusal.
    repo.set = () => {
      throw new LeaseLostError('fence');
    };
    await expect(call(() => storage.authKeys.set(2, key(1)))).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
    repo.set = set;

    await storage.close();
    await expect(call(() => storage.authKeys.set(2, key(1)))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
  });

  it('waits for a repository that answers with a promise, and rejects when that promise does', async () => {
    const storage = new MemoryStorage({ name: 'b' });
    const repo = repoOf(storage);
    const set = repo.set.bind(repo);
    let release: () => void = () => {};
    repo.set = (dcId, bytes) =>
      new Promise<void>((resolve) => {
        release = () => {
          set(dcId, bytes);
          resolve();
        };
      });
    let settled = false;
    const pending = call(() => storage.authKeys.set(2, key(7))).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settled, 'resolved before the repository did').toBe(false);
    release();
    await pending;
    expect(settled).toBe(true);
    expect(Array.from((await storage.authKeys.get(2)) ?? [])).toEqual(Array.from(key(7)));

    repo.set = () => Promise.reject(new Error('disk gone'));
    await expect(call(() => storage.authKeys.set(2, key(1)))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    repo.set = set;
    // Without a promise from the repository: resolved, and the key is stored.
    await call(() => storage.authKeys.set(3, key(9)));
    expect(Array.from((await storage.authKeys.get(3)) ?? [])).toEqual(Array.from(key(9)));
    await storage.close();
  });
});
