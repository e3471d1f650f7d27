/**
 * `create: false` (URL `?create=false`): only a store that is there opens. A database
 * that does not exist, or holds another program's collections, is NotFoundError and
 * stays exactly as it was (databases, collections, indexes, documents); a store that is
 * there opens and reads; an older schema version is migrated as with `true`.
 */
import { describe, expect, it } from 'vitest';
import type { Document } from 'mongodb';
import { fullSession } from '@mtstore/conformance/vitest';
import { openSessionStorage, openStorage, registerAdapter } from '@mtstore/core';
import { adapter, MongoSessionEventBus, MongoSessionStorage, MongoStorage, SCHEMA_VERSION } from '../src/index.js';
import { adminClient, MONGODB_URL, plain, scratch, server, urlFor } from './server.js';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { failure, storeCalls } from '../../test-adapters/src/outcomes.js';

registerAdapter('mongodb', async () => ({ adapter }));

/** Whether the database exists, and every collection in it with its indexes and documents. */
async function snapshot(database: string): Promise<unknown> {
  const { databases } = await adminClient().db('admin').admin().listDatabases({ nameOnly: true });
  const db = adminClient().db(database);
  const collections: Record<string, { indexes: Document[]; documents: Document[] }> = {};
  for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
    const collection = db.collection(name);
    collections[name] = {
      indexes: (await collection.listIndexes().toArray()).map(({ name: index, key }) => ({ index, key })),
      documents: await collection.find({}).sort({ _id: 1 }).toArray(),
    };
  }
  return { exists: databases.some((d) => d.name === database), collections };
}

if (server.available) {
  const { fresh, track } = scratch();

  describe('create: false', () => {
    it('a database that does not exist, or another program\'s, is NotFoundError and stays exactly as it was', async () => {
      const missing = fresh();
      const other = fresh();
      await adminClient().db(other).collection('app_data').insertOne({ _id: 'x' as never, value: 'precious' });
      for (const database of [missing, other]) {
        const before = await snapshot(database);
        const client = track(new MongoStorage({ url: urlFor(database), create: false }));
        const sessions = track(new MongoSessionStorage({ url: urlFor(database), create: false }));
        const bus = track(new MongoSessionEventBus({ url: urlFor(database), create: false, mode: 'poll' }));
        const viaUrl = track(await openStorage(urlFor(database, 'create=false')));
        const opened = await openSessionStorage(urlFor(database, 'create=false'));
        const viaServerUrl = track(opened.storage as MongoSessionStorage);
        track(opened.bus as MongoSessionEventBus);
        for (const [what, call] of [
          ...storeCalls(client, sessions),
          ['bus.publish', () => bus.publish({ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'test' })],
          ['url load', () => viaUrl.load()],
          ['url hasSession', () => viaServerUrl.hasSession(1n, 2n)],
        ] as [string, () => Promise<unknown>][]) {
          const error = await failure(call());
          expect(error.code, `${database} ${what}`).toBe('MTSTORE_NOT_FOUND');
          expect(error.message).toContain(`database "${database}" holds no @mtstore/mongo store (no schema document in collection mtstore_meta)`);
          // The bus's refusal names the bus (its storages' name theirs).
          if (what === 'bus.publish') expect(error.message).toMatch(/^MongoSessionEventBus\.connect: /);
        }
        expect(await snapshot(database), database).toEqual(before);
      }
    });

    it('a store that is there opens and reads, and reading writes nothing', async () => {
      const database = fresh();
      const writer = track(new MongoStorage({ url: urlFor(database), name: 'alice' }));
      await writer.save(fullSession(1));
      await writer.close();
      const before = await snapshot(database);
      const reader = track(new MongoStorage({ url: urlFor(database), name: 'alice', create: false }));
      expect(plain(await reader.load())).toEqual(fullSession(1));
      expect(await reader.listNames()).toEqual(['alice']);
      expect(await reader.lease.holder()).toBeNull();
      const viaUrl = track(await openStorage(urlFor(database, 'session=alice&create=false')));
      expect(plain(await viaUrl.load())).toEqual(fullSession(1));
      const sessions = track(new MongoSessionStorage({ url: urlFor(database), create: false }));
      expect(await sessions.hasSession(1n, 2n)).toBe(false);
      expect(await snapshot(database)).toEqual(before);
    });

    it('another collection prefix in the same database is another store', async () => {
      const database = fresh();
      const writer = track(new MongoStorage({ url: urlFor(database) }));
      await writer.save(fullSession(1));
      const before = await snapshot(database);
      const other = track(new MongoStorage({ url: urlFor(database), collectionPrefix: 'tg_', create: false }));
      expect((await failure(other.load())).message).toContain('no schema document in collection tg_meta');
      expect(await snapshot(database)).toEqual(before);
    });

    it('a store at an older schema version is migrated, as with create: true', async () => {
      const database = fresh();
      await adminClient().db(database).collection('mtstore_meta').insertOne({ _id: 'schema' as never, version: SCHEMA_VERSION - 1 });
      const reader = track(new MongoStorage({ url: urlFor(database), create: false }));
      expect(await reader.load()).toBeNull();
      expect(await adminClient().db(database).collection('mtstore_meta').findOne({ _id: 'schema' as never })).toEqual({ _id: 'schema', version: SCHEMA_VERSION });
    });
  });
}

describe('create option', () => {
  it('must be a boolean, and ?create true or false: InvalidArgumentError before any I/O', async () => {
    for (const create of ['false', 0, null]) {
      for (const make of [
        () => new MongoStorage({ url: MONGODB_URL, create: create as never }),
        () => new MongoSessionStorage({ url: MONGODB_URL, create: create as never }),
        () => new MongoSessionEventBus({ url: MONGODB_URL, create: create as never }),
      ]) {
        expect(make).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(create === null ? 'create must not be null' : 'create must be a boolean') }));
      }
    }
    for (const value of ['no', '1', '']) {
      const error = await failure(openStorage(`mongodb://alice:hunter2@127.0.0.1:1/db?create=${value}`));
      expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain('URL parameter create must be true or false');
      expect(error.message).not.toContain('hunter2');
    }
  });
});
