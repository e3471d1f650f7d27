/**
 * Storages on the application's own MongoClient or Db, configured for the application's
 * data: its write concern, read preference, read concern and BSON options must not reach
 * mtstore's operations (connection.ts, OWN_DB_OPTIONS). With `w: 0` the lease's insert
 * got no reply to check and the first read failed ("BSON element cursor is missing");
 * with `promoteLongs` / `promoteValues: false` every load failed ("Must either request
 * bigint or Long for int64 deserialization"); with `raw` a load read nothing.
 */
import { describe, expect, it } from 'vitest';
import { MongoClient, type CommandStartedEvent, type DbOptions, type MongoClientOptions } from 'mongodb';
import { LeaseHeldError, type SessionEvent } from '@mtstore/core';
import { fullSession, peer, waitFor } from '@mtstore/conformance/vitest';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { MONGODB_URL, plain, scratch, server, urlFor } from './server.js';

const APP_SETTINGS: [string, MongoClientOptions & DbOptions][] = [
  ['w: 0', { writeConcern: { w: 0 } }],
  ['promoteLongs: false', { promoteLongs: false }],
  ['promoteValues: false', { promoteValues: false }],
  ['raw: true', { raw: true }],
];

if (server.available) {
  const { fresh, track } = scratch();

  /** What a storage must do on any connection: lease, snapshot, kv, peers, delete; a second holder is refused. */
  async function roundTrip(open: () => MongoStorage, what: string): Promise<void> {
    const storage = track(open());
    await storage.lease.acquire({ ttlSeconds: 30 });
    // Exclusive: the second acquirer's insert meets the first's (acknowledged) document.
    const rival = track(open());
    await expect(rival.lease.acquire({ ttlSeconds: 30 }), what).rejects.toBeInstanceOf(LeaseHeldError);
    await storage.save(fullSession(1));
    expect(plain(await storage.load()), what).toEqual(fullSession(1));
    await storage.kv.set('k', new Uint8Array([1, 2, 3]));
    expect(plain(await storage.kv.get('k')), what).toEqual(new Uint8Array([1, 2, 3]));
    await storage.peers.upsert([peer('user', 7)]);
    expect((await storage.peers.getById('user', 7n))?.accessHash, what).toBe(7n * 7919n + 13n);
    await storage.delete();
    expect(await storage.load(), what).toBeNull();
  }

  describe("the application's client and Db settings do not reach mtstore's operations", () => {
    for (const [label, settings] of APP_SETTINGS) {
      it(`a client with ${label}, and a Db of another name with ${label}`, async () => {
        const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5_000, ...settings });
        try {
          const database = fresh();
          await roundTrip(() => new MongoStorage({ client, database, name: 'alice' }), `client, ${label}`);
          const plainClient = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5_000 });
          try {
            const other = fresh();
            await roundTrip(() => new MongoStorage({ db: plainClient.db(other, settings), name: 'bob' }), `Db, ${label}`);
          } finally {
            await plainClient.close();
          }
          const sessions = track(new MongoSessionStorage({ client, database }));
          expect(await sessions.createSession(1n, 2n)).toBe(true);
          expect(await sessions.listSessions(1n)).toEqual([2n]);
          const heard: SessionEvent[] = [];
          const listener = track(new MongoSessionEventBus({ client, database, pollInterval: 20 }));
          await listener.subscribe((event) => heard.push(event));
          await track(new MongoSessionEventBus({ client, database })).publish({ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'app' });
          await waitFor(() => heard.length === 1, 5_000, `the event, ${label}`);
          expect(heard[0]).toMatchObject({ type: 'created', authKeyId: 1n, sessionId: 2n });
        } finally {
          await client.close();
        }
      });
    }

    it('a URL with w=0 and promoteValues=false: the client mtstore makes from it gets the same own Db', async () => {
      const database = fresh();
      await roundTrip(() => new MongoStorage({ url: urlFor(database, 'w=0&promoteValues=false'), name: 'alice' }), 'url');
    });

    it('every write is majority-acknowledged and every read from the primary at read concern local, whatever the client says', async () => {
      const client = new MongoClient(MONGODB_URL, {
        serverSelectionTimeoutMS: 5_000,
        monitorCommands: true,
        writeConcern: { w: 1, journal: false },
        readPreference: 'secondaryPreferred',
        readConcern: { level: 'available' },
      });
      const commands: CommandStartedEvent[] = [];
      client.on('commandStarted', (event) => commands.push(event));
      try {
        const storage = track(new MongoStorage({ client, database: fresh(), name: 'alice' }));
        await storage.lease.acquire({ ttlSeconds: 30 });
        await storage.save(fullSession(1));
        await storage.load();
        await storage.kv.set('k', new Uint8Array([1]));
        await storage.kv.entries();
        await storage.delete();
        const writes = commands.filter((e) => ['insert', 'update', 'delete', 'findAndModify', 'createIndexes'].includes(e.commandName));
        const reads = commands.filter((e) => ['find', 'aggregate', 'distinct', 'count'].includes(e.commandName));
        expect(writes.length).toBeGreaterThan(5);
        expect(reads.length).toBeGreaterThan(3);
        for (const e of writes) expect(e.command.writeConcern, e.commandName).toEqual({ w: 'majority' });
        for (const e of reads) {
          expect(e.command.readConcern, e.commandName).toEqual({ level: 'local' });
          // Sent only for a non-primary mode (mongos, or a direct connection made secondary-ok).
          expect(e.command.$readPreference?.mode ?? 'primary', e.commandName).toBe('primary');
        }
      } finally {
        await client.close();
      }
    });
  });
}
