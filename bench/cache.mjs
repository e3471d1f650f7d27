// CachedSessionStorage rows for every backend (issue 19), added to each adapter's rows:
//   'cached hasSession hit'  — a session the cache holds; raw side: a bare Map lookup,
//                              the floor any in-process cache can reach.
//   'cached hasSession miss' — a session that does not exist (never cached: no
//                              negative caching); raw side: the same storage uncached.
// Each backend's cache listens on that backend's bus (postgres LISTEN/NOTIFY, redis
// pub/sub, mongo's polled log); memory, sqlite and typeorm use core's in-process bus.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedSessionStorage, LocalSessionEventBus } from '@mtstore/core';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

/** { storage, bus, cleanup } for one backend, or null when it has no cache rows. */
async function backend(name) {
  const tag = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  switch (name) {
    case 'memory': {
      const { MemorySessionStorage } = await import('@mtstore/memory');
      return { storage: new MemorySessionStorage(), bus: new LocalSessionEventBus(), cleanup: async () => {} };
    }
    case 'sqlite': {
      const { SqliteSessionStorage } = await import('@mtstore/sqlite');
      const dir = mkdtempSync(join(tmpdir(), 'mtstore-bench-cache-'));
      return { storage: new SqliteSessionStorage(join(dir, 'server.session')), bus: new LocalSessionEventBus(), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    }
    case 'postgres': {
      const { PostgresSessionStorage, PostgresSessionEventBus } = await import('@mtstore/postgres');
      const pg = (await import('pg')).default;
      const schema = `mt_bench_cache_${tag}`;
      return {
        storage: new PostgresSessionStorage({ config: { connectionString: POSTGRES_URL, max: 10 }, schema }),
        bus: new PostgresSessionEventBus({ connectionString: POSTGRES_URL, schema }),
        cleanup: async () => {
          const admin = new pg.Client({ connectionString: POSTGRES_URL });
          await admin.connect();
          await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await admin.end();
        },
      };
    }
    case 'redis': {
      const { RedisSessionStorage, RedisSessionEventBus } = await import('@mtstore/redis');
      const prefix = `mtstore-bench-cache:${tag}:`;
      const storage = new RedisSessionStorage({ url: REDIS_URL, prefix });
      return {
        storage,
        bus: new RedisSessionEventBus({ url: REDIS_URL, prefix }),
        cleanup: async () => {
          const { Redis } = await import('ioredis');
          const admin = new Redis(REDIS_URL);
          const keys = await admin.keys(`${prefix}*`);
          if (keys.length) await admin.del(...keys);
          admin.disconnect();
        },
      };
    }
    case 'mongo': {
      const { MongoSessionStorage, MongoSessionEventBus } = await import('@mtstore/mongo');
      const database = `mt_bench_cache_${tag}`;
      const storage = new MongoSessionStorage({ url: MONGODB_URL, database });
      return {
        storage,
        bus: new MongoSessionEventBus({ url: MONGODB_URL, database }),
        cleanup: async () => {
          const { MongoClient } = await import('mongodb');
          const admin = new MongoClient(MONGODB_URL);
          await admin.db(database).dropDatabase();
          await admin.close();
        },
      };
    }
    case 'typeorm': {
      const { TypeormSessionStorage } = await import('@mtstore/typeorm');
      const dir = mkdtempSync(join(tmpdir(), 'mtstore-bench-cache-'));
      const storage = new TypeormSessionStorage({ options: { type: 'better-sqlite3', database: join(dir, 'server.db') } });
      return { storage, bus: new LocalSessionEventBus(), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    }
    default:
      return null;
  }
}

/** Targets to merge into an adapter's rows, and their close; null when the backend has none. */
export async function cacheTargets(name) {
  const opened = await backend(name);
  if (!opened) return null;
  const { storage, bus, cleanup } = opened;
  const cache = new CachedSessionStorage(storage, { bus });
  await cache.ready();
  await storage.createSession(1n, 1n);
  await cache.hasSession(1n, 1n); // now cached
  // The raw side of a hit: what a hand-written per-process Map of sessions costs.
  const bare = new Map([[1n, new Set([1n])]]);
  return {
    adapter: {
      'cached hasSession hit': () => cache.hasSession(1n, 1n),
      'cached hasSession miss': () => cache.hasSession(1n, 2n),
    },
    raw: {
      'cached hasSession hit': async () => bare.get(1n)?.has(1n) === true,
      'cached hasSession miss': () => storage.hasSession(1n, 2n),
    },
    async close() {
      const { hits, misses } = cache.stats();
      console.log(`${name.padEnd(9)} cache stats: ${hits} hits, ${misses} misses`);
      await cache.close();
      await storage.close();
      await bus.close();
      await cleanup();
    },
  };
}
