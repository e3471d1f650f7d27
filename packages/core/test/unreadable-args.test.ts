/**
 * An argument that throws while core reads it (a getter, a Proxy trap, a revoked Proxy)
 * is bad input: the call rejects with InvalidArgumentError naming the operation, the
 * thrown value kept as `cause`, and nothing is stored (docs/contract.md §8). It used to
 * reject with the caller's raw error.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../memory/src/index.js';
import type { Session } from '../src/index.js';

const boom = new Error('getter boom');
const throwing = <T extends object>(obj: T, prop: string): T => Object.defineProperty(obj, prop, { enumerable: true, get: () => {
  throw boom;
} });
const revoked = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
};
const session = (): Session => ({ version: 1, homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.50', port: 443 }], channels: [] });

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; cause?: unknown }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

describe('an argument that throws while core reads it is an InvalidArgumentError', () => {
  it('every kind of call: the message names the operation, the thrown value is the cause, nothing is stored', async () => {
    const storage = new MemoryStorage({ name: 'getters' });
    await storage.save(session());
    const calls: [string, () => Promise<unknown>][] = [
      ['saveUpdateState', () => storage.saveUpdateState(throwing({ qts: 1, date: 1, seq: 1 }, 'pts') as never)],
      ['saveUpdateState', () => storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, revoked() as never)],
      ['save', () => storage.save(throwing(session(), 'channels'))],
      ['save', () => storage.save(revoked() as never)],
      ['update', () => storage.update(throwing({}, 'state') as never)],
      ['kv.set', () => storage.kv.set('k', new Uint8Array(1), throwing({}, 'secret') as never)],
      ['kv.set', () => storage.kv.set('k', new Uint8Array(1), revoked() as never)],
      ['authKeys.setTemp', () => storage.authKeys.setTemp(2, throwing({ index: 0, expiresAt: 1 }, 'key') as never)],
      ['authKeys.set', () => storage.authKeys.set(2, revoked() as never)],
      ['peers.upsert', () => storage.peers.upsert([throwing({ type: 'user', id: 1n, accessHash: 1n, usernames: [] }, 'updatedAt') as never])],
      ['peers.upsert', () => storage.peers.upsert(revoked() as never)],
      ['peers.list', () => storage.peers.list(throwing({}, 'cursor') as never)],
      ['refMessages.list', () => storage.refMessages.list(throwing({}, 'limit') as never)],
      ['lease.acquire', () => storage.lease.acquire(throwing({}, 'ttlSeconds') as never)],
      ['lease.acquire', () => storage.lease.acquire({ owner: revoked() } as never)],
    ];
    for (const [operation, call] of calls) {
      const error = await rejection(call());
      expect(error, operation).toMatchObject({ name: 'InvalidArgumentError', code: 'MTSTORE_INVALID_ARGUMENT' });
      expect(error.message, operation).toContain(`MemoryStorage.${operation}("getters")`);
      if (error.message.includes('could not be read')) expect(error.cause, operation).toBeDefined();
    }
    const thrown = await rejection(storage.saveUpdateState(throwing({ qts: 1, date: 1, seq: 1 }, 'pts') as never));
    expect(thrown.message).toBe('MemoryStorage.saveUpdateState("getters"): an argument could not be read (a getter or Proxy trap of it threw)');
    // Core keeps a copy of the thrown error (errors.ts), not the object itself.
    expect(thrown.cause).toMatchObject({ message: 'getter boom' });
    expect((await storage.load())?.state).toBeUndefined();
    expect(await storage.kv.get('k')).toBeNull();
    expect((await storage.peers.list()).peers).toEqual([]);
    await storage.close();
  });
});
