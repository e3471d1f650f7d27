/**
 * Deep copies of model objects holding only the fields the model defines, for
 * adapters that keep objects rather than rows (memory) or serialize whole objects.
 * Optional fields that are undefined are left out; `false` stays `false` (the round
 * trip is exact: absent, false and true are three different stored values).
 */
import { copyInBytes } from './bytes.js';
import type { DataCenter, Peer, SelfUser, Session, SessionUpdate } from './model.js';
import { bytesLength } from './validate.js';

/** Copies key bytes into consecutive views of one buffer (one allocation per session, not per key). */
class KeyCopier {
  readonly #buffer: ArrayBuffer;
  #offset = 0;

  constructor(session: Session) {
    // Lengths from the typed arrays' internals (bytesLength), never their `length` property.
    let bytes = 0;
    for (const dc of session.dcs) {
      if (dc.authKey !== undefined) bytes += Math.max(0, bytesLength(dc.authKey));
      for (const temp of dc.tempAuthKeys ?? []) bytes += Math.max(0, bytesLength(temp.key));
    }
    this.#buffer = new ArrayBuffer(bytes);
  }

  /** A copy of `key` in the buffer; anything but a real Uint8Array is returned as is, for the validation to report. */
  copy(key: Uint8Array): Uint8Array {
    const length = bytesLength(key);
    if (length < 0) return key;
    const view = new Uint8Array(this.#buffer, this.#offset, length);
    // %TypedArray%.prototype.set of a typed array reads the source's internals.
    view.set(key);
    this.#offset += length;
    return view;
  }
}

/** `keys`: where key bytes are copied to; undefined keeps the caller's arrays, null leaves keys out. */
function copyDataCenter(dc: DataCenter, keys: KeyCopier | undefined | null): DataCenter {
  const copy: DataCenter = { id: dc.id };
  if (dc.ipv4 !== undefined) copy.ipv4 = dc.ipv4;
  if (dc.ipv6 !== undefined) copy.ipv6 = dc.ipv6;
  if (dc.host !== undefined) copy.host = dc.host;
  if (dc.port !== undefined) copy.port = dc.port;
  if (dc.testMode !== undefined) copy.testMode = dc.testMode;
  if (dc.mediaOnly !== undefined) copy.mediaOnly = dc.mediaOnly;
  if (keys === null) return copy;
  if (dc.authKey !== undefined) copy.authKey = keys === undefined ? dc.authKey : keys.copy(dc.authKey);
  if (dc.tempAuthKeys !== undefined) {
    copy.tempAuthKeys = dc.tempAuthKeys.map((t) => ({ index: t.index, key: keys === undefined ? t.key : keys.copy(t.key), expiresAt: t.expiresAt }));
  }
  return copy;
}

/**
 * A DataCenter's address fields (no keys), copied one by one in one order, absent ones
 * left out: every copy of a given set of fields gets one hidden class (a spread of
 * objects built elsewhere gave new ones; adapters rebuilding a loaded DC use this).
 */
export function copyDcAddress(dc: DataCenter): DataCenter {
  return copyDataCenter(dc, null);
}

/**
 * A deep copy of `session`. With `copyKeys` false its key fields are the caller's own
 * arrays, for a caller that replaces them at once (the base class seals them).
 */
export function copySession(session: Session, copyKeys = true): Session {
  const keys = copyKeys ? new KeyCopier(session) : undefined;
  const copy: Session = {
    version: 1,
    homeDcId: session.homeDcId,
    dcs: session.dcs.map((dc) => copyDataCenter(dc, keys)),
    channels: session.channels.map((c) => ({ id: c.id, pts: c.pts })),
  };
  if (session.apiId !== undefined) copy.apiId = session.apiId;
  if (session.user !== undefined) copy.user = copySelfUser(session.user);
  if (session.state !== undefined) {
    const { pts, qts, date, seq } = session.state;
    copy.state = { pts, qts, date, seq };
  }
  if (session.takeoutId !== undefined) copy.takeoutId = session.takeoutId;
  return copy;
}

export function copySelfUser(user: SelfUser): SelfUser {
  const copy: SelfUser = { id: user.id, dcId: user.dcId, bot: user.bot };
  if (user.usernames !== undefined) copy.usernames = [...user.usernames];
  if (user.premium !== undefined) copy.premium = user.premium;
  return copy;
}

/** A `Storage.update` patch as given at call time (its DCs carry no keys). */
export function copySessionUpdate(patch: SessionUpdate): SessionUpdate {
  const copy: SessionUpdate = {};
  if (patch.homeDcId !== undefined) copy.homeDcId = patch.homeDcId;
  if (patch.dcs !== undefined) copy.dcs = patch.dcs.map((dc) => copyDataCenter(dc, null));
  if (patch.apiId !== undefined) copy.apiId = patch.apiId;
  if (patch.user !== undefined) copy.user = patch.user === null ? null : copySelfUser(patch.user);
  if (patch.takeoutId !== undefined) copy.takeoutId = patch.takeoutId;
  if (patch.state !== undefined) {
    copy.state = patch.state === null ? null : { pts: patch.state.pts, qts: patch.state.qts, date: patch.state.date, seq: patch.state.seq };
  }
  if (patch.channels !== undefined) copy.channels = patch.channels.map((c) => ({ id: c.id, pts: c.pts }));
  return copy;
}

/** `copyBytes` false shares `complete` with `peer` (see normalizePeerBatch). */
export function copyPeer(peer: Peer, copyBytes = true): Peer {
  const copy: Peer = {
    type: peer.type,
    id: peer.id,
    accessHash: peer.accessHash,
    usernames: peer.usernames.slice(),
    updatedAt: peer.updatedAt,
  };
  if (peer.phone !== undefined) copy.phone = peer.phone;
  if (peer.min !== undefined) copy.min = peer.min;
  if (peer.displayName !== undefined) copy.displayName = peer.displayName;
  // TL bytes are not secret: a pooled copy (bytes.ts), a plain Uint8Array for a Buffer too.
  if (peer.complete !== undefined) copy.complete = copyBytes ? copyInBytes(peer.complete) : peer.complete;
  return copy;
}
