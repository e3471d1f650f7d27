/**
 * Peer-cache semantics shared by every adapter (DESIGN §3.3), so an adapter only has
 * to write what these functions decide.
 */
import { copyPeer } from './copy.js';
import type { Peer, PeerType } from './model.js';
import { rejectPeer, takeCheckedPeer, type TakenBytes } from './intake.js';
import { assertPeer, assertPeers, isPeer, peerHashes } from './validate.js';

/** peerIdKey's and peerIdFromKey's scratch: one int64 and its int32 halves (LOW, HIGH: by the platform's byte order). */
const idWord = new BigInt64Array(1);
const idHalves = new Int32Array(idWord.buffer);
const LOW = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HIGH = 1 - LOW;

/** Lookup form of a username: lookups are case-insensitive. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/**
 * The record to store when `incoming` is upserted over `stored`: a min peer never
 * replaces the access hash of a non-min one (the result keeps that hash, the stored
 * `min` value, absent or false, and the stored `complete` object, since a min
 * constructor lacks fields the full one has); every other field comes from `incoming`.
 */
export function mergePeer(stored: Peer | null | undefined, incoming: Peer): Peer {
  if (stored && stored.min !== true && incoming.min === true) {
    const merged: Peer = { ...incoming, accessHash: stored.accessHash };
    if (stored.min === undefined) delete merged.min;
    else merged.min = stored.min;
    if (stored.complete === undefined) delete merged.complete;
    else merged.complete = stored.complete;
    return merged;
  }
  return incoming;
}

/**
 * Resolves one upsert batch to what it means, as a list with each (type, id), each
 * username (case-insensitively) and each phone at most once:
 * - a peer given twice merges as if upserted in order (`mergePeer`);
 * - a username or phone claimed by two peers stays with the later one and is
 *   removed from the earlier one.
 * Entries are fresh objects; the caller's array is not touched. With `copyBytes`
 * false they share the caller's `complete` bytes (never changed here), for a
 * repository that is done with them when its write returns (`writesCopyBytes`). With
 * `owned` the entries are fresh copies already (core's takePeers), used and changed as
 * they are, with no copy of their own.
 */
export function normalizePeerBatch(peers: readonly Peer[], copyBytes = true, owned = false): Peer[] {
  // Keyed per type by the id as a number when it is one exactly, else the bigint (no
  // string is built from an id; V8 hashes a number far faster than a bigint; the two
  // never collide, a Map tells 1 from 1n).
  const byId: Record<PeerType, Map<number | bigint, Peer>> = { user: new Map(), chat: new Map(), channel: new Map() };
  let result: Peer[] = [];
  let repeated = false;
  for (const peer of peers) {
    // `owned`: the entries are the caller's own fresh copies (core's takePeers), used as they are.
    const copy = owned ? peer : copyPeer(peer, copyBytes);
    const map = byId[peer.type];
    const key = peerIdKey(peer.id);
    const stored = map.get(key);
    if (stored !== undefined) repeated = true;
    map.set(key, stored === undefined ? copy : mergePeer(stored, copy));
    result.push(copy);
  }
  if (repeated) {
    // A peer given twice sits where its last occurrence is (so its claims win), merged.
    const last = new Map<Peer, Peer>();
    for (const peer of result) last.set(byId[peer.type].get(peerIdKey(peer.id)) as Peer, peer);
    const keep = new Set(last.values());
    const merged: Peer[] = [];
    for (const peer of result) {
      if (!keep.has(peer)) continue;
      merged.push(byId[peer.type].get(peerIdKey(peer.id)) as Peer);
    }
    result = merged;
  }
  const usernameOwner = new Map<string, Peer>();
  const phoneOwner = new Map<string, Peer>();
  for (const peer of result) {
    for (const username of peer.usernames) {
      const lower = usernameKey(username);
      const previous = usernameOwner.get(lower);
      if (previous) previous.usernames = previous.usernames.filter((u) => usernameKey(u) !== lower);
      usernameOwner.set(lower, peer);
    }
    if (peer.phone !== undefined) {
      const previous = phoneOwner.get(peer.phone);
      if (previous) delete previous.phone;
      phoneOwner.set(peer.phone, peer);
    }
  }
  return result;
}

/**
 * Scratch open-addressing hash sets of checkPeerBatch and repeatsPeer, kept between
 * calls (grown, never shrunk) and emptied by a new generation stamp: a batch allocates
 * nothing. Three Maps grown to a batch's size were most of core's cost of an upsert of
 * new peers (their growth, and the scavenges it set off). Slots hold ids as numbers and
 * batch positions, never a caller's string, so nothing of a batch stays reachable from here.
 */
let idKeys = new Float64Array(0);
let idStamps = new Uint32Array(0);
let nameOwners = new Int32Array(0);
let nameSlots = new Int32Array(0);
let nameStamps = new Uint32Array(0);
let phoneOwners = new Int32Array(0);
let phoneStamps = new Uint32Array(0);
let generation = 0;

/** Ids up to this magnitude (as numbers, exact) are keyed as `id * 4 + type` (exact too); larger ones go to normalizing (checkPeerBatch) or to Sets (repeatsPeer). */
const MAX_KEYED_ID = 2 ** 50;

/** The table size for `entries` keys: a power of two, at most half full. */
function tableSize(entries: number): number {
  let size = 64;
  while (size < entries * 2) size *= 2;
  return size;
}

/** Grows the id table to hold `count` keys at most half full. */
function growIdTable(count: number): void {
  const size = tableSize(count);
  if (idStamps.length >= size) return;
  idKeys = new Float64Array(size);
  idStamps = new Uint32Array(size);
}

/** Room in the id, phone and name tables for `count` peers holding `names` usernames. */
function growTables(count: number, names: number): void {
  growIdTable(count);
  // Sized apart from the id table: repeatsPeer grows that one alone.
  const phoneSize = tableSize(count);
  if (phoneStamps.length < phoneSize) {
    phoneOwners = new Int32Array(phoneSize);
    phoneStamps = new Uint32Array(phoneSize);
  }
  const nameSize = tableSize(names);
  if (nameStamps.length < nameSize) {
    nameOwners = new Int32Array(nameSize);
    nameSlots = new Int32Array(nameSize);
    nameStamps = new Uint32Array(nameSize);
  }
}

/** The stamp of a new batch: every slot stamped before is empty again. */
function nextGeneration(): number {
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    // Once in 2^32 batches: stamps of the previous round could match again.
    idStamps.fill(0);
    nameStamps.fill(0);
    phoneStamps.fill(0);
    generation = 1;
  }
  return generation;
}

/**
 * Puts (type, id) in the id table of generation `gen` (`mask`: its size - 1), the id given
 * as `n`, a number of magnitude at most MAX_KEYED_ID (exact, and so is its key
 * `n * 4 + type`): true when the batch had it already.
 */
function idRepeats(n: number, type: PeerType, gen: number, mask: number): boolean {
  const key = n * 4 + (type === 'user' ? 1 : type === 'chat' ? 2 : 3);
  let slot = hashNumber(key) & mask;
  while (idStamps[slot] === gen) {
    if (idKeys[slot] === key) return true;
    slot = (slot + 1) & mask;
  }
  idStamps[slot] = gen;
  idKeys[slot] = key;
  return false;
}

/**
 * Whether a (validated) batch names one peer twice: checkPeerBatch's id pass alone, on
 * its scratch id table. Ids outside [-MAX_KEYED_ID, MAX_KEYED_ID) (which that table cannot
 * key exactly) go to Sets of bigints, made only for a batch that has one. Sets for every id
 * (keyed by peerIdKey) cost 430k-440k instructions a batch of 1,000 users, this 265k-284k
 * (callgrind, two runs each of `node bench/repeat-icount.mjs --report`, 3 Dec 2026);
 * the full repeat check of the time, with its id pass moved into idRepeats, stayed at
 * 1.31M-1.33M.
 */
export function repeatsPeer(peers: readonly Peer[]): boolean {
  const count = peers.length;
  growIdTable(count);
  const gen = nextGeneration();
  // The table may be larger than this batch needs: a mask of its own size.
  const idMask = idStamps.length - 1;
  largeIds = undefined;
  for (let i = 0; i < count; i++) {
    const peer = peers[i] as Peer;
    // The id's int32 halves (peerIdKey's way: Number(id) is a call into the runtime,
    // ~120 instructions a peer of a memory upsert, callgrind).
    idWord[0] = peer.id;
    if (idSeen(peer.type, peer.id, idHalves[HIGH] as number, idHalves[LOW] as number, gen, idMask)) return true;
  }
  return false;
}

/**
 * The ids of a batch too large for the id table (repeatsPeer, takeInOrderBatch), by
 * type; made only for a batch that has one, and dropped when the next batch starts.
 */
let largeIds: Record<PeerType, Set<bigint>> | undefined;

/**
 * Puts (type, id) among the ids of generation `gen`'s batch: true when it was there
 * already. `high` and `low` are the id's int32 halves (idWord): a validated id is an
 * int64, so the halves are the id; a high half in [-2^18, 2^18) is an id in
 * [-2^50, 2^50), and the number made of the halves is that id exactly (idRepeats keys
 * it); any other goes to largeIds, never equal to an id keyed in the table.
 */
function idSeen(type: PeerType, id: bigint, high: number, low: number, gen: number, idMask: number): boolean {
  if (high >= -0x40000 && high < 0x40000) return idRepeats(high * 4_294_967_296 + (low >>> 0), type, gen, idMask);
  const ids = (largeIds ??= { user: new Set(), chat: new Set(), channel: new Set() })[type];
  if (ids.has(id)) return true;
  ids.add(id);
  return false;
}

/**
 * A batch given to the upsert of an in-order repository (memory), taken and checked
 * (takeCheckedPeer, `complete` as the caller's own Uint8Array: TakenBytes 'source'; the
 * first invalid peer throws), with what the check found and whether the batch repeats
 * a (type, id) (repeatsPeer's answer), all in one pass. `checked` is
 * PeerRepository.upsert's stream, in batch order: each peer's id as its int32 halves
 * (low, high: peerIdKeyOf makes its key of them), its usernames' usernameHash, its
 * phone's phoneHash when it has one, its `complete` bytes' length when it has them. A
 * fresh stream per batch, not module scratch: a caller's getter may upsert a batch of
 * its own while this one is being read (and then `repeats` is true: that batch's check
 * took the next generation of the id table and may have stamped over this one's).
 */
export const takeInOrderBatch: (value: unknown, label: string) => { peers: Peer[]; checked: Int32Array; repeats: boolean } = (() => {
  // The scratch as `const` bindings of this closure: the bundler makes the module's
  // top-level `const`s `var`s, which V8 loads (and checks) on every use, where it folds
  // a closure's into the code (callgrind: ~30 instructions a peer).
  const word = idWord;
  const halves = idHalves;
  const low32 = LOW;
  const high32 = HIGH;
  const hashes = peerHashes;
  return (value: unknown, label: string): { peers: Peer[]; checked: Int32Array; repeats: boolean } => {
    if (!Array.isArray(value)) {
      assertPeers(value, label);
      return { peers: value as Peer[], checked: new Int32Array(0), repeats: true };
    }
    const length = value.length;
    const copies: Peer[] = [];
    // Room for the id, one name, a phone and bytes a peer (the usual most); grown when a batch has more.
    let checked = new Int32Array(length * 5 + 6);
    let at = 0;
    const names = hashes.names;
    growIdTable(length);
    const gen = nextGeneration();
    const idMask = idStamps.length - 1;
    largeIds = undefined;
    let repeats = false;
    for (let i = 0; i < length; i++) {
      const element: unknown = value[i];
      const peer = takeCheckedPeer(element, 'source') ?? rejectPeer(element, `${label}[${i}]`);
      copies.push(peer);
      // Read right after the peer's check: no caller code runs in between.
      const count = peer.usernames.length;
      if (at + count + 4 > checked.length) {
        const grown = new Int32Array(Math.max(checked.length * 2, at + count + 4));
        grown.set(checked);
        checked = grown;
      }
      word[0] = peer.id;
      const low = halves[low32] as number;
      const high = halves[high32] as number;
      checked[at] = low;
      checked[at + 1] = high;
      at += 2;
      for (let u = 0; u < count; u++) checked[at++] = names[u] as number;
      if (peer.phone !== undefined) checked[at++] = hashes.phone;
      if (peer.complete !== undefined) checked[at++] = hashes.complete;
      // Once a repeat is found the rest of the batch is only taken.
      if (!repeats) repeats = idSeen(peer.type, peer.id, high, low, gen, idMask);
    }
    return { peers: copies, checked, repeats: repeats || generation !== gen };
  };
})();

/** A 32-bit hash of an integer-valued double of magnitude below 2^53. */
function hashNumber(k: number): number {
  const h = Math.imul((k >>> 0) ^ Math.imul(Math.floor(k / 4_294_967_296) | 0, 0x9e37_79b1), 0x85eb_ca6b);
  return h ^ (h >>> 15);
}

/** Whether two validated usernames are equal case-insensitively (usernameHash's folding, validate.ts). */
function sameName(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if ((a.charCodeAt(i) | 0x20) !== (b.charCodeAt(i) | 0x20)) return false;
  return true;
}

/**
 * Validates a batch and answers whether it may need `normalizePeerBatch`, in one pass,
 * for upsert (base.ts): throws what assertPeers throws for the same batch (each peer is
 * checked by isPeer, a rejected one by assertPeer for the message). False only when no
 * (type, id), no username (case-insensitively) and no phone is in it twice, and every id
 * is below 2^50 in magnitude: then normalizing changes nothing (no merge, no name or
 * phone taken from an earlier peer) and the batch is written as it is. Needs no
 * allocation (the scratch tables above). It hashes each username and phone with the
 * hashes isPeer computed while validating them (peerHashes) instead of scanning them
 * again: on `mtcute:peers.store ×1000 + save() (first time)` a separate check pass after
 * assertPeers cost ~2.7k instructions a peer. The name table is sized
 * before the names are known (unvalidated arrays are not read twice): a batch of more
 * than two usernames a peer on average answers true, and is normalized (as any batch
 * is when in doubt: normalizing is always right, only slower).
 */
export function checkPeerBatch(value: unknown, label = 'peers', out?: Peer[], bytes: TakenBytes = 'view'): boolean {
  if (!Array.isArray(value)) {
    assertPeers(value, label);
    return true;
  }
  const given = value as readonly unknown[];
  // With `out`: each peer is taken and checked in one pass (takeCheckedPeer: each field
  // read once), its copy pushed to `out`, and the rest of the pass reads the copies.
  const peers: readonly unknown[] = out ?? given;
  const count = given.length;
  // At most half full with two names a peer.
  const maxNames = count * 2;
  growTables(count, maxNames);
  const gen = nextGeneration();
  const idMask = idStamps.length - 1;
  const nameMask = nameStamps.length - 1;
  const phoneMask = phoneStamps.length - 1;
  const hashes = peerHashes.names;
  let names = 0;
  let needs = false;
  for (let i = 0; i < count; i++) {
    let value: unknown;
    if (out !== undefined) {
      const element: unknown = given[i];
      out.push((value = takeCheckedPeer(element, bytes) ?? rejectPeer(element, `${label}[${i}]`)));
    } else if (!isPeer((value = given[i]))) assertPeer(value, `${label}[${i}]`);
    // Once the answer is true, the rest of the batch is only validated.
    if (needs) continue;
    const peer = value as Peer;
    const n = Number(peer.id);
    if (!(n <= MAX_KEYED_ID && n >= -MAX_KEYED_ID) || idRepeats(n, peer.type, gen, idMask)) {
      needs = true;
      continue;
    }
    const usernames = peer.usernames;
    names += usernames.length;
    if (names > maxNames) {
      needs = true;
      continue;
    }
    for (let u = 0; u < usernames.length; u++) {
      let at = (hashes[u] as number) & nameMask;
      while (nameStamps[at] === gen) {
        if (sameName((peers[nameOwners[at] as number] as Peer).usernames[nameSlots[at] as number] as string, usernames[u] as string)) {
          needs = true;
          break;
        }
        at = (at + 1) & nameMask;
      }
      if (needs) break;
      nameStamps[at] = gen;
      nameOwners[at] = i;
      nameSlots[at] = u;
    }
    if (needs) continue;
    const phone = peer.phone;
    if (phone !== undefined) {
      let at = peerHashes.phone & phoneMask;
      while (phoneStamps[at] === gen) {
        if ((peers[phoneOwners[at] as number] as Peer).phone === phone) {
          needs = true;
          break;
        }
        at = (at + 1) & phoneMask;
      }
      phoneStamps[at] = gen;
      phoneOwners[at] = i;
    }
  }
  // A caller's getter read above may have upserted a batch of its own (into any storage):
  // its check took the next generation and stamped these tables (growing them, perhaps),
  // so what this batch saw there is partly gone and a repeat may have gone unseen.
  // Normalizing is then the safe answer.
  return needs || generation !== gen;
}

/**
 * A peer id as a Map or Set key: a number when it is one exactly, else the bigint (V8
 * hashes a number far faster than a bigint). The two never collide: a Map tells 1 from
 * 1n. A number exactly when the id is a safe integer (-(2^53 - 1) to 2^53 - 1), for any
 * bigint given. Adapters keeping peers in process memory key them by it too (memory).
 */
export function peerIdKey(id: bigint): number | bigint {
  // The id's int32 halves through a BigInt64Array, not Number(id): optimized code stores
  // a bigint there without a call, where Number(id) calls into the runtime (callgrind:
  // ~39 instructions less a memory lookup by id). The store wraps modulo 2^64, hence
  // asIntN: halves make the id only when it is an int64. A high half in
  // [-2^21, 2^21) makes an exact double (|n| <= 2^53); isSafeInteger drops -2^53.
  idWord[0] = id;
  const high = idHalves[HIGH] as number;
  return high >= -0x200000 && high < 0x200000 && BigInt.asIntN(64, id) === id ? peerIdKeyOf(idHalves[LOW] as number, high, id) : id;
}

/**
 * peerIdKey of an int64 `id` given as its int32 halves (`low`, `high`: as
 * PeerRepository.upsert's `checked` stream carries them), without reading the bigint
 * but to return it: a number when the halves make a safe integer, else `id`.
 */
export function peerIdKeyOf(low: number, high: number, id: bigint): number | bigint {
  // high * 2^32 is exact and the sum rounds monotonically: it is inside (-2^53, 2^53),
  // and then exact, exactly when the id is a safe integer. Small: memory's putPeer
  // inlines it within TurboFan's inlining budget.
  const n = high * 4_294_967_296 + (low >>> 0);
  return n > -9_007_199_254_740_992 && n < 9_007_199_254_740_992 ? n : id;
}

/**
 * The id of a peerIdKey key (peerIdKey inverted), for adapters that key peers by it. A
 * number key (a safe integer) goes in as two int32 halves and comes out of the
 * BigInt64Array: optimized code makes that bigint without a call, where `BigInt(key)` is
 * a call into the runtime (callgrind: ~240 instructions less a conversion; ~150 of a
 * memory lookup by username or phone were BigInt(key)). An Int32Array store keeps the
 * low 32 bits of any safe integer, negative ones too; the high half is the floor of
 * key / 2^32.
 */
export function peerIdFromKey(key: number | bigint): bigint {
  if (typeof key !== 'number') return key;
  idHalves[LOW] = key;
  idHalves[HIGH] = Math.floor(key / 4_294_967_296);
  return idWord[0] as bigint;
}

/** A compact string key for (type, id), for maps and Redis/Mongo keys. */
export function peerKey(type: PeerType, id: bigint): string {
  return `${type}:${id}`;
}
