/**
 * The lease fence in the database (lease.ts, docs/contract.md §12) across
 * connections: a takeover made through another connection to the same file — which
 * this process's lease state knows nothing about — still stops the old holder's very
 * next write, because the token is compared inside the write's own transaction.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { authKey, minimalSession } from '@mtstore/conformance';
import { SqliteStorage } from '../src/index.js';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('fence');
afterAll(temp.remove);

const LOST = 'MTSTORE_LEASE_LOST';
/** A valid session other than minimalSession(). */
const moved = () => ({ ...minimalSession(), homeDcId: 4, dcs: [{ id: 4, port: 443, authKey: authKey(3) }] });

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (error: { code?: unknown }) => error.code,
  );
}

describe('lease fence across connections to one file', () => {
  it('another connection takes the lease with force: the old holder’s next writes are refused and nothing of them lands', async () => {
    const path = temp.file('force.session');
    const old = new SqliteStorage({ path, name: 'shared' });
    const other = new Database(path);
    // The same file through a connection of its own (borrowed): not the old holder's.
    const operator = new SqliteStorage({ database: other, name: 'shared' });
    try {
      await old.save(minimalSession());
      await old.kv.set('k', new Uint8Array([1]));
      const lost: Error[] = [];
      const first = await old.lease.acquire({ ttlSeconds: 60, heartbeat: false, onLost: (error) => lost.push(error) });
      // The holder's writes pass the database check while its token is the stored one.
      await old.kv.set('k', new Uint8Array([2]));
      const taken = await operator.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false });
      expect(taken.token > first.token).toBe(true);

      expect(await codeOf(old.kv.set('k', new Uint8Array([3]))), 'kv.set right after the takeover').toBe(LOST);
      expect(old.lease.held, 'the refusal told the old holder').toBeNull();
      expect(lost).toHaveLength(1);
      expect(await codeOf(old.save(moved())), 'save afterwards (local fence)').toBe(LOST);

      expect(await operator.kv.get('k')).toEqual(new Uint8Array([2]));
      expect((await operator.load())?.homeDcId).toBe(minimalSession().homeDcId);
      expect(operator.lease.held?.token).toBe(taken.token);
    } finally {
      await old.close();
      await operator.close();
      other.close();
    }
  });

  it('a token changed by hand in another connection fences the holder: every kind of write is checked by the database', async () => {
    const path = temp.file('by-hand.session');
    const other = new Database(path);
    try {
      // One holder per write kind, each fenced off by a raw UPDATE of its name's row.
      const writes: [string, (s: SqliteStorage) => Promise<unknown>][] = [
        ['save', (s) => s.save(moved())],
        ['update', (s) => s.update({ apiId: 77 })],
        ['saveUpdateState', (s) => s.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 })],
        ['saveUpdateState with channels', (s) => s.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }])],
        ['authKeys.set', (s) => s.authKeys.set(2, authKey(9))],
        ['authKeys.delete', (s) => s.authKeys.delete(2)],
        ['kv.set', (s) => s.kv.set('k', new Uint8Array([9]))],
        ['kv.delete', (s) => s.kv.delete('k')],
        ['refMessages.delete', (s) => s.refMessages.delete(-100n, [5])],
        ['delete', (s) => s.delete()],
      ];
      for (const [what, write] of writes) {
        const name = what.replace(/[^a-z]/gi, '_');
        const storage = new SqliteStorage({ path, name });
        try {
          await storage.save(minimalSession());
          await storage.authKeys.set(2, authKey(2));
          await storage.kv.set('k', new Uint8Array([2]));
          await storage.refMessages.store(7n, -100n, 5);
          await storage.lease.acquire({ ttlSeconds: 60, heartbeat: false });
          other.prepare('UPDATE mtstore_leases SET token = token + 1 WHERE name = ?').run(name);

          expect(await codeOf(write(storage)), what).toBe(LOST);
          expect(storage.lease.held, `${what}: the holder knows`).toBeNull();
          const loaded = await storage.load();
          expect(loaded?.apiId, `${what} changed nothing`).toBe(minimalSession().apiId);
          expect(loaded?.homeDcId, `${what} changed nothing`).toBe(minimalSession().homeDcId);
          expect(loaded?.state, `${what} changed nothing`).toBeUndefined();
          expect(loaded?.channels, `${what} changed nothing`).toEqual([]);
          expect(plain(await storage.authKeys.get(2)), `${what} changed nothing`).toEqual(authKey(2));
          expect(await storage.kv.get('k'), `${what} changed nothing`).toEqual(new Uint8Array([2]));
          expect(await storage.refMessages.getByPeer(7n), `${what} changed nothing`).toEqual({ chatId: -100n, messageId: 5 });
        } finally {
          await storage.close();
        }
      }
    } finally {
      other.close();
    }
  });

  it('without a lease no write looks at the lease table: a file that never saw a lease gets none', async () => {
    const path = temp.file('unleased.session');
    const storage = new SqliteStorage({ path, name: 'free' });
    try {
      await storage.save(minimalSession());
      await storage.update({ apiId: 5 });
      await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }]);
      await storage.authKeys.set(2, authKey(2));
      await storage.kv.set('k', new Uint8Array([1]));
      await storage.peers.clear();
      await storage.refMessages.store(7n, -100n, 5);
      const tables = storage.database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%leases'`).pluck().all();
      expect(tables).toEqual([]);
      expect((await storage.load())?.apiId).toBe(5);
    } finally {
      await storage.close();
    }
  });
});
