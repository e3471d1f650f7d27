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
 * replacements. FerretDB 1.x gets one `insertMany` of the new documents and the
 * replacements in `bulkWrite`s of FERRET_REPLACE_CHUNK statements, because its
 * `update` command keeps one SQLite connection per statement until the command ends
 * and hangs the database beyond ~100 statements (see the README). A stored document
 * is never deleted to be rewritten: a crash mid-batch loses nothing acknowledged.
 */
import type { Collection } from 'mongodb';
import { mergePeer, usernameKey, type Peer, type PeerPage, type PeerRepository, type PeerType } from '@mtstore/core';
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
import type { Context, Scope } from './context.js';
import type { Lease } from './lock.js';
import type { ServerProfile } from './schema.js';

export type PeerCollections = Pick<Context, 'peers' | 'index' | 'profile'>;

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
 * FerretDB 1.x: replacements per `update` command. Each statement holds one of the
 * database's SQLite connections (100) until the command ends, so a command stays far
 * below that whatever the batch size.
 */
const FERRET_REPLACE_CHUNK = 25;

/**
 * Replaces or inserts `docs` (`replacing`: the ones already stored). A stored document
 * is only ever replaced in place, never deleted first: a crash (or a fenced writer)
 * leaves each peer at its old or its new version, never missing.
 */
async function put(collection: Collection<StringIdDocument>, docs: readonly (PeerDocument | HandleDocument)[], replacing: ReadonlySet<string>, profile: ServerProfile, lease: Lease): Promise<void> {
  if (docs.length === 0) return;
  const replace = (list: readonly (PeerDocument | HandleDocument)[]) =>
    collection.bulkWrite(
      list.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc as unknown as StringIdDocument, upsert: true } })),
      { ordered: false },
    );
  if (!profile.ferretdb1) {
    lease.check();
    await replace(docs);
    return;
  }
  const fresh = docs.filter((doc) => !replacing.has(doc._id));
  const changed = docs.filter((doc) => replacing.has(doc._id));
  if (fresh.length > 0) {
    lease.check();
    await collection.insertMany(fresh as unknown as StringIdDocument[], { ordered: false });
  }
  for (let i = 0; i < changed.length; i += FERRET_REPLACE_CHUNK) {
    lease.check();
    await replace(changed.slice(i, i + FERRET_REPLACE_CHUNK));
  }
}

/** Stores a normalized batch. Call under the session's lease. */
export async function writePeers(c: PeerCollections, session: string, batch: readonly Peer[], where: string, lease: Lease): Promise<void> {
  const keys = batch.map((p) => encodePeer(session, p)._id);
  const handleIds: string[] = [];
  for (const p of batch) {
    for (const u of p.usernames) handleIds.push(usernameHandleId(session, usernameKey(u)));
    if (p.phone !== undefined) handleIds.push(phoneHandleId(session, p.phone));
  }
  const [stored, handles] = await Promise.all([
    findByIds<PeerDocument>(c.peers, session, keys, c.profile),
    findByIds<HandleDocument>(c.index, session, handleIds, c.profile),
  ]);
  const decided = plan(session, batch, stored, handles, where);
  if (decided.losers.size > 0) {
    const owners = await findByIds<PeerDocument>(c.peers, session, [...decided.losers.keys()], c.profile);
    for (const doc of strip(owners, decided.losers)) {
      decided.peers.push(doc);
      decided.replacing.add(doc._id);
    }
  }
  await put(c.peers, decided.peers, decided.replacing, c.profile, lease);
  await put(c.index, decided.handles, decided.replacingHandles, c.profile, lease);
}

/**
 * The peer cache of one session. Batches and `clear` run under the session's lease;
 * lookups never wait, except that a miss while a batch holds the lease waits for it
 * and looks again: a username moving between peers is first taken from its old owner,
 * then its lookup moves, so a reader in between would see nobody own it.
 */
export class MongoPeers implements PeerRepository {
  constructor(private readonly scope: Scope) {}

  async upsert(peers: readonly Peer[]): Promise<void> {
    const c = await this.scope.ready();
    await c.locks.run(this.scope.name, this.scope.where('peers.upsert'), (lease) => writePeers(c, this.scope.name, peers, `${this.scope.label}, peer`, lease));
  }

  async #lookup(c: Context, find: () => Promise<Peer | null>): Promise<Peer | null> {
    const found = await find();
    if (found !== null || !(await c.locks.held(this.scope.name))) return found;
    await c.locks.settled(this.scope.name);
    return find();
  }

  async #peerAt(c: Context, id: string): Promise<Peer | null> {
    const doc = await c.peers.findOne({ _id: id }, READ);
    return doc === null ? null : decodePeer(doc, `${this.scope.label}, peer`);
  }

  /** The owner a lookup points to, if it still lists what was looked up (lookups of released names linger). */
  async #owner(c: Context, handleId: string, owns: (peer: Peer) => boolean): Promise<Peer | null> {
    const handle = await c.index.findOne({ _id: handleId });
    if (handle === null || typeof handle.peer !== 'string') return null;
    const peer = await this.#peerAt(c, handle.peer);
    return peer !== null && owns(peer) ? peer : null;
  }

  async getById(type: PeerType, id: bigint): Promise<Peer | null> {
    const c = await this.scope.ready();
    // A batch never removes a stored peer, so a miss here is a miss: no waiting.
    return this.#peerAt(c, peerDocumentId(this.scope.name, type, id));
  }

  async getByUsername(username: string): Promise<Peer | null> {
    const c = await this.scope.ready();
    const owns = (peer: Peer) => Array.isArray(peer.usernames) && peer.usernames.some((u) => typeof u === 'string' && usernameKey(u) === username);
    return this.#lookup(c, () => this.#owner(c, usernameHandleId(this.scope.name, username), owns));
  }

  async getByPhone(phone: string): Promise<Peer | null> {
    const c = await this.scope.ready();
    return this.#lookup(c, () => this.#owner(c, phoneHandleId(this.scope.name, phone), (peer) => peer.phone === phone));
  }

  /**
   * Pages in `_id` order (`<session>/<type>/<id>`, unique and never reused); the
   * cursor is the last `_id` returned without the session prefix.
   */
  async list(cursor: string | null, limit: number): Promise<PeerPage> {
    const c = await this.scope.ready();
    const filter: Record<string, unknown> = { session: this.scope.name };
    if (cursor !== null) filter._id = { $gt: `${this.scope.name}/${cursor}` };
    const docs = await c.peers.find(filter, { ...READ, sort: { _id: 1 }, limit: limit + 1 }).toArray();
    const page = docs.slice(0, limit);
    const peers = page.map((doc) => decodePeer(doc, `${this.scope.label}, peer`));
    const last = page[page.length - 1];
    return { peers, cursor: docs.length > limit && last !== undefined ? last._id.slice(this.scope.name.length + 1) : null };
  }

  async clear(): Promise<void> {
    const c = await this.scope.ready();
    await c.locks.run(this.scope.name, this.scope.where('peers.clear'), async (lease) => {
      lease.check();
      await Promise.all([c.peers.deleteMany({ session: this.scope.name }), c.index.deleteMany({ session: this.scope.name })]);
    });
  }
}
