/**
 * mtcute's `IKeyValueRepository`. Keys that map to a typed session field go to
 * SessionKv; the rest (future salts and whatever else mtcute keeps) to
 * `Storage.kv`, written at the driver's `save()` like mtcute's own storages do,
 * with reads seeing the pending writes. Those entries are marked secret: sealed at
 * rest when the storage has `encryption` (see isSecretKey).
 */
import type { Storage } from '@mtstore/core';
import type { IKeyValueRepository } from '@mtcute/core';
import { isTypedKey, type SessionKv } from './session-kv.js';

/**
 * With `encryption` configured on the storage, these entries are sealed at rest
 * (`kv.set(…, { secret: true })`, docs/contract.md §10a): mtcute's future server
 * salts (`salts:<dc>`, which with the auth key make a message valid to the server)
 * and every key this bridge does not know — whatever else mtcute or a plugin keeps
 * may be a secret too. Only the typed entries kept in kv until a session exists
 * (DC options, user, update state: plaintext fields of the snapshot once moved
 * there) are not.
 */
export function isSecretKey(key: string): boolean {
  return !isTypedKey(key);
}

const SECRET = { secret: true } as const;

/** A pending value, or null for a pending delete. */
type Pending = Uint8Array | null;

export class MtstoreKeyValue implements IKeyValueRepository {
  readonly #storage: Storage;
  readonly #session: SessionKv;
  #pending = new Map<string, Pending>();
  #inFlight = new Map<string, Pending>();

  constructor(storage: Storage, session: SessionKv) {
    this.#storage = storage;
    this.#session = session;
  }

  set(key: string, value: Uint8Array): void {
    if (isTypedKey(key)) this.#session.set(key, value);
    else this.#pending.set(key, value);
  }

  async get(key: string): Promise<Uint8Array | null> {
    if (isTypedKey(key)) return this.#session.get(key);
    const pending = this.#pending.has(key) ? this.#pending.get(key) : this.#inFlight.get(key);
    if (pending !== undefined) return pending;
    return this.#storage.kv.get(key);
  }

  delete(key: string): void {
    if (isTypedKey(key)) this.#session.delete(key);
    else this.#pending.set(key, null);
  }

  /** At once, with what is pending: mtcute calls it on logout, before saving. */
  async deleteAll(): Promise<void> {
    this.#pending.clear();
    this.#inFlight.clear();
    this.#session.clear();
    await this.#storage.kv.clear();
  }

  get pending(): boolean {
    return this.#pending.size > 0 || this.#session.pending;
  }

  async save(): Promise<void> {
    await this.#session.save();
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#inFlight = batch;
    try {
      // Every key here is an untyped one: secret (see isSecretKey).
      await Promise.all([...batch].map(([key, value]) => (value === null ? this.#storage.kv.delete(key) : this.#storage.kv.set(key, value, SECRET))));
    } catch (error) {
      for (const [key, value] of batch) if (!this.#pending.has(key)) this.#pending.set(key, value);
      throw error;
    } finally {
      if (this.#inFlight === batch) this.#inFlight = new Map();
    }
  }
}
