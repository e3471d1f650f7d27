import {
  BaseStorage,
  optionNames,
  withKnownOptions,
  type BaseStorageOptions,
  int64FromStorage,
  type ChannelState,
  type DataCenter,
  type SelfUser,
  type Session,
  type SessionUpdate,
  type TempAuthKey,
  type UpdateState,
} from '@mtstore/core';
import { Connection, type FenceToken, type Row, type Sql, type TypeormConnectionOptions } from './connection.js';
import type { Dialect } from './dialect.js';
import { keyParam, TypeormAuthKeys } from './keys.js';
import { TypeormKeyValues } from './kv.js';
import { TypeormLeases } from './lease.js';
import { TypeormPeers } from './peers.js';
import { TypeormRefMessages } from './refs.js';
import { bySize, flag, insertRows, num } from './rows.js';
import type { SchemaContext } from './schema.js';
import { PERMANENT_SLOT } from './tables.js';

export interface TypeormStorageOptions extends TypeormConnectionOptions, BaseStorageOptions {
  /** Session name. Default: `default`. */
  name?: string | undefined;
}

const USER_COLUMNS = ['user_id', 'user_dc_id', 'user_bot', 'user_usernames', 'user_premium'];
const STATE_COLUMNS = ['state_pts', 'state_qts', 'state_date', 'state_seq'];
const SESSION_COLUMNS = ['session_name', 'home_dc_id', 'api_id', ...USER_COLUMNS, ...STATE_COLUMNS, 'takeout_id'];
const DC_COLUMNS = ['session_name', 'ord', 'dc_id', 'ipv4', 'ipv6', 'host', 'port', 'test_mode', 'media_only'];
const KEY_COLUMNS = ['session_name', 'dc_id', 'media_only', 'slot', 'auth_key', 'expires_at'];

/** The statements of the session snapshot, built once per instance. */
class SessionStatements {
  readonly load: string;
  readonly upsertSession: string;
  readonly updateState: string;
  readonly exists: string;
  readonly clear: readonly string[];
  readonly clearDcs: string;
  readonly clearChannels: string;
  readonly lockSnapshot: string;
  readonly remove: readonly string[];
  readonly names: string;
  readonly insertDatacenters: (rows: number) => string;
  readonly insertKeys: (rows: number) => string;
  readonly insertChannels: (rows: number) => string;
  readonly upsertChannels: (rows: number) => string;

  constructor({ dialect: d, tables: t }: SchemaContext) {
    // One statement for the whole snapshot: a single statement reads one consistent
    // state, so a load racing a save (or a key write) never sees half of it, and it is
    // one round trip. Rows are tagged by k (0 session, 1 DC, 2 auth key, 3 channel) and
    // share columns; a session row without home DC is no snapshot (only peers were written).
    this.load = d.sql(
      [
        `SELECT 0 AS k, 0 AS a, ${d.flag('user_premium')} AS b, home_dc_id AS c, api_id AS d, user_dc_id AS e, ${d.flag('user_bot')} AS f,`,
        ` state_pts AS g, state_qts AS h, state_date AS i, state_seq AS j, ${d.text('user_id')} AS x, ${d.text('takeout_id')} AS y,`,
        ` user_usernames AS s, ${d.nullOf('text')} AS t, ${d.nullOf('text')} AS u, ${d.nullOf('binary')} AS bin`,
        ` FROM ${t.sessions} WHERE session_name = ? AND home_dc_id IS NOT NULL`,
        ` UNION ALL SELECT 1, ord, 0, dc_id, port, NULL, ${d.flag('test_mode')}, ${d.flag('media_only')}, NULL, NULL, NULL, NULL, NULL,`,
        ` ipv4, ipv6, host, NULL FROM ${t.datacenters} WHERE session_name = ?`,
        // Ordered by (dc id, entry, slot): the permanent key (slot -1) first, then temp keys by index.
        ` UNION ALL SELECT 2, dc_id, media_only, slot, NULL, NULL, NULL, NULL, NULL, expires_at, NULL, NULL, NULL, NULL, NULL, NULL, auth_key`,
        ` FROM ${t.authKeys} WHERE session_name = ?`,
        ` UNION ALL SELECT 3, seq, 0, NULL, NULL, NULL, NULL, pts, NULL, NULL, NULL, ${d.text('channel_id')}, NULL, NULL, NULL, NULL, NULL`,
        ` FROM ${t.channels} WHERE session_name = ?`,
        ' ORDER BY 1, 2, 3, 4',
      ].join(''),
    );
    this.upsertSession = d.sql(
      d.upsert(`INSERT INTO ${t.sessions} (${SESSION_COLUMNS.join(', ')})`, d.rows(1, SESSION_COLUMNS.length), ['session_name'], SESSION_COLUMNS.slice(1)),
    );
    const snapshot = 'session_name = ? AND home_dc_id IS NOT NULL';
    this.updateState = d.sql(`UPDATE ${t.sessions} SET ${STATE_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE ${snapshot}`);
    this.exists = d.sql(`SELECT 1 AS found FROM ${t.sessions} WHERE ${snapshot}`);
    this.clear = [t.datacenters, t.authKeys, t.channels].map((table) => d.sql(`DELETE FROM ${table} WHERE session_name = ?`));
    this.clearDcs = d.sql(`DELETE FROM ${t.datacenters} WHERE session_name = ?`);
    this.clearChannels = d.sql(`DELETE FROM ${t.channels} WHERE session_name = ?`);
    this.lockSnapshot = d.sql(`SELECT 1 AS found FROM ${t.sessions} WHERE ${snapshot}${d.forUpdate}`);
    // The session row first: deleting it locks it, as every writer of the session does first.
    this.remove = [t.sessions, t.datacenters, t.authKeys, t.channels, t.peerUsernames, t.peers, t.kv, t.refMessages].map((table) =>
      d.sql(`DELETE FROM ${table} WHERE session_name = ?`),
    );
    // Names with anything stored: a session row without a snapshot holds nothing by itself.
    this.names = [
      `SELECT session_name FROM ${t.sessions} WHERE home_dc_id IS NOT NULL`,
      ...[t.authKeys, t.peers, t.kv, t.refMessages].map((table) => `SELECT session_name FROM ${table}`),
    ].join(' UNION ');
    this.insertDatacenters = bySize((n) => d.sql(`INSERT INTO ${t.datacenters} (${DC_COLUMNS.join(', ')}) VALUES ${d.rows(n, DC_COLUMNS.length)}`));
    this.insertKeys = bySize((n) => d.sql(`INSERT INTO ${t.authKeys} (${KEY_COLUMNS.join(', ')}) VALUES ${d.rows(n, KEY_COLUMNS.length)}`));
    this.insertChannels = bySize((n) => d.sql(`INSERT INTO ${t.channels} (session_name, channel_id, pts) VALUES ${d.rows(n, 3)}`));
    this.upsertChannels = bySize((n) =>
      d.sql(d.upsert(`INSERT INTO ${t.channels} (session_name, channel_id, pts)`, d.rows(n, 3), ['session_name', 'channel_id'], ['pts'])),
    );
  }
}

/** The state columns (STATE_COLUMNS order) of an update state, or NULLs. */
function stateValues(state: UpdateState | null): unknown[] {
  return state === null ? [null, null, null, null] : [state.pts, state.qts, state.date, state.seq];
}

/** The user columns (USER_COLUMNS order) of a self user, or NULLs. */
function userValues(d: Dialect, user: SelfUser | undefined | null): unknown[] {
  if (user === undefined || user === null) return [null, null, null, null, null];
  // Space-separated: usernames never contain spaces; '' is an empty list, NULL none known.
  return [user.id, user.dcId, d.bool(user.bot), user.usernames === undefined ? null : user.usernames.join(' '), d.bool(user.premium)];
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<TypeormStorageOptions>()(['dataSource', 'options', 'tablePrefix', 'migrate', 'create', 'closeTimeoutMillis', 'name', 'encryption']);

/**
 * Client Storage on a TypeORM DataSource (postgres, mysql/mariadb, better-sqlite3).
 * This file holds the snapshot (sessions, datacenters, channels); keys, kv, peers and
 * reference messages have their own files. Each operation is one statement or one
 * transaction; nothing is cached between calls, so instances on the same tables see
 * each other's writes at once.
 */
export class TypeormStorage extends BaseStorage {
  protected readonly authKeyRepository: TypeormAuthKeys;
  protected readonly kvRepository: TypeormKeyValues;
  protected readonly peerRepository: TypeormPeers;
  protected readonly refMessageRepository: TypeormRefMessages;
  readonly #db: Connection;
  readonly #sql: SessionStatements;

  protected override createLeaseRepository(): TypeormLeases {
    return new TypeormLeases(this.#db, this.name);
  }

  constructor(options: TypeormStorageOptions) {
    super(withKnownOptions(options, OPTIONS, 'TypeormStorage')?.name ?? 'default', { encryption: options?.encryption });
    this.#db = new Connection(options, 'TypeormStorage');
    this.#sql = new SessionStatements(this.#db.context);
    // Every write reads the held lease token once and has the database check it (connection.ts).
    const fence: FenceToken = () => this.fenceToken;
    this.authKeyRepository = new TypeormAuthKeys(this.#db, this.name, fence);
    this.kvRepository = new TypeormKeyValues(this.#db, this.name, fence);
    this.peerRepository = new TypeormPeers(this.#db, this.name, fence);
    this.refMessageRepository = new TypeormRefMessages(this.#db, this.name, fence);
  }

  /** The lease fence of one write: this name and the token held now (undefined: none, no check). */
  #fence(): { name: string; token: bigint | undefined } {
    return { name: this.name, token: this.fenceToken };
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
    const { state } = session;
    const head = [
      name,
      session.homeDcId,
      session.apiId ?? null,
      ...userValues(d, session.user),
      state?.pts ?? null,
      state?.qts ?? null,
      state?.date ?? null,
      state?.seq ?? null,
      session.takeoutId ?? null,
    ];
    const dcs = this.#dcRows(session.dcs);
    const keys: unknown[][] = [];
    for (const dc of session.dcs) {
      const media = dc.mediaOnly === true ? 1 : 0;
      if (dc.authKey !== undefined) keys.push([name, dc.id, media, PERMANENT_SLOT, keyParam(dc.authKey), null]);
      for (const temp of dc.tempAuthKeys ?? []) keys.push([name, dc.id, media, temp.index, keyParam(temp.key), temp.expiresAt]);
    }
    const channels = session.channels.map((c) => [name, c.id, c.pts]);
    await this.#db.transaction(async (sql) => {
      // The upsert locks the session row first, like every other writer of this session.
      await sql.affected(this.#sql.upsertSession, head);
      for (const clear of this.#sql.clear) await sql.affected(clear, [name]);
      await insertRows(sql, this.#sql.insertDatacenters, dcs, d.maxParams);
      await insertRows(sql, this.#sql.insertKeys, keys, d.maxParams);
      await insertRows(sql, this.#sql.insertChannels, channels, d.maxParams);
    }, this.#fence());
  }

  #dcRows(dcs: readonly DataCenter[]): unknown[][] {
    const d = this.#db.context.dialect;
    return dcs.map((dc, ord) => [this.name, ord, dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.host ?? null, dc.port ?? null, d.bool(dc.testMode), d.bool(dc.mediaOnly)]);
  }

  /**
   * With `homeDcId` (and so `dcs`): one transaction that upserts the session row —
   * creating the snapshot when there is none — and replaces the DC address rows; keys
   * are in their own table and stay. Without: one UPDATE of the fields given, which
   * finds no row when no snapshot is saved. `channels` replaces the channel rows in the
   * same transaction (one is opened for it).
   */
  protected async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    const d = this.#db.context.dialect;
    const { tables: t } = this.#db.context;
    const columns: string[] = [];
    const values: unknown[] = [];
    if (patch.apiId !== undefined) columns.push('api_id'), values.push(patch.apiId);
    if (patch.user !== undefined) columns.push(...USER_COLUMNS), values.push(...userValues(d, patch.user));
    if (patch.takeoutId !== undefined) columns.push('takeout_id'), values.push(patch.takeoutId);
    if (patch.state !== undefined) columns.push(...STATE_COLUMNS), values.push(...stateValues(patch.state));
    const channels = patch.channels?.map((c) => [this.name, c.id, c.pts]);
    const replaceChannels = async (sql: Sql, rows: unknown[][]): Promise<void> => {
      await sql.affected(this.#sql.clearChannels, [this.name]);
      await insertRows(sql, this.#sql.insertChannels, rows, d.maxParams);
    };
    const fence = this.#fence();
    if (patch.homeDcId !== undefined && patch.dcs !== undefined) {
      const all = ['session_name', 'home_dc_id', ...columns];
      const upsert = d.sql(d.upsert(`INSERT INTO ${t.sessions} (${all.join(', ')})`, d.rows(1, all.length), ['session_name'], all.slice(1)));
      const dcs = this.#dcRows(patch.dcs);
      await this.#db.transaction(async (sql) => {
        await sql.affected(upsert, [this.name, patch.homeDcId, ...values]);
        await sql.affected(this.#sql.clearDcs, [this.name]);
        await insertRows(sql, this.#sql.insertDatacenters, dcs, d.maxParams);
        if (channels !== undefined) await replaceChannels(sql, channels);
      }, fence);
      return true;
    }
    const update = columns.length === 0 ? '' : d.sql(`UPDATE ${t.sessions} SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE session_name = ? AND home_dc_id IS NOT NULL`);
    if (channels !== undefined) {
      return this.#db.transaction(async (sql) => {
        // The UPDATE (or, with nothing else to change, a locking read) finds the snapshot and locks its row first.
        const found =
          columns.length > 0
            ? (await sql.affected(update, [...values, this.name])) > 0 || (await this.#confirmExists(sql))
            : (await sql.rows(this.#sql.lockSnapshot, [this.name])).length > 0;
        if (!found) return false;
        await replaceChannels(sql, channels);
        return true;
      }, fence);
    }
    // Nothing to write: only whether the snapshot exists (not a write, so not fenced).
    if (columns.length === 0) return (await this.#db.query(this.#sql.exists, [this.name])).length > 0;
    if (fence.token !== undefined) {
      return this.#db.transaction(async (sql) => (await sql.affected(update, [...values, this.name])) > 0 || (await this.#confirmExists(sql)), fence);
    }
    return (await this.#db.execute(update, [...values, this.name])) > 0 || (await this.#confirmExists(null));
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const params = [state.pts, state.qts, state.date, state.seq, this.name];
    const fence = this.#fence();
    // Without channels (and without a lease) it is one statement, committed on its own.
    if (channels.length === 0 && fence.token === undefined) {
      return (await this.#db.execute(this.#sql.updateState, params)) > 0 || (await this.#confirmExists(null));
    }
    const rows = channels.map((c) => [this.name, c.id, c.pts]);
    return this.#db.transaction(async (sql) => {
      if ((await sql.affected(this.#sql.updateState, params)) === 0 && !(await this.#confirmExists(sql))) return false;
      if (rows.length > 0) await insertRows(sql, this.#sql.upsertChannels, rows, this.#db.context.dialect.maxParams);
      return true;
    }, fence);
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
    }, this.#fence());
  }

  protected async listSessionNames(): Promise<string[]> {
    const rows = await this.#db.query(this.#sql.names, []);
    // JavaScript's default order (UTF-16 code units), whatever the database's collation.
    return rows.map((row) => String(row.session_name)).sort();
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

/** Keys of one DC entry, as `load` reads them. */
interface EntryKeys {
  dcId: number;
  mediaOnly: boolean;
  authKey?: Uint8Array;
  temps: TempAuthKey[];
}

function withKeys(dc: DataCenter, keys: EntryKeys | undefined): DataCenter {
  if (keys === undefined) return dc;
  if (keys.authKey !== undefined) dc.authKey = keys.authKey;
  if (keys.temps.length > 0) dc.tempAuthKeys = keys.temps;
  return dc;
}

/** Rows of the `load` statement back to a session (checked afterwards by core). */
function decodeSession(rows: readonly Row[], where: string): Session | null {
  const head = rows[0];
  if (head === undefined || num(head.k) !== 0) return null;
  const session: Session = { version: 1, homeDcId: num(head.c), dcs: [], channels: [] };
  if (head.d !== null) session.apiId = num(head.d);
  // Any one column means a user (or a state) was stored: a row edited to lose one is
  // damaged, not logged out (the kit's tamper hook: user-without-id, state-without-pts).
  if (head.x !== null || head.e !== null || head.f !== null || head.s !== null || head.b !== null) {
    session.user = { id: int64FromStorage(head.x, `${where} user_id`), dcId: num(head.e), bot: flag(head.f) as boolean };
    if (head.s !== null) session.user.usernames = head.s === '' ? [] : String(head.s).split(' ');
    const premium = flag(head.b);
    if (premium !== undefined) session.user.premium = premium;
  }
  if (head.g !== null || head.h !== null || head.i !== null || head.j !== null) session.state = { pts: num(head.g), qts: num(head.h), date: num(head.i), seq: num(head.j) };
  if (head.y !== null) session.takeoutId = int64FromStorage(head.y, `${where} takeout_id`);
  // Rows come ordered by kind: DC entries, then keys (by dc id, entry, slot), then channels.
  const keys = new Map<string, EntryKeys>();
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r] as Row;
    const kind = num(row.k);
    if (kind === 1) {
      const dc: DataCenter = { id: num(row.c) };
      if (row.s !== null) dc.ipv4 = String(row.s);
      if (row.t !== null) dc.ipv6 = String(row.t);
      if (row.u !== null) dc.host = String(row.u);
      if (row.d !== null) dc.port = num(row.d);
      const testMode = flag(row.f);
      if (testMode !== undefined) dc.testMode = testMode;
      const mediaOnly = flag(row.g);
      if (mediaOnly !== undefined) dc.mediaOnly = mediaOnly;
      session.dcs.push(dc);
    } else if (kind === 2) {
      const id = `${String(row.a)}:${String(row.b)}`;
      let entry = keys.get(id);
      if (entry === undefined) keys.set(id, (entry = { dcId: num(row.a), mediaOnly: num(row.b) === 1, temps: [] }));
      const slot = num(row.c);
      if (slot === PERMANENT_SLOT) entry.authKey = row.bin as Uint8Array;
      else entry.temps.push({ index: slot, key: row.bin as Uint8Array, expiresAt: num(row.i) });
    } else if (kind === 3) {
      session.channels.push({ id: int64FromStorage(row.x, `${where} channel_id`), pts: num(row.g) });
    }
  }
  // Keys go on their entry; keys of an entry the snapshot lacks become an address-less
  // entry after the stored ones, by dc id, main before media (the order they came in).
  for (const dc of session.dcs) {
    const id = `${dc.id}:${dc.mediaOnly === true ? 1 : 0}`;
    withKeys(dc, keys.get(id));
    keys.delete(id);
  }
  for (const entry of keys.values()) {
    const dc: DataCenter = { id: entry.dcId };
    if (entry.mediaOnly) dc.mediaOnly = true;
    session.dcs.push(withKeys(dc, entry));
  }
  return session;
}
