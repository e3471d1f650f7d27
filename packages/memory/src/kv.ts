import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import { SessionPart } from './store.js';

/**
 * kv entries of one session; values are copied in (by the base class) and out.
 * get and set answer synchronously (core's MaybePromise): no I/O, so no promise of their own.
 */
export class MemoryKeyValues extends SessionPart implements KeyValueRepository {
  get(key: string): Uint8Array | null {
    const value = this.current()?.kv.get(key);
    // new Uint8Array(typed array) copies with one memcpy; Uint8Array.from iterates.
    return value === undefined ? null : new Uint8Array(value);
  }

  set(key: string, value: Uint8Array | null): void {
    this.fence();
    if (value === null) this.current()?.kv.delete(key);
    else this.entry().kv.set(key, value);
  }

  async entries(): Promise<KeyValueEntry[]> {
    const kv = this.current()?.kv;
    if (kv === undefined) return [];
    return [...kv.keys()].sort().map((key) => ({ key, value: new Uint8Array(kv.get(key) as Uint8Array) }));
  }

  async clear(): Promise<void> {
    this.fence();
    this.current()?.kv.clear();
  }
}
