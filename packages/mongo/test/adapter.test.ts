/**
 * `openStorage('mongodb://…')` / `openSessionStorage(…)` through core, with this
 * package's adapter registered for the scheme (the built-in entry imports the built
 * package; this file tests the source).
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openSessionStorage, openStorage, registerAdapter, SessionSubject, type SessionEvent } from '@mtstore/core';
import { minimalSession, randomNamespace, waitFor } from '@mtstore/conformance/vitest';
import { adapter, MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { adminClient, closeAdmin, dropDatabase, plain, server, urlFor } from './server.js';

registerAdapter('mongodb', async () => ({ adapter }));
registerAdapter('mongodb+srv', async () => ({ adapter }));

if (server.available) {
  const databases: string[] = [];
  const closing: { close(): Promise<void> }[] = [];
  const fresh = () => {
    const name = randomNamespace();
    databases.push(name);
    return name;
  };
  afterEach(async () => {
    for (const x of closing.splice(0)) await x.close();
    for (const name of databases.splice(0)) await dropDatabase(name);
  });
  afterAll(closeAdmin);

  describe('adapter', () => {
    it('opens client storage from the URL: database from the path, collectionPrefix and session from the query', async () => {
      const database = fresh();
      const storage = await openStorage(urlFor(database, 'collectionPrefix=tg_&session=alice'));
      closing.push(storage);
      expect(storage).toBeInstanceOf(MongoStorage);
      const mongo = storage as MongoStorage;
      expect([mongo.database, mongo.collectionPrefix, mongo.name]).toEqual([database, 'tg_', 'alice']);
      await storage.save(minimalSession());
      expect(await adminClient().db(database).collection('tg_sessions').countDocuments({ _id: 'alice' as never })).toBe(1);
      const bob = await openStorage(urlFor(database, 'collectionPrefix=tg_'), { name: 'bob' });
      closing.push(bob);
      expect(await bob.load()).toBeNull();
      const again = await openStorage(urlFor(database, 'collectionPrefix=tg_&session=alice'));
      closing.push(again);
      expect(plain(await again.load())).toEqual(minimalSession());
    });

    it('opens server storage with its bus; two of them carry events between subjects', async () => {
      const database = fresh();
      const one = await openSessionStorage(urlFor(database));
      const two = await openSessionStorage(urlFor(database));
      expect(one.storage).toBeInstanceOf(MongoSessionStorage);
      expect(one.bus).toBeInstanceOf(MongoSessionEventBus);
      const a = new SessionSubject(one.storage, { id: 'a', bus: one.bus });
      const b = new SessionSubject(two.storage, { id: 'b', bus: two.bus });
      closing.push(a, b, one.storage, two.storage, one.bus!, two.bus!);
      await Promise.all([a.ready(), b.ready()]);
      const heard: SessionEvent[] = [];
      b.subscribe({ update: (e) => void heard.push(e) });
      expect(await a.createSession(1n, 2n)).toBe(true);
      await waitFor(() => heard.length === 1, 5_000, 'the event on the other subject');
      expect(heard).toEqual([{ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'a' }]);
    });

    it('mongodb+srv URLs are accepted (resolved only when connecting)', async () => {
      const storage = await openStorage('mongodb+srv://user:pw@cluster0.example.invalid/app?collectionPrefix=tg_&retryWrites=true', { name: 'x' });
      expect([(storage as MongoStorage).database, (storage as MongoStorage).collectionPrefix]).toEqual(['app', 'tg_']);
      await storage.close();
    });

    it('never shows the password: not in errors for a bad prefix, a bad driver option or an unreachable server', async () => {
      const secret = 's3cr3t-passw0rd';
      for (const query of ['collectionPrefix=bad-prefix', 'maxPoolSize=lots', 'authMechanism=NOPE']) {
        const error = (await openStorage(`mongodb://alice:${secret}@127.0.0.1:1/db?${query}`).catch((e: unknown) => e)) as Error & { code?: string };
        expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(`${error.message} ${inspect(error)}`, query).not.toContain(secret);
      }
      const storage = await openStorage(`mongodb://alice:${secret}@127.0.0.1:1/db?serverSelectionTimeoutMS=200`);
      const error = (await storage.load().catch((e: unknown) => e)) as Error & { code?: string };
      await storage.close();
      expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(inspect(error)).not.toContain(secret);
      const opened = await openSessionStorage(`mongodb://alice:${secret}@127.0.0.1:1/db?serverSelectionTimeoutMS=200`);
      const busError = (await opened.bus!.subscribe(() => {}).catch((e: unknown) => e)) as Error & { code?: string };
      await Promise.all([opened.storage.close(), opened.bus!.close()]);
      expect(busError.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(inspect(busError)).not.toContain(secret);
    });
  });
}
