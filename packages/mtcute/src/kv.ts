/**
 * mtcute's `IKeyValueRepository`. Keys that map to a typed session field go to
 * SessionKv; the rest (future salts and whatever else mtcute keeps) to
 * `Storage.kv`, written at the driver's `save()` like mtcute's own storages do,
 * with reads seeing the pending writes. Those entries are marked secret: sealed at
 * rest when the storage has `encryption` (see isSecretKey).
 *
 * mtcute takes any string as a key (its own storages keep it as it is); mtstore keys
 * are 1-255 printable ASCII characters without spaces. A key that is not one is stored
 * escaped (storedKvKey), so a plugin's `'my plugin:state'` works as in mtcute's own
 * storages instead of failing every later save; what can never be stored (a key too
 * long even escaped, a value that is not a Uint8Array of at most 64 KiB) throws
 * InvalidArgumentError at `set()`, to its caller.
 */
import { assertKvValue, describeValue, InvalidArgumentError, type Storage } from '@mtstore/core';
import type { IKeyValueRepository } from '@mtcute/core';
import type { ReportDropped } from './dropped.js';
import { LogoutFence } from './logout-fence.js';
import { isTypedKey, type SessionKv, type SessionWrite } from './session-kv.js';

const ESCAPE = 0x25; // '%'
/** core's longest kv key. */
const MAX_KEY = 255;
const HEX = '0123456789ABCDEF';

/**
 * The mtstore kv key mtcute's `key` is stored under; null when there is none (longer
 * than 255 characters once escaped). A key mtstore can hold (1-255 of `!`-`~`) that
 * does not begin with `%` is its own stored key — every key mtcute itself uses
 * (`salts:2`…), at the cost of one pass over its characters. Any other is `%` followed
 * by the key with each UTF-16 code unit outside `!`-`~`, and `%` itself, written
 * `%XX` (below U+0100) or `%uXXXX`: `'my key'` is stored as `%my%20key`, `''` as `%`.
 * One to one (mtcuteKvKey reverses it), and lone surrogates survive.
 */
export function storedKvKey(key: string): string | null {
  const length = key.length;
  if (length > 0 && length <= MAX_KEY && key.charCodeAt(0) !== ESCAPE) {
    let i = 0;
    while (i < length) {
      const code = key.charCodeAt(i);
      if (code < 0x21 || code > 0x7e) break;
      i++;
    }
    if (i === length) return key;
  }
  // '%' and at least one character per code unit: 255 code units or more cannot fit.
  if (length >= MAX_KEY) return null;
  let stored = '%';
  for (let i = 0; i < length; i++) {
    const code = key.charCodeAt(i);
    if (code >= 0x21 && code <= 0x7e && code !== ESCAPE) stored += key[i];
    else if (code < 0x100) stored += `%${HEX[code >> 4]}${HEX[code & 15]}`;
    else stored += `%u${HEX[code >> 12]}${HEX[(code >> 8) & 15]}${HEX[(code >> 4) & 15]}${HEX[code & 15]}`;
  }
  return stored.length > MAX_KEY ? null : stored;
}

const ESCAPED = /%(?:u([0-9A-F]{4})|([0-9A-F]{2}))/g;

/**
 * The mtcute key a stored kv key holds (storedKvKey reversed). A key storedKvKey does
 * not produce (`%zz`; one an earlier version stored as it was) is returned as it is.
 */
export function mtcuteKvKey(stored: string): string {
  if (stored.charCodeAt(0) !== ESCAPE) return stored;
  const key = stored.slice(1).replace(ESCAPED, (_, unit: string | undefined, byte: string | undefined) => String.fromCharCode(Number.parseInt(unit ?? (byte as string), 16)));
  return storedKvKey(key) === stored ? key : stored;
}

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

/** What one save writes of kv (MtstoreKeyValue.take). */
export interface KvWrite {
  readonly session: SessionWrite | null;
  /** The other entries, by stored key; null when none was pending. */
  readonly entries: ReadonlyMap<string, Pending> | null;
  /** How many `deleteAll()` calls came before it was taken: one taken before a logout is the old account's. */
  readonly clears: number;
}

export class MtstoreKeyValue implements IKeyValueRepository {
  readonly #storage: Storage;
  readonly #session: SessionKv;
  readonly #dropped: ReportDropped;
  /** By stored key (storedKvKey). */
  #pending = new Map<string, Pending>();
  #inFlight = new Map<string, Pending>();
  /** Logouts so far (KvWrite.clears) and the write under way, which deleteAll() waits for. */
  readonly #fence = new LogoutFence();

  constructor(storage: Storage, session: SessionKv, dropped: ReportDropped = () => undefined) {
    this.#storage = storage;
    this.#session = session;
    this.#dropped = dropped;
  }

  /** Throws InvalidArgumentError for what mtstore can never store (see the file comment), so no save fails for it. */
  set(key: string, value: Uint8Array): void {
    if (isTypedKey(key)) {
      this.#session.set(key, value);
      return;
    }
    const stored = storedKvKey(key);
    if (stored === null) {
      throw new InvalidArgumentError(`kv.set: key must be at most 255 characters once escaped for mtstore (printable ASCII as it is, anything else as %XX or %uXXXX), got ${describeValue(key)}`);
    }
    assertKvValue(value, `kv.set(${describeValue(stored)}): value`);
    this.#pending.set(stored, value);
  }

  async get(key: string): Promise<Uint8Array | null> {
    if (isTypedKey(key)) return this.#session.get(key);
    const stored = storedKvKey(key);
    if (stored === null) return null; // never stored: set() refuses it
    const pending = this.#pending.has(stored) ? this.#pending.get(stored) : this.#inFlight.get(stored);
    if (pending !== undefined) return pending;
    return this.#storage.kv.get(stored);
  }

  delete(key: string): void {
    if (isTypedKey(key)) {
      this.#session.delete(key);
      return;
    }
    const stored = storedKvKey(key);
    if (stored !== null) this.#pending.set(stored, null);
  }

  /**
   * At once, with what is pending: mtcute calls it on logout (after the peers and
   * references), before saving. A save's write taken before it is the logged-out
   * account's: one not begun is never made, one failing is not put back, and one under
   * way is waited for before the clear, which it could otherwise outlast (over a pool an
   * entry sent first can commit later, and nothing would clear it again).
   */
  async deleteAll(): Promise<void> {
    const settled = this.#fence.logout();
    this.#pending.clear();
    this.#inFlight.clear();
    this.#session.clear();
    await settled;
    await this.#storage.kv.clear();
    this.#session.kvCleared();
  }

  get pending(): boolean {
    return this.#pending.size > 0 || this.#session.pending;
  }

  /**
   * Takes what is pending for a save: the typed part (SessionKv.take) and the other
   * entries, written by write() once the save's peers and references are stored (see
   * the driver's save). The entries stay visible to get() until then.
   */
  take(): KvWrite {
    const session = this.#session.take();
    const clears = this.#fence.clears;
    if (this.#pending.size === 0) return { session, entries: null, clears };
    const entries = this.#pending;
    this.#pending = new Map();
    this.#inFlight = entries;
    return { session, entries, clears };
  }

  /** A taken write that was not made: pending again, behind what was set since (unless a logout came between). */
  restore(write: KvWrite): void {
    if (!this.#fence.current(write.clears)) return;
    if (write.session !== null) this.#session.restore(write.session);
    if (write.entries !== null) this.#requeue(write.entries);
  }

  #requeue(entries: ReadonlyMap<string, Pending>): void {
    for (const [key, value] of entries) if (!this.#pending.has(key)) this.#pending.set(key, value);
    if (this.#inFlight === entries) this.#inFlight = new Map();
  }

  /**
   * Writes what take() took, the typed part first, each other entry on its own. One
   * that failed stays pending (unless set again meanwhile) and the first such error is
   * thrown; one core rejects (InvalidArgumentError: set() lets none through today) is
   * dropped and reported.
   */
  write(write: KvWrite): Promise<void> {
    // Taken before a logout: the old account's values, not written (see deleteAll).
    if (!this.#fence.current(write.clears)) return Promise.resolve();
    return this.#fence.writing(this.#write(write));
  }

  async #write(write: KvWrite): Promise<void> {
    const batch = write.entries;
    if (write.session !== null) {
      try {
        await this.#session.write(write.session);
      } catch (error) {
        this.restore(write);
        throw error;
      }
    }
    if (batch === null) return;
    try {
      const entries = [...batch];
      // Every key here is an untyped one: secret (see isSecretKey).
      const results = await Promise.allSettled(entries.map(([key, value]) => (value === null ? this.#storage.kv.delete(key) : this.#storage.kv.set(key, value, SECRET))));
      let failed: PromiseRejectedResult | undefined;
      for (let i = 0; i < results.length; i++) {
        const result = results[i] as PromiseSettledResult<void>;
        if (result.status === 'fulfilled') continue;
        if (result.reason instanceof InvalidArgumentError) {
          this.#dropped(result.reason.message);
          continue;
        }
        failed ??= result;
        const [key, value] = entries[i] as [string, Pending];
        if (this.#fence.current(write.clears) && !this.#pending.has(key)) this.#pending.set(key, value);
      }
      if (failed !== undefined) throw failed.reason;
    } finally {
      if (this.#inFlight === batch) this.#inFlight = new Map();
    }
  }
}
