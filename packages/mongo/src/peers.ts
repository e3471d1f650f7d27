/**
 * One peer batch, under the session's write lease:
 *
 *   1. read (in parallel): does the session exist, the batch's stored peers, the
 *      stored owners of the batch's usernames and phones;
 *   2. read the previous owners that are not in the batch (only when a username or
 *      phone moves away from them, which is rare);
 *   3. decide in memory: `mergePeer` against the stored peer, which documents change,
 *      which lookups move, which previous owners lose a username or phone;
 *   4. write the peers, then the lookups.
 *
 * So a batch of any size is 3-4 round trips inside the lease (plus 2 for the lease). MongoDB writes each collection with one
 * `bulkWrite` (ordered: false) of replacements. FerretDB 1.x gets a delete of the
 * changed documents and one `insertMany`, because its `update` command keeps one
 * SQLite connection per statement until the command ends and hangs the database
 * beyond ~100 statements (see the README); readers that miss a peer while the lease
 * is held wait for it and look again (client.ts), so they never see the gap.
 */
import type { Collection } from 'mongodb';
import { mergePeer, usernameKey, type Peer } from '@mtstore/core';
import {
  decodePeer,
  encodePeer,
  phoneHandleId,
  READ,
  samePeerDocument,
  usernameHandleId,
  type HandleDocument,
  type PeerDocument,
  type StringIdDocument,
} from './codec.js';
import type { ServerProfile } from './schema.js';

export interface PeerCollections {
  sessions: Collection<StringIdDocument>;
  peers: Collection<StringIdDocument>;
  index: Collection<StringIdDocument>;
  profile: ServerProfile;
}

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

/** Replaces or inserts `docs` (`replacing`: the ones already stored), by the strategy the server needs. */
async function put(collection: Collection<StringIdDocument>, docs: readonly (PeerDocument | HandleDocument)[], replacing: ReadonlySet<string>, profile: ServerProfile): Promise<void> {
  if (docs.length === 0) return;
  if (!profile.ferretdb1) {
    await collection.bulkWrite(
      docs.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc as unknown as StringIdDocument, upsert: true } })),
      { ordered: false },
    );
    return;
  }
  const ids = [...replacing];
  if (ids.length > FERRET_ID_LOOKUPS) await collection.deleteMany({ _id: { $in: ids } });
  else await Promise.all(ids.map((_id) => collection.deleteOne({ _id })));
  await collection.insertMany(docs as unknown as StringIdDocument[], { ordered: false });
}

/** Stores a normalized batch; false (nothing written) when the session is not saved. Call under the lease. */
export async function writePeers(c: PeerCollections, session: string, batch: readonly Peer[], where: string): Promise<boolean> {
  const keys = batch.map((p) => encodePeer(session, p)._id);
  const handleIds: string[] = [];
  for (const p of batch) {
    for (const u of p.usernames) handleIds.push(usernameHandleId(session, usernameKey(u)));
    if (p.phone !== undefined) handleIds.push(phoneHandleId(session, p.phone));
  }
  const [exists, stored, handles] = await Promise.all([
    c.sessions.findOne({ _id: session }, { projection: { _id: 1 } }),
    findByIds<PeerDocument>(c.peers, session, keys, c.profile),
    findByIds<HandleDocument>(c.index, session, handleIds, c.profile),
  ]);
  if (exists === null) return false;
  const decided = plan(session, batch, stored, handles, `session ${JSON.stringify(session)}, peer`);
  if (decided.losers.size > 0) {
    const owners = await findByIds<PeerDocument>(c.peers, session, [...decided.losers.keys()], c.profile);
    for (const doc of strip(owners, decided.losers)) {
      decided.peers.push(doc);
      decided.replacing.add(doc._id);
    }
  }
  await put(c.peers, decided.peers, decided.replacing, c.profile);
  await put(c.index, decided.handles, decided.replacingHandles, c.profile);
  return true;
}
