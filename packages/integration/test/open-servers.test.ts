/**
 * openStorage / openSessionStorage against the real servers: the URL forms each
 * adapter documents, session names, the bus that comes with server storage, and
 * credentials that never reach an error message.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openSessionStorage, openStorage, SessionSubject, type SessionEvent, type Storage } from '@mtstore/core';
import { checkServer, fullSession, randomNamespace, waitFor } from '@mtstore/conformance/vitest';
import { PostgresStorage } from '@mtstore/postgres';
import { RedisStorage } from '@mtstore/redis';
import pg from 'pg';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { MongoStorage } from '@mtstore/mongo';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** Two subjects on two opens of one URL: an event made on one reaches the other's observer. */
async function eventCrossesNodes(url: string): Promise<void> {
  const first = await openSessionStorage(url);
  const second = await openSessionStorage(url);
  const a = new SessionSubject(first.storage, { id: 'node-a', bus: first.bus });
  const b = new SessionSubject(second.storage, { id: 'node-b', bus: second.bus });
  try {
    await Promise.all([a.ready(), b.ready()]);
    const heard: SessionEvent[] = [];
    b.subscribe({ update: (event) => void heard.push(event) });
    expect(await a.createSession(11n, 22n)).toBe(true);
    await waitFor(() => heard.length === 1, 5_000, 'the event on the other node');
    expect(heard[0]).toEqual({ type: 'created', authKeyId: 11n, sessionId: 22n, origin: 'node-a' });
  } finally {
    for (const closable of [a, b, first.storage, second.storage, first.bus, second.bus]) await closable?.close();
  }
}

async function roundTrip(storage: Storage): Promise<void> {
  try {
    await storage.save(fullSession(4));
    const loaded = await storage.load();
    expect(loaded?.user).toEqual(fullSession(4).user);
    expect(loaded?.dcs.length).toBe(fullSession(4).dcs.length);
  } finally {
    await storage.close();
  }
}

const postgres = await checkServer('PostgreSQL', POSTGRES_URL, async () => {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  await client.end();
});

if (postgres.available) {
  describe('openStorage on postgres:// URLs', () => {
    const schemas: string[] = [];
    afterAll(async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });

    it('opens PostgresStorage in ?schema=, named by ?session= or the option', async () => {
      const schema = randomNamespace();
      schemas.push(schema);
      const url = withParams(POSTGRES_URL, { schema, session: 'alice' });
      const storage = await openStorage(url);
      expect(storage).toBeInstanceOf(PostgresStorage);
      expect((storage as PostgresStorage).name).toBe('alice');
      await roundTrip(storage);
      const other = await openStorage(url.replace('postgres://', 'postgresql://'), { name: 'bob' });
      expect((other as PostgresStorage).name).toBe('bob');
      expect(await other.load()).toBeNull();
      await other.close();
    });

    it('openSessionStorage comes with a LISTEN/NOTIFY bus: two nodes hear each other', async () => {
      const schema = randomNamespace();
      schemas.push(schema);
      await eventCrossesNodes(withParams(POSTGRES_URL, { schema }));
    });

    it('a password in the URL never appears in the error of a failed connection', async () => {
      const storage = await openStorage('postgres://postgres:hunter2secret@127.0.0.1:1/test');
      const error = await storage.load().catch((e: Error) => e);
      expect((error as { code?: string }).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(`${(error as Error).message} ${String((error as Error).cause)}`).not.toContain('hunter2secret');
      await storage.close();
    });
  });
}

const redis = await checkServer('Redis', REDIS_URL, async () => {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3_000, retryStrategy: () => null });
  await client.connect();
  await client.ping();
  client.disconnect();
});

if (redis.available) {
  describe('openStorage on redis:// URLs', () => {
    const prefixes: string[] = [];
    afterAll(async () => {
      const client = new Redis(REDIS_URL);
      for (const prefix of prefixes) {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length) await client.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      }
      client.disconnect();
    });

    it('opens RedisStorage under ?prefix=, named by ?session= or the option', async () => {
      const prefix = `${randomNamespace()}:`;
      prefixes.push(prefix);
      const storage = await openStorage(withParams(REDIS_URL, { prefix, session: 'carol' }));
      expect(storage).toBeInstanceOf(RedisStorage);
      expect((storage as RedisStorage).name).toBe('carol');
      await roundTrip(storage);
    });

    it('openSessionStorage comes with a pub/sub bus: two nodes hear each other', async () => {
      const prefix = `${randomNamespace()}:`;
      prefixes.push(prefix);
      await eventCrossesNodes(withParams(REDIS_URL, { prefix }));
    });
  });
}

const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const mongo = await checkServer('MongoDB (or FerretDB)', MONGODB_URL, async () => {
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 3_000 });
  try {
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close();
  }
});

if (mongo.available) {
  describe('openStorage on mongodb:// URLs', () => {
    const databases: string[] = [];
    /** The server URL with `database` as its path. */
    const urlFor = (database: string, params: Record<string, string> = {}) => {
      const url = new URL(MONGODB_URL);
      url.pathname = `/${database}`;
      return withParams(url.href, params);
    };
    afterAll(async () => {
      const client = new MongoClient(MONGODB_URL);
      for (const database of databases) await client.db(database).dropDatabase();
      await client.close();
    });

    it('opens MongoStorage in the database of the path, named by ?session= or the option', async () => {
      const database = randomNamespace();
      databases.push(database);
      const storage = await openStorage(urlFor(database, { session: 'dave', collectionPrefix: 'tg_' }));
      expect(storage).toBeInstanceOf(MongoStorage);
      expect((storage as MongoStorage).name).toBe('dave');
      await roundTrip(storage);
      const client = new MongoClient(MONGODB_URL);
      expect(await client.db(database).collection('tg_sessions').countDocuments({ _id: 'dave' as never })).toBe(1);
      await client.close();
    });

    it('openSessionStorage comes with an event bus: two nodes hear each other', async () => {
      const database = randomNamespace();
      databases.push(database);
      await eventCrossesNodes(urlFor(database));
    });
  });
}
