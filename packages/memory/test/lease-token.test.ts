/**
 * The token adapters fence with (BaseStorage.fenceToken) once this instance's lease is
 * known lost. A write that passed core's local fence before the loss was known reads the
 * token only when it reaches its statements (networked adapters: after their connection
 * or queue); it must still carry the old token so the database refuses it, never go out
 * unfenced over the new holder's data.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../src/index.js';

/** The protected token, as an adapter's repository reads it. */
class Probe extends MemoryStorage {
  token(): bigint | undefined {
    return this.fenceToken;
  }
}

describe('fence token of a lost lease', () => {
  it('stays the lost lease’s token until release, so a write already past the local fence is refused by the store', async () => {
    const store = new MemoryStore();
    const old = new Probe({ store, name: 'lost' });
    const operator = new MemoryStorage({ store, name: 'lost' });
    expect(old.token()).toBeUndefined();
    const held = await old.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    expect(old.token()).toBe(held.token);
    await operator.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false });
    await expect(old.kv.set('k', new Uint8Array([1]))).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
    // Known lost now: what a write still on its way reads.
    expect(old.token()).toBe(held.token);
    expect(old.lease.held).toBeNull();
    await old.lease.release();
    expect(old.token()).toBeUndefined();
    await Promise.all([old.close(), operator.close()]);
  });
});
