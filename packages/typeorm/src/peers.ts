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
import { bySize, chunks, chunksBy, flag, insertRows, num } from './rows.js';
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
function keyFilter(keys: readonly PeerKey[]): { clause: string; params: unknown[] } | undefined {
  if (keys.length === 0) return undefined;
  const byType = new Map<PeerType, bigint[]>();
  for (const key of keys) {
    const ids = byType.get(key.type);
    if (ids) ids.push(key.id);
    else byType.set(key.type, [key.id]);
  }
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [type, ids] of byType) {
    parts.push(`(peer_type = ? AND peer_id IN (${Array(ids.length).fill('?').join(', ')}))`);
    params.push(type, ...ids);
  }
  return { clause: `(${parts.join(' OR ')})`, params };
}

/** `column IN (?, …)`, or nothing for an empty list. */
function inList(column: string, values: readonly unknown[]): { clause: string; params: unknown[] } | undefined {
  return values.length === 0 ? undefined : { clause: `${column} IN (${Array(values.length).fill('?').join(', ')})`, params: [...values] };
}

/** The given conditions joined with OR (at least one is present). */
function anyOf(parts: readonly ({ clause: string; params: unknown[] } | undefined)[]): { clause: string; params: unknown[] } {
  const present = parts.filter((p): p is { clause: string; params: unknown[] } => p !== undefined);
  return { clause: `(${present.map((p) => p.clause).join(' OR ')})`, params: present.flatMap((p) => p.params) };
}

function keyOf(peer: PeerKey): string {
  return `${peer.type}:${peer.id}`;
}

/** The incoming peer as stored: a min peer keeps a stored non-min access hash (core's rule). */
function mergeStored(peer: Peer, stored: { accessHash: bigint; min: boolean | undefined } | undefined): Peer {
  if (stored === undefined) return peer;
  const asStored: Peer = { ...peer, accessHash: stored.accessHash };
  if (stored.min === undefined) delete asStored.min;
  else asStored.min = stored.min;
  return mergePeer(asStored, peer);
}

export class PeerStatements {
  readonly byId: string;
  readonly byUsername: string;
  readonly byPhone: string;
  readonly #lockSession: string;
  readonly #upsert: (rows: number) => string;
  readonly #insertUsernames: (rows: number) => string;
  readonly #dropUsernames: (count: number) => string;
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
    this.#dropUsernames = bySize((n) => d.sql(`DELETE FROM ${t.peerUsernames} WHERE session_name = ? AND username_key IN (${d.list(n)})`));
  }

  /**
   * Stores a normalized batch inside the caller's transaction. The session row is
   * locked first (the order every writer of a session follows), which also tells
   * whether the session exists: false, with nothing written, when it does not.
   *
   * Then it reads what the batch touches — holders of its phones, stored rows of its
   * min peers, usernames owned by its peers or claimed by it — and writes only the
   * differences: usernames and phones rarely change, so re-upserting known peers
   * rewrites their rows and nothing else.
   */
  async upsert(sql: Sql, name: string, batch: readonly Peer[]): Promise<boolean> {
    const { dialect: d, tables: t } = this.#context;
    const max = d.maxParams;
    if ((await sql.rows(this.#lockSession, [name])).length === 0) return false;

    const inBatch = new Set(batch.map(keyOf));
    const phoneOwner = new Map<string, string>();
    for (const p of batch) if (p.phone !== undefined) phoneOwner.set(p.phone, keyOf(p));
    const storedPeers = new Map<string, { accessHash: bigint; min: boolean | undefined }>();
    const foreignPhones: PeerKey[] = [];
    const storedUsernames = new Map<string, { owner: string; username: string; ord: number }>();
    const where = `session ${JSON.stringify(name)}, peer`;

    // Each chunk of peers costs a key and a phone in the first read, a key and its usernames in the second.
    for (const chunk of chunksBy(batch, (p) => 2 + p.usernames.length, max - 8)) {
      const minPeers = chunk.filter((p) => p.min === true);
      const phones = chunk.flatMap((p) => (p.phone === undefined ? [] : [p.phone]));
      if (minPeers.length > 0 || phones.length > 0) {
        const filter = anyOf([keyFilter(minPeers), inList('phone', phones)]);
        const rows = await sql.rows(
          d.sql(`SELECT peer_type, ${d.text('peer_id')} AS id, ${d.text('access_hash')} AS hash, ${d.flag('is_min')} AS is_min, phone FROM ${t.peers} WHERE session_name = ? AND ${filter.clause}`),
          [name, ...filter.params],
        );
        for (const row of rows) {
          const key = `${String(row.peer_type)}:${String(row.id)}`;
          if (inBatch.has(key)) {
            // Needed for min peers: a min peer keeps a stored non-min access hash.
            storedPeers.set(key, { accessHash: int64FromStorage(row.hash, `${where} access_hash`), min: flag(row.is_min) });
          } else if (row.phone !== null && phoneOwner.has(String(row.phone))) {
            // A peer outside the batch holds a phone the batch gives to another: it loses it.
            foreignPhones.push({ type: row.peer_type as PeerType, id: int64FromStorage(row.id, `${where} id`) });
          }
        }
      }
      const names = chunk.flatMap((p) => p.usernames.map(usernameKey));
      const filter = anyOf([keyFilter(chunk), inList('username_key', names)]);
      const rows = await sql.rows(
        d.sql(`SELECT username_key, username, peer_type, ${d.text('peer_id')} AS id, ord FROM ${t.peerUsernames} WHERE session_name = ? AND ${filter.clause}`),
        [name, ...filter.params],
      );
      for (const row of rows) storedUsernames.set(String(row.username_key), { owner: `${String(row.peer_type)}:${String(row.id)}`, username: String(row.username), ord: num(row.ord) });
    }

    const peers = storedPeers.size === 0 ? batch : batch.map((p) => mergeStored(p, storedPeers.get(keyOf(p))));

    // Usernames: keep a stored row that is exactly what the batch wants; delete every
    // other row the read found (dropped by a batch peer, or claimed from another peer).
    const wanted = new Map<string, unknown[]>();
    for (const p of peers) p.usernames.forEach((u, ord) => wanted.set(usernameKey(u), [name, usernameKey(u), u, p.type, p.id, ord]));
    const drop: string[] = [];
    for (const [key, row] of storedUsernames) {
      const want = wanted.get(key);
      if (want !== undefined && row.owner === `${String(want[3])}:${String(want[4])}` && row.username === want[2] && row.ord === want[5]) wanted.delete(key);
      else drop.push(key);
    }

    for (const chunk of chunks(foreignPhones, 1, max, 4)) {
      const filter = keyFilter(chunk) as { clause: string; params: unknown[] };
      await sql.affected(d.sql(`UPDATE ${t.peers} SET phone = NULL WHERE session_name = ? AND ${filter.clause}`), [name, ...filter.params]);
    }
    for (const chunk of chunks(drop, 1, max, 1)) await sql.affected(this.#dropUsernames(chunk.length), [name, ...chunk]);
    const peerRows = peers.map((p) => [name, p.type, p.id, p.accessHash, d.bool(p.min), p.phone ?? null, p.updatedAt]);
    await insertRows(sql, this.#upsert, peerRows, max);
    await insertRows(sql, this.#insertUsernames, [...wanted.values()], max);
    return true;
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
