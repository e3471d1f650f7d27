/**
 * Every SQL statement mtstore runs, for a schema `s` (already quoted). They are named
 * statements (see `statement`): each connection parses and plans them once.
 * Values are always bound parameters; batches are arrays expanded with `unnest`.
 */
import { statement, type Statement } from './connection.js';

/**
 * CTE `named`: the id of session row `$1`, created (without a snapshot) when absent, for
 * the writes of keys, kv entries, peers and reference messages, which belong to the
 * name and need no snapshot. The usual case only takes a KEY SHARE lock on the existing
 * row, which neither waits for nor blocks saveUpdateState or save (they update non-key
 * columns) and writes no new row version. Only when the row is missing from this
 * statement's snapshot does `created` insert it; its DO UPDATE returns the row even when
 * another transaction created it meanwhile (DO NOTHING would return nothing and the
 * write would be lost). A row deleted meanwhile drops out of `found` and is created anew.
 */
export function namedSession(s: string): string {
  return `found AS (
         SELECT id FROM ${s}.sessions WHERE name = $1 FOR KEY SHARE
       ), created AS (
         INSERT INTO ${s}.sessions (name) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM found)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name
         RETURNING id
       ), named AS (
         SELECT id FROM found UNION ALL SELECT id FROM created
       )`;
}

/** Parameters $3..$17 of both update statements: a "given" flag, then the value(s), per field. */
const PATCHED = (s: string): string => `
         api_id = CASE WHEN $3 THEN $4 ELSE ${s}.api_id END,
         user_id = CASE WHEN $5 THEN $6 ELSE ${s}.user_id END,
         user_dc_id = CASE WHEN $5 THEN $7 ELSE ${s}.user_dc_id END,
         user_bot = CASE WHEN $5 THEN $8 ELSE ${s}.user_bot END,
         user_usernames = CASE WHEN $5 THEN $9 ELSE ${s}.user_usernames END,
         user_premium = CASE WHEN $5 THEN $10 ELSE ${s}.user_premium END,
         takeout_id = CASE WHEN $11 THEN $12 ELSE ${s}.takeout_id END,
         pts = CASE WHEN $13 THEN $14 ELSE ${s}.pts END,
         qts = CASE WHEN $13 THEN $15 ELSE ${s}.qts END,
         state_date = CASE WHEN $13 THEN $16 ELSE ${s}.state_date END,
         seq = CASE WHEN $13 THEN $17 ELSE ${s}.seq END,
         updated_at = now()`;

export interface ClientStatements {
  load: Statement;
  saveSession: Statement;
  clearSnapshot: Statement;
  insertSnapshot: Statement;
  updateSession: Statement;
  createOrUpdateSession: Statement;
  clearDcs: Statement;
  clearChannels: Statement;
  saveUpdateState: Statement;
  deleteSession: Statement;
  listNames: Statement;
}

/**
 * The snapshot's statements. A session row with `home_dc_id` NULL holds no snapshot
 * (only keys, kv entries, peers or reference messages): load and saveUpdateState skip it.
 */
export function clientStatements(s: string): ClientStatements {
  return {
    // One statement, so one snapshot: a load racing with a save sees all of one or the other.
    // DC addresses, keys and channels come as JSON arrays, keys as base64 (types.ts) without
    // PostgreSQL's line breaks (a JSON string with escapes parses slower), 64-bit ids as text
    // (JSON numbers lose them). Keys are matched to DC entries in client.ts.
    load: statement(
      'load',
      `SELECT s.home_dc_id, s.api_id, s.user_id, s.user_dc_id, s.user_bot, to_json(s.user_usernames) AS user_usernames,
              s.user_premium, s.pts, s.qts, s.state_date, s.seq, s.takeout_id,
              (SELECT json_agg(json_build_array(d.dc_id, d.ipv4, d.ipv6, d.host, d.port, d.test_mode, d.media_only)
                               ORDER BY d.position)
                 FROM ${s}.dcs d WHERE d.session_id = s.id) AS dcs,
              (SELECT json_agg(json_build_array(k.dc_id, k.media_only, k.slot, translate(encode(k.key, 'base64'), E'\\n', ''), k.expires_at)
                               ORDER BY k.dc_id, k.media_only, k.slot)
                 FROM ${s}.auth_keys k WHERE k.session_id = s.id) AS keys,
              (SELECT json_agg(json_build_array(c.channel_id::text, c.pts) ORDER BY c.position, c.channel_id)
                 FROM ${s}.channels c WHERE c.session_id = s.id) AS channels
         FROM ${s}.sessions s WHERE s.name = $1 AND s.home_dc_id IS NOT NULL`,
    ),

    // save, step 1 of 3 (one transaction): the session row, created or updated, and locked.
    // Steps 2 and 3 run after the lock, so they see every save committed before this one.
    saveSession: statement(
      'save_session',
      `INSERT INTO ${s}.sessions (name, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_usernames, user_premium,
                                  pts, qts, state_date, seq, takeout_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (name) DO UPDATE SET
         home_dc_id = excluded.home_dc_id, api_id = excluded.api_id,
         user_id = excluded.user_id, user_dc_id = excluded.user_dc_id, user_bot = excluded.user_bot,
         user_usernames = excluded.user_usernames, user_premium = excluded.user_premium,
         pts = excluded.pts, qts = excluded.qts, state_date = excluded.state_date, seq = excluded.seq,
         takeout_id = excluded.takeout_id, updated_at = now()
       RETURNING id`,
    ),

    // save, step 2: drop the previous snapshot and every key (peers, kv and references stay).
    clearSnapshot: statement(
      'clear_snapshot',
      `WITH keys AS (DELETE FROM ${s}.auth_keys WHERE session_id = $1),
            dcs AS (DELETE FROM ${s}.dcs WHERE session_id = $1),
            channels AS (DELETE FROM ${s}.channels WHERE session_id = $1)
       SELECT 1`,
    ),

    // save, step 3: the new snapshot, every table from arrays in one statement. update()
    // reuses it for the DC addresses alone, with empty key and channel arrays.
    insertSnapshot: statement(
      'insert_snapshot',
      `WITH dcs AS (
         INSERT INTO ${s}.dcs (session_id, position, dc_id, ipv4, ipv6, host, port, test_mode, media_only)
         SELECT $1, d.n - 1, d.dc_id, d.ipv4, d.ipv6, d.host, d.port, d.test_mode, d.media_only
           FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::boolean[], $8::boolean[])
                WITH ORDINALITY AS d(dc_id, ipv4, ipv6, host, port, test_mode, media_only, n)
       ), keys AS (
         INSERT INTO ${s}.auth_keys (session_id, dc_id, media_only, slot, key, expires_at)
         SELECT $1, k.dc_id, k.media_only, k.slot, k.key, k.expires_at
           FROM unnest($9::integer[], $10::boolean[], $11::integer[], $12::bytea[], $13::bigint[])
                AS k(dc_id, media_only, slot, key, expires_at)
       ), channels AS (
         INSERT INTO ${s}.channels (session_id, channel_id, pts, position)
         SELECT $1, c.id, c.pts, nextval('${s}.channel_position')
           FROM unnest($14::bigint[], $15::integer[]) WITH ORDINALITY AS c(id, pts, n)
          ORDER BY c.n
       )
       SELECT 1`,
    ),

    // update() without homeDcId: only a stored snapshot changes (no row: NotFoundError).
    updateSession: statement(
      'update_session',
      `UPDATE ${s}.sessions s SET home_dc_id = coalesce($2, s.home_dc_id), ${PATCHED('s')}
        WHERE s.name = $1 AND s.home_dc_id IS NOT NULL
       RETURNING id`,
    ),

    // update() with homeDcId (and dcs): creates the snapshot when none is stored. A row
    // without a snapshot has NULL in every snapshot column, so fields not given stay absent.
    createOrUpdateSession: statement(
      'create_or_update_session',
      `INSERT INTO ${s}.sessions AS s (name, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_usernames, user_premium, takeout_id,
                                       pts, qts, state_date, seq)
       VALUES ($1, $2, $4, $6, $7, $8, $9, $10, $12, $14, $15, $16, $17)
       ON CONFLICT (name) DO UPDATE SET home_dc_id = excluded.home_dc_id, ${PATCHED('s')}
       RETURNING id`,
    ),

    // update() with dcs: the address rows go, keys stay (they live in auth_keys).
    clearDcs: statement('clear_dcs', `DELETE FROM ${s}.dcs WHERE session_id = $1`),
    // update() with channels: every channel row goes, the patch's are inserted (insertSnapshot).
    clearChannels: statement('clear_channels', `DELETE FROM ${s}.channels WHERE session_id = $1`),

    // The hot path, one round trip: the state and the listed channels, only if a snapshot
    // exists (found = 0 otherwise, and nothing is written). New channels go last.
    saveUpdateState: statement(
      'save_update_state',
      `WITH s AS (
         UPDATE ${s}.sessions SET pts = $2, qts = $3, state_date = $4, seq = $5, updated_at = now()
          WHERE name = $1 AND home_dc_id IS NOT NULL
         RETURNING id
       ), channels AS (
         INSERT INTO ${s}.channels (session_id, channel_id, pts, position)
         SELECT s.id, c.id, c.pts, nextval('${s}.channel_position')
           FROM s, unnest($6::bigint[], $7::integer[]) AS c(id, pts)
         ON CONFLICT (session_id, channel_id) DO UPDATE SET pts = excluded.pts
       )
       SELECT count(*)::integer AS found FROM s`,
    ),

    // Cascades to DCs, keys, channels, peers and usernames, kv entries and reference messages.
    deleteSession: statement('delete_session', `DELETE FROM ${s}.sessions WHERE name = $1`),

    // Names with anything stored: a row left empty (its last key, entry, peer or reference
    // removed) is not listed. Each EXISTS is a primary key prefix lookup. Names are ASCII
    // (core checks them): byte order is JavaScript's default sort.
    listNames: statement(
      'list_names',
      `SELECT s.name FROM ${s}.sessions s
        WHERE s.home_dc_id IS NOT NULL
           OR EXISTS (SELECT 1 FROM ${s}.auth_keys k WHERE k.session_id = s.id)
           OR EXISTS (SELECT 1 FROM ${s}.kv v WHERE v.session_id = s.id)
           OR EXISTS (SELECT 1 FROM ${s}.peers p WHERE p.session_id = s.id)
           OR EXISTS (SELECT 1 FROM ${s}.ref_messages r WHERE r.session_id = s.id)
        ORDER BY s.name COLLATE "C"`,
    ),
  };
}

export interface ServerStatements {
  create: Statement;
  has: Statement;
  info: Statement;
  touch: Statement;
  destroy: Statement;
  list: Statement;
  destroyAll: Statement;
  expire: Statement;
}

/** A row is live at `$now` when it has no expiry or its expiry is later. */
const live = (now: string) => `(expires_at IS NULL OR expires_at > ${now})`;

export function serverStatements(s: string): ServerStatements {
  const t = `${s}.server_sessions`;
  return {
    // Atomic across processes: the primary key decides the one caller that inserts; an
    // expired row not yet swept is taken over (the row lock makes that one caller too).
    create: statement(
      'create_session',
      `INSERT INTO ${t} AS t (auth_key_id, session_id, last_used_at, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (auth_key_id, session_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at, expires_at = EXCLUDED.expires_at, created_at = now()
       WHERE t.expires_at <= $3 RETURNING 1`,
    ),
    has: statement('has_session', `SELECT 1 FROM ${t} WHERE auth_key_id = $1 AND session_id = $2 AND ${live('$3')}`),
    info: statement('session_info', `SELECT last_used_at, expires_at FROM ${t} WHERE auth_key_id = $1 AND session_id = $2 AND ${live('$3')}`),
    touch: statement('touch_session', `UPDATE ${t} SET last_used_at = $3, expires_at = $4 WHERE auth_key_id = $1 AND session_id = $2 AND ${live('$3')}`),
    destroy: statement('destroy_session', `DELETE FROM ${t} WHERE auth_key_id = $1 AND session_id = $2 AND ${live('$3')} RETURNING 1`),
    list: statement('list_sessions', `SELECT session_id FROM ${t} WHERE auth_key_id = $1 AND ${live('$2')} ORDER BY session_id`),
    destroyAll: statement('destroy_all_sessions', `DELETE FROM ${t} WHERE auth_key_id = $1 AND ${live('$2')} RETURNING session_id`),
    // The bounded sweep: at most $2 rows through the partial index; SKIP LOCKED lets
    // sweepers on other nodes take other rows instead of waiting, and each row is
    // returned by the one DELETE that removed it.
    expire: statement(
      'expire_sessions',
      `DELETE FROM ${t} WHERE (auth_key_id, session_id) IN (
         SELECT auth_key_id, session_id FROM ${t} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
       ) AND expires_at <= $1 RETURNING auth_key_id, session_id`,
    ),
  };
}
