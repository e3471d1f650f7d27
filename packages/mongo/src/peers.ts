/**
 * One peer batch, under the session's write lease:
 *
 *   1. read (in parallel): the batch's stored peers, the stored owners of the
 *      batch's usernames and phones;
 *   2. read the previous owners that are not in the batch (only when a username or
 *      phone moves away from them, which is rare);
 *   3. decide in memory: `mergePeer` against the stored peer, which documents change,
 *      which lookups move, which previous owners lose a username or phone;
 *   4. write the peers, then the lookups.
 *
 * So a batch of any size is 1-2 round trips of reads inside the lease (plus 2 for
 * the lease), then the writes.
 * MongoDB writes each collection with one `bulkWrite` (ordered: false) of
 * replacements, in place. FerretDB 1.x cannot: its `update` command keeps one SQLite
 * connection per statement until the command ends and hangs the database beyond ~100
 * statements, and a replace costs ≈ 10 ms per document (see the README). There the
 * new versions of the documents to replace are first journaled (one insert), then the
 * stored ones deleted and everything inserted, then the journal entries removed: a
 * crash at any point loses no acknowledged peer (see `put`).
 */
import type { Collection } from 'mongodb';
import { mergePeer, usernameKey, type Peer, type PeerListPage, type PeerPosition, type PeerRepository, type PeerType } from '@mtstore/core';
import {
  decodePeer,
  encodePeer,
  peerDocumentId,
  phoneHandleId,
  READ,
  samePeerDocument,
  usernameHandleId,
  type HandleDocument,
  type PeerDocument,
  type StringIdDocument,
} from './codec.js';
import { leased, type Context, type Scope } from './context.js';
import type { WriteCheck } from './lock.js';
import type { ServerProfile } from './schema.js';

export type PeerCollections = Pick<Context, 'peers' | 'index' | 'journal' | 'profile'>;

/** Up to this many ids, FerretDB is asked one `_id` at a time (the only lookup it can index). */
const FERRET_ID_LOOKUPS = 64;

/**
 * The stored documents with these `_id`s. MongoDB: one `$in` on the `_id` index.
 * FerretDB 1.x scans the collection for any filter but a lone `_id` and tests `$in`
 * linearly, so a few ids are fetched one by one and many through one scan of the
 * session's documents.
 */
export async function findByIds<T extends { _id: string }>(collection: Collection<StringIdDocument>, session: string, ids: readonly string[], profile: ServerProfile): Promise<Map<string, T>> {
  const found = new Map<string, T>();
  if (ids.length === 0) return found;
  let docs: StringIdDocument[];
  if (!profile.ferretdb1) {
    docs = await collection.find({ _id: { $in: ids } }, READ).toArray();
  } else if (ids.length <= FERRET_ID_LOOKUPS) {
    docs = (await Promise.all(ids.map((_id) => collection.findOne({ _id }, READ)))).filter((d) => d !== null) as StringIdDocument[];
  } else {
    const wanted = new Set(ids);
    docs = (await collection.find({ session }, READ).toArray()).filter((d) => wanted.has(d._id));
  }
  for (const doc of docs) found.set(doc._id, doc as unknown as T);
  return found;
}

interface Plan {
  peers: PeerDocument[];
  /** `_id`s among `peers` that are stored already (replaced, not inserted). */
  replacing: Set<string>;
  handles: HandleDocument[];
  replacingHandles: Set<string>;
  /** Previous owners outside the batch → the lower-cased usernames and the phones they lose. */
  losers: Map<string, { usernames: Set<string>; phones: Set<string> }>;
}

function plan(session: string, batch: readonly Peer[], stored: Map<string, PeerDocument>, handles: Map<string, HandleDocument>, where: string): Plan {
  const result: Plan = { peers: [], replacing: new Set(), handles: [], replacingHandles: new Set(), losers: new Map() };
  const inBatch = new Set<string>();
  const docs = batch.map((incoming) => {
    const id = encodePeer(session, incoming)._id;
    inBatch.add(id);
    const previous = stored.get(id);
    // Only a min peer needs the stored one (its access hash may have to be kept).
    const merged = previous !== undefined && incoming.min === true ? mergePeer(decodePeer(previous, where), incoming) : incoming;
    const doc = encodePeer(session, merged);
    if (previous === undefined) result.peers.push(doc);
    else if (!samePeerDocument(doc, previous)) {
      result.peers.push(doc);
      result.replacing.add(doc._id);
    }
    return doc;
  });
  const claim = (handle: HandleDocument, lose: (owner: { usernames: Set<string>; phones: Set<string> }) => void) => {
    const current = handles.get(handle._id);
    if (current === undefined) result.handles.push(handle);
    else if (current.peer !== handle.peer || current.username !== handle.username) {
      result.handles.push(handle);
      result.replacingHandles.add(handle._id);
      if (current.peer !== handle.peer && !inBatch.has(current.peer)) {
        let owner = result.losers.get(current.peer);
        if (!owner) result.losers.set(current.peer, (owner = { usernames: new Set(), phones: new Set() }));
        lose(owner);
      }
    }
  };
  for (const doc of docs) {
    for (const username of doc.usernames) {
      const lower = usernameKey(username);
      claim({ _id: usernameHandleId(session, lower), session, peer: doc._id, username }, (o) => o.usernames.add(lower));
    }
    const phone = doc.phone;
    if (phone !== undefined) claim({ _id: phoneHandleId(session, phone), session, peer: doc._id }, (o) => o.phones.add(phone));
  }
  return result;
}

/** Previous owners without what moved away from them; unchanged ones are left out. */
function strip(owners: Map<string, PeerDocument>, losers: Plan['losers']): PeerDocument[] {
  const changed: PeerDocument[] = [];
  for (const [id, lost] of losers) {
    const owner = owners.get(id);
    if (!owner) continue; // a lookup left behind by a deleted peer: it is being replaced anyway
    const doc: PeerDocument = { ...owner, usernames: Array.isArray(owner.usernames) ? owner.usernames.filter((u) => !lost.usernames.has(usernameKey(u))) : owner.usernames };
    if (owner.phone !== undefined && lost.phones.has(owner.phone)) delete doc.phone;
    if (doc.usernames.length !== owner.usernames.length || doc.phone !== owner.phone) changed.push(doc);
  }
  return changed;
}

/**
 * FerretDB 1.x: documents per `insertMany` / ids per `$in` delete. Each command holds
 * the database's single SQLite writer while it runs; short commands let the lease's
 * renewal (and other sessions' writes) in between. (A replace costs ≈ 10 ms per
 * document there, a 500-document insert ≈ 50 ms: hence delete + insert, not replace.)
 */
const FERRET_CHUNK = 500;

type Written = PeerDocument | HandleDocument;

/** A journal entry: the new version of a document a FerretDB batch deletes to rewrite. */
export interface JournalDocument {
  /** `p|<peer _id>` or `h|<lookup _id>`. */
  _id: string;
  session: string;
  doc: Written;
}

export const journalId = (target: 'p' | 'h', id: string): string => `${target}|${id}`;

async function inChunks<T>(items: readonly T[], lease: WriteCheck, write: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += FERRET_CHUNK) {
    lease.check();
    await write(items.slice(i, i + FERRET_CHUNK));
  }
}

/** FerretDB: delete the stored versions of `replacing`, insert every document of `docs`. */
async function swap(collection: Collection<StringIdDocument>, docs: readonly Written[], replacing: ReadonlySet<string>, lease: WriteCheck): Promise<void> {
  await inChunks([...replacing], lease, (ids) => (ids.length > FERRET_ID_LOOKUPS ? collection.deleteMany({ _id: { $in: ids } }) : Promise.all(ids.map((_id) => collection.deleteOne({ _id })))));
  await inChunks(docs, lease, (chunk) => collection.insertMany(chunk as unknown as StringIdDocument[], { ordered: false }));
}

/**
 * Finishes a FerretDB batch that died between deleting stored documents and
 * inserting their new versions: the journal holds those versions, so the batch is
 * rolled forward (deleted again where present, inserted), then the journal cleared.
 * Idempotent: a crash here leaves the journal for the next writer.
 */
export async function recoverJournal(c: PeerCollections, session: string, pending: readonly JournalDocument[], lease: WriteCheck): Promise<void> {
  for (const [target, collection] of [['p', c.peers], ['h', c.index]] as const) {
    const docs = pending.filter((e) => e._id.startsWith(`${target}|`)).map((e) => e.doc);
    await swap(collection, docs, new Set(docs.map((d) => d._id)), lease);
  }
  lease.check();
  await c.journal.deleteMany({ session });
}

/**
 * Writes what was decided. MongoDB: one replacing `bulkWrite` per collection, in
 * place. FerretDB 1.x: the new versions of the documents to be replaced go to the
 * journal first (one durable insert), then stored versions are deleted and every
 * document inserted, then the journal entries are removed: a crash anywhere loses no
 * acknowledged peer (readers fall back to the journal, the next writer rolls forward).
 */
async function put(c: PeerCollections, session: string, decided: Plan, lease: WriteCheck): Promise<void> {
  if (!c.profile.ferretdb1) {
    for (const [collection, docs] of [[c.peers, decided.peers], [c.index, decided.handles]] as const) {
      if (docs.length === 0) continue;
      lease.check();
      await collection.bulkWrite(
        docs.map((doc: Written) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc as unknown as StringIdDocument, upsert: true } })),
        { ordered: false },
      );
    }
    return;
  }
  const journal: JournalDocument[] = [
    ...decided.peers.filter((d) => decided.replacing.has(d._id)).map((doc) => ({ _id: journalId('p', doc._id), session, doc })),
    ...decided.handles.filter((d) => decided.replacingHandles.has(d._id)).map((doc) => ({ _id: journalId('h', doc._id), session, doc })),
  ];
  await inChunks(journal, lease, (chunk) => c.journal.insertMany(chunk as unknown as StringIdDocument[], { ordered: false }));
  await swap(c.peers, decided.peers, decided.replacing, lease);
  await swap(c.index, decided.handles, decided.replacingHandles, lease);
  if (journal.length > 0) {
    lease.check();
    await c.journal.deleteMany({ session });
  }
}

/** Stores a normalized batch. Call under the session's lease. */
export async function writePeers(c: PeerCollections, session: string, batch: readonly Peer[], where: string, lease: WriteCheck): Promise<void> {
  const keys = batch.map((p) => encodePeer(session, p)._id);
  const handleIds: string[] = [];
  for (const p of batch) {
    for (const u of p.usernames) handleIds.push(usernameHandleId(session, usernameKey(u)));
    if (p.phone !== undefined) handleIds.push(phoneHandleId(session, p.phone));
  }
  const read = () =>
    Promise.all([findByIds<PeerDocument>(c.peers, session, keys, c.profile), findByIds<HandleDocument>(c.index, session, handleIds, c.profile)]);
  // FerretDB: whether a batch died mid-way, read alongside (the journal is almost always empty).
  const [pending, found] = await Promise.all([
    c.profile.ferretdb1 ? (c.journal.find({ session }, READ).toArray() as unknown as Promise<JournalDocument[]>) : [],
    read(),
  ]);
  let [stored, handles] = found;
  if (pending.length > 0) {
    await recoverJournal(c, session, pending, lease);
    [stored, handles] = await read();
  }
  const decided = plan(session, batch, stored, handles, where);
  if (decided.losers.size > 0) {
    const owners = await findByIds<PeerDocument>(c.peers, session, [...decided.losers.keys()], c.profile);
    for (const doc of strip(owners, decided.losers)) {
      decided.peers.push(doc);
      decided.replacing.add(doc._id);
    }
  }
  await put(c, session, decided, lease);
}

/**
 * One document by `_id`. On FerretDB a miss looks in the journal (a batch between its
 * delete and its insert, or one that died there), then once more in the collection
 * (a batch that finished in between: it inserts before it clears the journal).
 */
async function find(c: Context, collection: Collection<StringIdDocument>, target: 'p' | 'h', _id: string): Promise<StringIdDocument | null> {
  const doc = await collection.findOne({ _id }, READ);
  if (doc !== null || !c.profile.ferretdb1) return doc;
  const entry = await c.journal.findOne({ _id: journalId(target, _id) }, READ);
  if (entry !== null && typeof entry.doc === 'object' && entry.doc !== null) return entry.doc as StringIdDocument;
  return collection.findOne({ _id }, READ);
}

/**
 * The peer cache of one session. Batches and `clear` run under the session's lease;
 * lookups never wait, except that a miss while a batch holds the lease waits for it
 * and looks again: a username moving between peers is first taken from its old owner,
 * then its lookup moves, so a reader in between would see nobody own it.
 */
export class MongoPeers implements PeerRepository {
  constructor(private readonly scope: Scope) {}

  upsert(peers: readonly Peer[]): Promise<void> {
    return this.scope.run(async (c) => {
      await leased(c, this.scope, 'peers.upsert', (check) => writePeers(c, this.scope.name, peers, `${this.scope.label}, peer`, check));
    });
  }

  async #lookup(c: Context, find: () => Promise<Peer | null>): Promise<Peer | null> {
    const found = await find();
    if (found !== null || !(await c.locks.held(this.scope.name))) return found;
    await c.locks.settled(this.scope.name);
    return find();
  }

  async #peerAt(c: Context, id: string): Promise<Peer | null> {
    const doc = await find(c, c.peers, 'p', id);
    return doc === null ? null : decodePeer(doc, `${this.scope.label}, peer`);
  }

  /** The owner a lookup points to, if it still lists what was looked up (lookups of released names linger). */
  async #owner(c: Context, handleId: string, owns: (peer: Peer) => boolean): Promise<Peer | null> {
    const handle = await find(c, c.index, 'h', handleId);
    if (handle === null || typeof handle.peer !== 'string') return null;
    const peer = await this.#peerAt(c, handle.peer);
    return peer !== null && owns(peer) ? peer : null;
  }

  getById(type: PeerType, id: bigint): Promise<Peer | null> {
    // A batch never removes a stored peer, so a miss here is a miss: no waiting.
    return this.scope.run((c) => this.#peerAt(c, peerDocumentId(this.scope.name, type, id)));
  }

  getByUsername(username: string): Promise<Peer | null> {
    return this.scope.run(async (c) => {
      const owns = (peer: Peer) => Array.isArray(peer.usernames) && peer.usernames.some((u) => typeof u === 'string' && usernameKey(u) === username);
      return this.#lookup(c, () => this.#owner(c, usernameHandleId(this.scope.name, username), owns));
    });
  }

  getByPhone(phone: string): Promise<Peer | null> {
    return this.scope.run((c) => this.#lookup(c, () => this.#owner(c, phoneHandleId(this.scope.name, phone), (peer) => peer.phone === phone)));
  }

  /**
   * Pages in `_id` order (`<session>/<type>/<id>`, unique and never reused), after
   * the `_id` of the position.
   */
  list(after: PeerPosition | null, limit: number): Promise<PeerListPage> {
    return this.scope.run(async (c) => {
      const filter: Record<string, unknown> = { session: this.scope.name };
      if (after !== null) filter._id = { $gt: peerDocumentId(this.scope.name, after.type, after.id) };
      const docs = await c.peers.find(filter, { ...READ, sort: { _id: 1 }, limit: limit + 1 }).toArray();
      const page = docs.slice(0, limit);
      const peers = page.map((doc) => decodePeer(doc, `${this.scope.label}, peer`));
      const last = peers[peers.length - 1];
      return { peers, next: docs.length > limit && last !== undefined ? { type: last.type, id: last.id } : null };
    });
  }

  clear(): Promise<void> {
    return this.scope.run(async (c) => {
      await leased(c, this.scope, 'peers.clear', async (check) => {
        check.check();
        // The journal first: what it holds must not reappear through readers' fallback.
        await c.journal.deleteMany({ session: this.scope.name });
        await Promise.all([c.peers.deleteMany({ session: this.scope.name }), c.index.deleteMany({ session: this.scope.name })]);
      });
    });
  }
}
