/**
 * The collections, their indexes and their version. Everything is created on first
 * use (with `create: false`, a database without the schema document is NotFoundError
 * instead) and recorded in `<prefix>meta` as `{ _id: 'schema', version }`; a store written
 * by a newer version is refused with MigrationError. MongoDB has no DDL transactions
 * (and FerretDB 1.x no transactions at all), so each migration step is idempotent and
 * the version is raised only after its step succeeded: two processes migrating at
 * once both finish with the same result.
 */
import { MongoServerError, type Collection, type CreateIndexesOptions, type Db, type IndexDescription, type IndexSpecification } from 'mongodb';
import { MigrationError, storeNotFound } from '@mtstore/core';
import type { Connection } from './connection.js';
import { upgradeV1SessionDocument } from './upgrade.js';

export const SCHEMA_VERSION = 4;

export interface CollectionNames {
  /** One document per client session name (snapshot and auth keys): `_id` = session name. */
  sessions: string;
  /** One document per cached peer: `_id` = `<session>/<type>/<id>`. */
  peers: string;
  /** Username and phone lookups: `_id` = `<session>/u/<lower-cased username>` or `<session>/p/<phone>`. */
  peerIndex: string;
  /** One document per server session: `_id` = `<authKeyId>:<sessionId>`. */
  serverSessions: string;
  /** The event bus log: `_id` = sequence number. */
  events: string;
  /** Write leases of client sessions: `_id` = session name. */
  locks: string;
  /** FerretDB 1.x: leases for removing an expired server session (server.ts): `_id` = `<authKeyId>:<sessionId>`. Created by its first insert. */
  serverLocks: string;
  /** New versions of the documents a FerretDB peer batch is rewriting: `_id` = `p|<peer _id>` / `h|<lookup _id>`. */
  peerJournal: string;
  /** kv entries: `_id` = `<session>/<key>`. */
  kv: string;
  /** Reference messages: `_id` = `<session>/<peerId>/<chatId>/<messageId>`; each session's sequence counter: `_id` = `<session>`. */
  refs: string;
  /** `{ _id: 'schema', version }`. */
  meta: string;
  /** The session lease's write permits and seals (fence.ts): `_id` = `<session>#<token, 20 digits>`. Created by its first insert. */
  fences: string;
}

export function collectionNames(prefix: string): CollectionNames {
  return {
    sessions: `${prefix}sessions`,
    peers: `${prefix}peers`,
    peerIndex: `${prefix}peer_index`,
    serverSessions: `${prefix}server_sessions`,
    events: `${prefix}events`,
    locks: `${prefix}locks`,
    serverLocks: `${prefix}server_session_locks`,
    peerJournal: `${prefix}peer_journal`,
    kv: `${prefix}kv`,
    refs: `${prefix}ref_messages`,
    meta: `${prefix}meta`,
    fences: `${prefix}fences`,
  };
}

interface MetaDocument {
  _id: string;
  version: number;
}

interface Migration {
  version: number;
  description: string;
  /** Idempotent: it may run twice, or concurrently in two processes. `clock`: the migrating instance's (see prepare). */
  up(db: Db, names: CollectionNames, profile: ServerProfile, clock: () => number): Promise<void>;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'secondary indexes (unique keys are the documents’ _id)',
    up: async (db, names) => {
      // Deleting a session's peers and listing an auth key's sessions; everything else is an _id lookup.
      await ensureIndex(db.collection(names.peers), { session: 1 }, { name: 'session' });
      await ensureIndex(db.collection(names.peerIndex), { session: 1 }, { name: 'session' });
      await ensureIndex(db.collection(names.serverSessions), { authKeyId: 1, sessionId: 1 }, { name: 'authKeyId_sessionId', unique: true });
    },
  },
  {
    version: 2,
    description: 'contract v2: auth keys out of the DC entries into `keys`, user.usernames, kv and reference-message collections',
    up: async (db, names) => {
      await ensureIndex(db.collection(names.kv), { session: 1 }, { name: 'session' });
      await ensureIndex(db.collection(names.peerJournal), { session: 1 }, { name: 'session' });
      await ensureIndex(db.collection(names.refs), { session: 1, peer: 1 }, { name: 'session_peer' });
      await upgradeV1Documents(db, names);
    },
  },
  {
    version: 3,
    description: 'server session lifetime: lastUsedAt (epoch ms) and expiresAt (a Date) with a TTL index',
    up: async (db, names, profile, clock) => {
      const serverSessions = db.collection(names.serverSessions);
      await withExpiryIndex(profile, (expiry) => ensureIndexes(serverSessions, [expiry]));
      await stampLastUsed(db, names, clock());
    },
  },
  {
    version: 4,
    description: 'reference messages: indexes (session, seq) for list and (session, peer, seq) for getByPeer',
    up: async (db, names) => {
      const refs = db.collection(names.refs);
      // list() pages by seq within a session, getByPeer takes a peer's highest seq: with
      // these both read one index range instead of sorting all of the session's (or
      // peer's) references per call. FerretDB 1.x keeps them but serves neither.
      await ensureIndex(refs, { session: 1, seq: 1 }, { name: 'session_seq' });
      await ensureIndex(refs, { session: 1, peer: 1, seq: 1 }, { name: 'session_peer_seq' });
      await dropSessionPeerIndex(db, names);
    },
  },
];

/** Migration 2's document step: v1 documents are the ones with a `version` field (v2 stores none). */
async function upgradeV1Documents(db: Db, names: CollectionNames): Promise<void> {
  // Each is replaced only if still in the v1 layout, so a second migrating process changes nothing.
  const sessions = db.collection<{ _id: string }>(names.sessions);
  for await (const doc of sessions.find({ version: { $exists: true } }, { useBigInt64: true, promoteBuffers: false })) {
    await sessions.replaceOne({ _id: doc._id, version: { $exists: true } }, upgradeV1SessionDocument(doc));
  }
}

/** Migration 3's document step: v2 documents carry no times: last used `now`, never expiring (no expiresAt field). */
async function stampLastUsed(db: Db, names: CollectionNames, now: number): Promise<void> {
  await db.collection(names.serverSessions).updateMany({ lastUsedAt: { $exists: false } }, { $set: { lastUsedAt: now } });
}

/** Migration 4's drop of v2's (session, peer) index, the prefix of session_peer_seq. Already gone (a second migrating process): fine. */
async function dropSessionPeerIndex(db: Db, names: CollectionNames): Promise<void> {
  await db.collection(names.refs).dropIndex('session_peer').catch((error: unknown) => {
    if (!(isServerError(error) && (error.code === 27 || /index not found/i.test(error.message)))) throw error;
  });
}

/**
 * Creates the server sessions' `expiresAt` index with `create`. A TTL index removes a
 * session EXPIRY_GRACE_SECONDS after it expired if no sweep (SessionSubject
 * sweepInterval) did first — the sweep is what announces it. Servers without TTL
 * indexes get a plain index for the sweep: FerretDB 1.x (known from buildInfo, so not
 * asked: its NotImplemented refusal cost three round trips) and any other that answers
 * NotImplemented (238).
 */
async function withExpiryIndex(profile: ServerProfile, create: (expiry: IndexDescription) => Promise<void>): Promise<void> {
  const plain: IndexDescription = { key: { expiresAt: 1 }, name: 'expiresAt' };
  if (profile.ferretdb1) return create(plain);
  try {
    await create({ ...plain, expireAfterSeconds: EXPIRY_GRACE_SECONDS });
  } catch (error) {
    if (!isServerError(error) || error.code !== 238) throw error;
    await create(plain);
  }
}

/**
 * A new store (no schema document): the current schema built directly, not migration
 * by migration. Each collection's indexes are one createIndexes command (six in all;
 * one per index on FerretDB 1.x, eight) and the schema document is written once, at
 * SCHEMA_VERSION: 12 commands on FerretDB 1.x where the migrations took 19 (an index
 * created by v2 and dropped by v4, the TTL attempt refused, the version raised four
 * times). Every step is still idempotent, and the document steps of
 * the migrations run too (a database at version 0 may hold documents: its schema
 * document was removed), so the result is the one the migrations give.
 */
async function createSchema(db: Db, names: CollectionNames, profile: ServerProfile, clock: () => number): Promise<void> {
  // FerretDB 1.x drops the connection of one of two clients that create the same two
  // indexes of a new collection in one command each at the same moment (processes
  // opening a new store together; reproduced with two clients): there, one index per
  // command, as the migrations did, which it survives.
  const create = async (collection: Collection, indexes: IndexDescription[]): Promise<void> => {
    if (!profile.ferretdb1) return ensureIndexes(collection, indexes);
    for (const index of indexes) await ensureIndexes(collection, [index]);
  };
  const session: IndexDescription = { key: { session: 1 }, name: 'session' };
  for (const collection of [names.peers, names.peerIndex, names.kv, names.peerJournal]) await create(db.collection(collection), [session]);
  const serverSessions = db.collection(names.serverSessions);
  const pair: IndexDescription = { key: { authKeyId: 1, sessionId: 1 }, name: 'authKeyId_sessionId', unique: true };
  await withExpiryIndex(profile, (expiry) => create(serverSessions, [pair, expiry]));
  await create(db.collection(names.refs), [
    { key: { session: 1, seq: 1 }, name: 'session_seq' },
    { key: { session: 1, peer: 1, seq: 1 }, name: 'session_peer_seq' },
  ]);
  await upgradeV1Documents(db, names);
  await stampLastUsed(db, names, clock());
  await dropSessionPeerIndex(db, names);
  const meta = db.collection<MetaDocument>(names.meta);
  await meta.insertOne({ _id: 'schema', version: SCHEMA_VERSION }).catch(async (error: unknown) => {
    if (!(isServerError(error) && error.code === 11000)) throw error;
    // Another process recorded it first, maybe at a lower version as it migrated step by step.
    await meta.updateOne({ _id: 'schema' }, { $max: { version: SCHEMA_VERSION } });
  });
}

/**
 * createIndex, idempotent also when processes race: MongoDB's createIndexes is, but
 * FerretDB 1.x lists the indexes and then creates the missing ones in two steps, so
 * of two processes creating one index at once the second can fail with "index …
 * already exists" (or a "collection already exists" when both create the collection).
 * A refusal is checked against what is there: an index of that name with that key
 * is the one asked for (done); otherwise it is tried once more, and a second
 * refusal is the caller's (a real conflict: another index of that name).
 */
export async function ensureIndex(collection: Collection, key: Record<string, 1 | -1>, options: CreateIndexesOptions & { name: string }): Promise<void> {
  try {
    await collection.createIndex(key as IndexSpecification, options);
  } catch (error) {
    if (!isServerError(error)) throw error;
    const existing = (await collection.listIndexes().toArray()).find((index) => index.name === options.name);
    if (existing !== undefined && sameKey(existing.key as Record<string, unknown>, key)) return;
    await collection.createIndex(key as IndexSpecification, options);
  }
}

/**
 * ensureIndex for several indexes of one collection, in one createIndexes command. A
 * refusal is checked the same way: every index there by name with its key is done.
 * NotImplemented (238: an option the server lacks) is not a race: it is the caller's.
 */
export async function ensureIndexes(collection: Collection, indexes: IndexDescription[]): Promise<void> {
  try {
    await collection.createIndexes(indexes);
  } catch (error) {
    if (!isServerError(error) || error.code === 238) throw error;
    const existing = await collection.listIndexes().toArray();
    const there = (wanted: IndexDescription) => existing.some((index) => index.name === wanted.name && sameKey(index.key as Record<string, unknown>, wanted.key as Record<string, 1 | -1>));
    if (indexes.every(there)) return;
    await collection.createIndexes(indexes);
  }
}

/** Same fields in the same order with the same directions (an index key's order matters). */
function sameKey(found: Record<string, unknown>, wanted: Record<string, 1 | -1>): boolean {
  const a = Object.entries(found);
  const b = Object.entries(wanted);
  return a.length === b.length && a.every(([field, direction], i) => field === b[i]?.[0] && Number(direction) === b[i]?.[1]);
}

/** How long after its expiry MongoDB's TTL monitor removes a session no sweep removed. */
export const EXPIRY_GRACE_SECONDS = 3600;

/** What the server is, as far as the adapter's strategies care. */
export interface ServerProfile {
  /**
   * FerretDB 1.x: update operators are applied as a non-atomic read-modify-write,
   * only a lone `_id` equality reaches its index, and a multi-statement `update`
   * command can exhaust its SQLite connection pool. See the README.
   */
  ferretdb1: boolean;
  /** `buildInfo.version` (FerretDB reports the MongoDB version it emulates). */
  version: string;
}

interface Prepared {
  profile: ServerProfile;
}

// One preparation per client (or Db) and database/prefix: many instances on one client share it.
const prepared = new WeakMap<object, Map<string, Promise<Prepared>>>();

function isServerError(error: unknown): error is MongoServerError {
  return error instanceof MongoServerError || (error instanceof Error && error.name === 'MongoServerError');
}

async function detect(db: Db): Promise<ServerProfile> {
  const info = await db.admin().command({ buildInfo: 1 });
  const ferret = typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined;
  return { ferretdb1: ferret !== undefined && /^v?1\./.test(ferret), version: String(info.version ?? 'unknown') };
}

/**
 * Brings the collections up to SCHEMA_VERSION, or refuses a newer store. With
 * `mustExist` (the `create: false` option) a database without the schema document is
 * NotFoundError, decided by that one read: nothing is created.
 */
async function migrate(db: Db, names: CollectionNames, where: string, mustExist: boolean, profile: ServerProfile, clock: () => number): Promise<void> {
  const meta = db.collection<MetaDocument>(names.meta);
  const found = await meta.findOne({ _id: 'schema' });
  if (found === null && mustExist) {
    throw storeNotFound(where, `database "${db.databaseName}"`, '@mtstore/mongo', `no schema document in collection ${names.meta}`);
  }
  const stored: unknown = found === null ? 0 : found.version;
  if (typeof stored !== 'number' || !Number.isInteger(stored) || stored < 0) {
    throw new MigrationError(`${where}: ${db.databaseName}.${names.meta} holds an unreadable schema version (${typeof stored})`);
  }
  if (stored > SCHEMA_VERSION) {
    throw new MigrationError(
      `${where}: the collections ${db.databaseName}.${names.sessions} and siblings were written by schema version ${stored}; ` +
        `this @mtstore/mongo knows versions up to ${SCHEMA_VERSION}. Upgrade @mtstore/mongo.`,
    );
  }
  if (found === null) {
    try {
      await createSchema(db, names, profile, clock);
    } catch (error) {
      if (!isServerError(error)) throw error;
      throw new MigrationError(`${where}: creating the collections and indexes of schema version ${SCHEMA_VERSION} failed: ${error.message}`, { cause: error });
    }
    return;
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= stored) continue;
    try {
      await migration.up(db, names, profile, clock);
      await meta.updateOne({ _id: 'schema' }, { $max: { version: migration.version } });
    } catch (error) {
      // A refused command (conflicting index, permissions) is a schema problem; a lost connection is not.
      if (!isServerError(error)) throw error;
      throw new MigrationError(`${where}: migration ${migration.version} (${migration.description}) failed: ${error.message}`, { cause: error });
    }
  }
}

/**
 * Connects (owned clients), detects the server and migrates, once per client,
 * database and prefix (and `create`: an instance that may create never waits on the
 * refusal of one that may not). A failure is not remembered: the next call tries again.
 * `clock` is the preparing instance's (a MongoSessionStorage's `clock` option): the
 * times a migration writes are that clock's, like every other write of the instance
 * (contract §7.1); instances that keep no times pass none (Date.now). Of instances
 * sharing a client, the first to prepare migrates.
 */
export function prepare(connection: Connection, where: string, clock: () => number = Date.now): Promise<Prepared> {
  let byPrefix = prepared.get(connection.cacheKey);
  if (!byPrefix) prepared.set(connection.cacheKey, (byPrefix = new Map()));
  const key = `${connection.db.databaseName}\u0000${connection.prefix}${connection.create ? '' : '\u0000existing'}`;
  let promise = byPrefix.get(key);
  if (!promise) {
    const db = connection.db;
    promise = (async () => {
      if (connection.owned) await connection.client?.connect();
      const profile = await detect(db);
      await migrate(db, collectionNames(connection.prefix), where, !connection.create, profile, clock);
      return { profile };
    })();
    const entries = byPrefix;
    promise.catch(() => entries.delete(key));
    byPrefix.set(key, promise);
  }
  return promise;
}
