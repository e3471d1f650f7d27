/**
 * Connections the server kills (pg_terminate_backend on this test's own connections,
 * found by application_name), idle or in the middle of an operation; servers that
 * never answer. The operation hit rejects with StorageUnavailableError, the next one
 * runs on a fresh connection, and no acknowledged write is lost.
 */
import { createServer, type Socket } from 'node:net';
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession, minimalSession } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, gone, probe, terminate, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

type Failure = Error & { code?: string; cause?: { code?: string } };

async function failure(promise: Promise<unknown>): Promise<Failure> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Failure) => error,
  );
}

/** A connection of the test's own that holds row locks in an open transaction. */
async function lockHolder(): Promise<pg.Client> {
  const client = track(new pg.Client({ connectionString: url, application_name: applicationName('holder') }));
  await client.connect();
  await client.query('BEGIN');
  return client;
}

/** Waits until a connection of `application` is blocked on a lock, then terminates it. */
async function terminateWhenBlocked(application: string): Promise<void> {
  let pid: number | undefined;
  await until(async () => {
    const { rows } = await admin().query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
      [application],
    );
    pid = rows[0]?.pid;
    return pid !== undefined;
  }, 'the operation to block on the lock');
  await admin().query('SELECT pg_terminate_backend($1)', [pid]);
}

function storages(application: string) {
  const schema = freshSchema();
  const config = { connectionString: url, application_name: application, max: 2 };
  return {
    schema,
    client: track(new PostgresStorage({ config, schema, name: 'victim' })),
    server: track(new PostgresSessionStorage({ config, schema })),
  };
}

describe.runIf(server.available)('faults', () => {
  it('saveUpdateState killed mid-statement rejects StorageUnavailableError with the cause; the next call succeeds', async () => {
    const application = applicationName('mid-update');
    const { schema, client } = storages(application);
    await client.save(fullSession(1));
    const holder = await lockHolder();
    await holder.query(`SELECT 1 FROM "${schema}".sessions WHERE name = 'victim' FOR UPDATE`);
    const pending = failure(client.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 77n, pts: 1 }]));
    await terminateWhenBlocked(application);
    const error = await pending;
    expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(error.message).toContain('saveUpdateState("victim")');
    expect(error.cause?.code).toBe('57P01'); // admin_shutdown: terminated by pg_terminate_backend
    await holder.query('ROLLBACK');
    await client.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }, [{ id: 78n, pts: 2 }]);
    const loaded = await client.load();
    expect(loaded?.state).toEqual({ pts: 2, qts: 2, date: 2, seq: 2 });
    expect(loaded?.channels.map((c) => c.id)).not.toContain(77n);
    expect(loaded?.channels).toContainEqual({ id: 78n, pts: 2 });
  });

  it('save killed inside its transaction rolls back whole; the connection is discarded and the next save succeeds', async () => {
    const application = applicationName('mid-save');
    const { schema, client } = storages(application);
    await client.save(fullSession(1));
    const holder = await lockHolder();
    await holder.query(`SELECT 1 FROM "${schema}".sessions WHERE name = 'victim' FOR UPDATE`);
    const pending = failure(client.save(fullSession(2)));
    await terminateWhenBlocked(application);
    expect((await pending).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    await holder.query('ROLLBACK');
    expect(await client.load()).not.toBeNull();
    const { dcs } = (await client.load()) ?? { dcs: [] };
    expect(dcs).toHaveLength(fullSession(1).dcs.length); // the old session, untouched
    await client.save(fullSession(3));
    expect((await client.load())?.apiId).toBe(fullSession(3).apiId);
  });

  it('createSession killed while waiting on a racing insert rejects; the session can be created afterwards', async () => {
    const application = applicationName('mid-create');
    const { schema, server: sessions } = storages(application);
    await sessions.hasSession(0n, 0n);
    const holder = await lockHolder();
    await holder.query(`INSERT INTO "${schema}".server_sessions (auth_key_id, session_id) VALUES (5, 5)`);
    const pending = failure(sessions.createSession(5n, 5n));
    await terminateWhenBlocked(application);
    expect((await pending).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    await holder.query('ROLLBACK');
    expect(await sessions.createSession(5n, 5n)).toBe(true);
    expect(await sessions.hasSession(5n, 5n)).toBe(true);
  });

  it('idle pool connections killed by the server do not crash the process; the next operations use fresh connections', async () => {
    const application = applicationName('idle');
    const { client, server: sessions } = storages(application);
    await client.save(minimalSession());
    await sessions.createSession(1n, 1n);
    const before = await backends(application);
    expect(before.length).toBeGreaterThan(0);
    await gone(await terminate(application));
    expect(await sessions.hasSession(1n, 1n)).toBe(true);
    expect(await client.load()).not.toBeNull();
    const after = await backends(application);
    expect(after.some((pid) => before.includes(pid))).toBe(false);
  });

  it('no acknowledged write is lost while connections are killed at random moments', async () => {
    const application = applicationName('chaos');
    const { client } = storages(application);
    await client.save(minimalSession());
    const acknowledged: number[] = [];
    const rejected: number[] = [];
    const killed: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const write = client.saveUpdateState({ pts: i, qts: 0, date: 0, seq: 0 }, [{ id: BigInt(i), pts: i }]);
      // Every fourth write races a kill of every connection the storage holds.
      const kill = i % 4 === 0 ? terminate(application) : Promise.resolve([]);
      const [outcome, pids] = await Promise.allSettled([write, kill]);
      if (pids.status === 'fulfilled') killed.push(...pids.value);
      if (outcome.status === 'fulfilled') acknowledged.push(i);
      else {
        expect((outcome.reason as Failure).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        rejected.push(i);
      }
    }
    expect(killed.length).toBeGreaterThan(0);
    // Kills land on idle connections too: let them end before reading.
    await gone(killed);
    const loaded = await client.load();
    const stored = new Set(loaded?.channels.map((c) => Number(c.id)));
    for (const i of acknowledged) expect(stored.has(i), `acknowledged write ${i}`).toBe(true);
    // The last write that reached the database set the state: an acknowledged one, or a later one whose reply was lost.
    const last = Math.max(...acknowledged);
    expect([last, ...rejected.filter((i) => i > last)]).toContain(loaded?.state?.pts);
  });

  it('an unreachable server and a server that never answers reject instead of hanging', async () => {
    const refused = track(new PostgresStorage({ connectionString: 'postgres://postgres@127.0.0.1:1/test', schema: freshSchema() }));
    expect((await failure(refused.load())).code).toBe('MTSTORE_STORAGE_UNAVAILABLE');

    // A TCP server that accepts connections and never says a word.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const hanging = track(new PostgresStorage({ config: { connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMillis: 200 }, schema: freshSchema() }));
      const error = await failure(hanging.load());
      expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(error.message).toMatch(/timeout/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a query that exceeds query_timeout rejects StorageUnavailableError and frees its connection', async () => {
    const application = applicationName('timeout');
    const schema = freshSchema();
    const client = track(new PostgresStorage({ config: { connectionString: url, application_name: application, query_timeout: 300, max: 1 }, schema }));
    await client.save(minimalSession());
    const holder = await lockHolder();
    await holder.query(`SELECT 1 FROM "${schema}".sessions FOR UPDATE`);
    const error = await failure(client.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }));
    expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(error.message).toMatch(/timeout/i);
    await holder.query('ROLLBACK');
    // The timed-out connection was discarded (the pool has room for one): the next call works.
    await client.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 });
    expect((await client.load())?.state?.pts).toBe(2);
  });
});
