import {
  BaseStorage,
  CorruptDataError,
  int64FromStorage,
  type ChannelState,
  type DataCenter,
  type Peer,
  type PeerType,
  type Session,
  type UpdateState,
} from '@mtstore/core';
import { Database, type PostgresConnectionOptions } from './connection.js';
import { clientStatements, type ClientStatements } from './statements.js';

export interface PostgresStorageOptions extends PostgresConnectionOptions {
  /** Session name: one named session (one account) per instance. Default `default`. */
  name?: string;
}

/**
 * Client Storage in PostgreSQL: one row per named session in `<schema>.sessions`,
 * DCs, temp keys and channels in their own tables, a peer cache per session.
 * See the README for the schema.
 */
export class PostgresStorage extends BaseStorage {
  readonly schema: string;
  readonly #db: Database;
  readonly #sql: ClientStatements;

  constructor(options: PostgresStorageOptions = {}) {
    super(options?.name ?? 'default');
    this.#db = new Database(options, 'PostgresStorage');
    this.schema = this.#db.schema;
    this.#sql = clientStatements(this.#db.s);
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, schema: this.schema, ownsPool: this.#db.ownsPool };
  }

  protected async readSession(): Promise<Session | null> {
    const { rows } = await this.#db.query<SessionRow>(this.#sql.load, [this.name]);
    const row = rows[0];
    return row === undefined ? null : decodeSession(row, this.storedLabel);
  }

  protected async writeSession(session: Session): Promise<void> {
    const { user, state } = session;
    const dcs = encodeDataCenters(session.dcs);
    await this.#db.transaction(async (query) => {
      const { rows } = await query<{ id: bigint }>(this.#sql.saveSession, [
        this.name,
        session.homeDcId,
        session.apiId ?? null,
        user?.id ?? null,
        user?.dcId ?? null,
        user?.bot ?? null,
        user?.username ?? null,
        state?.pts ?? null,
        state?.qts ?? null,
        state?.date ?? null,
        state?.seq ?? null,
        session.takeoutId ?? null,
      ]);
      const id = (rows[0] as { id: bigint }).id;
      await query(this.#sql.clearSnapshot, [id]);
      await query(this.#sql.insertSnapshot, [
        id,
        ...dcs,
        session.channels.map((c) => c.id),
        session.channels.map((c) => c.pts),
      ]);
    });
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const ids: bigint[] = new Array(channels.length);
    const pts: number[] = new Array(channels.length);
    for (let i = 0; i < channels.length; i++) {
      const channel = channels[i] as ChannelState;
      ids[i] = channel.id;
      pts[i] = channel.pts;
    }
    const { rows } = await this.#db.query<{ found: number }>(this.#sql.saveUpdateState, [
      this.name,
      state.pts,
      state.qts,
      state.date,
      state.seq,
      ids,
      pts,
    ]);
    return rows[0]?.found === 1;
  }

  protected async deleteSession(): Promise<void> {
    await this.#db.query(this.#sql.deleteSession, [this.name]);
  }

  /**
   * One transaction: a per-session advisory lock, then the whole batch in one
   * statement. The lock makes concurrent batches of one session take turns (they
   * would otherwise deadlock on each other's rows), and the batch statement starts
   * after it, so it sees every batch committed before. Nothing else waits on it:
   * saveUpdateState and the lookups never take this lock.
   */
  protected async upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    const values = encodePeers(this.name, peers);
    return this.#db.transaction(async (query) => {
      await query(this.#sql.lockPeers, [`mtstore:peers:${this.schema}:${this.name}`]);
      const { rows } = await query<{ found: number }>(this.#sql.upsertPeers, values);
      return rows[0]?.found === 1;
    });
  }

  protected async findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#peer(await this.#db.query<PeerRow>(this.#sql.peerById, [this.name, type, id]));
  }

  protected async findPeerByUsername(username: string): Promise<Peer | null> {
    return this.#peer(await this.#db.query<PeerRow>(this.#sql.peerByUsername, [this.name, username]));
  }

  protected async findPeerByPhone(phone: string): Promise<Peer | null> {
    return this.#peer(await this.#db.query<PeerRow>(this.#sql.peerByPhone, [this.name, phone]));
  }

  #peer({ rows }: { rows: PeerRow[] }): Peer | null {
    const row = rows[0];
    return row === undefined ? null : decodePeer(row, this.storedLabel);
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

/** Parameters $2..$15 of insertSnapshot: DC columns, then temp key columns, as arrays. */
function encodeDataCenters(dcs: readonly DataCenter[]): unknown[][] {
  const dc = { position: [] as number[], id: [] as number[], ipv4: [] as (string | null)[], ipv6: [] as (string | null)[], port: [] as number[] };
  const flags = { testMode: [] as (boolean | null)[], mediaOnly: [] as (boolean | null)[], hasTemp: [] as boolean[] };
  const keys: (Uint8Array | null)[] = [];
  const temp = { dc: [] as number[], position: [] as number[], index: [] as number[], key: [] as Uint8Array[], expiresAt: [] as number[] };
  dcs.forEach((d, position) => {
    dc.position.push(position);
    dc.id.push(d.id);
    dc.ipv4.push(d.ipv4 ?? null);
    dc.ipv6.push(d.ipv6 ?? null);
    dc.port.push(d.port);
    flags.testMode.push(d.testMode ?? null);
    flags.mediaOnly.push(d.mediaOnly ?? null);
    keys.push(d.authKey ?? null);
    flags.hasTemp.push(d.tempAuthKeys !== undefined);
    d.tempAuthKeys?.forEach((t, i) => {
      temp.dc.push(position);
      temp.position.push(i);
      temp.index.push(t.index);
      temp.key.push(t.key);
      temp.expiresAt.push(t.expiresAt);
    });
  });
  return [
    dc.position, dc.id, dc.ipv4, dc.ipv6, dc.port, flags.testMode, flags.mediaOnly, keys, flags.hasTemp,
    temp.dc, temp.position, temp.index, temp.key, temp.expiresAt,
  ];
}

/** Parameters of upsertPeers: the session name, then one array per column. */
function encodePeers(name: string, peers: readonly Peer[]): unknown[] {
  const n = peers.length;
  const types: string[] = new Array(n);
  const ids: bigint[] = new Array(n);
  const hashes: bigint[] = new Array(n);
  const phones: (string | null)[] = new Array(n);
  const mins: (boolean | null)[] = new Array(n);
  const updated: number[] = new Array(n);
  const usernames: string[] = new Array(n);
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
  }
  return [name, types, ids, hashes, phones, mins, updated, usernames];
}

interface SessionRow {
  home_dc_id: number;
  api_id: number | null;
  user_id: bigint | null;
  user_dc_id: number | null;
  user_bot: boolean | null;
  user_username: string | null;
  pts: number | null;
  qts: number | null;
  state_date: bigint | null;
  seq: number | null;
  takeout_id: bigint | null;
  dcs: unknown;
  channels: unknown;
}

interface PeerRow {
  type: string;
  id: bigint;
  access_hash: bigint;
  phone: string | null;
  min: boolean | null;
  updated_at: bigint;
  usernames: unknown;
}

/** A stored number that should be a safe integer (anything else fails core's checks later). */
function toNumber(value: bigint | number | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'bigint' ? Number(value) : value;
}

function list(value: unknown, where: string): unknown[] {
  if (value === null) return [];
  if (!Array.isArray(value)) throw new CorruptDataError(`${where} is not a list`);
  return value;
}

/** `encode(key, 'hex')` back to bytes. Anything malformed decodes short and fails the length check. */
function bytes(hex: unknown, where: string): Uint8Array {
  if (typeof hex !== 'string') throw new CorruptDataError(`${where} is not a byte string`);
  return Buffer.from(hex, 'hex');
}

/**
 * Turns a load row into the model, leaving absent what is NULL. Shapes are checked
 * here only as far as needed to build the object; `checkStoredSession` (in the base
 * class) then validates every field and reports bad data as CorruptDataError.
 */
export function decodeSession(row: SessionRow, where: string): Session {
  const session: Session = { version: 1, homeDcId: row.home_dc_id, dcs: [], channels: [] };
  if (row.api_id !== null) session.apiId = row.api_id;
  if (row.user_id !== null || row.user_dc_id !== null || row.user_bot !== null) {
    session.user = { id: row.user_id as bigint, dcId: row.user_dc_id as number, bot: row.user_bot as boolean };
    if (row.user_username !== null) session.user.username = row.user_username;
  }
  if (row.pts !== null || row.qts !== null || row.state_date !== null || row.seq !== null) {
    session.state = { pts: row.pts as number, qts: row.qts as number, date: toNumber(row.state_date) as number, seq: row.seq as number };
  }
  if (row.takeout_id !== null) session.takeoutId = row.takeout_id;
  for (const [i, item] of list(row.dcs, `${where}: dcs`).entries()) {
    const [id, ipv4, ipv6, port, testMode, mediaOnly, authKey, temp] = list(item, `${where}: dcs[${i}]`);
    const dc = { id, port } as DataCenter;
    if (ipv4 !== null) dc.ipv4 = ipv4 as string;
    if (ipv6 !== null) dc.ipv6 = ipv6 as string;
    if (testMode !== null) dc.testMode = testMode as boolean;
    if (mediaOnly !== null) dc.mediaOnly = mediaOnly as boolean;
    if (authKey !== null) dc.authKey = bytes(authKey, `${where}: dcs[${i}].authKey`);
    if (temp !== null) {
      dc.tempAuthKeys = list(temp, `${where}: dcs[${i}].tempAuthKeys`).map((t, j) => {
        const [index, key, expiresAt] = list(t, `${where}: dcs[${i}].tempAuthKeys[${j}]`);
        return { index: index as number, key: bytes(key, `${where}: dcs[${i}].tempAuthKeys[${j}].key`), expiresAt: expiresAt as number };
      });
    }
    session.dcs.push(dc);
  }
  for (const [i, item] of list(row.channels, `${where}: channels`).entries()) {
    const [id, pts] = list(item, `${where}: channels[${i}]`);
    session.channels.push({ id: int64FromStorage(id, `${where}: channels[${i}].id`), pts: pts as number });
  }
  return session;
}

export function decodePeer(row: PeerRow, where: string): Peer {
  const peer: Peer = {
    type: row.type as PeerType,
    id: row.id,
    accessHash: row.access_hash,
    usernames: list(row.usernames, `${where} ${row.type}:${row.id}: usernames`) as string[],
    updatedAt: toNumber(row.updated_at) as number,
  };
  if (row.phone !== null) peer.phone = row.phone;
  if (row.min !== null) peer.min = row.min;
  return peer;
}
