/**
 * An application's `timeoutMS` (the driver's client-side operation timeout) on its own
 * MongoClient is for its own operations, not mtstore's (connection.ts, ownDbOptions):
 * drivers that honour it (6.x before 6.22, 7.0 to 7.7) apply a client's timeoutMS to
 * every operation of every Db of the client, mtstore's included, with no way to turn it
 * off for one Db but another timeoutMS. Here the application's is 1 ms, which fails
 * every operation of such a driver; mtstore's go through with a bound of its own.
 * Drivers 6.22 and 7.8 onwards ignore timeoutMS altogether (a deprecation warning), so
 * on them this passes either way (7.9 is installed here; the test was seen failing on
 * 7.5 without ownDbOptions).
 */
import { describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import type { SessionEvent } from '@mtstore/core';
import { fullSession, peer, waitFor } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { MONGODB_URL, plain, scratch, server } from './server.js';

if (server.available) {
  const { fresh, track } = scratch();

  describe("an application's timeoutMS does not reach mtstore's operations", () => {
    it('a client with timeoutMS: 1 and a Db of it: storage, lease, server sessions and bus all work', async () => {
      // The warning drivers that ignore timeoutMS print is expected here.
      const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5_000, timeoutMS: 1, monitorCommands: true });
      const commands: CommandStartedEvent[] = [];
      client.on('commandStarted', (event) => commands.push(event));
      try {
        const database = fresh();
        for (const storage of [track(new MongoStorage({ client, database, name: 'alice' })), track(new MongoStorage({ db: client.db(database), name: 'bob' }))]) {
          await storage.lease.acquire({ ttlSeconds: 30 });
          await storage.save(fullSession(1));
          expect(plain(await storage.load())).toEqual(fullSession(1));
          await storage.kv.set('k', new Uint8Array([1, 2, 3]));
          await storage.peers.upsert([peer('user', 7)]);
          expect((await storage.peers.getById('user', 7n))?.accessHash).toBe(7n * 7919n + 13n);
          await storage.delete();
          expect(await storage.load()).toBeNull();
        }
        const sessions = track(new MongoSessionStorage({ client, database }));
        expect(await sessions.createSession(1n, 2n)).toBe(true);
        expect(await sessions.hasSession(1n, 2n)).toBe(true);
        const heard: SessionEvent[] = [];
        await track(new MongoSessionEventBus({ client, database, pollInterval: 20 })).subscribe((event) => heard.push(event));
        await track(new MongoSessionEventBus({ client, database })).publish({ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'app' });
        await waitFor(() => heard.length === 1, 5_000, 'the event');
        // Where the driver honours timeoutMS it sends maxTimeMS: never the application's 1 ms on ours.
        for (const event of commands) if (event.command.maxTimeMS !== undefined) expect(event.command.maxTimeMS, event.commandName).toBeGreaterThan(1_000);
      } finally {
        await client.close();
      }
    });
  });
}
