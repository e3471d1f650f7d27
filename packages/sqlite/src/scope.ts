/**
 * One session name in one database: what keys.ts, kv.ts, peers.ts and refs.ts share.
 * The name's row in `<prefix>sessions` is created on the first write of anything
 * (without a snapshot, `has_snapshot = 0`), because keys, kv, peers and reference
 * messages belong to the name, not to a saved snapshot.
 *
 * Every write of the name goes through `write` or `writeCreating`, which apply the
 * lease fence (lease.ts) when this instance holds a lease, and add nothing when not.
 */
import type Database from 'better-sqlite3';
import type { Connection } from './connection.js';
import { prepareFence, type Fence } from './lease.js';
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
    if (this.#sql !== undefined) return this.#sql;
    const db = this.db();
    const { value } = statements(db);
    const t = this.tables;
    const sql: NameStatements = {
      id: value(`SELECT id FROM ${t.sessions} WHERE name = ?`),
      // A name-only row: home_dc_id is NOT NULL since version 1 and means nothing here.
      create: value(`INSERT INTO ${t.sessions} (name, version, home_dc_id, has_snapshot) VALUES (?, 1, 0, 0) RETURNING id`),
      retry: db.transaction((write: () => number): void => {
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
    return (sql.id.get(this.name) ?? sql.create.get(this.name)) as bigint;
  }

  /**
   * Runs `write`, a statement that reaches the session by name (`sessionOf`) and
   * returns how many rows it changed. The common case is that one statement, with
   * no transaction around it. When it changed nothing because the name has no row
   * yet, the row is created and the write run again in one IMMEDIATE transaction
   * (so a concurrent `delete()` cannot slip in between).
   */
  writeCreating(write: () => number): void {
    const token = this.token();
    if (token !== undefined) {
      this.#fenced(token, () => this.#statements().retry(write));
      return;
    }
    if (write() > 0) return;
    this.#statements().retry.immediate(write);
  }

  /**
   * Runs `write` (statements or transactions, synchronous): as it is without a lease;
   * under a lease, inside the fence's IMMEDIATE transaction, so it applies only while
   * the stored lease still has this instance's token (else LeaseLostError, nothing written).
   */
  write<T>(write: () => T): T {
    const token = this.token();
    return token === undefined ? write() : this.#fenced(token, write);
  }

  #fenced<T>(token: bigint, write: () => T): T {
    this.#fence ??= prepareFence(this.db(), this.connection.tablePrefix, this.name);
    return this.#fence(token, write);
  }
}
