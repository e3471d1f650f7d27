import type { KeyValueEntry, KeyValueRepository } from '@mtstore/core';
import type { ClientEntry, MemoryStore } from './store.js';

/**
 * kv entries of one session; values are copied in (by the base class) and out.
 * get and set answer synchronously (core's MaybePromise): no I/O, so no promise of their own.
 */
export class MemoryKeyValues implements KeyValueRepository {
  /**
   * This session's entry as last looked up: get and set use it without a lookup by
   * name until it is removed (delete(), by this instance or another on the store;
   * `removed` is then set) — then, or while there is none, they look it up again, so
   * an entry another instance created or recreated is seen at once.
   */
  #entry: ClientEntry | undefined;

  constructor(
    private readonly store: MemoryStore,
    private readonly name: string,
    /** Throws LeaseLostError when another instance took this session's lease (store.ts). */
    private readonly fence: () => void,
  ) {}

  #current(): ClientEntry | undefined {
    const entry = this.#entry;
    if (entry !== undefined && !entry.removed) return entry;
    return (this.#entry = this.store.clients.get(this.name));
  }

  get(key: string): Uint8Array | null {
    const value = this.#current()?.kv.get(key);
    // new Uint8Array(typed array) copies with one memcpy; Uint8Array.from iterates.
    return value === undefined ? null : new Uint8Array(value);
  }

  set(key: string, value: Uint8Array | null): void {
    this.fence();
    if (value === null) this.#current()?.kv.delete(key);
    else (this.#current() ?? (this.#entry = this.store.entry(this.name))).kv.set(key, value);
  }

  async entries(): Promise<KeyValueEntry[]> {
    const kv = this.store.clients.get(this.name)?.kv;
    if (kv === undefined) return [];
    return [...kv.keys()].sort().map((key) => ({ key, value: new Uint8Array(kv.get(key) as Uint8Array) }));
  }

  async clear(): Promise<void> {
    this.fence();
    this.store.clients.get(this.name)?.kv.clear();
  }
}
