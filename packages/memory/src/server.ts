import {
  BaseSessionStorage,
  describeValue,
  InvalidArgumentError,
  type ExpiredSession,
  type SessionInfo,
  type SessionLifetimeOptions,
} from '@mtstore/core';
import { MemoryStore, type ServerSessionTimes } from './store.js';

export interface MemorySessionStorageOptions extends SessionLifetimeOptions {
  /** Shared backend; instances on one store see each other's sessions. Default: a new store. */
  store?: MemoryStore;
}

const live = (times: ServerSessionTimes | undefined, now: number): times is ServerSessionTimes =>
  times !== undefined && (times[1] === null || times[1] > now);

/**
 * Server sessions in process memory. Every operation completes synchronously inside
 * its promise, so create/destroy are trivially atomic within the process. Expired
 * sessions are invisible at once and removed by `expireSessions` (a scan bounded by
 * its limit): memory has no native expiry.
 */
export class MemorySessionStorage extends BaseSessionStorage {
  readonly store: MemoryStore;

  constructor(options: MemorySessionStorageOptions = {}) {
    super(options);
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
    let sessions = this.store.server.get(authKeyId);
    if (sessions === undefined) this.store.server.set(authKeyId, (sessions = new Map()));
    if (live(sessions.get(sessionId), now)) return false;
    sessions.set(sessionId, [now, expiresAt]);
    return true;
  }

  protected sessionExists(authKeyId: bigint, sessionId: bigint, now: number): boolean {
    return live(this.store.server.get(authKeyId)?.get(sessionId), now);
  }

  /** The same lookup, without a promise: CachedSessionStorage answers its misses with it. */
  protected override sessionExistsNow(authKeyId: bigint, sessionId: bigint, now: number): number | false {
    const times = this.store.server.get(authKeyId)?.get(sessionId);
    return live(times, now) ? (times[1] ?? Infinity) : false;
  }

  protected override async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const times = this.store.server.get(authKeyId)?.get(sessionId);
    return live(times, now) ? { lastUsedAt: times[0], expiresAt: times[1] } : null;
  }

  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const times = this.store.server.get(authKeyId)?.get(sessionId);
    if (!live(times, now)) return false;
    times[0] = now;
    times[1] = expiresAt;
    return true;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    const sessions = this.store.server.get(authKeyId);
    if (!live(sessions?.get(sessionId), now)) return false;
    this.#delete(authKeyId, sessionId);
    return true;
  }

  protected async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return this.#live(authKeyId, now);
  }

  #live(authKeyId: bigint, now: number): bigint[] {
    const ids: bigint[] = [];
    // Stryker disable next-line ArrayDeclaration: equivalent: the placeholder string's characters are never a live [lastUsed, expires] pair
    for (const [id, times] of this.store.server.get(authKeyId) ?? []) if (live(times, now)) ids.push(id);
    return ids;
  }

  /** Find and delete in one synchronous step: racing callers each get what they removed. */
  protected async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const ids = this.#live(authKeyId, now);
    for (const id of ids) this.#delete(authKeyId, id);
    return ids;
  }

  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const removed: ExpiredSession[] = [];
    for (const [authKeyId, sessions] of this.store.server) {
      for (const [sessionId, times] of sessions) {
        if (removed.length === limit) return removed;
        if (!live(times, now)) {
          this.#delete(authKeyId, sessionId);
          removed.push({ authKeyId, sessionId });
        }
      }
    }
    return removed;
  }

  #delete(authKeyId: bigint, sessionId: bigint): void {
    const sessions = this.store.server.get(authKeyId);
    // Stryker disable next-line ConditionalExpression: equivalent: #delete is called only for a session just found
    if (sessions === undefined) return;
    sessions.delete(sessionId);
    // Stryker disable next-line ConditionalExpression: equivalent: an emptied map answers like a missing one (memory use only)
    if (sessions.size === 0) this.store.server.delete(authKeyId);
  }

  protected async closeConnection(): Promise<void> {
    // Nothing to release.
  }
}
