/**
 * mtcute's SQLite storage (@mtcute/node SqliteStorage, @mtcute/bun, ...). Tables:
 *   auth_keys(dc, key), temp_auth_keys(dc, idx, key, expires ms)
 *   key_value(key, value): dc_main / dc_media (basic DC options), current_user,
 *     updates_pts / _qts / _date / _seq (int32 LE), updates_channel:<id> (uint32 LE),
 *     and entries without a typed field (salts:<dc>, ...) which go to `kv`
 *   peers(id marked, hash "low|high", usernames json, updated ms, phone, complete TL, isMin)
 *   message_refs(peer_id, chat_id, msg_id)
 */
import { type ChannelState, type DataCenter, type KeyValueEntry, type Peer, type SelfUser, type Session, MAX_COMPLETE_BYTES } from '@mtstore/core';
import { copyBytes, int64Column, keyFrom } from './bytes.js';
import { checkSession, cleanEpoch, cleanPhone, cleanUsernames, peerIdentity } from './common.js';
import { invalid } from './errors.js';
import { dcFromOption, parseBasicDcOption } from './mtcute.js';
import { rowsOldestFirst, type SqliteDatabase, type SqliteSchema } from './sqlite.js';
import type { SessionSource } from './stream.js';
import { TlReader } from './tl.js';
import type { ConvertedRefMessage } from './types.js';

const FORMAT = 'mtcute session file';

type Row = Record<string, unknown>;

/** mtcute's "fast string" of a Long: `${low}|${high}` (both signed 32-bit). */
export function longFromFastString(text: string): bigint | null {
  const match = /^(-?\d+)\|(-?\d+)$/.exec(text);
  if (match === null) return null;
  const low = BigInt.asUintN(32, BigInt(match[1]!));
  const high = BigInt(match[2]!);
  return BigInt.asIntN(64, (high << 32n) | low);
}

export function longToFastString(value: bigint): string {
  const low = Number(BigInt.asIntN(32, value));
  const high = Number(BigInt.asIntN(32, value >> 32n));
  return `${low}|${high}`;
}

function parseCurrentUser(data: Uint8Array, dcId: number, warnings: string[]): SelfUser | null {
  if (data.length === 0) return null;
  const reader = new TlReader(data);
  // mtcute reads a current_user of another version as no user (it fetches itself again).
  if (reader.int32() !== 1) {
    warnings.push('current_user not read: an unknown version (the client fetches its user again)');
    return null;
  }
  const flags = reader.int32();
  const id = reader.int53();
  const user: SelfUser = { id, dcId, bot: (flags & 1) !== 0 };
  if (flags & 4) user.premium = true;
  if (flags & 2) {
    const count = reader.int32();
    // mtcute keeps the names as it got them: one mtstore cannot store is dropped, not the file.
    const names = cleanUsernames(Array.from({ length: count }, () => reader.string()), 'current_user', warnings);
    if (names.length > 0) user.usernames = names;
  }
  return user;
}

function int32le(data: Uint8Array, signed: boolean): number {
  if (data.length < 4) throw invalid(FORMAT, 'an update state entry is shorter than 4 bytes');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return signed ? view.getInt32(0, true) : view.getUint32(0, true);
}

/** The session (keys, state, self user) and kv entries at once; peers oldest first and reference messages as they are read. */
export function openMtcuteDatabase(db: SqliteDatabase, schema: SqliteSchema): SessionSource {
  const kvRows = db.prepare('select key, value from key_value order by key').all() as Row[];
  const kvMap = new Map<string, Uint8Array>();
  for (const row of kvRows) {
    const value = copyBytes(row.value);
    if (typeof row.key === 'string' && value !== null) kvMap.set(row.key, value);
  }
  const mainData = kvMap.get('dc_main');
  if (mainData === undefined) throw invalid(FORMAT, 'it has no dc_main entry (the client never started)');
  const main = parseBasicDcOption(mainData, FORMAT);
  const mediaData = kvMap.get('dc_media');
  const homeDcId = main.id;
  const dcs: DataCenter[] = [dcFromOption(main, false, FORMAT)];
  if (mediaData !== undefined) dcs.push(dcFromOption(parseBasicDcOption(mediaData, FORMAT), true, FORMAT));

  const entryFor = (dcId: number): DataCenter => {
    let dc = dcs.find((d) => d.id === dcId && !d.mediaOnly);
    if (dc === undefined) {
      dc = { id: dcId, ...(main.testMode ? { testMode: true } : {}) };
      dcs.push(dc);
    }
    return dc;
  };
  for (const row of db.prepare('select dc, key from auth_keys order by dc').all() as Row[]) {
    const key = copyBytes(row.key);
    if (key === null) continue;
    entryFor(Number(int64Column(row.dc))).authKey = keyFrom(key, FORMAT, `auth_keys row of DC ${String(row.dc)}`);
  }
  if (schema.temp_auth_keys !== undefined) {
    for (const row of db.prepare('select dc, idx, key, expires from temp_auth_keys order by dc, idx').all() as Row[]) {
      const key = copyBytes(row.key);
      if (key === null) continue;
      const dc = entryFor(Number(int64Column(row.dc)));
      (dc.tempAuthKeys ??= []).push({
        index: Number(int64Column(row.idx)),
        key: keyFrom(key, FORMAT, `temp_auth_keys row of DC ${String(row.dc)}`),
        expiresAt: Math.floor(Number(int64Column(row.expires) ?? 0n) / 1000),
      });
    }
  }

  const session: Session = { version: 1, homeDcId, dcs, channels: [] };
  const kv: KeyValueEntry[] = [];
  const state: Partial<Record<'pts' | 'qts' | 'date' | 'seq', number>> = {};
  const warnings: string[] = [];
  const channels: ChannelState[] = [];
  for (const [key, value] of kvMap) {
    if (key === 'dc_main' || key === 'dc_media') continue;
    if (key === 'current_user') {
      const user = parseCurrentUser(value, homeDcId, warnings);
      if (user) session.user = user;
    } else if (key === 'updates_pts' || key === 'updates_qts' || key === 'updates_date' || key === 'updates_seq') {
      state[key.slice(8) as 'pts'] = int32le(value, true);
    } else if (key.startsWith('updates_channel:')) {
      const id = key.slice('updates_channel:'.length);
      if (!/^\d+$/.test(id)) throw invalid(FORMAT, `key_value has a bad channel key`);
      channels.push({ id: BigInt(id), pts: int32le(value, false) });
    } else kv.push({ key, value });
  }
  // mtcute reads the state only when all four counters are there (getState() is null
  // otherwise, and it fetches a fresh one): a made-up qts, date or seq would make the client
  // skip or replay updates.
  if (state.pts !== undefined && state.qts !== undefined && state.date !== undefined && state.seq !== undefined) {
    session.state = { pts: state.pts, qts: state.qts, date: state.date, seq: state.seq };
  } else if (Object.keys(state).length > 0) warnings.push('update state not read: a counter is missing (the client fetches a fresh state)');
  session.channels = channels.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  checkSession('mtcute-sqlite', session);

  const hasMin = schema.peers?.includes('isMin') === true;
  function* peers(): Generator<Peer> {
    if (schema.peers === undefined) return;
    // Oldest first by mtcute's `updated` column: a stale row still naming a username or phone
    // another peer took since is stored before it (the file's order is the marked id's).
    const query = (orderBy: string) => `select id, hash, usernames, updated, phone, complete${hasMin ? ', isMin' : ''} from peers order by ${orderBy}`;
    for (const row of rowsOldestFirst(db, query, { time: 'updated', rowid: 'rowid' }, seenAt)) {
      const peer = peerOf(row, hasMin, warnings);
      if (peer !== null) yield peer;
    }
  }
  function* refMessages(): Generator<ConvertedRefMessage> {
    if (schema.message_refs === undefined) return;
    for (const row of db.prepare('select peer_id, chat_id, msg_id from message_refs').iterate() as IterableIterator<Row>) {
      const peerId = int64Column(row.peer_id);
      const chatId = int64Column(row.chat_id);
      const messageId = int64Column(row.msg_id);
      if (peerId !== null && chatId !== null && messageId !== null) yield { peerId, chatId, messageId: Number(messageId) };
    }
  }
  const peerRows = schema.peers === undefined ? 0 : Number(db.prepare('select count(*) from peers').pluck().get());
  return { format: 'mtcute-sqlite', layout: 'sqlite', session, kv, peerRows, warnings, peers, refMessages };
}

/** A row's time as its peer stores it (mtcute's milliseconds as seconds; the ordering and the peer use this one function). */
function seenAt(updated: unknown): number {
  return cleanEpoch(Math.floor(Number(int64Column(updated) ?? 0n) / 1000));
}

/** The peer a peers row names, or null when it is skipped with a warning. */
function peerOf(row: Row, hasMin: boolean, warnings: string[]): Peer | null {
  const marked = int64Column(row.id);
  const hash = typeof row.hash === 'string' && row.hash !== '' ? longFromFastString(row.hash) : 0n;
  const identity = peerIdentity(marked, hash, 'peers row', warnings);
  if (identity === null) return null;
  const where = `peers row ${marked}`;
  let names: unknown[] = [];
  try {
    const parsed: unknown = JSON.parse(String(row.usernames ?? '[]'));
    if (Array.isArray(parsed)) names = parsed;
  } catch {
    warnings.push(`${where}: usernames dropped (not a JSON list)`);
  }
  const peer: Peer = { ...identity, usernames: cleanUsernames(names, where, warnings), updatedAt: seenAt(row.updated) };
  const phone = cleanPhone(row.phone, where, warnings);
  if (phone !== undefined) peer.phone = phone;
  if (hasMin && int64Column(row.isMin) === 1n) peer.min = true;
  const complete = copyBytes(row.complete);
  if (complete !== null && complete.length > 0 && complete.length <= MAX_COMPLETE_BYTES) peer.complete = complete;
  return peer;
}
