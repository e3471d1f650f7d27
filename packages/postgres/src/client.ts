import {
  optionNames,
  withKnownOptions,
  AuthKeyBytes,
  BaseStorage,
  CorruptDataError,
  type BaseStorageOptions,
  int64FromStorage,
  type ChannelState,
  type DataCenter,
  type Session,
  type SessionUpdate,
  type UpdateState,
} from '@mtstore/core';
import { Database, type PostgresConnectionOptions } from './connection.js';
import { PERMANENT_SLOT, PostgresAuthKeys } from './keys.js';
import { PostgresKeyValues } from './kv.js';
import { LeaseFence, PostgresLeases } from './lease.js';
import { PostgresPeers } from './peers.js';
import { PostgresRefMessages } from './refs.js';
import { clientStatements, type ClientStatements } from './statements.js';
import { base64Length } from './types.js';

export interface PostgresStorageOptions extends PostgresConnectionOptions, BaseStorageOptions {
  /** Session name: one named session (one account) per instance. Default `default`. */
  name?: string | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<PostgresStorageOptions>()(['connectionString', 'config', 'pool', 'schema', 'create', 'prepare', 'closeTimeoutMillis', 'name', 'encryption']);

/**
 * Client Storage in PostgreSQL: one row per named session in `<schema>.sessions`
 * (the snapshot's scalar fields; `home_dc_id` NULL while only keys, kv entries, peers
 * or reference messages are stored), DC addresses and channels in their own tables.
 * Keys, kv, peers and reference messages are in keys.ts, kv.ts, peers.ts and refs.ts.
 * See the README for the schema.
 */
export class PostgresStorage extends BaseStorage {
  readonly schema: string;
  protected readonly authKeyRepository: PostgresAuthKeys;
  protected readonly kvRepository: PostgresKeyValues;
  protected readonly peerRepository: PostgresPeers;
  protected readonly refMessageRepository: PostgresRefMessages;
  readonly #db: Database;
  /** Every write goes through it: fenced by the lease token while one is held (lease.ts). */
  readonly #fence: LeaseFence;
  readonly #sql: ClientStatements;

  constructor(options: PostgresStorageOptions = {}) {
    super(withKnownOptions(options, OPTIONS, 'PostgresStorage')?.name ?? 'default', { encryption: options?.encryption });
    this.#db = new Database(options, 'PostgresStorage');
    this.schema = this.#db.schema;
    this.#sql = clientStatements(this.#db.s);
    this.#fence = new LeaseFence(this.#db, this.name, () => this.fenceToken);
    this.authKeyRepository = new PostgresAuthKeys(this.#db, this.#fence, this.name);
    this.kvRepository = new PostgresKeyValues(this.#db, this.#fence, this.name);
    this.peerRepository = new PostgresPeers(this.#db, this.#fence, this.name, this.storedLabel);
    this.refMessageRepository = new PostgresRefMessages(this.#db, this.#fence, this.name);
  }

  protected override createLeaseRepository(): PostgresLeases {
    return new PostgresLeases(this.#db, this.name);
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, schema: this.schema, ownsPool: this.#db.ownsPool };
  }

  /** decodeSession puts every key in an AuthKeyBytes view on a buffer made for that one load. */
  protected override get sessionKeysFresh(): boolean {
    return true;
  }

  protected async readSession(): Promise<Session | null> {
    const { rows } = await this.#db.query<SessionRow>(this.#sql.load, [this.name]);
    const row = rows[0];
    return row === undefined ? null : decodeSession(row, this.storedLabel);
  }

  protected async writeSession(session: Session): Promise<void> {
    const { user, state } = session;
    await this.#fence.transaction(async (query) => {
      const { rows } = await query<{ id: bigint }>(this.#sql.saveSession, [
        this.name,
        session.homeDcId,
        session.apiId ?? null,
        user?.id ?? null,
        user?.dcId ?? null,
        user?.bot ?? null,
        user?.usernames ?? null,
        user?.premium ?? null,
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
        ...encodeAddresses(session.dcs),
        ...encodeKeys(session.dcs),
        session.channels.map((c) => c.id),
        session.channels.map((c) => c.pts),
      ]);
    });
  }

  /**
   * One statement; with `dcs` or `channels`, one transaction that also replaces the
   * address rows or the channel rows (keys stay).
   */
  protected async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    const { user, state } = patch;
    const values = [
      this.name,
      patch.homeDcId ?? null,
      patch.apiId !== undefined,
      patch.apiId ?? null,
      user !== undefined,
      user?.id ?? null,
      user?.dcId ?? null,
      user?.bot ?? null,
      user?.usernames ?? null,
      user?.premium ?? null,
      patch.takeoutId !== undefined,
      patch.takeoutId ?? null,
      state !== undefined,
      state?.pts ?? null,
      state?.qts ?? null,
      state?.date ?? null,
      state?.seq ?? null,
    ];
    const sql = patch.homeDcId === undefined ? this.#sql.updateSession : this.#sql.createOrUpdateSession;
    const { dcs, channels } = patch;
    if (dcs === undefined && channels === undefined) return (await this.#fence.query(sql, values)).rowCount === 1;
    return this.#fence.transaction(async (query) => {
      const { rows } = await query<{ id: bigint }>(sql, values);
      const id = rows[0]?.id;
      if (id === undefined) return false;
      if (dcs !== undefined) await query(this.#sql.clearDcs, [id]);
      if (channels !== undefined) await query(this.#sql.clearChannels, [id]);
      await query(this.#sql.insertSnapshot, [
        id,
        ...encodeAddresses(dcs ?? []),
        [], [], [], [], [],
        (channels ?? []).map((c) => c.id),
        (channels ?? []).map((c) => c.pts),
      ]);
      return true;
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
    const { rows } = await this.#fence.query<{ found: number }>(this.#sql.saveUpdateState, [
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
    await this.#fence.query(this.#sql.deleteSession, [this.name]);
  }

  protected async listSessionNames(): Promise<string[]> {
    const { rows } = await this.#db.query<{ name: string }>(this.#sql.listNames, []);
    return rows.map((row) => row.name);
  }

  protected async closeConnection(): Promise<void> {
    await this.#db.close();
  }
}

/** Parameters $2..$8 of insertSnapshot: the DC address columns, as arrays, in saved order. */
function encodeAddresses(dcs: readonly DataCenter[]): unknown[][] {
  const columns: unknown[][] = [[], [], [], [], [], [], []];
  for (const d of dcs) {
    const row = [d.id, d.ipv4 ?? null, d.ipv6 ?? null, d.host ?? null, d.port ?? null, d.testMode ?? null, d.mediaOnly ?? null];
    row.forEach((value, i) => (columns[i] as unknown[]).push(value));
  }
  return columns;
}

/** Parameters $9..$13 of insertSnapshot: one auth_keys row per key of every entry. */
function encodeKeys(dcs: readonly DataCenter[]): unknown[][] {
  const columns: unknown[][] = [[], [], [], [], []];
  const push = (...row: unknown[]): void => row.forEach((value, i) => (columns[i] as unknown[]).push(value));
  for (const d of dcs) {
    const media = d.mediaOnly === true;
    if (d.authKey !== undefined) push(d.id, media, PERMANENT_SLOT, d.authKey, null);
    for (const t of d.tempAuthKeys ?? []) push(d.id, media, t.index, t.key, t.expiresAt);
  }
  return columns;
}

interface SessionRow {
  home_dc_id: number;
  api_id: number | null;
  user_id: bigint | null;
  user_dc_id: number | null;
  user_bot: boolean | null;
  user_usernames: unknown;
  user_premium: boolean | null;
  pts: number | null;
  qts: number | null;
  state_date: bigint | null;
  seq: number | null;
  takeout_id: bigint | null;
  dcs: unknown;
  keys: unknown;
  channels: unknown;
}

/** A JSON list column or item; `what` names it in the error (called only then, so a good row builds no label strings). */
function list(value: unknown, where: string, what: () => string): unknown[] {
  if (value === null) return [];
  if (!Array.isArray(value)) throw new CorruptDataError(`${where}: ${what()} is not a list`);
  return value;
}

/**
 * Turns a load row into the model, leaving absent what is NULL. Keys go onto the DC
 * entry with the same (id, media-only); keys without an entry become address-less
 * entries after the stored ones (the query orders keys by DC id, main before media,
 * then slot, so temp keys come by index). Shapes are checked here only as far as needed
 * to build the object; `checkStoredSession` (in the base class) then validates every
 * field and reports bad data as CorruptDataError. Runs on every load: plain loops, and
 * error labels are built only for an error.
 */
export function decodeSession(row: SessionRow, where: string): Session {
  const session: Session = { version: 1, homeDcId: row.home_dc_id, dcs: [], channels: [] };
  if (row.api_id !== null) session.apiId = row.api_id;
  // Any one column means a user was stored: a row edited to lose the others is damaged,
  // not logged out (the kit's tamper hook: user-without-id, user-only-*).
  if (row.user_id !== null || row.user_dc_id !== null || row.user_bot !== null || row.user_usernames !== null || row.user_premium !== null) {
    session.user = { id: row.user_id as bigint, dcId: row.user_dc_id as number, bot: row.user_bot as boolean };
    if (row.user_usernames !== null) session.user.usernames = list(row.user_usernames, where, () => 'user.usernames') as string[];
    if (row.user_premium !== null) session.user.premium = row.user_premium;
  }
  if (row.pts !== null || row.qts !== null || row.state_date !== null || row.seq !== null) {
    const date = row.state_date === null ? row.state_date : Number(row.state_date);
    session.state = { pts: row.pts as number, qts: row.qts as number, date: date as number, seq: row.seq as number };
  }
  if (row.takeout_id !== null) session.takeoutId = row.takeout_id;
  const dcs = list(row.dcs, where, () => 'dcs');
  for (let i = 0; i < dcs.length; i++) {
    const [id, ipv4, ipv6, host, port, testMode, mediaOnly] = list(dcs[i], where, () => `dcs[${i}]`);
    const dc = { id } as DataCenter;
    if (ipv4 !== null) dc.ipv4 = ipv4 as string;
    if (ipv6 !== null) dc.ipv6 = ipv6 as string;
    if (host !== null) dc.host = host as string;
    if (port !== null) dc.port = port as number;
    if (testMode !== null) dc.testMode = testMode as boolean;
    if (mediaOnly !== null) dc.mediaOnly = mediaOnly as boolean;
    session.dcs.push(dc);
  }
  const keys = list(row.keys, where, () => 'keys');
  // Every key decodes into one fresh buffer, each an AuthKeyBytes view on it: one
  // allocation per load instead of one per key, and core keeps them instead of copying
  // (sessionKeysFresh). The SQL strips base64's line breaks, so each key's byte length
  // follows from its text; a malformed text decodes short, and core's length check
  // reports it as corrupt data.
  let total = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = list(keys[i], where, () => `keys[${i}]`)[3];
    if (typeof key === 'string') total += base64Length(key);
  }
  const buffer = new ArrayBuffer(total);
  const writer = Buffer.from(buffer);
  let offset = 0;
  for (let i = 0; i < keys.length; i++) {
    const [dcId, media, slot, key, expiresAt] = keys[i] as unknown[];
    // A handful of entries: a scan beats building string keys for a Map.
    let dc = session.dcs.find((d) => d.id === dcId && (d.mediaOnly === true) === (media === true));
    if (dc === undefined) {
      dc = { id: dcId as number };
      if (media === true) dc.mediaOnly = true;
      session.dcs.push(dc);
    }
    if (typeof key !== 'string') throw new CorruptDataError(`${where}: DC ${String(dcId)} key ${String(slot)} is not a byte string`);
    const length = base64Length(key);
    const bytes = new AuthKeyBytes(buffer, offset, writer.write(key, offset, length, 'base64'));
    offset += length;
    if (slot === PERMANENT_SLOT) dc.authKey = bytes;
    else (dc.tempAuthKeys ??= []).push({ index: slot as number, key: bytes, expiresAt: expiresAt as number });
  }
  const channels = list(row.channels, where, () => 'channels');
  for (let i = 0; i < channels.length; i++) {
    const [id, pts] = list(channels[i], where, () => `channels[${i}]`);
    session.channels.push({ id: int64FromStorage(id, `${where}: channels[${i}].id`), pts: pts as number });
  }
  return session;
}
