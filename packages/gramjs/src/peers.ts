/**
 * The peer cache GramJS reads synchronously: every peer of the session, loaded by
 * load() and kept current by processEntities, indexed the way getInputEntity looks
 * peers up (GramJS marked id, lowercase username, phone). Entries are never changed
 * in place: the same objects may sit in a write batch that has not started yet.
 */
import { usernameKey, type Peer, type PeerType } from '@mtstore/core';

/** The index key of GramJS marked id `marked`: the number when it is a safe integer, else its decimal string. */
export type MarkedKey = number | string;

/** The key of a marked id (a bigint): see MarkedKey. */
export function keyOfMarked(marked: bigint): MarkedKey {
  const n = Number(marked);
  // Number() rounds beyond 2^53 to a double that is no safe integer: a safe one is exact.
  return Number.isSafeInteger(n) ? n : marked.toString();
}

/**
 * The key of GramJS's marked id of a peer (`utils.getPeerId` of its Peer object): users
 * as themselves, chats negated, channels as "-100" followed by the id's digits. Every
 * marked id of a real peer is a safe integer, so it is computed as a number — no
 * bigint-to-string per entity cached or compared, and V8 hashes a number faster than
 * a string — and equals `keyOfMarked` of the same marked id, which lookups use.
 */
export function markedKey(type: PeerType, id: bigint): MarkedKey {
  if (type === 'user') return keyOfMarked(id);
  if (type === 'chat') return keyOfMarked(-id);
  const n = Number(id);
  if (id >= 0n && Number.isSafeInteger(n)) {
    let scale = 10; // 10^(digits of n): "-100" + digits is -(100 * scale + n)
    while (scale <= n) scale *= 10;
    const marked = -(100 * scale + n);
    if (Number.isSafeInteger(marked)) return marked;
  }
  // Not a safe integer (or, for a negative id, no number at all): the string, as keyOfMarked gives it.
  return `-100${id}`;
}

export class PeerIndex {
  private readonly byMarkedId = new Map<MarkedKey, Peer>();
  private readonly byUsername = new Map<string, Peer>();
  private readonly byPhone = new Map<string, Peer>();

  get size(): number {
    return this.byMarkedId.size;
  }

  /**
   * Caches `peer` (its key `marked`) unless the entry of the same (type, id) says the
   * same already (its time aside); true when it cached it. One lookup of the entry
   * serves both the comparison and the replacement.
   */
  putChanged(peer: Peer, marked: MarkedKey, displaced?: Peer[]): boolean {
    const previous = this.byMarkedId.get(marked);
    if (previous !== undefined && samePeer(previous, peer)) return false;
    this.putOver(peer, marked, previous, displaced);
    return true;
  }

  /**
   * Caches `peer`, replacing the entry of the same (type, id). A username or phone
   * another peer held moves to this one, as in a storage upsert.
   */
  put(peer: Peer, marked: MarkedKey = markedKey(peer.type, peer.id)): void {
    this.putOver(peer, marked, this.byMarkedId.get(marked));
  }

  /** `displaced`, when given, receives the new version of every other peer that lost a username or the phone to `peer`. */
  private putOver(peer: Peer, marked: MarkedKey, previous: Peer | undefined, displaced?: Peer[]): void {
    if (previous !== undefined) this.unindex(previous);
    // Each username lower-cased once: the key both takes the name from its owner and
    // indexes it (indexing as we go: no later peer of this loop can claim it back).
    for (const username of peer.usernames) {
      const key = usernameKey(username);
      const owner = this.byUsername.get(key);
      // `owner === peer`: the peer lists one name twice in different cases.
      if (owner !== undefined && owner !== peer) {
        const next = { ...owner, usernames: owner.usernames.filter((u) => usernameKey(u) !== key) };
        this.replace(owner, next);
        displaced?.push(next);
      }
      this.byUsername.set(key, peer);
    }
    const phone = peer.phone;
    if (phone !== undefined) {
      const owner = this.byPhone.get(phone);
      if (owner !== undefined && owner !== peer) {
        const { phone: _moved, ...rest } = owner;
        this.replace(owner, rest);
        displaced?.push(rest);
      }
      this.byPhone.set(phone, peer);
    }
    this.byMarkedId.set(marked, peer);
  }

  getByMarkedId(marked: MarkedKey): Peer | undefined {
    return this.byMarkedId.get(marked);
  }

  /** `username` already lowercase (GramJS's parseUsername lowercases). */
  getByUsername(username: string): Peer | undefined {
    return this.byUsername.get(username);
  }

  getByPhone(phone: string): Peer | undefined {
    return this.byPhone.get(phone);
  }

  /** The first cached peer with this display name: MemorySession's last resort, a scan as there. */
  getByName(name: string): Peer | undefined {
    for (const peer of this.byMarkedId.values()) if (peer.displayName === name) return peer;
    return undefined;
  }

  clear(): void {
    this.byMarkedId.clear();
    this.byUsername.clear();
    this.byPhone.clear();
  }

  private replace(old: Peer, next: Peer): void {
    this.unindex(old);
    this.byMarkedId.set(markedKey(next.type, next.id), next);
    this.index(next);
  }

  private index(peer: Peer): void {
    for (const username of peer.usernames) this.byUsername.set(usernameKey(username), peer);
    if (peer.phone !== undefined) this.byPhone.set(peer.phone, peer);
  }

  private unindex(peer: Peer): void {
    for (const username of peer.usernames) {
      const key = usernameKey(username);
      if (this.byUsername.get(key) === peer) this.byUsername.delete(key);
    }
    if (peer.phone !== undefined && this.byPhone.get(peer.phone) === peer) this.byPhone.delete(peer.phone);
  }
}

function samePeer(a: Peer, b: Peer): boolean {
  return (
    a.accessHash === b.accessHash &&
    a.phone === b.phone &&
    a.displayName === b.displayName &&
    a.min === b.min &&
    a.usernames.length === b.usernames.length &&
    a.usernames.every((u, i) => u === b.usernames[i]) &&
    sameBytes(a.complete, b.complete)
  );
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
