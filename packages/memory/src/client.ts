import {
  BaseStorage,
  copyPeer,
  copySession,
  describeValue,
  InvalidArgumentError,
  mergePeer,
  peerKey,
  usernameKey,
  type ChannelState,
  type Peer,
  type PeerType,
  type Session,
  type UpdateState,
} from '@mtstore/core';
import { MemoryStore, type PeerTable } from './store.js';

export interface MemoryStorageOptions {
  /** Shared backend; instances on one store see each other's writes. Default: a new store. */
  store?: MemoryStore;
  /** Session name. Default: `default`. */
  name?: string;
}

/**
 * Client Storage kept in process memory: the reference implementation. Everything
 * is copied in and out, so callers never share objects with the store.
 */
export class MemoryStorage extends BaseStorage {
  readonly store: MemoryStore;

  constructor(options: MemoryStorageOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(`MemoryStorage: options must be an object, got ${describeValue(options)}`);
    }
    super(options.name ?? 'default');
    if (options.store !== undefined && !(options.store instanceof MemoryStore)) {
      throw new InvalidArgumentError('MemoryStorage: store must be a MemoryStore');
    }
    this.store = options.store ?? new MemoryStore();
  }

  protected async readSession(): Promise<Session | null> {
    const entry = this.store.clients.get(this.name);
    return entry ? copySession(entry.session) : null;
  }

  protected async writeSession(session: Session): Promise<void> {
    const entry = this.store.clients.get(this.name);
    if (entry) entry.session = copySession(session);
    else {
      this.store.clients.set(this.name, {
        session: copySession(session),
        peers: { byKey: new Map(), byUsername: new Map(), byPhone: new Map() },
      });
    }
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const entry = this.store.clients.get(this.name);
    if (!entry) return false;
    const session = entry.session;
    session.state = { pts: state.pts, qts: state.qts, date: state.date, seq: state.seq };
    for (const channel of channels) {
      const stored = session.channels.find((c) => c.id === channel.id);
      if (stored) stored.pts = channel.pts;
      else session.channels.push({ id: channel.id, pts: channel.pts });
    }
    return true;
  }

  protected async deleteSession(): Promise<void> {
    this.store.clients.delete(this.name);
  }

  protected async upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    const entry = this.store.clients.get(this.name);
    if (!entry) return false;
    for (const peer of peers) putPeer(entry.peers, peer);
    return true;
  }

  protected async findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    const peer = this.store.clients.get(this.name)?.peers.byKey.get(peerKey(type, id));
    return peer ? copyPeer(peer) : null;
  }

  protected async findPeerByUsername(username: string): Promise<Peer | null> {
    const table = this.store.clients.get(this.name)?.peers;
    const key = table?.byUsername.get(username);
    const peer = key === undefined ? undefined : table?.byKey.get(key);
    return peer ? copyPeer(peer) : null;
  }

  protected async findPeerByPhone(phone: string): Promise<Peer | null> {
    const table = this.store.clients.get(this.name)?.peers;
    const key = table?.byPhone.get(phone);
    const peer = key === undefined ? undefined : table?.byKey.get(key);
    return peer ? copyPeer(peer) : null;
  }

  protected async closeConnection(): Promise<void> {
    // Nothing to release: the store belongs to whoever holds it.
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
