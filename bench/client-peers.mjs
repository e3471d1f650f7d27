// The peers the "vs clients" rows store, as each library is handed them: shared by
// bench/vs-clients.mjs (wall clock), bench/peer-icount.mjs and bench/lookup-icount.mjs
// (instructions), so both measure the same rows.

import { Long } from '@mtcute/core';
import { TlBinaryWriter, __tlWriterMap } from '@mtcute/core/utils.js';

/** Peers per batch. */
export const PEERS = 1000;

/** Peer `n` as mtstore stores it: a user with one username, a phone and its TL bytes (completeBytes). */
export function mtstorePeer(n) {
  return userPeer(n, completeBytes(n));
}

/** Peer `n` with these TL bytes (undefined: none, as an absent field). */
function userPeer(n, complete) {
  return {
    type: 'user',
    id: BigInt(n),
    accessHash: BigInt(n) * 7919n + 13n,
    usernames: [`User_${n}`],
    phone: String(10_000_000_000 + n),
    updatedAt: 1_700_000_000 + n,
    displayName: `User ${n}`,
    complete,
  };
}

/** The `user` object mtcute's PeersService stores for peer `n` (names, username, phone, a profile photo, a status). */
const tlUser = (n) => ({
  _: 'user',
  id: n,
  accessHash: Long.fromString(String(BigInt(n) * 7919n + 13n)),
  firstName: 'User',
  lastName: String(n),
  username: `user_${n}`,
  phone: String(10_000_000_000 + n),
  photo: { _: 'userProfilePhoto', photoId: Long.fromNumber(n * 31 + 5), dcId: 2, hasVideo: false },
  status: { _: 'userStatusRecently', byMe: false },
});
const serialize = (n) => TlBinaryWriter.serializeObject(__tlWriterMap, tlUser(n));
/** One user serialized with mtcute’s own writer (100 bytes), and where its id's low 32 bits sit (found, not assumed). */
const TEMPLATE = serialize(1_000_000);
const ID_AT = (() => {
  const other = serialize(1_000_001);
  const at = TEMPLATE.findIndex((byte, i) => byte !== other[i]);
  if (other.length !== TEMPLATE.length || at < 0) throw new Error('client-peers: cannot place the id in the TL template');
  return at;
})();

/**
 * The TL bytes a client keeps for peer `n` (`complete`): mtcute's serialization of a
 * `user` (tlUser, 100 bytes; a real user with a longer name or a photo thumbnail has
 * more) with `n` as its id, in a Uint8Array of its own, as a client's TL writer hands
 * it over. Made by copying one serialized user and writing the id: the batch rows build
 * their peers inside the timed call, and mtcute's writer would time the serializer.
 * Until 3 Dec 2026 (evening) this was 48 filler bytes, which flattered every side that
 * copies them: V8 keeps a typed array of at most 64 bytes inside its heap, and a longer
 * copy is an allocation outside it (core bytes.ts).
 */
export function completeBytes(n) {
  const bytes = new Uint8Array(TEMPLATE.length);
  bytes.set(TEMPLATE);
  new DataView(bytes.buffer).setInt32(ID_AT, n, true);
  return bytes;
}

/**
 * Peer `n` without TL bytes: what mtstore holds for a Telethon user (`mtstore convert`
 * of a Telethon session: Telethon keeps no TL bytes) or a GramJS one (the GramJS bridge
 * stores none unless `completeObjects`). The sides compared with Telethon and GramJS,
 * which keep none either, store these.
 */
export function barePeer(n) {
  // Not mtstorePeer(n) without `complete`: the batch rows build their peers inside the
  // timed call, and TL bytes made only to be dropped (a 100-byte copy outside V8's heap
  // per peer) were timed on this side alone.
  return userPeer(n, undefined);
}

/** The same peer as mtcute's PeersService hands its repository. */
export function mtcutePeer(n) {
  return {
    id: n,
    accessHash: String(BigInt(n) * 7919n + 13n),
    isMin: false,
    usernames: [`user_${n}`],
    phone: String(10_000_000_000 + n),
    updated: 1_700_000_000 + n,
    complete: completeBytes(n),
  };
}

/** The same peer as Telethon's _entities_to_rows makes it (id, hash, username lower-cased, phone as int, name, date). */
export function telethonRow(n) {
  return [n, BigInt(n) * 7919n + 13n, `user_${n}`, 10_000_000_000 + n, `User ${n}`, 1_700_000_000 + n];
}

export const batchOf = (make, first) => Array.from({ length: PEERS }, (_, k) => make(first + k));

/** Peers cached for the memory lookup rows. */
export const LOOKUP_PEERS = 100_000;

/** The peer of the i-th lookup: a prime stride over all of them, so consecutive lookups land far apart. */
export const lookupAt = (i, peers = LOOKUP_PEERS) => ((i * 7919) % peers) + 1;

/**
 * Stores `peers` peers in each given memory store (`mtstore`: an @mtstore/memory
 * MemoryStorage; `mtcute`: @mtcute/core's MemoryStorage, loaded), each the way its client
 * stores them, and returns the lookups of vs-clients.mjs's memory rows:
 * `{ id, username, phone }`, each `{ side: (i) => Promise }`. `makePeer` makes the
 * mtstore side's peers (barePeer for the side compared with GramJS). Shared with
 * lookup-icount.mjs, so instruction counts measure the wall-clock rows' exact calls.
 */
export async function lookupTargets({ mtstore, mtcute }, peers = LOOKUP_PEERS, makePeer = mtstorePeer) {
  for (let at = 1; at <= peers; at += PEERS) {
    if (mtstore) await mtstore.peers.upsert(batchOf(makePeer, at));
    if (mtcute) for (const p of batchOf(mtcutePeer, at)) mtcute.peers.store(p);
  }
  const n = (i) => lookupAt(i, peers);
  const targets = { id: {}, username: {}, phone: {} };
  if (mtstore) {
    targets.id.mtstore = (i) => mtstore.peers.getById('user', BigInt(n(i)));
    targets.username.mtstore = (i) => mtstore.peers.getByUsername(`user_${n(i)}`);
    targets.phone.mtstore = (i) => mtstore.peers.getByPhone(String(10_000_000_000 + n(i)));
  }
  if (mtcute) {
    targets.id.mtcute = async (i) => mtcute.peers.getById(n(i));
    targets.username.mtcute = async (i) => mtcute.peers.getByUsername(`user_${n(i)}`);
    targets.phone.mtcute = async (i) => mtcute.peers.getByPhone(String(10_000_000_000 + n(i)));
  }
  return targets;
}

const stateChannels = (i) => [1, 2, 3].map((c) => ({ id: BigInt(1_000_000 + c), pts: i }));
const int32le = (v) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
};

/**
 * The "update state + 3 channels" write of vs-clients.mjs, each side as its client does
 * it (`mtstore`: any mtstore Storage; `mtcute`: an @mtcute/node SqliteStorage, loaded),
 * `{ side: (i) => Promise }`. Shared with sqlite-icount.mjs, so its counts measure the
 * wall-clock row's exact calls.
 */
export function updateStateTargets({ mtstore, mtcute }) {
  const targets = {};
  if (mtstore) targets.mtstore = (i) => mtstore.saveUpdateState({ pts: i, qts: 1, date: 1_700_000_000, seq: 1 }, stateChannels(i));
  // UpdatesStateService: one kv entry per field and per channel, committed at driver.save().
  if (mtcute) {
    targets.mtcute = async (i) => {
      mtcute.kv.set('updates_pts', int32le(i));
      mtcute.kv.set('updates_qts', int32le(1));
      mtcute.kv.set('updates_date', int32le(1_700_000_000));
      mtcute.kv.set('updates_seq', int32le(1));
      for (let c = 1; c <= 3; c++) mtcute.kv.set(`updates_channel:${1_000_000 + c}`, int32le(i));
      await mtcute.driver.save();
    };
  }
  return targets;
}
