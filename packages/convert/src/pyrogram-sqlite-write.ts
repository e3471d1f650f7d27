/**
 * A session written as Pyrogram's FileStorage file, schema version 3 (Pyrogram 2.x): the
 * tables, indexes and trigger as Pyrogram's SCHEMA script creates them (the DDL of a file
 * Pyrogram 2.0.106 wrote, test/fixtures), and the rows as it writes them. Hydrogram reads
 * schema 3 as it is; Pyrofork, Electrogram and Kurigram upgrade it when they open it. See
 * pyrogram-sqlite.ts for what each table holds.
 */
import { toMarkedId, type Peer, type Session } from '@mtstore/core';
import { homeWithKey } from './common.js';
import { ConvertError, unsupported } from './errors.js';
import { checkWriteInput, eachPeer, PeerLosses, sessionLosses, writeSqliteFile, type PeerInput, type WrittenFile } from './write-file.js';

const FORMAT = 'Pyrogram session file';

export const PYROGRAM_VERSION = 3;
const SCHEMA = `
CREATE TABLE sessions
(
    dc_id     INTEGER PRIMARY KEY,
    api_id    INTEGER,
    test_mode INTEGER,
    auth_key  BLOB,
    date      INTEGER NOT NULL,
    user_id   INTEGER,
    is_bot    INTEGER
);

CREATE TABLE peers
(
    id             INTEGER PRIMARY KEY,
    access_hash    INTEGER,
    type           INTEGER NOT NULL,
    username       TEXT,
    phone_number   TEXT,
    last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER))
);

CREATE TABLE version
(
    number INTEGER PRIMARY KEY
);

CREATE INDEX idx_peers_id ON peers (id);
CREATE INDEX idx_peers_username ON peers (username);
CREATE INDEX idx_peers_phone_number ON peers (phone_number);

CREATE TRIGGER trg_peers_last_update_on
    AFTER UPDATE
    ON peers
BEGIN
    UPDATE peers
    SET last_update_on = CAST(STRFTIME('%s', 'now') AS INTEGER)
    WHERE id = NEW.id;
END;
`;

const API_ID_MAX = 2 ** 31 - 1;

export interface PyrogramFileOptions {
  /**
   * api_id when the session has none (1 to 2^31-1; a session's own is kept): Pyrogram
   * sends the stored one when it connects, so a file without it does not work.
   */
  apiId?: number | undefined;
}

const OPTIONS = ['apiId'] as const satisfies readonly (keyof PyrogramFileOptions)[];

/** Pyrogram's peer type: mtstore does not record which users are bots nor which channels are supergroups (Pyrogram uses the type only to build the input peer, the same for both). */
function peerType(peer: Peer, session: Session): string {
  if (peer.type === 'chat') return 'group';
  if (peer.type === 'channel') return 'channel';
  return session.user?.bot === true && session.user.id === peer.id ? 'bot' : 'user';
}

/**
 * Writes `session` and `peers` as a new Pyrogram `.session` file at `path` (refused if it
 * exists), mode 0600, in one transaction. Pyrogram keeps the home DC's id, test flag and
 * key, the api id, the user's id and bot flag, and per peer its access hash, one username
 * (lower-cased, as Pyrogram writes it), the phone and when it was seen. Like Pyrogram's
 * strings it needs a logged-in user and an api id; it keeps no address (Pyrogram maps the
 * DC id to Telegram's address itself). What it has no place for is counted in
 * `warnings`: other DCs' keys, update state and channel pts (Pyrogram 2 keeps none), display names, extra
 * usernames, min peers (left out: their access hash does not work for requests).
 */
export async function writePyrogramSqlite(session: Session, peers: PeerInput, path: string, options: PyrogramFileOptions = {}): Promise<WrittenFile> {
  checkWriteInput('pyrogram-sqlite', session, peers, path, options, OPTIONS, 'writePyrogramSqlite');
  if (options.apiId !== undefined && !(Number.isInteger(options.apiId) && options.apiId >= 1 && options.apiId <= API_ID_MAX)) {
    throw new ConvertError('MTSTORE_CONVERT_INVALID', `apiId must be an integer from 1 to ${API_ID_MAX}, got ${typeof options.apiId === 'number' ? options.apiId : typeof options.apiId}.`);
  }
  const home = homeWithKey(session, FORMAT);
  const user = session.user;
  if (user === undefined) throw unsupported(FORMAT, 'the session has no logged-in user (Pyrogram would ask to log in again)');
  const apiId = session.apiId ?? options.apiId;
  if (apiId === undefined) throw unsupported(FORMAT, 'the session has no apiId: pass apiId');

  const warnings = sessionLosses(session, {
    otherKeys: "Pyrogram's file keeps the home DC's only",
    tempKeys: 'Pyrogram keeps none',
    state: 'Pyrogram 2 keeps none: the client fetches a fresh one',
    channels: 'Pyrogram 2 keeps none',
    takeoutId: 'Pyrogram keeps none',
  });

  const count = await writeSqliteFile(path, 'the Pyrogram session file', async (db) => {
    db.exec(SCHEMA);
    db.prepare('insert into version values (?)').run(PYROGRAM_VERSION);
    const now = Math.floor(Date.now() / 1000);
    db.prepare('insert into sessions values (?, ?, ?, ?, ?, ?, ?)').run(home.id, apiId, home.testMode === true ? 1 : 0, home.authKey, now, user.id, user.bot ? 1 : 0);
    const setPeer = db.prepare('replace into peers (id, access_hash, type, username, phone_number, last_update_on) values (?, ?, ?, ?, ?, ?)');
    const lost = new PeerLosses({ minPeersFor: 'Pyrogram', extraUsernames: 'Pyrogram 2 keeps one', displayName: 'Pyrogram keeps none', complete: 'Pyrogram keeps none' });
    let written = 0;
    for await (const peer of eachPeer('pyrogram-sqlite', peers)) {
      if (lost.leftOut(peer)) continue;
      setPeer.run(toMarkedId(peer.type, peer.id), peer.accessHash, peerType(peer, session), peer.usernames[0]?.toLowerCase() ?? null, peer.phone ?? null, peer.updatedAt);
      written++;
      lost.written(peer);
    }
    warnings.push(...lost.lines());
    return written;
  });
  return { format: 'pyrogram-sqlite', path, peers: count, warnings };
}
