/**
 * mtcute's `IAuthKeysRepository` over `Storage.authKeys`: every write goes through
 * at once, as mtcute requires (a key is durable when the call resolves).
 */
import type { Storage } from '@mtstore/core';
import type { IAuthKeysRepository } from '@mtcute/core';

/** Telegram's production and test DC ids: mtcute's own logout also walks these. */
const KNOWN_DC_IDS = [1, 2, 3, 4, 5];
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
  /** DC ids this provider has seen keys for: `deleteAll` has no way to list them. */
  readonly #dcIds = new Set<number>(KNOWN_DC_IDS);

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  async set(dc: number, key: Uint8Array | null): Promise<void> {
    this.#dcIds.add(dc);
    if (key === null) await this.#storage.authKeys.delete(dc);
    else await this.#storage.authKeys.set(dc, key);
  }

  async get(dc: number): Promise<Uint8Array | null> {
    return plain(await this.#storage.authKeys.get(dc));
  }

  async setTemp(dc: number, idx: number, key: Uint8Array | null, expires: number): Promise<void> {
    this.#dcIds.add(dc);
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

  /**
   * mtstore has no "every key" call and lists DC ids only through a saved snapshot,
   * so this removes the keys of every DC the snapshot lists, every DC this provider
   * wrote keys for, and Telegram's DCs 1-5.
   */
  async deleteAll(): Promise<void> {
    const session = await this.#storage.load();
    const ids = new Set(this.#dcIds);
    for (const dc of session?.dcs ?? []) ids.add(dc.id);
    await Promise.all([...ids].map((dc) => this.#storage.authKeys.deleteByDc(dc)));
  }

  /** Notes a DC id the snapshot lists. */
  noteDc(dc: number): void {
    this.#dcIds.add(dc);
  }
}
