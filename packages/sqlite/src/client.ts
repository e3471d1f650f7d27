import type Database from 'better-sqlite3';
import { BaseStorage, usernameKey, type ChannelState, type Peer, type PeerType, type Session, type UpdateState } from '@mtstore/core';
import { Connection, connectionOptions, type SqliteConnectionOptions } from './connection.js';
import { bit, peerFromRow, sessionFromRows, type ChannelRow, type DcRow, type PeerRow, type SessionRow, type SessionRows, type TempKeyRow } from './rows.js';
import type { Tables } from './schema.js';
import { prepareClient, type ClientStatements } from './statements.js';

export interface SqliteStorageOptions extends SqliteConnectionOptions {
  /** Session name: one file holds any number of named sessions (accounts). Default `default`. */
  name?: string;
}

/** The prepared statements and the transactions built on them, per instance. */
interface Prepared {
  readonly sql: ClientStatements;
  readonly load: Database.Transaction<(name: string) => SessionRows | null>;
  readonly save: Database.Transaction<(name: string, session: Session) => void>;
  readonly saveState: Database.Transaction<(name: string, state: UpdateState, channels: readonly ChannelState[]) => boolean>;
  readonly remove: Database.Transaction<(name: string) => void>;
  readonly upsert: Database.Transaction<(name: string, peers: readonly Peer[]) => boolean>;
}

/**
 * Client Storage in an SQLite file (or `:memory:`), one named session per instance:
 *
 *   new SqliteStorage('bot')                                   // ./bot.session, session "default"
 *   new SqliteStorage({ path: 'accounts.db', name: 'alice' })
 *   new SqliteStorage({ database: db, name: 'alice' })         // your better-sqlite3 Database
 *
 * Every write is one transaction; better-sqlite3 is synchronous, so a promise
 * resolves only after its transaction committed.
 */
export class SqliteStorage extends BaseStorage {
  readonly #connection: Connection;
  /** `session "name"`, the prefix of decoding errors (as in core's checks). */
  #prepared: Prepared | undefined;

  constructor(pathOrOptions: string | SqliteStorageOptions) {
    const options = connectionOptions(pathOrOptions, 'SqliteStorage');
    super(options.name ?? 'default');
    this.#connection = new Connection(options, `SqliteStorage(${JSON.stringify(this.name)})`);
  }

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

  #db(): Prepared {
    return (this.#prepared ??= prepare(this.#connection.open(), this.#connection.tables));
  }

  protected async readSession(): Promise<Session | null> {
    const rows = this.#db().load(this.name);
    return rows === null ? null : sessionFromRows(rows, this.storedLabel);
  }

  protected async writeSession(session: Session): Promise<void> {
    this.#db().save.immediate(this.name, session);
  }

  protected async writeUpdateState(state: UpdateState, channels: readonly ChannelState[]): Promise<boolean> {
    const db = this.#db();
    // Without channels the one UPDATE is already atomic: no BEGIN/COMMIT on the hot path.
    if (channels.length === 0) return db.sql.updateState.get(state.pts, state.qts, state.date, state.seq, this.name) !== undefined;
    return db.saveState.immediate(this.name, state, channels);
  }

  protected async deleteSession(): Promise<void> {
    this.#db().remove.immediate(this.name);
  }

  protected async upsertPeers(peers: readonly Peer[]): Promise<boolean> {
    return this.#db().upsert.immediate(this.name, peers);
  }

  protected async findPeerById(type: PeerType, id: bigint): Promise<Peer | null> {
    return this.#peer(this.#db().sql.peerById.get(this.name, type, id));
  }

  protected async findPeerByUsername(username: string): Promise<Peer | null> {
    return this.#peer(this.#db().sql.peerByUsername.get(this.name, username));
  }

  protected async findPeerByPhone(phone: string): Promise<Peer | null> {
    return this.#peer(this.#db().sql.peerByPhone.get(this.name, phone));
  }

  protected async closeConnection(): Promise<void> {
    this.#prepared = undefined;
    this.#connection.close();
  }

  #peer(row: unknown): Peer | null {
    return row === undefined ? null : peerFromRow(row as PeerRow, this.storedLabel);
  }
}

/**
 * Write transactions are run with `.immediate()`: they take the write lock at BEGIN,
 * so a writer that has to wait for another process waits (busy_timeout) instead of
 * failing with SQLITE_BUSY when it would upgrade a read lock.
 */
function prepare(db: Database.Database, tables: Tables): Prepared {
  const sql = prepareClient(db, tables);
  return {
    sql,

    // A read transaction: the rows of one session come from one snapshot even while another process saves.
    load: db.transaction((name: string): SessionRows | null => {
      const session = sql.session.get(name) as SessionRow | undefined;
      if (session === undefined) return null;
      const dcs = sql.dcs.all(session.id) as DcRow[];
      // Most sessions hold no temp keys: skip that query then.
      const withTemps = dcs.some((dc) => dc.temp_key_count !== null && dc.temp_key_count !== 0n);
      const tempKeys = withTemps ? (sql.tempKeys.all(session.id) as TempKeyRow[]) : [];
      return { session, dcs, tempKeys, channels: sql.channels.all(session.id) as ChannelRow[] };
    }),

    save: db.transaction((name: string, session: Session): void => {
      const { user, state } = session;
      const id = sql.upsertSession.get({
        name,
        version: session.version,
        homeDcId: session.homeDcId,
        apiId: session.apiId ?? null,
        userId: user?.id ?? null,
        userDcId: user?.dcId ?? null,
        userBot: bit(user?.bot),
        userUsername: user?.username ?? null,
        pts: state?.pts ?? null,
        qts: state?.qts ?? null,
        date: state?.date ?? null,
        seq: state?.seq ?? null,
        takeoutId: session.takeoutId ?? null,
      });
      sql.deleteTempKeys.run(id);
      sql.deleteDcs.run(id);
      sql.deleteChannels.run(id);
      session.dcs.forEach((dc, position) => {
        const temps = dc.tempAuthKeys;
        sql.insertDc.run(id, position, dc.id, dc.ipv4 ?? null, dc.ipv6 ?? null, dc.port, bit(dc.testMode), bit(dc.mediaOnly), dc.authKey ?? null, temps?.length ?? null);
        temps?.forEach((temp, i) => sql.insertTempKey.run(id, position, i, temp.index, temp.key, temp.expiresAt));
      });
      for (const channel of session.channels) sql.insertChannel.run(id, channel.id, channel.pts);
    }),

    saveState: db.transaction((name: string, state: UpdateState, channels: readonly ChannelState[]): boolean => {
      const id = sql.updateState.get(state.pts, state.qts, state.date, state.seq, name);
      if (id === undefined) return false;
      for (const channel of channels) sql.upsertChannel.run(id, channel.id, channel.pts);
      return true;
    }),

    remove: db.transaction((name: string): void => {
      const id = sql.sessionId.get(name);
      if (id === undefined) return;
      for (const statement of [sql.deleteUsernames, sql.deletePeers, sql.deleteTempKeys, sql.deleteDcs, sql.deleteChannels, sql.deleteSession]) {
        statement.run(id);
      }
    }),

    // `peers` is normalized by core: each key, username and phone at most once.
    upsert: db.transaction((name: string, peers: readonly Peer[]): boolean => {
      const id = sql.sessionId.get(name);
      if (id === undefined) return false;
      for (const peer of peers) {
        const { type, id: peerId, usernames } = peer;
        if (peer.phone !== undefined) sql.releasePhone.run(id, peer.phone, type, peerId);
        sql.upsertPeer.run(id, type, peerId, peer.accessHash, peer.phone ?? null, bit(peer.min), peer.updatedAt);
        sql.dropUsernames.run(id, type, peerId);
        for (let i = 0; i < usernames.length; i++) {
          const username = usernames[i] as string;
          sql.claimUsername.run(id, type, peerId, i, username, usernameKey(username));
        }
      }
      return true;
    }),
  };
}
