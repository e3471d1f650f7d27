import {
  optionNames,
  withKnownOptions,
  BaseSessionStorage,
  describeValue,
  InvalidArgumentError,
  type ExpiredSession,
  type SessionInfo,
  type SessionLifetimeOptions,
} from '@mtstore/core';
import { NEVER } from './sessions.js';
import { MemoryStore } from './store.js';

export interface MemorySessionStorageOptions extends SessionLifetimeOptions {
  /** Shared backend; instances on one store see each other's sessions. Default: a new store. */
  store?: MemoryStore | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<MemorySessionStorageOptions>()(['store', 'ttlSeconds', 'clock']);

/**
 * Server sessions in process memory. Every operation completes synchronously inside
 * its promise, so create/destroy are trivially atomic within the process. Expired
 * sessions are invisible at once and removed by `expireSessions` (a scan bounded by
 * its limit): memory has no native expiry.
 */
export class MemorySessionStorage extends BaseSessionStorage {
  readonly store: MemoryStore;

  constructor(options: MemorySessionStorageOptions = {}) {
    super(withKnownOptions(options, OPTIONS, 'MemorySessionStorage'));
    // Stryker disable all: constructor options are this adapter's own API (memory.test.ts); the kit builds instances only through the suite's `open`, outside the contract it checks
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(`MemorySessionStorage: options must be an object, got ${describeValue(options)}`);
    }
    if (options.store !== undefined && !(options.store instanceof MemoryStore)) {
      throw new InvalidArgumentError('MemorySessionStorage: store must be a MemoryStore');
    }
    // Stryker restore all
    this.store = options.store ?? new MemoryStore();
  }

  protected override get supportsLifetime(): boolean {
    return true;
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const sessions = this.store.server;
    const place = sessions.find(authKeyId, sessionId);
    if (place < 0) sessions.add(authKeyId, sessionId, now, expiresAt ?? NEVER);
    else if (sessions.expiresAt(place) > now) return false;
    // Expired but not yet removed: it no longer exists, so this creates it (in its place).
    else sessions.setTimes(place, now, expiresAt ?? NEVER);
    return true;
  }

  /** The place of a live session, or -1 (an expired one is invisible at once). */
  #find(authKeyId: bigint, sessionId: bigint, now: number): number {
    const sessions = this.store.server;
    const place = sessions.find(authKeyId, sessionId);
    return place >= 0 && sessions.expiresAt(place) > now ? place : -1;
  }

  protected sessionExists(authKeyId: bigint, sessionId: bigint, now: number): boolean {
    return this.#find(authKeyId, sessionId, now) >= 0;
  }

  /** The same lookup, without a promise: CachedSessionStorage answers its misses with it. */
  protected override sessionExistsNow(authKeyId: bigint, sessionId: bigint, now: number): number | false {
    const place = this.#find(authKeyId, sessionId, now);
    return place < 0 ? false : this.store.server.expiresAt(place);
  }

  protected override async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const place = this.#find(authKeyId, sessionId, now);
    if (place < 0) return null;
    const expiresAt = this.store.server.expiresAt(place);
    return { lastUsedAt: this.store.server.lastUsedAt(place), expiresAt: expiresAt === NEVER ? null : expiresAt };
  }

  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const place = this.#find(authKeyId, sessionId, now);
    if (place < 0) return false;
    this.store.server.setTimes(place, now, expiresAt ?? NEVER);
    return true;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    const place = this.#find(authKeyId, sessionId, now);
    if (place < 0) return false;
    this.store.server.remove(authKeyId, place);
    return true;
  }

  protected async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return this.#live(authKeyId, now).map((place) => this.store.server.sessionId(place));
  }

  /** The places of an auth key's live sessions, in the order they were created. */
  #live(authKeyId: bigint, now: number): number[] {
    const sessions = this.store.server;
    return sessions.placesOf(authKeyId).filter((place) => sessions.expiresAt(place) > now);
  }

  /** Find and delete in one synchronous step: racing callers each get what they removed. */
  protected async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const sessions = this.store.server;
    const ids = this.#live(authKeyId, now).map((place) => sessions.sessionId(place));
    // By id: each removal moves the last place, which may be one of the others.
    for (const id of ids) sessions.remove(authKeyId, sessions.find(authKeyId, id));
    return ids;
  }

  /**
   * Where the next expireSessions looks first (the place the previous one stopped at),
   * going down: the calls of a sweep go round the table, so a sweep of E expired
   * sessions among L live ones looks at about L + E places, not L once per batch (each
   * call started at the last place, and removals move the live sessions from there
   * into the holes: 200,000 expired among 100,000 live took 201 batches and seconds).
   */
  #sweepFrom = Number.POSITIVE_INFINITY;

  /**
   * Down from #sweepFrom to place 0, then from the last place down to just above where
   * it began. A removal moves the last place into the hole: in the first leg a session
   * not looked at yet (or one looked at and live), so the hole is looked at again; in
   * the second one already looked at. So every session is looked at once.
   */
  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const sessions = this.store.server;
    const removed: ExpiredSession[] = [];
    const take = (place: number): void => {
      const authKeyId = sessions.authKeyId(place);
      removed.push({ authKeyId, sessionId: sessions.sessionId(place) });
      sessions.remove(authKeyId, place);
    };
    const start = Math.min(this.#sweepFrom, sessions.size - 1);
    let place = start;
    while (place >= 0 && removed.length < limit) {
      if (sessions.expiresAt(place) > now) place--;
      else {
        take(place);
        // The hole holds the session that was last now, unless it was the last itself.
        if (place >= sessions.size) place--;
      }
    }
    if (place < 0) {
      for (place = sessions.size - 1; place > start && removed.length < limit; place--) {
        if (sessions.expiresAt(place) <= now) take(place);
      }
      // Round the whole table (or stopped in the second leg): the next call starts at the last place or goes on from here.
      if (place <= start) place = Number.POSITIVE_INFINITY;
    }
    this.#sweepFrom = place;
    return removed;
  }

  protected async closeConnection(): Promise<void> {
    // Nothing to release.
  }
}
