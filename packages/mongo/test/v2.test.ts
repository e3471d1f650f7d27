/**
 * Contract v2 specifics the kit cannot see: the stored layout of keys, kv entries and
 * reference messages, the v1 → v2 migration on documents written in the v1 layout,
 * and key writes of one session from two instances at once.
 */
import { describe, expect, it } from 'vitest';
import { Binary, Long, type Document } from 'mongodb';
import { authKey, fullSession, minimalSession, peer } from '@mtstore/conformance/vitest';
import { SCHEMA_VERSION } from '../src/index.js';
import { adminClient, plain, scratch, server } from './server.js';

if (server.available) {
  const { fresh, open } = scratch();
  const raw = (database: string) => adminClient().db(database);
  const rawDoc = async (database: string, collection: string, _id: string) =>
    (await raw(database).collection(collection).findOne({ _id: _id as never }, { promoteLongs: false, promoteBuffers: false })) as Document;


  describe('layout', () => {
    it('auth keys are dotted fields of the per-name document, which needs no snapshot', async () => {
      const database = fresh();
      const storage = open(database);
      await storage.authKeys.set(2, authKey(1));
      await storage.authKeys.setTemp(2, { index: 3, key: authKey(2), expiresAt: 1_900_000_000 });
      await storage.authKeys.setTemp(2, { index: 1, key: authKey(3), expiresAt: 1_900_000_001 });
      expect(await storage.load()).toBeNull(); // keys alone are no snapshot
      const doc = await rawDoc(database, 'mtstore_sessions', 'alice');
      expect(Object.keys(doc).sort()).toEqual(['_id', 'keys']);
      expect(doc.keys.dc2.main.authKey).toBeInstanceOf(Binary);
      expect(Object.keys(doc.keys.dc2.main.temp)).toEqual(['s3', 's1']);
      expect(doc.keys.dc2.main.temp.s3.expiresAt).toBe(1_900_000_000);
      // The snapshot arrives through update(): the keys stay, the DC entry shows them (temp keys by slot).
      await storage.update({ homeDcId: 2, dcs: [{ id: 2, host: 'vesta.web.telegram.org', port: 443 }] });
      const loaded = plain(await storage.load());
      expect(loaded?.dcs).toEqual([
        {
          id: 2,
          host: 'vesta.web.telegram.org',
          port: 443,
          authKey: authKey(1),
          tempAuthKeys: [
            { index: 1, key: authKey(3), expiresAt: 1_900_000_001 },
            { index: 3, key: authKey(2), expiresAt: 1_900_000_000 },
          ],
        },
      ]);
      await storage.authKeys.deleteTemp(2, 3);
      await storage.authKeys.deleteByDc(4); // absent: nothing happens
      expect(Object.keys((await rawDoc(database, 'mtstore_sessions', 'alice')).keys.dc2.main.temp)).toEqual(['s1']);
      await storage.authKeys.deleteByDc(2);
      expect((await rawDoc(database, 'mtstore_sessions', 'alice')).keys).toEqual({});
      expect(plain(await storage.load())?.dcs).toEqual([{ id: 2, host: 'vesta.web.telegram.org', port: 443 }]);
    });

    it('self usernames and premium are stored as given; absent stays absent', async () => {
      const database = fresh();
      const storage = open(database);
      const session = minimalSession();
      session.user = { id: 5n, dcId: 2, bot: false, usernames: ['Main', 'second'], premium: false };
      await storage.save(session);
      expect((await rawDoc(database, 'mtstore_sessions', 'alice')).user).toEqual({ id: Long.fromNumber(5), dcId: 2, bot: false, usernames: ['Main', 'second'], premium: false });
      await storage.update({ user: { id: 5n, dcId: 2, bot: false } });
      expect((await rawDoc(database, 'mtstore_sessions', 'alice')).user).toEqual({ id: Long.fromNumber(5), dcId: 2, bot: false });
    });

    it('kv entries are one document each; save() and peers leave them alone', async () => {
      const database = fresh();
      const storage = open(database);
      await storage.kv.set('salts/dc2', Uint8Array.of(1, 2, 3));
      await storage.kv.set('a', new Uint8Array(65_536).fill(7));
      await storage.save(fullSession(1));
      const doc = await rawDoc(database, 'mtstore_kv', 'alice/salts/dc2');
      expect(doc).toMatchObject({ session: 'alice', key: 'salts/dc2' });
      expect(doc.value).toBeInstanceOf(Binary);
      expect(await raw(database).collection('mtstore_kv').countDocuments({ session: 'alice' })).toBe(2);
      expect((await storage.kv.entries()).map((e) => e.key)).toEqual(['a', 'salts/dc2']);
      expect(await rawDoc(database, 'mtstore_sessions', 'alice')).not.toHaveProperty('kv');
    });

    it('reference messages carry a per-session sequence from a counter document', async () => {
      const database = fresh();
      const storage = open(database);
      await storage.refMessages.store(7n, -100123n, 10);
      await storage.refMessages.store(7n, -100123n, 11);
      await storage.refMessages.store(7n, -100123n, 10); // again: now the most recent
      const counter = await rawDoc(database, 'mtstore_ref_messages', 'alice');
      expect(counter).toEqual({ _id: 'alice', seq: Long.fromNumber(3) });
      const ref = await rawDoc(database, 'mtstore_ref_messages', 'alice/7/-100123/10');
      expect(ref).toMatchObject({ session: 'alice', message: 10 });
      expect(ref.peer).toBeInstanceOf(Long);
      expect(ref.chat.toBigInt()).toBe(-100123n);
      expect(ref.seq.toNumber()).toBe(3);
      expect(await storage.refMessages.getByPeer(7n)).toEqual({ chatId: -100123n, messageId: 10 });
      // clear() keeps the counter: references stored later still sort after the cleared ones would have.
      await storage.refMessages.clear();
      expect(await raw(database).collection('mtstore_ref_messages').countDocuments()).toBe(1);
      await storage.refMessages.store(8n, 1n, 1);
      expect((await rawDoc(database, 'mtstore_ref_messages', 'alice/8/1/1')).seq.toNumber()).toBe(4);
      // delete() removes the name's counter too.
      await storage.delete();
      expect(await raw(database).collection('mtstore_ref_messages').countDocuments()).toBe(0);
    });

    it('listNames sees names with only keys, only peers, only kv or only references', async () => {
      const database = fresh();
      await open(database, 'k').authKeys.set(1, authKey(1));
      await open(database, 'p').peers.upsert([peer('user', 1)]);
      await open(database, 'v').kv.set('x', Uint8Array.of(1));
      await open(database, 'r').refMessages.store(1n, 2n, 3);
      expect(await open(database, 'other').listNames()).toEqual(['k', 'p', 'r', 'v']);
    });
  });

  describe('key writes from two instances', () => {
    // On FerretDB 1.x this holds through the lease (writeMode auto → locked): with
    // writeMode 'atomic' there, this test fails (FerretDB's $set is a read-modify-write).
    it('concurrent writers of different keys of one session lose none of them', async () => {
      const database = fresh();
      const a = open(database);
      const b = open(database);
      await a.save(minimalSession());
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 8; i++) {
        writes.push(a.authKeys.setTemp(2, { index: i, key: authKey(i), expiresAt: 1_900_000_000 + i }));
        writes.push(b.authKeys.set(10 + i, authKey(100 + i)));
      }
      writes.push(a.saveUpdateState({ pts: 5, qts: 1, date: 1, seq: 1 }));
      await Promise.all(writes);
      for (let i = 0; i < 8; i++) {
        expect(plain(await b.authKeys.getTemp(2, i))).toEqual({ index: i, key: authKey(i), expiresAt: 1_900_000_000 + i });
        expect(plain(await a.authKeys.get(10 + i))).toEqual(authKey(100 + i));
      }
      expect((await a.load())?.state?.pts).toBe(5);
    });
  });

  describe('migration from schema v1', () => {
    /** A store exactly as @mtstore/mongo 0.1 (schema v1) left it: keys inside DC entries, user.username. */
    async function writeV1(database: string): Promise<void> {
      const db = raw(database);
      await db.collection('mtstore_meta').insertOne({ _id: 'schema' as never, version: 1 });
      await db.collection('mtstore_peers').createIndex({ session: 1 }, { name: 'session' });
      await db.collection('mtstore_peer_index').createIndex({ session: 1 }, { name: 'session' });
      await db.collection('mtstore_server_sessions').createIndex({ authKeyId: 1, sessionId: 1 }, { name: 'authKeyId_sessionId', unique: true });
      const bin = (seed: number) => new Binary(authKey(seed));
      await db.collection('mtstore_sessions').insertMany([
        {
          _id: 'alice' as never,
          version: 1,
          homeDcId: 2,
          dcs: [
            { id: 1, ipv4: '149.154.175.53', port: 443, authKey: bin(1) },
            {
              id: 2,
              ipv4: '149.154.167.51',
              ipv6: '2001:67c:4e8:f002::a',
              port: 443,
              testMode: false,
              mediaOnly: false,
              authKey: bin(2),
              tempAuthKeys: [
                { index: 1, key: bin(4), expiresAt: 1_900_000_100 },
                { index: 0, key: bin(3), expiresAt: 1_900_000_000 },
              ],
            },
            { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true, authKey: bin(5) },
            { id: 4, ipv6: '2001:67c:4e8:f004::a', port: 80, testMode: true },
          ],
          apiId: 10_001,
          user: { id: Long.fromBigInt(123456789n), dcId: 2, bot: false, username: 'Durov' },
          state: { pts: 1, qts: 2, date: 1_700_000_000, seq: 3 },
          channels: { c5: { id: Long.fromNumber(5), pts: 50, order: 1 }, c4: { id: Long.fromNumber(4), pts: 40, order: 0 } },
          takeoutId: Long.fromBigInt(-7n),
        },
        { _id: 'bob' as never, version: 1, homeDcId: 1, dcs: [{ id: 1, ipv4: '149.154.175.53', port: 443 }], user: { id: Long.fromNumber(9), dcId: 1, bot: true }, channels: {} },
      ]);
      await db.collection('mtstore_peers').insertOne({
        _id: 'alice/user/7' as never,
        session: 'alice',
        type: 'user',
        id: Long.fromNumber(7),
        accessHash: Long.fromBigInt(-9n),
        usernames: ['Seven'],
        updatedAt: 1_700_000_000,
      });
      await db.collection('mtstore_peer_index').insertOne({ _id: 'alice/u/seven' as never, session: 'alice', peer: 'alice/user/7', username: 'Seven' });
    }

    it('opens a v1 store and reads back everything, keys included; the documents are in the v2 layout', async () => {
      const database = fresh();
      await writeV1(database);
      const alice = open(database);
      expect(plain(await alice.load())).toEqual({
        version: 1,
        homeDcId: 2,
        dcs: [
          { id: 1, ipv4: '149.154.175.53', port: 443, authKey: authKey(1) },
          {
            id: 2,
            ipv4: '149.154.167.51',
            ipv6: '2001:67c:4e8:f002::a',
            port: 443,
            testMode: false,
            mediaOnly: false,
            authKey: authKey(2),
            tempAuthKeys: [
              { index: 0, key: authKey(3), expiresAt: 1_900_000_000 },
              { index: 1, key: authKey(4), expiresAt: 1_900_000_100 },
            ],
          },
          { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true, authKey: authKey(5) },
          { id: 4, ipv6: '2001:67c:4e8:f004::a', port: 80, testMode: true },
        ],
        apiId: 10_001,
        user: { id: 123456789n, dcId: 2, bot: false, usernames: ['Durov'] },
        state: { pts: 1, qts: 2, date: 1_700_000_000, seq: 3 },
        channels: [
          { id: 4n, pts: 40 },
          { id: 5n, pts: 50 },
        ],
        takeoutId: -7n,
      });
      expect(plain(await alice.authKeys.getTemp(2, 1))).toEqual({ index: 1, key: authKey(4), expiresAt: 1_900_000_100 });
      expect(await alice.peers.getByUsername('seven')).toMatchObject({ id: 7n, accessHash: -9n });
      expect((await open(database, 'bob').load())?.user).toEqual({ id: 9n, dcId: 1, bot: true });
      expect(await alice.listNames()).toEqual(['alice', 'bob']);

      const doc = await rawDoc(database, 'mtstore_sessions', 'alice');
      expect(doc).not.toHaveProperty('version');
      expect(doc.dcs.every((dc: Document) => !('authKey' in dc) && !('tempAuthKeys' in dc))).toBe(true);
      expect(Object.keys(doc.keys).sort()).toEqual(['dc1', 'dc2']);
      expect(Object.keys(doc.keys.dc2).sort()).toEqual(['main', 'media']);
      expect(doc.user).not.toHaveProperty('username');
      expect(await raw(database).collection('mtstore_meta').findOne({})).toEqual({ _id: 'schema', version: SCHEMA_VERSION });
    });

    it('is idempotent: migrating again, or in a second process, changes nothing', async () => {
      const database = fresh();
      await writeV1(database);
      await open(database).load();
      const before = await raw(database).collection('mtstore_sessions').find({}, { sort: { _id: 1 } }).toArray();
      // As if another process had read version 1 and migrated after this one.
      await raw(database).collection('mtstore_meta').updateOne({ _id: 'schema' as never }, { $set: { version: 1 } });
      // A new instance has its own client, so it runs the migration again.
      expect(await open(database).load()).not.toBeNull();
      expect(await raw(database).collection('mtstore_sessions').find({}, { sort: { _id: 1 } }).toArray()).toEqual(before);
    });

    it('a v1 document written by a v1 process after the migration is still migrated by the next opener', async () => {
      const database = fresh();
      await writeV1(database);
      await open(database).load();
      await raw(database).collection('mtstore_meta').updateOne({ _id: 'schema' as never }, { $set: { version: 1 } });
      await raw(database)
        .collection('mtstore_sessions')
        .insertOne({ _id: 'carol' as never, version: 1, homeDcId: 1, dcs: [{ id: 1, ipv4: '1.2.3.4', port: 443, authKey: new Binary(authKey(9)) }], channels: {} });
      expect(plain(await open(database, 'carol').authKeys.get(1))).toEqual(authKey(9));
    });
  });
}
