/**
 * The peer cache of one session: `<prefix>peers` (one row per (type, id), its
 * usernames in order as a JSON array) and `<prefix>peer_usernames` (the lookup index:
 * lower-cased username → owner, which gives each username one owner). Lookups are one
 * statement each. An upsert batch is one IMMEDIATE transaction of a few set-based
 * statements over the whole batch, bound once as JSON (see batchJson): SQLite's
 * json_each turns it into rows, so the cost per peer is SQLite's, not a statement
 * call per peer per table.
 */
import { Buffer } from 'node:buffer';
import type Database from 'better-sqlite3';
import { InvalidArgumentError, INT64_MAX, INT64_MIN, type Peer, type PeerPage, type PeerRepository, type PeerType } from '@mtstore/core';
import { peerFromRow, type PeerRow } from './rows.js';
import type { Tables } from './schema.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements } from './statements.js';

/** Columns of a peer row (see PeerRow). */
const PEER_COLUMNS = 'p.type, p.id, p.access_hash, p.phone, p.min, p.updated_at, p.display_name, p.complete, p.usernames';

/**
 * The fields of one batch entry, by position: [type, id, accessHash, phone, min,
 * updatedAt, displayName, complete (hex), usernames]. @session is the session row id,
 * @batch the batch.
 */
const B = { type: 0, id: 1, hash: 2, phone: 3, min: 4, updated: 5, name: 6, complete: 7, usernames: 8 } as const;

export function preparePeers(db: Database.Database, t: Tables) {
  const { read, write } = statements(db);
  return {
    // Names of the batch held by a peer outside it (or by another peer of it): their
    // holders lose them. Usually no row; driven by the batch, one index probe per name.
    // CROSS JOIN fixes the loop order (SQLite keeps it): the batch drives, each name one probe.
    movedUsernames: read(`SELECT o.type, o.id, o.username_key FROM json_each(@batch) j CROSS JOIN json_each(j.value->${B.usernames}) u
      CROSS JOIN ${t.usernames} o ON o.session_id = @session AND o.username_key = lower(u.value)
      WHERE NOT (o.type = j.value->>${B.type} AND o.id = j.value->>${B.id})`),
    dropUsername: write(`UPDATE ${t.peers} SET usernames = (SELECT json_group_array(n.value) FROM json_each(${t.peers}.usernames) n WHERE lower(n.value) <> @key)
      WHERE session_id = @session AND type = @type AND id = @id`),
    // Phones of the batch held by another peer: likewise, usually no row.
    movedPhones: read(`SELECT p.type, p.id FROM json_each(@batch) j
      CROSS JOIN ${t.peers} p ON p.session_id = @session AND p.phone = j.value->>${B.phone}
      WHERE j.value->>${B.phone} IS NOT NULL AND NOT (p.type = j.value->>${B.type} AND p.id = j.value->>${B.id})`),
    releasePhone: write(`UPDATE ${t.peers} SET phone = NULL WHERE session_id = @session AND type = @type AND id = @id`),
    // Index rows of the batch's stored peers for names they no longer have.
    dropStaleKeys: write(`DELETE FROM ${t.usernames} WHERE session_id = @session AND username_key IN (
      SELECT lower(o.value) FROM json_each(@batch) j
        CROSS JOIN ${t.peers} p ON p.session_id = @session AND p.type = j.value->>${B.type} AND p.id = j.value->>${B.id}
        CROSS JOIN json_each(p.usernames) o
        WHERE lower(o.value) NOT IN (SELECT lower(u.value) FROM json_each(j.value->${B.usernames}) u))`),
    // core's mergePeer, done by the database against the stored row: a min peer never
    // replaces the access hash, the absent/false min flag or the TL bytes of a non-min one.
    upsertPeers: write(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete, usernames)
      SELECT @session, value->>${B.type}, value->>${B.id}, value->>${B.hash}, value->>${B.phone}, value->>${B.min}, value->>${B.updated},
        value->>${B.name}, unhex(value->>${B.complete}), value->${B.usernames}
      FROM json_each(@batch) WHERE true
      ON CONFLICT (session_id, type, id) DO UPDATE SET
        access_hash = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.access_hash ELSE excluded.access_hash END,
        complete = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.complete ELSE excluded.complete END,
        min = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.min ELSE excluded.min END,
        phone = excluded.phone,
        updated_at = excluded.updated_at,
        display_name = excluded.display_name,
        usernames = excluded.usernames`),
    // Claiming a username takes it from whichever peer held it; a row already pointing
    // at its owner (a re-upsert) is left unwritten.
    claimUsernames: write(`INSERT INTO ${t.usernames} (session_id, username_key, type, id)
      SELECT @session, lower(u.value), j.value->>${B.type}, j.value->>${B.id} FROM json_each(@batch) j, json_each(j.value->${B.usernames}) u WHERE true
      ON CONFLICT (session_id, username_key) DO UPDATE SET type = excluded.type, id = excluded.id
        WHERE type IS NOT excluded.type OR id IS NOT excluded.id`),

    // lookups: one statement each, the session resolved by name inside it
    peerById: read(`SELECT ${PEER_COLUMNS} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND p.type = ? AND p.id = ?`),
    peerByUsername: read(`SELECT ${PEER_COLUMNS} FROM ${t.usernames} k
      JOIN ${t.peers} p ON p.session_id = k.session_id AND p.type = k.type AND p.id = k.id
      WHERE k.session_id = ${sessionOf(t)} AND k.username_key = ?`),
    peerByPhone: read(`SELECT ${PEER_COLUMNS} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND p.phone = ?`),
    // Keyset paging in primary-key order: the cursor is the last (type, id) returned.
    page: read(`SELECT ${PEER_COLUMNS} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND (p.type, p.id) > (?, ?) ORDER BY p.type, p.id LIMIT ?`),
    clearUsernames: write(`DELETE FROM ${t.usernames} WHERE session_id = ${sessionOf(t)}`),
    clearPeers: write(`DELETE FROM ${t.peers} WHERE session_id = ${sessionOf(t)}`),
  };
}

/**
 * A normalized batch as the one JSON text the batch statements read. Built by hand:
 * JSON.stringify knows no bigint. Types, usernames and phones are validated plain ASCII
 * (letters, digits, underscores); the display name is escaped by JSON.stringify;
 * TL bytes travel as hex (SQLite's unhex turns them back into a BLOB).
 */
function batchJson(peers: readonly Peer[]): string {
  let json = '[';
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i] as Peer;
    if (i > 0) json += ',';
    json += `["${p.type}",${p.id},${p.accessHash},${p.phone === undefined ? 'null' : `"${p.phone}"`},${p.min === undefined ? 'null' : p.min ? 1 : 0},${p.updatedAt},`;
    json += p.displayName === undefined ? 'null,' : `${JSON.stringify(p.displayName)},`;
    json += p.complete === undefined ? 'null,' : `"${Buffer.from(p.complete.buffer, p.complete.byteOffset, p.complete.byteLength).toString('hex')}",`;
    json += p.usernames.length === 0 ? '[]]' : `["${p.usernames.join('","')}"]]`;
  }
  return `${json}]`;
}

type PeerStatements = ReturnType<typeof preparePeers>;

interface Prepared {
  sql: PeerStatements;
  upsert: Database.Transaction<(peers: readonly Peer[]) => void>;
  clear: Database.Transaction<() => void>;
}

interface MovedRow {
  type: string;
  id: bigint;
  username_key?: string;
}

const CURSOR = /^(user|chat|channel):(-?\d{1,19})$/;

export class SqlitePeers implements PeerRepository {
  #prepared: Prepared | undefined;

  constructor(
    private readonly scope: SessionScope,
    private readonly label: string,
  ) {}

  #db(): Prepared {
    if (this.#prepared !== undefined) return this.#prepared;
    const db = this.scope.db();
    const sql = preparePeers(db, this.scope.tables);
    return (this.#prepared = {
      sql,
      // `peers` is normalized by core: each key, username and phone at most once.
      // Order matters: holders outside the batch lose names and phones first, the
      // batch's stale index rows go, then the rows are written and the names claimed.
      upsert: db.transaction((peers: readonly Peer[]): void => {
        const session = this.scope.id();
        const params = { session, batch: batchJson(peers) };
        for (const row of sql.movedUsernames.all(params) as MovedRow[]) sql.dropUsername.run({ session, type: row.type, id: row.id, key: row.username_key });
        for (const row of sql.movedPhones.all(params) as MovedRow[]) sql.releasePhone.run({ session, type: row.type, id: row.id });
        sql.dropStaleKeys.run(params);
        sql.upsertPeers.run(params);
        sql.claimUsernames.run(params);
      }),
      // Usernames first, explicitly: complete even where foreign_keys is off (a borrowed database).
      clear: db.transaction((): void => {
        sql.clearUsernames.run(this.scope.name);
        sql.clearPeers.run(this.scope.name);
      }),
    });
  }

  async upsert(peers: readonly Peer[]): Promise<void> {
    this.#db().upsert.immediate(peers);
  }

  async getById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#peer(this.#db().sql.peerById.get(this.scope.name, type, id));
  }

  async getByUsername(username: string): Promise<Peer | null> {
    return this.#peer(this.#db().sql.peerByUsername.get(this.scope.name, username));
  }

  async getByPhone(phone: string): Promise<Peer | null> {
    return this.#peer(this.#db().sql.peerByPhone.get(this.scope.name, phone));
  }

  /** The cursor is `type:id` of the last peer of the previous page. */
  async list(cursor: string | null, limit: number): Promise<PeerPage> {
    let after: [string, bigint] = ['', INT64_MIN];
    if (cursor !== null) {
      const match = CURSOR.exec(cursor);
      const id = match === null ? undefined : BigInt(match[2] as string);
      if (match === null || id === undefined || id < INT64_MIN || id > INT64_MAX) {
        throw new InvalidArgumentError(`cursor ${JSON.stringify(cursor)} is not one peers.list returned`);
      }
      after = [match[1] as string, id];
    }
    // One row more than the page tells whether another page follows.
    const rows = this.#db().sql.page.all(this.scope.name, after[0], after[1], limit + 1) as PeerRow[];
    const peers = rows.slice(0, limit).map((row) => peerFromRow(row, this.label));
    const last = peers[peers.length - 1];
    return { peers, cursor: rows.length > limit && last !== undefined ? `${last.type}:${last.id}` : null };
  }

  async clear(): Promise<void> {
    this.#db().clear.immediate();
  }

  #peer(row: unknown): Peer | null {
    return row === undefined ? null : peerFromRow(row as PeerRow, this.label);
  }
}
