/**
 * The peer cache of one session: `<prefix>peers` (one row per (type, id), its
 * usernames in order as a JSON array) and `<prefix>peer_usernames` (the lookup index:
 * lower-cased username → owner, which gives each username one owner). Lookups are one
 * statement each. An upsert batch is one IMMEDIATE transaction: the batch goes into a
 * TEMP staging table in a few multi-row statements (not one call per peer), which note
 * beside each peer what its stored row holds and leave out the peers stored as they
 * are; then a few set-based statements over the staged peers write the rows and claim
 * the names — instead of four statements per peer with a foreign-key check each.
 * A peer whose id is above every stored id of its type is staged without the probe
 * (see FRESH_CHECK), and a batch made only of such peers skips the staging table: its
 * rows go straight into the peer table and its names are read back from them into the
 * index (insertNew). Names and phones held by peers outside the batch are looked for
 * only when a unique index refuses one (see upsert).
 */
import type Database from 'better-sqlite3';
import { CorruptDataError, INT64_MIN, type Peer, type PeerListPage, type PeerPosition, type PeerRepository, type PeerType } from '@mtstore/core';
import {
  bit,
  PEER_BY_PHONE_UNLESS_MIN,
  PEER_COLUMNS,
  PEER_COLUMNS_UNLESS_MIN,
  PEER_DATA,
  PEER_DATA_UNLESS_MIN,
  PEER_TYPE_CODE,
  peerFromData,
  peerFromPhoneRow,
  peerFromRow,
  UPDATED_AT,
  type PeerRow,
} from './rows.js';
import type { Tables } from './schema.js';
import type { SessionScope } from './scope.js';
import { sessionOf, statements, type Statement } from './statements.js';

/**
 * The staging table of a connection (per table prefix): TEMP, so it lives in this
 * connection only, is never in the file and needs no migration. Every batch empties
 * and fills it inside its own transaction; better-sqlite3 is synchronous, so two
 * storages sharing a connection never interleave in it.
 */
function stagingTable(t: Tables): string {
  return `temp.${t.peers}_batch`;
}

/** Rows per staging statement, largest first: a batch is staged in as few statements as these sizes allow. */
const CHUNKS = [256, 64, 16, 4, 1] as const;

/** Values per staged peer: type (its code), id, access_hash, phone, min, updated_at, display_name, complete, usernames. */
const STAGE_COLUMNS = 9;
const ROW = `(${Array.from({ length: STAGE_COLUMNS }, () => '?').join(', ')})`;

/**
 * Batches of at least this many peers first read the largest stored id of each type
 * (one statement, three key seeks; storedMax): a peer with a larger id cannot have a
 * row, so it is staged by stageNew, without stage's probe. The probe of a key that
 * is not stored is the costliest part of staging a new peer: its LEFT JOIN resets the
 * cursor on the miss (NullRow), so each miss searches the key from the root, while
 * the plain inserts that follow find their place on the last page. Ids of accounts,
 * groups and channels grow over time, so a cache meeting new peers mostly sees ids
 * above what it stores. Below this size the three seeks could cost more than they save.
 */
const FRESH_CHECK = 16;

/**
 * The parameters of `stage(rows)` (with the session: each peer's STAGE_COLUMNS
 * values, then the session) or of `stageNew(rows)` (without: the peers' values only)
 * for peers[at, at + rows).
 */
function stageValues(peers: readonly Peer[], at: number, rows: number, session: bigint | undefined): unknown[] {
  // Stryker disable next-line ArrayDeclaration,ArithmeticOperator,ConditionalExpression: equivalent where the array is made shorter (or empty): the loop's writes grow it to the same values; only the preallocation is lost
  const values = new Array<unknown>(rows * STAGE_COLUMNS + (session === undefined ? 0 : 1));
  let i = 0;
  for (let k = at; k < at + rows; k++) {
    const p = peers[k] as Peer;
    // Usernames are letters, digits and underscores (validated): the JSON is built by
    // hand, the usual one name without join()'s call.
    const names = p.usernames;
    const usernames = names.length === 0 ? '[]' : names.length === 1 ? `["${names[0] as string}"]` : `["${names.join('","')}"]`;
    values[i++] = PEER_TYPE_CODE[p.type];
    values[i++] = p.id;
    values[i++] = p.accessHash;
    values[i++] = p.phone ?? null;
    values[i++] = bit(p.min);
    values[i++] = p.updatedAt;
    values[i++] = p.displayName ?? null;
    values[i++] = p.complete ?? null;
    values[i++] = usernames;
  }
  if (session !== undefined) values[i] = session;
  return values;
}

/** Stages `peers` with as few statements of `statement(rows)` as CHUNKS allow; returns how many were staged. */
function stageChunks(peers: readonly Peer[], statement: (rows: number) => Statement, session: bigint | undefined): number {
  let staged = 0;
  let at = 0;
  for (const rows of CHUNKS) {
    while (peers.length - at >= rows) {
      // Spread: better-sqlite3 binds arguments directly, an array element by element through the V8 API.
      // Stryker disable next-line AssignmentOperator: equivalent: `-=` makes a non-empty batch negative, still not 0; only the no-op shortcut reads it
      staged += statement(rows).run(...stageValues(peers, at, rows, session)).changes;
      at += rows;
    }
  }
  return staged;
}

export function preparePeers(db: Database.Database, t: Tables) {
  const { read, write } = statements(db);
  // Peer rows are read as arrays (raw): no object with nine named keys per row.
  const rows = (sql: string): Statement => read(sql).raw(true);
  const b = stagingTable(t);
  // Stryker disable next-line MethodExpression,StringLiteral: equivalent: `CREATE TEMP TABLE temp.<name>` (the name left qualified) creates the same TEMP table
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${b.slice('temp.'.length)} (
    type INTEGER NOT NULL, id INTEGER NOT NULL, access_hash INTEGER NOT NULL, phone TEXT, min INTEGER,
    updated_at INTEGER NOT NULL, display_name TEXT, complete BLOB, usernames TEXT NOT NULL,
    stored_usernames TEXT, stored_phone TEXT)`);
  const stages = new Map<number, Statement>();
  const news = new Map<number, Statement>();
  const inserts = new Map<number, Statement>();
  const singles: (Statement | undefined)[] = [];
  return {
    clearBatch: write(`DELETE FROM ${b}`),
    // The largest stored id of each type (NULL: none), at the position of its type code
    // (PEER_TYPE_CODE: 0, 1, 2): each a seek to the end of the type's key range.
    storedMax: rows(`SELECT (SELECT max(id) FROM ${t.peers} WHERE session_id = @session AND type = 0),
      (SELECT max(id) FROM ${t.peers} WHERE session_id = @session AND type = 1),
      (SELECT max(id) FROM ${t.peers} WHERE session_id = @session AND type = 2)`),
    /**
     * The statement that stages `rows` peers known to have no stored row (their ids are
     * above storedMax): their STAGE_COLUMNS values as plain rows, stored_usernames and
     * stored_phone left NULL (no row) — what stage notes for a new peer, without its probe.
     */
    stageNew(rows: number): Statement {
      let statement = news.get(rows);
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: the statement is prepared again on every call, the same statement, slower
      if (statement === undefined) {
        statement = write(`INSERT INTO ${b} (type, id, access_hash, phone, min, updated_at, display_name, complete, usernames)
          VALUES ${Array.from({ length: rows }, () => ROW).join(', ')}`);
        news.set(rows, statement);
      }
      return statement;
    },
    /**
     * The statement that writes the rows of `rows` peers known to have no stored row
     * straight into the peer table, bypassing the staging table: their STAGE_COLUMNS
     * values (stageValues' order), then the session's row id (after the VALUES list,
     * which the WITH clause puts first). A phone another peer holds fails the unique
     * phone index (see upsert).
     */
    insertNew(rows: number): Statement {
      let statement = inserts.get(rows);
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: the statement is prepared again on every call, the same statement, slower
      if (statement === undefined) {
        statement = write(`WITH v AS (VALUES ${Array.from({ length: rows }, () => ROW).join(', ')})
          INSERT INTO ${t.peers} (type, id, access_hash, phone, min, updated_at, display_name, complete, usernames, session_id)
          SELECT v.*, ? FROM v`);
        inserts.set(rows, statement);
      }
      return statement;
    },
    // The index rows of the names of the peers insertNew just wrote: the peers of @type
    // from id @from on (the largest stored id before the batch + 1, or INT64_MIN), read
    // back by key range instead of binding every name again from JS. A name another
    // peer holds fails the primary key (see upsert).
    claimNewKeys: write(`INSERT INTO ${t.usernames} (session_id, username_key, type, id)
      SELECT p.session_id, lower(u.value), p.type, p.id FROM ${t.peers} p CROSS JOIN json_each(p.usernames) u
      WHERE p.session_id = @session AND p.type = @type AND p.id >= @from`),
    /**
     * claimNewKeys for a type none of whose peers in the batch has several names (the
     * usual batch): every row in the range is one the batch just wrote from validated
     * names (letters, digits, '_'), its list spelt `[]` or `["name"]` (stageValues), so the
     * name is the list without its first and last two characters. What the batch's peers
     * of the type have, as the caller saw it, leaves out the rest: `mixed`, a name with an
     * upper-case letter (else no lower()), `empty`, a peer without names (else no test for
     * `[]`). Per name, in callgrind (1,000 rows, claim + delete): json_each ~5.5k, this
     * with both ~5.1k, without either ~4.5k (lower ~360, the `[]` test ~220).
     */
    claimNewSingleKeys(mixed: boolean, empty: boolean): Statement {
      // Stryker disable next-line ArithmeticOperator: equivalent: `-` gives the four statements the slots 0, -1, 2 and 1, still one each
      const at = (mixed ? 2 : 0) + (empty ? 1 : 0);
      let statement = singles[at];
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: the statement is prepared again on every call, the same statement, slower
      if (statement === undefined) {
        const name = 'substr(p.usernames, 3, length(p.usernames) - 4)';
        statement = write(`INSERT INTO ${t.usernames} (session_id, username_key, type, id)
          SELECT p.session_id, ${mixed ? `lower(${name})` : name}, p.type, p.id FROM ${t.peers} p
          WHERE p.session_id = @session AND p.type = @type AND p.id >= @from${empty ? ` AND p.usernames <> '[]'` : ''}`);
        singles[at] = statement;
      }
      return statement;
    },
    /**
     * The statement that stages `rows` peers (prepared on first use per size): their
     * STAGE_COLUMNS values in order as a VALUES list, then the session's row id. Beside
     * each peer it notes what the peer's stored row holds (stored_usernames NULL: no
     * row), with one key probe per peer, and it stages only the peers that are new or
     * would change their row: the statements below see nothing of a peer stored as is,
     * so a re-upsert of what is stored is this probe per peer and nothing else.
     * "Would change" is core's mergePeer against the row: a min peer over a non-min row
     * keeps the row's hash, min and bytes, so only the other columns can change it.
     */
    stage(rows: number): Statement {
      let statement = stages.get(rows);
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: the statement is prepared again on every call, the same statement, slower
      if (statement === undefined) {
        const values = Array.from({ length: rows }, () => ROW).join(', ');
        statement = write(`INSERT INTO ${b} (type, id, access_hash, phone, min, updated_at, display_name, complete, usernames, stored_usernames, stored_phone)
          SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9, p.usernames, p.phone
          FROM (VALUES ${values}) v
          LEFT JOIN ${t.peers} p ON p.session_id = ? AND p.type = v.column1 AND p.id = v.column2
          WHERE p.usernames IS NULL OR p.phone IS NOT v.column4 OR p.updated_at IS NOT v.column6
            OR p.display_name IS NOT v.column7 OR p.usernames IS NOT v.column9
            OR (NOT (coalesce(v.column5, 0) = 1 AND coalesce(p.min, 0) = 0)
              AND (p.access_hash IS NOT v.column3 OR p.min IS NOT v.column5 OR p.complete IS NOT v.column8))`);
        stages.set(rows, statement);
      }
      return statement;
    },
    // Fallback of claimNewUsernames: names of the batch held by a peer outside it (or by
    // another peer of it): their holders lose them. The batch drives (CROSS JOIN keeps that loop
    // order), one index probe per name of a peer whose list changed (an unchanged list
    // is the peer's own already: the index gives each name the one peer listing it).
    movedUsernames: read(`SELECT o.type, o.id, o.username_key FROM ${b} b CROSS JOIN json_each(b.usernames) u
      CROSS JOIN ${t.usernames} o ON o.session_id = @session AND o.username_key = lower(u.value)
      WHERE b.usernames IS NOT b.stored_usernames AND NOT (o.type = b.type AND o.id = b.id)`),
    dropUsername: write(`UPDATE ${t.peers} SET usernames = (SELECT json_group_array(n.value) FROM json_each(${t.peers}.usernames) n WHERE lower(n.value) <> @key)
      WHERE session_id = @session AND type = @type AND id = @id`),
    // Fallback of upsertPeers: phones of the batch held by another peer; no probe
    // for the phone the peer's row holds already (the phone index is unique).
    movedPhones: read(`SELECT p.type, p.id FROM ${b} b
      CROSS JOIN ${t.peers} p ON p.session_id = @session AND p.phone = b.phone
      WHERE b.phone IS NOT NULL AND b.phone IS NOT b.stored_phone AND NOT (p.type = b.type AND p.id = b.id)`),
    releasePhone: write(`UPDATE ${t.peers} SET phone = NULL WHERE session_id = @session AND type = @type AND id = @id`),
    // Index rows of the batch's stored peers for names they no longer have, from the
    // staged copy of the stored list (no second visit to the peer rows).
    dropStaleKeys: write(`DELETE FROM ${t.usernames} WHERE session_id = @session AND username_key IN (
      SELECT lower(o.value) FROM ${b} b CROSS JOIN json_each(b.stored_usernames) o
        WHERE b.stored_usernames <> b.usernames AND lower(o.value) NOT IN (SELECT lower(u.value) FROM json_each(b.usernames) u))`),
    // core's mergePeer, done by the database against the stored row: a min peer never
    // replaces the access hash, the absent/false min flag or the TL bytes of a non-min one.
    // Only peers that are new or change their row are written.
    upsertPeers: write(`INSERT INTO ${t.peers} (session_id, type, id, access_hash, phone, min, updated_at, display_name, complete, usernames)
      SELECT @session, type, id, access_hash, phone, min, updated_at, display_name, complete, usernames FROM ${b} WHERE true
      ON CONFLICT (session_id, type, id) DO UPDATE SET
        access_hash = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.access_hash ELSE excluded.access_hash END,
        complete = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.complete ELSE excluded.complete END,
        min = CASE WHEN excluded.min = 1 AND coalesce(${t.peers}.min, 0) = 0
          THEN ${t.peers}.min ELSE excluded.min END,
        phone = excluded.phone,
        updated_at = excluded.updated_at,
        display_name = excluded.display_name,
        usernames = excluded.usernames`),
    // The usual claim: only the names a peer did not list before (case-insensitively;
    // a name it listed points at it already), as plain inserts. A name held by another
    // peer fails the unique key, which rolls back this statement only, and the batch
    // takes the general path below. So a batch of new names probes the index once per
    // name (the insert itself) instead of looking for holders first.
    claimNewUsernames: write(`INSERT INTO ${t.usernames} (session_id, username_key, type, id)
      SELECT @session, lower(u.value), b.type, b.id FROM ${b} b CROSS JOIN json_each(b.usernames) u
      WHERE b.usernames IS NOT b.stored_usernames
        AND (b.stored_usernames IS NULL OR lower(u.value) NOT IN (SELECT lower(o.value) FROM json_each(b.stored_usernames) o))`),
    // The general claim: takes each name from whichever peer held it; a peer whose list
    // did not change owns its names already, and a row already pointing at its owner is
    // left unwritten.
    claimUsernames: write(`INSERT INTO ${t.usernames} (session_id, username_key, type, id)
      SELECT @session, lower(u.value), b.type, b.id FROM ${b} b CROSS JOIN json_each(b.usernames) u
      WHERE b.usernames IS NOT b.stored_usernames
      ON CONFLICT (session_id, username_key) DO UPDATE SET type = excluded.type, id = excluded.id
        WHERE type IS NOT excluded.type OR id IS NOT excluded.id`),

    // lookups: one statement each, the session resolved by name inside it; by key
    // without the key columns (the caller has them)
    // By key under the session's row id as last resolved (SqlitePeers.getById says why
    // a hit needs no check of the name); a min peer's row without its time (rows.ts
    // PEER_DATA_UNLESS_MIN), which getById then reads whole by name.
    peerById: rows(`SELECT ${PEER_DATA_UNLESS_MIN} FROM ${t.peers} p WHERE p.session_id = ? AND p.type = ? AND p.id = ?`),
    // The same by name, resolving the row id in the same statement (so in one snapshot):
    // no row when the name has none, a row with NULL peer columns when the peer is absent.
    peerByIdNamed: rows(`SELECT ${PEER_DATA}, s.id FROM ${t.sessions} s
      LEFT JOIN ${t.peers} p ON p.session_id = s.id AND p.type = ? AND p.id = ?
      WHERE s.name = ?`),
    // By username under the session's row id as last resolved (a hit is this name's: getById;
    // a min peer's row without its time, read whole by name: peerById).
    peerByUsername: rows(`SELECT ${PEER_COLUMNS_UNLESS_MIN} FROM ${t.usernames} k
      JOIN ${t.peers} p ON p.session_id = k.session_id AND p.type = k.type AND p.id = k.id
      WHERE k.session_id = ? AND k.username_key = ?`),
    // The same by name, as peerByIdNamed: no row when the name has none, NULL peer columns when no peer has the name.
    peerByUsernameNamed: rows(`SELECT ${PEER_COLUMNS}, s.id FROM ${t.sessions} s
      LEFT JOIN ${t.usernames} k ON k.session_id = s.id AND k.username_key = ?
      LEFT JOIN ${t.peers} p ON p.session_id = k.session_id AND p.type = k.type AND p.id = k.id
      WHERE s.name = ?`),
    // By phone under the session's row id as last resolved (as peerByUsername), without
    // the phone: the row's phone is the one bound (rows.ts PEER_BY_PHONE_UNLESS_MIN).
    peerByPhone: rows(`SELECT ${PEER_BY_PHONE_UNLESS_MIN} FROM ${t.peers} p WHERE p.session_id = ? AND p.phone = ?`),
    // The same by name, as peerByIdNamed: no row when the name has none, NULL peer columns when no peer has the phone.
    peerByPhoneNamed: rows(`SELECT ${PEER_COLUMNS}, s.id FROM ${t.sessions} s
      LEFT JOIN ${t.peers} p ON p.session_id = s.id AND p.phone = ?
      WHERE s.name = ?`),
    // Keyset paging in primary-key order: the cursor is the last (type code, id) returned;
    // the codes keep the type names' order, so pages are what they were with names stored.
    page: rows(`SELECT ${PEER_COLUMNS} FROM ${t.peers} p
      WHERE p.session_id = ${sessionOf(t)} AND (p.type, p.id) > (?, ?) ORDER BY p.type, p.id LIMIT ?`),
    clearUsernames: write(`DELETE FROM ${t.usernames} WHERE session_id = ${sessionOf(t)}`),
    clearPeers: write(`DELETE FROM ${t.peers} WHERE session_id = ${sessionOf(t)}`),
  };
}

type PeerStatements = ReturnType<typeof preparePeers>;

interface Prepared {
  sql: PeerStatements;
  upsert: Database.Transaction<(peers: readonly Peer[]) => void>;
  clear: Database.Transaction<() => void>;
}

interface MovedRow {
  /** The stored type code, bound back as it is. */
  type: bigint;
  id: bigint;
  username_key?: string;
}

/**
 * A unique index refused a row: the phone index (upsertPeers, whose primary-key
 * conflicts are its DO UPDATE) or the username key (claimNewUsernames, a WITHOUT ROWID
 * primary key). Anything else is a real failure.
 */
function heldElsewhere(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: another failure then takes the fallback, whose statements fail the same way inside this IMMEDIATE transaction (the lock is held, stored usernames were read by dropStaleKeys before)
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Whether a (validated) username has an upper-case letter: a loop, no lower-cased copy made. */
function hasUpperCase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) return true;
  }
  // Stryker disable next-line BooleanLiteral: equivalent: every name then counts as having a capital, so lower() is applied to names already in lower case, which returns them as they are
  return false;
}

/** How many type codes PEER_TYPE_CODE gives out (0, 1, 2). */
const TYPE_CODES = 3;

/** Position of `s.id` in a peerByIdNamed row (after PEER_DATA). */
const SESSION_ID = 7;
/** Position of `s.id` in a peerByPhoneNamed or peerByUsernameNamed row (after PEER_COLUMNS). */
const NAMED_SESSION_ID = 9;

export class SqlitePeers implements PeerRepository {
  #prepared: Prepared | undefined;

  constructor(
    private readonly scope: SessionScope,
    private readonly label: string,
  ) {}

  #db(): Prepared {
    this.scope.connection.live();
    // Stryker disable next-line ConditionalExpression: equivalent: preparing again on every call gives the same statements (the staging table is CREATE ... IF NOT EXISTS), only slower
    if (this.#prepared !== undefined) return this.#prepared;
    const db = this.scope.db();
    const sql = preparePeers(db, this.scope.tables);
    // Called inside upsert's transaction: better-sqlite3 runs it as a savepoint.
    // `max` is storedMax's row: every peer is above the largest stored id of its type.
    const insertNew = db.transaction((peers: readonly Peer[], session: bigint, max: ReadonlyArray<bigint | null>): void => {
      stageChunks(peers, sql.insertNew, session);
      // Bit (1 << type code) of each type in the batch, and of each type with a peer of
      // several names (claimNewKeys, else claimNewSingleKeys), of no name, of a name with an
      // upper-case letter: integers, not a Set of types.
      let types = 0;
      let listed = 0;
      let empty = 0;
      let mixed = 0;
      for (const p of peers) {
        const bit = 1 << PEER_TYPE_CODE[p.type];
        types |= bit;
        const names = p.usernames;
        // Stryker disable next-line AssignmentOperator: equivalent: `empty` then stays 0, so a peer without names is given the key '[]' (substr of its list): no lookup can ask for it (not a username), and a second one in a batch fails the key, which sends the batch down the general path
        if (names.length === 0) empty |= bit;
        else if (names.length === 1) {
          if (hasUpperCase(names[0] as string)) mixed |= bit;
        } else listed |= bit;
      }
      for (let code = 0; code < TYPE_CODES; code++) {
        const bit = 1 << code;
        if ((types & bit) === 0) continue;
        const largest = max[code] as bigint | null;
        // Stryker disable next-line ArithmeticOperator: equivalent: `largest - 1n` reads back the stored peer with the largest id too, whose names are in the index already: the key refuses them and the batch takes the general path (a stored peer without names gets the key '[]', which no lookup can ask for)
        const params = { session, type: code, from: largest === null ? INT64_MIN : largest + 1n };
        if ((listed & bit) === 0) sql.claimNewSingleKeys((mixed & bit) !== 0, (empty & bit) !== 0).run(params);
        else sql.claimNewKeys.run(params);
      }
    });
    const prepared: Prepared = {
      sql,
      // `peers` is normalized by core: each key, username and phone at most once.
      // Order matters: the batch's stale index rows go first (a name one batch peer
      // drops and another takes is then free), then the rows are written and the names
      // claimed, each with its fallback for phones and names held outside the batch.
      upsert: db.transaction((peers: readonly Peer[]): void => {
        const session = this.scope.id();
        sql.clearBatch.run();
        // The batch goes in as a few multi-row statements (CHUNKS) instead of one call per
        // peer: most of a per-peer call's cost is the call itself, not SQLite's insert.
        let staged: number;
        // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent: either path stages the same rows (stage's probe finds no row for a new peer); only the cost differs
        if (peers.length < FRESH_CHECK) {
          staged = stageChunks(peers, sql.stage, session);
        } else {
          // Peers above the largest stored id of their type are new: staged without a probe.
          // (A new peer sent to `known` instead is only probed for nothing; a stored one
          // sent to `fresh` would lose its stored names' cleanup: peers.test.ts.)
          const max = sql.storedMax.get({ session }) as ReadonlyArray<bigint | null>;
          const fresh: Peer[] = [];
          const known: Peer[] = [];
          for (const p of peers) {
            const largest = max[PEER_TYPE_CODE[p.type]] as bigint | null;
            (largest === null || p.id > largest ? fresh : known).push(p);
          }
          // A batch of new peers only (a cache meeting peers for the first time) is written
          // straight to the tables: nothing stored to merge with or clean up, so no staging.
          // Its phones and names are usually nobody's; one another peer holds fails a
          // unique index, and the savepoint (a nested transaction) undoes the partial
          // write so the batch takes the general path below, which moves them.
          // The three blocks (if, try, catch) emptied are equivalent: the batch then takes the
          // general path below, which writes the same rows, slower; a name or phone held
          // elsewhere is moved there, and another failure fails its statements the same way
          // inside this transaction. (A range: a next-line mark cannot reach the catch block.)
          // Stryker disable BlockStatement: equivalent, see above
          if (known.length === 0) {
            try {
              insertNew(fresh, session, max);
              return;
            } catch (error) {
              // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: another failure then takes the general path below, whose statements fail the same way inside this transaction
              if (!heldElsewhere(error)) throw error;
            }
          }
          // Stryker restore BlockStatement
          staged = stageChunks(fresh, sql.stageNew, undefined) + stageChunks(known, sql.stage, session);
        }
        // Every peer is stored as it is: nothing to write.
        // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: the statements below run over an empty staging table and change nothing, slower
        if (staged === 0) return;
        const params = { session };
        sql.dropStaleKeys.run(params);
        // Phones and names usually belong to nobody else, so the rows are written and the
        // names claimed first; a phone or name another peer holds fails a unique index,
        // which rolls back that one statement (not the transaction), and only then are
        // the holders looked for and stripped, and the statement runs again.
        try {
          sql.upsertPeers.run(params);
        } catch (error) {
          // Stryker disable next-line ConditionalExpression: equivalent where it becomes false, as heldElsewhere → true above
          if (!heldElsewhere(error)) throw error;
          for (const row of sql.movedPhones.all(params) as MovedRow[]) sql.releasePhone.run({ session, type: row.type, id: row.id });
          sql.upsertPeers.run(params);
        }
        try {
          sql.claimNewUsernames.run(params);
        } catch (error) {
          // Stryker disable next-line ConditionalExpression: equivalent where it becomes false, as heldElsewhere → true above
          if (!heldElsewhere(error)) throw error;
          for (const row of sql.movedUsernames.all(params) as MovedRow[]) sql.dropUsername.run({ session, type: row.type, id: row.id, key: row.username_key });
          sql.claimUsernames.run(params);
        }
        sql.clearBatch.run();
      }),
      // Usernames first, explicitly: complete even where foreign_keys is off (a borrowed database).
      clear: db.transaction((): void => {
        sql.clearUsernames.run(this.scope.name);
        sql.clearPeers.run(this.scope.name);
      }),
    };
    // Made inside a transaction of the application's (a borrowed Database), the TEMP staging
    // table goes with its rollback: not kept, so the next call makes it again (kept, every
    // later batch failed 'no such table' for as long as the instance lived).
    // Stryker disable next-line BooleanLiteral,ConditionalExpression: scope: a transaction of the application's on a lent Database (the kit never lends one; open.test.ts "inside a transaction the application has open"); `false` prepares again on every call, the same statements, slower
    if (!db.inTransaction) this.#prepared = prepared;
    return prepared;
  }

  // Synchronous (better-sqlite3 is): core awaits nothing when no promise comes back.
  upsert(peers: readonly Peer[]): void {
    const { upsert } = this.#db();
    try {
      this.scope.write(() => upsert.immediate(peers));
      // Past the page cache's size, reads go through the map (connection.ts MAP_FROM_BYTES).
      // Stryker disable next-line all: the map changes speed only, never a result (open.test.ts "the memory map")
      this.scope.connection.grew(peers.length);
    } catch (error) {
      // json_each over a stored peer's usernames that a hand edited into something else:
      // bad stored data, not an unavailable database (which a caller would retry forever).
      if ((error as { code?: unknown }).code === 'SQLITE_ERROR' && (error as Error).message === 'malformed JSON') {
        throw new CorruptDataError(`${this.label}: stored usernames of a peer are not a JSON array; peers.clear() or delete() removes the damaged peer`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * A hit under the session's row id as last resolved (SessionScope.rowId) is the peer
   * of this name: peer rows of id X exist only while X is the row of this name.
   * Anything else (no id yet, the name deleted and created again under a new id by
   * another instance or process, or the peer absent) goes by name in one statement,
   * which also renews the kept id.
   */
  getById(type: PeerType, id: bigint): Peer | null {
    const { sql } = this.#db();
    const session = this.scope.rowId;
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: equivalent: each only skips the cached row id or probes it as undefined (session_id = NULL finds nothing); the lookup by name below answers, slower
    if (session !== undefined) {
      const row = sql.peerById.get(session, PEER_TYPE_CODE[type], id) as PeerRow | undefined;
      // A hit without its time is a peer whose `min` is stored: read whole by name below.
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: a hit is looked up again by name below, the same row
      if (row !== undefined && row[UPDATED_AT] !== null) return peerFromData(row, type, id, this.label);
    }
    const row = sql.peerByIdNamed.get(PEER_TYPE_CODE[type], id, this.scope.name) as PeerRow | undefined;
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: no row id is kept, so every lookup goes by name (the one above), slower
    this.scope.keep(row === undefined ? undefined : (row[SESSION_ID] as bigint));
    return row === undefined || row[0] === null ? null : peerFromData(row, type, id, this.label);
  }

  /** As getById: by the kept row id first, else by name (which renews it). */
  getByUsername(username: string): Peer | null {
    const { sql } = this.#db();
    return this.#byKey(sql.peerByUsername, sql.peerByUsernameNamed, username, undefined);
  }

  /** As getById: by the kept row id first, else by name (which renews it). */
  getByPhone(phone: string): Peer | null {
    const { sql } = this.#db();
    return this.#byKey(sql.peerByPhone, sql.peerByPhoneNamed, phone, phone);
  }

  /**
   * A lookup by a unique key (lower-cased username, phone): `byId` binds (row id, key),
   * `byName` (key, name) and returns the session's row id at NAMED_SESSION_ID.
   * `phone`: the key is a phone, which `byId`'s row leaves out (peerFromPhoneRow).
   */
  #byKey(byId: Statement, byName: Statement, key: string, phone: string | undefined): Peer | null {
    const session = this.scope.rowId;
    // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: equivalent: each only skips the cached row id or probes it as undefined (session_id = NULL finds nothing); the lookup by name below answers, slower
    if (session !== undefined) {
      const row = byId.get(session, key) as PeerRow | undefined;
      // A hit without its time is a peer whose `min` is stored: read whole by name below.
      // Stryker disable next-line ConditionalExpression: equivalent where it becomes false: a hit is looked up again by name below, the same row
      if (row !== undefined && row[UPDATED_AT] !== null) return phone === undefined ? peerFromRow(row, this.label) : peerFromPhoneRow(row, phone, this.label);
    }
    const row = byName.get(key, this.scope.name) as PeerRow | undefined;
    // Stryker disable next-line ConditionalExpression: equivalent where it becomes true: no row id is kept, so every lookup goes by name (the one above), slower
    this.scope.keep(row === undefined ? undefined : (row[NAMED_SESSION_ID] as bigint));
    return row === undefined || row[0] === null ? null : peerFromRow(row, this.label);
  }

  /** Keyset paging after the (type, id) of the last peer of the previous page. */
  async list(after: PeerPosition | null, limit: number): Promise<PeerListPage> {
    // -1: below every type code (core's cursor parser admits only the three type names).
    const from: [number, bigint] = after === null ? [-1, INT64_MIN] : [PEER_TYPE_CODE[after.type], after.id];
    // One row more than the page tells whether another page follows.
    const rows = this.#db().sql.page.all(this.scope.name, from[0], from[1], limit + 1) as PeerRow[];
    const peers = rows.slice(0, limit).map((row) => peerFromRow(row, this.label));
    const last = peers[peers.length - 1];
    // Stryker disable next-line ConditionalExpression: equivalent where `last !== undefined` becomes true: core checks limit >= 1, so a page with a row more than limit is never empty
    return { peers, next: rows.length > limit && last !== undefined ? { type: last.type, id: last.id } : null };
  }

  async clear(): Promise<void> {
    const { clear } = this.#db();
    this.scope.write(() => clear.immediate());
  }
}
