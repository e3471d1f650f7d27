/**
 * Documents ⇄ model. 64-bit ids are written as BSON int64 (the driver writes a
 * bigint as a Long) and read back with `useBigInt64`; keys and other bytes are BSON
 * binary, read back as Buffers (a peer's TL bytes copied out of them: `peerBytes`; core copies keys and kv values). Optional
 * fields are left out when absent, so absent, false and true stay three different
 * stored values. Decoding only checks the structure it walks; the base class
 * validates every value.
 */
import { Binary, type FindOptions } from 'mongodb';
import {
  copyOutBytes,
  CorruptDataError,
  int64FromStorage,
  type AuthKeyEntry,
  type ChannelState,
  type DataCenter,
  type Peer,
  type PeerType,
  type SelfUser,
  type Session,
  type TempAuthKey,
  type UpdateState,
} from '@mtstore/core';

/** Any stored document of ours: every collection is keyed by a string `_id`. */
export interface StringIdDocument {
  _id: string;
  [field: string]: unknown;
}

/** Read options for every document holding ids or bytes. */
export const READ: FindOptions = { useBigInt64: true, promoteBuffers: true };

/** A DC address entry of the snapshot: no keys (they live in `keys`). */
export type DataCenterDocument = Omit<DataCenter, 'authKey' | 'tempAuthKeys'>;

/** A channel's pts, keyed `c<id>` in `channels`; `order` keeps the session's channel order. */
export interface ChannelDocument {
  id: bigint;
  pts: number;
  order: number;
}

/** The keys of one DC entry: `keys.dc<id>.main` or `keys.dc<id>.media`. */
export interface EntryKeysDocument {
  authKey?: Binary;
  /** `s<slot index>` → temp key. */
  temp?: Record<string, { key: Binary; expiresAt: number }>;
}

/**
 * The per-name document (schema v2). It exists as soon as anything of the name is
 * written to it (a key, a snapshot); `homeDcId` is present exactly when a snapshot
 * is saved. Keys live in `keys`, one dotted path per DC / entry / slot, so a key
 * write is one `$set` that touches nothing else.
 */
export interface SessionDocument {
  _id: string;
  homeDcId?: number;
  dcs?: DataCenterDocument[];
  apiId?: number;
  user?: { id: bigint; dcId: number; bot: boolean; usernames?: string[]; premium?: boolean };
  state?: UpdateState;
  channels?: Record<string, ChannelDocument>;
  takeoutId?: bigint;
  keys?: Record<string, { main?: EntryKeysDocument; media?: EntryKeysDocument }>;
}

/** A Peer of one session; the lower-cased usernames are the `_id`s of its handle documents. */
export interface PeerDocument extends Omit<Peer, 'complete'> {
  _id: string;
  session: string;
  complete?: Binary;
}

/** A username or phone → its owner. Verified against the owner on every read. */
export interface HandleDocument {
  _id: string;
  session: string;
  /** `_id` of the owner's peer document. */
  peer: string;
  /** The username as the owner spells it (absent for phones). */
  username?: string;
}

export const peerDocumentId = (session: string, type: PeerType, id: bigint): string => `${session}/${type}/${id}`;
export const usernameHandleId = (session: string, lowerCased: string): string => `${session}/u/${lowerCased}`;
export const phoneHandleId = (session: string, phone: string): string => `${session}/p/${phone}`;
export const channelKey = (id: bigint): string => `c${id}`;

/** `keys.dc<id>`: every key of a DC id, main and media-only entries. */
export const dcKeysPath = (dcId: number): string => `keys.dc${dcId}`;
/** `keys.dc<id>.main` / `keys.dc<id>.media`. */
export const entryKeysPath = (dcId: number, mediaOnly: boolean | undefined): string => `${dcKeysPath(dcId)}.${mediaOnly === true ? 'media' : 'main'}`;
export const tempSlot = (index: number): string => `s${index}`;

/** Bytes the base class already copied at call time: wrapped, not copied again. */
export const binary = (bytes: Uint8Array): Binary => new Binary(bytes);

/**
 * Binary as the driver reads it back: with promoteBuffers a Buffer that is a view of
 * the whole wire message, itself usually cut out of Node's shared 8 KiB Buffer pool,
 * whose memory holds whatever else the process read or wrote through the pool (another
 * session's kv secret read just before, say). Keys and kv values go to core as such
 * views: core copies every key it hands out (AuthKeyBytes) and every kv value that is
 * not a plain Uint8Array spanning its own buffer (docs/contract.md §4), so copying them
 * here too would copy twice. Anything else is left for the validator to reject.
 */
export function bytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Binary) return value.buffer.subarray(0, value.length());
  return value as Uint8Array | undefined;
}

/**
 * A peer's `complete` read back: a plain Uint8Array of its own bytes, which may be cut
 * out of core's pool of peers' TL bytes (copyOutBytes; contract §5) but never out of
 * Node's Buffer pool, which holds secrets too.
 */
export function peerBytes(value: unknown): Uint8Array | undefined {
  const stored = bytes(value);
  return stored instanceof Uint8Array ? copyOutBytes(stored) : stored;
}

type Loose = Record<string, unknown>;

export function isRecord(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Binary);
}

function encodeEntryKeys(dc: DataCenter): EntryKeysDocument | undefined {
  const entry: EntryKeysDocument = {};
  if (dc.authKey !== undefined) entry.authKey = binary(dc.authKey);
  if (dc.tempAuthKeys !== undefined && dc.tempAuthKeys.length > 0) {
    entry.temp = {};
    for (const t of dc.tempAuthKeys) entry.temp[tempSlot(t.index)] = { key: binary(t.key), expiresAt: t.expiresAt };
  }
  return entry.authKey === undefined && entry.temp === undefined ? undefined : entry;
}

export function encodeDataCenter(dc: DataCenter): DataCenterDocument {
  const doc: DataCenterDocument = { id: dc.id };
  if (dc.ipv4 !== undefined) doc.ipv4 = dc.ipv4;
  if (dc.ipv6 !== undefined) doc.ipv6 = dc.ipv6;
  if (dc.host !== undefined) doc.host = dc.host;
  if (dc.port !== undefined) doc.port = dc.port;
  if (dc.testMode !== undefined) doc.testMode = dc.testMode;
  if (dc.mediaOnly !== undefined) doc.mediaOnly = dc.mediaOnly;
  return doc;
}

export function encodeUser(user: SelfUser): NonNullable<SessionDocument['user']> {
  const doc: NonNullable<SessionDocument['user']> = { id: user.id, dcId: user.dcId, bot: user.bot };
  if (user.usernames !== undefined) doc.usernames = [...user.usernames];
  if (user.premium !== undefined) doc.premium = user.premium;
  return doc;
}

/** The whole per-name document `save` replaces: the snapshot and every key of it. */
/** The `channels` sub-document: one field per channel, `order` keeping the list order. */
export function encodeChannels(list: readonly ChannelState[]): Record<string, ChannelDocument> {
  const channels: Record<string, ChannelDocument> = {};
  list.forEach((c, order) => (channels[channelKey(c.id)] = { id: c.id, pts: c.pts, order }));
  return channels;
}

export function encodeSession(name: string, session: Session): SessionDocument {
  const channels = encodeChannels(session.channels);
  const doc: SessionDocument = { _id: name, homeDcId: session.homeDcId, dcs: session.dcs.map(encodeDataCenter), channels };
  if (session.apiId !== undefined) doc.apiId = session.apiId;
  if (session.user !== undefined) doc.user = encodeUser(session.user);
  if (session.state !== undefined) {
    const { pts, qts, date, seq } = session.state;
    doc.state = { pts, qts, date, seq };
  }
  if (session.takeoutId !== undefined) doc.takeoutId = session.takeoutId;
  const keys: NonNullable<SessionDocument['keys']> = {};
  for (const dc of session.dcs) {
    const entry = encodeEntryKeys(dc);
    if (entry === undefined) continue;
    const field = `dc${dc.id}`;
    keys[field] ??= {};
    (keys[field] as Loose)[dc.mediaOnly === true ? 'media' : 'main'] = entry;
  }
  if (Object.keys(keys).length > 0) doc.keys = keys;
  return doc;
}

/**
 * `$set`/`$min` that store the state and the listed channels in place. A channel
 * seen for the first time is ordered after the saved ones (`$min` keeps an existing
 * order): `load` returns saved channels in their saved order, then new ones.
 */
export function updateStateOperators(state: UpdateState, channels: readonly ChannelState[]): { $set: Record<string, unknown>; $min?: Record<string, number> } {
  const $set: Record<string, unknown> = { state: { pts: state.pts, qts: state.qts, date: state.date, seq: state.seq } };
  if (channels.length === 0) return { $set };
  const $min: Record<string, number> = {};
  const firstSeen = Date.now() * 1000; // below 2^53 until the year 2255
  channels.forEach((c, i) => {
    const path = `channels.${channelKey(c.id)}`;
    $set[`${path}.id`] = c.id;
    $set[`${path}.pts`] = c.pts;
    $min[`${path}.order`] = firstSeen + i;
  });
  return { $set, $min };
}

function decodeDataCenter(value: unknown, where: string): DataCenter {
  if (!isRecord(value)) throw new CorruptDataError(`${where} is not a document`);
  const dc = { id: value.id } as DataCenter;
  if (value.ipv4 !== undefined) dc.ipv4 = value.ipv4 as string;
  if (value.ipv6 !== undefined) dc.ipv6 = value.ipv6 as string;
  if (value.host !== undefined) dc.host = value.host as string;
  if (value.port !== undefined) dc.port = value.port as number;
  if (value.testMode !== undefined) dc.testMode = value.testMode as boolean;
  if (value.mediaOnly !== undefined) dc.mediaOnly = value.mediaOnly as boolean;
  return dc;
}

/** One stored temp key (validated by the caller). */
export function decodeTemp(value: unknown, index: number, where: string): TempAuthKey {
  if (!isRecord(value)) throw new CorruptDataError(`${where} is not a document`);
  return { index, key: bytes(value.key) as Uint8Array, expiresAt: value.expiresAt as number };
}

/** Copies the stored keys of one entry onto `dc`: temp keys ordered by slot index. */
function attachKeys(dc: DataCenter, entry: unknown, where: string): boolean {
  if (entry === undefined) return false;
  if (!isRecord(entry)) throw new CorruptDataError(`${where} is not a document`);
  let found = false;
  if (entry.authKey !== undefined) {
    dc.authKey = bytes(entry.authKey);
    found = true;
  }
  if (entry.temp !== undefined) {
    if (!isRecord(entry.temp)) throw new CorruptDataError(`${where}.temp is not a document`);
    const temps = Object.entries(entry.temp).map(([slot, t]) => {
      const index = Number(slot.slice(1));
      if (!/^s\d+$/.test(slot) || !Number.isSafeInteger(index)) throw new CorruptDataError(`${where}.temp has a field ${JSON.stringify(slot)}, expected s<index>`);
      return decodeTemp(t, index, `${where}.temp.${slot}`);
    });
    if (temps.length > 0) {
      dc.tempAuthKeys = temps.sort((a, b) => a.index - b.index);
      found = true;
    }
  }
  return found;
}

function decodeChannels(value: unknown, where: string): ChannelState[] {
  if (!isRecord(value)) throw new CorruptDataError(`${where}.channels is not a document`);
  const entries = Object.entries(value).map(([field, c]) => {
    if (!isRecord(c)) throw new CorruptDataError(`${where}.channels.${field} is not a document`);
    const order = typeof c.order === 'number' ? c.order : Number.MAX_SAFE_INTEGER;
    return { order, channel: { id: int64FromStorage(c.id, `${where}.channels.${field}.id`), pts: c.pts as number } };
  });
  // Array.prototype.sort is stable: equal orders keep their stored order.
  return entries.sort((a, b) => a.order - b.order).map((e) => e.channel);
}

export function decodeUser(value: unknown, where: string): SelfUser {
  if (!isRecord(value)) throw new CorruptDataError(`${where}: user is not a document`);
  const user: SelfUser = { id: int64FromStorage(value.id, `${where}: user.id`), dcId: value.dcId as number, bot: value.bot as boolean };
  if (value.usernames !== undefined) user.usernames = Array.isArray(value.usernames) ? [...(value.usernames as string[])] : (value.usernames as string[]);
  if (value.premium !== undefined) user.premium = value.premium as boolean;
  return user;
}

/**
 * The `keys` field of a per-name document → every entry holding a key, by DC id, main
 * before media-only, temp keys by index. Values are validated by the caller.
 */
export function decodeKeyEntries(keys: unknown, where: string): AuthKeyEntry[] {
  if (keys === undefined) return [];
  if (!isRecord(keys)) throw new CorruptDataError(`${where}: keys is not a document`);
  const entries: AuthKeyEntry[] = [];
  for (const [field, byDc] of Object.entries(keys)) {
    const id = Number(field.slice(2));
    if (!/^dc\d+$/.test(field) || !Number.isSafeInteger(id)) throw new CorruptDataError(`${where}: keys has a field ${JSON.stringify(field)}, expected dc<id>`);
    if (!isRecord(byDc)) throw new CorruptDataError(`${where}: keys.${field} is not a document`);
    for (const part of ['main', 'media'] as const) {
      const dc: DataCenter = { id };
      if (!attachKeys(dc, byDc[part], `${where}: keys.${field}.${part}`)) continue;
      const entry: AuthKeyEntry = { dcId: id, mediaOnly: part === 'media', tempAuthKeys: dc.tempAuthKeys ?? [] };
      if (dc.authKey !== undefined) entry.authKey = dc.authKey;
      entries.push(entry);
    }
  }
  return entries.sort((a, b) => a.dcId - b.dcId || Number(a.mediaOnly) - Number(b.mediaOnly));
}

/**
 * A stored per-name document → Session, or null when it holds no snapshot (only
 * keys). Keys of entries the snapshot lacks come back as address-less entries after
 * the stored ones, by DC id, main before media. Values are validated by the caller.
 */
export function decodeSession(stored: object, where: string): Session | null {
  const doc = stored as Loose;
  if (doc.homeDcId === undefined) return null;
  if (!Array.isArray(doc.dcs)) throw new CorruptDataError(`${where}: dcs is not an array`);
  const keys = doc.keys ?? {};
  if (!isRecord(keys)) throw new CorruptDataError(`${where}: keys is not a document`);
  const used = new Set<string>();
  const dcs = doc.dcs.map((value: unknown, i) => {
    const dc = decodeDataCenter(value, `${where}: dcs[${i}]`);
    const part = dc.mediaOnly === true ? 'media' : 'main';
    const byDc = keys[`dc${String(dc.id)}`];
    used.add(`dc${String(dc.id)}.${part}`);
    if (isRecord(byDc)) attachKeys(dc, byDc[part], `${where}: keys.dc${String(dc.id)}.${part}`);
    return dc;
  });
  const orphans: DataCenter[] = [];
  for (const [field, byDc] of Object.entries(keys)) {
    const id = Number(field.slice(2));
    if (!/^dc\d+$/.test(field) || !Number.isSafeInteger(id)) throw new CorruptDataError(`${where}: keys has a field ${JSON.stringify(field)}, expected dc<id>`);
    if (!isRecord(byDc)) throw new CorruptDataError(`${where}: keys.${field} is not a document`);
    for (const part of ['main', 'media'] as const) {
      if (used.has(`${field}.${part}`)) continue;
      const dc: DataCenter = part === 'media' ? { id, mediaOnly: true } : { id };
      if (attachKeys(dc, byDc[part], `${where}: keys.${field}.${part}`)) orphans.push(dc);
    }
  }
  orphans.sort((a, b) => a.id - b.id || Number(a.mediaOnly === true) - Number(b.mediaOnly === true));
  const session = { version: 1, homeDcId: doc.homeDcId, dcs: [...dcs, ...orphans], channels: decodeChannels(doc.channels ?? {}, where) } as Session;
  if (doc.apiId !== undefined) session.apiId = doc.apiId as number;
  if (doc.user !== undefined) session.user = decodeUser(doc.user, where);
  if (doc.state !== undefined) {
    if (!isRecord(doc.state)) throw new CorruptDataError(`${where}: state is not a document`);
    const s = doc.state;
    session.state = { pts: s.pts as number, qts: s.qts as number, date: s.date as number, seq: s.seq as number };
  }
  if (doc.takeoutId !== undefined) session.takeoutId = int64FromStorage(doc.takeoutId, `${where}: takeoutId`);
  return session;
}

export function encodePeer(session: string, peer: Peer): PeerDocument {
  const doc: PeerDocument = {
    _id: peerDocumentId(session, peer.type, peer.id),
    session,
    type: peer.type,
    id: peer.id,
    accessHash: peer.accessHash,
    usernames: [...peer.usernames],
    updatedAt: peer.updatedAt,
  };
  if (peer.phone !== undefined) doc.phone = peer.phone;
  if (peer.min !== undefined) doc.min = peer.min;
  if (peer.displayName !== undefined) doc.displayName = peer.displayName;
  if (peer.complete !== undefined) doc.complete = binary(peer.complete);
  return doc;
}

/** A stored peer document → Peer (values are validated by the caller). */
export function decodePeer(stored: object, where: string): Peer {
  const doc = stored as Loose;
  const label = `${where} ${String(doc._id)}`;
  const peer = {
    type: doc.type,
    id: int64FromStorage(doc.id, `${label}: id`),
    accessHash: int64FromStorage(doc.accessHash, `${label}: accessHash`),
    usernames: Array.isArray(doc.usernames) ? [...(doc.usernames as unknown[])] : doc.usernames,
    updatedAt: doc.updatedAt,
  } as Peer;
  if (doc.phone !== undefined) peer.phone = doc.phone as string;
  if (doc.min !== undefined) peer.min = doc.min as boolean;
  if (doc.displayName !== undefined) peer.displayName = doc.displayName as string;
  if (doc.complete !== undefined) peer.complete = peerBytes(doc.complete);
  return peer;
}

function sameBytes(a: Binary | undefined, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  const stored = bytes(b);
  if (!(stored instanceof Uint8Array) || stored.length !== a.length()) return false;
  const mine = a.buffer;
  for (let i = 0; i < stored.length; i++) if (stored[i] !== mine[i]) return false;
  return true;
}

/** Same stored content (the `_id`s already match). */
export function samePeerDocument(a: PeerDocument, stored: object): boolean {
  const b = stored as Loose;
  const names = b.usernames;
  return (
    a.type === b.type &&
    a.id === b.id &&
    a.accessHash === b.accessHash &&
    a.updatedAt === b.updatedAt &&
    a.phone === b.phone &&
    a.min === b.min &&
    a.displayName === b.displayName &&
    sameBytes(a.complete, b.complete) &&
    Array.isArray(names) &&
    names.length === a.usernames.length &&
    a.usernames.every((u, i) => names[i] === u)
  );
}
