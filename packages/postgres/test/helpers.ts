/**
 * What the postgres tests share: the server URL, a probe for checkServer, and an
 * admin pool that drops test schemas and finds (or terminates) the connections a
 * test opened, by their application_name. Nothing here touches anything else.
 */
import pg from 'pg';
import { randomNamespace } from '@mtstore/conformance';
import { afterAll, afterEach } from 'vitest';

export const url = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function probe(): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

let adminPool: pg.Pool | undefined;

/** A small pool for test bookkeeping, ended after the file. */
export function admin(): pg.Pool {
  if (!adminPool) {
    adminPool = new pg.Pool({ connectionString: url, max: 2, application_name: 'mtstore-test-admin' });
    adminPool.on('error', () => {});
  }
  return adminPool;
}

afterAll(async () => {
  await adminPool?.end();
  adminPool = undefined;
});

/** Drops a schema this test created (the kit's namespaces and our own `mt_…` names only). */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^mt_[0-9a-z_]+$/.test(schema)) throw new Error(`refusing to drop schema ${schema}`);
  await admin().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/**
 * Every row of every table in a test schema as text (bytea columns as `\\x` hex), for
 * the kit's encryption traits: what a reader of the database or a dump of it sees.
 */
export async function dumpSchema(schema: string): Promise<Uint8Array> {
  if (!/^mt_[0-9a-z_]+$/.test(schema)) throw new Error(`refusing to dump schema ${schema}`);
  const { rows: tables } = await admin().query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
  const parts: string[] = [];
  for (const { table_name } of tables) {
    const { rows } = await admin().query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${table_name.replace(/"/g, '""')}" t`);
    for (const { row } of rows) parts.push(row);
  }
  return Buffer.from(parts.join('\n'));
}

/** A fresh application_name, so a test finds and kills only its own connections. */
export function applicationName(label: string): string {
  return `mtstore-test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Server process ids of the connections with this application_name (and, optionally, in this state). */
export async function backends(application: string, state?: string): Promise<number[]> {
  const { rows } = await admin().query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ($2::text IS NULL OR state = $2) ORDER BY pid',
    [application, state ?? null],
  );
  return rows.map((r) => r.pid);
}

/** Terminates the connections with this application_name; returns their pids. */
export async function terminate(application: string, state?: string): Promise<number[]> {
  const pids = await backends(application, state);
  for (const pid of pids) await admin().query('SELECT pg_terminate_backend($1)', [pid]);
  return pids;
}

/**
 * Waits until none of these server processes is left, then lets pending socket
 * events run: a killed backend's farewell (FATAL 57P01) reached our socket before
 * the process left pg_stat_activity, but the pool only hears of it when node reads
 * that socket, which may come after the admin query's reply in the same I/O turn.
 */
export async function gone(pids: readonly number[]): Promise<void> {
  await until(async () => {
    const { rows } = await admin().query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [pids]);
    return rows.length === 0;
  }, `connections ${pids.join(', ')} to end`);
  await new Promise((resolve) => setImmediate(resolve));
}

/** Polls until `condition` resolves true (no fixed sleeps); throws naming `what` after `timeout` ms. */
export async function until(condition: () => Promise<boolean> | boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const schemas: string[] = [];
type Closable = { close(): Promise<void> } | { end(): Promise<void> };
const opened: Closable[] = [];

/** A fresh schema name for this test, dropped after it. */
export function freshSchema(): string {
  const schema = randomNamespace();
  schemas.push(schema);
  return schema;
}

/** Closed (or, for a pg pool or client, ended) after the test, before its schemas are dropped. */
export function track<T extends Closable>(instance: T): T {
  opened.push(instance);
  return instance;
}

afterEach(async () => {
  for (const instance of opened.splice(0).reverse()) {
    await ('close' in instance ? instance.close() : instance.end()).catch(() => {});
  }
  for (const schema of schemas.splice(0)) await dropSchema(schema);
});

/** Loaded keys are AuthKeyBytes: compare plain bytes, as the kit does. */
export { plainBytes as plain } from '@mtstore/conformance';
