/**
 * Pyrogram's FileStorage (schema 2 and 3). Tables:
 *   sessions(dc_id, api_id, test_mode, auth_key, date, user_id, is_bot) — one row
 *   peers(id, access_hash, type, username, phone_number, last_update_on) — id is marked,
 *        type one of user, bot, group, channel, supergroup
 * Schema 2 lacks api_id. No DC address is stored.
 */
import { fromMarkedId, type Peer, type PeerType, type Session } from '@mtstore/core';
import { copyBytes, int64Column, keyFrom } from './bytes.js';
import { finish, oldestFirst } from './common.js';
import { invalid } from './errors.js';
import type { SqliteDatabase, SqliteSchema } from './sqlite.js';
import type { ConvertedSession } from './types.js';

const FORMAT = 'Pyrogram session file';

const TYPES: Record<string, PeerType> = { user: 'user', bot: 'user', group: 'chat', channel: 'channel', supergroup: 'channel' };

type Row = Record<string, unknown>;

export function readPyrogramDatabase(db: SqliteDatabase, schema: SqliteSchema): ConvertedSession {
  const version = int64Column(db.prepare('select number from version').pluck().get());
  const rows = db.prepare('select * from sessions').all() as Row[];
  if (rows.length !== 1) throw invalid(FORMAT, `the sessions table has ${rows.length} rows, Pyrogram keeps one`);
  const row = rows[0]!;
  const dcId = Number(int64Column(row.dc_id) ?? 0);
  if (dcId < 1) throw invalid(FORMAT, 'sessions.dc_id is missing');
  const testMode = int64Column(row.test_mode) === 1n;
  const dc: Session['dcs'][number] = { id: dcId, ...(testMode ? { testMode } : {}) };
  const key = copyBytes(row.auth_key);
  if (key !== null && key.length > 0) dc.authKey = keyFrom(key, FORMAT, 'sessions.auth_key');
  const session: Session = { version: 1, homeDcId: dcId, dcs: [dc], channels: [] };
  const apiId = schema.sessions?.includes('api_id') ? int64Column(row.api_id) : null;
  if (apiId !== null && apiId > 0n) session.apiId = Number(apiId);
  const userId = int64Column(row.user_id);
  if (userId !== null && userId > 0n) session.user = { id: userId, dcId, bot: int64Column(row.is_bot) === 1n };

  const peers: Peer[] = [];
  for (const p of db.prepare('select id, access_hash, type, username, phone_number, last_update_on from peers').all() as Row[]) {
    const marked = int64Column(p.id);
    if (marked === null) throw invalid(FORMAT, 'a peers row has no id');
    let unmarked;
    try {
      unmarked = fromMarkedId(marked);
    } catch (error) {
      throw invalid(FORMAT, `peers id ${marked} is not a marked user, chat or channel id`, error);
    }
    const declared = TYPES[String(p.type)];
    if (declared !== undefined && declared !== unmarked.type) throw invalid(FORMAT, `peer ${marked} has type ${String(p.type)} but a ${unmarked.type} id`);
    const peer: Peer = {
      type: unmarked.type,
      id: unmarked.id,
      accessHash: int64Column(p.access_hash) ?? 0n,
      usernames: typeof p.username === 'string' && p.username !== '' ? [p.username] : [],
      updatedAt: Number(int64Column(p.last_update_on) ?? 0n),
    };
    if (typeof p.phone_number === 'string' && /^\d{1,20}$/.test(p.phone_number)) peer.phone = p.phone_number;
    peers.push(peer);
  }
  return finish('pyrogram-sqlite', `schema ${version ?? 'unknown'}`, session, oldestFirst(peers));
}
