/**
 * A session written as Telethon's SQLiteSession file, schema version 7 (Telethon 1.37):
 * the tables as Telethon creates them (the DDL of a file Telethon wrote, test/fixtures),
 * and the rows as it writes them. See telethon-sqlite.ts for what each table holds.
 */
import { toMarkedId, type Session } from '@mtstore/core';
import { homeWithKey } from './common.js';
import { ipAddressOf } from './dcs.js';
import { unsupported } from './errors.js';
import { checkWriteInput, eachPeer, PeerLosses, sessionLosses, writeSqliteFile, type PeerInput, type WrittenFile } from './write-file.js';

const FORMAT = 'Telethon session file';

/** Telethon's `CURRENT_VERSION` and `_create_table` statements, as its SQLiteSession runs them. */
export const TELETHON_VERSION = 7;
const SCHEMA = [
  'create table version (version integer primary key)',
  `create table sessions (
                    dc_id integer primary key,
                    server_address text,
                    port integer,
                    auth_key blob,
                    takeout_id integer
                )`,
  `create table entities (
                    id integer primary key,
                    hash integer not null,
                    username text,
                    phone integer,
                    name text,
                    date integer
                )`,
  `create table sent_files (
                    md5_digest blob,
                    file_size integer,
                    type integer,
                    id integer,
                    hash integer,
                    primary key(md5_digest, file_size, type)
                )`,
  `create table update_state (
                    id integer primary key,
                    pts integer,
                    qts integer,
                    date integer,
                    seq integer
                )`,
];

/** No options yet: the argument is checked (a misspelt one is an error), as every writer's is. */
export type TelethonFileOptions = Record<string, never>;

/**
 * Writes `session` and `peers` as a new Telethon `.session` file at `path` (refused if it
 * exists), mode 0600, in one transaction. Telethon keeps the home DC (address, port, key),
 * the takeout id, the self user's id (its `entities` row with id 0), update state and
 * channel pts, and per peer one username (lower-cased, as Telethon writes it), the phone,
 * the display name and when it was seen. What it has no place for is counted in
 * `warnings`: other DCs' keys, the bot flag (read the file back with `{ bot: true }`),
 * extra usernames, min peers (left out: their access hash does not work for requests).
 */
export async function writeTelethonSqlite(session: Session, peers: PeerInput, path: string, options: TelethonFileOptions = {}): Promise<WrittenFile> {
  checkWriteInput('telethon-sqlite', session, peers, path, options, [], 'writeTelethonSqlite');
  const home = homeWithKey(session, FORMAT);
  const address = ipAddressOf(home);
  if (address === null) throw unsupported(FORMAT, `DC ${home.id} has no IP address and is not one of Telegram's well-known DCs (Telethon files hold an IP address)`);

  const warnings = sessionLosses(session, {
    otherKeys: "Telethon's file keeps the home DC's only",
    tempKeys: 'Telethon keeps none',
    botFlag: 'Telethon does not record it: read the file back with { bot: true }',
    userDetails: 'Telethon keeps its id only',
    apiId: 'Telethon keeps none: the client passes its own',
  });

  const count = await writeSqliteFile(path, 'the Telethon session file', async (db) => {
    for (const sql of SCHEMA) db.exec(sql);
    db.prepare('insert into version values (?)').run(TELETHON_VERSION);
    db.prepare('insert or replace into sessions values (?,?,?,?,?)').run(home.id, address.ipv4 ?? address.ipv6 ?? null, address.port, home.authKey, session.takeoutId ?? null);
    const now = Math.floor(Date.now() / 1000);
    const setEntity = db.prepare('insert or replace into entities values (?,?,?,?,?,?)');
    // Telethon's "self" row: id 0, the hash column holding the logged-in user's id.
    if (session.user !== undefined) setEntity.run(0, session.user.id, null, null, null, now);
    const setState = db.prepare('insert or replace into update_state values (?,?,?,?,?)');
    if (session.state !== undefined) setState.run(0, session.state.pts, session.state.qts, session.state.date, session.state.seq);
    // Channel rows as Telethon's save_states writes them: the unmarked id, pts, and 0 for the counters a channel has none of.
    for (const channel of session.channels) setState.run(channel.id, channel.pts, 0, now, 0);

    const lost = new PeerLosses({ minPeersFor: 'Telethon', extraUsernames: 'Telethon keeps one', complete: 'Telethon keeps none' });
    let written = 0;
    for await (const peer of eachPeer('telethon-sqlite', peers)) {
      if (lost.leftOut(peer)) continue;
      setEntity.run(toMarkedId(peer.type, peer.id), peer.accessHash, peer.usernames[0]?.toLowerCase() ?? null, peer.phone ?? null, peer.displayName ?? null, peer.updatedAt);
      written++;
      lost.written(peer);
    }
    warnings.push(...lost.lines());
    return written;
  });
  return { format: 'telethon-sqlite', path, peers: count, warnings };
}
