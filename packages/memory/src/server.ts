import { BaseSessionStorage, describeValue, InvalidArgumentError } from '@mtstore/core';
import { MemoryStore } from './store.js';

export interface MemorySessionStorageOptions {
  /** Shared backend; instances on one store see each other's sessions. Default: a new store. */
  store?: MemoryStore;
}

/**
 * Server sessions in process memory. Every operation completes synchronously inside
 * its promise, so create/destroy are trivially atomic within the process.
 */
export class MemorySessionStorage extends BaseSessionStorage {
  readonly store: MemoryStore;

  constructor(options: MemorySessionStorageOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(`MemorySessionStorage: options must be an object, got ${describeValue(options)}`);
    }
    if (options.store !== undefined && !(options.store instanceof MemoryStore)) {
      throw new InvalidArgumentError('MemorySessionStorage: store must be a MemoryStore');
    }
    this.store = options.store ?? new MemoryStore();
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const sessions = this.store.server.get(authKeyId);
    if (sessions === undefined) {
      this.store.server.set(authKeyId, new Set([sessionId]));
      return true;
    }
    if (sessions.has(sessionId)) return false;
    sessions.add(sessionId);
    return true;
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const sessions = this.store.server.get(authKeyId);
    return sessions !== undefined && sessions.has(sessionId);
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const sessions = this.store.server.get(authKeyId);
    if (sessions === undefined || !sessions.delete(sessionId)) return false;
    if (sessions.size === 0) this.store.server.delete(authKeyId);
    return true;
  }

  protected async findSessions(authKeyId: bigint): Promise<bigint[]> {
    return [...(this.store.server.get(authKeyId) ?? [])];
  }

  protected async removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const sessions = this.store.server.get(authKeyId);
    this.store.server.delete(authKeyId);
    return [...(sessions ?? [])];
  }

  protected async closeConnection(): Promise<void> {
    // Nothing to release.
  }
}
