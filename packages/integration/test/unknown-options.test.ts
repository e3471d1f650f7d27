/**
 * A misspelt constructor option was ignored: `new PostgresStorage({ …, encrypton: {…} })`
 * stored auth keys in plaintext, `{ nmae: 'bot' }` wrote session "default". Every
 * client Storage class refuses an option it does not have, naming the nearest, before
 * any I/O (the servers below are never reached: the port is closed); so does every
 * server storage (`{ ttlSecond: 60 }` made sessions that never expire).
 */
import { describe, expect, it } from 'vitest';
import { generateEncryptionKey } from '@mtstore/core';
import { MemorySessionStorage, MemoryStorage } from '@mtstore/memory';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '@mtstore/mongo';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '@mtstore/postgres';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '@mtstore/redis';
import { SqliteSessionStorage, SqliteStorage } from '@mtstore/sqlite';

const key = generateEncryptionKey();
const encryption = { keys: [{ id: 'k1', key }] };
type Build = (extra: Record<string, unknown>) => { close(): Promise<void> };

const CLASSES: [string, Build][] = [
  ['MemoryStorage', (extra) => new MemoryStorage({ name: 'a', ...extra })],
  ['SqliteStorage', (extra) => new SqliteStorage({ path: ':memory:', name: 'a', ...extra })],
  ['PostgresStorage', (extra) => new PostgresStorage({ connectionString: 'postgres://127.0.0.1:1/x', name: 'a', ...extra })],
  ['RedisStorage', (extra) => new RedisStorage({ url: 'redis://127.0.0.1:1', name: 'a', ...extra })],
  ['MongoStorage', (extra) => new MongoStorage({ url: 'mongodb://127.0.0.1:1/x', name: 'a', ...extra })],
];

describe('client Storage constructors', () => {
  it.each(CLASSES)('%s refuses an option it does not have, naming the nearest, never showing a value', async (name, build) => {
    for (const [extra, nearest] of [
      [{ encrypton: encryption }, 'encryption'],
      [{ nmae: 'bot' }, 'name'],
    ] as const) {
      let error: (Error & { code?: string }) | undefined;
      try {
        build(extra);
      } catch (caught) {
        error = caught as Error & { code?: string };
      }
      expect(error?.code, `${name} ${Object.keys(extra)[0]}`).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).toContain(`${name}: unknown option "${Object.keys(extra)[0]}" (did you mean "${nearest}"?)`);
      expect(error?.message).not.toContain(key);
      expect(error?.message).not.toContain('bot');
    }
    // The options it has are accepted.
    await build({ encryption }).close();
  });
});

const SERVER: [string, Build][] = [
  ['MemorySessionStorage', (extra) => new MemorySessionStorage({ ...extra })],
  ['SqliteSessionStorage', (extra) => new SqliteSessionStorage({ path: ':memory:', ...extra })],
  ['PostgresSessionStorage', (extra) => new PostgresSessionStorage({ connectionString: 'postgres://127.0.0.1:1/x', ...extra })],
  ['RedisSessionStorage', (extra) => new RedisSessionStorage({ url: 'redis://127.0.0.1:1', ...extra })],
  ['MongoSessionStorage', (extra) => new MongoSessionStorage({ url: 'mongodb://127.0.0.1:1/x', ...extra })],
];

describe('server storage constructors', () => {
  it.each(SERVER)('%s refuses an option it does not have, naming the nearest', async (name, build) => {
    let error: (Error & { code?: string }) | undefined;
    try {
      build({ ttlSecond: 60 });
    } catch (caught) {
      error = caught as Error & { code?: string };
    }
    expect(error?.code, name).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error?.message).toContain(`${name}: unknown option "ttlSecond" (did you mean "ttlSeconds"?)`);
    await build({ ttlSeconds: 60 }).close();
  });
});

// A misspelt bus option was ignored too: `{ heartbeatIntervall: 1000 }` kept the 15 s
// default, `{ pollIntervall: 10 }` polled every 100 ms.
const BUSES: [string, Build, string, string][] = [
  ['PostgresSessionEventBus', (extra) => new PostgresSessionEventBus({ connectionString: 'postgres://127.0.0.1:1/x', ...extra }), 'heartbeatIntervall', 'heartbeatInterval'],
  ['RedisSessionEventBus', (extra) => new RedisSessionEventBus({ url: 'redis://127.0.0.1:1', ...extra }), 'heartbeatIntervall', 'heartbeatInterval'],
  ['MongoSessionEventBus', (extra) => new MongoSessionEventBus({ url: 'mongodb://127.0.0.1:1/x', ...extra }), 'pollIntervall', 'pollInterval'],
];

describe('event bus constructors', () => {
  it.each(BUSES)('%s refuses an option it does not have, naming the nearest', async (name, build, typo, nearest) => {
    let error: (Error & { code?: string }) | undefined;
    try {
      build({ [typo]: 1000 });
    } catch (caught) {
      error = caught as Error & { code?: string };
    }
    expect(error?.code, name).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error?.message).toContain(`${name}: unknown option "${typo}" (did you mean "${nearest}"?)`);
    await build({ [nearest]: 1000 }).close();
  });
});
