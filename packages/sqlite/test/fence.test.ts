/**
 * The lease fence in the database (lease.ts, docs/contract.md §12) across
 * connections: a takeover made through another connection to the same file — which
 * this process's lease state knows nothing about — still stops the old holder's very
 * next write, because the token is compared inside the write's own transaction.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { authKey, minimalSession, peer } from '@mtstore/conformance';
import { SqliteStorage } from '../src/index.js';
import { prepareKeys } from '../src/keys.js';
import { prepareKv } from '../src/kv.js';
import { FencedStatement } from '../src/lease.js';
import { prepareRefs } from '../src/refs.js';
import { tableNames } from '../src/schema.js';
import { Child } from './child.js';
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

  it('a stored key is rewritten under the token kept in its row: every lease change of any connection moves it, so a takeover refuses the old holder’s rewrite', async () => {
    const path = temp.file('rewrite.session');
    const old = new SqliteStorage({ path, name: 'keys' });
    const other = new Database(path);
    const operator = new SqliteStorage({ database: other, name: 'keys' });
    // The same name without a lease, and another name: neither is fenced, and neither's rows move.
    const free = new SqliteStorage({ path, name: 'keys' });
    const neighbour = new SqliteStorage({ path, name: 'neighbour' });
    const tokens = (): unknown[] =>
      other
        .prepare(`SELECT s.name, k.dc_id, b.lease_token FROM mtstore_auth_keys k JOIN mtstore_auth_key_bytes b ON b.id = k.id JOIN mtstore_sessions s ON s.id = k.session_id ORDER BY s.name, k.dc_id`)
        .raw()
        .all();
    try {
      await old.authKeys.set(2, authKey(1));
      await old.authKeys.set(4, authKey(1));
      await neighbour.authKeys.set(2, authKey(1));
      expect(tokens(), 'written without a lease: no token').toEqual([['keys', 2, null], ['keys', 4, null], ['neighbour', 2, null]]);
      const lost: Error[] = [];
      const first = Number((await old.lease.acquire({ ttlSeconds: 60, heartbeat: false, onLost: (error) => lost.push(error) })).token);
      expect(tokens(), 'the acquire gave the session’s rows its token').toEqual([['keys', 2, first], ['keys', 4, first], ['neighbour', 2, null]]);
      // Under the lease: a new key (the upsert) carries the token; rewrites by the row id (the second write of a DC) land.
      await old.authKeys.set(5, authKey(2));
      for (const n of [2, 3]) await old.authKeys.set(2, authKey(n));
      expect(plain(await old.authKeys.get(2))).toEqual(authKey(3));
      expect(tokens()).toEqual([['keys', 2, first], ['keys', 4, first], ['keys', 5, first], ['neighbour', 2, null]]);

      const taken = Number((await operator.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false })).token);
      expect(tokens(), 'the takeover moved them').toEqual([['keys', 2, taken], ['keys', 4, taken], ['keys', 5, taken], ['neighbour', 2, null]]);
      for (const dc of [2, 5]) expect(await codeOf(old.authKeys.set(dc, authKey(9))), `DC ${dc}: the old holder’s rewrite`).toBe(LOST);
      expect(lost).toHaveLength(1);
      expect(plain(await operator.authKeys.get(2)), 'nothing of it landed').toEqual(authKey(3));
      expect(plain(await operator.authKeys.get(5)), 'nothing of it landed').toEqual(authKey(2));

      // A key written beside the lease by an instance without one carries no token; the holder's
      // write of it still lands (through the fenced upsert, which gives the row the token).
      await free.authKeys.set(3, authKey(4));
      for (const n of [5, 6]) await operator.authKeys.set(3, authKey(n));
      for (const n of [5, 6]) await operator.authKeys.set(2, authKey(n));
      expect(plain(await operator.authKeys.get(3))).toEqual(authKey(6));
      expect(plain(await operator.authKeys.get(2))).toEqual(authKey(6));
      expect(tokens()).toEqual([['keys', 2, taken], ['keys', 3, taken], ['keys', 4, taken], ['keys', 5, taken], ['neighbour', 2, null]]);

      // A release keeps the token; the next acquire (of the first instance again) moves them on.
      await operator.lease.release();
      const again = Number((await old.lease.acquire({ ttlSeconds: 60, heartbeat: false })).token);
      expect(again).toBe(taken + 1);
      await old.authKeys.set(2, authKey(7));
      expect(plain(await operator.authKeys.get(2))).toEqual(authKey(7));
      expect(tokens()).toEqual([['keys', 2, again], ['keys', 3, again], ['keys', 4, again], ['keys', 5, again], ['neighbour', 2, null]]);
      expect(await codeOf(operator.authKeys.set(2, authKey(8))), 'the released holder is not fenced (it holds no lease)').toBe('resolved');
    } finally {
      await old.close();
      await operator.close();
      await free.close();
      await neighbour.close();
      other.close();
    }
  });

  it('save() under a lease gives the key rows it writes the lease token (a plain save: none), so the next rewrite is fenced by its row', async () => {
    const path = temp.file('save-token.session');
    const holder = new SqliteStorage({ path, name: 'saved' });
    const free = new SqliteStorage({ path, name: 'saved' });
    const other = new Database(path);
    const tokens = (): unknown[] => other.prepare('SELECT dc_id, slot, lease_token FROM mtstore_auth_keys JOIN mtstore_auth_key_bytes USING (id) ORDER BY dc_id, slot').raw().all();
    const session = (key: number) => ({
      ...minimalSession(),
      dcs: [
        { id: 2, port: 443, authKey: authKey(key), tempAuthKeys: [{ index: 0, key: authKey(key + 1), expiresAt: 2_000_000_000 }] },
        { id: 4, port: 443, authKey: authKey(key) },
      ],
    });
    try {
      await free.save(session(1));
      expect(tokens(), 'a save without a lease').toEqual([[2, -1, null], [2, 0, null], [4, -1, null]]);
      const token = Number((await holder.lease.acquire({ ttlSeconds: 60, heartbeat: false })).token);
      await holder.save(session(3));
      expect(tokens(), 'a save under the lease').toEqual([[2, -1, token], [2, 0, token], [4, -1, token]]);
      await holder.authKeys.set(2, authKey(5));
      expect(plain(await free.authKeys.get(2))).toEqual(authKey(5));
      // The next owner's takeover moves them; the old holder's save is refused and writes no row.
      const taken = Number((await free.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false })).token);
      expect(await codeOf(holder.save(session(7))), 'the old holder’s save').toBe(LOST);
      expect(tokens()).toEqual([[2, -1, taken], [2, 0, taken], [4, -1, taken]]);
      await free.lease.release();
      await free.save(session(9));
      expect(tokens(), 'a plain save after the release').toEqual([[2, -1, null], [2, 0, null], [4, -1, null]]);
    } finally {
      await holder.close();
      await free.close();
      other.close();
    }
  });

  it('a token changed by hand in another connection fences the holder: every kind of write is checked by the database', async () => {
    const path = temp.file('by-hand.session');
    const other = new Database(path);
    // What every holder's keys are after its setup (compared as entries: a refused write adds no key either).
    const expected = new SqliteStorage({ path, name: 'expected' });
    await expected.authKeys.set(2, authKey(2));
    try {
      // One holder per write kind, each fenced off by a raw UPDATE of its name's row.
      const writes: [string, (s: SqliteStorage) => Promise<unknown>][] = [
        ['save', (s) => s.save(moved())],
        ['update', (s) => s.update({ apiId: 77 })],
        ['saveUpdateState', (s) => s.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 })],
        ['saveUpdateState with channels', (s) => s.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }])],
        ['authKeys.set', (s) => s.authKeys.set(2, authKey(9))],
        ['authKeys.delete', (s) => s.authKeys.delete(2)],
        ['authKeys.setTemp', (s) => s.authKeys.setTemp(2, { index: 0, key: authKey(9), expiresAt: 2_000_000_000 })],
        // Deletes of nothing stored are refused too: the lease is gone either way.
        ['authKeys.deleteTemp', (s) => s.authKeys.deleteTemp(2, 0)],
        ['authKeys.deleteByDc', (s) => s.authKeys.deleteByDc(2)],
        ['authKeys.clear', (s) => s.authKeys.clear()],
        ['kv.set', (s) => s.kv.set('k', new Uint8Array([9]))],
        ['kv.set of a new key', (s) => s.kv.set('new', new Uint8Array([9]))],
        ['kv.delete', (s) => s.kv.delete('k')],
        ['kv.delete of an absent key', (s) => s.kv.delete('absent')],
        ['kv.clear', (s) => s.kv.clear()],
        ['refMessages.store', (s) => s.refMessages.store(8n, -100n, 6)],
        ['refMessages.delete', (s) => s.refMessages.delete(-100n, [5])],
        ['refMessages.deleteByPeer', (s) => s.refMessages.deleteByPeer(7n)],
        ['refMessages.clear', (s) => s.refMessages.clear()],
        ['peers.clear', (s) => s.peers.clear()],
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
          await storage.peers.upsert([peer('user', 1)]);
          await storage.lease.acquire({ ttlSeconds: 60, heartbeat: false });
          other.prepare('UPDATE mtstore_leases SET token = token + 1 WHERE name = ?').run(name);

          expect(await codeOf(write(storage)), what).toBe(LOST);
          expect(storage.lease.held, `${what}: the holder knows`).toBeNull();
          const loaded = await storage.load();
          expect(loaded?.apiId, `${what} changed nothing`).toBe(minimalSession().apiId);
          expect(loaded?.homeDcId, `${what} changed nothing`).toBe(minimalSession().homeDcId);
          expect(loaded?.state, `${what} changed nothing`).toBeUndefined();
          expect(loaded?.channels, `${what} changed nothing`).toEqual([]);
          expect(plain(await storage.authKeys.entries()), `${what} changed nothing`).toEqual(plain(await expected.authKeys.entries()));
          expect(await storage.kv.entries(), `${what} changed nothing`).toEqual([{ key: 'k', value: new Uint8Array([2]) }]);
          expect(await storage.refMessages.list(), `${what} changed nothing`).toEqual({ refs: [{ peerId: 7n, chatId: -100n, messageId: 5 }], cursor: null });
          expect((await storage.peers.list()).peers, `${what} changed nothing`).toHaveLength(1);
        } finally {
          await storage.close();
        }
      }
    } finally {
      await expected.close();
      other.close();
    }
  });

  it('a refused first write of a name creates nothing: no session row, no lease change', async () => {
    const path = temp.file('first-write.session');
    const other = new Database(path);
    const writes: [string, (s: SqliteStorage) => Promise<unknown>][] = [
      ['authKeys.set', (s) => s.authKeys.set(2, authKey(9))],
      ['authKeys.setTemp', (s) => s.authKeys.setTemp(2, { index: 0, key: authKey(9), expiresAt: 2_000_000_000 })],
      ['kv.set', (s) => s.kv.set('k', new Uint8Array([9]))],
      ['refMessages.store', (s) => s.refMessages.store(8n, -100n, 6)],
      ['authKeys.delete', (s) => s.authKeys.delete(2)],
      ['kv.delete', (s) => s.kv.delete('k')],
    ];
    try {
      for (const [what, write] of writes) {
        const name = `first_${what.replace(/[^a-z]/gi, '_')}`;
        const storage = new SqliteStorage({ path, name });
        try {
          await storage.lease.acquire({ ttlSeconds: 60, heartbeat: false });
          other.prepare('UPDATE mtstore_leases SET token = token + 1 WHERE name = ?').run(name);
          expect(await codeOf(write(storage)), what).toBe(LOST);
          expect(other.prepare('SELECT count(*) FROM mtstore_sessions WHERE name = ?').pluck().get(name), `${what}: no session row`).toBe(0);
          expect(other.prepare('SELECT token FROM mtstore_leases WHERE name = ?').pluck().get(name), `${what}: the lease row as the takeover left it`).toBe(2);
        } finally {
          await storage.close();
        }
      }
    } finally {
      other.close();
    }
  });

  it('a holder writing as fast as it can while another connection takes over: every write before the takeover lands, none after', async () => {
    const path = temp.file('raced.session');
    const child = new Child('fenced-writer.mjs', [path]);
    const other = new Database(path);
    other.pragma('busy_timeout = 10000');
    try {
      await child.next((line) => line.startsWith('held '), 'the lease');
      // Let the writer get going, so the takeover lands among its writes.
      const acked = (line: string): boolean => line.startsWith('ack ');
      for (let n = 0; n < 50; n++) await child.next(acked, 'an ack');
      // The takeover and a read of the entry in one transaction: the entry as the takeover found it.
      const takeover = other.transaction((): number => {
        other.prepare(`UPDATE mtstore_leases SET token = token + 1, owner = 'operator' WHERE name = 'raced'`).run();
        const value = other.prepare(`SELECT value FROM mtstore_kv WHERE key = 'k' AND session_id = (SELECT id FROM mtstore_sessions WHERE name = 'raced')`).pluck().get() as Buffer;
        return value.readUInt32BE(0);
      });
      const atTakeover = takeover.immediate();

      const refused = (await child.next((line) => line.startsWith('refused '), 'the refusal')).split(' ');
      expect(refused[1]).toBe(LOST);
      // Writes are sequential: the first one the takeover did not let through is refused, and it is the one after the last that landed.
      expect(Number(refused[2])).toBe(atTakeover + 1);
      const lastAck = Math.max(...child.received.filter(acked).map((line) => Number(line.slice(4))));
      expect(lastAck).toBe(atTakeover);
      const { code } = await child.exited;
      expect(code, child.stderr).toBe(0);
      const after = other.prepare(`SELECT value FROM mtstore_kv WHERE key = 'k'`).pluck().get() as Buffer;
      expect(after.readUInt32BE(0), 'nothing landed after the takeover').toBe(atTakeover);
    } finally {
      child.kill();
      other.close();
    }
  });

  it('a fenced one-statement write reaches the lease row by its primary key and scans nothing', async () => {
    const storage = new SqliteStorage({ path: temp.file('plans.session'), name: 'plans' });
    try {
      await storage.lease.acquire({ ttlSeconds: 60, heartbeat: false });
      const db = storage.database;
      const tables = tableNames('mtstore_');
      const concerns = { authKeys: prepareKeys(db, tables), kv: prepareKv(db, tables), refs: prepareRefs(db, tables) };
      const writes = Object.entries(concerns).flatMap(([concern, statements]) =>
        Object.entries(statements).flatMap(([name, statement]): [string, FencedStatement][] => (statement instanceof FencedStatement ? [[`${concern}.${name}`, statement]] : [])),
      );
      expect(writes.map(([name]) => name).sort()).toEqual(
        ['authKeys.clear', 'authKeys.remove', 'authKeys.removeByDc', 'authKeys.rewrite', 'kv.clear', 'kv.remove', 'kv.set', 'refs.clear', 'refs.remove', 'refs.removeByPeer', 'refs.store'].sort(),
      );
      for (const [name, statement] of writes) {
        const source = statement.fencedSource();
        const params = Array.from(source.matchAll(/\?/g), () => null);
        const steps = (db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(...params) as { detail: string }[]).map((r) => r.detail);
        const leaseSearches = steps.filter((step) => /^SEARCH mtstore_leases (EXISTS )?USING PRIMARY KEY \(name=\?\)$/.test(step));
        if (name === 'authKeys.rewrite') {
          // The key rewrite compares the token kept in its own row: one integer seek, no lease row.
          expect(steps, name).toEqual(['SEARCH mtstore_auth_key_bytes USING INTEGER PRIMARY KEY (rowid=?)']);
          expect(source, name).toMatch(/ AND lease_token = \?$/);
        } else {
          // One search of the lease row: an uncorrelated subquery (evaluated once, as a join step or a
          // scalar subquery), or, where the fence reads the name of the statement's session row, a join step.
          expect(leaseSearches, name).toHaveLength(1);
        }
        expect(steps.filter((step) => /^SCAN /.test(step) && !/json_each/.test(step)), name).toEqual([]);
      }
    } finally {
      await storage.close();
    }
  });

  it('without a lease no write looks at the lease table, and asking for the holder creates none: a file that never saw a lease gets none', async () => {
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
      // A reader (`mtstore inspect`) asks who holds the lease: that must leave the file as it is.
      expect(await storage.lease.holder()).toBeNull();
      const tables = storage.database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%leases'`).pluck().all();
      expect(tables).toEqual([]);
      expect((await storage.load())?.apiId).toBe(5);
    } finally {
      await storage.close();
    }
  });
});
