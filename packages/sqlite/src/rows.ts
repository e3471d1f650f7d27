/**
 * Rows → model. Statements read with safe integers, so every INTEGER arrives as a
 * bigint. 64-bit ids go through core's `int64FromStorage`; everything else is
 * converted without judging it and checked once by core's `checkStoredSession` /
 * `checkStoredPeer`, so a hand-edited row becomes a CorruptDataError naming the
 * session instead of a crash or a silently wrong value.
 */
import { CorruptDataError, int64FromStorage, type DataCenter, type Peer, type PeerType, type Session, type TempAuthKey } from '@mtstore/core';

export interface SessionRow {
  id: bigint;
  version: unknown;
  home_dc_id: unknown;
  api_id: unknown;
  user_id: unknown;
  user_dc_id: unknown;
  user_bot: unknown;
  user_username: unknown;
  state_pts: unknown;
  state_qts: unknown;
  state_date: unknown;
  state_seq: unknown;
  takeout_id: unknown;
}

export interface DcRow {
  position: unknown;
  dc_id: unknown;
  ipv4: unknown;
  ipv6: unknown;
  port: unknown;
  test_mode: unknown;
  media_only: unknown;
  auth_key: unknown;
  temp_key_count: unknown;
}

export interface TempKeyRow {
  dc_position: unknown;
  key_index: unknown;
  auth_key: unknown;
  expires_at: unknown;
}

export interface ChannelRow {
  channel_id: unknown;
  pts: unknown;
}

export interface PeerRow {
  type: unknown;
  id: unknown;
  access_hash: unknown;
  phone: unknown;
  min: unknown;
  updated_at: unknown;
  /** The usernames in order, joined by spaces (usernames cannot contain one); NULL for none. */
  usernames: unknown;
}

export interface SessionRows {
  session: SessionRow;
  dcs: DcRow[];
  tempKeys: TempKeyRow[];
  channels: ChannelRow[];
}

/** A small integer column. Anything that is not an integer is passed on for the checker to reject. */
function num(value: unknown): number {
  return (typeof value === 'bigint' ? Number(value) : value) as number;
}

/** Nullable 0/1 column: NULL is "absent". Anything else is passed on for the checker to reject. */
function flag(value: unknown): boolean | undefined {
  if (value === null) return undefined;
  if (value === 0n) return false;
  if (value === 1n) return true;
  return value as boolean;
}

/** Model boolean → column value (better-sqlite3 binds no booleans). */
export function bit(value: boolean | undefined): 0 | 1 | null {
  return value === undefined ? null : value ? 1 : 0;
}

function dcFromRow(row: DcRow): DataCenter {
  const dc: DataCenter = { id: num(row.dc_id), port: num(row.port) };
  if (row.ipv4 !== null) dc.ipv4 = row.ipv4 as string;
  if (row.ipv6 !== null) dc.ipv6 = row.ipv6 as string;
  const testMode = flag(row.test_mode);
  if (testMode !== undefined) dc.testMode = testMode;
  const mediaOnly = flag(row.media_only);
  if (mediaOnly !== undefined) dc.mediaOnly = mediaOnly;
  if (row.auth_key !== null) dc.authKey = row.auth_key as Uint8Array;
  if (row.temp_key_count !== null) dc.tempAuthKeys = [];
  return dc;
}

/** The rows of one session → a Session for `checkStoredSession`. `where` names the session. */
export function sessionFromRows(rows: SessionRows, where: string): Session {
  const { session: row } = rows;
  const byPosition = new Map<unknown, DataCenter>();
  const dcs = rows.dcs.map((dcRow) => {
    const dc = dcFromRow(dcRow);
    byPosition.set(dcRow.position, dc);
    return dc;
  });
  for (const key of rows.tempKeys) {
    const temps = byPosition.get(key.dc_position)?.tempAuthKeys;
    if (temps === undefined) throw new CorruptDataError(`${where}: a temp auth key belongs to DC position ${String(key.dc_position)}, which lists no temp keys`);
    const temp: TempAuthKey = { index: num(key.key_index), key: key.auth_key as Uint8Array, expiresAt: num(key.expires_at) };
    temps.push(temp);
  }
  rows.dcs.forEach((dcRow, i) => {
    const found = dcs[i]?.tempAuthKeys?.length;
    if (found !== undefined && found !== num(dcRow.temp_key_count)) {
      throw new CorruptDataError(`${where}: DC ${String(dcs[i]?.id)} lists ${String(dcRow.temp_key_count)} temp auth keys, ${found} are stored`);
    }
  });

  const session: Session = {
    version: num(row.version) as 1,
    homeDcId: num(row.home_dc_id),
    dcs,
    channels: rows.channels.map((c) => ({ id: int64FromStorage(c.channel_id, `${where}: channel id`), pts: num(c.pts) })),
  };
  if (row.api_id !== null) session.apiId = num(row.api_id);
  if (row.user_id !== null || row.user_dc_id !== null || row.user_bot !== null || row.user_username !== null) {
    session.user = { id: int64FromStorage(row.user_id, `${where}: user id`), dcId: num(row.user_dc_id), bot: flag(row.user_bot) as boolean };
    if (row.user_username !== null) session.user.username = row.user_username as string;
  }
  if (row.state_pts !== null || row.state_qts !== null || row.state_date !== null || row.state_seq !== null) {
    session.state = { pts: num(row.state_pts), qts: num(row.state_qts), date: num(row.state_date), seq: num(row.state_seq) };
  }
  if (row.takeout_id !== null) session.takeoutId = int64FromStorage(row.takeout_id, `${where}: takeout id`);
  return session;
}

/** A peer row → a Peer for `checkStoredPeer`. `where` names the session. */
export function peerFromRow(row: PeerRow, where: string): Peer {
  const at = `${where}: peer ${String(row.type)}`;
  const peer: Peer = {
    type: row.type as PeerType,
    id: int64FromStorage(row.id, `${at} id`),
    accessHash: int64FromStorage(row.access_hash, `${at} access hash`),
    usernames: row.usernames === null ? [] : String(row.usernames).split(' '),
    updatedAt: num(row.updated_at),
  };
  if (row.phone !== null) peer.phone = row.phone as string;
  const min = flag(row.min);
  if (min !== undefined) peer.min = min;
  return peer;
}
