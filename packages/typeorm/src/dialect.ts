/**
 * The few places where the SQL of the three supported databases differs. Every
 * statement the adapter runs is written once with `?` placeholders and turned into
 * the database's form here; identifiers are validated where they come in (table
 * prefix, the DataSource's schema or database: schema.ts) and quoted here, values are
 * always bound parameters.
 */
import { InvalidArgumentError } from '@mtstore/core';

export type DialectName = 'postgres' | 'mysql' | 'sqlite';

/** TypeORM `type` values the adapter is tested on, by dialect. */
const DRIVERS: Readonly<Record<string, DialectName>> = {
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  'better-sqlite3': 'sqlite',
};

export const SUPPORTED_DRIVERS: readonly string[] = Object.keys(DRIVERS);

export function dialectOf(type: unknown, where: string): DialectName {
  const name = typeof type === 'string' ? DRIVERS[type] : undefined;
  if (name === undefined) {
    throw new InvalidArgumentError(`${where}: the DataSource type ${JSON.stringify(type)} is not supported (supported: ${SUPPORTED_DRIVERS.join(', ')})`);
  }
  return name;
}

/** Bound parameters per statement: postgres and mysql cap a statement at 65,535. */
const MAX_PARAMS: Readonly<Record<DialectName, number>> = { postgres: 65_535, mysql: 65_535, sqlite: 32_766 };

export class Dialect {
  /** Bound parameters one statement may carry; sqlite's is read from the library at startup. */
  maxParams: number;

  constructor(readonly name: DialectName) {
    this.maxParams = MAX_PARAMS[name];
  }

  /**
   * An identifier quoted for this database: `"name"` (postgres, sqlite) or `` `name` ``
   * (mysql), as TypeORM's driver `escape` writes it, but with an embedded quote doubled,
   * which `escape` does not do. Names are validated before they get here; this keeps
   * one that was not from ending the identifier.
   */
  quote(identifier: string): string {
    const q = this.name === 'mysql' ? '`' : '"';
    return `${q}${identifier.split(q).join(q + q)}${q}`;
  }

  /** A table name, qualified by schema (postgres) or database (mysql) when the DataSource names one. */
  table(qualifier: string | undefined, name: string): string {
    return qualifier ? `${this.quote(qualifier)}.${this.quote(name)}` : this.quote(name);
  }

  /** Turns `?` placeholders into `$1, $2, …` on postgres. Our SQL has no `?` anywhere else. */
  sql(text: string): string {
    if (this.name !== 'postgres') return text;
    // split and join, not replace with a callback: a third less time on the 2,000-placeholder reads of a peer batch.
    const parts = text.split('?');
    let out = parts[0] as string;
    for (let i = 1; i < parts.length; i++) out += `$${i}${parts[i] as string}`;
    return out;
  }

  /** `(?, ?), (?, ?)`: `rows` rows of `width` placeholders, for multi-row VALUES. */
  rows(rows: number, width: number): string {
    const row = `(${Array(width).fill('?').join(', ')})`;
    return Array(rows).fill(row).join(', ');
  }

  /** `?, ?, ?` for IN lists. */
  list(count: number): string {
    return Array(count).fill('?').join(', ');
  }

  /** A 64-bit column read as its decimal text: exact whatever the driver does with bigints. */
  text(expression: string): string {
    return `CAST(${expression} AS ${this.name === 'mysql' ? 'CHAR' : 'TEXT'})`;
  }

  /**
   * A column of any Unicode text (MySQL `utf8mb4`) read back: on MySQL as its UTF-8 bytes
   * (`textOf` decodes them). The server converts text results to the connection's
   * character set, and an application's DataSource may have another one than UTF-8
   * (`charset: 'latin1'`): a display name outside it came back as `?`s. Bytes are
   * never converted.
   */
  unicode(expression: string): string {
    return this.name === 'mysql' ? `CAST(${expression} AS BINARY)` : expression;
  }

  /** Such text as a parameter: on MySQL its UTF-8 bytes, which the server stores into the utf8mb4 column as they are, whatever the connection's character set. */
  unicodeParam(value: string): string | Buffer {
    return this.name === 'mysql' ? Buffer.from(value, 'utf8') : value;
  }

  /** A boolean column read as 0/1/NULL on every database. */
  flag(expression: string): string {
    return this.name === 'postgres' ? `CAST(${expression} AS INTEGER)` : expression;
  }

  /** A typed NULL for the first branch of a UNION (postgres types its columns from it). */
  nullOf(type: 'text' | 'binary'): string {
    if (this.name === 'sqlite') return 'NULL';
    if (this.name === 'postgres') return type === 'text' ? 'CAST(NULL AS TEXT)' : 'CAST(NULL AS BYTEA)';
    return type === 'text' ? 'CAST(NULL AS CHAR)' : 'CAST(NULL AS BINARY)';
  }

  /** A boolean parameter: better-sqlite3 binds no booleans, mysql stores TINYINT. */
  bool(value: boolean | undefined): boolean | number | null {
    if (value === undefined) return null;
    if (this.name === 'postgres') return value;
    return value ? 1 : 0;
  }

  /** `INSERT … VALUES …` followed by the clause that makes it an upsert on `conflict`. */
  upsert(head: string, values: string, conflict: readonly string[], update: readonly string[]): string {
    if (this.name === 'mysql') {
      return `${head} VALUES ${values} ON DUPLICATE KEY UPDATE ${update.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
    }
    return `${head} VALUES ${values} ON CONFLICT (${conflict.join(', ')}) DO UPDATE SET ${update.map((c) => `${c} = excluded.${c}`).join(', ')}`;
  }

  /** `INSERT` that does nothing (and reports 0 rows) when the key exists. */
  insertIgnore(into: string, values: string): string {
    switch (this.name) {
      case 'mysql':
        return `INSERT IGNORE INTO ${into} VALUES ${values}`;
      case 'sqlite':
        return `INSERT OR IGNORE INTO ${into} VALUES ${values}`;
      default:
        return `INSERT INTO ${into} VALUES ${values} ON CONFLICT DO NOTHING`;
    }
  }

  /** `INSERT … SELECT …` that skips rows whose key exists. */
  insertSelectIgnore(into: string, select: string): string {
    switch (this.name) {
      case 'mysql':
        return `INSERT IGNORE INTO ${into} ${select}`;
      case 'sqlite':
        return `INSERT OR IGNORE INTO ${into} ${select}`;
      default:
        return `INSERT INTO ${into} ${select} ON CONFLICT DO NOTHING`;
    }
  }

  /**
   * One-row insert that, when the row's unique key exists, replaces the row with a new
   * one: its auto-increment column gets a new, higher value. MySQL's REPLACE and
   * sqlite's INSERT OR REPLACE delete and insert; postgres updates `seq` to the default
   * the proposed row drew from its sequence.
   */
  insertRenewing(into: string, columns: readonly string[], conflict: readonly string[], seq: string): string {
    const values = `VALUES (${this.list(columns.length)})`;
    switch (this.name) {
      case 'mysql':
        return `REPLACE INTO ${into} (${columns.join(', ')}) ${values}`;
      case 'sqlite':
        return `INSERT OR REPLACE INTO ${into} (${columns.join(', ')}) ${values}`;
      default:
        return `INSERT INTO ${into} (${columns.join(', ')}) ${values} ON CONFLICT (${conflict.join(', ')}) DO UPDATE SET ${seq} = excluded.${seq}`;
    }
  }

  /** 1 for true, 0 for false or NULL, from a nullable boolean column. */
  bit(expression: string): string {
    return `CASE WHEN ${expression} THEN 1 ELSE 0 END`;
  }

  /** Row lock on a read; sqlite has one writer at a time and no such clause. */
  get forUpdate(): string {
    return this.name === 'sqlite' ? '' : ' FOR UPDATE';
  }

  /**
   * Shared row lock on a read: holders keep writers of the row (a lease acquire) waiting
   * until they commit, and do not block each other. MariaDB has no `FOR SHARE`; MySQL 8
   * still takes `LOCK IN SHARE MODE`. sqlite: see forUpdate.
   */
  get forShare(): string {
    return this.name === 'sqlite' ? '' : this.name === 'mysql' ? ' LOCK IN SHARE MODE' : ' FOR SHARE';
  }

  /** `DELETE … RETURNING` exists on postgres and sqlite (3.35+), not on MySQL. */
  get deleteReturning(): boolean {
    return this.name !== 'mysql';
  }
}
