/**
 * mysql / mariadb on mysql2: a statement that binds an auth key or a kv value (keys.ts'
 * redacted Buffers) goes to the server as a prepared statement (mysql2's `execute`), not
 * through TypeORM's `query`. mysql2's `query` formats the values into the SQL text on the
 * client — a Buffer as `X'<hex>'` — and puts that text on the error of a statement the
 * server refuses (`error.sql`). TypeORM hands that error to the DataSource's logger
 * (`logging: ['error']` or `true` prints it), to its subscribers' `afterQuery`, and copies
 * it onto its QueryFailedError: the key's hex in the application's logs, whatever keys.ts
 * did to the parameters. A prepared statement's error carries its SQL with `?` only, and
 * the bytes travel as a binary parameter.
 *
 * Everything else is what TypeORM's MysqlQueryRunner.query does (0.3 and 1.x): the
 * runner's connection, logQuery, the BeforeQuery / AfterQuery broadcasts, the per-query
 * timeout of `enableQueryTimeout`, logQuerySlow, logQueryError with a QueryFailedError,
 * and its result. The `mysql` package (mysqljs) has no prepared statements: its
 * statements go through the runner as before.
 */
import { QueryFailedError, type QueryRunner } from 'typeorm';
import { isRedactedParam } from './keys.js';

type Callback = (error: Error | null, raw?: unknown) => void;

/** The part of a mysql2 connection used here. */
interface Mysql2Connection {
  execute(options: { sql: string; values: unknown[]; timeout?: number }, callback: Callback): unknown;
}

/** What TypeORM's broadcaster and driver look like from here (not in QueryRunner's public type). */
interface RunnerInternals {
  broadcaster?: {
    broadcast(event: 'BeforeQuery', query: string, parameters: unknown[]): Promise<void>;
    broadcastAfterQueryEvent(result: unknown, query: string, parameters: unknown[], success: boolean, time?: number, raw?: unknown, error?: unknown): void;
  };
  driver: { options: { enableQueryTimeout?: unknown; maxQueryExecutionTime?: unknown } };
}

/** True when `params` bind an auth key or a kv value. */
export function bindsSecret(params: readonly unknown[] | undefined): boolean {
  return params !== undefined && params.some(isRedactedParam);
}

function isMysql2(connection: unknown): connection is Mysql2Connection {
  return typeof (connection as Partial<Mysql2Connection> | null)?.execute === 'function';
}

/**
 * `runner.query(sql, params, structured)` of a mysql / mariadb runner, as a prepared
 * statement when the connection is mysql2's; `query` (the runner's own) otherwise.
 */
export async function querySecret(runner: QueryRunner, query: (sql: string, params?: unknown[], structured?: boolean) => Promise<unknown>, sql: string, params: unknown[], structured?: boolean): Promise<unknown> {
  const connection: unknown = await runner.connect();
  if (!isMysql2(connection)) return query(sql, params, structured);
  const internals = runner as unknown as RunnerInternals;
  const logger = runner.connection.logger;
  logger.logQuery(sql, params, runner);
  await internals.broadcaster?.broadcast('BeforeQuery', sql, params);
  const { enableQueryTimeout, maxQueryExecutionTime } = internals.driver.options;
  const limit = typeof maxQueryExecutionTime === 'number' && maxQueryExecutionTime > 0 ? maxQueryExecutionTime : undefined;
  const started = Date.now();
  // TypeORM's BroadcasterResult, by its shape (its module path differs between versions).
  const broadcast = {
    count: 0,
    promises: [] as Promise<unknown>[],
    async wait() {
      if (this.promises.length > 0) await Promise.all(this.promises);
      return this;
    },
  };
  try {
    const raw = await new Promise<unknown>((resolve, reject) => {
      const options = enableQueryTimeout === true && limit !== undefined ? { sql, values: params, timeout: limit } : { sql, values: params };
      connection.execute(options, (error, result) => {
        const took = Date.now() - started;
        if (limit !== undefined && took > limit) logger.logQuerySlow(took, sql, params, runner);
        if (error) {
          logger.logQueryError(error, sql, params, runner);
          internals.broadcaster?.broadcastAfterQueryEvent(broadcast, sql, params, false, undefined, undefined, error);
          reject(new QueryFailedError(sql, params, error));
          return;
        }
        internals.broadcaster?.broadcastAfterQueryEvent(broadcast, sql, params, true, took, result, undefined);
        resolve(result);
      });
    });
    if (!structured) return raw;
    const records: unknown[] | undefined = Array.isArray(raw) ? Array.from(raw as unknown[]) : undefined;
    const affected = typeof (raw as { affectedRows?: unknown } | null)?.affectedRows === 'number' ? (raw as { affectedRows: number }).affectedRows : undefined;
    return { raw, records: records ?? [], affected };
  } finally {
    await broadcast.wait();
  }
}
