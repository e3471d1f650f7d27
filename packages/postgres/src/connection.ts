/**
 * The pool behind a PostgresStorage / PostgresSessionStorage: owned (made from a
 * connection string or config, ended on close) or borrowed (the application's pool,
 * never ended), with the schema migrated lazily, once, before the first query.
 */
import { createHash } from 'node:crypto';
import { assertIdentifier, InvalidArgumentError, Once } from '@mtstore/core';
import pg from 'pg';
import type { Pool, PoolConfig, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { migrate, quoteIdentifier } from './schema.js';
import { withTransaction } from './transaction.js';
import { TYPES } from './types.js';

/** How to reach PostgreSQL. Give at most one of `connectionString`, `config` and `pool`. */
export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:5432/database`. mtstore creates a pool and ends it on close. */
  connectionString?: string;
  /** A pg PoolConfig. mtstore creates the pool and ends it on close. */
  config?: PoolConfig;
  /** A pool the application owns: mtstore uses it and never ends it. */
  pool?: Pool;
  /** Schema holding mtstore's tables; created if missing. Default `mtstore`. */
  schema?: string;
}

/**
 * Applied under the caller's config on pools mtstore creates, so nothing waits forever
 * when the server is gone: a connection attempt gives up after 10 s and a query after
 * 30 s (the connection is then discarded). `application_name` shows up in
 * pg_stat_activity.
 */
export const POOL_DEFAULTS: Readonly<PoolConfig> = {
  connectionTimeoutMillis: 10_000,
  query_timeout: 30_000,
  keepAlive: true,
  application_name: 'mtstore',
};

export const DEFAULT_SCHEMA = 'mtstore';

/** A named statement: prepared once per connection, then only bound and executed. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * Names come from the SQL text, so two storages on different schemas sharing one
 * pool never collide, and a name always means the same text on every connection.
 */
export function statement(label: string, text: string): Statement {
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 16);
  return { name: `mtstore_${label}_${hash}`, text };
}

function isPool(value: unknown): value is Pool {
  const p = value as Partial<Pool> | null;
  return typeof p === 'object' && p !== null && typeof p.query === 'function' && typeof p.connect === 'function';
}

export class Database {
  readonly pool: Pool;
  /** True when mtstore created the pool (and ends it on close). */
  readonly ownsPool: boolean;
  readonly schema: string;
  /** The quoted schema, for SQL text. */
  readonly s: string;
  /** Migrates once; a failure is not remembered, the next call tries again. */
  readonly #migration = new Once(() => migrate(this.pool, this.schema));

  constructor(options: PostgresConnectionOptions, where: string) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`${where}: options must be an object`);
    const given = (['connectionString', 'config', 'pool'] as const).filter((k) => options[k] !== undefined);
    if (given.length > 1) throw new InvalidArgumentError(`${where}: give one of connectionString, config or pool, not ${given.join(' and ')}`);
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    assertIdentifier(this.schema, `${where}: schema`);
    this.s = quoteIdentifier(this.schema);
    if (options.pool !== undefined) {
      if (!isPool(options.pool)) throw new InvalidArgumentError(`${where}: pool must be a pg Pool`);
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      if (options.connectionString !== undefined && typeof options.connectionString !== 'string') {
        throw new InvalidArgumentError(`${where}: connectionString must be a string`);
      }
      if (options.config !== undefined && (typeof options.config !== 'object' || options.config === null)) {
        throw new InvalidArgumentError(`${where}: config must be a pg PoolConfig object`);
      }
      const config = options.connectionString !== undefined ? { connectionString: options.connectionString } : options.config;
      this.pool = new pg.Pool({ ...POOL_DEFAULTS, ...config });
      // An idle connection the server closes emits 'error' on the pool; without a
      // listener that would crash the process. The pool drops the connection and the
      // next query opens a fresh one, so there is nothing else to do.
      this.pool.on('error', () => {});
      this.ownsPool = true;
    }
  }

  ready(): Promise<void> {
    return this.#migration.run();
  }

  /** One statement on any pooled connection, with mtstore's type parsers. */
  query<R extends QueryResultRow>(sql: Statement, values: unknown[]): Promise<QueryResult<R>> {
    const config: QueryConfig = { name: sql.name, text: sql.text, values, types: TYPES };
    // Not async: once migrated, the hot paths go straight to pg without an extra promise.
    if (this.#migration.done) return this.pool.query<R>(config);
    return this.ready().then(() => this.pool.query<R>(config));
  }

  /** Runs `work` in a transaction on one connection (see withTransaction). */
  async transaction<T>(work: (query: <R extends QueryResultRow>(sql: Statement, values: unknown[]) => Promise<QueryResult<R>>) => Promise<T>): Promise<T> {
    if (!this.#migration.done) await this.ready();
    return withTransaction(this.pool, (client) => work((sql, values) => client.query({ name: sql.name, text: sql.text, values, types: TYPES })));
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
