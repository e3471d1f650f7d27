/**
 * The test server: MONGODB_URL (default FerretDB on 127.0.0.1:27017). Every test
 * works in databases it creates (kit namespaces are `mt_…`) and drops only those.
 */
import { MongoClient } from 'mongodb';
import { afterAll, afterEach } from 'vitest';
import { checkServer, randomNamespace } from '@mtstore/conformance/vitest';
import { MongoStorage } from '../src/index.js';

export const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

/** `MONGODB_URL` with another database in its path and extra query options. */
export function urlFor(database: string, query = ''): string {
  const url = new URL(MONGODB_URL);
  url.pathname = `/${database}`;
  for (const [key, value] of new URLSearchParams(query)) url.searchParams.set(key, value);
  return url.href;
}

/**
 * One client for setup and cleanup, opened on first use and closed after each test file
 * (closeAdmin). Files share this module (vitest.config.ts: isolate false), so the next
 * file opens a new one: a closed MongoClient does not reconnect.
 */
let admin: MongoClient | undefined;
export function adminClient(): MongoClient {
  admin ??= new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5_000 });
  return admin;
}

/**
 * Every database this worker's test files dropped. A process a test SIGKILLs mid-write
 * can have a command on its way that FerretDB runs after the test's cleanup dropped the
 * database, and FerretDB makes a database for any update, matching or not: the kit's
 * 'a writer SIGKILLed mid-saveUpdateState' worker (conformance-processes.test.ts) loops
 * saveUpdateState, an updateOne of mtstore_sessions without upsert, so its last one
 * landing late left an `mt_…` database holding an empty mtstore_sessions (found once
 * after a CI run). closeAdmin, after each file, drops again any of them that is back.
 */
const dropped = new Set<string>();

export async function closeAdmin(): Promise<void> {
  const client = admin;
  admin = undefined;
  if (client === undefined) return;
  try {
    const { databases } = await client.db('admin').admin().listDatabases({ nameOnly: true });
    for (const { name } of databases.filter((db) => dropped.has(db.name))) {
      console.info(`test cleanup: database ${name} was made again after its drop (a write of a killed process landed late); dropped again`);
      await client.db(name).dropDatabase();
    }
  } finally {
    await client.close();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  dropped.add(name);
  await adminClient().db(name).dropDatabase();
}

export const server = await checkServer('mongodb', MONGODB_URL, async () => {
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 2_000 });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
});

/** Loaded keys are AuthKeyBytes: compare plain bytes, as the kit does. */
export { plainBytes as plain } from '@mtstore/conformance';

/** Scratch space: `fresh()` names a new database, `open()` opens a MongoStorage on one, `track()` remembers anything else to close. */
export interface Scratch {
  fresh(): string;
  open(database: string, name?: string): MongoStorage;
  track<T extends { close(): Promise<void> }>(instance: T): T;
}

/** A Scratch and `clear()`, which closes everything opened and drops every database named so far. */
function scratchSpace(): Scratch & { clear(): Promise<void> } {
  const databases: string[] = [];
  const opened: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(instance: T): T => {
    opened.push(instance);
    return instance;
  };
  return {
    fresh: () => {
      const name = randomNamespace();
      databases.push(name);
      return name;
    },
    open: (database, name = 'alice') => track(new MongoStorage({ url: urlFor(database), name })),
    track,
    clear: async () => {
      for (const x of opened.splice(0)) await x.close().catch(() => undefined);
      for (const name of databases.splice(0)) await dropDatabase(name);
    },
  };
}

/**
 * Per-test scratch space for a test file: after each test everything opened is closed
 * and every database dropped; after the file, the admin client is closed. Registers its
 * own afterEach / afterAll hooks. Not for tests that run at the same time (it.concurrent):
 * the afterEach of the first to end would close the others' instances; see ownScratch.
 */
export function scratch(): Scratch {
  const { clear, ...space } = scratchSpace();
  afterEach(clear);
  afterAll(closeAdmin);
  return space;
}

/**
 * Scratch space of one test that runs beside others of its file (it.concurrent): what it
 * opened is closed, and its databases dropped, when that test finishes (`onTestFinished`
 * of its context), whatever the others are doing. The file still needs scratch() (or
 * another afterAll(closeAdmin)) for the admin client.
 */
export function ownScratch(onTestFinished: (cleanup: () => Promise<void>) => void): Scratch {
  const { clear, ...space } = scratchSpace();
  onTestFinished(clear);
  return space;
}

/** Retries `call` until it resolves (the driver reconnecting); rejects with its last error after `ms`. */
export async function eventually<T>(ms: number, call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
