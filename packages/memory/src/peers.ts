import { bytesLength, peerIdFromKey, peerIdKey, peerIdKeyOf, usernameKey, type Peer, type PeerListPage, type PeerPosition, type PeerRepository, type PeerType } from '@mtstore/core';
import { peerRef, type NameIndex } from './names.js';
import { Flag, PEER_TYPES as TYPES, SessionPart, StoredPeer, type PeerBytes, type PeerTable } from './store.js';

/**
 * The peer cache of one session: a map per type by id and two lookup indexes that
 * point at the records. Lookups answer without a promise (core awaits nothing for
 * them) and core skips its stored-data check for this adapter (`peersNeedNoStoredCheck`):
 * every record was built here from a batch core validated, and never left the process.
 */
export class MemoryPeers extends SessionPart implements PeerRepository {
  #table(): PeerTable | undefined {
    return this.current()?.peers;
  }

  /**
   * Applies the batch in order before returning (client.ts: `peersUpsertInOrder`).
   * `checked`: the batch's ids as int32 halves, core's hashes of its names (the name
   * indexes' own) and its bytes' lengths (PeerRepository.upsert): no id is converted
   * and no name hashed again. Without it (a batch core normalized) each id is converted
   * (peerIdKey), each name hashed here and each length read by bytesLength.
   */
  upsert(peers: readonly Peer[], checked?: Int32Array): void {
    this.fence();
    const table = this.entry().peers;
    let at = 0;
    for (const peer of peers) at = putPeer(table, peer, checked, at);
    // Stryker disable next-line ConditionalExpression: equivalent: compacting on every upsert or never changes memory use only (compaction itself is checked by the kit's TL bytes trait)
    if (table.bytes.wasteful()) table.bytes.compact(records(table));
  }

  getById(type: PeerType, id: bigint): Peer | null {
    const table = this.#table();
    const peer = table?.byId[type].get(peerIdKey(id));
    // The caller's id is the stored one (a bigint is immutable): no bigint to build.
    return peer === undefined ? null : new PeerCopy(peer, id, (table as PeerTable).bytes);
  }

  /** `hash`: core's usernameHash of `username`, the index's own hash of it (names.ts UsernameIndex); hashed here when not given. */
  getByUsername(username: string, hash?: number): Peer | null {
    const table = this.#table();
    const peer = table?.byUsername.get(username, hash);
    return peer === undefined ? null : new PeerCopy(peer, peerIdFromKey(peer.key), (table as PeerTable).bytes);
  }

  /** `hash`: core's phoneHash of `phone`, the index's own hash of it (names.ts PhoneIndex); hashed here when not given. */
  getByPhone(phone: string, hash?: number): Peer | null {
    const table = this.#table();
    const peer = table?.byPhone.get(phone, hash);
    return peer === undefined ? null : new PeerCopy(peer, peerIdFromKey(peer.key), (table as PeerTable).bytes);
  }

  /**
   * Each type's records in insertion order (a peer upserted again keeps its place: its
   * record is updated). The page resumes after the `after` peer: skipping to it costs what
   * an offset into the records would. A position not in the index (cleared since, or made up)
   * has no place in that order: the page starts with the next type.
   */
  async list(after: PeerPosition | null, limit: number): Promise<PeerListPage> {
    const table = this.#table();
    const peers: Peer[] = [];
    if (table === undefined) return { peers, next: null };
    let typeIndex = after === null ? 0 : TYPES.indexOf(after.type);
    let skipTo = after === null ? undefined : table.byId[after.type].get(peerIdKey(after.id));
    if (after !== null && skipTo === undefined) typeIndex++;
    let last: PeerPosition | undefined;
    for (; typeIndex < TYPES.length; typeIndex++) {
      const type = TYPES[typeIndex] as PeerType;
      for (const peer of table.byId[type].records) {
        if (skipTo !== undefined) {
          if (peer === skipTo) skipTo = undefined;
          continue;
        }
        // One more than the page: a next page exists. limit >= 1, so `last` is set.
        if (peers.length === limit) return { peers, next: last as PeerPosition };
        const id = peerIdFromKey(peer.key);
        peers.push(new PeerCopy(peer, id, table.bytes));
        last = { type, id };
      }
    }
    return { peers, next: null };
  }

  async clear(): Promise<void> {
    this.fence();
    const table = this.#table();
    if (table === undefined) return;
    for (const type of TYPES) table.byId[type].clear();
    table.byUsername.clear();
    table.byPhone.clear();
    table.bytes.clear();
  }
}


/** Every record of a table. */
function* records(table: PeerTable): Iterable<StoredPeer> {
  for (const type of TYPES) yield* table.byId[type].records;
}

/**
 * A fresh Peer (the caller's to change) from a record: only the fields it has, the TL
 * bytes copied out of the table's PeerBytes. A constructor, not an object literal: V8
 * sizes a literal's object to the properties written in it, so each optional field added after it goes to
 * a second, out-of-object array (one more allocation per copy); a constructor's objects
 * keep room for the properties its calls add (slack tracking), so every field sits in
 * the object. Its prototype is Object.prototype: the copy is a plain object, with the
 * prototype and `constructor` of a literal, and the same properties in the same order.
 */
function PeerCopyOf(this: Peer, stored: StoredPeer, id: bigint, bytes: PeerBytes): void {
  const flags = stored.flags;
  const u = stored.usernames;
  this.type = TYPES[flags & Flag.TYPE_MASK] as PeerType;
  this.id = id;
  this.accessHash = stored.accessHash;
  // The flag says which form `u` has: no read of the string itself (a likely cache miss).
  this.usernames = u === undefined ? [] : (flags & Flag.MANY_USERNAMES) === 0 ? [u as string] : (u as readonly string[]).slice();
  this.updatedAt = stored.updatedAt;
  if (stored.phone !== undefined) this.phone = stored.phone;
  if ((flags & (Flag.MIN_FALSE | Flag.MIN_TRUE)) !== 0) this.min = (flags & Flag.MIN_TRUE) !== 0;
  if (stored.displayName !== undefined) this.displayName = stored.displayName;
  if (stored.complete >= 0) this.complete = bytes.copy(stored.complete);
}
const PeerCopy = PeerCopyOf as unknown as { new (stored: StoredPeer, id: bigint, bytes: PeerBytes): Peer; prototype: object };
PeerCopy.prototype = Object.prototype;

/** A record's `min` bits (StoredPeer.flags) for a peer's `min`. */
function minFlags(min: boolean | undefined): number {
  return min === undefined ? 0 : min ? Flag.MIN_TRUE : Flag.MIN_FALSE;
}

/**
 * Sets a record's usernames in its form (see StoredPeer.usernames) and the flag that
 * names the form: the caller's array is not kept.
 */
function setUsernames(peer: StoredPeer, usernames: readonly string[]): void {
  // Stryker disable next-line EqualityOperator: equivalent: a one-username array reads back as the same list (PeerCopy copies it)
  if (usernames.length > 1) {
    peer.usernames = usernames.slice();
    peer.flags |= Flag.MANY_USERNAMES;
  } else {
    peer.usernames = usernames[0];
    peer.flags &= ~Flag.MANY_USERNAMES;
  }
}

/** A record's usernames as a list (read only). */
function usernameList(usernames: StoredPeer['usernames']): readonly string[] {
  return usernames === undefined ? [] : typeof usernames === 'string' ? [usernames] : usernames;
}

/**
 * Stores one peer of a batch, core's validated copies of the caller's peers
 * (`peersUpsertInOrder`: nothing of it is kept, its fields are copied out before the
 * upsert returns; `complete` is the caller's Uint8Array, read through intrinsics only:
 * PeerBytes.add): core's mergePeer rule against the stored record (a min peer keeps
 * the stored non-min access hash, min flag and TL bytes), then its usernames and phone
 * move to it from whoever held them. Applied in order, a batch's peers resolve as
 * `normalizePeerBatch` says: a peer given twice merges as if upserted twice, and a
 * later claim of a username or phone takes it from an earlier peer. `checked` from `at`
 * (PeerRepository.upsert): the peer's id as its int32 halves, core's hashes of its
 * usernames, then of its phone when it has one, then its bytes' length when it has
 * them; returns where the next peer's start.
 */
function putPeer(table: PeerTable, incoming: Peer, checked: Int32Array | undefined, at: number): number {
  const usernames = incoming.usernames;
  const count = usernames.length;
  // The stream's id halves come first: the names' hashes start after them.
  const namesAt = at + 2;
  const phoneAt = namesAt + count;
  const lengthAt = incoming.phone === undefined ? phoneAt : phoneAt + 1;
  const next = incoming.complete === undefined ? lengthAt : lengthAt + 1;
  const map = table.byId[incoming.type];
  const key = checked === undefined ? peerIdKey(incoming.id) : peerIdKeyOf(checked[at] as number, checked[at + 1] as number, incoming.id);
  let place = map.probe(key);
  const previous = place < 0 ? undefined : map.records[place];
  const keepHash = previous !== undefined && (previous.flags & Flag.MIN_TRUE) === 0 && incoming.min === true;
  const bytes = table.bytes;
  let complete = -1;
  if (keepHash) complete = previous.complete;
  else if (incoming.complete !== undefined) {
    const source = incoming.complete;
    const length = checked === undefined ? bytesLength(source) : (checked[lengthAt] as number);
    // A re-upsert usually brings the same TL bytes: keep the stored entry then.
    complete = previous !== undefined && previous.complete >= 0 && bytes.same(previous.complete, source, length) ? previous.complete : bytes.add(source, length);
  }
  if (previous !== undefined && previous.complete >= 0 && previous.complete !== complete) bytes.release(previous.complete);
  let peer: StoredPeer;
  const type = incoming.type;
  const typeIndex = type === 'user' ? 0 : type === 'chat' ? 1 : 2;
  if (previous === undefined) {
    peer = new StoredPeer(
      typeIndex | minFlags(incoming.min),
      key,
      incoming.accessHash,
      undefined,
      incoming.updatedAt,
      incoming.phone,
      incoming.displayName,
      complete,
    );
    setUsernames(peer, incoming.usernames);
    place = map.addAt(peer, place);
  } else {
    // A stored record owns every index entry of its usernames and phone (a claim by
    // another peer removes them from it), so a re-upsert with the same ones — the
    // usual case — has nothing to re-index.
    const sameUsernames = sameList(previous.usernames, incoming.usernames);
    // Stryker disable next-line ConditionalExpression: equivalent: a phone taken for changed is re-indexed to the same owner below
    const samePhone = previous.phone === incoming.phone;
    // Stryker disable next-line ConditionalExpression: equivalent: the clean-up loop finds nothing to drop when the usernames are the same
    if (!sameUsernames) {
      for (const username of usernameList(previous.usernames)) {
        const lower = usernameKey(username);
        // Stryker disable next-line ConditionalExpression,MethodExpression,ArrowFunction,LogicalOperator: equivalent: these only drop more index entries, and every username the peer keeps is indexed again below (the early return needs sameUsernames)
        if (!incoming.usernames.some((u) => u === username || usernameKey(u) === lower)) table.byUsername.delete(lower);
      }
    }
    if (!samePhone && previous.phone !== undefined) table.byPhone.delete(previous.phone);
    peer = previous;
    if (!keepHash) {
      peer.accessHash = incoming.accessHash;
      peer.flags = (peer.flags & ~(Flag.MIN_FALSE | Flag.MIN_TRUE)) | minFlags(incoming.min);
    }
    setUsernames(peer, incoming.usernames);
    peer.updatedAt = incoming.updatedAt;
    peer.phone = incoming.phone;
    peer.displayName = incoming.displayName;
    peer.complete = complete;
    // Stryker disable next-line ConditionalExpression: equivalent: indexing the same usernames and phone again changes nothing
    if (sameUsernames && samePhone) return next;
  }
  const ref = peerRef(place, typeIndex);
  const phone = peer.phone;
  // The usernames, then the phone, claimed at one call site: TurboFan inlines claim
  // into putPeer once, not twice (its inlining budget is bytecode size: a second copy
  // left the record's construction and PeerBytes.add out). The phone's hash follows the
  // names' in `checked`.
  // Stryker disable next-line ConditionalExpression: equivalent: an `undefined` phone key is never looked up (core rejects getByPhone(undefined))
  const claims = phone === undefined ? count : count + 1;
  for (let k = 0; k < claims; k++) {
    const isName = k < count;
    const index: NameIndex = isName ? table.byUsername : table.byPhone;
    const name = isName ? (usernames[k] as string) : (phone as string);
    const owner = index.claim(name, ref, checked === undefined ? index.hash(name) : (checked[namesAt + k] as number));
    if (owner === undefined || owner === peer) continue;
    if (!isName) {
      owner.phone = undefined;
      continue;
    }
    // The index keeps no key (names.ts): `lower` is only compared with, not stored.
    const lower = usernameKey(name);
    const left = usernameList(owner.usernames).filter((u) => usernameKey(u) !== lower);
    setUsernames(owner, left);
    // The slot just taken may have answered for another of the owner's names too (one
    // hash): the owner makes sure of a slot for each name it keeps.
    if (left.length > 0) {
      const ownerType = owner.flags & Flag.TYPE_MASK;
      const ownerRef = peerRef(table.byId[TYPES[ownerType] as PeerType].find(owner.key), ownerType);
      for (const u of left) table.byUsername.keep(u, ownerRef);
    }
  }
  return next;
}

/** True when a record's usernames are `list`, in order. */
// Stryker disable next-line BlockStatement: equivalent: `undefined` (not the same) only re-indexes
function sameList(stored: StoredPeer['usernames'], list: readonly string[]): boolean {
  if (typeof stored === 'string') return list.length === 1 && list[0] === stored;
  if (stored === undefined) return list.length === 0;
  if (stored.length !== list.length) return false;
  // Stryker disable next-line EqualityOperator,ConditionalExpression: equivalent: a[length] and b[length] are both undefined; `false` only re-indexes
  for (let i = 0; i < stored.length; i++) if (stored[i] !== list[i]) return false;
  // Stryker disable next-line BooleanLiteral: equivalent: "not the same" only re-indexes
  return true;
}
