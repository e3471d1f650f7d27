import type { Collection, Filter } from 'mongodb';
import { BaseSessionStorage, int64FromStorage, Once, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { openConnection, type Connection, type MongoConnectionOptions } from './connection.js';
import { isDuplicateKey } from './lock.js';
import { collectionNames, prepare } from './schema.js';

export type MongoSessionStorageOptions = MongoConnectionOptions & SessionLifetimeOptions;

interface ServerSessionDocument {
  /** `<authKeyId>:<sessionId>` in decimal: the key, and the one lookup every server indexes. */
  _id: string;
  authKeyId: bigint;
  sessionId: bigint;
  /** Epoch ms of the mtstore process's clock. */
  lastUsedAt: number;
  /** Absent: never expires. A Date so that a TTL index can remove it. */
  expiresAt?: Date;
}

/** Matches documents live at `now`: without expiry, or a later one (a missing field matches null). */
const liveAt = (now: number): Filter<ServerSessionDocument> => ({ $or: [{ expiresAt: null as never }, { expiresAt: { $gt: new Date(now) } }] });

function isLive(doc: { expiresAt?: Date | null } | null, now: number): boolean {
  return doc !== null && (doc.expiresAt == null || doc.expiresAt.getTime() > now);
}

const key = (authKeyId: bigint, sessionId: bigint): string => `${authKeyId}:${sessionId}`;

/**
 * Server sessions on MongoDB: one document per (authKeyId, sessionId) in
 * `<prefix>server_sessions`. Every transition is a single-document operation whose
 * result says whether this call made it — an insert that either succeeds or meets the
 * `_id` (duplicate key), a delete that reports whether it removed a document — so
 * exactly one of any number of racing callers wins, on MongoDB and FerretDB alike.
 *
 * Lifetime: `lastUsedAt` (epoch ms) and `expiresAt` (a Date, absent = never). A
 * document expired at `now` is absent for every call; `expireSessions` removes such
 * documents one conditional delete each (so each is reported by one caller), and on
 * MongoDB a TTL index removes what no sweep did, EXPIRY_GRACE_SECONDS after expiry.
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
    super(typeof options === 'object' && options !== null ? { ttlSeconds: options.ttlSeconds, clock: options.clock } : {});
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

  protected override get supportsLifetime(): boolean {
    return true;
  }

  #document(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): ServerSessionDocument {
    const doc: ServerSessionDocument = { _id: key(authKeyId, sessionId), authKeyId, sessionId, lastUsedAt: now };
    if (expiresAt !== null) doc.expiresAt = new Date(expiresAt);
    return doc;
  }

  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const sessions = await this.#collection();
    const doc = this.#document(authKeyId, sessionId, now, expiresAt);
    try {
      await sessions.insertOne(doc);
      return true;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    // There: taken over only if expired (not yet swept); the filter lets one racer do it.
    const { modifiedCount } = await sessions.replaceOne({ _id: doc._id, expiresAt: { $lte: new Date(now) } }, doc);
    return modifiedCount === 1;
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    // Once prepared, hasSession skips the await.
    const sessions = this.#sessions.value ?? (await this.#collection());
    return isLive(await sessions.findOne({ _id: key(authKeyId, sessionId) }, { projection: { _id: 0, expiresAt: 1 } }), now);
  }

  protected override async readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    const sessions = await this.#collection();
    const doc = await sessions.findOne({ _id: key(authKeyId, sessionId) }, { projection: { _id: 0, lastUsedAt: 1, expiresAt: 1 } });
    if (!isLive(doc, now)) return null;
    const found = doc as Pick<ServerSessionDocument, 'lastUsedAt' | 'expiresAt'>;
    return { lastUsedAt: Number(found.lastUsedAt), expiresAt: found.expiresAt == null ? null : found.expiresAt.getTime() };
  }

  protected override async touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const sessions = await this.#collection();
    const update = expiresAt === null ? { $set: { lastUsedAt: now }, $unset: { expiresAt: '' as const } } : { $set: { lastUsedAt: now, expiresAt: new Date(expiresAt) } };
    const { matchedCount } = await sessions.updateOne({ _id: key(authKeyId, sessionId), ...liveAt(now) }, update);
    return matchedCount === 1;
  }

  protected async removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    const sessions = await this.#collection();
    return (await sessions.deleteOne({ _id: key(authKeyId, sessionId), ...liveAt(now) })).deletedCount === 1;
  }

  protected async findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const sessions = await this.#collection();
    const docs = await sessions.find({ authKeyId, ...liveAt(now) }, { projection: { _id: 0, sessionId: 1 }, useBigInt64: true }).toArray();
    return docs.map((d) => int64FromStorage(d.sessionId, `server session of authKeyId=${authKeyId}: sessionId`));
  }

  /**
   * The ids found, each deleted on its own: a delete's count says whether this call
   * removed it, so a racing destroyAllSessions or destroySession never makes a session
   * reported twice. (A multi-document delete only reports how many.) The deletes run
   * in parallel: one round trip of latency.
   */
  protected async removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    const found = await this.findSessions(authKeyId, now);
    const removed = await Promise.all(found.map((sessionId) => this.removeSession(authKeyId, sessionId, now)));
    return found.filter((_, i) => removed[i]);
  }

  /** At most `limit` expired documents, oldest expiry first, each removed by a conditional delete: reported once. */
  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const sessions = await this.#collection();
    const cutoff = new Date(now);
    const docs = await sessions
      .find({ expiresAt: { $lte: cutoff } }, { projection: { _id: 1, authKeyId: 1, sessionId: 1 }, sort: { expiresAt: 1 }, limit, useBigInt64: true })
      .toArray();
    const removed = await Promise.all(docs.map(async (d) => (await sessions.deleteOne({ _id: d._id, expiresAt: { $lte: cutoff } })).deletedCount === 1));
    return docs
      .filter((_, i) => removed[i])
      .map((d) => ({
        authKeyId: int64FromStorage(d.authKeyId, 'expired server session: authKeyId'),
        sessionId: int64FromStorage(d.sessionId, 'expired server session: sessionId'),
      }));
  }

  protected async closeConnection(): Promise<void> {
    if (this.#connection.owned) await this.#connection.client?.close();
  }
}
