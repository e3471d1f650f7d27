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
import { Connection, type Row, type Sql, type TypeormConnectionOptions } from './connection.js';
import { keyParam } from './keys.js';
import { PeerStatements } from './peers.js';
import { bySize, flag, insertRows, num } from './rows.js';
import type { SchemaContext } from './schema.js';

export interface TypeormStorageOptions extends TypeormConnectionOptions {
  /** Session name. Default: `default`. */
  name?: string;
}

const SESSION_COLUMNS = [
  'session_name',
  'home_dc_id',
  'api_id',
  'user_id',
  'user_dc_id',
  'user_bot',
  'user_username',
  'state_pts',
  'state_qts',
  'state_date',
  'state_seq',
  'takeout_id',
];

/** The statements of the session snapshot, built once per instance. */
class SessionStatements {
  readonly load: string;
  readonly upsertSession: string;
  readonly updateState: string;
  readonly exists: string;
  readonly clear: readonly string[];
  readonly remove: readonly string[];
  readonly insertDatacenters: (rows: number) => string;
  readonly insertTempKeys: (rows: number) => string;
  readonly insertChannels: (rows: number) => string;
  readonly upsertChannels: (rows: number) => string;

  constructor({ dialect: d, tables: t }: SchemaContext) {
    // One statement for the whole snapshot: a single statement reads one consistent
    // state, so a load racing a save never sees half of it, and it is one round trip.
    // Rows are tagged by k (0 session, 1 DC, 2 temp key, 3 channel) and share columns.
    this.load = d.sql(
      [
        `SELECT 0 AS k, 0 AS a, 0 AS b, home_dc_id AS c, api_id AS d, user_dc_id AS e, ${d.flag('user_bot')} AS f,`,
        ` state_pts AS g, state_qts AS h, state_date AS i, state_seq AS j, ${d.text('user_id')} AS x, ${d.text('takeout_id')} AS y,`,
        ` user_username AS s, ${d.nullOf('text')} AS t, ${d.nullOf('binary')} AS bin FROM ${t.sessions} WHERE session_name = ?`,
        ` UNION ALL SELECT 1, ord, 0, dc_id, port, NULL, ${d.flag('test_mode')}, ${d.flag('media_only')}, NULL, NULL, NULL, NULL, NULL,`,
        ` ipv4, ipv6, auth_key FROM ${t.datacenters} WHERE session_name = ?`,
        ` UNION ALL SELECT 2, dc_ord, ord, key_index, NULL, NULL, NULL, NULL, NULL, expires_at, NULL, NULL, NULL, NULL, NULL, auth_key`,
        ` FROM ${t.tempAuthKeys} WHERE session_name = ?`,
        ` UNION ALL SELECT 3, seq, 0, NULL, NULL, NULL, NULL, pts, NULL, NULL, NULL, ${d.text('channel_id')}, NULL, NULL, NULL, NULL`,
        ` FROM ${t.channels} WHERE session_name = ?`,
        ' ORDER BY 1, 2, 3',
      ].join(''),
    );
    this.upsertSession = d.sql(
      d.upsert(`INSERT INTO ${t.sessions} (${SESSION_COLUMNS.join(', ')})`, d.rows(1, SESSION_COLUMNS.length), ['session_name'], SESSION_COLUMNS.slice(1)),
    );
    this.updateState = d.sql(`UPDATE ${t.sessions} SET state_pts = ?, state_qts = ?, state_date = ?, state_seq = ? WHERE session_name = ?`);
    this.exists = d.sql(`SELECT 1 AS found FROM ${t.sessions} WHERE session_name = ?`);
    this.clear = [t.datacenters, t.tempAuthKeys, t.channels].map((table) => d.sql(`DELETE FROM ${table} WHERE session_name = ?`));
    // The session row first: deleting it locks it, as every writer of the session does first.
    this.remove = [t.sessions, t.datacenters, t.tempAuthKeys, t.channels, t.peerUsernames, t.peers].map((table) =>
      d.sql(`DELETE FROM ${table} WHERE session_name = ?`),
    );
    this.insertDatacenters = bySize((n) =>
      d.sql(`INSERT INTO ${t.datacenters} (session_name, ord, dc_id, ipv4, ipv6, port, test_mode, media_only, auth_key) VALUES ${d.rows(n, 9)}`),
    );
    this.insertTempKeys = bySize((n) =>
      d.sql(`INSERT INTO ${t.tempAuthKeys} (session_name, dc_ord, ord, key_index, auth_key, expires_at) VALUES ${d.rows(n, 6)}`),
    );
    this.insertChannels = bySize((n) => d.sql(`INSERT INTO ${t.channels} (session_name, channel_id, pts) VALUES ${d.rows(n, 3)}`));
    this.upsertChannels = bySize((n) =>
      d.sql(d.upsert(`INSERT INTO ${t.channels} (session_name, channel_id, pts)`, d.rows(n, 3), ['session_name', 'channel_id'], ['pts'])),
    );
  }
}

/**
 * Client Storage on a TypeORM DataSource (postgres, mysql/mariadb, better-sqlite3).
 * Each operation is one statement or one transaction; nothing is cached between
 * calls, so instances on the same tables see each other's writes at once.
 */
export class TypeormStorage extends BaseStorage {
  readonly #db: Connection;
  readonly #sql: SessionStatements;
  readonly #peers: PeerStatements;

  constructor(options: TypeormStorageOptions) {
    super(options?.name ?? 'default');
    this.#db = new Connection(options, 'TypeormStorage');
    this.#sql = new SessionStatements(this.#db.context);
    this.#peers = new PeerStatements(this.#db.context);
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, driver: this.#db.driver, tablePrefix: this.#db.context.prefix, dataSource: this.#db.owned ? 'owned' : 'borrowed' };
  }

  protected async readSession(): Promise<Session | null> {
    const rows = await this.#db.query(this.#sql.load, [this.name, this.name, this.name, this.name]);
    return decodeSession(rows, this.storedLabel);
  }

  protected async writeSession(session: Session): Promise<void> {
    const { dialect: d } = this.#db.context;
    const name = this.name;
    const { user, state } = session;
    const head = [
      name,
      session.homeDcId,
      session.apiId ?? null,
      user?.id ?? null,
      user?.dcId ?? null,
      d.bool(user?.bot),
      user?.username ?? null,
      state?.pts ?? null,
      state?.qts ?? null,
      state?.date ?? null,
      state?.seq ?? null,
      session.takeoutId ?? null,
    ];
    const dcs: unknown[][] = [];
    const temps: unknown[][] = [];
    session.dcs.forEach((dc, ord) => {
      dcs.push([name, ord, dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.port, d.bool(dc.testMode), d.bool(dc.mediaOnly), dc.authKey ? keyParam(dc.authKey) : null]);
      dc.tempAuthKeys?.forEach((temp, i) => temps.push([name, ord, i, temp.index, keyParam(temp.key), temp.expiresAt]));
    });
    const channels = session.channels.map((c) => [name, c.id, c.pts]);
    await this.#db.transaction(async (sql) => {
      // The upsert locks the session row first, like every other writer of this session.
      await sql.affected(this.#sql.upsertSession, head);
      for (const clear of this.#sql.clear) await sql.affected(clear, [name]);
      await insertRows(sql, this.#sql.insertDatacenters, dcs, d.maxParams);
      await insertRows(sql, this.#sql.insertTempKeys, temps, d.maxParams);
      await insertRows(sql, this.#sql.insertChannels, channels, d.maxParams);
    });
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const params = [state.pts, state.qts, state.date, state.seq, this.name];
    // Without channels it is one statement, committed on its own.
    if (channels.length === 0) return (await this.#db.execute(this.#sql.updateState, params)) > 0 || (await this.#confirmExists(null));
    const rows = channels.map((c) => [this.name, c.id, c.pts]);
    return this.#db.transaction(async (sql) => {
      if ((await sql.affected(this.#sql.updateState, params)) === 0 && !(await this.#confirmExists(sql))) return false;
      await insertRows(sql, this.#sql.upsertChannels, rows, this.#db.context.dialect.maxParams);
      return true;
    });
  }

  /**
   * After an UPDATE that reported no rows: postgres and sqlite count matched rows, so
   * there is no session. MySQL counts *changed* rows unless the connection has the
   * FOUND_ROWS flag (mysql2's default, but a DataSource may turn it off), so there
   * the same values written twice look like a missing session: ask.
   */
  async #confirmExists(sql: Sql | null): Promise<boolean> {
    if (this.#db.context.dialect.name !== 'mysql') return false;
    const rows = sql ? await sql.rows(this.#sql.exists, [this.name]) : await this.#db.query(this.#sql.exists, [this.name]);
    return rows.length > 0;
  }

  protected async deleteSession(): Promise<void> {
    await this.#db.transaction(async (sql) => {
      for (const remove of this.#sql.remove) await sql.affected(remove, [this.name]);
    });
  }

  protected async upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    return this.#db.transaction((sql) => this.#peers.upsert(sql, this.name, peers));
  }

  protected async findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#peers.decode(await this.#db.query(this.#peers.byId, [this.name, type, id]), this.name);
  }

  protected async findPeerByUsername(username: string): Promise<Peer | null> {
    return this.#peers.decode(await this.#db.query(this.#peers.byUsername, [this.name, username]), this.name);
  }

  protected async findPeerByPhone(phone: string): Promise<Peer | null> {
    return this.#peers.decode(await this.#db.query(this.#peers.byPhone, [this.name, phone]), this.name);
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

/** Rows of the `load` statement back to a session (checked afterwards by core). */
function decodeSession(rows: readonly Row[], where: string): Session | null {
  const head = rows[0];
  if (head === undefined || num(head.k) !== 0) return null;
  const session: Session = { version: 1, homeDcId: num(head.c), dcs: [], channels: [] };
  if (head.d !== null) session.apiId = num(head.d);
  if (head.x !== null) {
    session.user = { id: int64FromStorage(head.x, `${where} user_id`), dcId: num(head.e), bot: flag(head.f) as boolean };
    if (head.s !== null) session.user.username = String(head.s);
  }
  if (head.g !== null) session.state = { pts: num(head.g), qts: num(head.h), date: num(head.i), seq: num(head.j) };
  if (head.y !== null) session.takeoutId = int64FromStorage(head.y, `${where} takeout_id`);
  const byOrd = new Map<number, DataCenter>();
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r] as Row;
    const kind = num(row.k);
    if (kind === 1) {
      const dc: DataCenter = { id: num(row.c), port: num(row.d) };
      if (row.s !== null) dc.ipv4 = String(row.s);
      if (row.t !== null) dc.ipv6 = String(row.t);
      const testMode = flag(row.f);
      if (testMode !== undefined) dc.testMode = testMode;
      const mediaOnly = flag(row.g);
      if (mediaOnly !== undefined) dc.mediaOnly = mediaOnly;
      if (row.bin !== null) dc.authKey = row.bin as Uint8Array;
      session.dcs.push(dc);
      byOrd.set(num(row.a), dc);
    } else if (kind === 2) {
      // Temp keys sort after every DC (k = 2), so their DC is already there.
      const dc = byOrd.get(num(row.a));
      if (dc === undefined) throw new CorruptDataError(`${where}: a temp auth key belongs to DC row ${String(row.a)}, which does not exist`);
      (dc.tempAuthKeys ??= []).push({ index: num(row.c), key: row.bin as Uint8Array, expiresAt: num(row.i) });
    } else if (kind === 3) {
      session.channels.push({ id: int64FromStorage(row.x, `${where} channel_id`), pts: num(row.g) });
    }
  }
  return session;
}
