/**
 * The kv entries mtcute keeps in binary for what mtstore has typed fields for: the
 * main/media DC options, the current user, the update state and the channel pts.
 * They live here as the bytes mtcute wrote (so mtcute reads back exactly what it
 * stored), loaded from the typed session, and at `save()` they are written to the
 * typed session (`Storage.update`, `Storage.saveUpdateState`): the stored session is
 * the one every other mtstore client sees.
 *
 * A value with no typed place at save time (an update state or user before any DC
 * is known, a partial update state) is written to the kv store under mtcute's key
 * instead, and moved to the typed session by a later save.
 *
 * A DC option the typed entry cannot give back byte for byte (mtcute's `mediaOnly`,
 * `ipv6` and `testMode` flags are its own and need not match the entry's kind and
 * address: a media option without `mediaOnly`, an IPv4 literal flagged `ipv6`) keeps
 * a copy of mtcute's bytes in the kv store beside the typed entry, read back while it
 * still agrees with that entry (another client's new address wins). An empty `dc_main`
 * copy says mtcute has none over a home DC entry without an address (a client that
 * never migrated): it then keeps its own default DCs, and the well-known address such
 * an entry gets when another client wrote it (a Pyrogram import) is not handed to it.
 *
 * Test mode: mtcute 0.29 tells its storage nothing of it (`driver.setup` gets a logger
 * and the platform; the options it stores after a migration come from the server's
 * config, whose `dcOption` has no test flag; it writes no `dc_main` at all when it never
 * moved). The bridge's `testMode` option says it instead: every DC entry the bridge
 * writes carries it, an entry stored without the flag gets it at the next save, and a
 * stored entry flagged the other way is refused at load (InvalidArgumentError), as
 * mtcute's `importSession` refuses a session string of the other server set.
 */
import { InvalidArgumentError, NotFoundError, wellKnownDcAddress, type ChannelState, type DataCenter, type Session, type SessionUpdate, type Storage, type UpdateState } from '@mtstore/core';
import { addressOnly, dcOptionFromEntry, entryFromDcOption, parseBasicDcOption, serializeBasicDcOption, type BasicDcOption } from './dcs.js';
import { infoFromSelfUser, parseCurrentUser, selfUserFromInfo, serializeCurrentUser } from './self.js';
import {
  channelIdOfKey,
  KV_CHANNEL_PREFIX,
  KV_DATE,
  KV_PTS,
  KV_QTS,
  KV_SEQ,
  readInt32,
  readUint32,
  STATE_KEYS,
  writeInt32,
  writeUint32,
} from './state.js';

export const KV_DC_MAIN = 'dc_main';
export const KV_DC_MEDIA = 'dc_media';
export const KV_CURRENT_USER = 'current_user';

const TYPED_KEYS: ReadonlySet<string> = new Set([KV_DC_MAIN, KV_DC_MEDIA, KV_CURRENT_USER, ...STATE_KEYS]);
const DC_KEYS = [KV_DC_MAIN, KV_DC_MEDIA] as const;
/** The `dc_main` copy that stands for "mtcute has none" (see the file comment). */
const NO_OPTION = new Uint8Array(0);
const SNAPSHOT_KEYS: ReadonlySet<string> = new Set([KV_DC_MAIN, KV_DC_MEDIA, KV_CURRENT_USER]);
const INT32_MAX = 2 ** 31 - 1;

/** Whether mtcute's kv key `key` maps to a typed session field. */
export function isTypedKey(key: string): boolean {
  return TYPED_KEYS.has(key) || channelIdOfKey(key) !== null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isStateKey(key: string): boolean {
  return key.startsWith('updates_');
}

/** What a save writes of the typed keys: taken when it starts (SessionKv.take), written after the peers (SessionKv.write). */
export interface SessionWrite {
  /** The keys changed, and the typed keys still held in kv. */
  readonly dirty: readonly string[];
  /** `deleteAll()` came before it. */
  readonly cleared: boolean;
  /** The values of those keys, of the update state and of the snapshot keys, when it was taken. */
  readonly values: ReadonlyMap<string, Uint8Array>;
}

const EMPTY: ReadonlyMap<string, Uint8Array> = new Map();

export class SessionKv {
  readonly #storage: Storage;
  /** Current values, as mtcute bytes. */
  readonly #values = new Map<string, Uint8Array>();
  /** Keys set or deleted since the last save. */
  readonly #dirty = new Set<string>();
  /** Typed keys currently held in the kv store (see the file comment). */
  readonly #raw = new Set<string>();
  /** DC keys whose kv copy of mtcute's bytes stands beside the typed entry, with that copy. */
  readonly #copies = new Map<string, Uint8Array>();
  /** Addresses, home DC, user and update state as last read or written; null: no snapshot. */
  #session: Session | null = null;
  /** `deleteAll()` since the last save: the user, update state and channels go. */
  #cleared = false;
  /** The client's mode (the bridge's `testMode` option), or undefined: not known, nothing marked or checked. */
  readonly #testMode: boolean | undefined;
  /** A stored entry lacks the flag of `#testMode`: the next save marks every entry. */
  #remark = false;

  constructor(storage: Storage, testMode?: boolean) {
    this.#storage = storage;
    this.#testMode = testMode;
  }

  #loading: Promise<void> | undefined;
  /** The values of the write under way (take()): what it writes, whatever mtcute set since. The driver runs one save at a time. */
  #written: ReadonlyMap<string, Uint8Array> = EMPTY;

  /**
   * Fills the values from the stored session and any typed entries left in the kv
   * store, once (mtcute may call `driver.load()` again; a read before it loads too).
   * Values mtcute set before the load finished are kept: they are newer.
   */
  load(): Promise<void> {
    this.#loading ??= this.#load().catch((error: unknown) => {
      this.#loading = undefined;
      throw error;
    });
    return this.#loading;
  }

  /** After `deleteAll()` or destroy: the next read loads again. */
  unload(): void {
    this.#loading = undefined;
  }

  async #load(): Promise<void> {
    const [session, entries] = await Promise.all([this.#storage.load(), this.#storage.kv.entries()]);
    if (session !== null) this.#checkMode(session);
    const newer = new Map([...this.#dirty].map((key) => [key, this.#values.get(key)] as const));
    this.#values.clear();
    this.#raw.clear();
    this.#copies.clear();
    this.#session = session;
    const dcCopies = new Map<string, Uint8Array>();
    for (const { key, value } of entries) {
      if (!isTypedKey(key)) continue;
      if (key === KV_DC_MAIN || key === KV_DC_MEDIA) {
        dcCopies.set(key, value);
        continue;
      }
      this.#raw.add(key);
      this.#values.set(key, value);
    }
    if (session !== null) this.#fillFrom(session, dcCopies.get(KV_DC_MAIN)?.length === 0);
    for (const [key, copy] of dcCopies) {
      if (session !== null && this.#agrees(key, copy)) {
        this.#copies.set(key, copy);
        if (copy.length > 0) this.#values.set(key, copy);
        continue;
      }
      // Another client changed the entry since (the typed value wins), or there is no
      // typed place: the next save moves it or removes it, as any typed key left in kv.
      this.#raw.add(key);
      if (copy.length > 0 && !this.#values.has(key)) this.#values.set(key, copy);
    }
    for (const [key, value] of newer) {
      if (value === undefined) this.#values.delete(key);
      else this.#values.set(key, value);
    }
  }

  /**
   * Refuses a session whose entries are flagged for the other server set than the
   * bridge's `testMode` option (mtcute would take a test session's keys to production
   * DCs, or the reverse), and notes entries without the flag for the next save.
   */
  #checkMode(session: Session): void {
    const mode = this.#testMode;
    if (mode === undefined) return;
    const other = session.dcs.find((dc) => dc.testMode !== undefined && dc.testMode !== mode);
    if (other !== undefined) {
      const stored = mode ? "production servers (testMode: false)" : "Telegram's test servers (testMode: true)";
      throw new InvalidArgumentError(
        `mtcuteStorage: the stored session is for ${stored}${other.mediaOnly === true ? ' (media-only entry of' : ' (entry of'} DC ${other.id}), but this provider was created with testMode: ${mode}: open it with testMode: ${!mode}, the mode of the client that stored it, or log in again on a new session`,
      );
    }
    this.#remark = session.dcs.some((dc) => dc.testMode === undefined);
  }

  /**
   * Whether the kv copy of DC key `key` is one for the typed value just filled in: the
   * empty `dc_main` over a main entry without an address, else mtcute's option whose
   * entry is the stored one.
   */
  #agrees(key: string, copy: Uint8Array): boolean {
    const typed = this.#values.get(key);
    if (copy.length === 0) return key === KV_DC_MAIN && typed === undefined && this.#homeEntry(false) !== undefined;
    if (typed === undefined) return false;
    let option: BasicDcOption | null;
    try {
      option = parseBasicDcOption(copy);
    } catch {
      return false;
    }
    const entryOption = option === null ? null : dcOptionFromEntry(entryFromDcOption(option, key === KV_DC_MEDIA, undefined, this.#testMode));
    return entryOption !== null && sameBytes(serializeBasicDcOption(entryOption), typed);
  }

  #homeEntry(mediaOnly: boolean): DataCenter | undefined {
    const session = this.#session;
    return session?.dcs.find((dc) => dc.id === session.homeDcId && (dc.mediaOnly === true) === mediaOnly);
  }

  /** The typed session wins over a leftover kv entry. `noMain`: mtcute stored no dc_main over an entry without an address. */
  #fillFrom(session: Session, noMain: boolean): void {
    const main = session.dcs.find((dc) => dc.id === session.homeDcId && dc.mediaOnly !== true);
    const mainOption = main === undefined ? null : (dcOptionFromEntry(main) ?? (noMain ? null : wellKnownOption(main)));
    if (mainOption !== null) {
      this.#values.set(KV_DC_MAIN, serializeBasicDcOption(mainOption));
      const media = session.dcs.find((dc) => dc.id === session.homeDcId && dc.mediaOnly === true);
      const mediaOption = media === undefined ? null : dcOptionFromEntry(media);
      if (mediaOption !== null) this.#values.set(KV_DC_MEDIA, serializeBasicDcOption(mediaOption));
    }
    if (session.user !== undefined) this.#values.set(KV_CURRENT_USER, serializeCurrentUser(infoFromSelfUser(session.user)));
    if (session.state !== undefined) {
      this.#values.set(KV_PTS, writeInt32(session.state.pts));
      this.#values.set(KV_QTS, writeInt32(session.state.qts));
      // mtcute reads the date as int32; its bits are the uint32 mtstore allows (dates past 2038 included).
      this.#values.set(KV_DATE, writeUint32(session.state.date));
      this.#values.set(KV_SEQ, writeInt32(session.state.seq));
    }
    for (const channel of session.channels) this.#values.set(KV_CHANNEL_PREFIX + channel.id, writeUint32(channel.pts));
  }

  async get(key: string): Promise<Uint8Array | null> {
    await this.load();
    return this.#values.get(key) ?? null;
  }

  set(key: string, value: Uint8Array): void {
    // mtcute writes the whole update state after every update batch, most of it
    // unchanged: a value equal to the current one is no write at the next save.
    const current = this.#values.get(key);
    if (current !== undefined && sameBytes(current, value)) return;
    this.#values.set(key, value);
    this.#dirty.add(key);
  }

  delete(key: string): void {
    if (this.#values.delete(key)) this.#dirty.add(key);
  }

  /** mtcute's `kv.deleteAll()`: the kv store itself is cleared by the caller. */
  clear(): void {
    this.#values.clear();
    this.#dirty.clear();
    this.#raw.clear();
    this.#copies.clear();
    this.#cleared = true;
  }

  /**
   * The kv store was just cleared (the end of `kv.deleteAll()`): no typed key or DC copy
   * is held there any more, whatever a write that ran during the logout recorded, so a
   * later save writes a copy it needs again instead of taking it for stored.
   */
  kvCleared(): void {
    this.#raw.clear();
    this.#copies.clear();
  }

  get pending(): boolean {
    return this.#cleared || this.#remark || this.#dirty.size > 0;
  }

  /**
   * Takes what changed since the last save, with the values it is written as: those of
   * now. The driver takes it in the same tick as the peers and references pending, and
   * writes it (write()) only once they are stored, so a value mtcute sets meanwhile (a
   * newer update state, whose updates brought peers still pending) waits for the next
   * save. Needs the stored session loaded (load()). Null when nothing changed.
   */
  take(): SessionWrite | null {
    if (!this.pending) return null;
    // Typed keys still held in kv are retried with every save, to move them into the session.
    const dirty = this.#raw.size === 0 ? [...this.#dirty] : [...new Set([...this.#dirty, ...this.#raw])];
    // Only the keys a write reads: the changed ones, the update state (a channel pts is
    // written with it) and the DC options and user (the snapshot): not every channel's pts.
    const values = new Map<string, Uint8Array>();
    const keep = (key: string): void => {
      const value = this.#values.get(key);
      if (value !== undefined) values.set(key, value);
    };
    for (const key of dirty) keep(key);
    for (const key of STATE_KEYS) keep(key);
    for (const key of SNAPSHOT_KEYS) keep(key);
    const write: SessionWrite = { dirty, cleared: this.#cleared, values };
    this.#dirty.clear();
    this.#cleared = false;
    return write;
  }

  /** A taken write that was not made (the peers before it failed): its changes are pending again. */
  restore(write: SessionWrite): void {
    for (const key of write.dirty) this.#dirty.add(key);
    if (write.cleared) this.#cleared = true;
  }

  /** Writes what take() took. On failure the caller puts its changes back (restore()), unless a logout came between. */
  async write(write: SessionWrite): Promise<void> {
    this.#written = write.values;
    try {
      await this.#write(write.dirty, write.cleared);
    } finally {
      this.#written = EMPTY;
    }
  }

  async #write(dirty: readonly string[], cleared: boolean): Promise<void> {
    if (this.#remark) await this.#writeMode();
    const removedState = dirty.filter((key) => isStateKey(key) && !this.#written.has(key));
    if (cleared || removedState.length > 0) await this.#rewrite(cleared, removedState);

    // A removed state key has nothing left to write: a copy of it still in kv goes too.
    const typed: string[] = [...removedState];
    const fallback: string[] = [];
    const sort = (keys: readonly string[], written: ReadonlySet<string>): void => {
      for (const key of keys) (written.has(key) ? typed : fallback).push(key);
    };
    const snapshotKeys = dirty.filter((key) => SNAPSHOT_KEYS.has(key));
    let written: ReadonlySet<string> = new Set();
    if (snapshotKeys.length > 0) {
      written = await this.#writeSnapshot(snapshotKeys);
      sort(snapshotKeys, written);
    }
    const stateKeys = dirty.filter((key) => isStateKey(key) && this.#written.has(key));
    if (stateKeys.length > 0) sort(stateKeys, await this.#writeState(stateKeys));
    const dcKeys = new Set<string>(DC_KEYS);
    await this.#syncRaw(typed.filter((key) => !dcKeys.has(key)), fallback);
    if (snapshotKeys.length > 0) await this.#syncCopies(written, new Set(fallback));
  }

  /**
   * The kv copies of the DC keys after a snapshot write (see the file comment): one
   * written in `written` gets a copy when its entry would not give mtcute's bytes back
   * and loses any other; `dc_main`, when mtcute has none over a home entry without an
   * address, gets the empty copy (again after a logout cleared it).
   */
  async #syncCopies(written: ReadonlySet<string>, fallback: ReadonlySet<string>): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const key of DC_KEYS) {
      if (fallback.has(key) || (!written.has(key) && !(key === KV_DC_MAIN && !this.#written.has(key)))) continue;
      const want = this.#copyFor(key);
      const stored = this.#copies.get(key);
      if (want !== null) {
        if (stored !== undefined && sameBytes(stored, want)) continue;
        this.#copies.set(key, want);
        this.#raw.delete(key);
        writes.push(this.#storage.kv.set(key, want));
      } else if (written.has(key) && (this.#copies.delete(key) || this.#raw.delete(key))) {
        writes.push(this.#storage.kv.delete(key));
      }
    }
    await Promise.all(writes);
  }

  /** The kv copy DC key `key` needs beside the typed entry just written, or null for none. */
  #copyFor(key: string): Uint8Array | null {
    const value = this.#written.get(key);
    const entry = this.#homeEntry(key === KV_DC_MEDIA);
    const typed = entry === undefined ? null : dcOptionFromEntry(entry);
    if (value === undefined) return key === KV_DC_MAIN && entry !== undefined && typed === null ? NO_OPTION : null;
    return typed !== null && sameBytes(serializeBasicDcOption(typed), value) ? null : value;
  }

  /** Typed keys now in the session lose their kv copy; the others are kept in kv. */
  async #syncRaw(typed: readonly string[], fallback: readonly string[]): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const key of typed) {
      if (this.#raw.delete(key)) writes.push(this.#storage.kv.delete(key));
    }
    for (const key of fallback) {
      const value = this.#written.get(key);
      if (value === undefined) {
        const copied = this.#copies.delete(key);
        if (this.#raw.delete(key) || copied) writes.push(this.#storage.kv.delete(key));
      } else {
        this.#raw.add(key);
        this.#copies.delete(key);
        writes.push(this.#storage.kv.set(key, value));
      }
    }
    await Promise.all(writes);
  }

  #option(key: string): BasicDcOption | null {
    const bytes = this.#written.get(key);
    return bytes === undefined ? null : parseBasicDcOption(bytes);
  }

  /**
   * DC options and current user through `Storage.update`: returns the keys now in the
   * typed session (none when there is no snapshot and no DC to create one).
   */
  async #writeSnapshot(keys: readonly string[]): Promise<ReadonlySet<string>> {
    const main = this.#option(KV_DC_MAIN);
    let media = this.#option(KV_DC_MEDIA);
    const typed = new Set(keys);
    const patch: SessionUpdate = {};
    let homeDcId = this.#session?.homeDcId;
    let dcs = this.#session?.dcs.map(addressOnly);
    const mainChanged = keys.includes(KV_DC_MAIN);
    const mediaChanged = keys.includes(KV_DC_MEDIA);
    if (main !== null) homeDcId = main.id;
    if (homeDcId !== undefined && (mainChanged || mediaChanged)) {
      // A media option of another DC than the home DC has no typed place (the media entry
      // is read back by the home DC's id): it stays in kv as mtcute's bytes.
      if (media !== null && media.id !== homeDcId) {
        typed.delete(KV_DC_MEDIA);
        media = null;
      }
      dcs = mergeDcs(dcs ?? [], homeDcId, mainChanged ? main : undefined, mediaChanged ? media : undefined, this.#testMode);
      patch.homeDcId = homeDcId;
      patch.dcs = dcs;
    }
    if (homeDcId === undefined && keys.includes(KV_CURRENT_USER)) {
      // A login on mtcute's default DC: mtcute stores no dc_main unless the account moved
      // (PHONE_MIGRATE…), so no snapshot was ever created — the user and update state
      // stayed in kv, and other clients (and `mtstore export`) found no session. The home
      // DC is the one DC with a permanent key (mtcute's primary connection makes the first;
      // other DCs get one only once authorization is exported there): stored as an entry
      // without an address, which mtcute reads back as no dc_main (its default DC again,
      // with its own IPv6 and test-mode settings) and other clients at the DC's
      // well-known address.
      const keyDc = await this.#onlyKeyDc();
      if (keyDc !== undefined) {
        homeDcId = keyDc;
        dcs = mergeDcs(dcs ?? [], keyDc, null, undefined, this.#testMode);
        patch.homeDcId = keyDc;
        patch.dcs = dcs;
      }
    }
    if (homeDcId === undefined) return new Set();
    // The user's DC follows the home DC, so a migration rewrites it too.
    if (keys.includes(KV_CURRENT_USER) || (patch.dcs !== undefined && this.#written.has(KV_CURRENT_USER))) {
      const bytes = this.#written.get(KV_CURRENT_USER);
      const info = bytes === undefined ? null : parseCurrentUser(bytes);
      patch.user = info === null ? null : selfUserFromInfo(info, homeDcId);
    }
    if (Object.keys(patch).length === 0) return typed;
    try {
      await this.#storage.update(patch);
    } catch (error) {
      // InvalidArgumentError: a value mtstore cannot type (an address it refuses) stays
      // in kv as mtcute's bytes, instead of failing this save and every later one.
      if (error instanceof NotFoundError || error instanceof InvalidArgumentError) return new Set();
      throw error;
    }
    const session = this.#session ?? { version: 1, homeDcId, dcs: dcs ?? [], channels: [] };
    session.homeDcId = homeDcId;
    if (dcs !== undefined) session.dcs = dcs;
    if (patch.user === null) delete session.user;
    else if (patch.user !== undefined) session.user = patch.user;
    this.#session = session;
    return typed;
  }

  /**
   * Marks every stored entry with the bridge's `testMode` (see #checkMode): one update of
   * the address entries as they are, the flag added. Stays pending when it fails.
   */
  async #writeMode(): Promise<void> {
    const session = this.#session;
    const mode = this.#testMode;
    if (session === null || mode === undefined) {
      this.#remark = false;
      return;
    }
    const dcs = session.dcs.map((dc) => ({ ...addressOnly(dc), testMode: mode }));
    try {
      await this.#storage.update({ homeDcId: session.homeDcId, dcs });
    } catch (error) {
      // No snapshot any more (deleted meanwhile): nothing to mark; the next one is written marked.
      if (!(error instanceof NotFoundError)) throw error;
    }
    session.dcs = dcs;
    this.#remark = false;
  }

  /** The DC id of the session's only permanent (main) auth key, or undefined when there is not exactly one. */
  async #onlyKeyDc(): Promise<number | undefined> {
    const withKey = (await this.#storage.authKeys.entries()).filter((entry) => !entry.mediaOnly && entry.authKey !== undefined);
    return withKey.length === 1 ? withKey[0]?.dcId : undefined;
  }

  /**
   * Update state and changed channel pts through `saveUpdateState`: returns the keys now
   * in the typed session (none without a complete state or a snapshot; a channel pts
   * mtstore cannot hold, above 2^31-1, stays in kv).
   */
  async #writeState(keys: readonly string[]): Promise<ReadonlySet<string>> {
    const state = this.#state();
    if (state === null) return new Set();
    const typed = new Set<string>();
    const channels: ChannelState[] = [];
    for (const key of keys) {
      const id = channelIdOfKey(key);
      if (id === null) {
        typed.add(key);
        continue;
      }
      const bytes = this.#written.get(key);
      const pts = bytes === undefined ? null : readUint32(bytes);
      if (pts === null || pts > INT32_MAX) continue;
      channels.push({ id, pts });
      typed.add(key);
    }
    try {
      await this.#storage.saveUpdateState(state, channels);
    } catch (error) {
      if (error instanceof NotFoundError || error instanceof InvalidArgumentError) return new Set();
      throw error;
    }
    if (this.#session !== null) {
      this.#session.state = state;
      for (const channel of channels) {
        const stored = this.#session.channels.find((c) => c.id === channel.id);
        if (stored) stored.pts = channel.pts;
        else this.#session.channels.push(channel);
      }
    }
    return typed;
  }

  /** The update state when all four values are known and fit mtstore's ranges, else null. */
  #state(): UpdateState | null {
    const read = (key: string, unsigned = false): number | null => {
      const bytes = this.#written.get(key);
      const value = bytes === undefined ? null : unsigned ? readUint32(bytes) : readInt32(bytes);
      return value === null || value < 0 ? null : value;
    };
    const pts = read(KV_PTS);
    const qts = read(KV_QTS);
    const date = read(KV_DATE, true);
    const seq = read(KV_SEQ);
    if (pts === null || qts === null || date === null || seq === null) return null;
    return { pts, qts, date, seq };
  }

  /**
   * What `saveUpdateState()` cannot express: removing the user, the update state or
   * channels. One `update()` of those fields only — never a load-modify-save of the
   * snapshot, which could undo a key another connection wrote meanwhile. Logout and
   * `deleteAll()` (`cleared`) remove user, state and every channel; a removed state
   * key removes the state, removed channel keys those channels.
   */
  async #rewrite(cleared: boolean, removedState: readonly string[]): Promise<void> {
    const removed = new Set(removedState.map(channelIdOfKey).filter((id): id is bigint => id !== null));
    const patch: SessionUpdate = {};
    if (cleared) {
      patch.user = null;
      patch.state = null;
      patch.channels = [];
    } else {
      if (removedState.some((key) => STATE_KEYS.includes(key as (typeof STATE_KEYS)[number]))) patch.state = null;
      // The channel list to keep comes from the store (another client may have added
      // channels), read just before; the write itself touches nothing but the channels.
      if (removed.size > 0) patch.channels = ((await this.#storage.load())?.channels ?? []).filter((c) => !removed.has(c.id));
    }
    if (Object.keys(patch).length === 0) return;
    try {
      await this.#storage.update(patch);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      // No snapshot: nothing typed to remove.
      this.#session = null;
      return;
    }
    const session = this.#session;
    if (session === null) return;
    if (patch.user === null) delete session.user;
    if (patch.state === null) delete session.state;
    if (patch.channels !== undefined) session.channels = patch.channels;
  }
}

/** The DC of mtcute's default DC options (`defaultProductionDc`, `defaultTestDc` and their IPv6 forms). */
const MTCUTE_DEFAULT_DC = 2;

/**
 * mtcute's option for a home DC entry stored with its auth key but without an address
 * (a Pyrogram session imported: Pyrogram keeps none): Telegram's well-known address of
 * the DC. Without a `dc_main` mtcute starts from its default DC 2, where a session of
 * another DC has no key: logged out. Read only; nothing is written unless mtcute writes
 * `dc_main` itself. An entry without a key either (mtcute deleted `dc_main`) stays
 * without: no key to reach there; so does DC 2 (below).
 */
function wellKnownOption(entry: DataCenter): BasicDcOption | null {
  // DC 2 is mtcute's default DC (production and test): without dc_main mtcute goes there
  // with its own options — IPv6 and test mode as the client is set up — which a session
  // it logged in without moving (no dc_main stored) needs.
  if (entry.authKey === undefined || entry.id === MTCUTE_DEFAULT_DC) return null;
  const known = wellKnownDcAddress(entry.id, entry.testMode === true);
  if (known === undefined) return null;
  const option: BasicDcOption = { id: entry.id, ipAddress: known.ipv4, port: known.port };
  if (entry.testMode === true) option.testMode = true;
  return option;
}

/**
 * The stored entries with the home DC's main and media-only entries replaced by what
 * mtcute changed: an option (its entry, over the stored one: entryFromDcOption), null
 * (mtcute deleted it: the main entry keeps no address, so homeDcId still names an entry;
 * the media entry goes, as mtcute deletes dc_media when media = main), undefined
 * (unchanged: the stored entry stays; after `kv.deleteAll()` mtcute may write one
 * option without the other).
 */
function mergeDcs(
  stored: readonly DataCenter[],
  homeDcId: number,
  main: BasicDcOption | null | undefined,
  media: BasicDcOption | null | undefined,
  testMode: boolean | undefined,
): DataCenter[] {
  const find = (mediaOnly: boolean) => stored.find((dc) => dc.id === homeDcId && (dc.mediaOnly === true) === mediaOnly);
  const replaced = (dc: DataCenter) => dc.id === homeDcId && (dc.mediaOnly === true ? media !== undefined : main !== undefined);
  const result = stored.filter((dc) => !replaced(dc));
  if (main === null) result.push(testMode === undefined ? { id: homeDcId } : { id: homeDcId, testMode });
  else if (main !== undefined) result.push(entryFromDcOption(main, false, find(false), testMode));
  if (media != null) result.push(entryFromDcOption(media, true, find(true), testMode));
  // Every entry of a session is on the client's server set: the others are marked too.
  return testMode === undefined ? result : result.map((dc) => (dc.testMode === testMode ? dc : { ...dc, testMode }));
}
