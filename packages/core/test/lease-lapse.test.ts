import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../../memory/src/index.js';
import type { LeaseLostError } from '../src/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const code = (run: () => Promise<unknown>) => run().then(() => 'ok', (error: { code?: string }) => error.code);

// docs/contract.md §12: once the lease may have run out by the holder's clock (¾ TTL
// after the last confirmed renewal was sent), writes reject with LeaseLostError, renew()
// rejects the same way and onLost is called once. The lease stays lost.
describe('a lease that ran out by the holder’s clock', () => {
  it('is lost for good: the write rejects, onLost is called once, renew() rejects, later writes reject', async () => {
    const storage = new MemoryStorage({ name: 'lapse', store: new MemoryStore() });
    const lost: LeaseLostError[] = [];
    await storage.lease.acquire({ ttlSeconds: 1, heartbeat: false, onLost: (error) => lost.push(error) });
    await storage.kv.set('x', Uint8Array.of(1));
    await sleep(800);
    expect(storage.lease.held, 'held answers null past ¾ TTL').toBeNull();
    expect(await code(() => storage.kv.set('x', Uint8Array.of(2)))).toBe('MTSTORE_LEASE_LOST');
    expect(lost.map((e) => e.code), 'onLost once, from the write').toEqual(['MTSTORE_LEASE_LOST']);
    expect(await code(() => storage.lease.renew())).toBe('MTSTORE_LEASE_LOST');
    expect(await code(() => storage.kv.set('x', Uint8Array.of(3)))).toBe('MTSTORE_LEASE_LOST');
    expect(await code(() => storage.lease.renew())).toBe('MTSTORE_LEASE_LOST');
    expect(lost.length, 'onLost still once').toBe(1);
    expect(lost[0]?.message).toContain('ran out');
    expect(Array.from((await storage.kv.get('x')) as Uint8Array)).toEqual([1]);
    await storage.close();
  });

  it('renew() past ¾ TTL rejects without renewing and calls onLost once; heartbeats stop', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 'lapse', store });
    const lost: LeaseLostError[] = [];
    const first = await storage.lease.acquire({ ttlSeconds: 1, heartbeat: false, onLost: (error) => lost.push(error) });
    await sleep(800);
    expect(await code(() => storage.lease.renew())).toBe('MTSTORE_LEASE_LOST');
    expect(lost.length).toBe(1);
    expect(await code(() => storage.kv.set('x', Uint8Array.of(1)))).toBe('MTSTORE_LEASE_LOST');
    expect(lost.length).toBe(1);
    // The stored lease was not extended: it runs out at its first expiry.
    const other = new MemoryStorage({ name: 'lapse', store });
    expect((await other.lease.holder())?.expiresAt.getTime()).toBe(first.expiresAt.getTime());
    await storage.close();
    await other.close();
  });

  it('acquire() afterwards takes a new lease at once, with a greater token; release() gives an expired token back', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 'lapse', store });
    const lost: unknown[] = [];
    const first = await storage.lease.acquire({ ttlSeconds: 1, heartbeat: false, onLost: (error) => lost.push(error) });
    await sleep(800);
    const again = await storage.lease.acquire({ ttlSeconds: 1, heartbeat: false });
    expect(lost.length, 'the lapse was reported').toBe(1);
    expect(again.token > first.token).toBe(true);
    await storage.kv.set('x', Uint8Array.of(1));
    await sleep(800);
    await storage.lease.release();
    const other = new MemoryStorage({ name: 'lapse', store });
    expect(await other.lease.holder(), 'released, not left to run out').toBeNull();
    await storage.kv.set('x', Uint8Array.of(2));
    await storage.close();
    await other.close();
  });

  it('another holder that took it over after the TTL is left alone by the old holder’s acquire', async () => {
    const store = new MemoryStore();
    const a = new MemoryStorage({ name: 'lapse', store });
    const b = new MemoryStorage({ name: 'lapse', store });
    await a.lease.acquire({ ttlSeconds: 1, heartbeat: false });
    const taken = await b.lease.acquire({ wait: 5_000, ttlSeconds: 20, heartbeat: false });
    expect(await code(() => a.lease.acquire({ ttlSeconds: 1 }))).toBe('MTSTORE_LEASE_HELD');
    expect((await b.lease.holder())?.token).toBe(taken.token);
    await b.kv.set('x', Uint8Array.of(1));
    await a.close();
    await b.close();
  });
});
