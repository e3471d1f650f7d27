/**
 * The session hash and the peer record: model ↔ Redis values. 64-bit ids are decimal
 * strings, auth keys raw bytes, booleans "0"/"1" (absent = absent).
 *
 * Session hash fields (README has a redis-cli example):
 *   version, homeDcId, apiId?, takeoutId?
 *   user.id, user.dcId, user.bot, user.username?        (all absent when logged out)
 *   state.pts, state.qts, state.date, state.seq          (absent until there is a state)
 *   dcs                  JSON array of the DCs without key bytes; a DC's temp keys as
 *                        [{"index","expiresAt"}]
 *   dc.<n>.authKey       256 bytes: permanent key of dcs[n]
 *   dc.<n>.temp.<index>  256 bytes: temp key of dcs[n] in that connection slot
 *   channels             channel ids in order, comma-separated
 *   channel.<id>         pts of that channel
 */
import { CorruptDataError, int64FromStorage, type ChannelState, type DataCenter, type Peer, type PeerType, type Session, type UpdateState } from '@mtstore/core';

type Field = string | Buffer;

/** A DataCenter without key bytes (they live in their own hash fields). */
interface StoredDataCenter extends Omit<DataCenter, 'authKey' | 'tempAuthKeys'> {
  temp?: { index: number; expiresAt: number }[];
}

/** A view of the key bytes: ioredis writes Buffers as bytes, anything else as text. */
function bytes(key: Uint8Array): Buffer {
  return Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength);
}

/** HSET arguments for a whole session (the hash is deleted first: save is a full replace). */
export function encodeSession(session: Session): Field[] {
  const fields: Field[] = ['version', String(session.version), 'homeDcId', String(session.homeDcId)];
  if (session.apiId !== undefined) fields.push('apiId', String(session.apiId));
  if (session.takeoutId !== undefined) fields.push('takeoutId', session.takeoutId.toString());
  const user = session.user;
  if (user !== undefined) {
    fields.push('user.id', user.id.toString(), 'user.dcId', String(user.dcId), 'user.bot', user.bot ? '1' : '0');
    if (user.username !== undefined) fields.push('user.username', user.username);
  }
  const state = session.state;
  if (state !== undefined) {
    fields.push('state.pts', String(state.pts), 'state.qts', String(state.qts), 'state.date', String(state.date), 'state.seq', String(state.seq));
  }
  const dcs: StoredDataCenter[] = session.dcs.map((dc, n) => {
    const stored: StoredDataCenter = { id: dc.id, port: dc.port };
    if (dc.ipv4 !== undefined) stored.ipv4 = dc.ipv4;
    if (dc.ipv6 !== undefined) stored.ipv6 = dc.ipv6;
    if (dc.testMode !== undefined) stored.testMode = dc.testMode;
    if (dc.mediaOnly !== undefined) stored.mediaOnly = dc.mediaOnly;
    if (dc.authKey !== undefined) fields.push(`dc.${n}.authKey`, bytes(dc.authKey));
    if (dc.tempAuthKeys !== undefined) {
      stored.temp = dc.tempAuthKeys.map((t) => ({ index: t.index, expiresAt: t.expiresAt }));
      for (const t of dc.tempAuthKeys) fields.push(`dc.${n}.temp.${t.index}`, bytes(t.key));
    }
    return stored;
  });
  fields.push('dcs', JSON.stringify(dcs));
  fields.push('channels', session.channels.map((c) => c.id.toString()).join(','));
  for (const channel of session.channels) fields.push(`channel.${channel.id}`, String(channel.pts));
  return fields;
}

/** KEYS and ARGV of the update-state script: the session key, the four counters, then channel id / pts pairs. */
export function encodeUpdateState(key: string, state: UpdateState, channels: readonly ChannelState[]): string[] {
  const args = [key, String(state.pts), String(state.qts), String(state.date), String(state.seq)];
  for (const channel of channels) args.push(channel.id.toString(), String(channel.pts));
  return args;
}

class Decoder {
  constructor(
    readonly hash: Record<string, Buffer>,
    readonly where: string,
  ) {}

  fail(message: string): never {
    throw new CorruptDataError(`${this.where}: ${message}`);
  }

  text(field: string): string | undefined {
    return this.hash[field]?.toString('utf8');
  }

  /** A number field; checkStoredSession judges its range afterwards. */
  number(field: string): number {
    const text = this.text(field);
    return text === undefined || !/^-?\d+$/.test(text) ? Number.NaN : Number(text);
  }

  key(field: string): Buffer {
    return this.hash[field] ?? this.fail(`stored field ${field} is missing`);
  }
}

/** Reads a session hash (as returned by HGETALL); CorruptDataError names the session and field. */
export function decodeSession(hash: Record<string, Buffer>, where: string): Session {
  const d = new Decoder(hash, where);
  let stored: unknown;
  try {
    stored = JSON.parse(d.text('dcs') ?? 'null');
  } catch {
    d.fail('stored field dcs is not JSON');
  }
  if (!Array.isArray(stored)) d.fail('stored field dcs is not an array');
  const dcs = (stored as StoredDataCenter[]).map((s, n): DataCenter => {
    if (typeof s !== 'object' || s === null) d.fail(`stored dcs[${n}] is not an object`);
    const dc: DataCenter = { id: s.id, port: s.port };
    if (s.ipv4 !== undefined) dc.ipv4 = s.ipv4;
    if (s.ipv6 !== undefined) dc.ipv6 = s.ipv6;
    if (s.testMode !== undefined) dc.testMode = s.testMode;
    if (s.mediaOnly !== undefined) dc.mediaOnly = s.mediaOnly;
    const authKey = hash[`dc.${n}.authKey`];
    if (authKey !== undefined) dc.authKey = authKey;
    if (s.temp !== undefined) {
      if (!Array.isArray(s.temp)) d.fail(`stored dcs[${n}].temp is not an array`);
      dc.tempAuthKeys = s.temp.map((t) => ({ index: t?.index, key: d.key(`dc.${n}.temp.${t?.index}`), expiresAt: t?.expiresAt }));
    }
    return dc;
  });
  const order = d.text('channels') ?? d.fail('stored field channels is missing');
  const channels: ChannelState[] = order === '' ? [] : order.split(',').map((id) => {
    if (hash[`channel.${id}`] === undefined) d.fail(`stored field channel.${id} is missing`);
    return { id: int64FromStorage(id, `${where}: channel id`), pts: d.number(`channel.${id}`) };
  });
  const session: Session = { version: d.number('version') as 1, homeDcId: d.number('homeDcId'), dcs, channels };
  if (hash.apiId !== undefined) session.apiId = d.number('apiId');
  if (hash['user.id'] !== undefined) {
    session.user = {
      id: int64FromStorage(d.text('user.id'), `${where}: user.id`),
      dcId: d.number('user.dcId'),
      bot: d.text('user.bot') === '1' ? true : d.text('user.bot') === '0' ? false : d.fail('stored field user.bot is not 0 or 1'),
    };
    const username = d.text('user.username');
    if (username !== undefined) session.user.username = username;
  }
  if (hash['state.pts'] !== undefined) {
    session.state = { pts: d.number('state.pts'), qts: d.number('state.qts'), date: d.number('state.date'), seq: d.number('state.seq') };
  }
  if (hash.takeoutId !== undefined) session.takeoutId = int64FromStorage(d.text('takeoutId'), `${where}: takeoutId`);
  return session;
}

/**
 * A peer as one hash value: `<accessHash>|<updatedAt>|<min>|<phone>|<usernames>`,
 * min "" (absent), "0" or "1", phone "" when absent, usernames comma-separated as
 * given. None of the parts can contain `|` or `,` (validation allows digits, letters
 * and `_` only), so the Lua script can split and edit it.
 */
export function encodePeer(peer: Peer): string {
  const min = peer.min === undefined ? '' : peer.min ? '1' : '0';
  return `${peer.accessHash}|${peer.updatedAt}|${min}|${peer.phone ?? ''}|${peer.usernames.join(',')}`;
}

/** Reads a peer record; `key` is its field in the peers hash, `<type>:<id>`. */
export function decodePeer(key: string, record: string, where: string): Peer {
  const colon = key.indexOf(':');
  const parts = record.split('|');
  if (colon === -1 || parts.length !== 5) throw new CorruptDataError(`${where}: peer ${JSON.stringify(key)} is not an mtstore peer record`);
  const [accessHash, updatedAt, min, phone, usernames] = parts as [string, string, string, string, string];
  const peer: Peer = {
    type: key.slice(0, colon) as PeerType,
    id: int64FromStorage(key.slice(colon + 1), `${where}: peer ${JSON.stringify(key)} id`),
    accessHash: int64FromStorage(accessHash, `${where}: peer ${JSON.stringify(key)} access hash`),
    usernames: usernames === '' ? [] : usernames.split(','),
    updatedAt: /^\d+$/.test(updatedAt) ? Number(updatedAt) : Number.NaN,
  };
  if (phone !== '') peer.phone = phone;
  if (min === '1') peer.min = true;
  else if (min === '0') peer.min = false;
  else if (min !== '') throw new CorruptDataError(`${where}: peer ${JSON.stringify(key)} has min flag ${JSON.stringify(min)}`);
  return peer;
}
