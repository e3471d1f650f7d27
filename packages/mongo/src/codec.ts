/**
 * Documents ⇄ model. 64-bit ids are written as BSON int64 (the driver writes a
 * bigint as a Long) and read back with `useBigInt64`; keys are BSON binary, read
 * back as Buffers. Optional fields are left out when absent, so absent, false and
 * true stay three different stored values. Decoding only checks the structure it
 * walks; the base class validates every value (`checkStoredSession`/`checkStoredPeer`).
 */
import { Binary, type FindOptions } from 'mongodb';
import { CorruptDataError, int64FromStorage, type ChannelState, type DataCenter, type Peer, type PeerType, type Session, type UpdateState } from '@mtstore/core';

/** Any stored document of ours: every collection is keyed by a string `_id`. */
export interface StringIdDocument {
  _id: string;
  [field: string]: unknown;
}

/** Read options for every document holding ids or keys. */
export const READ: FindOptions = { useBigInt64: true, promoteBuffers: true };

/** A DataCenter whose keys are BSON binary. */
export interface DataCenterDocument extends Omit<DataCenter, 'authKey' | 'tempAuthKeys'> {
  authKey?: Binary;
  tempAuthKeys?: { index: number; key: Binary; expiresAt: number }[];
}

/** A channel's pts, keyed `c<id>` in `channels`; `order` keeps the session's channel order. */
export interface ChannelDocument {
  id: bigint;
  pts: number;
  order: number;
}

export interface SessionDocument {
  _id: string;
  version: 1;
  homeDcId: number;
  dcs: DataCenterDocument[];
  apiId?: number;
  user?: { id: bigint; dcId: number; bot: boolean; username?: string };
  state?: UpdateState;
  channels: Record<string, ChannelDocument>;
  takeoutId?: bigint;
}

/** A Peer of one session; the lower-cased usernames are the `_id`s of its handle documents. */
export interface PeerDocument extends Peer {
  _id: string;
  session: string;
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

/** Keys are copied: the caller may reuse its arrays as soon as the promise resolves, or before. */
const binary = (key: Uint8Array): Binary => new Binary(Uint8Array.from(key));

function encodeDataCenter(dc: DataCenter): DataCenterDocument {
  const doc: DataCenterDocument = { id: dc.id, port: dc.port };
  if (dc.ipv4 !== undefined) doc.ipv4 = dc.ipv4;
  if (dc.ipv6 !== undefined) doc.ipv6 = dc.ipv6;
  if (dc.testMode !== undefined) doc.testMode = dc.testMode;
  if (dc.mediaOnly !== undefined) doc.mediaOnly = dc.mediaOnly;
  if (dc.authKey !== undefined) doc.authKey = binary(dc.authKey);
  if (dc.tempAuthKeys !== undefined) doc.tempAuthKeys = dc.tempAuthKeys.map((t) => ({ index: t.index, key: binary(t.key), expiresAt: t.expiresAt }));
  return doc;
}

export function encodeSession(name: string, session: Session): SessionDocument {
  const channels: Record<string, ChannelDocument> = {};
  session.channels.forEach((c, order) => (channels[channelKey(c.id)] = { id: c.id, pts: c.pts, order }));
  const doc: SessionDocument = { _id: name, version: 1, homeDcId: session.homeDcId, dcs: session.dcs.map(encodeDataCenter), channels };
  if (session.apiId !== undefined) doc.apiId = session.apiId;
  if (session.user !== undefined) {
    const { id, dcId, bot, username } = session.user;
    doc.user = username === undefined ? { id, dcId, bot } : { id, dcId, bot, username };
  }
  if (session.state !== undefined) {
    const { pts, qts, date, seq } = session.state;
    doc.state = { pts, qts, date, seq };
  }
  if (session.takeoutId !== undefined) doc.takeoutId = session.takeoutId;
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

type Loose = Record<string, unknown>;

function isRecord(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Binary read back as a Buffer (promoteBuffers); anything else is left for the validator to reject. */
function key(value: unknown): Uint8Array | undefined {
  if (value instanceof Binary) return value.buffer.subarray(0, value.length());
  return value as Uint8Array | undefined;
}

function decodeDataCenter(value: unknown, where: string): DataCenter {
  if (!isRecord(value)) throw new CorruptDataError(`${where} is not a document`);
  const dc = { id: value.id, port: value.port } as DataCenter;
  if (value.ipv4 !== undefined) dc.ipv4 = value.ipv4 as string;
  if (value.ipv6 !== undefined) dc.ipv6 = value.ipv6 as string;
  if (value.testMode !== undefined) dc.testMode = value.testMode as boolean;
  if (value.mediaOnly !== undefined) dc.mediaOnly = value.mediaOnly as boolean;
  if (value.authKey !== undefined) dc.authKey = key(value.authKey);
  if (value.tempAuthKeys !== undefined) {
    if (!Array.isArray(value.tempAuthKeys)) throw new CorruptDataError(`${where}.tempAuthKeys is not an array`);
    dc.tempAuthKeys = value.tempAuthKeys.map((t: unknown, i) => {
      if (!isRecord(t)) throw new CorruptDataError(`${where}.tempAuthKeys[${i}] is not a document`);
      return { index: t.index as number, key: key(t.key) as Uint8Array, expiresAt: t.expiresAt as number };
    });
  }
  return dc;
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

/** A stored session document → Session (values are validated by the caller). */
export function decodeSession(stored: object, where: string): Session {
  const doc = stored as Loose;
  if (!Array.isArray(doc.dcs)) throw new CorruptDataError(`${where}: dcs is not an array`);
  const session = {
    version: doc.version,
    homeDcId: doc.homeDcId,
    dcs: doc.dcs.map((dc: unknown, i) => decodeDataCenter(dc, `${where}: dcs[${i}]`)),
    channels: decodeChannels(doc.channels ?? {}, where),
  } as Session;
  if (doc.apiId !== undefined) session.apiId = doc.apiId as number;
  if (doc.user !== undefined) {
    if (!isRecord(doc.user)) throw new CorruptDataError(`${where}: user is not a document`);
    const u = doc.user;
    session.user = { id: int64FromStorage(u.id, `${where}: user.id`), dcId: u.dcId as number, bot: u.bot as boolean };
    if (u.username !== undefined) session.user.username = u.username as string;
  }
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
  return peer;
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
    Array.isArray(names) &&
    names.length === a.usernames.length &&
    a.usernames.every((u, i) => names[i] === u)
  );
}
