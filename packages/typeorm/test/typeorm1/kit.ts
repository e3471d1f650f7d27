/**
 * The conformance kit on TypeORM 1.x (the `typeorm-1.x.y` project, vitest.config.ts), for
 * kit.postgres.test.ts and kit.mysql.test.ts. Only the trait groups
 * that go through what 1.x changed under the adapter (its query runners, transactions,
 * QueryFailedError, the drivers' pools, DataSource destroy): the whole kit takes ~5
 * minutes, and the 0.3 run covers it in full on all three drivers (conformance.*.test.ts).
 */
import { describeSessionStorage, describeStorage } from '@mtstore/conformance';
import { checkServer, kitPart, vitestApi } from '@mtstore/conformance/vitest';
import { afterAll, expect, it } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../../src/index.js';
import { corruptKeys, dropKitUser, interruptMysql, interruptPostgres, kitApplicationName, kitUserOptions, type PooledDriver } from '../drivers.js';

/**
 * Storage: save/load (one transaction), saves racing, a damaged row and dropped
 * connections, close with calls in flight. The kit's process traits are left out (worker
 * processes run dist on the workspace's `typeorm`, 0.3), and so are the slower groups
 * (kv, peers, leases…): a run here must stay a few seconds.
 */
const STORAGE_GROUPS = ['round trip', 'atomic save', 'faults', 'close'];
/** SessionStorage: create, has (on postgres straight to the pg pool), destroy, sweep. */
const SESSION_GROUPS = ['lifecycle'];

/** The chosen groups, as the one part of the kit this run registers (@mtstore/conformance's kitPart). */
const CHOSEN = { chosen: [...STORAGE_GROUPS.map((group) => `Storage > ${group}`), ...SESSION_GROUPS.map((group) => `SessionStorage > ${group}`)] };

/** Registers the chosen groups on `db` (postgres or mysql, its stores emptied and reused: `pooled`), if its server is there (CI=true: it must be). */
export async function describeKit(db: PooledDriver): Promise<void> {
  const server = await checkServer(db.name, db.url, () => db.probe());
  if (!server.available) return;
  afterAll(() => db.dispose());
  const options =
    db.name === 'postgres'
      ? async (namespace: string) => ({ ...db.options(namespace), applicationName: kitApplicationName(namespace) })
      : (namespace: string) => kitUserOptions(db, namespace);
  const cleanup = async (namespace: string) => {
    await db.cleanup(namespace);
    if (db.name === 'mysql') await dropKitUser(db, namespace);
  };
  const interrupt = (namespace: string) => (db.name === 'postgres' ? interruptPostgres(db, namespace) : interruptMysql(db, namespace));
  const t = kitPart(vitestApi, CHOSEN, 'chosen');
  describeStorage(t, `typeorm ${process.env.MTSTORE_TYPEORM1_VERSION}/${db.name}`, {
    open: async (namespace, name) => new TypeormStorage({ options: await options(namespace), tablePrefix: db.forOpen(namespace), name }),
    cleanup,
    corrupt: (namespace, name) => corruptKeys(db, namespace, name),
    interrupt,
  });
  describeSessionStorage(t, `typeorm ${process.env.MTSTORE_TYPEORM1_VERSION}/${db.name}`, {
    open: async (namespace) => new TypeormSessionStorage({ options: await options(namespace), tablePrefix: db.forOpen(namespace) }),
    cleanup,
    interrupt,
  });
  // A group the kit renamed or dropped would otherwise vanish from this run unnoticed.
  it(`every chosen trait group is in the kit (${db.name})`, () => {
    expect(t.unmatched()).toEqual([]);
  });
}
