/**
 * What core takes from a caller, read once. A public method copies its arguments first
 * and validates the copy, which is what it writes: a getter, a Proxy trap or an array
 * element that answers one thing to the check and another to the copy (a 0-byte temp
 * key, a peer id out of range, a state field turned into text) can no longer slip past
 * the validation, because nothing of the caller's is read twice.
 *
 * The copies are shallow where the model is flat and never fail on what they copy:
 * a value that is not what the model expects (not a record, not an array, not real
 * bytes) is kept as it is for the validation to reject with its message. Only the
 * fields the model defines are read (update's patch also keeps unknown fields, which its
 * validation refuses). Bytes are judged by the typed array's internals (bytesLength);
 * key bytes of exactly AUTH_KEY_LENGTH are copied into one buffer per call.
 */
import { copyInBytes } from './bytes.js';
import type { ChannelState, DataCenter, Peer, SelfUser, Session, SessionUpdate, TempAuthKey, UpdateState } from './model.js';
import {
  assertPeer,
  assertPeers,
  AUTH_KEY_LENGTH,
  bytesLength,
  bytesView,
  isRecord,
  isStorableText,
  MAX_COMPLETE_BYTES,
  MAX_DISPLAY_NAME,
  peerHashes,
  phoneHash,
  usernameHash,
} from './validate.js';
import { InvalidArgumentError } from './errors.js';

/** A fresh array of `value`'s elements, each read once (mapped by `each`), or `value` itself when it is not an array. */
function takeArray<T>(value: unknown, each: (element: unknown) => unknown): T[] {
  if (!Array.isArray(value)) return value as T[];
  const length = value.length;
  const copy: unknown[] = [];
  for (let i = 0; i < length; i++) copy.push(each(value[i]));
  return copy as T[];
}

const same = (element: unknown): unknown => element;

export function takeUpdateState(value: unknown): UpdateState {
  if (!isRecord(value)) return value as UpdateState;
  return { pts: value.pts, qts: value.qts, date: value.date, seq: value.seq } as UpdateState;
}

function takeChannel(value: unknown): unknown {
  return isRecord(value) ? { id: value.id, pts: value.pts } : value;
}

export function takeChannels(value: unknown): ChannelState[] {
  if (Array.isArray(value) && value.length === 0) return [];
  return takeArray(value, takeChannel);
}

function takeSelfUser(value: unknown): SelfUser {
  if (!isRecord(value)) return value as SelfUser;
  const copy = { id: value.id, dcId: value.dcId, bot: value.bot } as SelfUser;
  const usernames = value.usernames;
  if (usernames !== undefined) copy.usernames = takeArray(usernames, same);
  const premium = value.premium;
  if (premium !== undefined) copy.premium = premium as boolean;
  return copy;
}

function takeTemp(value: unknown): unknown {
  return isRecord(value) ? { index: value.index, key: value.key, expiresAt: value.expiresAt } : value;
}

/** A temp key given to `authKeys.setTemp`: any object's three fields, read once (its key bytes are copied by the caller). */
export function takeTempKey(value: unknown): TempAuthKey {
  if (typeof value !== 'object' || value === null) return value as TempAuthKey;
  const temp = value as Record<string, unknown>;
  return { index: temp.index, key: temp.key, expiresAt: temp.expiresAt } as TempAuthKey;
}

/** A DC entry's fields, each read once, absent ones left out (copyDataCenter's order); key bytes are still the caller's. */
function takeDataCenter(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const { id, ipv4, ipv6, host, port, testMode, mediaOnly, authKey, tempAuthKeys } = value;
  const copy = { id } as Record<string, unknown>;
  if (ipv4 !== undefined) copy.ipv4 = ipv4;
  if (ipv6 !== undefined) copy.ipv6 = ipv6;
  if (host !== undefined) copy.host = host;
  if (port !== undefined) copy.port = port;
  if (testMode !== undefined) copy.testMode = testMode;
  if (mediaOnly !== undefined) copy.mediaOnly = mediaOnly;
  if (authKey !== undefined) copy.authKey = authKey;
  if (tempAuthKeys !== undefined) copy.tempAuthKeys = takeArray(tempAuthKeys, takeTemp);
  return copy;
}

/**
 * The keys of a taken session that are real Uint8Arrays of AUTH_KEY_LENGTH bytes,
 * copied through the intrinsics into consecutive views of one buffer (one allocation
 * per session); any other value stays for the validation to reject (so nothing of an
 * arbitrary size is copied before it is checked).
 */
function copyKeys(dcs: unknown, keys: 'copy' | 'view'): void {
  if (!Array.isArray(dcs)) return;
  if (keys === 'view') {
    // Plain views of the caller's key bytes made from the internals (bytesView), for a
    // caller that reads them at once and keeps nothing of them: save's sealing, which
    // replaces every key with its sealed form (a plaintext copy would be thrown away).
    for (const dc of dcs as unknown[]) {
      if (!isRecord(dc)) continue;
      if (bytesLength(dc.authKey) === AUTH_KEY_LENGTH) dc.authKey = bytesView(dc.authKey as Uint8Array, AUTH_KEY_LENGTH);
      if (Array.isArray(dc.tempAuthKeys)) {
        for (const temp of dc.tempAuthKeys as unknown[]) if (isRecord(temp) && bytesLength(temp.key) === AUTH_KEY_LENGTH) temp.key = bytesView(temp.key as Uint8Array, AUTH_KEY_LENGTH);
      }
    }
    return;
  }
  let count = 0;
  for (const dc of dcs as unknown[]) {
    if (!isRecord(dc)) continue;
    if (bytesLength(dc.authKey) === AUTH_KEY_LENGTH) count++;
    if (Array.isArray(dc.tempAuthKeys)) for (const temp of dc.tempAuthKeys as unknown[]) if (isRecord(temp) && bytesLength(temp.key) === AUTH_KEY_LENGTH) count++;
  }
  if (count === 0) return;
  const buffer = new ArrayBuffer(count * AUTH_KEY_LENGTH);
  let offset = 0;
  const copy = (key: Uint8Array): Uint8Array => {
    const view = new Uint8Array(buffer, offset, AUTH_KEY_LENGTH);
    // %TypedArray%.prototype.set of a typed array reads the source's internals.
    view.set(key);
    offset += AUTH_KEY_LENGTH;
    return view;
  };
  for (const dc of dcs as unknown[]) {
    if (!isRecord(dc)) continue;
    if (bytesLength(dc.authKey) === AUTH_KEY_LENGTH) dc.authKey = copy(dc.authKey as Uint8Array);
    if (Array.isArray(dc.tempAuthKeys)) {
      for (const temp of dc.tempAuthKeys as unknown[]) if (isRecord(temp) && bytesLength(temp.key) === AUTH_KEY_LENGTH) temp.key = copy(temp.key as Uint8Array);
    }
  }
}

/**
 * A session given to `save`: every field read once, its keys copied (copyKeys), or with
 * `keys` 'view' only made plain views of the caller's bytes, for a caller that replaces
 * them synchronously (save with encryption seals them at once).
 */
export function takeSession(value: unknown, keys: 'copy' | 'view' = 'copy'): Session {
  if (!isRecord(value)) return value as Session;
  const copy = {
    version: value.version,
    homeDcId: value.homeDcId,
    dcs: takeArray(value.dcs, takeDataCenter),
    channels: takeChannels(value.channels),
  } as Session;
  const apiId = value.apiId;
  if (apiId !== undefined) copy.apiId = apiId as number;
  const user = value.user;
  if (user !== undefined) copy.user = takeSelfUser(user);
  const state = value.state;
  if (state !== undefined) copy.state = takeUpdateState(state);
  const takeoutId = value.takeoutId;
  if (takeoutId !== undefined) copy.takeoutId = takeoutId as bigint;
  copyKeys(copy.dcs, keys);
  return copy;
}

const UPDATE_FIELDS: ReadonlySet<string> = new Set(['homeDcId', 'dcs', 'apiId', 'user', 'takeoutId', 'state', 'channels']);

/**
 * A patch given to `update`: each field it can change read once (absent ones left out),
 * and the caller's other own fields carried over as they are, for its validation to
 * refuse. DC entries keep whatever keys they name: the validation refuses those too.
 */
export function takeSessionUpdate(value: unknown): SessionUpdate {
  if (!isRecord(value)) return value as SessionUpdate;
  const copy = {} as Record<string, unknown>;
  const { homeDcId, dcs, apiId, user, takeoutId, state, channels } = value;
  if (homeDcId !== undefined) copy.homeDcId = homeDcId;
  if (dcs !== undefined) copy.dcs = takeArray(dcs, takeDataCenter);
  if (apiId !== undefined) copy.apiId = apiId;
  if (user !== undefined) copy.user = user === null ? null : takeSelfUser(user);
  if (takeoutId !== undefined) copy.takeoutId = takeoutId;
  if (state !== undefined) copy.state = state === null ? null : takeUpdateState(state);
  if (channels !== undefined) copy.channels = takeChannels(channels);
  for (const field of Object.keys(value)) if (!UPDATE_FIELDS.has(field)) copy[field] = value[field];
  return copy as SessionUpdate;
}

/**
 * How a taken peer holds its `complete` bytes: `copy`, a copy of its own (copyInBytes),
 * for a repository that writes after an await; `view`, a plain view of the caller's
 * bytes made from the internals (a copy when short: a view would move V8's in-heap bytes
 * out), for one that is done with them when its synchronous write returns; `source`, the
 * caller's Uint8Array itself (a real one of the length checked, by its internals), for
 * an in-order repository that copies it at once through intrinsics only, with the
 * length core checked (PeerRepository.upsert's `checked`): making the view was ~500
 * instructions a peer of a memory upsert (the `buffer` getter is a C++ builtin).
 */
export type TakenBytes = 'copy' | 'view' | 'source';

/**
 * A peer taken and checked in one pass: each field of `value` read once into a local,
 * the locals checked by isPeer's rules (validate.ts; keep the two in step), and a fresh
 * Peer built from them in copyPeer's order (one hidden class), or undefined when
 * `value` is not a valid peer. Like isPeer it leaves its names' and phone's hashes in
 * `peerHashes` for checkPeerBatch. One pass, not a copy and then a check of the copy:
 * an upsert of 1,000 peers pays one object and one array per peer over the check it
 * always paid (a second pass cost ~30% of a memory upsert of 1,000 peers).
 */
export function takeCheckedPeer(value: unknown, bytes: TakenBytes): Peer | undefined {
  if (!isRecord(value)) return undefined;
  const { type, id, accessHash, usernames, phone, min, updatedAt, displayName, complete } = value;
  if (type !== 'user' && type !== 'chat' && type !== 'channel') return undefined;
  // An int64 is what wrapping to 64 bits leaves as it is: one asIntN and one compare,
  // where the two bound compares were two calls to V8's BigIntLessThan (callgrind, a
  // check in a loop: ~21 against ~63 instructions).
  if (typeof id !== 'bigint' || BigInt.asIntN(64, id) !== id) return undefined;
  if (typeof accessHash !== 'bigint' || BigInt.asIntN(64, accessHash) !== accessHash) return undefined;
  if (!Array.isArray(usernames)) return undefined;
  const count = usernames.length;
  const hashes = peerHashes.names;
  let names: string[];
  // Literals for the usual zero, one or two names: packed arrays of their exact size.
  if (count === 0) names = [];
  else if (count === 1) {
    const name: unknown = usernames[0];
    const hash = usernameHash(name);
    if (hash === -1) return undefined;
    hashes[0] = hash;
    names = [name as string];
  } else {
    // Every element read before any hash is written: an element read may run caller code
    // (a Proxy), which may upsert a batch of its own and overwrite `peerHashes`.
    names = new Array<string>(count);
    for (let i = 0; i < count; i++) names[i] = usernames[i] as string;
    for (let i = 0; i < count; i++) {
      const name = names[i] as string;
      const hash = usernameHash(name);
      if (hash === -1) return undefined;
      // Names equal but for case hash alike (usernameHash folds case): only a hash match is lower-cased.
      for (let j = 0; j < i; j++) if (hashes[j] === hash && (names[j] as string).toLowerCase() === name.toLowerCase()) return undefined;
      hashes[i] = hash;
    }
  }
  let phoneKey = -1;
  if (phone !== undefined && (phoneKey = phoneHash(phone)) === -1) return undefined;
  if (min !== undefined && typeof min !== 'boolean') return undefined;
  if (typeof updatedAt !== 'number' || !Number.isInteger(updatedAt) || updatedAt < 0 || updatedAt > 4_294_967_295) return undefined;
  if (displayName !== undefined && (typeof displayName !== 'string' || displayName.length > MAX_DISPLAY_NAME || !isStorableText(displayName))) return undefined;
  let completeLength = 0;
  if (complete !== undefined && ((completeLength = bytesLength(complete)) < 0 || completeLength > MAX_COMPLETE_BYTES)) return undefined;
  peerHashes.phone = phoneKey;
  if (bytes === 'source') {
    // For an in-order repository (memory), which reads an absent field and an undefined
    // one alike: every field in one literal, one hidden class and no property added
    // after it (each added one is a map transition, the first one an out-of-object
    // property array too: ~100 instructions a peer of a memory upsert).
    if (complete !== undefined) peerHashes.complete = completeLength;
    return { type, id, accessHash, usernames: names, updatedAt, phone, min, displayName, complete } as Peer;
  }
  const peer: Peer = { type, id, accessHash, usernames: names, updatedAt };
  if (phone !== undefined) peer.phone = phone as string;
  if (min !== undefined) peer.min = min;
  if (displayName !== undefined) peer.displayName = displayName;
  if (complete !== undefined) {
    peer.complete = bytes === 'copy' ? copyInBytes(complete as Uint8Array) : bytes === 'view' ? bytesView(complete as Uint8Array, completeLength) : (complete as Uint8Array);
    peerHashes.complete = completeLength;
  }
  return peer;
}

/**
 * The failure of takeCheckedPeer for `value`: assertPeer's message, from a second read
 * (only ever on this failing path), or, when that read answers a valid peer, a message
 * saying that the peer changed while it was read.
 */
export function rejectPeer(value: unknown, label: string): never {
  assertPeer(value, label);
  throw new InvalidArgumentError(`${label} must be a peer whose fields answer the same on every read, got one that changed while it was read`);
}

/** A peer batch given to `upsert`, taken and checked (takeCheckedPeer): fresh objects, each field read once; the first invalid peer throws. */
export function takeCheckedPeers(value: unknown, label: string, bytes: TakenBytes): Peer[] {
  if (!Array.isArray(value)) {
    assertPeers(value, label);
    return value as Peer[];
  }
  const length = value.length;
  const copies: Peer[] = [];
  for (let i = 0; i < length; i++) {
    const element: unknown = value[i];
    copies.push(takeCheckedPeer(element, bytes) ?? rejectPeer(element, `${label}[${i}]`));
  }
  return copies;
}
