/**
 * `mtstore check` against real servers removes every scratch namespace it made, for
 * URLs written as storages are named: a MongoDB URL with `?collectionPrefix=` and
 * `?session=` (the driver refuses mtstore's parameters: the cleanup client failed, every
 * namespace stayed, exit 4), and a Redis Cluster (`?cluster=true`: the cleanup scanned the
 * seed node only, so namespaces on the other masters stayed without a word, and its
 * one DEL of a namespace's keys across slots failed with CROSSSLOT). Found by running
 * check against populated stores of every adapter while fuzzing the CLI.
 *
 * The namespaces the run used are recorded through check's `scratch` parameter (the
 * real scratch of the URL, wrapped), then looked for on every node afterwards.
 */
import { checkServer } from '@mtstore/conformance';
import { describe, expect, it } from 'vitest';
import { check } from '../src/index.js';
import { importDriver, scratchFor, type Scratch } from '../src/check.js';
import { captureIo, checkPostgres, MONGODB_URL, POSTGRES_URL } from './helpers.js';

const REDIS_CLUSTER_URL = process.env.REDIS_CLUSTER_URL ?? 'redis://127.0.0.1:7000';

/** The URL's own scratch, recording every namespace the kit asks a URL for. */
function recording(url: string): { scratch: Scratch; namespaces: Set<string> } {
  const real = scratchFor(url);
  const namespaces = new Set<string>();
  return {
    namespaces,
    scratch: {
      url: (ns) => (namespaces.add(ns), real.url(ns)),
      cleanup: (ns) => real.cleanup(ns),
      dispose: () => real.dispose(),
    },
  };
}

type Loose = Record<string, (...args: unknown[]) => Promise<unknown>>;

describe('scratch namespaces of a URL with ?create=false', () => {
  // A URL copied from a reading tool's command line (create=false opens only a store that
  // is there): the kit must still create its fresh namespaces. Kept, every open was
  // NotFoundError and check was exit 6 about schema "mt_check_probe".
  it.each(['postgres://u@127.0.0.1:1/db?create=false', 'redis://127.0.0.1:1?create=false&prefix=tg:', 'mongodb://127.0.0.1:1/db?collectionPrefix=tg_&create=false'])('%s: the scratch URL creates', (url) => {
    expect(new URL(scratchFor(url).url('ns_c')).searchParams.has('create')).toBe(false);
  });
});

const postgres = await checkPostgres();

describe.skipIf(!postgres.available)(`PostgreSQL${postgres.reason ? ` [skipped: ${postgres.reason}]` : ''}`, () => {
  it('a URL with ?create=false: the kit runs in its scratch schemas, each dropped, exit 0', async () => {
    const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}create=false`;
    const { scratch, namespaces } = recording(url);
    await expect(check(url, captureIo(), scratch, { grep: 'round trip' })).resolves.toMatchObject({ failed: 0 });
    expect(namespaces.size).toBeGreaterThan(1);
    const pg = (await importDriver('pg', '@mtstore/postgres')) as { default?: { Client: new (o: object) => Loose }; Client?: new (o: object) => Loose };
    const client = new (pg.default?.Client ?? pg.Client)!({ connectionString: POSTGRES_URL });
    await client.connect!();
    try {
      const { rows } = (await client.query!('select schema_name from information_schema.schemata where schema_name = any($1)', [[...namespaces]])) as { rows: unknown[] };
      expect(rows).toEqual([]);
    } finally {
      await client.end!();
    }
  }, 120_000);
});

const mongo = await checkServer('MongoDB', MONGODB_URL, async () => {
  const { MongoClient } = (await importDriver('mongodb', '@mtstore/mongo')) as { MongoClient: new (url: string, o: object) => Loose };
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.connect!();
  } finally {
    await client.close!();
  }
});

describe.skipIf(!mongo.available)(`MongoDB${mongo.reason ? ` [skipped: ${mongo.reason}]` : ''}`, () => {
  it('a URL with ?collectionPrefix= and ?session=: every scratch collection is dropped, exit 0', async () => {
    const database = `mtcheck${Math.random().toString(36).slice(2, 10)}`;
    const url = `${MONGODB_URL.replace(/\/+$/, '')}/${database}?collectionPrefix=tg_&session=alice`;
    const { scratch, namespaces } = recording(url);
    const { MongoClient } = (await importDriver('mongodb', '@mtstore/mongo')) as { MongoClient: new (url: string) => { db(name: string): { listCollections(): { toArray(): Promise<{ name: string }[]> }; dropDatabase(): Promise<unknown> }; close(): Promise<void> } };
    const admin = new MongoClient(MONGODB_URL);
    try {
      const io = captureIo();
      await expect(check(url, io, scratch, { grep: 'round trip' })).resolves.toMatchObject({ failed: 0 });
      expect(namespaces.size).toBeGreaterThan(1);
      const left = (await admin.db(database).listCollections().toArray()).map((c) => c.name).filter((name) => [...namespaces].some((ns) => name.startsWith(`${ns}_`)));
      expect(left).toEqual([]);
    } finally {
      await admin.db(database).dropDatabase();
      await admin.close();
    }
  }, 120_000);
});

describe.skipIf(!mongo.available)(`MongoDB, no database in the URL${mongo.reason ? ` [skipped: ${mongo.reason}]` : ''}`, () => {
  it("the kit's collections in the adapter's default database are dropped (the cleanup looked in the driver's default, 'test', and found none: exit 0, every collection left)", async () => {
    const url = MONGODB_URL.replace(/\/+$/, '').replace(/\/[^/?]*$/, (path) => (path.includes(':') ? path : ''));
    expect(new URL(url).pathname.replace(/^\//, '')).toBe('');
    const { scratch, namespaces } = recording(url);
    type Db = { listCollections(): { toArray(): Promise<{ name: string }[]> }; collection(name: string): { drop(): Promise<unknown> }; dropDatabase(): Promise<unknown>; admin(): { listDatabases(): Promise<{ databases: { name: string }[] }> } };
    const { MongoClient } = (await importDriver('mongodb', '@mtstore/mongo')) as { MongoClient: new (url: string) => { db(name?: string): Db; close(): Promise<void> } };
    const { DEFAULT_DATABASE } = (await import('@mtstore/mongo')) as { DEFAULT_DATABASE: string };
    const admin = new MongoClient(MONGODB_URL);
    const ours = async () => (await admin.db(DEFAULT_DATABASE).listCollections().toArray()).map((c) => c.name).filter((name) => [...namespaces].some((ns) => name.startsWith(`${ns}_`)));
    const existed = (await admin.db().admin().listDatabases()).databases.some((d) => d.name === DEFAULT_DATABASE);
    try {
      await expect(check(url, captureIo(), scratch, { grep: 'round trip' })).resolves.toMatchObject({ failed: 0 });
      expect(namespaces.size).toBeGreaterThan(1);
      expect(await ours()).toEqual([]);
    } finally {
      for (const name of await ours()) await admin.db(DEFAULT_DATABASE).collection(name).drop(); // what the old code left
      // The database the run made, if it made it and nothing else is in it.
      if (!existed && (await admin.db(DEFAULT_DATABASE).listCollections().toArray()).length === 0) await admin.db(DEFAULT_DATABASE).dropDatabase();
      await admin.close();
    }
  }, 120_000);
});

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, async () => {
  const { Redis } = (await importDriver('ioredis', '@mtstore/redis')) as { Redis: new (url: string, o: object) => Loose & { on(e: string, f: () => void): void; disconnect(): void } };
  const client = new Redis(REDIS_CLUSTER_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    if (!String(await client.cluster!('INFO')).includes('cluster_state:ok')) throw new Error('cluster_state is not ok');
  } finally {
    client.disconnect();
  }
});

describe.skipIf(!cluster.available)(`Redis Cluster${cluster.reason ? ` [skipped: ${cluster.reason}]` : ''}`, () => {
  it('?cluster=true: no key of any scratch namespace is left on any master, exit 0', async () => {
    const url = `${REDIS_CLUSTER_URL}?cluster=true&prefix=tg:`;
    const { scratch, namespaces } = recording(url);
    const { Cluster } = (await importDriver('ioredis', '@mtstore/redis')) as {
      Cluster: new (nodes: object[]) => { nodes(role: string): Loose[]; del(key: string): Promise<number>; quit(): Promise<unknown>; connect(): Promise<void> };
    };
    const seed = new URL(REDIS_CLUSTER_URL);
    const admin = new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }]);
    const leftKeys = async () => {
      const keys: string[] = [];
      for (const node of admin.nodes('master')) {
        for (const ns of namespaces) {
          let cursor = '0';
          do {
            const [next, found] = (await node.scan!(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000)) as [string, string[]];
            cursor = next;
            keys.push(...found);
          } while (cursor !== '0');
        }
      }
      return keys;
    };
    try {
      const io = captureIo();
      let failure: unknown;
      await check(url, io, scratch, { grep: 'round trip' }).catch((error: unknown) => (failure = error));
      expect(namespaces.size).toBeGreaterThan(1);
      await admin.connect().catch(() => {});
      const left = await leftKeys();
      for (const key of left) await admin.del(key); // what the old code left behind
      expect(failure === undefined ? 'exit 0' : String((failure as Error).message)).toBe('exit 0');
      expect(left).toEqual([]);
    } finally {
      await admin.quit();
    }
  }, 120_000);
});
