/**
 * authKeys.set (the rewrite of a stored key), peers.getByPhone and getByUsername address the session by
 * its row id as last resolved (scope.ts rowId). Another instance (here a second storage
 * on the file, as another process would be) that deletes the name and creates it again
 * gives it a new row id: the next write or lookup must land on the new session, never
 * on the old id.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { authKey, minimalSession, peer } from '@mtstore/conformance';
import { SqliteStorage } from '../src/index.js';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('session-id');
afterAll(temp.remove);

const rowIdOf = (storage: SqliteStorage, name: string): bigint | undefined =>
  storage.database.prepare('SELECT id FROM mtstore_sessions WHERE name = ?').pluck().safeIntegers(true).get(name) as bigint | undefined;

const keySessions = (storage: SqliteStorage): bigint[] => storage.database.prepare('SELECT DISTINCT session_id FROM mtstore_auth_keys').pluck().safeIntegers(true).all() as bigint[];

describe('the session row id across instances', () => {
  it('authKeys.set after another instance deleted and re-created the session writes the new session', async () => {
    const path = temp.file('keys.db');
    const a = new SqliteStorage({ path, name: 'alice' });
    const b = new SqliteStorage({ path, name: 'alice' });
    try {
      // Twice: the second rewrites the stored key by the row id A keeps.
      await a.authKeys.set(2, authKey(1));
      await a.authKeys.set(2, authKey(2));
      const old = rowIdOf(a, 'alice');
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(2));

      await b.delete();
      await b.authKeys.set(2, authKey(3));
      const recreated = rowIdOf(b, 'alice');
      expect(recreated).not.toBe(old);

      // A key for DC 2 is stored again (under the new id): A's rewrites must reach it.
      await a.authKeys.set(2, authKey(4));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(4));
      await a.authKeys.set(2, authKey(5));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(5));
      expect(keySessions(a)).toEqual([recreated]);

      // Deleted and re-created with no key for the DC: A's write creates it under the new id.
      await b.delete();
      await b.authKeys.set(4, authKey(6));
      const third = rowIdOf(b, 'alice');
      await a.authKeys.set(2, authKey(7));
      await a.authKeys.set(2, authKey(8));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(8));
      expect(plain(await b.authKeys.get(4))).toEqual(authKey(6));
      expect(keySessions(a)).toEqual([third]);

      // Deleted and not re-created: A's write creates the name's row again.
      await b.delete();
      await a.authKeys.set(2, authKey(9));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(9));
      expect(keySessions(a)).toEqual([rowIdOf(a, 'alice')]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('under a held lease the rewrite by row id lands; after a takeover it is refused and writes nothing', async () => {
    const path = temp.file('lease.db');
    const a = new SqliteStorage({ path, name: 'alice' });
    const b = new SqliteStorage({ path, name: 'alice' });
    try {
      await a.authKeys.set(2, authKey(1));
      await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
      await a.authKeys.set(2, authKey(2));
      await a.authKeys.set(2, authKey(3));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(3));
      await b.lease.acquire({ ttlSeconds: 60, heartbeat: false, force: true });
      await expect(a.authKeys.set(2, authKey(4))).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(3));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('authKeys.set after another instance deleted the key and wrote it again (a new key row id) writes the new row', async () => {
    const path = temp.file('key-row.db');
    const a = new SqliteStorage({ path, name: 'alice' });
    const b = new SqliteStorage({ path, name: 'alice' });
    const keyRowId = (): bigint | undefined =>
      a.database.prepare('SELECT id FROM mtstore_auth_keys WHERE dc_id = 2 AND slot = -1').pluck().safeIntegers(true).get() as bigint | undefined;
    try {
      // Twice: the second rewrites the stored key by the key row id A keeps.
      await a.authKeys.set(2, authKey(1));
      await a.authKeys.set(2, authKey(2));
      const old = keyRowId();

      await b.authKeys.delete(2);
      await b.authKeys.set(2, authKey(3));
      expect(keyRowId()).not.toBe(old);
      await a.authKeys.set(2, authKey(4));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(4));
      await a.authKeys.set(2, authKey(5));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(5));

      // A snapshot save rewrites every key row (new ids); deleted with nothing written after.
      await b.save({ ...minimalSession(), dcs: [{ id: 2, port: 443, authKey: authKey(6) }] });
      await a.authKeys.set(2, authKey(7));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(7));
      await b.authKeys.deleteByDc(2);
      await a.authKeys.set(2, authKey(8));
      expect(plain(await b.authKeys.get(2))).toEqual(authKey(8));
      expect(a.database.prepare('SELECT count(*) FROM mtstore_auth_keys').pluck().get()).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a key row id read inside the application’s transaction on a borrowed database is not kept: after a rollback that id may name another session’s key', async () => {
    const db = new Database(temp.file('rollback.db'));
    const alice = new SqliteStorage({ database: db, name: 'alice' });
    const bob = new SqliteStorage({ database: db, name: 'bob' });
    try {
      await bob.authKeys.set(4, authKey(1));
      db.exec('BEGIN');
      // Twice inside the transaction: the second finds the first's row (and its id).
      await alice.authKeys.set(2, authKey(2));
      await alice.authKeys.set(2, authKey(3));
      db.exec('ROLLBACK');
      // AUTOINCREMENT's counter rolled back too: Bob's next key row gets the id Alice's had.
      await bob.authKeys.set(2, authKey(4));
      await alice.authKeys.set(2, authKey(5));
      await alice.authKeys.set(2, authKey(6));
      expect(plain(await bob.authKeys.get(2))).toEqual(authKey(4));
      expect(plain(await alice.authKeys.get(2))).toEqual(authKey(6));
    } finally {
      await alice.close();
      await bob.close();
      db.close();
    }
  });

  it('a session row id read inside the application’s transaction on a borrowed database is not kept: after a rollback that id may name another session', async () => {
    const db = new Database(temp.file('rollback-session.db'));
    const bob = new SqliteStorage({ database: db, name: 'bob' });
    const alice = new SqliteStorage({ database: db, name: 'alice' });
    const carol = new SqliteStorage({ database: db, name: 'carol' });
    try {
      await bob.authKeys.set(2, authKey(1));
      db.exec('BEGIN');
      await alice.peers.upsert([peer('user', 1, { accessHash: 10n, usernames: ['alice_friend'], phone: '100' })]);
      const aliceId = rowIdOf(alice, 'alice');
      // Each lookup goes by name and reads Alice's row id (created in this transaction).
      expect((await alice.peers.getById('user', 1n))?.accessHash).toBe(10n);
      expect((await alice.peers.getByPhone('100'))?.accessHash).toBe(10n);
      expect((await alice.peers.getByUsername('alice_friend'))?.accessHash).toBe(10n);
      db.exec('ROLLBACK');
      // AUTOINCREMENT's counter rolled back too: Carol's row gets the id Alice's had.
      await carol.peers.upsert([peer('user', 1, { accessHash: 30n, usernames: ['alice_friend'], phone: '100' })]);
      expect(rowIdOf(carol, 'carol')).toBe(aliceId);
      expect(await alice.peers.getById('user', 1n)).toBeNull();
      expect(await alice.peers.getByPhone('100')).toBeNull();
      expect(await alice.peers.getByUsername('alice_friend')).toBeNull();
      // Keys too: authKeys.set by a kept session id would land in Carol's session.
      await carol.authKeys.set(3, authKey(3));
      await alice.authKeys.set(3, authKey(4));
      expect(plain(await carol.authKeys.get(3))).toEqual(authKey(3));
      expect(plain(await alice.authKeys.get(3))).toEqual(authKey(4));
    } finally {
      await alice.close();
      await bob.close();
      await carol.close();
      db.close();
    }
  });

  it('peers.getByPhone after another instance deleted and re-created the session reads the new session', async () => {
    const path = temp.file('phone.db');
    const a = new SqliteStorage({ path, name: 'alice' });
    const b = new SqliteStorage({ path, name: 'alice' });
    try {
      await b.peers.upsert([peer('user', 1, { accessHash: 10n, phone: '100' }), peer('user', 2, { accessHash: 20n, phone: '200' })]);
      // A resolves (and keeps) the row id of 'alice', then reads by it.
      expect((await a.peers.getByPhone('100'))?.accessHash).toBe(10n);
      expect((await a.peers.getByPhone('200'))?.accessHash).toBe(20n);

      await b.delete();
      await b.peers.upsert([peer('user', 3, { accessHash: 30n, phone: '100' })]);
      const phone100 = await a.peers.getByPhone('100');
      expect(phone100?.id).toBe(3n);
      expect(phone100?.accessHash).toBe(30n);
      expect(await a.peers.getByPhone('200')).toBeNull();

      await b.delete();
      expect(await a.peers.getByPhone('100')).toBeNull();
      await b.peers.upsert([peer('user', 4, { accessHash: 40n, phone: '100' })]);
      expect((await a.peers.getByPhone('100'))?.accessHash).toBe(40n);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('peers.getByUsername after another instance deleted and re-created the session reads the new session', async () => {
    const path = temp.file('username.db');
    const a = new SqliteStorage({ path, name: 'alice' });
    const b = new SqliteStorage({ path, name: 'alice' });
    try {
      await b.peers.upsert([peer('user', 1, { accessHash: 10n, usernames: ['one'] }), peer('user', 2, { accessHash: 20n, usernames: ['two'] })]);
      // A resolves (and keeps) the row id of 'alice', then reads by it.
      expect((await a.peers.getByUsername('one'))?.accessHash).toBe(10n);
      expect((await a.peers.getByUsername('two'))?.accessHash).toBe(20n);

      await b.delete();
      await b.peers.upsert([peer('user', 3, { accessHash: 30n, usernames: ['one'] })]);
      const one = await a.peers.getByUsername('one');
      expect(one?.id).toBe(3n);
      expect(one?.accessHash).toBe(30n);
      expect(await a.peers.getByUsername('two')).toBeNull();

      await b.delete();
      expect(await a.peers.getByUsername('one')).toBeNull();
      await b.peers.upsert([peer('user', 4, { accessHash: 40n, usernames: ['one'] })]);
      expect((await a.peers.getByUsername('one'))?.accessHash).toBe(40n);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('another name in the file is another session for authKeys.set, getByPhone and getByUsername', async () => {
    const path = temp.file('names.db');
    const alice = new SqliteStorage({ path, name: 'alice' });
    const bob = new SqliteStorage({ path, name: 'bob' });
    try {
      for (let i = 0; i < 2; i++) {
        await alice.authKeys.set(2, authKey(10 + i));
        await bob.authKeys.set(2, authKey(20 + i));
      }
      // Both keep their row ids now: a rewrite by one leaves the other's key alone.
      await alice.authKeys.set(2, authKey(12));
      expect(plain(await alice.authKeys.get(2))).toEqual(authKey(12));
      expect(plain(await bob.authKeys.get(2))).toEqual(authKey(21));
      await alice.peers.upsert([peer('user', 1, { accessHash: 10n, phone: '100' })]);
      await bob.peers.upsert([peer('user', 2, { accessHash: 20n, phone: '100' })]);
      await alice.peers.upsert([peer('user', 3, { accessHash: 30n, usernames: ['same'] })]);
      await bob.peers.upsert([peer('user', 4, { accessHash: 40n, usernames: ['same'] })]);
      for (let i = 0; i < 2; i++) {
        expect((await alice.peers.getByPhone('100'))?.id).toBe(1n);
        expect((await bob.peers.getByPhone('100'))?.id).toBe(2n);
        expect((await alice.peers.getByUsername('same'))?.id).toBe(3n);
        expect((await bob.peers.getByUsername('same'))?.id).toBe(4n);
      }
    } finally {
      await alice.close();
      await bob.close();
    }
  });
});
