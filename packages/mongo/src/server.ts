import type { Collection } from 'mongodb';
import { BaseSessionStorage, int64FromStorage, Once } from '@mtstore/core';
import { openConnection, type Connection, type MongoConnectionOptions } from './connection.js';
import { isDuplicateKey } from './lock.js';
import { collectionNames, prepare } from './schema.js';

export type MongoSessionStorageOptions = MongoConnectionOptions;

interface ServerSessionDocument {
  /** `<authKeyId>:<sessionId>` in decimal: the key, and the one lookup every server indexes. */
  _id: string;
  authKeyId: bigint;
  sessionId: bigint;
}

const key = (authKeyId: bigint, sessionId: bigint): string => `${authKeyId}:${sessionId}`;

/**
 * Server sessions on MongoDB: one document per (authKeyId, sessionId) in
 * `<prefix>server_sessions`. Every transition is a single-document operation whose
 * result says whether this call made it — an insert that either succeeds or meets the
 * `_id` (duplicate key), a delete that reports whether it removed a document — so
 * exactly one of any number of racing callers wins, on MongoDB and FerretDB alike.
 */
export class MongoSessionStorage extends BaseSessionStorage {
  readonly database: string;
  readonly collectionPrefix: string;
  readonly #connection: Connection;
  /** The collection once prepared; a failed attempt (server down) is retried by the next call. */
  readonly #sessions = new Once(() =>
    prepare(this.#connection, `${this.constructor.name}.connect`).then(() =>
      this.#connection.db.collection<ServerSessionDocument>(collectionNames(this.#connection.prefix).serverSessions),
    ),
  );

  constructor(options: MongoSessionStorageOptions) {
    super();
    this.#connection = openConnection(options, 'MongoSessionStorage');
    this.database = this.#connection.db.databaseName;
    this.collectionPrefix = this.#connection.prefix;
  }

  protected override describe(): Record<string, unknown> {
    return this.#connection.describe;
  }

  #collection(): Promise<Collection<ServerSessionDocument>> {
    return this.#sessions.run();
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const sessions = await this.#collection();
    try {
      await sessions.insertOne({ _id: key(authKeyId, sessionId), authKeyId, sessionId });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    // Once prepared, hasSession skips the await.
    const sessions = this.#sessions.value ?? (await this.#collection());
    return (await sessions.findOne({ _id: key(authKeyId, sessionId) }, { projection: { _id: 1 } })) !== null;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint): Promise<boolean> {
    const sessions = await this.#collection();
    return (await sessions.deleteOne({ _id: key(authKeyId, sessionId) })).deletedCount === 1;
  }

  protected async findSessions(authKeyId: bigint): Promise<bigint[]> {
    const sessions = await this.#collection();
    const docs = await sessions.find({ authKeyId }, { projection: { _id: 0, sessionId: 1 }, useBigInt64: true }).toArray();
    return docs.map((d) => int64FromStorage(d.sessionId, `server session of authKeyId=${authKeyId}: sessionId`));
  }

  /**
   * The ids found, each deleted on its own: a delete's count says whether this call
   * removed it, so a racing destroyAllSessions or destroySession never makes a session
   * reported twice. (A multi-document delete only reports how many.) The deletes run
   * in parallel: one round trip of latency.
   */
  protected async removeAllSessions(authKeyId: bigint): Promise<bigint[]> {
    const found = await this.findSessions(authKeyId);
    const removed = await Promise.all(found.map((sessionId) => this.removeSession(authKeyId, sessionId)));
    return found.filter((_, i) => removed[i]);
  }

  protected async closeConnection(): Promise<void> {
    if (this.#connection.owned) await this.#connection.client?.close();
  }
}
