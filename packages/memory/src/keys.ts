import type { AuthKeyEntry, AuthKeyRepository, TempAuthKey } from '@mtstore/core';
import { entryKeyId, entryOfKeyId, SessionPart } from './store.js';

/**
 * Auth keys of one session: a map per DC entry, so a key write touches nothing else.
 * get and set answer synchronously (core's MaybePromise): no I/O, so no promise of their own.
 */
export class MemoryAuthKeys extends SessionPart implements AuthKeyRepository {
  get(dcId: number): Uint8Array | null {
    const key = this.current()?.keys.get(entryKeyId(dcId, false))?.key;
    // new Uint8Array(typed array) copies with one memcpy; Uint8Array.from iterates.
    return key === undefined ? null : new Uint8Array(key);
  }

  set(dcId: number, key: Uint8Array | null): void {
    this.fence();
    const id = entryKeyId(dcId, false);
    if (key === null) {
      const keys = this.current()?.keys.get(id);
      if (keys !== undefined) delete keys.key;
      return;
    }
    const keys = this.entry().keys;
    const entry = keys.get(id);
    // `key` is the base class's call-time copy: nobody else holds it.
    if (entry === undefined) keys.set(id, { key, temps: new Map() });
    else entry.key = key;
  }

  async getTemp(dcId: number, index: number): Promise<TempAuthKey | null> {
    const temp = this.current()?.keys.get(entryKeyId(dcId, false))?.temps.get(index);
    return temp === undefined ? null : { index: temp.index, key: Uint8Array.from(temp.key), expiresAt: temp.expiresAt };
  }

  async setTemp(dcId: number, index: number, temp: TempAuthKey | null): Promise<void> {
    this.fence();
    const id = entryKeyId(dcId, false);
    if (temp === null) {
      this.current()?.keys.get(id)?.temps.delete(index);
      return;
    }
    const keys = this.entry().keys;
    let entry = keys.get(id);
    if (entry === undefined) keys.set(id, (entry = { temps: new Map() }));
    entry.temps.set(index, temp);
  }

  async deleteByDc(dcId: number): Promise<void> {
    this.fence();
    const keys = this.current()?.keys;
    keys?.delete(entryKeyId(dcId, false));
    keys?.delete(entryKeyId(dcId, true));
  }

  async entries(): Promise<AuthKeyEntry[]> {
    const keys = this.current()?.keys;
    const entries: AuthKeyEntry[] = [];
    for (const [id, stored] of keys ?? []) {
      if (stored.key === undefined && stored.temps.size === 0) continue;
      const { dcId, mediaOnly } = entryOfKeyId(id);
      const entry: AuthKeyEntry = {
        dcId,
        mediaOnly,
        tempAuthKeys: [...stored.temps.values()].sort((a, b) => a.index - b.index).map((t) => ({ index: t.index, key: Uint8Array.from(t.key), expiresAt: t.expiresAt })),
      };
      if (stored.key !== undefined) entry.authKey = Uint8Array.from(stored.key);
      entries.push(entry);
    }
    return entries.sort((a, b) => a.dcId - b.dcId || Number(a.mediaOnly) - Number(b.mediaOnly));
  }

  async clear(): Promise<void> {
    this.fence();
    this.current()?.keys.clear();
  }
}
