/**
 * mtcute's `IAuthKeysRepository` over `Storage.authKeys`: every write goes through
 * at once, as mtcute requires (a key is durable when the call resolves).
 */
import type { Storage } from '@mtstore/core';
import type { IAuthKeysRepository } from '@mtcute/core';

const UINT32_MAX = 0xffff_ffff;

/**
 * mtcute documents temp-key times in seconds, but its network layer stores
 * `expires * 1000` and asks with `performance.now()`. A value above the largest
 * epoch second (2106) can only be milliseconds; mtstore keeps epoch seconds.
 */
export function toEpochSeconds(value: number): number {
  const seconds = value > UINT32_MAX ? Math.floor(value / 1000) : Math.floor(value);
  return Math.min(UINT32_MAX, Math.max(0, seconds));
}

/**
 * mtstore hands keys out as a Uint8Array subclass that hides its bytes from
 * util.inspect; mtcute expects (and compares against) a plain Uint8Array, so it gets
 * a plain view of the same bytes.
 */
function plain(key: Uint8Array | null): Uint8Array | null {
  return key === null ? null : new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
}

export class MtstoreAuthKeys implements IAuthKeysRepository {
  readonly #storage: Storage;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** Not `async`: core's promise is handed back as it is (mtcute writes a key on every connect). */
  set(dc: number, key: Uint8Array | null): Promise<void> {
    return key === null ? this.#storage.authKeys.delete(dc) : this.#storage.authKeys.set(dc, key);
  }

  async get(dc: number): Promise<Uint8Array | null> {
    return plain(await this.#storage.authKeys.get(dc));
  }

  async setTemp(dc: number, idx: number, key: Uint8Array | null, expires: number): Promise<void> {
    if (key === null) await this.#storage.authKeys.deleteTemp(dc, idx);
    else await this.#storage.authKeys.setTemp(dc, { index: idx, key, expiresAt: toEpochSeconds(expires) });
  }

  async getTemp(dc: number, idx: number, now: number): Promise<Uint8Array | null> {
    const temp = await this.#storage.authKeys.getTemp(dc, idx);
    return temp !== null && temp.expiresAt > toEpochSeconds(now) ? plain(temp.key) : null;
  }

  async deleteByDc(dc: number): Promise<void> {
    await this.#storage.authKeys.deleteByDc(dc);
  }

  /** Every key of the session, whatever its DC (`storage.authKeys.clear()`, one call). */
  async deleteAll(): Promise<void> {
    await this.#storage.authKeys.clear();
  }
}
