/**
 * mtcute's `IPeersRepository` over `Storage.peers`. Stores are kept until the
 * driver's `save()` and then written as one `upsert` batch (mtcute's own SQLite
 * storage batches them the same way); lookups see the pending ones first.
 */
import { InvalidArgumentError, type Peer, type Storage } from '@mtstore/core';
import type { IPeersRepository } from '@mtcute/core';
import { infoFromPeer, isMarkedId, needsFilter, peerFromInfo, unmarkId, type PeerInfo, type ToPeerOptions } from './peer-info.js';

/** Whether a value of `map` passes `test`. */
function some<V>(map: ReadonlyMap<unknown, V>, test: (value: V) => boolean): boolean {
  for (const value of map.values()) if (test(value)) return true;
  return false;
}

const USERNAME = /^[A-Za-z0-9_]{1,64}$/;
const PHONE = /^[0-9]{1,20}$/;

export class MtstorePeers implements IPeersRepository {
  readonly #storage: Storage;
  readonly #options: ToPeerOptions;
  /** Stored since the last save, by marked id, in store order. */
  #pending = new Map<number, PeerInfo>();
  /** The batch a running save is writing: still visible to lookups until it is stored. */
  #inFlight = new Map<number, PeerInfo>();

  constructor(storage: Storage, options: ToPeerOptions) {
    this.#storage = storage;
    this.#options = options;
  }

  store(peer: IPeersRepository.PeerInfo): void {
    // An id outside the Bot API marked ranges has no (type, id) in mtstore: such a peer
    // is not cached (as with any cache miss, mtcute asks the API), instead of failing
    // the API call that brought it or every later save.
    if (!isMarkedId(peer.id)) return;
    // A peer new to the batch (the usual case) is one `set`. One already pending is moved
    // to the end (store order: the latest pending owner of a username or phone wins), which
    // a `set` over it does not do; a `delete` first for every peer cost a second hash lookup
    // each, that nearly always found nothing.
    const pending = this.#pending;
    const size = pending.size;
    pending.set(peer.id, peer);
    if (pending.size === size) {
      pending.delete(peer.id);
      pending.set(peer.id, peer);
    }
  }

  async getById(id: number): Promise<PeerInfo | null> {
    const pending = this.#pending.get(id) ?? this.#inFlight.get(id);
    if (pending !== undefined) return pending;
    const key = unmarkId(id);
    if (key === undefined) return null;
    const peer = await this.#storage.peers.getById(key.type, key.id);
    return peer === null ? null : infoFromPeer(peer, id);
  }

  async getByUsername(username: string): Promise<PeerInfo | null> {
    // mtstore rejects what cannot be a username; no peer is stored under one.
    if (!USERNAME.test(username)) return null;
    const lower = username.toLowerCase();
    const has = (info: PeerInfo): boolean => info.usernames.some((u) => u.toLowerCase() === lower);
    return this.#find(has, () => this.#storage.peers.getByUsername(username));
  }

  async getByPhone(phone: string): Promise<PeerInfo | null> {
    if (!PHONE.test(phone)) return null;
    return this.#find((info) => info.phone === phone, () => this.#storage.peers.getByPhone(phone));
  }

  /** The latest pending owner wins; a stored owner counts only if no pending write took the key from it. */
  async #find(matches: (info: PeerInfo) => boolean, stored: () => Promise<Peer | null>): Promise<PeerInfo | null> {
    let found: PeerInfo | undefined;
    for (const info of this.#inFlight.values()) if (matches(info)) found = info;
    for (const info of this.#pending.values()) if (matches(info)) found = info;
    if (found !== undefined) return found.isMin ? null : found;
    const peer = await stored();
    if (peer === null) return null;
    const info = infoFromPeer(peer);
    return this.#pending.has(info.id) || this.#inFlight.has(info.id) ? null : info;
  }

  async deleteAll(): Promise<void> {
    this.#pending.clear();
    this.#inFlight.clear();
    await this.#storage.peers.clear();
  }

  get pending(): boolean {
    return this.#pending.size > 0;
  }

  /** One `upsert` of everything stored since the last save; kept pending if it fails. */
  async save(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#inFlight = batch;
    try {
      // Usernames and phones unchecked (mtcute's are valid): core validates the batch
      // anyway, before any I/O. Only a batch it rejected for a name or phone the filter
      // drops is built again filtered (what was always stored) and written.
      const peers: Peer[] = [];
      for (const info of batch.values()) peers.push(peerFromInfo(info, this.#options, false));
      try {
        await this.#storage.peers.upsert(peers);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError) || !some(batch, needsFilter)) throw error;
        const filtered: Peer[] = [];
        for (const info of batch.values()) filtered.push(peerFromInfo(info, this.#options));
        await this.#storage.peers.upsert(filtered);
      }
    } catch (error) {
      // Stores made while the batch was in flight are newer: they win.
      const retry = new Map(batch);
      for (const [id, info] of this.#pending) {
        retry.delete(id);
        retry.set(id, info);
      }
      this.#pending = retry;
      throw error;
    } finally {
      if (this.#inFlight === batch) this.#inFlight = new Map();
    }
  }
}
