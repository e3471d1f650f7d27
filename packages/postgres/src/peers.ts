/**
 * The peer cache in `<schema>.peers` (primary key (session, type, id), phone unique per
 * session) and `<schema>.peer_usernames` (each username once per session, with its
 * owner). A batch of any size is one statement; lookups are one indexed statement each.
 */
import { CorruptDataError, InvalidArgumentError, type Peer, type PeerListPage, type PeerPosition, type PeerRepository, type PeerType } from '@mtstore/core';
import { statement, type Database, type Statement } from './connection.js';
import type { LeaseFence } from './lease.js';
import { namedSession } from './statements.js';
import { bytesFromBase64 } from './types.js';

/** Columns of a peer row, with its usernames (as given, in order) as a JSON array. */
const PEER_COLUMNS = (s: string): string => `
  p.type, p.id, p.access_hash, p.phone, p.min, p.updated_at, p.display_name, encode(p.complete, 'base64') AS complete,
  (SELECT json_agg(u.username ORDER BY u.position) FROM ${s}.peer_usernames u
    WHERE u.session_id = p.session_id AND u.type = p.type AND u.peer_id = p.id) AS usernames`;

interface PeerStatements {
  lock: Statement;
  upsert: Statement;
  byId: Statement;
  byUsername: Statement;
  byPhone: Statement;
  listFirst: Statement;
  listAfter: Statement;
  clear: Statement;
}

function peerStatements(s: string): PeerStatements {
  return {
    // Taken before upsert, in its transaction: batches of one session take turns.
    lock: statement('lock_peers', 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))'),

    // A whole normalized batch in one statement (parameters: see encodePeers):
    // - the session row is found or created (namedSession): peers need no snapshot;
    // - peers are upserted; a min peer keeps a stored non-min access hash, min flag and
    //   complete object (mergePeer); every other field comes from the batch;
    // - peers outside the batch lose the phones the batch claims;
    // - username rows of batch peers and of claimed names are replaced, leaving rows that
    //   do not change untouched (re-seeing a peer writes no username rows). The rows to
    //   look at are a UNION joined by the primary key, not `owner IN (…) OR name IN (…)`:
    //   PostgreSQL cannot make a join of an OR, so it tested each username row of the
    //   session against both lists, and a list it expects not to fit work_mem as a hash
    //   (the names of a batch of ~7,000 peers or more, under the default 4 MB) it scanned
    //   once per row: a 10,000-peer batch into a session holding 10,000 took ~30 s.
    // The phone and username constraints are deferrable, checked when the statement ends.
    upsert: statement(
      'upsert_peers',
      `WITH ${namedSession(s)}, batch AS (
         SELECT named.id AS session_id, b.type, b.id, b.access_hash, b.phone, b.min, b.updated_at, b.usernames,
                b.display_name, b.complete
           FROM named, unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::boolean[], $7::bigint[], $8::text[],
                              $9::text[], $10::bytea[])
                   AS b(type, id, access_hash, phone, min, updated_at, usernames, display_name, complete)
       ), names AS (
         SELECT b.session_id, b.type, b.id, u.username, lower(u.username) AS username_key, u.position::integer AS position
           FROM batch b, unnest(string_to_array(b.usernames, ' ')) WITH ORDINALITY AS u(username, position)
       ), upserted AS (
         INSERT INTO ${s}.peers AS p (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete)
         SELECT session_id, type, id, access_hash, phone, min, updated_at, display_name, complete FROM batch
         ON CONFLICT (session_id, type, id) DO UPDATE SET
           access_hash = CASE WHEN excluded.min AND p.min IS NOT TRUE THEN p.access_hash ELSE excluded.access_hash END,
           min = CASE WHEN excluded.min AND p.min IS NOT TRUE THEN p.min ELSE excluded.min END,
           complete = CASE WHEN excluded.min AND p.min IS NOT TRUE THEN p.complete ELSE excluded.complete END,
           phone = excluded.phone,
           updated_at = excluded.updated_at,
           display_name = excluded.display_name
       ), phones_released AS (
         UPDATE ${s}.peers p SET phone = NULL
           FROM batch b
          WHERE p.session_id = b.session_id AND p.phone = b.phone
            AND NOT EXISTS (SELECT 1 FROM batch o WHERE o.type = p.type AND o.id = p.id)
       ), names_released AS (
         DELETE FROM ${s}.peer_usernames u
          USING (SELECT o.session_id, o.username_key FROM batch b
                   JOIN ${s}.peer_usernames o ON o.session_id = b.session_id AND o.type = b.type AND o.peer_id = b.id
                 UNION
                 SELECT session_id, username_key FROM names) c
          WHERE u.session_id = c.session_id AND u.username_key = c.username_key
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
       SELECT 1`,
    ),

    byId: statement(
      'peer_by_id',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s JOIN ${s}.peers p ON p.session_id = s.id
        WHERE s.name = $1 AND p.type = $2 AND p.id = $3`,
    ),
    // The owner's key comes first, from the username index alone (a scalar subquery, run
    // once), then the peer by its primary key. As a three-way join the plan depended on
    // statistics: on tables not yet analysed (a new schema, a session filling up) the
    // planner walked every peer of the session and probed each one's usernames, about
    // 5× a lookup by id at 1,000 peers and growing with the cache.
    byUsername: statement(
      'peer_by_username',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.peers p
        WHERE (p.session_id, p.type, p.id) = (SELECT k.session_id, k.type, k.peer_id
                                                FROM ${s}.sessions s JOIN ${s}.peer_usernames k ON k.session_id = s.id
                                               WHERE s.name = $1 AND k.username_key = $2)`,
    ),
    byPhone: statement(
      'peer_by_phone',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s JOIN ${s}.peers p ON p.session_id = s.id
        WHERE s.name = $1 AND p.phone = $2`,
    ),

    // Pages walk the primary key (session_id, type, id) in order: a page after the first
    // starts right after the last (type, id) returned, as an index range, not an offset.
    // One row more than the page tells whether another page follows.
    listFirst: statement(
      'peer_list_first',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s JOIN ${s}.peers p ON p.session_id = s.id
        WHERE s.name = $1
        ORDER BY p.type, p.id LIMIT $2`,
    ),
    listAfter: statement(
      'peer_list_after',
      `SELECT ${PEER_COLUMNS(s)}
         FROM ${s}.sessions s JOIN ${s}.peers p ON p.session_id = s.id
        WHERE s.name = $1 AND (p.type, p.id) > ($3::text, $4::bigint)
        ORDER BY p.type, p.id LIMIT $2`,
    ),

    // Cascades to the usernames.
    clear: statement('peer_clear', `DELETE FROM ${s}.peers p USING ${s}.sessions s WHERE s.name = $1 AND p.session_id = s.id`),
  };
}

export class PostgresPeers implements PeerRepository {
  readonly #db: Database;
  /** Runs the writes: fenced by the lease token while one is held (lease.ts). */
  readonly #fence: LeaseFence;
  readonly #name: string;
  readonly #label: string;
  readonly #lockKey: string;
  readonly #sql: PeerStatements;

  /** `label`: the session's corrupt-data prefix (BaseStorage.storedLabel). */
  constructor(db: Database, fence: LeaseFence, name: string, label: string) {
    this.#db = db;
    this.#fence = fence;
    this.#name = name;
    this.#label = label;
    this.#lockKey = `mtstore:peers:${db.schema}:${name}`;
    this.#sql = peerStatements(db.s);
  }

  /**
   * One transaction: a per-session advisory lock, then the whole batch in one
   * statement. The lock makes concurrent batches of one session take turns (they
   * would otherwise deadlock on each other's rows), and the batch statement starts
   * after it, so it sees every batch committed before. Only `clear` also takes it:
   * saveUpdateState and the lookups never do.
   */
  async upsert(peers: readonly Peer[]): Promise<void> {
    const values = encodePeers(this.#name, peers);
    await this.#fence.transaction(async (query) => {
      await query(this.#sql.lock, [this.#lockKey]);
      await query(this.#sql.upsert, values);
    });
  }

  async getById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#first(await this.#db.query<PeerRow>(this.#sql.byId, [this.#name, type, id]));
  }

  async getByUsername(username: string): Promise<Peer | null> {
    return this.#first(await this.#db.query<PeerRow>(this.#sql.byUsername, [this.#name, username]));
  }

  async getByPhone(phone: string): Promise<Peer | null> {
    return this.#first(await this.#db.query<PeerRow>(this.#sql.byPhone, [this.#name, phone]));
  }

  async list(after: PeerPosition | null, limit: number): Promise<PeerListPage> {
    const result =
      after === null
        ? await this.#db.query<PeerRow>(this.#sql.listFirst, [this.#name, limit + 1])
        : await this.#db.query<PeerRow>(this.#sql.listAfter, [this.#name, limit + 1, after.type, after.id.toString()]);
    const rows = result.rows;
    const more = rows.length > limit;
    const peers = (more ? rows.slice(0, limit) : rows).map((row) => decodePeer(row, this.#label));
    const last = peers.at(-1);
    return { peers, next: more && last !== undefined ? { type: last.type, id: last.id } : null };
  }

  /**
   * Under the batches' lock: a clear beside a batch is then before or after it. Without
   * it a batch that started while the clear's DELETE was uncommitted put its peers back
   * without their username rows (its snapshot still showed them, unchanged).
   */
  async clear(): Promise<void> {
    await this.#fence.transaction(async (query) => {
      await query(this.#sql.lock, [this.#lockKey]);
      await query(this.#sql.clear, [this.#name]);
    });
  }

  #first({ rows }: { rows: PeerRow[] }): Peer | null {
    const row = rows[0];
    return row === undefined ? null : decodePeer(row, this.#label);
  }
}

/** Parameters of upsert: the session name, then one array per column. */
function encodePeers(name: string, peers: readonly Peer[]): unknown[] {
  const n = peers.length;
  const types: string[] = new Array(n);
  const ids: bigint[] = new Array(n);
  const hashes: bigint[] = new Array(n);
  const phones: (string | null)[] = new Array(n);
  const mins: (boolean | null)[] = new Array(n);
  const updated: number[] = new Array(n);
  const usernames: string[] = new Array(n);
  const names: (string | null)[] = new Array(n);
  const completes: (Uint8Array | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const peer = peers[i] as Peer;
    types[i] = peer.type;
    ids[i] = peer.id;
    hashes[i] = peer.accessHash;
    phones[i] = peer.phone ?? null;
    mins[i] = peer.min ?? null;
    updated[i] = peer.updatedAt;
    // Usernames are [A-Za-z0-9_]: a space separates them safely (split again in SQL).
    usernames[i] = peer.usernames.join(' ');
    names[i] = peer.displayName ?? null;
    completes[i] = peer.complete ?? null;
  }
  return [name, types, ids, hashes, phones, mins, updated, usernames, names, completes];
}

interface PeerRow {
  type: string;
  id: bigint;
  access_hash: bigint;
  phone: string | null;
  min: boolean | null;
  updated_at: bigint;
  display_name: string | null;
  complete: string | null;
  usernames: unknown;
}

/**
 * A peer row as the model, leaving absent what is NULL. Only shapes needed to build the
 * object are checked here; core's checkStoredPeer reports anything else as corrupt data.
 */
export function decodePeer(row: PeerRow, label: string): Peer {
  const usernames = row.usernames ?? [];
  if (!Array.isArray(usernames)) throw new CorruptDataError(`${label} ${row.type}:${row.id}: usernames is not a list`);
  const peer: Peer = {
    type: row.type as PeerType,
    id: row.id,
    accessHash: row.access_hash,
    usernames: usernames as string[],
    updatedAt: Number(row.updated_at),
  };
  if (row.phone !== null) peer.phone = row.phone;
  if (row.min !== null) peer.min = row.min;
  if (row.display_name !== null) peer.displayName = row.display_name;
  if (row.complete !== null) peer.complete = bytesFromBase64(row.complete);
  return peer;
}
