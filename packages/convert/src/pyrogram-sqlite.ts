/**
 * Pyrogram's FileStorage and its forks' (they all keep the file layout and the `version`
 * table's `number`). Tables every one of them has:
 *   sessions(dc_id, test_mode, auth_key, user_id, is_bot, date) — one row
 *   peers(id, access_hash, type, phone_number, last_update_on) — id is marked, type one of
 *        user, bot, group, channel, supergroup (Kurigram also: direct, forum, community)
 * and what varies, read when present:
 *   sessions.api_id           Pyrogram schema 3+ (2.x), and every fork
 *   peers.username            Pyrogram, Hydrogram (schema 3), Pyrofork and Electrogram
 *                             (schema 4), Kurigram files upgraded from 3; not in a file
 *                             Kurigram created (schema 4-7)
 *   usernames(id, peer_id, …) Pyrofork, Electrogram: id is the username, peer_id the peer
 *   usernames(id, username)   Kurigram: id is the peer, one row per username
 *   sessions.server_address, port   Kurigram schema 7
 *   update_state(id, pts, qts, date, seq)   Pyrofork, Electrogram, Kurigram: id 0 the
 *                             account, else a marked channel id; columns a row was not
 *                             given are NULL (Pyrofork never writes qts)
 * dc_options (Pyrofork) is ignored. The peers of a schema 1 file are not read: Pyrogram
 * deletes them when it upgrades the file to 2.
 */
import { fromMarkedId, type ChannelState, type Peer, type PeerType, type Session } from '@mtstore/core';
import { int64Column, isIpv4, keyColumn, keyFrom, normalizeIpv6 } from './bytes.js';
import { checkSession, cleanEpoch, cleanPhone, cleanUsernames, peerIdentity } from './common.js';
import { invalid } from './errors.js';
import { rowsOldestFirst, type SqliteDatabase, type SqliteSchema } from './sqlite.js';
import type { SessionSource } from './stream.js';

const FORMAT = 'Pyrogram session file';

const TYPES: Record<string, PeerType> = {
  user: 'user',
  bot: 'user',
  group: 'chat',
  channel: 'channel',
  supergroup: 'channel',
  // Kurigram's channel kinds.
  direct: 'channel',
  forum: 'channel',
  community: 'channel',
};

type Row = Record<string, unknown>;

/**
 * A fork's `usernames` table (either layout) as the SQL of a left join on `peers p`: the
 * peer column, the name column. Null for a file without one.
 */
function usernamesJoin(schema: SqliteSchema): { peer: string; name: string } | null {
  const columns = schema.usernames;
  if (columns === undefined) return null;
  if (columns.includes('peer_id') && columns.includes('id')) return { peer: 'peer_id', name: 'id' };
  if (columns.includes('id') && columns.includes('username')) return { peer: 'id', name: 'username' };
  return null;
}

/** Which library's layout the file has, for messages and inspect. */
function layoutOf(version: bigint | null, schema: SqliteSchema): string {
  const base = `schema ${version ?? 'unknown'}`;
  const usernames = schema.usernames;
  if (usernames?.includes('peer_id')) return `${base}, Pyrofork layout`;
  if (usernames?.includes('username')) return `${base}, Kurigram layout`;
  return base;
}

/** A 0..2^31-1 counter, or null when the column holds none. */
function counter(value: unknown): number | null {
  const v = int64Column(value);
  return v !== null && v >= 0n && v <= 2_147_483_647n ? Number(v) : null;
}

/**
 * The forks' update_state: the account's state only when all four counters are there (a
 * made-up qts or seq would make the client skip or replay updates; without a state it
 * fetches a fresh one), and each channel's pts.
 */
function readUpdateState(db: SqliteDatabase, session: Session, warnings: string[]): void {
  const channels: ChannelState[] = [];
  // A Set, not channels.some(): a file can hold tens of thousands of channels.
  const seen = new Set<bigint>();
  for (const row of db.prepare('select id, pts, qts, date, seq from update_state').all() as Row[]) {
    const id = int64Column(row.id);
    const pts = counter(row.pts);
    if (id === 0n) {
      const [qts, date, seq] = [counter(row.qts), int64Column(row.date), counter(row.seq)];
      if (pts !== null && qts !== null && seq !== null && date !== null) session.state = { pts, qts, seq, date: cleanEpoch(Number(date)) };
      else warnings.push('update_state of the account not read: a counter is missing (the client fetches a fresh state)');
      continue;
    }
    let channel: bigint | null = null;
    try {
      const unmarked = id === null ? null : fromMarkedId(id);
      if (unmarked?.type === 'channel') channel = unmarked.id;
    } catch {
      // Not a marked id: reported below.
    }
    if (channel !== null && pts !== null && !seen.has(channel)) {
      seen.add(channel);
      channels.push({ id: channel, pts });
    }
    else warnings.push(`update_state row ${String(row.id)} left out (not a marked channel id with its pts)`);
  }
  session.channels = channels.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A row's time as its peer stores it (the ordering and the peer use this one function). */
function seenAt(lastUpdateOn: unknown): number {
  return cleanEpoch(Number(int64Column(lastUpdateOn) ?? 0n));
}

/** The session (with the forks' update state) at once; the peers oldest first, as they are read. */
export function openPyrogramDatabase(db: SqliteDatabase, schema: SqliteSchema): SessionSource {
  const version = int64Column(db.prepare('select number from version').pluck().get());
  const rows = db.prepare('select * from sessions').all() as Row[];
  if (rows.length !== 1) throw invalid(FORMAT, `the sessions table has ${rows.length} rows, Pyrogram keeps one`);
  const row = rows[0]!;
  const dcId = Number(int64Column(row.dc_id) ?? 0);
  if (dcId < 1) throw invalid(FORMAT, 'sessions.dc_id is missing');
  const testMode = int64Column(row.test_mode) === 1n;
  const dc: Session['dcs'][number] = { id: dcId, ...(testMode ? { testMode } : {}) };
  // Kurigram 7 records the address (its own table's, or one the server moved it to).
  const address = typeof row.server_address === 'string' ? row.server_address : null;
  const port = int64Column(row.port);
  if (address !== null && port !== null && port > 0n && port < 65536n) {
    if (isIpv4(address)) dc.ipv4 = address;
    else {
      const v6 = normalizeIpv6(address);
      if (v6 !== null) dc.ipv6 = v6;
    }
    if (dc.ipv4 !== undefined || dc.ipv6 !== undefined) dc.port = Number(port);
  }
  const key = keyColumn(row.auth_key, FORMAT, 'sessions.auth_key');
  if (key !== null) dc.authKey = keyFrom(key, FORMAT, 'sessions.auth_key');
  const session: Session = { version: 1, homeDcId: dcId, dcs: [dc], channels: [] };
  const apiId = schema.sessions?.includes('api_id') ? int64Column(row.api_id) : null;
  if (apiId !== null && apiId > 0n && apiId < 2n ** 31n) session.apiId = Number(apiId);
  const userId = int64Column(row.user_id);
  if (userId !== null && userId > 0n) session.user = { id: userId, dcId, bot: int64Column(row.is_bot) === 1n };

  const warnings: string[] = [];
  // Pyrogram empties the peers of a schema 1 file when it opens it (its upgrade to 2):
  // rows the library itself no longer trusts are not imported either.
  const skipPeers = version === 1n;
  const peerRows = Number(db.prepare('select count(*) from peers').pluck().get());
  if (skipPeers && peerRows > 0) warnings.push('peers of a schema 1 file not read: Pyrogram itself discards them when it upgrades the file');
  if (['id', 'pts', 'qts', 'date', 'seq'].every((c) => schema.update_state?.includes(c))) readUpdateState(db, session, warnings);
  checkSession('pyrogram-sqlite', session);

  const columns = schema.peers ?? [];
  const optional = ['username', 'phone_number', 'last_update_on'].filter((c) => columns.includes(c));
  const join = usernamesJoin(schema);
  function* peers(): Generator<Peer> {
    if (skipPeers) return;
    // One row per (peer, extra username), a peer's rows together and its names in the
    // usernames table's order; SQLite indexes the join itself (the forks index no peer column).
    const query = (orderBy: string) =>
      `select p.rowid as _row, p.id, p.access_hash, p.type${optional.map((c) => `, p.${c}`).join('')}${join === null ? '' : `, u.${join.name} as _extra`} from peers p` +
      (join === null ? ` order by ${orderBy}` : ` left join usernames u on u.${join.peer} = p.id order by ${orderBy}, u.rowid`);
    let pending: { row: Row; extra: unknown[] } | null = null;
    for (const row of rowsOldestFirst(db, query, { time: optional.includes('last_update_on') ? 'p.last_update_on' : null, rowid: 'p.rowid' }, seenAt)) {
      if (pending !== null && pending.row._row === row._row) {
        pending.extra.push(row._extra);
        continue;
      }
      const peer = pending === null ? null : peerOf(pending.row, pending.extra, warnings);
      pending = { row, extra: join === null ? [] : [row._extra] };
      if (peer !== null) yield peer;
    }
    const last = pending === null ? null : peerOf(pending.row, pending.extra, warnings);
    if (last !== null) yield last;
  }
  return { format: 'pyrogram-sqlite', layout: layoutOf(version, schema), session, kv: [], peerRows: skipPeers ? 0 : peerRows, warnings, peers, refMessages: () => [] };
}

/** The peer a peers row (with a fork's extra usernames) names, or null when it is skipped with a warning. */
function peerOf(p: Row, extra: unknown[], warnings: string[]): Peer | null {
  const marked = int64Column(p.id);
  // Pyrogram stores no access hash for basic groups (none exists): 0, as Telegram has it.
  const identity = peerIdentity(marked, p.access_hash === null ? 0n : int64Column(p.access_hash), 'peers row', warnings);
  if (identity === null) return null;
  const where = `peers row ${marked}`;
  const declared = TYPES[String(p.type)];
  if (declared !== undefined && declared !== identity.type) {
    warnings.push(`${where}: skipped, its type is ${String(p.type)} but the id is a ${identity.type}'s`);
    return null;
  }
  const peer: Peer = { ...identity, usernames: cleanUsernames([p.username, ...extra], where, warnings), updatedAt: seenAt(p.last_update_on) };
  const phone = cleanPhone(p.phone_number, where, warnings);
  if (phone !== undefined) peer.phone = phone;
  return peer;
}
