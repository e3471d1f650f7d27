import { copyPeer, mergePeer, peerKey, usernameKey, type Peer, type PeerPage, type PeerRepository, type PeerType } from '@mtstore/core';
import type { MemoryStore, PeerTable } from './store.js';

/** The peer cache of one session: a map by key and two lookup indexes. */
export class MemoryPeers implements PeerRepository {
  constructor(
    private readonly store: MemoryStore,
    private readonly name: string,
  ) {}

  #table(): PeerTable | undefined {
    return this.store.clients.get(this.name)?.peers;
  }

  async upsert(peers: readonly Peer[]): Promise<void> {
    const table = this.store.entry(this.name).peers;
    for (const peer of peers) putPeer(table, peer);
  }

  async getById(type: PeerType, id: bigint): Promise<Peer | null> {
    const peer = this.#table()?.byKey.get(peerKey(type, id));
    return peer ? copyPeer(peer) : null;
  }

  async getByUsername(username: string): Promise<Peer | null> {
    return this.#byIndexKey(this.#table()?.byUsername.get(username));
  }

  async getByPhone(phone: string): Promise<Peer | null> {
    return this.#byIndexKey(this.#table()?.byPhone.get(phone));
  }

  /** The cursor is an offset into the key map's insertion order, which never reorders. */
  async list(cursor: string | null, limit: number): Promise<PeerPage> {
    const offset = cursor === null ? 0 : Number(cursor);
    const byKey = this.#table()?.byKey;
    if (!Number.isSafeInteger(offset) || offset < 0 || byKey === undefined) return { peers: [], cursor: null };
    const peers: Peer[] = [];
    let i = 0;
    for (const peer of byKey.values()) {
      if (i++ < offset) continue;
      peers.push(copyPeer(peer));
      if (peers.length === limit) break;
    }
    const next = offset + peers.length;
    return { peers, cursor: next < byKey.size ? String(next) : null };
  }

  async clear(): Promise<void> {
    const table = this.#table();
    table?.byKey.clear();
    table?.byUsername.clear();
    table?.byPhone.clear();
  }

  #byIndexKey(key: string | undefined): Peer | null {
    const peer = key === undefined ? undefined : this.#table()?.byKey.get(key);
    return peer ? copyPeer(peer) : null;
  }
}

/** Stores one peer of a normalized batch: merge, then move its usernames and phone to it. */
function putPeer(table: PeerTable, incoming: Peer): void {
  const key = peerKey(incoming.type, incoming.id);
  const previous = table.byKey.get(key);
  // `incoming` is a fresh object from normalizePeerBatch and mergePeer returns it or a
  // new one, so it can be stored as is: nobody else holds a reference to it.
  const peer = mergePeer(previous, incoming);

  // Drop the index entries this peer no longer has (a re-upsert usually keeps them all,
  // so they are left in place), then claim the new ones from whoever holds them.
  if (previous) {
    for (const username of previous.usernames) {
      const lower = usernameKey(username);
      if (!peer.usernames.some((u) => usernameKey(u) === lower)) table.byUsername.delete(lower);
    }
    if (previous.phone !== undefined && previous.phone !== peer.phone) table.byPhone.delete(previous.phone);
  }
  for (const username of peer.usernames) {
    const lower = usernameKey(username);
    const owner = table.byUsername.get(lower);
    if (owner === key) continue;
    const ownerPeer = owner === undefined ? undefined : table.byKey.get(owner);
    if (ownerPeer) ownerPeer.usernames = ownerPeer.usernames.filter((u) => usernameKey(u) !== lower);
    table.byUsername.set(lower, key);
  }
  if (peer.phone !== undefined) {
    const owner = table.byPhone.get(peer.phone);
    if (owner !== key) {
      const ownerPeer = owner === undefined ? undefined : table.byKey.get(owner);
      if (ownerPeer) delete ownerPeer.phone;
      table.byPhone.set(peer.phone, key);
    }
  }
  table.byKey.set(key, peer);
}
