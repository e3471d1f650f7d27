/**
 * Peer-cache semantics shared by every adapter (DESIGN §3.3), so an adapter only has
 * to write what these functions decide.
 */
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
 * Entries are fresh objects; the caller's array is not touched.
 */
export function normalizePeerBatch(peers: readonly Peer[]): Peer[] {
  const byKey = new Map<string, Peer>();
  for (const peer of peers) {
    const key = `${peer.type}:${peer.id}`;
    // Copied at call time, bytes included: a caller changing its objects after the
    // call must not change what is stored.
    const copy: Peer = { ...peer, usernames: [...peer.usernames] };
    if (peer.complete !== undefined) copy.complete = Uint8Array.from(peer.complete);
    const next = mergePeer(byKey.get(key), copy);
    byKey.delete(key); // re-insert so the later claim wins below
    byKey.set(key, next);
  }
  const result = [...byKey.values()];
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

/** A compact string key for (type, id), for maps and Redis/Mongo keys. */
export function peerKey(type: PeerType, id: bigint): string {
  return `${type}:${id}`;
}
