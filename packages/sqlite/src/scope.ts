/**
 * One session name in one database: what keys.ts, kv.ts, peers.ts and refs.ts share.
 * The name's row in `<prefix>sessions` is created on the first write of anything
 * (without a snapshot, `has_snapshot = 0`), because keys, kv, peers and reference
 * messages belong to the name, not to a saved snapshot.
 *
 * Every write of the name goes through `attempt2`, `change`, `create` (one statement
 * each) or `write` (anything else), which apply the lease fence (lease.ts) when this instance
 * holds a lease, and add nothing when not.
 */
import type Database from 'better-sqlite3';
import { LeaseLostError } from '@mtstore/core';
import type { Connection } from './connection.js';
import { prepareFence, prepareTokenCheck, type Fence, type FencedStatement } from './lease.js';
import type { Tables } from './schema.js';
import { statements, type Statement } from './statements.js';

interface NameStatements {
  id: Statement;
  create: Statement;
  /** Runs a write; if it changed nothing, creates the name's row and runs it again. */
  retry: Database.Transaction<(write: () => number) => void>;
}

export class SessionScope {
  #sql: NameStatements | undefined;
  #fence: Fence | undefined;
  #holds: ((name: string, token: bigint) => boolean) | undefined;
  /**
   * The name's row id as last resolved, or undefined: what the hot paths (peers.getById,
   * getByPhone, authKeys.set's search for a key row id) address the session by, one index fewer than by name.
   * It may be stale — another instance or process deleted the name and created it again
   * under a new id — and that is safe without a check: ids are AUTOINCREMENT (never
   * reused once committed; an id read inside a transaction is not kept: `keep`), a row's name never changes, and deleting a session removes its keys and
   * peers in the same transaction, so rows under id X exist only while X is this name's
   * row. A statement by id that finds a row is right; one that finds nothing goes by
   * name, which renews (or drops) this.
   */
  rowId: bigint | undefined;

  constructor(
    readonly connection: Connection,
    readonly name: string,
    /** The token of the lease this instance holds (BaseStorage.fenceToken), undefined without one. */
    private readonly token: () => bigint | undefined,
  ) {}

  get tables(): Tables {
    return this.connection.tables;
  }

  /** The open, migrated database (opened on first use). */
  db(): Database.Database {
    return this.connection.open();
  }

  #statements(): NameStatements {
    // Stryker disable next-line ConditionalExpression: without the cache the statements are prepared again on every call: slower, the same answers (`true` returns nothing and is killed)
    if (this.#sql !== undefined) return this.#sql;
    const db = this.db();
    const { value } = statements(db);
    const t = this.tables;
    const sql: NameStatements = {
      id: value(`SELECT id FROM ${t.sessions} WHERE name = ?`),
      // A name-only row: home_dc_id is NOT NULL since version 1 and means nothing here.
      create: value(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`),
      retry: db.transaction((write: () => number): void => {
        // Stryker disable next-line ConditionalExpression: without the first try the name's row is found or created and the write runs once: the same rows (`true` never creates the row and is killed)
        if (write() > 0) return;
        this.id();
        write();
      }),
    };
    return (this.#sql = sql);
  }

  /** The name's row id, created when absent. Call inside a write transaction. */
  id(): bigint {
    const sql = this.#statements();
    // Not kept in rowId: the transaction this runs in may roll back, and a rolled-back
    // row's id is given out again (AUTOINCREMENT's counter rolls back with it).
    return (sql.id.get(this.name) ?? sql.create.get(this.name)) as bigint;
  }

  /**
   * The name's row id without creating it: `rowId`, else looked up (and kept); undefined
   * when the name has no row. Only outside a transaction (a committed row).
   */
  knownId(): bigint | undefined {
    if (this.rowId !== undefined) return this.rowId;
    const id = this.#statements().id.get(this.name) as bigint | undefined;
    this.keep(id);
    return id;
  }

  /**
   * Keeps `id` (the name's row id as a statement by name just read it, undefined: none) as
   * rowId — unless it was read inside a transaction (the application's, on a borrowed
   * database): the row may be one that transaction created, and after a rollback its id
   * is given out again (AUTOINCREMENT's counter rolls back with it), maybe to another
   * name, whose rows a lookup by the kept id would then read.
   */
  keep(id: bigint | undefined): void {
    this.rowId = id !== undefined && this.db().inTransaction ? undefined : id;
  }

  /**
   * Runs `statement`, an insert or upsert that reaches the session by name
   * (`sessionOf`), with `params`. The common case is that one statement, with no
   * transaction around it, under a lease too (the fence is in the statement). When
   * it changed nothing — the name has no row yet, or under a lease the stored token
   * is another — the IMMEDIATE transaction decides: the fence's check (LeaseLostError
   * when refused), then the name's row is created and the statement run again (so a
   * concurrent `delete()` cannot slip in between).
   */
  create(statement: FencedStatement, ...params: unknown[]): void {
    const token = this.token();
    // Stryker disable next-line ConditionalExpression: without the one-statement try every create runs in the IMMEDIATE transaction (under a lease after the token check), which makes the same write: slower, the same result (`true` writes nothing and is killed)
    if (statement.run(token, this.name, params) > 0) return;
    const { retry } = this.#statements();
    const again = (): number => statement.run(token, this.name, params);
    if (token === undefined) retry.immediate(again);
    else this.#fenced(token, () => retry(again));
  }

  /**
   * Runs `statement` (an update of a row that may exist, fenced under a lease by a token
   * in the row: it binds no name) once with the two bound values `a`, `b` (no rest array:
   * FencedStatement.run2) and tells whether it changed a row. False says nothing about why
   * (no such row, or the fence refused): the caller goes on to its write inside the fence
   * (keys.ts `#write`), which tells those apart.
   */
  attempt2(statement: FencedStatement, a: unknown, b: unknown): boolean {
    return statement.run2(this.token(), a, b) > 0;
  }

  /**
   * Runs `statement`, an update or delete that reaches the session by name, with
   * `params`: one statement, under a lease too. When a fenced one changed nothing,
   * the lease row tells whether the fence refused it (LeaseLostError) or there was
   * nothing to change (lease.ts `prepareTokenCheck`). A takeover between the two
   * reports the loss for a write that found nothing to change: nothing was written
   * either way, and the lease is lost.
   */
  change(statement: FencedStatement, ...params: unknown[]): void {
    const token = this.token();
    if (statement.run(token, this.name, params) > 0 || token === undefined) return;
    this.#holds ??= prepareTokenCheck(this.db(), this.tables);
    // Stryker disable next-line StringLiteral: never seen: core answers an adapter's LeaseLostError with its own (BaseStorage, `refused(operation)`)
    if (!this.#holds(this.name, token)) throw new LeaseLostError('fence');
  }

  /**
   * Runs `write` (several statements or transactions, synchronous): as it is without a lease;
   * under a lease, inside the fence's IMMEDIATE transaction, so it applies only while
   * the stored lease still has this instance's token (else LeaseLostError, nothing written).
   * `write` is given that token (undefined without a lease): inside the fence it is the
   * stored one, which a write of key rows records as their lease_token (lease.ts).
   */
  write<T>(write: (token: bigint | undefined) => T): T {
    const token = this.token();
    return token === undefined ? write(undefined) : this.#fenced(token, () => write(token));
  }

  #fenced<T>(token: bigint, write: () => T): T {
    this.#fence ??= prepareFence(this.db(), this.tables, this.name);
    return this.#fence(token, write);
  }
}
