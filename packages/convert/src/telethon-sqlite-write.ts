/**
 * A session written as Telethon's SQLiteSession file, schema version 7 (Telethon 1.37):
 * the tables as Telethon creates them (the DDL of a file Telethon wrote, test/fixtures),
 * and the rows as it writes them. See telethon-sqlite.ts for what each table holds.
 */
import { toMarkedId, type Session } from '@mtstore/core';
import { homeWithKey } from './common.js';
import { ipAddressOf } from './dcs.js';
import { unsupported } from './errors.js';
import { checkWriteInput, eachPeer, LossCounter, writeSqliteFile, type PeerInput, type WrittenFile } from './write-file.js';

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

  const warnings: string[] = [];
  const otherKeys = session.dcs.filter((d) => d.id !== home.id && d.authKey !== undefined).map((d) => d.id);
  if (otherKeys.length > 0) warnings.push(`auth keys of DC ${[...new Set(otherKeys)].join(', ')} not written (Telethon's file keeps the home DC's only)`);
  if (session.dcs.some((d) => (d.tempAuthKeys?.length ?? 0) > 0)) warnings.push('temporary auth keys not written (Telethon keeps none)');
  if (session.user?.bot === true) warnings.push('the bot flag not written (Telethon does not record it: read the file back with { bot: true })');
  if ((session.user?.usernames?.length ?? 0) > 0 || session.user?.premium === true) warnings.push('self user\'s usernames and premium flag not written (Telethon keeps its id only)');
  if (session.apiId !== undefined) warnings.push('api id not written (Telethon keeps none: the client passes its own)');

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

    const lost = new LossCounter();
    let written = 0;
    for await (const peer of eachPeer('telethon-sqlite', peers)) {
      if (peer.min === true) {
        lost.add('min peer not written (its access hash does not work for requests, and Telethon would use it)');
        continue;
      }
      setEntity.run(toMarkedId(peer.type, peer.id), peer.accessHash, peer.usernames[0]?.toLowerCase() ?? null, peer.phone ?? null, peer.displayName ?? null, peer.updatedAt);
      written++;
      if (peer.usernames.length > 1) lost.add('usernames after the first not written (Telethon keeps one)');
      if (peer.complete !== undefined) lost.add('complete TL object not written (Telethon keeps none)');
    }
    warnings.push(...lost.lines('peer'));
    return written;
  });
  return { format: 'telethon-sqlite', path, peers: count, warnings };
}
