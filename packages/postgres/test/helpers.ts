/**
 * What the postgres tests share: the server URL, a probe for checkServer, and an
 * admin pool that drops test schemas and finds (or terminates) the connections a
 * test opened, by their application_name. Nothing here touches anything else.
 */
import pg from 'pg';
import { afterAll } from 'vitest';

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

/** Terminates the connections with this application_name; returns how many. */
export async function terminate(application: string, state?: string): Promise<number> {
  const pids = await backends(application, state);
  for (const pid of pids) await admin().query('SELECT pg_terminate_backend($1)', [pid]);
  return pids.length;
}

/** Polls until `condition` resolves true (no fixed sleeps); throws naming `what` after `timeout` ms. */
export async function until(condition: () => Promise<boolean> | boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
