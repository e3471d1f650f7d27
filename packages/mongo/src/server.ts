import { randomUUID } from 'node:crypto';
import type { Collection, Filter } from 'mongodb';
import { BaseSessionStorage, int64FromStorage, Once, StorageUnavailableError, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { openConnection, type Connection, type MongoConnectionOptions } from './connection.js';
import { isDuplicateKey, type LockDocument } from './lock.js';
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

/** Inserts one createSession tries at most (see insertSession). */
const MAX_CREATE_INSERTS = 3;
/** FerretDB 1.x: how long a lease for removing an expired document lasts (a dead holder's cost). */
const REMOVAL_LEASE_MS = 30_000;
/** A holder deletes only while this much of its lease remains, by its own clock (else it stalled). */
const REMOVAL_MARGIN_MS = 10_000;
/** Longest a createSession waits for another caller removing the same expired document. */
const REMOVAL_WAIT_MS = REMOVAL_LEASE_MS + 5_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Server sessions on MongoDB: one document per (authKeyId, sessionId) in
 * `<prefix>server_sessions`. Every transition is a single-document operation whose
 * result says whether this call made it — an insert that either succeeds or meets the
 * `_id` (duplicate key), a delete that reports whether it removed a document — so
 * exactly one of any number of racing callers wins, on MongoDB and FerretDB alike.
 * createSession over an expired document removes it and inserts (insertSession): the
 * insert decides. FerretDB 1.x deletes by `_id` after reading the filter's match, so
 * there the removals of expired documents (takeover and sweep) hold a short lease of
 * the key (`<prefix>server_session_locks`), so that none removes a newer document.
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
  /**
   * The collection once prepared, and on FerretDB 1.x the leases its removals of
   * expired documents run under (see insertSession); a failed attempt (server down) is
   * retried by the next call.
   */
  readonly #prepared = new Once(() =>
    prepare(this.#connection, `${this.constructor.name}.connect`).then(({ profile }) => {
      const names = collectionNames(this.#connection.prefix);
      return {
        sessions: this.#connection.db.collection<ServerSessionDocument>(names.serverSessions),
        locks: profile.ferretdb1 ? this.#connection.db.collection<LockDocument>(names.serverLocks) : undefined,
      };
    }),
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

  async #collection(): Promise<Collection<ServerSessionDocument>> {
    return (await this.#prepared.run()).sessions;
  }

  /**
   * Deletes the document of `id` if it expired at `now`; true when this call did. A
   * live document is never matched.
   *
   * On FerretDB 1.x a filtered deleteOne reads the matching document, then deletes by
   * `_id` whatever is there by then: had another caller removed the expired one and
   * created a new session in between, it would remove the new one (and report it). So
   * there each removal first takes the key's lease, an insert into
   * `<prefix>server_session_locks` (`_id` = the key: one holder), and deletes only while
   * the lease is safely held: removals of one key run one at a time, and a delete's read
   * and write see the same document. A sweep (`wait` false) skips a key whose lease is
   * held (its holder is removing it); createSession waits for it, then looks again.
   * A lease left by a dead holder is taken over once expired (REMOVAL_LEASE_MS).
   */
  async #removeExpired(id: string, now: number, wait: boolean): Promise<boolean> {
    const { sessions, locks } = await this.#prepared.run();
    const expired = { _id: id, expiresAt: { $lte: new Date(now) } };
    if (locks === undefined) return (await sessions.deleteOne(expired)).deletedCount === 1;
    const deadline = Date.now() + REMOVAL_WAIT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      // Most callers find a live session (or none): they need no lease.
      const found = await sessions.findOne({ _id: id }, { projection: { _id: 0, expiresAt: 1 } });
      if (found === null || isLive(found, now)) return false;
      const token = randomUUID();
      const sentAt = Date.now();
      try {
        await locks.insertOne({ _id: id, token, expiresAt: new Date(sentAt + REMOVAL_LEASE_MS) });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        const holder = await locks.findOne({ _id: id });
        if (holder !== null && !(holder.expiresAt instanceof Date && holder.expiresAt.getTime() > Date.now())) {
          await locks.deleteOne({ _id: id, token: holder.token }); // its holder died
          continue;
        }
        if (!wait) return false;
        if (Date.now() >= deadline) throw new StorageUnavailableError(`${this.constructor.name}: timed out after ${REMOVAL_WAIT_MS} ms waiting for another caller removing expired server session ${id}`);
        await sleep(delay / 2 + Math.random() * delay);
        continue;
      }
      try {
        // A holder that stalled past its margin may have lost the lease: it deletes nothing
        // (a sweep moves on; createSession looks again, as long as it may wait).
        if (Date.now() < sentAt + REMOVAL_LEASE_MS - REMOVAL_MARGIN_MS) return (await sessions.deleteOne(expired)).deletedCount === 1;
        if (!wait) return false;
        if (Date.now() >= deadline) throw new StorageUnavailableError(`${this.constructor.name}: the lease for removing expired server session ${id} ran out before the delete (the process stalled or the server is overloaded)`);
      } finally {
        await locks.deleteOne({ _id: id, token }).catch(() => undefined); // else it expires
      }
    }
  }

  protected override get supportsLifetime(): boolean {
    return true;
  }

  #document(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): ServerSessionDocument {
    const doc: ServerSessionDocument = { _id: key(authKeyId, sessionId), authKeyId, sessionId, lastUsedAt: now };
    if (expiresAt !== null) doc.expiresAt = new Date(expiresAt);
    return doc;
  }

  /**
   * Insert; if the key is taken by a document expired at `now`, remove that one and
   * insert again. Only an insert that succeeds answers true, and an insert succeeds only
   * where no document has the `_id` (atomic on MongoDB and FerretDB alike): so of racing
   * callers exactly one wins, and a removal never takes a live document (#removeExpired).
   * (A filtered replaceOne cannot do this: on FerretDB 1.x it is a read then a write, and
   * several racers "replaced" the same expired document; and a sweep removing it first
   * left the creator with false and no session.)
   *
   * After a duplicate key: if our last removal found nothing expired, what holds the key
   * now is live (it was when we looked) or was inserted since by another caller, which
   * got true: false. If our removal took an expired document and the next insert still
   * meets one, another caller inserted in between (it got true); that one is taken over
   * only if it too is expired at `now` (its creator's clock is a ttl behind ours), hence
   * another round. A sweep (`expireSessions`) removing the expired document first only
   * makes our removal find nothing and the next insert succeed. At most
   * MAX_CREATE_INSERTS inserts (each further round needs another caller to have won an
   * insert meanwhile); at the bound the answer is false, true of the session that caller
   * just created. Like every adapter: the expired session taken over is not reported
   * (no `destroyed` event; the sweep no longer finds it), the new one is (`created`),
   * with last-used `now` and this instance's ttl.
   */
  protected async insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    const sessions = await this.#collection();
    const doc = this.#document(authKeyId, sessionId, now, expiresAt);
    let removedExpired = true;
    for (let attempt = 1; ; attempt++) {
      try {
        await sessions.insertOne(doc);
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      if (!removedExpired || attempt === MAX_CREATE_INSERTS) return false;
      removedExpired = await this.#removeExpired(doc._id, now, true);
    }
  }

  protected async sessionExists(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    // Once prepared, hasSession skips the await.
    const sessions = this.#prepared.value?.sessions ?? (await this.#collection());
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

  /** At most `limit` expired documents, oldest expiry first, each removed by a conditional delete (#removeExpired): reported once. */
  protected override async removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    const sessions = await this.#collection();
    const cutoff = new Date(now);
    const docs = await sessions
      .find({ expiresAt: { $lte: cutoff } }, { projection: { _id: 1, authKeyId: 1, sessionId: 1 }, sort: { expiresAt: 1 }, limit, useBigInt64: true })
      .toArray();
    const removed = await Promise.all(docs.map((d) => this.#removeExpired(d._id, now, false)));
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
