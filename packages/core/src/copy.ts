/**
 * Deep copies of model objects holding only the fields the model defines, for
 * adapters that keep objects rather than rows (memory) or serialize whole objects.
 * Optional fields that are undefined are left out; `false` stays `false` (the round
 * trip is exact: absent, false and true are three different stored values).
 */
import type { DataCenter, Peer, Session } from './model.js';

function copyDataCenter(dc: DataCenter): DataCenter {
  const copy: DataCenter = { id: dc.id, port: dc.port };
  if (dc.ipv4 !== undefined) copy.ipv4 = dc.ipv4;
  if (dc.ipv6 !== undefined) copy.ipv6 = dc.ipv6;
  if (dc.testMode !== undefined) copy.testMode = dc.testMode;
  if (dc.mediaOnly !== undefined) copy.mediaOnly = dc.mediaOnly;
  if (dc.authKey !== undefined) copy.authKey = new Uint8Array(dc.authKey);
  if (dc.tempAuthKeys !== undefined) {
    copy.tempAuthKeys = dc.tempAuthKeys.map((t) => ({ index: t.index, key: new Uint8Array(t.key), expiresAt: t.expiresAt }));
  }
  return copy;
}

export function copySession(session: Session): Session {
  const copy: Session = {
    version: 1,
    homeDcId: session.homeDcId,
    dcs: session.dcs.map(copyDataCenter),
    channels: session.channels.map((c) => ({ id: c.id, pts: c.pts })),
  };
  if (session.apiId !== undefined) copy.apiId = session.apiId;
  if (session.user !== undefined) {
    const { id, dcId, bot, username } = session.user;
    copy.user = username === undefined ? { id, dcId, bot } : { id, dcId, bot, username };
  }
  if (session.state !== undefined) {
    const { pts, qts, date, seq } = session.state;
    copy.state = { pts, qts, date, seq };
  }
  if (session.takeoutId !== undefined) copy.takeoutId = session.takeoutId;
  return copy;
}

export function copyPeer(peer: Peer): Peer {
  const copy: Peer = {
    type: peer.type,
    id: peer.id,
    accessHash: peer.accessHash,
    usernames: [...peer.usernames],
    updatedAt: peer.updatedAt,
  };
  if (peer.phone !== undefined) copy.phone = peer.phone;
  if (peer.min !== undefined) copy.min = peer.min;
  return copy;
}
