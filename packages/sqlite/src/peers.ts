/**
 * The peer cache of one session: `<prefix>peers` (one row per (type, id)) and
 * `<prefix>peer_usernames` (each peer's usernames in order; a unique lower-cased key
 * gives each username one owner). Lookups are one statement each; an upsert batch
 * is one IMMEDIATE transaction.
 */
import type Database from 'better-sqlite3';
import { InvalidArgumentError, INT64_MAX, INT64_MIN, usernameKey, type Peer, type PeerPage, type PeerRepository, type PeerType } from '@mtstore/core';
import { bit, peerFromRow, type PeerRow } from './rows.js';
import type { Tables } from './schema.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements, type Statement } from './statements.js';

/** Columns of a peer row (see PeerRow), usernames joined in order. */
function peerColumns(t: Tables): string {
  return `p.type, p.id, p.access_hash, p.phone, p.min, p.updated_at, p.display_name, p.complete,
    (SELECT group_concat(u.username, ' ' ORDER BY u.position) FROM ${t.usernames} u
      WHERE u.session_id = p.session_id AND u.type = p.type AND u.id = p.id) AS usernames`;
}

export function preparePeers(db: Database.Database, t: Tables) {
  const { read, write } = statements(db);
  return {
    releasePhone: write(`UPDATE ${t.peers} SET phone = NULL
      WHERE session_id = ? AND phone = ? AND NOT (type = ? AND id = ?)`),
    // core's mergePeer, done by the database against the stored row: a min peer never
    // replaces the access hash, the absent/false min flag or the complete object of a
    // non-min one.
    upsertPeer: write(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (session_id, type, id) DO UPDATE SET
        access_hash = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.access_hash ELSE excluded.access_hash END,
        complete = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.complete ELSE excluded.complete END,
        min = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.min ELSE excluded.min END,
        phone = excluded.phone,
        updated_at = excluded.updated_at,
        display_name = excluded.display_name`),
    dropUsernames: write(`DELETE FROM ${t.usernames} WHERE session_id = ? AND type = ? AND id = ?`),
    // Claiming a username takes it from whichever peer held it.
    claimUsername: write(`INSERT INTO ${t.usernames} (session_id, type, id, position, username, username_key)
      VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (session_id, username_key) DO UPDATE SET
        type = excluded.type, id = excluded.id, position = excluded.position, username = excluded.username`),

    // lookups: one statement each, the session resolved by name inside it
    peerById: read(`SELECT ${peerColumns(t)} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND p.type = ? AND p.id = ?`),
    peerByUsername: read(`SELECT ${peerColumns(t)} FROM ${t.usernames} k
      JOIN ${t.peers} p ON p.session_id = k.session_id AND p.type = k.type AND p.id = k.id
      WHERE k.session_id = ${sessionOf(t)} AND k.username_key = ?`),
    peerByPhone: read(`SELECT ${peerColumns(t)} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND p.phone = ?`),
    // Keyset paging in primary-key order: the cursor is the last (type, id) returned.
    page: read(`SELECT ${peerColumns(t)} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND (p.type, p.id) > (?, ?) ORDER BY p.type, p.id LIMIT ?`),
    clearUsernames: write(`DELETE FROM ${t.usernames} WHERE session_id = ${sessionOf(t)}`),
    clearPeers: write(`DELETE FROM ${t.peers} WHERE session_id = ${sessionOf(t)}`),
  };
}

type PeerStatements = ReturnType<typeof preparePeers>;

interface Prepared {
  sql: PeerStatements;
  upsert: Database.Transaction<(peers: readonly Peer[]) => void>;
  clear: Database.Transaction<() => void>;
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
      upsert: db.transaction((peers: readonly Peer[]): void => {
        const id = this.scope.id();
        for (const peer of peers) {
          const { type, id: peerId, usernames } = peer;
          if (peer.phone !== undefined) sql.releasePhone.run(id, peer.phone, type, peerId);
          sql.upsertPeer.run(id, type, peerId, peer.accessHash, peer.phone ?? null, bit(peer.min), peer.updatedAt, peer.displayName ?? null, peer.complete ?? null);
          sql.dropUsernames.run(id, type, peerId);
          for (let i = 0; i < usernames.length; i++) {
            const username = usernames[i] as string;
            sql.claimUsername.run(id, type, peerId, i, username, usernameKey(username));
          }
        }
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
