/**
 * Peer-cache semantics shared by every adapter (DESIGN §3.3), so an adapter only has
 * to write what these functions decide.
 */
import { copyPeer } from './copy.js';
import type { Peer, PeerType } from './model.js';

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
 * repository that is done with them when its write returns (`writesCopyBytes`).
 */
export function normalizePeerBatch(peers: readonly Peer[], copyBytes = true): Peer[] {
  // Keyed per type by the id as a number when it is one exactly, else the bigint (no
  // string is built from an id; V8 hashes a number far faster than a bigint; the two
  // never collide, a Map tells 1 from 1n).
  const byId: Record<PeerType, Map<number | bigint, Peer>> = { user: new Map(), chat: new Map(), channel: new Map() };
  let result: Peer[] = [];
  let repeated = false;
  for (const peer of peers) {
    const copy = copyPeer(peer, copyBytes);
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
 * Whether a (validated) batch names one peer twice. Keyed by peerIdKey, not the bigint:
 * V8 hashes a bigint Set key through a C++ call, a number inline (callgrind, a batch
 * of 1,000 users: ~680 instructions a peer against ~410).
 */
export function repeatsPeer(peers: readonly Peer[]): boolean {
  const seen: Record<PeerType, Set<number | bigint>> = { user: new Set(), chat: new Set(), channel: new Set() };
  for (const peer of peers) {
    const ids = seen[peer.type];
    const key = peerIdKey(peer.id);
    if (ids.has(key)) return true;
    ids.add(key);
  }
  return false;
}

/**
 * A peer id as a Map or Set key: a number when it is one exactly, else the bigint (V8
 * hashes a number far faster than a bigint). The two never collide: a Map tells 1 from
 * 1n. Number() rounds an id beyond 2^53 to a double that is no longer a safe integer,
 * so exact ids are told apart without a bigint comparison. Adapters keeping peers in
 * process memory key them by it too (memory).
 */
export function peerIdKey(id: bigint): number | bigint {
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : id;
}

/** A compact string key for (type, id), for maps and Redis/Mongo keys. */
export function peerKey(type: PeerType, id: bigint): string {
  return `${type}:${id}`;
}
