/**
 * The three databases the adapter is tested on, as the tests need them: DataSource
 * options for a fresh connection on a namespace's tables, a probe for checkServer,
 * and cleanup. Namespaces are table prefixes in the shared `test` databases
 * (postgres, MariaDB) and one file each for sqlite.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { expect } from 'vitest';
import { ONE_FIELD_LEFT, type Damage, type OneFieldLeft } from '@mtstore/conformance';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { holdWriteLock } from '../../test-adapters/src/sqlite-lock.js';
import { SCHEMA_VERSION } from '../src/index.js';

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Every table of a prefix, for cleanup. */
export const TABLES = ['schema_version', 'sessions', 'datacenters', 'auth_keys', 'temp_auth_keys', 'channels', 'peers', 'peer_usernames', 'kv', 'ref_messages', 'server_sessions', 'leases'];

export interface TestDriver {
  readonly name: 'postgres' | 'mysql' | 'sqlite';
  /** For checkServer messages. */
  readonly url: string;
  /** Options of a new DataSource (its own connection) on `namespace`'s data. */
  options(namespace: string): DataSourceOptions;
  /** The table prefix of `namespace`. */
  prefix(namespace: string): string | undefined;
  probe(): Promise<void>;
  /** Drops what `namespace` created. */
  cleanup(namespace: string): Promise<void>;
  /** A DataSource the test owns (closed by `dispose`), for direct inspection. */
  admin(): Promise<DataSource>;
  dispose(): Promise<void>;
  /** sqlite: the directory of the database files. */
  directory?(): string;
}

async function ping(options: DataSourceOptions): Promise<void> {
  const dataSource = new DataSource(options);
  await dataSource.initialize();
  try {
    await dataSource.query('SELECT 1');
  } finally {
    await dataSource.destroy();
  }
}

function server(name: 'postgres' | 'mysql', url: string): TestDriver {
  // Connections from these tests are recognizable on the shared server (postgres).
  const base: DataSourceOptions =
    name === 'postgres'
      ? { type: 'postgres', url, applicationName: 'mtstore-typeorm-test', poolSize: 4, connectTimeoutMS: 3000 }
      : { type: 'mariadb', url, poolSize: 4, connectTimeout: 3000 };
  let admin: Promise<DataSource> | undefined;
  const driver: TestDriver = {
    name,
    url,
    options: () => ({ ...base }),
    prefix: (namespace) => `${namespace}_`,
    probe: () => ping(base),
    admin: () => (admin ??= new DataSource(base).initialize()),
    async cleanup(namespace) {
      const dataSource = await driver.admin();
      await dropTables(dataSource, `${namespace}_`);
    },
    async dispose() {
      const dataSource = await admin;
      admin = undefined;
      await dataSource?.destroy();
    },
  };
  return driver;
}

async function dropTables(dataSource: DataSource, prefix: string): Promise<void> {
  const q = (s: string) => dataSource.driver.escape(s);
  await dataSource.query(`DROP TABLE IF EXISTS ${TABLES.map((t) => q(`${prefix}${t}`)).join(', ')}`);
}

export const postgres = (): TestDriver => server('postgres', POSTGRES_URL);
export const mysql = (): TestDriver => server('mysql', MYSQL_URL);

/**
 * The kit's `processes` option for `driver`: worker processes open the adapter through
 * test/processes/open.mjs, told the driver (and sqlite's directory) by the environment.
 */
export function processesFor(driver: TestDriver): { module: string } {
  process.env.MTSTORE_TYPEORM_DRIVER = driver.name;
  if (driver.name === 'sqlite') process.env.MTSTORE_TYPEORM_SQLITE_DIR = driver.directory?.();
  return { module: fileURLToPath(new URL('./processes/open.mjs', import.meta.url)) };
}

/** One database file per namespace in a directory of this test run. */
export function sqlite(): TestDriver {
  let dir: string | undefined;
  const directory = () => (dir ??= mkdtempSync(join(tmpdir(), 'mtstore-typeorm-')));
  const file = (namespace: string) => join(directory(), `${namespace}.db`);
  const admins: DataSource[] = [];
  return {
    name: 'sqlite',
    url: 'better-sqlite3',
    directory,
    options: (namespace) => ({ type: 'better-sqlite3', database: file(namespace), enableWAL: true }),
    prefix: () => undefined,
    probe: () => ping({ type: 'better-sqlite3', database: ':memory:' }),
    async admin() {
      const dataSource = await new DataSource({ type: 'better-sqlite3', database: ':memory:' }).initialize();
      admins.push(dataSource);
      return dataSource;
    },
    async cleanup(namespace) {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file(namespace)}${suffix}`, { force: true });
    },
    async dispose() {
      for (const dataSource of admins.splice(0)) await dataSource.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

/** The drivers whose server answers (with CI=true a missing server fails the file instead). */
export async function availableDrivers(): Promise<TestDriver[]> {
  const { checkServer } = await import('@mtstore/conformance/vitest');
  const available: TestDriver[] = [];
  // MTSTORE_TYPEORM_TEST_DRIVERS (e.g. `postgres,mysql`) narrows the drivers: the
  // TypeORM 1.x project (vitest.config.ts) runs its files on the two servers only.
  const only = process.env.MTSTORE_TYPEORM_TEST_DRIVERS?.split(',');
  for (const driver of [sqlite(), postgres(), mysql()]) {
    if (only !== undefined && !only.includes(driver.name)) continue;
    if ((await checkServer(driver.name, driver.url, () => driver.probe())).available) available.push(driver);
  }
  return available;
}

/** The ways key bytes show up in text: hex, base64, decimal lists. */
export function keyForms(key: Uint8Array): string[] {
  const head = Array.from(key.subarray(0, 12));
  return [
    Buffer.from(key.subarray(0, 12)).toString('hex'),
    Buffer.from(key.subarray(0, 24)).toString('base64').slice(0, 24),
    head.join(','),
    head.join(', '),
    Buffer.from(key.subarray(0, 12)).toString('utf8'),
  ];
}

/** Loaded keys are AuthKeyBytes: compare plain bytes, as the kit does. */
export { plainBytes as plain } from '@mtstore/conformance';

/**
 * Every byte stored for `namespace`, for the kit's encryption traits: sqlite's database
 * file and WAL; on a server, every row of every table of the prefix, binary columns as
 * the bytes the driver returns and everything else as text.
 */
export async function dumpNamespace(driver: TestDriver, namespace: string): Promise<Uint8Array> {
  if (driver.name === 'sqlite') {
    const file = join(driver.directory?.() ?? '', `${namespace}.db`);
    return Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
  }
  const dataSource = await driver.admin();
  const parts: Buffer[] = [];
  for (const table of TABLES) {
    let rows: Record<string, unknown>[];
    try {
      rows = await dataSource.query(`SELECT * FROM ${dataSource.driver.escape(`${driver.prefix(namespace)}${table}`)}`);
    } catch {
      continue; // a table this namespace never created
    }
    for (const row of rows) for (const value of Object.values(row)) parts.push(value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value)));
  }
  return Buffer.concat(parts);
}

/**
 * The kit's corrupt hook: the session's permanent keys cut to 3 bytes by a side
 * connection (sqlite: the namespace's file), so that `load` cannot decode them.
 */
export async function corruptKeys(driver: TestDriver, namespace: string, name: string): Promise<void> {
  const sql = (table: string) => `UPDATE ${table} SET auth_key = ${driver.name === 'postgres' ? "'\\x010203'::bytea" : "X'010203'"} WHERE session_name = ${driver.name === 'postgres' ? '$1' : '?'} AND slot = -1`;
  let changed: number;
  if (driver.name === 'sqlite') {
    const db = new Database(join(driver.directory?.() ?? '', `${namespace}.db`));
    try {
      changed = db.prepare(sql('mtstore_auth_keys')).run(name).changes;
    } finally {
      db.close();
    }
  } else {
    const dataSource = await driver.admin();
    const runner = dataSource.createQueryRunner();
    try {
      const result = (await runner.query(sql(dataSource.driver.escape(`${driver.prefix(namespace)}auth_keys`)), [name], true)) as { affected?: number };
      changed = result.affected ?? 0;
    } finally {
      await runner.release();
    }
  }
  if (changed === 0) throw new Error(`corrupt: session ${name} has no stored key`);
}

/** Model field → column, for the user-only-* / state-only-* kinds (ONE_FIELD_LEFT). */
const COLUMN: Record<string, string> = { id: 'user_id', dcId: 'user_dc_id', bot: 'user_bot', usernames: 'user_usernames', premium: 'user_premium', pts: 'state_pts', qts: 'state_qts', date: 'state_date', seq: 'state_seq' };
/** Every other column of the user or state set to NULL; the kept one must hold a value, or no row changes. */
function oneFieldLeft(): Partial<Record<Damage, string>> {
  return Object.fromEntries(
    (Object.entries(ONE_FIELD_LEFT) as [Damage, OneFieldLeft][]).map(([damage, { keep, drop }]) => [
      damage,
      `UPDATE %t(sessions) SET ${drop.map((field) => `${COLUMN[field]} = NULL`).join(', ')} WHERE session_name = %n AND ${COLUMN[keep]} IS NOT NULL`,
    ]),
  );
}
/**
 * The kit's tamper hook (the kinds every driver's typed columns can hold): one
 * UPDATE / DELETE / DROP per kind over an admin connection. `%t` is the prefixed table,
 * `%n` the session name's placeholder. Every edit must hit a row. Left out (listed as
 * skipped): the kinds typed columns cannot hold, and version-absent / marker-absent: a
 * prefix whose version row or table is gone is taken as version 0 and migrated again
 * (its steps create what is missing), where the other SQL adapters refuse it.
 */
export const TAMPER_SQL: Partial<Record<Damage, string>> = {
  'user-without-id': 'UPDATE %t(sessions) SET user_id = NULL WHERE session_name = %n',
  'state-without-pts': 'UPDATE %t(sessions) SET state_pts = NULL WHERE session_name = %n',
  'state-negative-pts': 'UPDATE %t(sessions) SET state_pts = -1 WHERE session_name = %n',
  'dc-id-zero': 'UPDATE %t(datacenters) SET dc_id = 0 WHERE dc_id = 1 AND session_name = %n',
  ...oneFieldLeft(),
  'version-newer': 'UPDATE %t(schema_version) SET version = version + 1 WHERE id = 1',
};

export async function tamperRows(driver: TestDriver, namespace: string, name: string, damage: Damage): Promise<void> {
  const template = TAMPER_SQL[damage];
  if (template === undefined) throw new Error(`tamper: ${damage} is not planted by this hook`);
  const named = template.includes('%n');
  const placeholder = driver.name === 'postgres' ? '$1' : '?';
  let changed: number;
  if (driver.name === 'sqlite') {
    const db = new Database(join(driver.directory?.() ?? '', `${namespace}.db`));
    try {
      const statement = db.prepare(template.replace(/%t\((\w+)\)/g, 'mtstore_$1').replace('%n', placeholder));
      changed = (named ? statement.run(name) : statement.run()).changes;
    } finally {
      db.close();
    }
  } else {
    const dataSource = await driver.admin();
    const sql = template.replace(/%t\((\w+)\)/g, (_m, table: string) => dataSource.driver.escape(`${driver.prefix(namespace)}${table}`)).replace('%n', placeholder);
    const runner = dataSource.createQueryRunner();
    try {
      const result = (await runner.query(sql, named ? [name] : [], true)) as { affected?: number };
      changed = result.affected ?? 0;
    } finally {
      await runner.release();
    }
  }
  if (changed === 0) throw new Error(`tamper: ${damage} changed no row of session ${name}`);
}

/** The application_name of a postgres kit namespace's connections, for interruptPostgres. */
export const kitApplicationName = (namespace: string): string => `mtstore-typeorm-kit-${namespace}`.slice(0, 63);

/** The kit's interrupt hook on postgres: pg_terminate_backend on every connection of the namespace, then waits until they are gone. */
export async function interruptPostgres(driver: TestDriver, namespace: string): Promise<void> {
  const dataSource = await driver.admin();
  const name = kitApplicationName(namespace);
  const killed = (await dataSource.query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [name])) as unknown[];
  // The kit opens an instance and calls it before interrupting: a namespace without connections is a broken hook.
  if (killed.length === 0) throw new Error(`interrupt: no connection of ${namespace} to terminate`);
  for (let i = 0; i < 100; i++) {
    const rows = (await dataSource.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [name])) as { n: string }[];
    if (Number(rows[0]?.n) === 0) return;
    await new Promise((done) => setTimeout(done, 20));
  }
}

/**
 * The kit's interrupt hook on sqlite. There is no server connection to drop: the file
 * becomes unavailable while another process holds its lock. Another thread takes an
 * exclusive lock and lets go 300 ms later (holdWriteLock says why not this one);
 * statements meanwhile wait (busy timeout), and the next ones go through.
 */
export function interruptSqlite(driver: TestDriver, namespace: string): Promise<void> {
  return holdWriteLock(join(driver.directory?.() ?? '', `${namespace}.db`), 300);
}

/**
 * MariaDB / MySQL: the login a kit namespace's connections use, so interruptMysql can
 * pick them out. Every other test connection is root on the shared `test` database,
 * and MariaDB's process list shows no application name (connection attributes need
 * performance_schema, off by default), so each namespace gets a user of its own,
 * created on first use with the privileges of the URL's database and dropped by
 * `dropKitUser`. Worker processes (test/processes/open.mjs) still log in as root: no
 * trait interrupts them.
 */
export function kitUser(namespace: string): string {
  return `kit_${namespace}`;
}

const kitUsers = new Map<string, Promise<DataSourceOptions>>();

/** `driver.options(namespace)` logged in as the namespace's own user, created on first call. */
export function kitUserOptions(driver: TestDriver, namespace: string): Promise<DataSourceOptions> {
  let options = kitUsers.get(namespace);
  if (options === undefined) {
    options = createKitUser(driver, namespace);
    kitUsers.set(namespace, options);
    options.catch(() => kitUsers.delete(namespace));
  }
  return options;
}

async function createKitUser(driver: TestDriver, namespace: string): Promise<DataSourceOptions> {
  const url = new URL(driver.url);
  const database = decodeURIComponent(url.pathname.slice(1));
  const user = kitUser(namespace);
  const password = randomBytes(12).toString('hex');
  const admin = await driver.admin();
  await admin.query(`CREATE USER ${quoteAccount(user)}@'%' IDENTIFIED BY '${password}'`);
  await admin.query(`GRANT ALL PRIVILEGES ON ${admin.driver.escape(database)}.* TO ${quoteAccount(user)}@'%'`);
  url.username = user;
  url.password = password;
  return { ...driver.options(namespace), url: url.href } as DataSourceOptions;
}

/** Namespaces are `mt_` and hex (the kit's randomNamespace): safe inside quotes. */
function quoteAccount(user: string): string {
  if (!/^\w+$/.test(user)) throw new Error(`unexpected kit user name ${user}`);
  return `'${user}'`;
}

/** Drops the namespace's user, if kitUserOptions created one. */
export async function dropKitUser(driver: TestDriver, namespace: string): Promise<void> {
  const created = kitUsers.get(namespace);
  if (created === undefined) return;
  kitUsers.delete(namespace);
  await created.catch(() => {});
  await (await driver.admin()).query(`DROP USER IF EXISTS ${quoteAccount(kitUser(namespace))}@'%'`);
}

/**
 * The kit's interrupt hook on MariaDB: `KILL CONNECTION` on every connection of the
 * namespace's user (in flight or idle in a pool), then waits until they are gone.
 */
export async function interruptMysql(driver: TestDriver, namespace: string): Promise<void> {
  const admin = await driver.admin();
  const user = kitUser(namespace);
  const ids = (await admin.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [user])) as { id: number | string }[];
  // The kit opens an instance and calls it before interrupting: a namespace without connections is a broken hook.
  if (ids.length === 0) throw new Error(`interrupt: no connection of ${namespace} to kill`);
  for (const { id } of ids) {
    try {
      await admin.query(`KILL CONNECTION ${Number(id)}`);
    } catch (error) {
      // ER_NO_SUCH_THREAD: it closed between the list and the kill.
      if ((error as { driverError?: { code?: string } }).driverError?.code !== 'ER_NO_SUCH_THREAD') throw error;
    }
  }
  // Until the server has closed them (new connections the pool opens meanwhile stay).
  const killed = ids.map(({ id }) => Number(id));
  for (let i = 0; i < 100; i++) {
    const rows = (await admin.query(`SELECT count(*) AS n FROM information_schema.PROCESSLIST WHERE ID IN (${killed.join(', ')})`)) as { n: number | string }[];
    if (Number(rows[0]?.n) === 0) return;
    await new Promise((done) => setTimeout(done, 20));
  }
}

/**
 * The traits that see a store come into being, by the kit's test names: `create: false`
 * (a namespace nothing was written to), and the worker-process traits (workers open
 * `<namespace>_` themselves, the first-writes one on an empty backend).
 */
const CREATION_TRAITS = [' > create: false > ', 'across processes > ', 'worker processes racing for one lease', 'SIGKILLed holder'];

function traitCreatesStore(): boolean {
  const name = expect.getState().currentTestName ?? '';
  return CREATION_TRAITS.some((part) => name.includes(part));
}

/** A server driver whose kit namespaces may get an emptied store (see `pooled`). */
export interface PooledDriver extends TestDriver {
  /** The prefix of a `create: true` open of `namespace`. */
  forOpen(namespace: string): string;
  /** The prefix of a `create: false` open of `namespace`. */
  forExisting(namespace: string): string;
}

/** Every table of the current schema version but the lease table (which lease.ts creates on first use). */
const CURRENT_TABLES = TABLES.filter((table) => table !== 'temp_auth_keys' && table !== 'leases');

/**
 * The kit on a server, with the store a test leaves behind emptied and handed to a later
 * test instead of created and dropped each time: a new store's tables (with their
 * indexes) and their DROP cost the server ~50 ms of CPU per test on MariaDB and ~65 ms
 * on postgres (and us ~25 ms), in kits of ~300 tests. A namespace's first
 * `create: true` open takes such a store: its tables at the current version, every
 * row deleted, the version row kept, the lease table kept if a test made it (an open
 * makes it when a lease is first used, and finds it there the same way). A namespace
 * opened first with `create: false`, or by a trait that sees the store come into being
 * (CREATION_TRAITS), gets its own prefix as before. After the test (cleanup) a store
 * whose tables and version are as an open leaves them is emptied and kept; any other (a
 * tampered version, a table gone) is dropped. The hooks (corrupt, tamper, dump) find the
 * tables through `prefix`.
 */
export function pooled(driver: TestDriver): PooledDriver {
  if (driver.name === 'sqlite') throw new Error('pooled: the server drivers only');
  const given = new Map<string, string>();
  const free: string[] = [];
  const own = (namespace: string) => `${namespace}_`;
  const give = (namespace: string, choose: () => string) => {
    let prefix = given.get(namespace);
    if (prefix === undefined) given.set(namespace, (prefix = choose()));
    return prefix;
  };

  /** True, with every row but the version deleted, when `prefix` holds the current schema as an open leaves it. */
  async function emptied(prefix: string): Promise<boolean> {
    const admin = await driver.admin();
    const names = TABLES.map((table) => `${prefix}${table}`);
    const listed = (await admin.query(
      driver.name === 'postgres'
        ? 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY($1)'
        : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN (${names.map(() => '?').join(', ')})`,
      driver.name === 'postgres' ? [names] : names,
    )) as { name: string }[];
    const present = new Set(listed.map((row) => row.name.slice(prefix.length)));
    if (!CURRENT_TABLES.every((table) => present.has(table)) || present.has('temp_auth_keys')) return false;
    const q = (table: string) => admin.driver.escape(`${prefix}${table}`);
    const versions = (await admin.query(`SELECT id, version FROM ${q('schema_version')}`)) as { id: unknown; version: unknown }[];
    if (versions.length !== 1 || Number(versions[0]?.id) !== 1 || Number(versions[0]?.version) !== SCHEMA_VERSION) return false;
    const deletes = [...present].filter((table) => table !== 'schema_version').map((table) => `DELETE FROM ${q(table)}`);
    // postgres: all in one round trip (a query without parameters goes by pg's simple
    // protocol, which takes several statements): ~1 ms instead of ~10 ms a test, each
    // statement on its own being a pool checkout and a round trip. mysql2 takes one
    // statement a query (no multipleStatements), and its DELETEs cost ~2 ms together.
    if (driver.name === 'postgres') await admin.query(deletes.join('; '));
    else for (const sql of deletes) await admin.query(sql);
    return true;
  }

  return {
    ...driver,
    prefix: (namespace) => given.get(namespace) ?? own(namespace),
    forOpen: (namespace) => give(namespace, () => (traitCreatesStore() ? undefined : free.pop()) ?? own(namespace)),
    forExisting: (namespace) => give(namespace, () => own(namespace)),
    async cleanup(namespace) {
      const prefix = given.get(namespace) ?? own(namespace);
      given.delete(namespace);
      if (await emptied(prefix)) free.push(prefix);
      else await dropTables(await driver.admin(), prefix);
    },
    async dispose() {
      const admin = await driver.admin();
      for (const prefix of free.splice(0)) await dropTables(admin, prefix);
      await driver.dispose();
    },
  };
}
