/**
 * The first-party mtstore adapters the bridge is tested over, each against its real
 * server: memory, SQLite (a file in a temp dir), PostgreSQL (a fresh schema),
 * Redis (a fresh key prefix), MongoDB / FerretDB (a fresh database) and TypeORM on
 * better-sqlite3 (a file in a temp dir). Every `backend()` is a new, empty
 * namespace; `open(name)` opens a session on it, and two opens of one name are two
 * processes sharing a session. A server that is unreachable skips its adapter with
 * a one-line reason, and fails the run under CI=true (checkServer).
 *
 * One copy for every package whose tests run over all adapters (the mtcute and GramJS
 * bridges): a private workspace package, never published.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServer, randomNamespace } from '@mtstore/conformance';
import type { Storage } from '@mtstore/core';
import { MemoryStorage, MemoryStore } from '@mtstore/memory';
import { MongoStorage } from '@mtstore/mongo';
import { PostgresStorage } from '@mtstore/postgres';
import { RedisStorage } from '@mtstore/redis';
import { SqliteStorage } from '@mtstore/sqlite';
import { TypeormStorage } from '@mtstore/typeorm';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { afterAll } from 'vitest';
import { deleteKeysWithPrefix } from './redis.js';

export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

export interface Backend {
  /** A new Storage instance for session `name` on this backend's namespace. */
  open(name: string): Storage;
  /** Closes every Storage open() handed out (a second close is harmless), then removes the namespace. */
  dispose(): Promise<void>;
}

export interface AdapterCase {
  name: string;
  /** Whether the server is there; false (printed once, with the reason) skips the adapter locally; under CI it throws. */
  available(): Promise<boolean>;
  /** A fresh, empty namespace. */
  backend(): Promise<Backend>;
}

/** The adapters whose server answers (one `checkServer` line for each that does not). */
export async function availableAdapters(): Promise<AdapterCase[]> {
  const result: AdapterCase[] = [];
  for (const adapter of adapters) if (await adapter.available()) result.push(adapter);
  return result;
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= make());
}

const sharedClosers: (() => Promise<void>)[] = [];

/** A client every Storage of the test file borrows, made on first use and closed after the file. */
function shared<T>(make: () => Promise<T>, close: (client: T) => Promise<void>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    if (value === undefined) {
      const made = make();
      value = made;
      sharedClosers.push(async () => {
        value = undefined;
        await close(await made);
      });
    }
    return value;
  };
}

afterAll(async () => {
  for (const close of sharedClosers.splice(0)) await close().catch(() => undefined);
});

/** Tracks the storages handed out and closes them before `drop` removes the namespace. */
function tracking(open: (name: string) => Storage, drop: () => Promise<void>): Backend {
  const opened: Storage[] = [];
  return {
    open(name) {
      const storage = open(name);
      opened.push(storage);
      return storage;
    },
    async dispose() {
      for (const storage of opened) await storage.close().catch(() => undefined);
      await drop();
    },
  };
}

function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `mtstore-bridge-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const memory: AdapterCase = {
  name: 'memory',
  available: async () => true,
  async backend() {
    const store = new MemoryStore();
    return tracking((name) => new MemoryStorage({ store, name }), async () => undefined);
  },
};

const sqlite: AdapterCase = {
  name: 'sqlite',
  available: async () => true,
  async backend() {
    const { dir, remove } = tempDir('sqlite');
    // Its own connection per Storage, as separate processes would have.
    return tracking((name) => new SqliteStorage({ path: join(dir, 'sessions.db'), name }), async () => remove());
  },
};

/** One pool for every Storage of the file (the tests open many; the server is shared with other runs). */
const postgresPool = shared(
  async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4, application_name: 'mtstore-bridge-test', connectionTimeoutMillis: 3_000 });
    pool.on('error', () => undefined);
    return pool;
  },
  (pool) => pool.end(),
);

const postgres: AdapterCase = {
  name: 'postgres',
  available: once(async () => {
    const check = await checkServer('PostgreSQL', POSTGRES_URL, async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => undefined);
      }
    });
    return check.available;
  }),
  async backend() {
    const pool = await postgresPool();
    const schema = randomNamespace();
    return tracking(
      (name) => new PostgresStorage({ pool, schema, name }),
      async () => {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      },
    );
  },
};

const redisClient = shared(
  async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, connectionName: 'mtstore-bridge-test' });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  },
  async (client) => void (await client.quit()),
);

const redis: AdapterCase = {
  name: 'redis',
  available: once(async () => {
    const check = await checkServer('Redis', REDIS_URL, async () => {
      const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3_000, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.ping();
      } finally {
        client.disconnect();
      }
    });
    return check.available;
  }),
  async backend() {
    const client = await redisClient();
    const prefix = `mtstore-test:${randomNamespace()}:`;
    return tracking(
      (name) => new RedisStorage({ client, prefix, name }),
      // This prefix only: the server is shared.
      () => deleteKeysWithPrefix(client, prefix),
    );
  },
};

const mongoClient = shared(
  () => new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5_000, appName: 'mtstore-bridge-test' }).connect(),
  (client) => client.close(),
);

const mongo: AdapterCase = {
  name: 'mongo',
  available: once(async () => {
    const check = await checkServer('MongoDB', MONGODB_URL, async () => {
      const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 3_000 });
      try {
        await client.db('admin').command({ ping: 1 });
      } finally {
        await client.close();
      }
    });
    return check.available;
  }),
  async backend() {
    const client = await mongoClient();
    const database = randomNamespace();
    return tracking(
      (name) => new MongoStorage({ client, database, name }),
      async () => {
        await client.db(database).dropDatabase();
      },
    );
  },
};

const typeorm: AdapterCase = {
  name: 'typeorm (better-sqlite3)',
  available: async () => true,
  async backend() {
    const { dir, remove } = tempDir('typeorm');
    const database = join(dir, 'sessions.sqlite');
    // An adapter-owned DataSource per Storage: its own connection, destroyed by close().
    return tracking((name) => new TypeormStorage({ options: { type: 'better-sqlite3', database }, name }), async () => remove());
  },
};

export const adapters: AdapterCase[] = [memory, sqlite, postgres, redis, mongo, typeorm];

