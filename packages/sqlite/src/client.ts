import type Database from 'better-sqlite3';
import { BaseStorage, optionNames, withKnownOptions, type BaseStorageOptions, type ChannelState, type Session, type SessionUpdate, type UpdateState } from '@mtstore/core';
import { Connection, connectionOptions, type SqliteConnectionOptions } from './connection.js';
import { SqliteAuthKeys } from './keys.js';
import { SqliteKeyValues } from './kv.js';
import { SqliteLeases } from './lease.js';
import { SqlitePeers } from './peers.js';
import { SqliteRefMessages } from './refs.js';
import { bit, sessionFromRows, type ChannelRow, type DcRow, type KeyRow, type SessionRow, type SessionRows } from './rows.js';
import type { Tables } from './schema.js';
import { SessionScope } from './scope.js';
import { statements } from './statements.js';

export interface SqliteStorageOptions extends SqliteConnectionOptions, BaseStorageOptions {
  /** Session name: one file holds any number of named sessions (accounts). Default `default`. */
  name?: string | undefined;
}

/** Every option of the constructor: any other name is refused (withKnownOptions). */
const OPTIONS = optionNames<SqliteStorageOptions>()(['path', 'database', 'tablePrefix', 'synchronous', 'busyTimeout', 'mmapSize', 'create', 'name', 'encryption']);

/**
 * Client Storage in an SQLite file (or `:memory:`), one named session per instance:
 *
 *   new SqliteStorage('bot')                                   // ./bot.session, session "default"
 *   new SqliteStorage({ path: 'accounts.db', name: 'alice' })
 *   new SqliteStorage({ database: db, name: 'alice' })         // your better-sqlite3 Database
 *
 * This file holds the snapshot (session row, DC addresses, channels); keys.ts, kv.ts,
 * peers.ts and refs.ts hold the other concerns, each preparing its statements on its
 * first use. Every write is one statement or one transaction; better-sqlite3 is
 * synchronous, so a promise resolves only after its transaction committed.
 */
export class SqliteStorage extends BaseStorage {
  readonly #connection: Connection;
  readonly #scope: SessionScope;
  #snapshot: SnapshotStatements | undefined;
  protected readonly authKeyRepository: SqliteAuthKeys;
  protected readonly kvRepository: SqliteKeyValues;
  protected readonly peerRepository: SqlitePeers;
  protected readonly refMessageRepository: SqliteRefMessages;

  constructor(pathOrOptions: string | SqliteStorageOptions) {
    // Stryker disable all: constructor arguments (a path string or options, the default name) and the names in their errors are this adapter's own API (open.test.ts, adapter.test.ts); the kit builds instances only through the suite's `open`
    const options = connectionOptions(pathOrOptions, 'SqliteStorage');
    super(withKnownOptions(options, OPTIONS, 'SqliteStorage').name ?? 'default', { encryption: options.encryption });
    this.#connection = new Connection(options, `SqliteStorage(${JSON.stringify(this.name)})`);
    // Stryker restore all
    this.#scope = new SessionScope(this.#connection, this.name, () => this.fenceToken);
    this.authKeyRepository = new SqliteAuthKeys(this.#scope);
    this.kvRepository = new SqliteKeyValues(this.#scope);
    this.peerRepository = new SqlitePeers(this.#scope, this.storedLabel);
    this.refMessageRepository = new SqliteRefMessages(this.#scope, this.storedLabel);
  }

  /**
   * keys.ts and peers.ts write synchronously (better-sqlite3 is), and better-sqlite3
   * copies every blob it binds (SQLITE_TRANSIENT): core need not copy a key or a peer's
   * TL bytes before handing them over.
   */
  protected override get writesCopyBytes(): boolean {
    return true;
  }

  protected override createLeaseRepository(): SqliteLeases {
    return new SqliteLeases(this.#scope);
  }

  // Stryker disable all: `path`, `database` and inspect()'s description are this adapter's own API (open.test.ts); the contract asks only that inspect() shows no key bytes, which the kit checks
  /** The database file (absolute, Telethon naming applied), `:memory:`, or undefined for a borrowed database. */
  get path(): string | undefined {
    return this.#connection.path;
  }

  /**
   * The better-sqlite3 Database, opened and migrated on first access: for backups
   * (`database.backup(file)`), checkpoints or read queries of your own. It is closed
   * by `close()` unless it was borrowed.
   */
  get database(): Database.Database {
    if (this.closed) throw this.closedError('database');
    return this.#connection.openFor(this.where('database'));
  }

  protected override describe(): Record<string, unknown> {
    return { name: this.name, path: this.#connection.path ?? '(borrowed database)', tablePrefix: this.#connection.tablePrefix };
  }
  // Stryker restore all

  #db(): SnapshotStatements {
    this.#connection.live();
    return (this.#snapshot ??= prepareSnapshot(this.#scope));
  }

  protected async readSession(): Promise<Session | null> {
    const rows = this.#db().load(this.name);
    return rows === null ? null : sessionFromRows(rows, this.storedLabel);
  }

  // Every write goes through the scope's fence (scope.ts): a plain call without a lease.
  protected async writeSession(session: Session): Promise<void> {
    const db = this.#db();
    this.#scope.write((token) => db.save.immediate(this.name, session, token ?? null));
  }

  protected async writeSessionUpdate(patch: SessionUpdate): Promise<boolean> {
    const db = this.#db();
    return this.#scope.write(() => db.update.immediate(this.name, patch));
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const db = this.#db();
    // Without channels the one UPDATE is already atomic: no BEGIN/COMMIT on the hot path.
    // Stryker disable next-line ConditionalExpression: equivalent: without channels the transaction runs the same UPDATE; the shortcut only saves BEGIN/COMMIT
    if (channels.length === 0) return this.#scope.write(() => db.sql.updateState.get(state.pts, state.qts, state.date, state.seq, this.name) !== undefined);
    return this.#scope.write(() => db.saveState.immediate(this.name, state, channels));
  }

  protected async deleteSession(): Promise<void> {
    const db = this.#db();
    this.#scope.write(() => db.remove.immediate(this.name));
  }

  protected async listSessionNames(): Promise<string[]> {
    // Sorted here: the contract's order is JavaScript's, whatever SQLite's collation.
    // Stryker disable next-line MethodExpression: equivalent today: session names are ASCII (core's name rule), which ORDER BY name (BINARY collation) already puts in JavaScript's order
    return (this.#db().sql.names.all() as string[]).sort();
  }

  protected async closeConnection(): Promise<void> {
    this.#connection.close();
  }
}

export function prepareSnapshotStatements(db: Database.Database, t: Tables) {
  const { read, write, value } = statements(db);
  return {
    sessionId: value(`SELECT id FROM ${t.sessions} WHERE name = ?`),
    names: value(`SELECT name FROM ${t.sessions} ORDER BY name`),

    // load
    session: read(`SELECT id, has_snapshot, version, home_dc_id, api_id, user_id, user_dc_id, user_bot, user_usernames, user_premium,
      state_pts, state_qts, state_date, state_seq, takeout_id FROM ${t.sessions} WHERE name = ?`),
    dcs: read(`SELECT dc_id, ipv4, ipv6, host, port, test_mode, media_only FROM ${t.dcs} WHERE session_id = ? ORDER BY position`),
    keys: read(`SELECT k.dc_id, k.media_only, k.slot, b.auth_key, k.expires_at FROM ${t.authKeys} k JOIN ${t.authKeyBytes} b ON b.id = k.id
      WHERE k.session_id = ? ORDER BY k.dc_id, k.media_only, k.slot`),
    channels: read(`SELECT channel_id, pts FROM ${t.channels} WHERE session_id = ? ORDER BY rowid`),

    // save, and update() creating the snapshot: the row is updated in place (never
    // deleted) so what belongs to the name (keys, peers, kv, references) stays.
    upsertSession: value(`INSERT INTO ${t.sessions} (name, has_snapshot, version, home_dc_id, api_id, user_id, user_dc_id, user_bot,
        user_usernames, user_premium, state_pts, state_qts, state_date, state_seq, takeout_id)
      VALUES (@name, 1, @version, @homeDcId, @apiId, @userId, @userDcId, @userBot,
        @userUsernames, @userPremium, @pts, @qts, @date, @seq, @takeoutId)
      ON CONFLICT (name) DO UPDATE SET has_snapshot = 1, version = excluded.version, home_dc_id = excluded.home_dc_id,
        api_id = excluded.api_id, user_id = excluded.user_id, user_dc_id = excluded.user_dc_id,
        user_bot = excluded.user_bot, user_usernames = excluded.user_usernames, user_premium = excluded.user_premium,
        state_pts = excluded.state_pts, state_qts = excluded.state_qts, state_date = excluded.state_date,
        state_seq = excluded.state_seq, takeout_id = excluded.takeout_id
      RETURNING id`),
    // update(): each field changes only when its flag is set, in one statement.
    patchSession: value(`UPDATE ${t.sessions} SET
        home_dc_id = CASE WHEN @setHome THEN @homeDcId ELSE home_dc_id END,
        api_id = CASE WHEN @setApiId THEN @apiId ELSE api_id END,
        user_id = CASE WHEN @setUser THEN @userId ELSE user_id END,
        user_dc_id = CASE WHEN @setUser THEN @userDcId ELSE user_dc_id END,
        user_bot = CASE WHEN @setUser THEN @userBot ELSE user_bot END,
        user_usernames = CASE WHEN @setUser THEN @userUsernames ELSE user_usernames END,
        user_premium = CASE WHEN @setUser THEN @userPremium ELSE user_premium END,
        takeout_id = CASE WHEN @setTakeout THEN @takeoutId ELSE takeout_id END,
        state_pts = CASE WHEN @setState THEN @pts ELSE state_pts END,
        state_qts = CASE WHEN @setState THEN @qts ELSE state_qts END,
        state_date = CASE WHEN @setState THEN @date ELSE state_date END,
        state_seq = CASE WHEN @setState THEN @seq ELSE state_seq END
      WHERE name = @name AND has_snapshot = 1 RETURNING id`),
    insertDc: write(`INSERT INTO ${t.dcs} (session_id, position, dc_id, ipv4, ipv6, host, port, test_mode, media_only)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    // A key is a key row and a bytes row under its id (schema 9), as keys.ts writes them.
    insertKey: value(`INSERT INTO ${t.authKeys} (session_id, dc_id, media_only, slot, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id`),
    // lease_token: the token the fence just matched (NULL without a lease), as keys.ts's fenced upsert writes it.
    insertKeyBytes: write(`INSERT INTO ${t.authKeyBytes} (id, lease_token, auth_key) VALUES (?, ?, ?)`),
    insertChannel: write(`INSERT INTO ${t.channels} (session_id, channel_id, pts) VALUES (?, ?, ?)`),
    deleteDcs: write(`DELETE FROM ${t.dcs} WHERE session_id = ?`),
    // The bytes rows go with their key rows (schema 9's delete trigger).
    deleteKeys: write(`DELETE FROM ${t.authKeys} WHERE session_id = ?`),
    deleteChannels: write(`DELETE FROM ${t.channels} WHERE session_id = ?`),

    // saveUpdateState: RETURNING tells whether a snapshot exists, in the same statement.
    updateState: value(`UPDATE ${t.sessions} SET state_pts = ?, state_qts = ?, state_date = ?, state_seq = ?
      WHERE name = ? AND has_snapshot = 1 RETURNING id`),
    upsertChannel: write(`INSERT INTO ${t.channels} (session_id, channel_id, pts) VALUES (?, ?, ?)
      ON CONFLICT (session_id, channel_id) DO UPDATE SET pts = excluded.pts`),

    // delete: children first, explicitly, so it is complete even where foreign_keys is off (a borrowed database).
    // Stryker disable next-line ArrayDeclaration: equivalent on every connection the adapter opens (foreign_keys = ON deletes the children); a lent Database with foreign keys off is open.test.ts's case
    deleteChildren: [t.usernames, t.peers, t.authKeys, t.kv, t.refMessages, t.dcs, t.channels].map((table) =>
      write(`DELETE FROM ${table} WHERE session_id = ?`),
    ),
    deleteSession: write(`DELETE FROM ${t.sessions} WHERE id = ?`),
  };
}

type SnapshotSql = ReturnType<typeof prepareSnapshotStatements>;

/** The snapshot's statements and the transactions built on them, per instance. */
interface SnapshotStatements {
  readonly sql: SnapshotSql;
  readonly load: Database.Transaction<(name: string) => SessionRows | null>;
  readonly save: Database.Transaction<(name: string, session: Session, token: bigint | null) => void>;
  readonly update: Database.Transaction<(name: string, patch: SessionUpdate) => boolean>;
  readonly saveState: Database.Transaction<(name: string, state: UpdateState, channels: readonly ChannelState[]) => boolean>;
  readonly remove: Database.Transaction<(name: string) => void>;
}

/** The user columns of a SelfUser (null: no user). */
function userColumns(user: Session['user'] | null | undefined) {
  return {
    userId: user?.id ?? null,
    userDcId: user?.dcId ?? null,
    userBot: bit(user?.bot),
    userUsernames: user?.usernames === undefined ? null : JSON.stringify(user.usernames),
    userPremium: bit(user?.premium),
  };
}

/**
 * Write transactions are run with `.immediate()`: they take the write lock at BEGIN,
 * so a writer that has to wait for another process waits (busy_timeout) instead of
 * failing with SQLITE_BUSY when it would upgrade a read lock.
 */
function prepareSnapshot(scope: SessionScope): SnapshotStatements {
  const db = scope.db();
  const sql = prepareSnapshotStatements(db, scope.tables);

  /** Replaces the address rows of session `id` (keys are in their own table). */
  const writeDcs = (id: bigint, dcs: Session['dcs']): void => {
    sql.deleteDcs.run(id);
    dcs.forEach((dc, position) => {
      sql.insertDc.run(id, position, dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.host ?? null, dc.port ?? null, bit(dc.testMode), bit(dc.mediaOnly));
    });
  };

  /** The whole snapshot row from a session (state and channels as given). */
  const upsertRow = (name: string, session: Omit<Session, 'dcs' | 'channels'>): bigint => {
    const { state } = session;
    return sql.upsertSession.get({
      name,
      version: session.version,
      homeDcId: session.homeDcId,
      apiId: session.apiId ?? null,
      ...userColumns(session.user),
      pts: state?.pts ?? null,
      qts: state?.qts ?? null,
      date: state?.date ?? null,
      seq: state?.seq ?? null,
      takeoutId: session.takeoutId ?? null,
    }) as bigint;
  };

  return {
    sql,

    // A read transaction: the rows of one session come from one snapshot even while another process saves.
    load: db.transaction((name: string): SessionRows | null => {
      const session = sql.session.get(name) as SessionRow | undefined;
      // A name-only row (keys, peers, kv without a snapshot) is no session yet.
      if (session === undefined || session.has_snapshot === 0n) return null;
      return {
        session,
        dcs: sql.dcs.all(session.id) as DcRow[],
        keys: sql.keys.all(session.id) as KeyRow[],
        channels: sql.channels.all(session.id) as ChannelRow[],
      };
    }),

    // The snapshot and every key of the session: keys of DCs not in it are removed. Under a
    // lease (run inside its fence) the key rows get its token as their lease_token, so the
    // next rewrite of a key is the one-row rewrite (keys.ts), not the fenced upsert.
    save: db.transaction((name: string, session: Session, token: bigint | null): void => {
      const id = upsertRow(name, session);
      writeDcs(id, session.dcs);
      sql.deleteKeys.run(id);
      const insertKey = (dcId: number, media: number, slot: number, key: Uint8Array, expiresAt: number | null): void => {
        sql.insertKeyBytes.run(sql.insertKey.get(id, dcId, media, slot, expiresAt), token, key);
      };
      for (const dc of session.dcs) {
        const media = dc.mediaOnly === true ? 1 : 0;
        if (dc.authKey !== undefined) insertKey(dc.id, media, -1, dc.authKey, null);
        for (const temp of dc.tempAuthKeys ?? []) insertKey(dc.id, media, temp.index, temp.key, temp.expiresAt);
      }
      sql.deleteChannels.run(id);
      for (const channel of session.channels) sql.insertChannel.run(id, channel.id, channel.pts);
    }),

    // Keys (and state and channels unless given) are kept; without a snapshot, homeDcId + dcs create one.
    update: db.transaction((name: string, patch: SessionUpdate): boolean => {
      const { user, state } = patch;
      let id = sql.patchSession.get({
        name,
        setHome: patch.homeDcId !== undefined ? 1 : 0,
        homeDcId: patch.homeDcId ?? null,
        setApiId: patch.apiId !== undefined ? 1 : 0,
        apiId: patch.apiId ?? null,
        setUser: user !== undefined ? 1 : 0,
        ...userColumns(user),
        setTakeout: patch.takeoutId !== undefined ? 1 : 0,
        takeoutId: patch.takeoutId ?? null,
        setState: state !== undefined ? 1 : 0,
        pts: state?.pts ?? null,
        qts: state?.qts ?? null,
        date: state?.date ?? null,
        seq: state?.seq ?? null,
      }) as bigint | undefined;
      if (id === undefined) {
        if (patch.homeDcId === undefined) return false;
        const created: Omit<Session, 'dcs' | 'channels'> = { version: 1, homeDcId: patch.homeDcId };
        // Stryker disable ConditionalExpression,LogicalOperator: equivalent where a guard lets more through: upsertRow stores an absent and a null field alike (NULL); the `false` halves (the field dropped) are killed by the update traits
        if (patch.apiId !== undefined && patch.apiId !== null) created.apiId = patch.apiId;
        if (patch.user !== undefined && patch.user !== null) created.user = patch.user;
        if (patch.takeoutId !== undefined && patch.takeoutId !== null) created.takeoutId = patch.takeoutId;
        if (state !== undefined && state !== null) created.state = state;
        // Stryker restore ConditionalExpression,LogicalOperator
        id = upsertRow(name, created);
        sql.deleteChannels.run(id);
      }
      if (patch.dcs !== undefined) writeDcs(id, patch.dcs);
      if (patch.channels !== undefined) {
        sql.deleteChannels.run(id);
        for (const channel of patch.channels) sql.insertChannel.run(id, channel.id, channel.pts);
      }
      return true;
    }),

    saveState: db.transaction((name: string, state: UpdateState, channels: readonly ChannelState[]): boolean => {
      const id = sql.updateState.get(state.pts, state.qts, state.date, state.seq, name);
      if (id === undefined) return false;
      for (const channel of channels) sql.upsertChannel.run(id, channel.id, channel.pts);
      return true;
    }),

    remove: db.transaction((name: string): void => {
      const id = sql.sessionId.get(name);
      // Stryker disable next-line ConditionalExpression: equivalent: the deletes of an id no row has match nothing
      if (id === undefined) return;
      for (const statement of sql.deleteChildren) statement.run(id);
      sql.deleteSession.run(id);
    }),
  };
}
