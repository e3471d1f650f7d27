import type { Collection, Filter } from 'mongodb';
import { optionNames, withKnownOptions, BaseSessionStorage, int64FromStorage, mapBounded, Once, type ExpiredSession, type SessionInfo, type SessionLifetimeOptions } from '@mtstore/core';
import { openConnection, type Connection, type MongoCloseOptions, type MongoConnectionOptions } from './connection.js';
import { isDuplicateKey, SessionLocks, type Lease, type LeaseTimes, type LockDocument } from './lock.js';
import { collectionNames, prepare } from './schema.js';

export type MongoSessionStorageOptions = MongoConnectionOptions & MongoCloseOptions & SessionLifetimeOptions;

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
const expiredAt = (now: number): Filter<ServerSessionDocument> => ({ expiresAt: { $lte: new Date(now) } });

function isLive(doc: { expiresAt?: Date | null } | null, now: number): boolean {
  return doc !== null && (doc.expiresAt == null || doc.expiresAt.getTime() > now);
}

const key = (authKeyId: bigint, sessionId: bigint): string => `${authKeyId}:${sessionId}`;

/** Inserts one createSession tries at most (see insertSession). */
const MAX_CREATE_INSERTS = 3;
/**
 * FerretDB 1.x: the per-key lease every removal of a server session holds (#remove).
 * Longer than the client write lease (10 s, margin 3 s), which was found too short here
 * under load: a holder deletes only while 10 s of its 30 s remain by its own clock, a
 * dead holder costs the next removal of its key 30 s, and a caller waits at most 35 s.
 */
const REMOVAL_LEASE: LeaseTimes = { leaseMs: 30_000, renewMs: 5_000, marginMs: 10_000, waitMs: 35_000 };
/**
 * Internal, for this package's tests only (not exported by the package): the removal
 * lease's times, REMOVAL_LEASE unless a test sets others before a storage's first call.
 * server-race.test.ts lengthens them: its 300 creates at once queue for the pool, and on
 * a FerretDB under heavy load a lock insert answered over 20 s after it was sent, so the
 * lease was fenced before its delete (StorageUnavailableError, as it must be), which is
 * not what that test is about.
 */
export const serverInternals: { removalLease: LeaseTimes } = { removalLease: REMOVAL_LEASE };

/**
 * Removals of one destroyAllSessions or expireSessions call in flight at once. All at
 * once, the driver queued them for its pool (20 connections by default), and once the
 * queue was longer than `waitQueueTimeoutMS` (10 s) of work the rest failed: on
 * FerretDB (four round trips a removal, with the lease) a key of a few thousand
 * sessions could not be cleared, nor a sweep batch of that size run, and the sessions
 * removed before the failure were never reported. A few in flight keep the pool busy
 * and the queue short, whatever the number of sessions.
 */
const REMOVALS_IN_FLIGHT = 8;

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<MongoSessionStorageOptions>()(['url', 'client', 'db', 'database', 'collectionPrefix', 'clientOptions', 'create', 'closeTimeoutMillis', 'ttlSeconds', 'clock']);

/**
 * Server sessions on MongoDB: one document per (authKeyId, sessionId) in
 * `<prefix>server_sessions`. Every transition is a single-document operation whose
 * result says whether this call made it — an insert that either succeeds or meets the
 * `_id` (duplicate key), a delete that reports whether it removed a document — so
 * exactly one of any number of racing callers wins, on MongoDB and FerretDB alike.
 * createSession over an expired document removes it and inserts (insertSession): the
 * insert decides. FerretDB 1.x deletes by `_id` after reading the filter's match, so
 * there every removal (destroy, takeover of an expired document, sweep) holds a short
 * lease of the key (`<prefix>server_session_locks`), so that none removes a newer
 * document.
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
   * The collection once prepared, and on FerretDB 1.x the leases its removals run
   * under (#remove); a failed attempt (server down) is retried by the next call.
   */
  readonly #prepared = new Once(() =>
    prepare(this.#connection, `${this.constructor.name}.connect`, () => this.now()).then(({ profile }) => {
      const names = collectionNames(this.#connection.prefix);
      const locks = this.#connection.db.collection<LockDocument>(names.serverLocks);
      return {
        sessions: this.#connection.db.collection<ServerSessionDocument>(names.serverSessions),
        locks: profile.ferretdb1
          ? new SessionLocks(locks, serverInternals.removalLease, 'another caller removing this server session', () => this.#connection.closing.forced)
          : undefined,
      };
    }),
  );

  constructor(options: MongoSessionStorageOptions) {
    super(withKnownOptions(options, OPTIONS, 'MongoSessionStorage'));
    this.#connection = openConnection(options, 'MongoSessionStorage', options?.closeTimeoutMillis);
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
   * Deletes the document of `id` if it matches `filter` (live, or expired, at the
   * caller's `now`); true when this call did.
   *
   * On FerretDB 1.x a filtered deleteOne reads the matching document, then deletes by
   * `_id` whatever is there by then: had another caller removed it and created a new
   * session in between, it would remove the new one (and report it) though the new one
   * may not match (an expired-only sweep, a caller whose clock is ahead). So there every
   * removal takes the key's lease first (SessionLocks on `<prefix>server_session_locks`,
   * REMOVAL_LEASE) and deletes only while it is safely held: removals of one key run one
   * at a time, and since an insert needs the key free, a delete's read and write see the
   * same document. `wait` false (the sweep) skips a key whose lease is held: its holder
   * is removing it. Others wait for it, then delete if the filter still matches.
   */
  async #remove(operation: string, id: string, filter: Filter<ServerSessionDocument>, wait = true): Promise<boolean> {
    const { sessions, locks } = await this.#prepared.run();
    const doomed = { _id: id, ...filter };
    if (locks === undefined) return (await sessions.deleteOne(doomed)).deletedCount === 1;
    // Most calls find nothing to remove (a live session for createSession): no lease then.
    if ((await sessions.findOne(doomed, { projection: { _id: 1 } })) === null) return false;
    const where = `${this.constructor.name}.${operation}`;
    const remove = async (lease: Lease): Promise<boolean> => {
      lease.check(); // stalled past its margin: the lease may be another's by now
      return (await sessions.deleteOne(doomed)).deletedCount === 1;
    };
    if (wait) return locks.run(id, where, remove);
    return (await locks.tryRun(id, where, remove))?.value ?? false;
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
   * callers exactly one wins, and a removal never takes a live document (#remove).
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
  protected insertSession(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    return this.#connection.closing.track(
      (async () => {
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
          removedExpired = await this.#remove('createSession', doc._id, expiredAt(now));
        }
      })(),
    );
  }

  protected sessionExists(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return this.#connection.closing.track(
      (async () => {
        // Once prepared, hasSession skips the await.
        const sessions = this.#prepared.value?.sessions ?? (await this.#collection());
        return isLive(await sessions.findOne({ _id: key(authKeyId, sessionId) }, { projection: { _id: 0, expiresAt: 1 } }), now);
      })(),
    );
  }

  protected override readSessionInfo(authKeyId: bigint, sessionId: bigint, now: number): Promise<SessionInfo | null> {
    return this.#connection.closing.track(
      (async () => {
        const sessions = await this.#collection();
        const doc = await sessions.findOne({ _id: key(authKeyId, sessionId) }, { projection: { _id: 0, lastUsedAt: 1, expiresAt: 1 } });
        if (!isLive(doc, now)) return null;
        const found = doc as Pick<ServerSessionDocument, 'lastUsedAt' | 'expiresAt'>;
        return { lastUsedAt: Number(found.lastUsedAt), expiresAt: found.expiresAt == null ? null : found.expiresAt.getTime() };
      })(),
    );
  }

  protected override touch(authKeyId: bigint, sessionId: bigint, now: number, expiresAt: number | null): Promise<boolean> {
    return this.#connection.closing.track(
      (async () => {
        const sessions = await this.#collection();
        const update = expiresAt === null ? { $set: { lastUsedAt: now }, $unset: { expiresAt: '' as const } } : { $set: { lastUsedAt: now, expiresAt: new Date(expiresAt) } };
        const { matchedCount } = await sessions.updateOne({ _id: key(authKeyId, sessionId), ...liveAt(now) }, update);
        return matchedCount === 1;
      })(),
    );
  }

  protected removeSession(authKeyId: bigint, sessionId: bigint, now: number): Promise<boolean> {
    return this.#connection.closing.track(
      (async () => {
        return this.#remove('destroySession', key(authKeyId, sessionId), liveAt(now));
      })(),
    );
  }

  protected findSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return this.#connection.closing.track(
      (async () => {
        const sessions = await this.#collection();
        const docs = await sessions.find({ authKeyId, ...liveAt(now) }, { projection: { _id: 0, sessionId: 1 }, useBigInt64: true }).toArray();
        return docs.map((d) => int64FromStorage(d.sessionId, `server session of authKeyId=${authKeyId}: sessionId`));
      })(),
    );
  }

  /**
   * The ids found, each deleted on its own: a delete's count says whether this call
   * removed it, so a racing destroyAllSessions or destroySession never makes a session
   * reported twice. (A multi-document delete only reports how many.) The deletes run
   * REMOVALS_IN_FLIGHT at a time (core mapBounded).
   */
  protected removeAllSessions(authKeyId: bigint, now: number): Promise<bigint[]> {
    return this.#connection.closing.track(
      (async () => {
        const found = await this.findSessions(authKeyId, now);
        const removed = await mapBounded(found, REMOVALS_IN_FLIGHT, (sessionId) => this.#remove('destroyAllSessions', key(authKeyId, sessionId), liveAt(now)));
        return found.filter((_, i) => removed[i]);
      })(),
    );
  }

  /** At most `limit` expired documents, oldest expiry first, each removed by a conditional delete (#remove): reported once. */
  protected override removeExpired(now: number, limit: number): Promise<ExpiredSession[]> {
    return this.#connection.closing.track(
      (async () => {
        const sessions = await this.#collection();
        const cutoff = new Date(now);
        const docs = await sessions
          .find({ expiresAt: { $lte: cutoff } }, { projection: { _id: 1, authKeyId: 1, sessionId: 1 }, sort: { expiresAt: 1 }, limit, useBigInt64: true })
          .toArray();
        const removed = await mapBounded(docs, REMOVALS_IN_FLIGHT, (d) => this.#remove('expireSessions', d._id, expiredAt(now), false));
        return docs
          .filter((_, i) => removed[i])
          .map((d) => ({
            authKeyId: int64FromStorage(d.authKeyId, 'expired server session: authKeyId'),
            sessionId: int64FromStorage(d.sessionId, 'expired server session: sessionId'),
          }));
      })(),
    );
  }

  protected async closeConnection(): Promise<void> {
    this.#connection.closing.begin();
    try {
      // Calls in flight finish first: closing the client would interrupt them (Closing.track).
      await this.#connection.closing.settled();
      // Removals in flight give their leases back (and ones that failed to) before the client goes
      // (cut short on a server silent for CLOSE_GRACE_MS: connection.ts, Closing).
      await this.#prepared.value?.locks?.close();
    } finally {
      await this.#connection.closing.end();
    }
  }
}
