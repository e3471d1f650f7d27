/**
 * `null` for an option meant different things per adapter: `new MongoStorage({ url,
 * collectionPrefix: null })`, `new RedisStorage({ url, prefix: null })`, `new
 * PostgresStorage({ …, schema: null })` and `new MemoryStorage({ name: null })` opened
 * the defaults (their `??` took null for "left out"), while `new SqliteStorage({ …,
 * tablePrefix: null })` was refused. The rule (docs/contract.md §8): an option is left
 * out (`undefined`: its default) or a valid value; `null` is InvalidArgumentError naming
 * the option, thrown by the constructor, before any I/O (the ports below are closed:
 * nothing is ever reached).
 *
 * Every option of each class is tried: the list is read from the class's own "unknown
 * option" message, so an option added later is covered without touching this table.
 */
import { inspect } from 'node:util';
import { thrown } from '../../core/test/thrown.js';
import { describe, expect, it } from 'vitest';
import { CachedSessionStorage, LocalSessionEventBus, openStorage, SessionSubject } from '@mtstore/core';
import { MemorySessionStorage, MemoryStorage } from '@mtstore/memory';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '@mtstore/mongo';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '@mtstore/postgres';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '@mtstore/redis';
import { SqliteSessionStorage, SqliteStorage } from '@mtstore/sqlite';

type Closable = { close(): Promise<void> };
type Build = (extra: Record<string, unknown>) => Closable;

const PG = 'postgres://127.0.0.1:1/x';
const REDIS = 'redis://127.0.0.1:1';
const MONGO = 'mongodb://127.0.0.1:1/x';
const bus = new LocalSessionEventBus();

const CLASSES: [string, Build][] = [
  ['MemoryStorage', (extra) => new MemoryStorage({ ...extra })],
  ['MemorySessionStorage', (extra) => new MemorySessionStorage({ ...extra })],
  ['SqliteStorage', (extra) => new SqliteStorage({ path: ':memory:', ...extra })],
  ['SqliteSessionStorage', (extra) => new SqliteSessionStorage({ path: ':memory:', ...extra })],
  ['PostgresStorage', (extra) => new PostgresStorage({ connectionString: PG, ...extra })],
  ['PostgresSessionStorage', (extra) => new PostgresSessionStorage({ connectionString: PG, ...extra })],
  ['PostgresSessionEventBus', (extra) => new PostgresSessionEventBus({ connectionString: PG, ...extra })],
  ['RedisStorage', (extra) => new RedisStorage({ url: REDIS, ...extra })],
  ['RedisSessionStorage', (extra) => new RedisSessionStorage({ url: REDIS, ...extra })],
  ['RedisSessionEventBus', (extra) => new RedisSessionEventBus({ url: REDIS, ...extra })],
  ['MongoStorage', (extra) => new MongoStorage({ url: MONGO, ...extra })],
  ['MongoSessionStorage', (extra) => new MongoSessionStorage({ url: MONGO, ...extra })],
  ['MongoSessionEventBus', (extra) => new MongoSessionEventBus({ url: MONGO, ...extra })],
  ['CachedSessionStorage', (extra) => new CachedSessionStorage(new MemorySessionStorage(), { bus, ...extra })],
  ['SessionSubject', (extra) => new SessionSubject(new MemorySessionStorage(), { ...extra })],
];

/** Every option `build` has, as its "unknown option" message lists them. */
function optionsOf(name: string, build: Build): string[] {
  const message = thrown(() => build({ zzzUnknown: 1 }))?.message ?? '';
  const listed = /known options: (.*)$/.exec(message)?.[1];
  expect(listed, `${name}'s unknown-option message: ${message}`).toBeDefined();
  return (listed as string).split(', ');
}

describe('null for an option', () => {
  it.each(CLASSES)('%s refuses null for each of its options, naming it, before any I/O', async (name, build) => {
    const options = optionsOf(name, build);
    expect(options.length).toBeGreaterThan(1);
    const accepted: string[] = [];
    const refused: [string, Error & { code?: string }][] = [];
    for (const option of options) {
      const error = thrown(() => {
        // Made, it is closed again: an accepted null must not leave a pool or timer open.
        const made = build({ [option]: null });
        accepted.push(option);
        void made.close();
      });
      if (error !== undefined) refused.push([option, error]);
    }
    // First what took null (each adapter's `??` read it as "left out"), then the refusals' form.
    expect(accepted, `${name} took null for`).toEqual([]);
    for (const [option, error] of refused) {
      expect(error.code, `${name} ${option}: ${error.message}`).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain(`${name}: ${option} must not be null`);
    }
    // Left out, every option is at its default, as before.
    await build({}).close();
  });

  it("openStorage refuses null for name and encryption (it treated name: null as 'default')", async () => {
    for (const option of ['name', 'encryption']) {
      await expect(openStorage('memory:', { [option]: null })).rejects.toThrow(`openStorage: ${option} must not be null`);
    }
    const storage = await openStorage('memory:', { name: undefined, encryption: undefined });
    expect(String(inspect(storage))).toBe('MemoryStorage { name: "default", closed: false }');
    await storage.close();
  });
});
