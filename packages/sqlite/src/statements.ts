/**
 * Every SQL statement the adapter runs, prepared once per instance when it first
 * opens. Statements that return rows read with safe integers (set per statement,
 * so a borrowed Database keeps its own default).
 */
import type Database from 'better-sqlite3';
import type { Tables } from './schema.js';

/** A prepared statement (named here so the statement tables have a nameable type). */
export interface Statement extends Database.Statement<unknown[], unknown> {}

function statements(db: Database.Database) {
  return {
    /** A statement that changes rows. */
    write: (sql: string): Statement => db.prepare(sql),
    /** A statement that returns rows, with every INTEGER as a bigint. */
    read: (sql: string): Statement => db.prepare(sql).safeIntegers(true),
    /** A statement that returns the first column of its rows, as a bigint if an INTEGER. */
    value: (sql: string): Statement => db.prepare(sql).safeIntegers(true).pluck(),
  };
}

/** Columns of a peer row (see PeerRow), usernames joined in order. */
function peerColumns(t: Tables): string {
  return `p.type, p.id, p.access_hash, p.phone, p.min, p.updated_at,
    (SELECT group_concat(u.username, ' ' ORDER BY u.position) FROM ${t.usernames} u
      WHERE u.session_id = p.session_id AND u.type = p.type AND u.id = p.id) AS usernames`;
}

export function prepareClient(db: Database.Database, t: Tables) {
  const { read, write, value } = statements(db);
  const sessionOf = `(SELECT id FROM ${t.sessions} WHERE name = ?)`;
  return {
    sessionId: value(`SELECT id FROM ${t.sessions} WHERE name = ?`),

    // load
    session: read(`SELECT id, version, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_username,
      state_pts, state_qts, state_date, state_seq, takeout_id FROM ${t.sessions} WHERE name = ?`),
    dcs: read(`SELECT position, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key, temp_key_count
      FROM ${t.dcs} WHERE session_id = ? ORDER BY position`),
    tempKeys: read(`SELECT dc_position, key_index, auth_key, expires_at FROM ${t.tempKeys}
      WHERE session_id = ? ORDER BY dc_position, position`),
    channels: read(`SELECT channel_id, pts FROM ${t.channels} WHERE session_id = ? ORDER BY rowid`),

    // save: the session row is updated in place (never deleted) so its peers stay.
    upsertSession: value(`INSERT INTO ${t.sessions} (name, version, home_dc_id, api_id, user_id, user_dc_id, user_bot,
        user_username, state_pts, state_qts, state_date, state_seq, takeout_id)
      VALUES (@name, @version, @homeDcId, @apiId, @userId, @userDcId, @userBot,
        @userUsername, @pts, @qts, @date, @seq, @takeoutId)
      ON CONFLICT (name) DO UPDATE SET version = excluded.version, home_dc_id = excluded.home_dc_id,
        api_id = excluded.api_id, user_id = excluded.user_id, user_dc_id = excluded.user_dc_id,
        user_bot = excluded.user_bot, user_username = excluded.user_username, state_pts = excluded.state_pts,
        state_qts = excluded.state_qts, state_date = excluded.state_date, state_seq = excluded.state_seq,
        takeout_id = excluded.takeout_id
      RETURNING id`),
    insertDc: write(`INSERT INTO ${t.dcs} (session_id, position, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key, temp_key_count)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertTempKey: write(`INSERT INTO ${t.tempKeys} (session_id, dc_position, position, key_index, auth_key, expires_at)
      VALUES (?, ?, ?, ?, ?, ?)`),
    insertChannel: write(`INSERT INTO ${t.channels} (session_id, channel_id, pts) VALUES (?, ?, ?)`),
    deleteTempKeys: write(`DELETE FROM ${t.tempKeys} WHERE session_id = ?`),
    deleteDcs: write(`DELETE FROM ${t.dcs} WHERE session_id = ?`),
    deleteChannels: write(`DELETE FROM ${t.channels} WHERE session_id = ?`),

    // saveUpdateState: RETURNING tells whether the session exists, in the same statement.
    updateState: value(`UPDATE ${t.sessions} SET state_pts = ?, state_qts = ?, state_date = ?, state_seq = ?
      WHERE name = ? RETURNING id`),
    upsertChannel: write(`INSERT INTO ${t.channels} (session_id, channel_id, pts) VALUES (?, ?, ?)
      ON CONFLICT (session_id, channel_id) DO UPDATE SET pts = excluded.pts`),

    // delete: children first, explicitly, so it is complete even where foreign_keys is off (a borrowed database).
    deleteUsernames: write(`DELETE FROM ${t.usernames} WHERE session_id = ?`),
    deletePeers: write(`DELETE FROM ${t.peers} WHERE session_id = ?`),
    deleteSession: write(`DELETE FROM ${t.sessions} WHERE id = ?`),

    // peers.upsert, per peer of a normalized batch
    releasePhone: write(`UPDATE ${t.peers} SET phone = NULL
      WHERE session_id = ? AND phone = ? AND NOT (type = ? AND id = ?)`),
    // core's mergePeer, done by the database against the stored row: a min peer never
    // replaces the access hash (nor the absent/false min flag) of a non-min one.
    upsertPeer: write(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (session_id, type, id) DO UPDATE SET
        access_hash = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.access_hash ELSE excluded.access_hash END,
        min = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.min ELSE excluded.min END,
        phone = excluded.phone,
        updated_at = excluded.updated_at`),
    dropUsernames: write(`DELETE FROM ${t.usernames} WHERE session_id = ? AND type = ? AND id = ?`),
    // Claiming a username takes it from whichever peer held it.
    claimUsername: write(`INSERT INTO ${t.usernames} (session_id, type, id, position, username, username_key)
      VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (session_id, username_key) DO UPDATE SET
        type = excluded.type, id = excluded.id, position = excluded.position, username = excluded.username`),

    // lookups: one statement each, the session resolved by name inside it
    peerById: read(`SELECT ${peerColumns(t)} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf} AND p.type = ? AND p.id = ?`),
    peerByUsername: read(`SELECT ${peerColumns(t)} FROM ${t.usernames} k
      JOIN ${t.peers} p ON p.session_id = k.session_id AND p.type = k.type AND p.id = k.id
      WHERE k.session_id = ${sessionOf} AND k.username_key = ?`),
    peerByPhone: read(`SELECT ${peerColumns(t)} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf} AND p.phone = ?`),
  };
}

export type ClientStatements = ReturnType<typeof prepareClient>;

export function prepareServer(db: Database.Database, t: Tables) {
  const { read, write, value } = statements(db);
  const table = t.serverSessions;
  return {
    insert: write(`INSERT INTO ${table} (auth_key_id, session_id, created_at) VALUES (?, ?, unixepoch())
      ON CONFLICT (auth_key_id, session_id) DO NOTHING`),
    // The per-message hot path: a primary-key point lookup returning the number 1
    // (safe integers off: no BigInt to allocate), or undefined.
    exists: db.prepare(`SELECT 1 FROM ${table} WHERE auth_key_id = ? AND session_id = ?`).pluck().safeIntegers(false) as Statement,
    remove: write(`DELETE FROM ${table} WHERE auth_key_id = ? AND session_id = ?`),
    list: value(`SELECT session_id FROM ${table} WHERE auth_key_id = ? ORDER BY session_id`),
    // RETURNING: exactly the rows this statement deleted, even with other processes racing.
    removeAll: value(`DELETE FROM ${table} WHERE auth_key_id = ? RETURNING session_id`),
  };
}

export type ServerStatements = ReturnType<typeof prepareServer>;
