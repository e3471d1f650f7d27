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
import { cleanEpoch, cleanPhone, cleanUsernames, finish, oldestFirst, peerIdentity } from './common.js';
import { invalid } from './errors.js';
import type { SqliteDatabase, SqliteSchema } from './sqlite.js';
import type { ConvertedSession } from './types.js';

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

/** Extra usernames by marked peer id, from a fork's `usernames` table (either layout), in file order. */
function extraUsernames(db: SqliteDatabase, schema: SqliteSchema): Map<bigint, unknown[]> {
  const byPeer = new Map<bigint, unknown[]>();
  const columns = schema.usernames;
  if (columns === undefined) return byPeer;
  let query: string | null = null;
  if (columns.includes('peer_id') && columns.includes('id')) query = 'select peer_id as peer, id as name from usernames order by rowid';
  else if (columns.includes('id') && columns.includes('username')) query = 'select id as peer, username as name from usernames order by rowid';
  if (query === null) return byPeer;
  for (const row of db.prepare(query).all() as Row[]) {
    const peer = int64Column(row.peer);
    if (peer === null) continue;
    const list = byPeer.get(peer) ?? byPeer.set(peer, []).get(peer)!;
    list.push(row.name);
  }
  return byPeer;
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

export function readPyrogramDatabase(db: SqliteDatabase, schema: SqliteSchema): ConvertedSession {
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

  const peers: Peer[] = [];
  const warnings: string[] = [];
  const columns = schema.peers ?? [];
  const optional = ['username', 'phone_number', 'last_update_on'].filter((c) => columns.includes(c));
  const more = extraUsernames(db, schema);
  // Pyrogram empties the peers of a schema 1 file when it opens it (its upgrade to 2):
  // rows the library itself no longer trusts are not imported either.
  const peerRows: Iterable<Row> = version === 1n ? [] : (db.prepare(`select id, access_hash, type${optional.map((c) => `, ${c}`).join('')} from peers`).iterate() as IterableIterator<Row>);
  if (version === 1n && (db.prepare('select count(*) from peers').pluck().get() as bigint) > 0n) {
    warnings.push('peers of a schema 1 file not read: Pyrogram itself discards them when it upgrades the file');
  }
  for (const p of peerRows) {
    const marked = int64Column(p.id);
    // Pyrogram stores no access hash for basic groups (none exists): 0, as Telegram has it.
    const identity = peerIdentity(marked, p.access_hash === null ? 0n : int64Column(p.access_hash), 'peers row', warnings);
    if (identity === null) continue;
    const where = `peers row ${marked}`;
    const declared = TYPES[String(p.type)];
    if (declared !== undefined && declared !== identity.type) {
      warnings.push(`${where}: skipped, its type is ${String(p.type)} but the id is a ${identity.type}'s`);
      continue;
    }
    const peer: Peer = {
      ...identity,
      usernames: cleanUsernames([p.username, ...(more.get(marked!) ?? [])], where, warnings),
      updatedAt: cleanEpoch(Number(int64Column(p.last_update_on) ?? 0n)),
    };
    const phone = cleanPhone(p.phone_number, where, warnings);
    if (phone !== undefined) peer.phone = phone;
    peers.push(peer);
  }
  if (['id', 'pts', 'qts', 'date', 'seq'].every((c) => schema.update_state?.includes(c))) readUpdateState(db, session, warnings);
  return finish('pyrogram-sqlite', layoutOf(version, schema), session, oldestFirst(peers), [], [], warnings);
}
