/**
 * The peer cache: `peers` holds one row per (session, type, id) with everything a
 * lookup returns, usernames included (as given, in order, space-separated);
 * `peer_usernames` is the lookup index, one row per lower-cased username pointing at
 * its owner. Its primary key gives each username exactly one owner; moving one to
 * another peer re-points that row and rewrites the previous owner's list.
 */
import {
  copyOutBytes,
  int64FromStorage,
  mergePeer,
  usernameKey,
  type Peer,
  type PeerListPage,
  type PeerPosition,
  type PeerRepository,
  type PeerType,
} from '@mtstore/core';
import type { Connection, FenceToken, Row, Sql } from './connection.js';
import { bytes } from './kv.js';
import { bySize, chunks, chunksBy, flag, flatten, insertRows, num } from './rows.js';
import type { SchemaContext } from './schema.js';

interface PeerKey {
  type: PeerType;
  id: bigint;
}

interface Condition {
  clause: string;
  params: unknown[];
}

/**
 * `(peer_type = ? AND peer_id IN (?, …)) OR …`: the keys grouped by type, so each
 * group is a range on the primary key (session_name, peer_type, peer_id). Plain
 * IN lists work the same on every database, unlike row-value IN.
 */
function keyFilter(keys: readonly PeerKey[]): Condition | undefined {
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
function inList(column: string, values: readonly unknown[]): Condition | undefined {
  return values.length === 0 ? undefined : { clause: `${column} IN (${Array(values.length).fill('?').join(', ')})`, params: [...values] };
}

/** The present conditions joined with OR (callers make sure at least one is). */
function anyOf(parts: readonly (Condition | undefined)[]): Condition {
  const present = parts.filter((p): p is Condition => p !== undefined);
  return { clause: `(${present.map((p) => p.clause).join(' OR ')})`, params: flatten(present.map((p) => p.params)) };
}

function keyOf(peer: PeerKey): string {
  return `${peer.type}:${peer.id}`;
}

/** Text read through Dialect.unicode: UTF-8 bytes on MySQL, a string elsewhere. */
function textOf(value: unknown): string {
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8') : String(value);
}

/** A peer row as the statements below select it. */
function decodeRow(row: Row, where: string): Peer {
  const peer: Peer = {
    type: row.peer_type as PeerType,
    id: int64FromStorage(row.id, `${where} id`),
    accessHash: int64FromStorage(row.hash, `${where} access_hash`),
    usernames: row.usernames === '' || row.usernames === null ? [] : String(row.usernames).split(' '),
    updatedAt: num(row.updated_at),
  };
  if (row.phone !== null) peer.phone = String(row.phone);
  const min = flag(row.is_min);
  if (min !== undefined) peer.min = min;
  if (row.display_name !== null && row.display_name !== undefined) peer.displayName = textOf(row.display_name);
  // Copied out of the driver's Buffer (a view of Node's shared pool or of a packet,
  // holding other values the process read): into core's pool of peers' TL bytes at most.
  if (row.complete !== null && row.complete !== undefined) peer.complete = row.complete instanceof Uint8Array ? copyOutBytes(row.complete) : (row.complete as Uint8Array);
  return peer;
}

/** Bytes of peer rows per upsert statement, well under MySQL's default max_allowed_packet. */
const STATEMENT_BYTES = 4 * 1024 * 1024;

export class PeerStatements {
  readonly byId: string;
  readonly byUsername: string;
  readonly byPhone: string;
  readonly #columns: string;
  readonly lockSession: string;
  readonly page: string;
  readonly firstPage: string;
  readonly clear: readonly string[];
  readonly #upsert: (rows: number) => string;
  readonly #insertUsernames: (rows: number) => string;
  readonly #dropUsernames: (count: number) => string;
  readonly #context: SchemaContext;

  constructor(context: SchemaContext) {
    const { dialect: d, tables: t } = context;
    this.#context = context;
    const columns = (p: string) =>
      [
        `${p}peer_type AS peer_type`,
        `${d.text(`${p}peer_id`)} AS id`,
        `${d.text(`${p}access_hash`)} AS hash`,
        `${d.flag(`${p}is_min`)} AS is_min`,
        `${p}phone AS phone`,
        `${p}updated_at AS updated_at`,
        `${p}usernames AS usernames`,
        `${d.unicode(`${p}display_name`)} AS display_name`,
        `${p}complete AS complete`,
      ].join(', ');
    this.#columns = columns('');
    // Each lookup is one statement on one peer row (and the index row that finds it),
    // whatever the tables' statistics: see specsV4 in tables.ts for the indexes this needs.
    this.byId = d.sql(`SELECT ${this.#columns} FROM ${t.peers} WHERE session_name = ? AND peer_type = ? AND peer_id = ?`);
    // postgres and sqlite: the owner's key from the username index first (a scalar
    // subquery, run once), then the peer by its primary key, a plan that does not depend
    // on statistics. MariaDB reads a row subquery's outer table whole, but plans the join
    // as two primary key lookups.
    this.byUsername = d.sql(
      d.name === 'mysql'
        ? `SELECT ${columns('p.')} FROM ${t.peerUsernames} k JOIN ${t.peers} p ON p.session_name = k.session_name AND p.peer_type = k.peer_type AND p.peer_id = k.peer_id WHERE k.session_name = ? AND k.username_key = ?`
        : `SELECT ${this.#columns} FROM ${t.peers} WHERE (session_name, peer_type, peer_id) = (SELECT session_name, peer_type, peer_id FROM ${t.peerUsernames} WHERE session_name = ? AND username_key = ?)`,
    );
    // The phone index is not unique (upserts would trip over it mid-batch); upsert keeps one holder.
    // It ends with the primary key's columns, so it yields this order without a sort.
    this.byPhone = d.sql(`SELECT ${this.#columns} FROM ${t.peers} WHERE session_name = ? AND phone = ? ORDER BY peer_type, peer_id`);
    // Creates the name's row when there is none (peers need no snapshot) and locks it either way.
    this.lockSession = d.sql(d.upsert(`INSERT INTO ${t.sessions} (session_name)`, '(?)', ['session_name'], ['session_name']));
    // Keyset paging on the primary key: each page is a range scan, and a cursor stays valid whatever is written meanwhile.
    this.page = d.sql(
      `SELECT ${this.#columns} FROM ${t.peers} WHERE session_name = ? AND (peer_type > ? OR (peer_type = ? AND peer_id > ?)) ORDER BY peer_type, peer_id LIMIT ?`,
    );
    this.firstPage = d.sql(`SELECT ${this.#columns} FROM ${t.peers} WHERE session_name = ? ORDER BY peer_type, peer_id LIMIT ?`);
    this.clear = [t.peerUsernames, t.peers].map((table) => d.sql(`DELETE FROM ${table} WHERE session_name = ?`));
    this.#upsert = bySize((n) =>
      d.sql(
        d.upsert(
          `INSERT INTO ${t.peers} (session_name, peer_type, peer_id, access_hash, is_min, phone, updated_at, usernames, display_name, complete)`,
          d.rows(n, 10),
          ['session_name', 'peer_type', 'peer_id'],
          ['access_hash', 'is_min', 'phone', 'updated_at', 'usernames', 'display_name', 'complete'],
        ),
      ),
    );
    this.#insertUsernames = bySize((n) => d.sql(`INSERT INTO ${t.peerUsernames} (session_name, username_key, peer_type, peer_id) VALUES ${d.rows(n, 4)}`));
    this.#dropUsernames = bySize((n) => d.sql(`DELETE FROM ${t.peerUsernames} WHERE session_name = ? AND username_key IN (${d.list(n)})`));
  }

  /**
   * Stores a normalized batch inside the caller's transaction. The session row is
   * locked first (the order every writer of a session follows), created without a
   * snapshot when the name has none.
   *
   * Then it reads what the batch touches — holders of its phones, stored rows of its
   * min peers, index rows of its usernames and of its peers — and writes the batch's
   * rows plus only what changes around them: usernames and phones rarely move, so
   * re-upserting known peers writes their rows and nothing else.
   */
  async upsert(sql: Sql, name: string, batch: readonly Peer[]): Promise<void> {
    const { dialect: d, tables: t } = this.#context;
    const max = d.maxParams;
    const where = `session ${JSON.stringify(name)}, peer`;
    await sql.affected(this.lockSession, [name]);

    const inBatch = new Set(batch.map(keyOf));
    const phoneOwner = new Map<string, string>();
    for (const p of batch) if (p.phone !== undefined) phoneOwner.set(p.phone, keyOf(p));
    const storedHashes = new Map<string, { accessHash: bigint; min: boolean | undefined; complete: Uint8Array | undefined }>();
    /** Peers outside the batch holding a phone the batch gives to one of its peers. */
    const losePhone = new Map<string, PeerKey>();
    /** username key → its owner now, for every index row owned by a batch peer or naming a batch username. */
    const owners = new Map<string, { key: string; type: PeerType; id: bigint }>();

    // A peer costs at most a key and a phone in the first read, a key and its usernames in the second.
    for (const chunk of chunksBy(batch, (p) => 2 + p.usernames.length, max - 8)) {
      const min = chunk.filter((p) => p.min === true);
      // Loops rather than flatMap, about 10 times slower in V8 on a 1,000-peer chunk (see flatten).
      const phones: string[] = [];
      for (const p of chunk) if (p.phone !== undefined) phones.push(p.phone);
      if (min.length > 0 || phones.length > 0) {
        const filter = anyOf([keyFilter(min), inList('phone', phones)]);
        const rows = await sql.rows(
          d.sql(
            `SELECT peer_type, ${d.text('peer_id')} AS id, ${d.text('access_hash')} AS hash, ${d.flag('is_min')} AS is_min, phone, complete FROM ${t.peers} WHERE session_name = ? AND ${filter.clause}`,
          ),
          [name, ...filter.params],
        );
        for (const row of rows) {
          const key = `${String(row.peer_type)}:${String(row.id)}`;
          // A batch peer's stored hash matters to a min peer; a phone held outside the batch is taken away.
          if (inBatch.has(key)) {
            const complete = row.complete === null || row.complete === undefined ? undefined : (row.complete as Uint8Array);
            storedHashes.set(key, { accessHash: int64FromStorage(row.hash, `${where} access_hash`), min: flag(row.is_min), complete });
          }
          else losePhone.set(key, { type: row.peer_type as PeerType, id: int64FromStorage(row.id, `${where} id`) });
        }
      }
      const names: string[] = [];
      for (const p of chunk) for (const u of p.usernames) names.push(usernameKey(u));
      const filter = anyOf([keyFilter(chunk), inList('username_key', names)]);
      const rows = await sql.rows(
        d.sql(`SELECT username_key, peer_type, ${d.text('peer_id')} AS id FROM ${t.peerUsernames} WHERE session_name = ? AND ${filter.clause}`),
        [name, ...filter.params],
      );
      for (const row of rows) {
        owners.set(String(row.username_key), {
          key: `${String(row.peer_type)}:${String(row.id)}`,
          type: row.peer_type as PeerType,
          id: int64FromStorage(row.id, `${where} id`),
        });
      }
    }

    const peers = batch.map((p) => {
      const stored = p.min === true ? storedHashes.get(keyOf(p)) : undefined;
      if (stored === undefined) return p;
      const asStored: Peer = { ...p, accessHash: stored.accessHash };
      if (stored.min === undefined) delete asStored.min;
      else asStored.min = stored.min;
      if (stored.complete === undefined) delete asStored.complete;
      else asStored.complete = stored.complete;
      return mergePeer(asStored, p);
    });

    // Index rows: keep those already pointing where the batch wants, drop the rest the
    // read found (a username a batch peer no longer has, or one it takes from another).
    const wanted = new Map<string, PeerKey>();
    for (const p of peers) for (const u of p.usernames) wanted.set(usernameKey(u), p);
    const drop: string[] = [];
    const losers = new Map<string, { type: PeerType; id: bigint; lost: Set<string> }>();
    for (const [username, owner] of owners) {
      const want = wanted.get(username);
      if (want !== undefined && keyOf(want) === owner.key) {
        wanted.delete(username);
        continue;
      }
      drop.push(username);
      if (!inBatch.has(owner.key)) {
        const loser = losers.get(owner.key) ?? { type: owner.type, id: owner.id, lost: new Set<string>() };
        loser.lost.add(username);
        losers.set(owner.key, loser);
      }
    }

    // Peers outside the batch that lost a username are rewritten whole from their stored
    // row, minus what they lost (their phone too, if the batch takes it).
    const rewritten: Peer[] = [];
    for (const chunk of chunks([...losers.values()], 1, max, 4)) {
      const filter = keyFilter(chunk) as Condition;
      for (const row of await sql.rows(d.sql(`SELECT ${this.#columns} FROM ${t.peers} WHERE session_name = ? AND ${filter.clause}`), [name, ...filter.params])) {
        const peer = decodeRow(row, where);
        const lost = losers.get(keyOf(peer))?.lost;
        peer.usernames = peer.usernames.filter((u) => !lost?.has(usernameKey(u)));
        if (losePhone.delete(keyOf(peer))) delete peer.phone;
        rewritten.push(peer);
      }
    }

    for (const chunk of chunks([...losePhone.values()], 1, max, 4)) {
      const filter = keyFilter(chunk) as Condition;
      await sql.affected(d.sql(`UPDATE ${t.peers} SET phone = NULL WHERE session_name = ? AND ${filter.clause}`), [name, ...filter.params]);
    }
    for (const chunk of chunks(drop, 1, max, 1)) await sql.affected(this.#dropUsernames(chunk.length), [name, ...chunk]);
    const row = (p: Peer) => [
      name,
      p.type,
      p.id,
      p.accessHash,
      d.bool(p.min),
      p.phone ?? null,
      p.updatedAt,
      p.usernames.join(' '),
      p.displayName === undefined ? null : d.unicodeParam(p.displayName),
      p.complete === undefined ? null : bytes(p.complete),
    ];
    // Split by the TL bytes too: MySQL refuses a statement over max_allowed_packet (16 MiB by default).
    for (const part of chunksBy([...rewritten, ...peers], (p) => 256 + (p.complete?.length ?? 0), STATEMENT_BYTES)) {
      await insertRows(sql, this.#upsert, part.map(row), max);
    }
    await insertRows(sql, this.#insertUsernames, [...wanted].map(([username, p]) => [name, username, p.type, p.id]), max);
  }

  /**
   * The rows of a lookup back to a peer (checked afterwards by core). A phone lookup keeps
   * the first match. `where`: the session's label for errors, built once per repository.
   */
  decode(rows: readonly Row[], where: string): Peer | null {
    const first = rows[0];
    return first === undefined ? null : decodeRow(first, where);
  }
}

/**
 * The peer cache of one session. Upserts and clear run in a transaction that first
 * locks the name's row in `sessions` (creating it without a snapshot if need be), so
 * they serialize per session; lookups and pages are single statements.
 */
export class TypeormPeers implements PeerRepository {
  readonly #db: Connection;
  readonly #name: string;
  readonly #fence: FenceToken;
  readonly #sql: PeerStatements;
  /** The label of decoding errors, built once: lookups are a client's hottest path. */
  readonly #where: string;

  constructor(db: Connection, name: string, fence: FenceToken) {
    this.#db = db;
    this.#name = name;
    this.#fence = fence;
    this.#sql = new PeerStatements(db.context);
    this.#where = `session ${JSON.stringify(name)}, peer`;
  }

  async upsert(peers: readonly Peer[]): Promise<void> {
    await this.#db.transaction((sql) => this.#sql.upsert(sql, this.#name, peers), { name: this.#name, token: this.#fence() });
  }

  async getById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#sql.decode(await this.#db.query(this.#sql.byId, [this.#name, type, id]), this.#where);
  }

  async getByUsername(username: string): Promise<Peer | null> {
    return this.#sql.decode(await this.#db.query(this.#sql.byUsername, [this.#name, username]), this.#where);
  }

  async getByPhone(phone: string): Promise<Peer | null> {
    return this.#sql.decode(await this.#db.query(this.#sql.byPhone, [this.#name, phone]), this.#where);
  }

  async list(after: PeerPosition | null, limit: number): Promise<PeerListPage> {
    // One row more than the page: whether it exists says if there is a next page.
    const rows: Row[] =
      after === null
        ? await this.#db.query(this.#sql.firstPage, [this.#name, limit + 1])
        : await this.#db.query(this.#sql.page, [this.#name, after.type, after.type, after.id, limit + 1]);
    const peers = rows.slice(0, limit).map((row) => decodeRow(row, this.#where));
    const last = peers[peers.length - 1];
    return { peers, next: rows.length > limit && last !== undefined ? { type: last.type, id: last.id } : null };
  }

  async clear(): Promise<void> {
    await this.#db.transaction(async (sql) => {
      await sql.affected(this.#sql.lockSession, [this.#name]);
      for (const statement of this.#sql.clear) await sql.affected(statement, [this.#name]);
    }, { name: this.#name, token: this.#fence() });
  }
}
