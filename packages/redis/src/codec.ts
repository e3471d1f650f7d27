/**
 * Model ↔ Redis values: the session hash, the keys hash and the peer record. 64-bit
 * ids are decimal strings, auth keys raw bytes, booleans "0"/"1" (absent = absent).
 *
 * Session hash fields (README has a redis-cli example):
 *   version, homeDcId, apiId?, takeoutId?
 *   user.id, user.dcId, user.bot, user.usernames?, user.premium?   (all absent when logged out;
 *                        usernames comma-separated, "" = an empty list)
 *   state.pts, state.qts, state.date, state.seq                     (absent until there is a state)
 *   dcs                  JSON array of the DC address entries (never key bytes)
 *   channels             channel ids in order, comma-separated
 *   channel.<id>         pts of that channel
 *
 * Keys hash fields, per DC entry `dc<id>` (main) or `dc<id>.media` (media-only):
 *   <entry>.key                       256 bytes: the permanent key
 *   <entry>.temp.<index>              256 bytes: the temp key of that connection slot
 *   <entry>.temp.<index>.expiresAt    its expiry, epoch seconds
 */
import {
  CorruptDataError,
  type AuthKeyEntry,
  int64FromStorage,
  type ChannelState,
  type DataCenter,
  type Peer,
  type PeerType,
  type SelfUser,
  type Session,
  type TempAuthKey,
  type UpdateState,
} from '@mtstore/core';

export type Field = string | Buffer;

/** A view of the bytes: ioredis writes Buffers as bytes, anything else as text. */
export function bytes(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** The address part of a DC entry, as stored in the `dcs` JSON. */
function address(dc: DataCenter): DataCenter {
  const stored: DataCenter = { id: dc.id };
  if (dc.ipv4 !== undefined) stored.ipv4 = dc.ipv4;
  if (dc.ipv6 !== undefined) stored.ipv6 = dc.ipv6;
  if (dc.host !== undefined) stored.host = dc.host;
  if (dc.port !== undefined) stored.port = dc.port;
  if (dc.testMode !== undefined) stored.testMode = dc.testMode;
  if (dc.mediaOnly !== undefined) stored.mediaOnly = dc.mediaOnly;
  return stored;
}

export function encodeDcs(dcs: readonly DataCenter[]): string {
  return JSON.stringify(dcs.map(address));
}

/** Field/value pairs of the self user (the caller removes the old `user.*` fields first). */
export function encodeUser(user: SelfUser, fields: Field[]): void {
  fields.push('user.id', user.id.toString(), 'user.dcId', String(user.dcId), 'user.bot', user.bot ? '1' : '0');
  if (user.usernames !== undefined) fields.push('user.usernames', user.usernames.join(','));
  if (user.premium !== undefined) fields.push('user.premium', user.premium ? '1' : '0');
}

/** Every `user.*` field any layout wrote: a new user replaces all of them. */
export const USER_FIELDS = ['user.id', 'user.dcId', 'user.bot', 'user.usernames', 'user.premium', 'user.username'] as const;

export const STATE_FIELDS = ['state.pts', 'state.qts', 'state.date', 'state.seq'] as const;

/** Field/value pairs of the update state. */
export function encodeState(state: UpdateState, fields: Field[]): void {
  fields.push('state.pts', String(state.pts), 'state.qts', String(state.qts), 'state.date', String(state.date), 'state.seq', String(state.seq));
}

/** Field/value pairs of the channels: the `channels` order and each `channel.<id>`. */
export function encodeChannels(channels: readonly ChannelState[], fields: Field[]): void {
  fields.push('channels', channels.map((c) => c.id.toString()).join(','));
  for (const channel of channels) fields.push(`channel.${channel.id}`, String(channel.pts));
}

/** HSET arguments for a whole snapshot, key bytes excluded (the hash is deleted first: save is a full replace). */
export function encodeSession(session: Session): Field[] {
  const fields: Field[] = ['version', String(session.version), 'homeDcId', String(session.homeDcId)];
  if (session.apiId !== undefined) fields.push('apiId', String(session.apiId));
  if (session.takeoutId !== undefined) fields.push('takeoutId', session.takeoutId.toString());
  if (session.user !== undefined) encodeUser(session.user, fields);
  if (session.state !== undefined) encodeState(session.state, fields);
  fields.push('dcs', encodeDcs(session.dcs));
  encodeChannels(session.channels, fields);
  return fields;
}

/** The keys-hash field prefix of a DC entry. */
export function entryField(dcId: number, mediaOnly: boolean | undefined): string {
  return mediaOnly === true ? `dc${dcId}.media.` : `dc${dcId}.`;
}

/** HSET arguments for every key the snapshot's entries carry. */
export function encodeKeys(dcs: readonly DataCenter[]): Field[] {
  const fields: Field[] = [];
  for (const dc of dcs) {
    const entry = entryField(dc.id, dc.mediaOnly);
    if (dc.authKey !== undefined) fields.push(`${entry}key`, bytes(dc.authKey));
    for (const temp of dc.tempAuthKeys ?? []) fields.push(...tempFields(entry, temp));
  }
  return fields;
}

/** The two fields of a temp key: the bytes and their expiry. */
export function tempFields(entry: string, temp: TempAuthKey): Field[] {
  return [`${entry}temp.${temp.index}`, bytes(temp.key), `${entry}temp.${temp.index}.expiresAt`, String(temp.expiresAt)];
}

/** KEYS and ARGV of the update-state script: the session key, the four counters, then channel id / pts pairs. */
export function encodeUpdateState(key: string, state: UpdateState, channels: readonly ChannelState[]): string[] {
  const args = [key, String(state.pts), String(state.qts), String(state.date), String(state.seq)];
  for (const channel of channels) args.push(channel.id.toString(), String(channel.pts));
  return args;
}

/** A number field; the stored-data checks judge its range afterwards. */
export function decimal(text: string | undefined): number {
  return text === undefined || !/^-?\d+$/.test(text) ? Number.NaN : Number(text);
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

  number(field: string): number {
    return decimal(this.text(field));
  }

  flag(field: string): boolean | undefined {
    const text = this.text(field);
    if (text === undefined) return undefined;
    return text === '1' ? true : text === '0' ? false : this.fail(`stored field ${field} is not 0 or 1`);
  }
}

/** The keys of one DC entry, read from the keys hash. */
interface EntryKeys {
  dcId: number;
  mediaOnly: boolean;
  key?: Buffer;
  temps: Map<number, { key?: Buffer; expiresAt?: number }>;
}

// DC ids go to 1000, temp slots to 2^31-1 (ten digits).
const KEY_FIELD = /^dc(\d{1,4})(\.media)?\.(?:key|temp\.(\d{1,10})(\.expiresAt)?)$/;

/** Groups the keys hash by DC entry (`<id>` or `<id>.media`), in no particular order. */
export function decodeKeys(hash: Record<string, Buffer>, where: string): Map<string, EntryKeys> {
  const entries = new Map<string, EntryKeys>();
  for (const field in hash) {
    const match = KEY_FIELD.exec(field);
    if (match === null) throw new CorruptDataError(`${where}: stored key field ${JSON.stringify(field)} is not an mtstore key field`);
    const [, dc, media, index, expiry] = match;
    const id = media === undefined ? (dc as string) : `${dc}.media`;
    let entry = entries.get(id);
    if (entry === undefined) entries.set(id, (entry = { dcId: Number(dc), mediaOnly: media !== undefined, temps: new Map() }));
    const value = hash[field] as Buffer;
    if (index === undefined) {
      entry.key = value;
      continue;
    }
    let temp = entry.temps.get(Number(index));
    if (temp === undefined) entry.temps.set(Number(index), (temp = {}));
    if (expiry === undefined) temp.key = value;
    else temp.expiresAt = decimal(value.toString('latin1'));
  }
  return entries;
}

/** Puts an entry's keys on `dc`: temp keys ordered by slot index. */
function attachKeys(dc: DataCenter, keys: EntryKeys, where: string): DataCenter {
  if (keys.key !== undefined) dc.authKey = keys.key;
  if (keys.temps.size > 0) {
    const temps: TempAuthKey[] = [];
    for (const [index, temp] of [...keys.temps].sort(([a], [b]) => a - b)) {
      const field = `${entryField(dc.id, dc.mediaOnly)}temp.${index}`;
      if (temp.key === undefined) throw new CorruptDataError(`${where}: stored key field ${field} is missing`);
      if (temp.expiresAt === undefined) throw new CorruptDataError(`${where}: stored key field ${field}.expiresAt is missing`);
      temps.push({ index, key: temp.key, expiresAt: temp.expiresAt });
    }
    dc.tempAuthKeys = temps;
  }
  return dc;
}

/** Every entry of the keys hash that holds a key: by DC id, main before media-only, temp keys by index. */
export function decodeKeyEntries(hash: Record<string, Buffer>, where: string): AuthKeyEntry[] {
  return [...decodeKeys(hash, where).values()]
    .sort((a, b) => a.dcId - b.dcId || Number(a.mediaOnly) - Number(b.mediaOnly))
    .map((keys) => {
      const dc = attachKeys(keys.mediaOnly ? { id: keys.dcId, mediaOnly: true } : { id: keys.dcId }, keys, where);
      const entry: AuthKeyEntry = { dcId: keys.dcId, mediaOnly: keys.mediaOnly, tempAuthKeys: dc.tempAuthKeys ?? [] };
      if (dc.authKey !== undefined) entry.authKey = dc.authKey;
      return entry;
    });
}

/**
 * Reads a session (the snapshot hash and the keys hash, as returned by HGETALL). Keys
 * of an entry the snapshot lacks become address-less entries after the stored ones,
 * by DC id, main before media. CorruptDataError names the session and field.
 */
export function decodeSession(hash: Record<string, Buffer>, keyHash: Record<string, Buffer>, where: string): Session {
  const d = new Decoder(hash, where);
  let stored: unknown;
  try {
    stored = JSON.parse(d.text('dcs') ?? 'null');
  } catch {
    d.fail('stored field dcs is not JSON');
  }
  if (!Array.isArray(stored)) d.fail('stored field dcs is not an array');
  const keys = decodeKeys(keyHash, where);
  const dcs = (stored as DataCenter[]).map((s, n): DataCenter => {
    if (typeof s !== 'object' || s === null) d.fail(`stored dcs[${n}] is not an object`);
    const dc = address(s);
    const id = dc.mediaOnly === true ? `${dc.id}.media` : String(dc.id);
    const entry = keys.get(id);
    if (entry === undefined) return dc;
    keys.delete(id);
    return attachKeys(dc, entry, where);
  });
  const orphans = [...keys.values()].sort((a, b) => a.dcId - b.dcId || Number(a.mediaOnly) - Number(b.mediaOnly));
  for (const entry of orphans) {
    const dc: DataCenter = { id: entry.dcId };
    if (entry.mediaOnly) dc.mediaOnly = true;
    dcs.push(attachKeys(dc, entry, where));
  }
  const order = d.text('channels') ?? d.fail('stored field channels is missing');
  const channels: ChannelState[] =
    order === ''
      ? []
      : order.split(',').map((id) => {
          if (hash[`channel.${id}`] === undefined) d.fail(`stored field channel.${id} is missing`);
          return { id: int64FromStorage(id, `${where}: channel id`), pts: d.number(`channel.${id}`) };
        });
  const session: Session = { version: d.number('version') as 1, homeDcId: d.number('homeDcId'), dcs, channels };
  if (hash.apiId !== undefined) session.apiId = d.number('apiId');
  // Any one field means a user (or a state) was stored: a hash edited to lose one is
  // damaged, not logged out (the kit's tamper hook: user-without-id, state-without-pts).
  if (hash['user.id'] !== undefined || hash['user.dcId'] !== undefined || hash['user.bot'] !== undefined || hash['user.usernames'] !== undefined || hash['user.premium'] !== undefined) {
    const user: SelfUser = {
      id: int64FromStorage(d.text('user.id'), `${where}: user.id`),
      dcId: d.number('user.dcId'),
      bot: d.flag('user.bot') ?? d.fail('stored field user.bot is missing'),
    };
    const usernames = d.text('user.usernames');
    if (usernames !== undefined) user.usernames = usernames === '' ? [] : usernames.split(',');
    const premium = d.flag('user.premium');
    if (premium !== undefined) user.premium = premium;
    session.user = user;
  }
  if (hash['state.pts'] !== undefined || hash['state.qts'] !== undefined || hash['state.date'] !== undefined || hash['state.seq'] !== undefined) {
    session.state = { pts: d.number('state.pts'), qts: d.number('state.qts'), date: d.number('state.date'), seq: d.number('state.seq') };
  }
  if (hash.takeoutId !== undefined) session.takeoutId = int64FromStorage(d.text('takeoutId'), `${where}: takeoutId`);
  return session;
}

/**
 * A peer as one hash value: `<accessHash>|<updatedAt>|<min>|<phone>|<usernames>[|<displayName>]`,
 * min "" (absent), "0" or "1", phone "" when absent, usernames comma-separated as
 * given. None of the first five parts can contain `|` or `,` (validation allows
 * digits, letters and `_` only); the display name is everything after the fifth `|`
 * (it may hold any character), and the whole sixth part is absent when the peer has
 * none — which is also how every layout-1 record reads. The TL bytes (`complete`)
 * live in their own hash.
 */
export function encodePeer(peer: Peer): string {
  const min = peer.min === undefined ? '' : peer.min ? '1' : '0';
  const record = `${peer.accessHash}|${peer.updatedAt}|${min}|${peer.phone ?? ''}|${peer.usernames.join(',')}`;
  return peer.displayName === undefined ? record : `${record}|${peer.displayName}`;
}

/** Reads a peer record; `key` is its field in the peers hash, `<type>:<id>`. */
export function decodePeer(key: string, record: string, complete: Uint8Array | undefined, where: string): Peer {
  const colon = key.indexOf(':');
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < 5; i++) {
    const bar = record.indexOf('|', start);
    if (bar === -1) {
      parts.push(record.slice(start));
      start = -1;
      break;
    }
    parts.push(record.slice(start, bar));
    start = bar + 1;
  }
  if (colon === -1 || parts.length !== 5) throw new CorruptDataError(`${where}: peer ${JSON.stringify(key)} is not an mtstore peer record`);
  const [accessHash, updatedAt, min, phone, usernames] = parts as [string, string, string, string, string];
  const peer: Peer = {
    type: key.slice(0, colon) as PeerType,
    // Labels as functions: built only if the check fails, not on every peer read.
    id: int64FromStorage(key.slice(colon + 1), () => `${where}: peer ${JSON.stringify(key)} id`),
    accessHash: int64FromStorage(accessHash, () => `${where}: peer ${JSON.stringify(key)} access hash`),
    usernames: usernames === '' ? [] : usernames.split(','),
    updatedAt: /^\d+$/.test(updatedAt) ? Number(updatedAt) : Number.NaN,
  };
  if (phone !== '') peer.phone = phone;
  if (min === '1') peer.min = true;
  else if (min === '0') peer.min = false;
  else if (min !== '') throw new CorruptDataError(`${where}: peer ${JSON.stringify(key)} has min flag ${JSON.stringify(min)}`);
  if (start !== -1) peer.displayName = record.slice(start);
  if (complete !== undefined) peer.complete = complete;
  return peer;
}
