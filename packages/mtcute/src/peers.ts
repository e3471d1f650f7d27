/**
 * mtcute's `IPeersRepository` over `Storage.peers`. Stores are kept until the
 * driver's `save()` and then written as one `upsert` batch (mtcute's own SQLite
 * storage batches them the same way); lookups see the pending ones first.
 *
 * A peer mtstore can never store is dropped at save (reported: ReportDropped),
 * never kept pending: one bad peer would otherwise fail that save and every later one
 * — and with it every mtcute API call that caches peers, as mtcute awaits the save.
 * mtcute's own storages store whatever `PeerInfo` they are given.
 */
import { assertPeer, InvalidArgumentError, mergePeer, type Peer, type Storage } from '@mtstore/core';
import type { IPeersRepository } from '@mtcute/core';
import type { ReportDropped } from './dropped.js';
import { LogoutFence } from './logout-fence.js';
import { accessHashFromString, infoFromPeer, isMarkedId, peerFromInfo, unmarkId, type PeerInfo, type ToPeerOptions } from './peer-info.js';

const USERNAME = /^[A-Za-z0-9_]{1,64}$/;
const PHONE = /^[0-9]{1,20}$/;

export class MtstorePeers implements IPeersRepository {
  readonly #storage: Storage;
  readonly #options: ToPeerOptions;
  readonly #dropped: ReportDropped;
  /** Stored since the last save, by marked id, in store order. */
  #pending = new Map<number, PeerInfo>();
  /** The batch a running save is writing: still visible to lookups until it is stored. */
  #inFlight = new Map<number, PeerInfo>();
  /** The save's write under way, which deleteAll() waits for (its logout count is not used: see deleteAll). */
  readonly #fence = new LogoutFence();

  constructor(storage: Storage, options: ToPeerOptions, dropped: ReportDropped = () => undefined) {
    this.#storage = storage;
    this.#options = options;
    this.#dropped = dropped;
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
    if (pending !== undefined) return pending.isMin ? ((await this.#mergedMin(pending)) ?? pending) : pending;
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
    // A running save's version of a peer stored again since is older than the pending one:
    // only the pending one counts (it may no longer list the username or phone).
    const pending = this.#pending;
    for (const info of this.#inFlight.values()) if (matches(info) && !pending.has(info.id)) found = info;
    for (const info of pending.values()) if (matches(info)) found = info;
    // A min peer is found by id only, unless it merges into a stored non-min one.
    if (found !== undefined) return found.isMin ? this.#mergedMin(found) : found;
    const peer = await stored();
    if (peer === null) return null;
    const info = infoFromPeer(peer);
    return this.#pending.has(info.id) || this.#inFlight.has(info.id) ? null : info;
  }

  /**
   * What a pending min peer becomes at save() over a stored non-min peer of its id: the
   * two merged as core's mergePeer merges them (that peer's access hash, min flag and TL
   * object stay), so lookups answer the same before and after save(). Null when no
   * non-min peer is stored: the min peer is then stored as it is.
   */
  async #mergedMin(info: PeerInfo): Promise<PeerInfo | null> {
    const key = unmarkId(info.id);
    if (key === undefined) return null;
    const stored = await this.#storage.peers.getById(key.type, key.id);
    if (stored === null || stored.min === true) return null;
    let incoming: Peer;
    try {
      incoming = peerFromInfo(info, this.#options);
    } catch {
      // A peer mtstore cannot hold is dropped at save: the stored one stays.
      return infoFromPeer(stored, info.id);
    }
    return infoFromPeer(mergePeer(stored, incoming), info.id);
  }

  /**
   * mtcute's logout (and `storage.clear()`): nothing of the account's peers may stay. A
   * save's upsert still under way is waited for first: over a pool it could commit after
   * a clear sent now, and the logged-out account's peers would be back. Emptying the
   * in-flight batch (the same Map the save holds) also leaves a failed save nothing to
   * put back.
   */
  async deleteAll(): Promise<void> {
    const settled = this.#fence.logout();
    this.#pending.clear();
    this.#inFlight.clear();
    await settled;
    await this.#storage.peers.clear();
  }

  get pending(): boolean {
    return this.#pending.size > 0;
  }

  /**
   * One `upsert` of everything stored since the last save. A failed write keeps the
   * batch pending (stores made meanwhile win); a peer mtstore can never store is
   * dropped and reported instead, and the others are written.
   */
  save(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    const batch = this.#pending;
    this.#pending = new Map();
    this.#inFlight = batch;
    return this.#fence.writing(this.#write(batch));
  }

  async #write(batch: Map<number, PeerInfo>): Promise<void> {
    try {
      // Usernames, phones and names unchecked (mtcute's are valid): core validates the
      // batch anyway, before any I/O. Only a batch it rejects — or one with a peer that
      // cannot be built (an access hash that does not parse) — is built again checked.
      let peers: Peer[] | null = [];
      try {
        for (const info of batch.values()) peers.push(peerFromInfo(info, this.#options, false));
      } catch {
        peers = null;
      }
      if (peers !== null) {
        try {
          await this.#storage.peers.upsert(peers);
          return;
        } catch (error) {
          if (!(error instanceof InvalidArgumentError)) throw error;
        }
      }
      await this.#saveChecked(batch);
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

  /**
   * The batch built checked: what core rejects is left out of each peer (usernames,
   * phone, display name characters: peerFromInfo's filter), and a peer that still
   * fails core's own check (assertPeer) or cannot be built is dropped from `batch` and
   * reported. Core validates a batch peer by peer, so the rest is accepted; should it
   * reject it anyway, peers are written one by one and those it rejects dropped.
   */
  async #saveChecked(batch: Map<number, PeerInfo>): Promise<void> {
    const peers: Peer[] = [];
    const infos: PeerInfo[] = [];
    for (const [id, info] of batch) {
      const peer = this.#checked(info);
      if (peer === undefined) batch.delete(id);
      else {
        peers.push(peer);
        infos.push(info);
      }
    }
    if (peers.length === 0) return;
    try {
      await this.#storage.peers.upsert(peers);
      return;
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
    }
    for (let i = 0; i < peers.length; i++) {
      const info = infos[i] as PeerInfo;
      try {
        await this.#storage.peers.upsert([peers[i] as Peer]);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        batch.delete(info.id);
        this.#dropped(`peers[id ${info.id}]: ${error.message}`);
      }
    }
  }

  /** `info` as a peer core accepts (filtered); undefined, reported, when there is none. */
  #checked(info: PeerInfo): Peer | undefined {
    const label = `peers[id ${info.id}]`;
    try {
      accessHashFromString(info.accessHash);
    } catch {
      // Not the parse error's message: it quotes the string, which may be a hash in another format.
      this.#dropped(`${label}.accessHash must be mtcute's "low|high" int64 string, got ${describeHash(info.accessHash)}`);
      return undefined;
    }
    try {
      const peer = peerFromInfo(info, this.#options);
      assertPeer(peer, label);
      return peer;
    } catch (error) {
      this.#dropped(error instanceof Error ? error.message : String(error));
      return undefined;
    }
  }
}

/** The hash's type and length, not its text. */
function describeHash(value: unknown): string {
  return typeof value === 'string' ? `a string of ${value.length} chars` : typeof value;
}
