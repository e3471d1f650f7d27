/**
 * The peer cache: `peers` holds one row per (session, type, id); `peer_usernames`
 * one row per username, keyed by its lower-cased form, pointing at its owner and
 * keeping the name as given and its place in the owner's list. A username therefore
 * has exactly one owner by construction, and moving it to another peer is deleting
 * and inserting one row: the previous owner's list (read through the join) no longer
 * has it.
 */
import { int64FromStorage, mergePeer, usernameKey, type Peer, type PeerType } from '@mtstore/core';
import type { Row, Sql } from './connection.js';
import { bySize, chunks, flag, insertRows, num } from './rows.js';
import type { SchemaContext } from './schema.js';

interface PeerKey {
  type: PeerType;
  id: bigint;
}

/**
 * `(peer_type = ? AND peer_id IN (?, …)) OR …`: the keys grouped by type, so each
 * group is a range on the primary key (session_name, peer_type, peer_id). Plain
 * IN lists work the same on every database, unlike row-value IN.
 */
function keyFilter(keys: readonly PeerKey[], column = 'peer'): { clause: string; params: unknown[] } {
  const byType = new Map<PeerType, bigint[]>();
  for (const key of keys) {
    const ids = byType.get(key.type);
    if (ids) ids.push(key.id);
    else byType.set(key.type, [key.id]);
  }
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [type, ids] of byType) {
    parts.push(`(${column}_type = ? AND ${column}_id IN (${Array(ids.length).fill('?').join(', ')}))`);
    params.push(type, ...ids);
  }
  return { clause: `(${parts.join(' OR ')})`, params };
}

export class PeerStatements {
  readonly byId: string;
  readonly byUsername: string;
  readonly byPhone: string;
  readonly #lockSession: string;
  readonly #upsert: (rows: number) => string;
  readonly #insertUsernames: (rows: number) => string;
  readonly #releasePhones: (count: number) => string;
  readonly #releaseUsernames: (count: number) => string;
  readonly #context: SchemaContext;

  constructor(context: SchemaContext) {
    const { dialect: d, tables: t } = context;
    this.#context = context;
    const columns = [
      'p.peer_type AS peer_type',
      `${d.text('p.peer_id')} AS id`,
      `${d.text('p.access_hash')} AS hash`,
      `${d.flag('p.is_min')} AS is_min`,
      'p.phone AS phone',
      'p.updated_at AS updated_at',
      'u.username AS username',
    ].join(', ');
    const usernames = `LEFT JOIN ${t.peerUsernames} u ON u.session_name = p.session_name AND u.peer_type = p.peer_type AND u.peer_id = p.peer_id`;
    // One statement per lookup (peer and its usernames together): one round trip, one consistent read.
    this.byId = d.sql(`SELECT ${columns} FROM ${t.peers} p ${usernames} WHERE p.session_name = ? AND p.peer_type = ? AND p.peer_id = ? ORDER BY u.ord`);
    this.byUsername = d.sql(
      `SELECT ${columns} FROM ${t.peerUsernames} k JOIN ${t.peers} p ON p.session_name = k.session_name AND p.peer_type = k.peer_type AND p.peer_id = k.peer_id ${usernames} WHERE k.session_name = ? AND k.username_key = ? ORDER BY u.ord`,
    );
    this.byPhone = d.sql(`SELECT ${columns} FROM ${t.peers} p ${usernames} WHERE p.session_name = ? AND p.phone = ? ORDER BY p.peer_type, p.peer_id, u.ord`);
    this.#lockSession = d.sql(`SELECT 1 AS found FROM ${t.sessions} WHERE session_name = ?${d.forUpdate}`);
    this.#upsert = bySize((n) =>
      d.sql(
        d.upsert(
          `INSERT INTO ${t.peers} (session_name, peer_type, peer_id, access_hash, is_min, phone, updated_at)`,
          d.rows(n, 7),
          ['session_name', 'peer_type', 'peer_id'],
          ['access_hash', 'is_min', 'phone', 'updated_at'],
        ),
      ),
    );
    this.#insertUsernames = bySize((n) =>
      d.sql(`INSERT INTO ${t.peerUsernames} (session_name, username_key, username, peer_type, peer_id, ord) VALUES ${d.rows(n, 6)}`),
    );
    this.#releasePhones = bySize((n) => d.sql(`UPDATE ${t.peers} SET phone = NULL WHERE session_name = ? AND phone IN (${d.list(n)})`));
    this.#releaseUsernames = bySize((n) => d.sql(`DELETE FROM ${t.peerUsernames} WHERE session_name = ? AND username_key IN (${d.list(n)})`));
  }

  /**
   * Stores a normalized batch inside the caller's transaction. The session row is
   * locked first (the order every writer of a session follows), which also tells
   * whether the session exists: false, with nothing written, when it does not.
   */
  async upsert(sql: Sql, name: string, batch: readonly Peer[]): Promise<boolean> {
    const { dialect: d, tables: t } = this.#context;
    const max = d.maxParams;
    if ((await sql.rows(this.#lockSession, [name])).length === 0) return false;

    const peers = await this.#mergeMin(sql, name, batch);

    // Phones and usernames the batch claims leave whoever holds them now; the batch's
    // peers drop their old usernames (their lists are replaced whole).
    const phones = peers.flatMap((p) => (p.phone === undefined ? [] : [p.phone]));
    for (const chunk of chunks(phones, 1, max, 1)) await sql.affected(this.#releasePhones(chunk.length), [name, ...chunk]);
    for (const chunk of chunks(peers, 1, max, 4)) {
      const filter = keyFilter(chunk);
      await sql.affected(d.sql(`DELETE FROM ${t.peerUsernames} WHERE session_name = ? AND ${filter.clause}`), [name, ...filter.params]);
    }
    const usernameRows = peers.flatMap((p) => p.usernames.map((u, ord) => [name, usernameKey(u), u, p.type, p.id, ord]));
    const keys = usernameRows.map((row) => row[1]);
    for (const chunk of chunks(keys, 1, max, 1)) await sql.affected(this.#releaseUsernames(chunk.length), [name, ...chunk]);

    const peerRows = peers.map((p) => [name, p.type, p.id, p.accessHash, d.bool(p.min), p.phone ?? null, p.updatedAt]);
    await insertRows(sql, this.#upsert, peerRows, max);
    await insertRows(sql, this.#insertUsernames, usernameRows, max);
    return true;
  }

  /** A min peer never replaces the access hash of a stored non-min one: read the stored hashes it could touch. */
  async #mergeMin(sql: Sql, name: string, batch: readonly Peer[]): Promise<readonly Peer[]> {
    const min = batch.filter((p) => p.min === true);
    if (min.length === 0) return batch;
    const { dialect: d, tables: t } = this.#context;
    const stored = new Map<string, { accessHash: bigint; min: boolean | undefined }>();
    for (const chunk of chunks(min, 1, d.maxParams, 4)) {
      const filter = keyFilter(chunk);
      const rows = await sql.rows(
        d.sql(`SELECT peer_type, ${d.text('peer_id')} AS id, ${d.text('access_hash')} AS hash, ${d.flag('is_min')} AS is_min FROM ${t.peers} WHERE session_name = ? AND ${filter.clause}`),
        [name, ...filter.params],
      );
      for (const row of rows) {
        const where = `session ${JSON.stringify(name)}, peer`;
        stored.set(`${String(row.peer_type)}:${int64FromStorage(row.id, `${where} id`)}`, {
          accessHash: int64FromStorage(row.hash, `${where} access_hash`),
          min: flag(row.is_min),
        });
      }
    }
    return batch.map((peer) => {
      const previous = peer.min === true ? stored.get(`${peer.type}:${peer.id}`) : undefined;
      if (previous === undefined) return peer;
      const asStored: Peer = { ...peer, accessHash: previous.accessHash };
      if (previous.min === undefined) delete asStored.min;
      else asStored.min = previous.min;
      return mergePeer(asStored, peer);
    });
  }

  /** Rows of a lookup (one per username of the peer) back to a peer; checked afterwards by core. */
  decode(rows: readonly Row[], name: string): Peer | null {
    const first = rows[0];
    if (first === undefined) return null;
    const where = `session ${JSON.stringify(name)}, peer`;
    const peer: Peer = {
      type: first.peer_type as PeerType,
      id: int64FromStorage(first.id, `${where} id`),
      accessHash: int64FromStorage(first.hash, `${where} access_hash`),
      usernames: [],
      updatedAt: num(first.updated_at),
    };
    if (first.phone !== null) peer.phone = String(first.phone);
    const min = flag(first.is_min);
    if (min !== undefined) peer.min = min;
    for (const row of rows) {
      // A phone lookup could only match two peers in a damaged table; keep the first.
      if (row.peer_type !== first.peer_type || row.id !== first.id) break;
      if (row.username !== null) peer.usernames.push(String(row.username));
    }
    return peer;
  }
}
