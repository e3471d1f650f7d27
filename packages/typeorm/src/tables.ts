/**
 * The tables, described once. The same description becomes the DDL of the
 * migrations (TypeORM `Table`s, so each driver gets its own column types) and the
 * `EntitySchema`s an application may register (entities.ts), so an application that
 * registers both sees no schema difference.
 *
 * Layout (every name behind the table prefix, default `mtstore_`):
 *
 *   schema_version   id = 1, version: the schema version these tables are at
 *   sessions         one row per named client session: home DC (NULL: no snapshot saved), api id,
 *                    user, update state, takeout
 *   datacenters      (session_name, ord): the DC address entries of the snapshot, in order
 *   auth_keys        (session_name, dc_id, media_only, slot): permanent key (slot -1) and PFS keys
 *                    (slot = index) of a DC entry, apart from the addresses: written one at a time
 *   channels         (session_name, channel_id) unique: pts per channel; `seq` keeps insertion order
 *   peers            (session_name, peer_type, peer_id): access hash, min, phone, updated_at,
 *                    usernames, display name, TL bytes; index on the phones (specsV4)
 *   peer_usernames   (session_name, username_key): lower-cased username → its owner (the lookup index);
 *                    index on the owner (specsV4)
 *   kv               (session_name, kv_key): bytes the client keeps beside the session
 *   ref_messages     `seq`; unique (session_name, peer_id, chat_id, message_id): where a min peer was
 *                    seen; the highest `seq` of a peer is its most recent reference
 *   server_sessions  (auth_key_id, session_id): live MTProto sessions of a server
 *
 * 64-bit ids are BIGINT; times are BIGINT epoch seconds (they exceed INT32); booleans
 * are nullable so absent, false and true stay three values.
 */
import { Table, TableIndex, type TableColumnOptions } from 'typeorm';
import type { DialectName } from './dialect.js';

/**
 * `key`: an auth key (256 bytes); `blob`: bytes up to 64 KiB inclusive (MySQL's BLOB
 * stops one byte short, so MEDIUMBLOB there); `utext`: Unicode text (display names),
 * where every other string column is ASCII.
 */
export type ColumnKind = 'int' | 'int64' | 'seq' | 'bool' | 'key' | 'blob' | 'varchar' | 'text' | 'utext';

export interface ColumnSpec {
  /** Column name in the database. */
  name: string;
  /** Property name on the entity. */
  property: string;
  kind: ColumnKind;
  /** For varchar columns; for key columns their MySQL VARBINARY length (default 256). */
  length?: number;
  nullable?: boolean;
  primary?: boolean;
}

export interface IndexSpec {
  name: string;
  columns: readonly string[];
  unique?: boolean;
  /** postgres and sqlite: a partial index, of the rows this condition holds for. MySQL has none. */
  where?: string;
  /** MySQL's columns, where they differ (an index there holds every row). */
  mysqlColumns?: readonly string[];
}

export interface TableSpec {
  /** Table name without the prefix. */
  base: string;
  /** Entity name without the prefix. */
  entity: string;
  columns: readonly ColumnSpec[];
  indices?: readonly IndexSpec[];
}

const NAME: Omit<ColumnSpec, 'primary'> = { name: 'session_name', property: 'sessionName', kind: 'varchar', length: 128 };
const PEER_TYPE = { kind: 'varchar', length: 7 } as const;
const USERNAME = { kind: 'varchar', length: 64 } as const;

/** Version 1 of the schema, as it is created by migration 1. */
export function specsV1(prefix: string): TableSpec[] {
  return [
    {
      base: 'schema_version',
      entity: 'SchemaVersion',
      columns: [
        { name: 'id', property: 'id', kind: 'int', primary: true },
        { name: 'version', property: 'version', kind: 'int' },
      ],
    },
    {
      base: 'sessions',
      entity: 'Session',
      columns: [
        { ...NAME, primary: true },
        { name: 'home_dc_id', property: 'homeDcId', kind: 'int' },
        { name: 'api_id', property: 'apiId', kind: 'int', nullable: true },
        { name: 'user_id', property: 'userId', kind: 'int64', nullable: true },
        { name: 'user_dc_id', property: 'userDcId', kind: 'int', nullable: true },
        { name: 'user_bot', property: 'userBot', kind: 'bool', nullable: true },
        { name: 'user_username', property: 'userUsername', ...USERNAME, nullable: true },
        { name: 'state_pts', property: 'statePts', kind: 'int', nullable: true },
        { name: 'state_qts', property: 'stateQts', kind: 'int', nullable: true },
        { name: 'state_date', property: 'stateDate', kind: 'int64', nullable: true },
        { name: 'state_seq', property: 'stateSeq', kind: 'int', nullable: true },
        { name: 'takeout_id', property: 'takeoutId', kind: 'int64', nullable: true },
      ],
    },
    {
      base: 'datacenters',
      entity: 'Datacenter',
      columns: [
        { ...NAME, primary: true },
        { name: 'ord', property: 'ord', kind: 'int', primary: true },
        { name: 'dc_id', property: 'dcId', kind: 'int' },
        { name: 'ipv4', property: 'ipv4', kind: 'varchar', length: 15, nullable: true },
        { name: 'ipv6', property: 'ipv6', kind: 'varchar', length: 45, nullable: true },
        { name: 'port', property: 'port', kind: 'int' },
        { name: 'test_mode', property: 'testMode', kind: 'bool', nullable: true },
        { name: 'media_only', property: 'mediaOnly', kind: 'bool', nullable: true },
        { name: 'auth_key', property: 'authKey', kind: 'key', nullable: true },
      ],
    },
    {
      base: 'temp_auth_keys',
      entity: 'TempAuthKey',
      columns: [
        { ...NAME, primary: true },
        { name: 'dc_ord', property: 'dcOrd', kind: 'int', primary: true },
        { name: 'ord', property: 'ord', kind: 'int', primary: true },
        { name: 'key_index', property: 'keyIndex', kind: 'int' },
        { name: 'auth_key', property: 'authKey', kind: 'key' },
        { name: 'expires_at', property: 'expiresAt', kind: 'int64' },
      ],
    },
    {
      base: 'channels',
      entity: 'Channel',
      columns: [
        // Insertion order: load returns channels in the order they were saved or first added.
        { name: 'seq', property: 'seq', kind: 'seq', primary: true },
        NAME,
        { name: 'channel_id', property: 'channelId', kind: 'int64' },
        { name: 'pts', property: 'pts', kind: 'int' },
      ],
      indices: [{ name: `${prefix}channel_key`, columns: ['session_name', 'channel_id'], unique: true }],
    },
    {
      base: 'peers',
      entity: 'Peer',
      columns: [
        { ...NAME, primary: true },
        { name: 'peer_type', property: 'peerType', ...PEER_TYPE, primary: true },
        { name: 'peer_id', property: 'peerId', kind: 'int64', primary: true },
        { name: 'access_hash', property: 'accessHash', kind: 'int64' },
        { name: 'is_min', property: 'isMin', kind: 'bool', nullable: true },
        { name: 'phone', property: 'phone', kind: 'varchar', length: 20, nullable: true },
        { name: 'updated_at', property: 'updatedAt', kind: 'int64' },
        // The usernames as given, in order, separated by spaces ('' for none): a lookup reads one row.
        { name: 'usernames', property: 'usernames', kind: 'text' },
      ],
      indices: [{ name: `${prefix}peer_phone`, columns: ['session_name', 'phone'] }],
    },
    {
      base: 'peer_usernames',
      entity: 'PeerUsername',
      columns: [
        { ...NAME, primary: true },
        { name: 'username_key', property: 'usernameKey', ...USERNAME, primary: true },
        { name: 'peer_type', property: 'peerType', ...PEER_TYPE },
        { name: 'peer_id', property: 'peerId', kind: 'int64' },
      ],
      indices: [{ name: `${prefix}username_peer`, columns: ['session_name', 'peer_type', 'peer_id'] }],
    },
    {
      base: 'server_sessions',
      entity: 'ServerSession',
      columns: [
        { name: 'auth_key_id', property: 'authKeyId', kind: 'int64', primary: true },
        { name: 'session_id', property: 'sessionId', kind: 'int64', primary: true },
      ],
    },
  ];
}

/** Permanent key in `auth_keys.slot`; temp keys use their index (0..2^31-1). */
export const PERMANENT_SLOT = -1;

/**
 * Version 2: keys move out of `datacenters` into `auth_keys` (and `temp_auth_keys`
 * goes), a DC entry may have no address, a session row may exist without a snapshot,
 * the self user has several usernames and `premium`, peers keep a display name and
 * their TL bytes, and kv entries and reference messages get their tables.
 */
export function specsV2(prefix: string): TableSpec[] {
  const v1 = new Map(specsV1(prefix).map((spec) => [spec.base, spec]));
  const v1Columns = (base: string) => (v1.get(base) as TableSpec).columns;
  return [
    v1.get('schema_version') as TableSpec,
    {
      base: 'sessions',
      entity: 'Session',
      columns: [
        ...v1Columns('sessions')
          .filter((c) => c.name !== 'user_username')
          // NULL: the name has a row (peers were written first) but no snapshot.
          .map((c) => (c.name === 'home_dc_id' ? { ...c, nullable: true } : c)),
        // Space-separated as given, main first; '' is an empty list, NULL absent.
        { name: 'user_usernames', property: 'userUsernames', kind: 'text', nullable: true },
        { name: 'user_premium', property: 'userPremium', kind: 'bool', nullable: true },
      ],
    },
    {
      base: 'datacenters',
      entity: 'Datacenter',
      columns: [
        ...v1Columns('datacenters')
          .filter((c) => c.name !== 'auth_key')
          .map((c) => (c.name === 'port' ? { ...c, nullable: true } : c)),
        DC_HOST,
      ],
    },
    {
      base: 'auth_keys',
      entity: 'AuthKey',
      columns: [
        { ...NAME, primary: true },
        { name: 'dc_id', property: 'dcId', kind: 'int', primary: true },
        // 0 main entry, 1 media-only entry: part of the key, so not a nullable boolean.
        { name: 'media_only', property: 'mediaOnly', kind: 'int', primary: true },
        { name: 'slot', property: 'slot', kind: 'int', primary: true },
        { name: 'auth_key', property: 'authKey', kind: 'key' },
        // Temp keys only.
        { name: 'expires_at', property: 'expiresAt', kind: 'int64', nullable: true },
      ],
    },
    v1.get('channels') as TableSpec,
    {
      ...(v1.get('peers') as TableSpec),
      columns: [...v1Columns('peers'), PEER_DISPLAY_NAME, PEER_COMPLETE],
    },
    v1.get('peer_usernames') as TableSpec,
    {
      base: 'kv',
      entity: 'KeyValue',
      columns: [
        { ...NAME, primary: true },
        { name: 'kv_key', property: 'key', kind: 'varchar', length: 255, primary: true },
        { name: 'value', property: 'value', kind: 'blob' },
      ],
    },
    {
      base: 'ref_messages',
      entity: 'RefMessage',
      columns: [
        // Monotonic: storing a reference again gives it a new, higher seq.
        { name: 'seq', property: 'seq', kind: 'seq', primary: true },
        NAME,
        { name: 'peer_id', property: 'peerId', kind: 'int64' },
        { name: 'chat_id', property: 'chatId', kind: 'int64' },
        { name: 'message_id', property: 'messageId', kind: 'int' },
      ],
      indices: [
        { name: `${prefix}ref_key`, columns: ['session_name', 'peer_id', 'chat_id', 'message_id'], unique: true },
        { name: `${prefix}ref_message`, columns: ['session_name', 'chat_id', 'message_id'] },
      ],
    },
    v1.get('server_sessions') as TableSpec,
  ];
}

const DC_HOST: ColumnSpec = { name: 'host', property: 'host', kind: 'varchar', length: 253, nullable: true };
const PEER_DISPLAY_NAME: ColumnSpec = { name: 'display_name', property: 'displayName', kind: 'utext', nullable: true };
const PEER_COMPLETE: ColumnSpec = { name: 'complete', property: 'complete', kind: 'blob', nullable: true };

/** Bytes of a key column on MySQL from version 3: a sealed key is at most 324 (docs/contract.md §10a), the rest is headroom. */
export const SEALED_KEY_LENGTH = 1024;

/**
 * Version 3: server sessions get their lifetime (`last_used_at`, `expires_at`: epoch ms
 * of the mtstore process's clock, NULL expiry = for ever, with an index for the sweep),
 * and on MySQL the key column takes sealed keys (VARBINARY(256) → VARBINARY(1024)).
 */
export function specsV3(prefix: string): TableSpec[] {
  return specsV2(prefix).map((spec) => {
    if (spec.base === 'auth_keys') {
      return { ...spec, columns: spec.columns.map((c) => (c.kind === 'key' ? { ...c, length: SEALED_KEY_LENGTH } : c)) };
    }
    if (spec.base === 'server_sessions') {
      return {
        ...spec,
        columns: [
          ...spec.columns,
          // NULL only for sessions created before version 3 and not touched since.
          { name: 'last_used_at', property: 'lastUsedAt', kind: 'int64', nullable: true },
          // NULL: never expires (created or last touched by an instance without ttlSeconds).
          { name: 'expires_at', property: 'expiresAt', kind: 'int64', nullable: true },
        ],
        indices: [{ name: `${prefix}server_session_expiry`, columns: ['expires_at'] }],
      };
    }
    return spec;
  });
}

/**
 * Version 4: the two secondary indexes of the peer tables no longer begin with
 * `session_name`, or hold only rows with a phone, so the planner cannot mistake them
 * for a way to a lookup's one row. postgres costs a lookup on tables never analysed
 * (a new schema: autovacuum may be off or not yet round) from defaults alone: every
 * index whose first column is `session_name` then looks as cheap as the right one, and
 * the tie went to the one created last — `getByUsername` filtered the session's
 * username rows through `username_peer`, `getById` its peers through `peer_phone`.
 *
 * - `username_peer` (the usernames of a peer, read by upserts with all three columns
 *   bound) leads with `peer_id`.
 * - `peer_phone` holds only peers with a phone (`phone = ?` implies it, a lookup by id
 *   or username cannot use it) and ends with the primary key's columns, so it returns
 *   `getByPhone`'s rows in the order asked without a sort: sorting made the primary key
 *   look cheaper to postgres and sqlite on fresh tables. On MySQL, which has no partial
 *   indexes and whose secondary indexes end with the primary key anyway, it is unchanged.
 */
export function specsV4(prefix: string): TableSpec[] {
  return specsV3(prefix).map((spec) => {
    if (spec.base === 'peers') {
      const phone: IndexSpec = {
        name: `${prefix}peer_phone`,
        columns: ['session_name', 'phone', 'peer_type', 'peer_id'],
        where: 'phone IS NOT NULL',
        mysqlColumns: ['session_name', 'phone'],
      };
      return { ...spec, indices: [phone] };
    }
    if (spec.base === 'peer_usernames') return { ...spec, indices: [{ name: `${prefix}username_peer`, columns: ['peer_id', 'peer_type', 'session_name'] }] };
    return spec;
  });
}

/** The tables of the current schema version. */
export function tableSpecs(prefix: string): TableSpec[] {
  return specsV4(prefix);
}

/** An index as it is built on `dialect`: its columns, and its condition where partial indexes exist. */
export function indexOn(spec: IndexSpec, dialect: DialectName): { columns: string[]; where: string | undefined } {
  if (dialect === 'mysql') return { columns: [...(spec.mysqlColumns ?? spec.columns)], where: undefined };
  return { columns: [...spec.columns], where: spec.where };
}

/** The TypeORM index of a spec on `dialect`. */
export function toTableIndex(spec: IndexSpec, dialect: DialectName): TableIndex {
  const { columns, where } = indexOn(spec, dialect);
  return new TableIndex({ name: spec.name, columnNames: columns, isUnique: spec.unique === true, ...(where === undefined ? {} : { where }) });
}

/** The TypeORM column type of a kind on a dialect. */
export function columnType(kind: ColumnKind, dialect: DialectName): string {
  switch (kind) {
    case 'int':
      return dialect === 'mysql' ? 'int' : 'integer';
    case 'int64':
      return 'bigint';
    case 'seq':
      // sqlite allows AUTOINCREMENT only on INTEGER PRIMARY KEY (which is 64-bit there).
      return dialect === 'sqlite' ? 'integer' : 'bigint';
    case 'bool':
      return 'boolean';
    case 'key':
      return dialect === 'postgres' ? 'bytea' : dialect === 'mysql' ? 'varbinary' : 'blob';
    case 'blob':
      return dialect === 'postgres' ? 'bytea' : dialect === 'mysql' ? 'mediumblob' : 'blob';
    case 'varchar':
      return 'varchar';
    case 'text':
    case 'utext':
      return 'text';
  }
}

/** Length of a column, where its type takes one. */
export function columnLength(spec: ColumnSpec, dialect: DialectName): number | undefined {
  if (spec.kind === 'varchar') return spec.length;
  // VARBINARY(256) up to version 2 (plaintext keys only), wider from version 3.
  if (spec.kind === 'key' && dialect === 'mysql') return spec.length ?? 256;
  return undefined;
}

/**
 * MySQL: the character set and collation of a text column. Every string we store is
 * ASCII but display names; a binary collation keeps names case-sensitive.
 */
export function textCharset(kind: ColumnSpec['kind']): { charset: string; collation: string } | undefined {
  if (kind === 'varchar' || kind === 'text') return { charset: 'ascii', collation: 'ascii_bin' };
  if (kind === 'utext') return { charset: 'utf8mb4', collation: 'utf8mb4_bin' };
  return undefined;
}

export function toTable(spec: TableSpec, prefix: string, dialect: DialectName): Table {
  const columns: TableColumnOptions[] = spec.columns.map((c) => {
    const length = columnLength(c, dialect);
    const column: TableColumnOptions = {
      name: c.name,
      type: columnType(c.kind, dialect),
      isNullable: c.nullable === true,
      isPrimary: c.primary === true,
    };
    if (length !== undefined) column.length = String(length);
    if (c.kind === 'seq') {
      column.isGenerated = true;
      column.generationStrategy = 'increment';
    }
    const text = dialect === 'mysql' ? textCharset(c.kind) : undefined;
    if (text !== undefined) Object.assign(column, text);
    return column;
  });
  const indices = (spec.indices ?? []).map((i) => toTableIndex(i, dialect));
  return new Table({ name: `${prefix}${spec.base}`, columns, indices });
}

