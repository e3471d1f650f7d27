/**
 * Every SQL statement mtstore runs, for a schema `s` (already quoted). They are named
 * statements (see `statement`): each connection parses and plans them once.
 * Values are always bound parameters; batches are arrays expanded with `unnest`.
 */
import { statement, type Statement } from './connection.js';

/** Columns of a peer row, with its usernames (as given, in order) as a JSON array. */
const PEER_COLUMNS = (s: string): string => `
  p.type, p.id, p.access_hash, p.phone, p.min, p.updated_at,
  (SELECT json_agg(u.username ORDER BY u.position) FROM ${s}.peer_usernames u
    WHERE u.session_id = p.session_id AND u.type = p.type AND u.peer_id = p.id) AS usernames`;

export interface ClientStatements {
  load: Statement;
  saveSession: Statement;
  clearSnapshot: Statement;
  insertSnapshot: Statement;
  saveUpdateState: Statement;
  deleteSession: Statement;
  lockPeers: Statement;
  upsertPeers: Statement;
  peerById: Statement;
  peerByUsername: Statement;
  peerByPhone: Statement;
}

export function clientStatements(s: string): ClientStatements {
  return {
    // One statement, so one snapshot: a load racing with a save sees all of one or the other.
    // DCs and temp keys come as JSON arrays, keys as hex, 64-bit ids as text (JSON numbers lose them).
    load: statement(
      'load',
      `SELECT s.home_dc_id, s.api_id, s.user_id, s.user_dc_id, s.user_bot, s.user_username,
              s.pts, s.qts, s.state_date, s.seq, s.takeout_id,
              (SELECT json_agg(json_build_array(d.dc_id, d.ipv4, d.ipv6, d.port, d.test_mode, d.media_only,
                        encode(d.auth_key, 'hex'),
                        CASE WHEN d.has_temp_keys THEN
                          (SELECT coalesce(json_agg(json_build_array(t.key_index, encode(t.key, 'hex'), t.expires_at) ORDER BY t.position), '[]')
                             FROM ${s}.temp_auth_keys t WHERE t.session_id = d.session_id AND t.dc_position = d.position)
                        END) ORDER BY d.position)
                 FROM ${s}.dcs d WHERE d.session_id = s.id) AS dcs,
              (SELECT json_agg(json_build_array(c.channel_id::text, c.pts) ORDER BY c.position, c.channel_id)
                 FROM ${s}.channels c WHERE c.session_id = s.id) AS channels
         FROM ${s}.sessions s WHERE s.name = $1`,
    ),

    // save, step 1 of 3 (one transaction): the session row, created or updated, and locked.
    // Steps 2 and 3 run after the lock, so they see every save committed before this one.
    saveSession: statement(
      'save_session',
      `INSERT INTO ${s}.sessions (name, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_username,
                                  pts, qts, state_date, seq, takeout_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (name) DO UPDATE SET
         home_dc_id = excluded.home_dc_id, api_id = excluded.api_id,
         user_id = excluded.user_id, user_dc_id = excluded.user_dc_id, user_bot = excluded.user_bot,
         user_username = excluded.user_username,
         pts = excluded.pts, qts = excluded.qts, state_date = excluded.state_date, seq = excluded.seq,
         takeout_id = excluded.takeout_id, updated_at = now()
       RETURNING id`,
    ),

    // save, step 2: drop the previous snapshot (peers are a separate cache and stay).
    clearSnapshot: statement(
      'clear_snapshot',
      `WITH temp AS (DELETE FROM ${s}.temp_auth_keys WHERE session_id = $1),
            dcs AS (DELETE FROM ${s}.dcs WHERE session_id = $1),
            channels AS (DELETE FROM ${s}.channels WHERE session_id = $1)
       SELECT 1`,
    ),

    // save, step 3: the new snapshot, every table from arrays in one statement.
    insertSnapshot: statement(
      'insert_snapshot',
      `WITH dcs AS (
         INSERT INTO ${s}.dcs (session_id, position, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key, has_temp_keys)
         SELECT $1, d.position, d.dc_id, d.ipv4, d.ipv6, d.port, d.test_mode, d.media_only, d.auth_key, d.has_temp_keys
           FROM unnest($2::integer[], $3::integer[], $4::text[], $5::text[], $6::integer[], $7::boolean[], $8::boolean[],
                       $9::bytea[], $10::boolean[])
                AS d(position, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key, has_temp_keys)
       ), temp AS (
         INSERT INTO ${s}.temp_auth_keys (session_id, dc_position, position, key_index, key, expires_at)
         SELECT $1, t.dc_position, t.position, t.key_index, t.key, t.expires_at
           FROM unnest($11::integer[], $12::integer[], $13::integer[], $14::bytea[], $15::bigint[])
                AS t(dc_position, position, key_index, key, expires_at)
       ), channels AS (
         INSERT INTO ${s}.channels (session_id, channel_id, pts, position)
         SELECT $1, c.id, c.pts, nextval('${s}.channel_position')
           FROM unnest($16::bigint[], $17::integer[]) WITH ORDINALITY AS c(id, pts, n)
          ORDER BY c.n
       )
       SELECT 1`,
    ),

    // The hot path, one round trip: the state and the listed channels, only if the
    // session exists (found = 0 otherwise, and nothing is written). New channels go last.
    saveUpdateState: statement(
      'save_update_state',
      `WITH s AS (
         UPDATE ${s}.sessions SET pts = $2, qts = $3, state_date = $4, seq = $5, updated_at = now()
          WHERE name = $1
         RETURNING id
       ), channels AS (
         INSERT INTO ${s}.channels (session_id, channel_id, pts, position)
         SELECT s.id, c.id, c.pts, nextval('${s}.channel_position')
           FROM s, unnest($6::bigint[], $7::integer[]) AS c(id, pts)
         ON CONFLICT (session_id, channel_id) DO UPDATE SET pts = excluded.pts
       )
       SELECT count(*)::integer AS found FROM s`,
    ),

    // Cascades to DCs, temp keys, channels, peers and usernames.
    deleteSession: statement('delete_session', `DELETE FROM ${s}.sessions WHERE name = $1`),

    // Taken before upsertPeers, in its transaction: batches of one session take turns.
    lockPeers: statement('lock_peers', 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))'),

    // A whole normalized batch in one statement (see upsertPeers in client.ts for the parameters):
    // - peers are upserted; a min peer keeps a stored non-min access hash (and its min flag);
    // - peers outside the batch lose the phones the batch claims;
    // - username rows of batch peers and of claimed names are replaced, leaving rows that
    //   do not change untouched (re-seeing a peer writes no username rows).
    // The phone and username constraints are deferrable, checked when the statement ends.
    upsertPeers: statement(
      'upsert_peers',
      `WITH s AS (
         SELECT id FROM ${s}.sessions WHERE name = $1 FOR KEY SHARE
       ), batch AS (
         SELECT s.id AS session_id, b.type, b.id, b.access_hash, b.phone, b.min, b.updated_at, b.usernames
           FROM s, unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::boolean[], $7::bigint[], $8::text[])
                   AS b(type, id, access_hash, phone, min, updated_at, usernames)
       ), names AS (
         SELECT b.session_id, b.type, b.id, u.username, lower(u.username) AS username_key, u.position::integer AS position
           FROM batch b, unnest(string_to_array(b.usernames, ' ')) WITH ORDINALITY AS u(username, position)
       ), upserted AS (
         INSERT INTO ${s}.peers AS p (session_id, type, id, access_hash, phone, min, updated_at)
         SELECT session_id, type, id, access_hash, phone, min, updated_at FROM batch
         ON CONFLICT (session_id, type, id) DO UPDATE SET
           access_hash = CASE WHEN excluded.min AND p.min IS NOT TRUE THEN p.access_hash ELSE excluded.access_hash END,
           min = CASE WHEN excluded.min AND p.min IS NOT TRUE THEN p.min ELSE excluded.min END,
           phone = excluded.phone,
           updated_at = excluded.updated_at
       ), phones_released AS (
         UPDATE ${s}.peers p SET phone = NULL
           FROM batch b
          WHERE p.session_id = b.session_id AND p.phone = b.phone
            AND NOT EXISTS (SELECT 1 FROM batch o WHERE o.type = p.type AND o.id = p.id)
       ), names_released AS (
         DELETE FROM ${s}.peer_usernames u USING s
          WHERE u.session_id = s.id
            AND ((u.type, u.peer_id) IN (SELECT type, id FROM batch) OR u.username_key IN (SELECT username_key FROM names))
            AND NOT EXISTS (SELECT 1 FROM names n
                             WHERE (n.username_key, n.username, n.type, n.id, n.position)
                                 = (u.username_key, u.username, u.type, u.peer_id, u.position))
       ), names_claimed AS (
         INSERT INTO ${s}.peer_usernames (session_id, username_key, username, type, peer_id, position)
         SELECT n.session_id, n.username_key, n.username, n.type, n.id, n.position FROM names n
          WHERE NOT EXISTS (SELECT 1 FROM ${s}.peer_usernames u
                             WHERE u.session_id = n.session_id
                               AND (u.username_key, u.username, u.type, u.peer_id, u.position)
                                 = (n.username_key, n.username, n.type, n.id, n.position))
       )
       SELECT count(*)::integer AS found FROM s`,
    ),

    peerById: statement(
      'peer_by_id',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s JOIN ${s}.peers p ON p.session_id = s.id
        WHERE s.name = $1 AND p.type = $2 AND p.id = $3`,
    ),
    peerByUsername: statement(
      'peer_by_username',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s
         JOIN ${s}.peer_usernames k ON k.session_id = s.id
         JOIN ${s}.peers p ON p.session_id = k.session_id AND p.type = k.type AND p.id = k.peer_id
        WHERE s.name = $1 AND k.username_key = $2`,
    ),
    peerByPhone: statement(
      'peer_by_phone',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s JOIN ${s}.peers p ON p.session_id = s.id
        WHERE s.name = $1 AND p.phone = $2`,
    ),
  };
}

export interface ServerStatements {
  create: Statement;
  has: Statement;
  destroy: Statement;
  list: Statement;
  destroyAll: Statement;
}

export function serverStatements(s: string): ServerStatements {
  return {
    // Atomic across processes: the primary key decides the one caller that inserts.
    create: statement(
      'create_session',
      `INSERT INTO ${s}.server_sessions (auth_key_id, session_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`,
    ),
    has: statement('has_session', `SELECT 1 FROM ${s}.server_sessions WHERE auth_key_id = $1 AND session_id = $2`),
    destroy: statement('destroy_session', `DELETE FROM ${s}.server_sessions WHERE auth_key_id = $1 AND session_id = $2 RETURNING 1`),
    list: statement('list_sessions', `SELECT session_id FROM ${s}.server_sessions WHERE auth_key_id = $1 ORDER BY session_id`),
    destroyAll: statement('destroy_all_sessions', `DELETE FROM ${s}.server_sessions WHERE auth_key_id = $1 RETURNING session_id`),
  };
}
