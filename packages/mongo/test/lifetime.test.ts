/**
 * Server session lifetime on MongoDB / FerretDB: the v2 → v3 migration (server session
 * documents without times live on), the documented fields, and the index the sweep
 * uses (a TTL index where the server has them; FerretDB 1.x does not, and gets a plain one).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomNamespace } from '@mtstore/conformance/vitest';
import { MongoSessionStorage, SCHEMA_VERSION } from '../src/index.js';
import { adminClient, dropDatabase, server, urlFor } from './server.js';

describe.runIf(server.available)('server session lifetime', () => {
  const databases: string[] = [];
  const opened: MongoSessionStorage[] = [];
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close().catch(() => undefined);
    for (const d of databases.splice(0)) await dropDatabase(d);
  });
  const fresh = () => {
    const name = randomNamespace();
    databases.push(name);
    return name;
  };

  it('migration v2 → v3: sessions without times live on (no expiry, last used at the migration, by the storage clock); the expiresAt index exists', async () => {
    const database = fresh();
    const db = adminClient().db(database);
    await db.collection('mtstore_meta').insertOne({ _id: 'schema' as never, version: 2 });
    await db.collection('mtstore_server_sessions').createIndex({ authKeyId: 1, sessionId: 1 }, { name: 'authKeyId_sessionId', unique: true });
    await db.collection('mtstore_server_sessions').insertOne({ _id: '5:6' as never, authKeyId: 5n, sessionId: 6n });
    // A clock far from the machine's: the migration's lastUsedAt is the storage's clock, as every other write's (contract §7.1).
    const migratedAt = 1_500_000_000_000;
    let now = migratedAt;
    const storage = new MongoSessionStorage({ url: urlFor(database), ttlSeconds: 60, clock: () => now });
    opened.push(storage);
    const info = await storage.sessionInfo(5n, 6n);
    expect(info?.expiresAt).toBeNull();
    expect(info?.lastUsedAt).toBe(migratedAt);
    expect(await db.collection('mtstore_meta').findOne({ _id: 'schema' as never })).toEqual({ _id: 'schema', version: SCHEMA_VERSION });
    const index = (await db.collection('mtstore_server_sessions').listIndexes().toArray()).find((i) => i.name === 'expiresAt');
    expect(index?.key).toEqual({ expiresAt: 1 });
    const ferret = typeof (await db.command({ buildInfo: 1 })).ferretdbVersion === 'string';
    // MongoDB: the TTL monitor's backstop; FerretDB 1.x has no TTL indexes.
    expect(index?.expireAfterSeconds).toBe(ferret ? undefined : 3600);
    // A session created now is stored with its times, as documented.
    await storage.createSession(5n, 7n);
    const doc = await db.collection('mtstore_server_sessions').findOne({ _id: '5:7' as never });
    expect(doc?.lastUsedAt).toBe(now);
    expect(doc?.expiresAt).toEqual(new Date(now + 60_000));
    now += 60_000;
    expect(await storage.listSessions(5n)).toEqual([6n]);
    expect(await storage.expireSessions()).toEqual([{ authKeyId: 5n, sessionId: 7n }]);
    expect(await db.collection('mtstore_server_sessions').countDocuments()).toBe(1);
  });
});
