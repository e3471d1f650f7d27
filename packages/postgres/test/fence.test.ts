/**
 * The lease fence in the database (lease.ts LeaseFence, docs/contract.md §12) across
 * connections: takeovers made by another pool or by hand, which this instance's lease
 * state knows nothing about, stop the old holder's very next write; a takeover in
 * progress makes the write wait for its outcome; and a write that passed the check
 * lands before a takeover that comes while it is stalled, never after it.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { authKey, minimalSession } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { admin, applicationName, freshSchema, plain, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

const LOST = 'MTSTORE_LEASE_LOST';

async function codeOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => 'resolved',
    (error: { code?: unknown }) => error.code,
  );
}

/** A PostgresStorage on its own pool, its connections named `application`. */
function open(schema: string, application: string, name = 'victim'): PostgresStorage {
  return track(new PostgresStorage({ config: { connectionString: url, application_name: application, max: 2 }, schema, name }));
}

/** A raw connection of the test's own, in an open transaction. */
async function transaction(): Promise<pg.Client> {
  const client = track(new pg.Client({ connectionString: url, application_name: applicationName('fence-raw') }));
  await client.connect();
  await client.query('BEGIN');
  return client;
}

/** Waits until a connection of `application` waits for a lock. */
async function blocked(application: string): Promise<void> {
  await until(async () => {
    const { rows } = await admin().query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [application]);
    return rows.length > 0;
  }, `a connection of ${application} to wait for a lock`);
}

describe.runIf(server.available)('lease fence across connections', () => {
  it('many first acquires of fresh names at once: each name has exactly one holder, no racer fails', async () => {
    // Two first inserts of a name that pass ON CONFLICT's check at the same moment: the
    // loser meets leases_token (not the arbiter) and, without the retry, fails with 23505.
    const schema = freshSchema();
    const racers = Array.from({ length: 6 }, (_, i) => i);
    const warm = open(schema, applicationName('fence-warm'), 'warm');
    await warm.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    for (let round = 0; round < 40; round++) {
      const storages = racers.map((i) => open(schema, applicationName(`fence-many-${i}`), `fresh_${round}`));
      await Promise.all(storages.map((storage) => storage.kv.get('warm-up')));
      const outcomes = await Promise.all(storages.map((storage) => codeOf(storage.lease.acquire({ ttlSeconds: 60, heartbeat: false }))));
      expect(outcomes.filter((o) => o === 'resolved'), `round ${round}: ${outcomes.join(', ')}`).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'resolved' && o !== 'MTSTORE_LEASE_HELD'), `round ${round}`).toEqual([]);
      await Promise.all(storages.map((storage) => storage.close()));
    }
    // 40 rounds of 6 fresh pools: ~10 s on a quiet box, 31 s seen at load average 20+.
  }, 120_000);

  it('another pool takes the lease with force: the old holder’s next writes are refused and nothing of them lands', async () => {
    const schema = freshSchema();
    const old = open(schema, applicationName('fence-old'));
    const operator = open(schema, applicationName('fence-operator'));
    await old.save(minimalSession());
    await old.kv.set('k', new Uint8Array([1]));
    const lost: Error[] = [];
    const first = await old.lease.acquire({ ttlSeconds: 60, heartbeat: false, onLost: (error) => lost.push(error) });
    await old.kv.set('k', new Uint8Array([2]));
    const taken = await operator.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false });
    expect(taken.token > first.token).toBe(true);

    expect(await codeOf(old.kv.set('k', new Uint8Array([3]))), 'kv.set right after the takeover').toBe(LOST);
    expect(old.lease.held, 'the refusal told the old holder').toBeNull();
    expect(lost).toHaveLength(1);
    expect(await codeOf(old.authKeys.set(2, authKey(2))), 'a later write (local fence)').toBe(LOST);
    expect(await operator.kv.get('k')).toEqual(new Uint8Array([2]));
    expect(await operator.authKeys.get(2)).toBeNull();
    expect(operator.lease.held?.token).toBe(taken.token);
  });

  it('a takeover in progress on another connection: the write waits for it, is refused when it commits and applies when it rolls back', async () => {
    const schema = freshSchema();
    for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
      const application = applicationName(`fence-${outcome.toLowerCase()}`);
      const holder = open(schema, application, `victim_${outcome}`);
      await holder.kv.set('k', new Uint8Array([1]));
      await holder.lease.acquire({ ttlSeconds: 60, heartbeat: false });
      const raw = await transaction();
      await raw.query(`UPDATE "${schema}".leases SET token = token + 1 WHERE name = $1`, [`victim_${outcome}`]);
      const write = codeOf(holder.kv.set('k', new Uint8Array([2])));
      await blocked(application);
      await raw.query(outcome);
      if (outcome === 'COMMIT') {
        expect(await write, 'the write after the committed takeover').toBe(LOST);
        expect(await holder.kv.get('k')).toEqual(new Uint8Array([1]));
        expect(holder.lease.held).toBeNull();
      } else {
        expect(await write).toBe('resolved');
        expect(await holder.kv.get('k')).toEqual(new Uint8Array([2]));
        expect(holder.lease.held).not.toBeNull();
      }
    }
  });

  it('a write that passed the check and then stalls lands before a force takeover that comes meanwhile: the takeover waits for it, a renewal does not', async () => {
    const schema = freshSchema();
    const oldApp = applicationName('fence-stalled');
    const operatorApp = applicationName('fence-forcer');
    const old = open(schema, oldApp);
    const operator = open(schema, operatorApp);
    await old.save(minimalSession());
    await old.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    // A lock on the session row stalls the holder's kv write after its fence check.
    const raw = await transaction();
    await raw.query(`SELECT 1 FROM "${schema}".sessions WHERE name = 'victim' FOR UPDATE`);
    const write = codeOf(old.kv.set('k', new Uint8Array([7])));
    await blocked(oldApp);
    // The heartbeat's renewal does not wait for the stalled write (it changes no key column).
    const renewed = await old.lease.renew();
    expect(renewed.token).toBe(old.lease.held?.token);
    const takeover = operator.lease.acquire({ force: true, ttlSeconds: 60, heartbeat: false });
    await blocked(operatorApp);
    await raw.query('ROLLBACK');
    expect(await write, 'the stalled write').toBe('resolved');
    const taken = await takeover;
    expect(await operator.kv.get('k'), 'the write landed, before the takeover').toEqual(new Uint8Array([7]));
    expect(await codeOf(old.kv.set('k', new Uint8Array([8]))), 'the next write, after the takeover').toBe(LOST);
    expect(await operator.kv.get('k')).toEqual(new Uint8Array([7]));
    expect(operator.lease.held?.token).toBe(taken.token);
  });

  it('a token changed by hand fences every kind of write of the holder, and none of them changes anything', async () => {
    const schema = freshSchema();
    const writes: [string, (s: PostgresStorage) => Promise<unknown>][] = [
      ['save', (s) => s.save({ ...minimalSession(), homeDcId: 4, dcs: [{ id: 4, port: 443, authKey: authKey(3) }] })],
      ['update', (s) => s.update({ apiId: 77 })],
      ['update with dcs', (s) => s.update({ homeDcId: 2, dcs: [{ id: 2, port: 80 }] })],
      ['saveUpdateState', (s) => s.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }])],
      ['authKeys.set', (s) => s.authKeys.set(2, authKey(9))],
      ['authKeys.setTemp', (s) => s.authKeys.setTemp(2, { index: 0, key: authKey(4), expiresAt: 2_000_000_000 })],
      ['kv.delete', (s) => s.kv.delete('k')],
      ['refMessages.delete', (s) => s.refMessages.delete(-100n, [5])],
      ['peers.clear', (s) => s.peers.clear()],
      ['delete', (s) => s.delete()],
    ];
    for (const [what, write] of writes) {
      const name = what.replace(/[^a-z]/gi, '_');
      const storage = open(schema, applicationName('fence-hand'), name);
      await storage.save(minimalSession());
      await storage.authKeys.set(2, authKey(2));
      await storage.kv.set('k', new Uint8Array([2]));
      await storage.refMessages.store(7n, -100n, 5);
      await storage.lease.acquire({ ttlSeconds: 60, heartbeat: false });
      await admin().query(`UPDATE "${schema}".leases SET token = token + 1 WHERE name = $1`, [name]);

      expect(await codeOf(write(storage)), what).toBe(LOST);
      expect(storage.lease.held, `${what}: the holder knows`).toBeNull();
      const loaded = await storage.load();
      expect(loaded?.apiId, `${what} changed nothing`).toBe(minimalSession().apiId);
      expect(loaded?.homeDcId, `${what} changed nothing`).toBe(2);
      expect(loaded?.dcs.map(({ id, port }) => ({ id, port })), `${what} changed nothing`).toEqual([{ id: 2, port: 443 }]);
      expect(loaded?.state, `${what} changed nothing`).toBeUndefined();
      expect(loaded?.channels, `${what} changed nothing`).toEqual([]);
      expect(plain(await storage.authKeys.get(2)), `${what} changed nothing`).toEqual(authKey(2));
      expect(await storage.authKeys.getTemp(2, 0), `${what} changed nothing`).toBeNull();
      expect(await storage.kv.get('k'), `${what} changed nothing`).toEqual(new Uint8Array([2]));
      expect(await storage.refMessages.getByPeer(7n), `${what} changed nothing`).toEqual({ chatId: -100n, messageId: 5 });
    }
  });

  it('without a lease no write looks at the lease table: a schema that never saw a lease has none', async () => {
    const schema = freshSchema();
    const storage = open(schema, applicationName('fence-free'), 'free');
    await storage.save(minimalSession());
    await storage.update({ apiId: 5, homeDcId: 2, dcs: [{ id: 2, port: 443 }] });
    await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }]);
    await storage.authKeys.set(2, authKey(2));
    await storage.kv.set('k', new Uint8Array([1]));
    await storage.peers.clear();
    await storage.refMessages.store(7n, -100n, 5);
    const { rows } = await admin().query('SELECT to_regclass($1) AS t', [`"${schema}".leases`]);
    expect(rows[0]?.t).toBeNull();
    expect((await storage.load())?.apiId).toBe(5);
  });
});
