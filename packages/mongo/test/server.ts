/**
 * The test server: MONGODB_URL (default FerretDB on 127.0.0.1:27017). Every test
 * works in databases it creates (kit namespaces are `mt_…`) and drops only those.
 */
import { MongoClient } from 'mongodb';
import { checkServer } from '@mtstore/conformance/vitest';

export const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

/** `MONGODB_URL` with another database in its path and extra query options. */
export function urlFor(database: string, query = ''): string {
  const url = new URL(MONGODB_URL);
  url.pathname = `/${database}`;
  for (const [key, value] of new URLSearchParams(query)) url.searchParams.set(key, value);
  return url.href;
}

/** One client for setup and cleanup, opened on first use and closed when the worker exits. */
let admin: MongoClient | undefined;
export function adminClient(): MongoClient {
  admin ??= new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5_000 });
  return admin;
}

export async function dropDatabase(name: string): Promise<void> {
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
