/**
 * Session leases in process memory: one record per name in `store.leases`. Every
 * operation runs in one synchronous step, so instances on one store (the only way
 * to share a memory backend) see exactly one holder. Time is this process's clock.
 */
import type { LeaseRepository, StoredLease } from '@mtstore/core';
import type { MemoryStore } from './store.js';

export class MemoryLeases implements LeaseRepository {
  constructor(
    private readonly store: MemoryStore,
    private readonly name: string,
  ) {}

  async acquire(owner: string, ttlMs: number, force: boolean): Promise<{ acquired: boolean; lease: StoredLease }> {
    const now = Date.now();
    const current = this.store.leases.get(this.name);
    if (current !== undefined && !current.released && current.expiresAt > now && !force) {
      return { acquired: false, lease: { token: current.token, owner: current.owner, expiresAt: current.expiresAt } };
    }
    const lease = { token: (current?.token ?? 0n) + 1n, owner, expiresAt: now + ttlMs, released: false };
    this.store.leases.set(this.name, lease);
    return { acquired: true, lease: { token: lease.token, owner, expiresAt: lease.expiresAt } };
  }

  async renew(token: bigint, ttlMs: number): Promise<number | null> {
    const current = this.store.leases.get(this.name);
    // Stryker disable next-line ConditionalExpression: core renews only a lease this instance acquired, whose record exists; the other conditions are killed
    if (current === undefined || current.token !== token || current.released) return null;
    current.expiresAt = Date.now() + ttlMs;
    return current.expiresAt;
  }

  async release(token: bigint): Promise<void> {
    const current = this.store.leases.get(this.name);
    if (current !== undefined && current.token === token) current.released = true;
  }

  async holder(): Promise<StoredLease | null> {
    const current = this.store.leases.get(this.name);
    if (current === undefined || current.released || current.expiresAt <= Date.now()) return null;
    return { token: current.token, owner: current.owner, expiresAt: current.expiresAt };
  }
}
