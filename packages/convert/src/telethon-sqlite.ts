/**
 * Telethon's SQLiteSession file, schema version 7 and the older ones Telethon upgrades
 * from: update_state came with 4, sessions.takeout_id with 5, entities.date with 7
 * (each is then absent). Tables:
 *   sessions(dc_id, server_address, port, auth_key, takeout_id)  — one row
 *   entities(id, hash, username, phone, name, date)              — id is a marked id
 *   update_state(id, pts, qts, date, seq)                         — id 0: the account, else channel ids
 * The entities row with id 0 is Telethon's "self" hack: its hash column is the id of
 * the logged-in user. Telethon does not record whether that user is a bot.
 */
import { type ChannelState, type Peer, type Session, type UpdateState } from '@mtstore/core';
import { int64Column, keyColumn, keyFrom, normalizeIpv6, isIpv4 } from './bytes.js';
import { checkSession, cleanDisplayName, cleanEpoch, cleanPhone, cleanUsernames, peerIdentity } from './common.js';
import { isTestAddress } from './dcs.js';
import { invalid } from './errors.js';
import { rowsOldestFirst, type SqliteDatabase, type SqliteSchema } from './sqlite.js';
import type { SessionSource } from './stream.js';
import type { ParseOptions } from './types.js';

const FORMAT = 'Telethon session file';

type Row = Record<string, unknown>;

function num(value: unknown, field: string): number {
  const v = int64Column(value);
  if (v === null) throw invalid(FORMAT, `${field} is not an integer`);
  return Number(v);
}

/** A 0..2^31-1 counter (pts, qts, seq), or -1 when the column holds none. */
function counter(value: unknown): number {
  const v = int64Column(value);
  return v !== null && v >= 0n && v <= 2_147_483_647n ? Number(v) : -1;
}

/** Telethon writes update_state.date as an integer, or (through sqlite3's adapter) as text. */
function epoch(value: unknown): number {
  const v = int64Column(value);
  if (v !== null) return Number(v);
  if (typeof value === 'string') {
    const ms = Date.parse(value.includes('T') || value.endsWith('Z') ? value : `${value.replace(' ', 'T')}Z`);
    if (Number.isFinite(ms)) return Math.floor(ms / 1000);
  }
  if (typeof value === 'number' && Number.isFinite(value)) return Math.floor(value);
  return 0;
}

/** A row's time as its peer stores it (the ordering and the peer use this one function). */
function seenAt(date: unknown): number {
  return cleanEpoch(epoch(date));
}

/**
 * The session (with the self user of the entities row with id 0, and the update state) at
 * once; the other entities as peers, oldest first, as they are read.
 */
export function openTelethonDatabase(db: SqliteDatabase, schema: SqliteSchema, options: ParseOptions = {}): SessionSource {
  const version = int64Column(db.prepare('select version from version').pluck().get());
  const rows = db.prepare('select * from sessions').all() as Row[];
  if (rows.length === 0) throw invalid(FORMAT, 'the sessions table is empty (never connected)');
  if (rows.length > 1) throw invalid(FORMAT, `the sessions table has ${rows.length} rows, Telethon keeps one`);
  const row = rows[0]!;
  const dcId = num(row.dc_id, 'sessions.dc_id');
  const dc: Session['dcs'][number] = { id: dcId };
  const address = typeof row.server_address === 'string' ? row.server_address : null;
  if (address !== null) {
    if (isIpv4(address)) dc.ipv4 = address;
    else {
      const v6 = normalizeIpv6(address);
      if (v6 === null) throw invalid(FORMAT, 'sessions.server_address is not an IP address');
      dc.ipv6 = v6;
    }
    dc.port = num(row.port, 'sessions.port');
    if (isTestAddress(dc.ipv4 ?? dc.ipv6)) dc.testMode = true;
  }
  const key = keyColumn(row.auth_key, FORMAT, 'sessions.auth_key');
  if (key !== null) dc.authKey = keyFrom(key, FORMAT, 'sessions.auth_key');
  const session: Session = { version: 1, homeDcId: dcId, dcs: [dc], channels: [] };
  const takeout = int64Column(row.takeout_id);
  if (takeout !== null) session.takeoutId = takeout;

  const warnings: string[] = [];
  for (const self of db.prepare('select hash from entities where id = 0').iterate() as IterableIterator<Row>) {
    // The self-user hack: hash holds the logged-in user's id.
    const hash = int64Column(self.hash);
    if (hash !== null && hash > 0n) session.user = { id: hash, dcId, bot: options.bot ?? false };
    else warnings.push('entities self row (id 0): skipped, it holds no user id');
  }
  if (schema.update_state !== undefined) readUpdateState(db, session, warnings);
  checkSession('telethon-sqlite', session);

  // entities.date came with schema 7: selecting it from an older file would fail the whole read.
  const hasDate = schema.entities?.includes('date') === true;
  function* peers(): Generator<Peer> {
    // Sorted by SQLite, read row by row: memory holds the batch being built, not the file.
    const query = (orderBy: string) => `select id, hash, username, phone, name${hasDate ? ', date' : ''} from entities order by ${orderBy}`;
    for (const entity of rowsOldestFirst(db, query, { time: hasDate ? 'date' : null, rowid: 'rowid' }, seenAt)) {
      const marked = int64Column(entity.id);
      if (marked === 0n) continue; // the self row, read above
      const identity = peerIdentity(marked, int64Column(entity.hash), 'entities row', warnings);
      if (identity === null) continue;
      const where = `entities row ${marked}`;
      const peer: Peer = { ...identity, usernames: cleanUsernames([entity.username], where, warnings), updatedAt: seenAt(entity.date) };
      const phone = cleanPhone(entity.phone, where, warnings);
      if (phone !== undefined) peer.phone = phone;
      const name = cleanDisplayName(entity.name);
      if (name !== undefined) peer.displayName = name;
      yield peer;
    }
  }
  return {
    format: 'telethon-sqlite',
    layout: `schema ${version ?? 'unknown'}`,
    session,
    kv: [],
    peerRows: Number(db.prepare('select count(*) from entities where id is not 0').pluck().get()),
    warnings,
    peers,
    refMessages: () => [],
  };
}

/**
 * Update state is only where to resume fetching updates: a row mtstore cannot store is
 * left out with a warning (the client then fetches the state again), never the file.
 */
function readUpdateState(db: SqliteDatabase, session: Session, warnings: string[]): void {
  const channels: ChannelState[] = [];
  // A Set, not channels.some(): a bot's file can hold tens of thousands of channels.
  const seen = new Set<bigint>();
  for (const state of db.prepare('select id, pts, qts, date, seq from update_state').all() as Row[]) {
    const id = int64Column(state.id);
    if (id === 0n) {
      const value: UpdateState = { pts: counter(state.pts), qts: counter(state.qts), date: cleanEpoch(epoch(state.date)), seq: counter(state.seq) };
      if ([value.pts, value.qts, value.seq].every((n) => n >= 0)) session.state = value;
      else warnings.push('update_state of the account left out (a counter is missing or out of range)');
    } else if (id !== null && id > 0n && !seen.has(id) && counter(state.pts) >= 0) {
      seen.add(id);
      channels.push({ id, pts: counter(state.pts) });
    } else warnings.push(`update_state row ${String(state.id)} left out (not a channel id with its pts)`);
  }
  session.channels = channels;
}
