/**
 * The conformance kit on PostgreSQL, spread over the conformance*.test.ts files: each
 * registers one part of the kit's trait groups (PARTS; the last file every group no
 * part names), so the package's two vitest workers run them side by side. One file
 * held the whole kit, 277 of the package's 464 s (6 Dec 2026), mostly each test's
 * fresh schema: its DDL and DROP take the server ~0.4 s.
 */
import { fileURLToPath } from 'node:url';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance';
import { checkServer, kitPart, ONE_FIELD_LEFT, vitestApi, type Damage, type OneFieldLeft } from '@mtstore/conformance/vitest';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { admin, applicationName, dropSchema, dumpSchema, gone, probe, terminate, url } from './helpers.js';

/**
 * Trait groups by part, `Suite > group` or a whole suite (`SessionStorage`); a group
 * no part names runs in the rest (conformance.test.ts), so a group the kit adds or
 * renames is never left out. Each took 95-127 s in a run of 6 Dec 2026 on the loaded 2-core box.
 */
export const PARTS = {
  // Lease TTLs, worker processes, 10,000-peer batches.
  slow: ['Storage > session lease', 'Storage > across processes', 'Storage > peers', 'Storage > peers: v2 fields, list and clear', 'Storage > reference messages'],
  server: ['SessionStorage', 'SessionEventBus', 'Storage > invalid input', 'Storage > removing one kind leaves the rest'],
} as const;

const server = await checkServer('postgres', url, probe);

// Each kit namespace is its own schema; each open is a new pool on it, named after the
// namespace so the interrupt hook finds its connections.
const config = (namespace: string) => ({ connectionString: url, max: 5, application_name: `kit-${namespace}` });

/** The kit's corrupt hook: the session's permanent keys cut to 3 bytes. */
async function corrupt(namespace: string, name: string): Promise<void> {
  const { rowCount } = await admin().query(
    `UPDATE "${namespace}".auth_keys SET key = '\\x010203'::bytea WHERE slot = -1 AND session_id = (SELECT id FROM "${namespace}".sessions WHERE name = $1)`,
    [name],
  );
  if (!rowCount) throw new Error(`corrupt: session ${name} has no stored key`);
}

/** Model field → column, for the user-only-* / state-only-* kinds (ONE_FIELD_LEFT). */
const COLUMN: Record<string, string> = { id: 'user_id', dcId: 'user_dc_id', bot: 'user_bot', usernames: 'user_usernames', premium: 'user_premium', pts: 'pts', qts: 'qts', date: 'state_date', seq: 'seq' };
/** Every other column of the user or state set to NULL; the kept one must hold a value, or no row changes. */
function oneFieldLeft(): Partial<Record<Damage, string>> {
  return Object.fromEntries(
    (Object.entries(ONE_FIELD_LEFT) as [Damage, OneFieldLeft][]).map(([damage, { keep, drop }]) => [
      damage,
      `UPDATE %s.sessions SET ${drop.map((field) => `${COLUMN[field]} = NULL`).join(', ')} WHERE name = $1 AND ${COLUMN[keep]} IS NOT NULL`,
    ]),
  );
}
/**
 * The kit's tamper hook, for the kinds typed columns can hold: a boolean, bigint or
 * text[] column cannot hold 2, `x` or text that is no list, so those kinds are left
 * out (listed as skipped). Every edit must hit a row, so a hook that misses fails.
 */
const TAMPER: Partial<Record<Damage, string>> = {
  'user-without-id': 'UPDATE %s.sessions SET user_id = NULL WHERE name = $1',
  'state-without-pts': 'UPDATE %s.sessions SET pts = NULL WHERE name = $1',
  'state-negative-pts': 'UPDATE %s.sessions SET pts = -1 WHERE name = $1',
  ...oneFieldLeft(),
  'dc-id-zero': 'UPDATE %s.dcs SET dc_id = 0 WHERE dc_id = 1 AND session_id = (SELECT id FROM %s.sessions WHERE name = $1)',
  // The version is the highest row of the migrations table.
  'version-newer': 'INSERT INTO %s.migrations (version) SELECT max(version) + 1 FROM %s.migrations WHERE $1::text IS NOT NULL',
  'version-absent': 'DELETE FROM %s.migrations WHERE $1::text IS NOT NULL',
};
async function tamper(namespace: string, name: string, damage: Damage): Promise<void> {
  if (damage === 'marker-absent') {
    await admin().query(`DROP TABLE "${namespace}".migrations`);
    return;
  }
  const sql = TAMPER[damage];
  if (sql === undefined) throw new Error(`tamper: ${damage} is not planted by this hook`);
  const { rowCount } = await admin().query(sql.replaceAll('%s', `"${namespace}"`), [name]);
  if (!rowCount) throw new Error(`tamper: ${damage} changed no row of session ${name}`);
}

/** The kit's interrupt hook: pg_terminate_backend on every connection of the namespace. */
async function interrupt(namespace: string): Promise<void> {
  await gone(await terminate(`kit-${namespace}`));
}
// The kit's worker processes (crash and race traits) open the same schemas through this module.
const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

/** Registers the kit's groups of `part` (a key of PARTS, or 'rest'). */
export function describeKit(part: keyof typeof PARTS | 'rest'): void {
  if (!server.available) return;
  const t = kitPart(vitestApi, PARTS, part);
  describeStorage(t, 'postgres', {
    open: (namespace, name) => new PostgresStorage({ config: config(namespace), schema: namespace, name }),
    openExisting: (namespace, name) => new PostgresStorage({ config: config(namespace), schema: namespace, name, create: false }),
    cleanup: dropSchema,
    processes,
    corrupt,
    interrupt,
    tamper: { kinds: [...Object.keys(TAMPER), 'marker-absent'] as Damage[], apply: tamper },
    encryption: {
      open: (namespace, name, encryption) => new PostgresStorage({ config: config(namespace), schema: namespace, name, encryption }),
      dump: (namespace) => dumpSchema(namespace),
    },
  });

  describeSessionStorage(t, 'postgres', {
    open: (namespace) => new PostgresSessionStorage({ config: config(namespace), schema: namespace }),
    openExisting: (namespace) => new PostgresSessionStorage({ config: config(namespace), schema: namespace, create: false }),
    openWithLifetime: (namespace, lifetime) => new PostgresSessionStorage({ config: config(namespace), schema: namespace, ...lifetime }),
    cleanup: dropSchema,
    processes,
    interrupt,
  });

  // Each bus has its own application_name, so interrupt() terminates that bus's backend only.
  const busNames = new WeakMap<object, string>();
  describeSessionEventBus(t, 'postgres', {
    open: (namespace) => {
      const name = applicationName('bus');
      const bus = new PostgresSessionEventBus({ config: { connectionString: url, application_name: name }, schema: namespace, onError: () => {} });
      busNames.set(bus, name);
      return bus;
    },
    openStorage: (namespace) => new PostgresSessionStorage({ config: config(namespace), schema: namespace }),
    cleanup: dropSchema,
    capabilities: { crossProcess: true },
    interrupt: async (bus) => {
      const pids = await terminate(busNames.get(bus) as string);
      if (pids.length === 0) throw new Error('the bus has no connection to terminate');
      await gone(pids);
    },
  });

  // A part naming a group the kit no longer has would quietly run less: refuse it.
  const unmatched = t.unmatched();
  if (unmatched.length > 0) throw new Error(`test/kit.ts PARTS names trait groups the kit does not have: ${unmatched.join('; ')}`);
}
