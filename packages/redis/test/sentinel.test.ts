/**
 * Redis Sentinel (test/sentinel.ts: a master, a replica and three sentinels of this
 * file's own, down-after-milliseconds 1 s), through storages opened the way users open
 * them (`options: { sentinels, name }`, mtstore's defaults: commandTimeout 5 s) and
 * through a client of the application's made that way:
 *
 * - RedisStorage, RedisSessionStorage and RedisSessionEventBus work through the
 *   sentinels, every connection on the master (ioredis' `role` default), none on the
 *   replica.
 * - The master killed (SIGKILL): the sentinels promote the replica; every call made
 *   meanwhile settles within commandTimeout, resolved or StorageUnavailableError in
 *   mtstore's words (never ioredis' "Connection is closed.", READONLY or "All sentinels
 *   are unreachable"); the same instances work again by themselves with every write
 *   the replica had; a bus hears lost, then live, and delivers; close() mid-failover
 *   settles every call.
 * - A failover with the master still up (SENTINEL FAILOVER, a set of its own): the
 *   connections move to the new master within a second (SENTINEL_DEFAULTS'
 *   failoverDetector), not when the sentinels demote the old master some 10 s later
 *   (writes there meanwhile were acknowledged, then lost); close() leaves no
 *   connection on the sentinels.
 * - No sentinel reachable: the first calls reject within connectTimeout (they stayed
 *   pending for ever), in mtstore's words.
 * - `role: 'slave'` (reads and writes on a replica) is refused before any I/O.
 */
import { authKey, checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_DEFAULTS, RedisSessionEventBus, RedisSessionStorage, RedisStorage, SENTINEL_DEFAULTS } from '../src/index.js';
import { causeMessages, clientList, eventually, plain, randomName } from './helpers.js';
import { onNode, probeBinaries, timed as timedWithin, type Outcome } from './replicas.js';
import { MASTER_NAME, SENTINEL_BASE_PORT, SentinelSet } from './sentinel.js';

const binaries = await checkServer('redis-server (for a Sentinel set-up of the test\'s own)', 'redis-server', probeBinaries);

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
/** mtstore's default commandTimeout (REDIS_DEFAULTS): no call may take longer, failover or not. */
const COMMAND_TIMEOUT_MS = 5_000;
/** ioredis' words as the reason the caller reads (after "<operation>(…) failed: "): what a failover must not look like. */
const RAW = /failed: (READONLY|All sentinels are unreachable|Connection is closed\.$)/;
const AUTH_KEYS = [1n, 2n, 3n];

function timed(what: string, since: number, call: () => Promise<unknown>): Promise<Outcome> {
  return timedWithin(what, since, call, 2 * COMMAND_TIMEOUT_MS);
}

function event(n: number): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: 1n, origin: 'sentinel' };
}

describe.runIf(binaries.available)('Redis Sentinel (a master, a replica, three sentinels)', () => {
  let set: SentinelSet;

  beforeAll(async () => {
    set = await SentinelSet.start();
  }, 20_000);

  afterAll(async () => {
    await set?.dispose();
  });

  /** ioredis options reaching the master through the sentinels, connections named `name`. */
  function through(name: string, more: RedisOptions = {}): RedisOptions {
    return { sentinels: set.sentinels(), name: MASTER_NAME, connectionName: name, ...more };
  }

  /** How many connections named `name` (or `<name>:events`) node `port` has. */
  async function connectionsOn(port: number, name: string): Promise<number> {
    const clients = await onNode(port, (client) => clientList(client));
    return clients.filter((c) => c.name === name || c.name === `${name}:events`).length;
  }

  it('role \'slave\' (every call on a replica) is InvalidArgumentError before any I/O, for options and for a client of the application', () => {
    const sentinels = [{ host: '127.0.0.1', port: 1 }];
    const client = new Redis({ sentinels, name: MASTER_NAME, role: 'slave', lazyConnect: true });
    try {
      for (const make of [
        () => new RedisStorage({ options: { sentinels, name: MASTER_NAME, role: 'slave' } }),
        () => new RedisSessionStorage({ options: { sentinels, name: MASTER_NAME, role: 'slave' } }),
        () => new RedisSessionEventBus({ options: { sentinels, name: MASTER_NAME, role: 'slave' } }),
        () => new RedisStorage({ client }),
        () => new RedisSessionStorage({ client }),
      ]) {
        expect(make).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining("role 'slave'") }));
      }
      // Nothing was opened: the client made no connection.
      expect(client.status).toBe('wait');
      // role 'master' (ioredis' default) and a role without sentinels (ioredis ignores it) are fine.
      void new RedisStorage({ options: { sentinels, name: MASTER_NAME, role: 'master' } }).close();
      void new RedisStorage({ options: { role: 'slave' } }).close();
    } finally {
      client.disconnect();
    }
  });

  it('a failover with the master still up (SENTINEL FAILOVER): the connections move to the new master at once (failoverDetector), not when the sentinels demote the old one some 10 s later; what is written then is on the new master; close() leaves no connection on the sentinels', async () => {
    // A set of its own: the master stays up, and ports from the next block.
    const second = await SentinelSet.start(SENTINEL_BASE_PORT + 10);
    const prefix = `${randomName('switch')}:`;
    const name = randomName('conn');
    const options = { sentinels: second.sentinels(), name: MASTER_NAME, connectionName: name };
    const storage = new RedisStorage({ options, prefix, name: 'alice' });
    const bus = new RedisSessionEventBus({ options, prefix });
    const heard: number[] = [];
    try {
      const [oldMaster, newMaster] = [second.firstMaster, second.firstReplica];
      await storage.save(fullSession(1));
      await bus.subscribe((e) => heard.push(Number(e.authKeyId)));
      await bus.publish(event(1));
      await eventually(() => heard.includes(1), 'the first event');
      expect(await connectionsOn(oldMaster, name)).toBe(3);
      expect(await second.sentinelSubscribers()).toBeGreaterThan(0);
      await second.replicated(oldMaster);

      await second.failover();
      await eventually(async () => (await second.master()) === newMaster, 'the sentinels to name the new master', 5_000);
      const switched = Date.now();
      await eventually(async () => (await connectionsOn(newMaster, name)) === 3 && (await connectionsOn(oldMaster, name)) === 0, 'every connection on the new master', 3_000);
      const moved = Date.now() - switched;
      // The old master is not demoted yet: a write that reached it now would be acknowledged, then lost with its data.
      expect((await onNode(oldMaster, (client) => client.role()))[0]).toBe('master');
      await storage.saveUpdateState({ pts: 777, qts: 1, date: 1_700_000_000, seq: 1 });
      const direct = new RedisStorage({ url: `redis://127.0.0.1:${newMaster}`, prefix, name: 'alice' });
      try {
        expect((await direct.load())?.state?.pts).toBe(777);
      } finally {
        await direct.close();
      }
      await bus.publish(event(2));
      await eventually(() => heard.includes(2), 'an event after the switch', 5_000);
      console.info(`sentinel switch: every connection on the new master ${moved} ms after the sentinels named it`);
    } finally {
      await Promise.all([storage.close(), bus.close()]);
      // failoverDetector's connections closed with them (ioredis' quit() alone left them open).
      await eventually(async () => (await second.sentinelSubscribers()) === 0, 'no connection left on the sentinels', 3_000).finally(() => second.dispose());
    }
  }, 30_000);

  it('no sentinel reachable: the first calls reject StorageUnavailableError within connectTimeout in mtstore\'s words (they stayed pending for ever), and close() settles', async () => {
    // Nothing listens on port 1: every lookup is refused at once, and ioredis starts over for ever.
    const sentinels = [{ host: '127.0.0.1', port: 1 }];
    const storage = new RedisStorage({ options: { sentinels, name: MASTER_NAME, connectTimeout: 500, commandTimeout: 1_000 }, prefix: `${randomName('no-sentinel')}:`, name: 'alice' });
    const bus = new RedisSessionEventBus({ options: { sentinels, name: MASTER_NAME, connectTimeout: 500, commandTimeout: 1_000 }, prefix: `${randomName('no-sentinel')}:` });
    // ioredis' Sentinel lookup with retries off gives up at once, in its own words.
    const giving = new RedisStorage({ options: { sentinels, name: MASTER_NAME, sentinelRetryStrategy: () => null }, name: 'alice' });
    try {
      const since = Date.now();
      const [load, publish, given] = await Promise.all([
        timedWithin('load', since, () => storage.load(), 3_000),
        timedWithin('publish', since, () => bus.publish(event(1)), 3_000),
        timedWithin('given up', since, () => giving.load(), 3_000),
      ]);
      for (const outcome of [load, publish]) {
        expect(outcome.ms, outcome.what).toBeLessThan(1_500);
        expect(outcome.error, outcome.what).toMatchObject({ code: UNAVAILABLE, message: expect.stringContaining('no Redis Sentinel named a master for "mymaster" that answered within connectTimeout (500 ms) (no sentinel answered') });
        expect(outcome.error?.message, outcome.what).toContain('the call was not sent');
      }
      expect(given.error).toMatchObject({ code: UNAVAILABLE, message: expect.stringContaining('failed: no Redis Sentinel named the master "mymaster" (no sentinel answered') });
      expect(given.error?.message).not.toMatch(RAW);
      expect(causeMessages(given.error).some((message) => message.startsWith('All sentinels are unreachable and retry is disabled.'))).toBe(true);
      // A later call is queued on the connect ioredis goes on with, and bounded by commandTimeout.
      const again = await timedWithin('load again', since, () => storage.load(), 3_000);
      expect(again.ms).toBeLessThan(2_000);
      expect(again.error?.code).toBe(UNAVAILABLE);
      const closed = await timedWithin('close', since, () => Promise.all([storage.close(), bus.close(), giving.close()]), 3_000);
      expect(closed.ms).toBeLessThan(1_000);
      expect(closed.error).toBeUndefined();
    } finally {
      await Promise.all([storage.close(), bus.close(), giving.close()]);
    }
  });

  it('storages, an application\'s client and the bus through the sentinels: on the master only; the master killed (SIGKILL): calls settle in mtstore\'s words, the same instances work again with what the replica had, the bus hears lost then live, close() mid-failover settles', async () => {
    const prefix = `${randomName('sentinel')}:`;
    const name = randomName('conn');
    const storage = new RedisStorage({ options: through(name), prefix, name: 'alice' });
    const sessions = new RedisSessionStorage({ options: through(name), prefix });
    const appClient = new Redis({ ...REDIS_DEFAULTS, ...SENTINEL_DEFAULTS, ...through(name) });
    // The application's own listener: ioredis reports every lookup and reconnect as an 'error' event.
    appClient.on('error', () => {});
    const appStorage = new RedisStorage({ client: appClient, prefix, name: 'bob' });
    const subscriber = new RedisSessionEventBus({ options: through(name), prefix });
    const publisher = new RedisSessionEventBus({ options: through(name), prefix });
    // Closed mid-failover, calls pending.
    const closing = new RedisStorage({ options: through(name), prefix, name: 'carol' });
    const heard: number[] = [];
    const states: string[] = [];
    const stateTimes: number[] = [];
    try {
      await subscriber.subscribe((e) => heard.push(Number(e.authKeyId)), { onState: (state) => void (states.push(state), stateTimes.push(Date.now())) });
      const master = await set.master();
      expect(master).toBe(set.firstMaster);
      const replica = set.firstReplica;

      // save/load, auth keys, peers, server sessions, events.
      await storage.save(fullSession(1));
      await appStorage.save(fullSession(2));
      await closing.save(fullSession(3));
      expect(plain(await storage.load())).toEqual(fullSession(1));
      // An auth key of its own (over the session's dc 2 key), and a peer.
      await storage.authKeys.set(2, authKey(21));
      await storage.peers.upsert([peer('user', 1)]);
      await Promise.all(AUTH_KEYS.map((id) => sessions.createSession(id, 1n)));
      expect(plain(await appStorage.load())).toEqual(fullSession(2));
      expect(plain(await storage.authKeys.get(2))).toEqual(authKey(21));
      expect((await storage.peers.getByUsername('user_1'))?.id).toBe(1n);
      expect(await Promise.all(AUTH_KEYS.map((id) => sessions.hasSession(id, 1n)))).toEqual(AUTH_KEYS.map(() => true));
      await publisher.publish(event(1));
      await eventually(() => heard.includes(1), 'the first event');

      // Every connection on the master (5 instances, the subscriber's own on top), none on the replica.
      expect(await connectionsOn(master, name)).toBeGreaterThanOrEqual(6);
      expect(await connectionsOn(replica, name)).toBe(0);

      // Acknowledged and on the replica: these must survive the failover.
      await set.replicated(master);

      const since = Date.now();
      const pending: Promise<Outcome[]>[] = [];
      let stop = false;
      let n = 1;
      const load = (async () => {
        for (; !stop; n++) {
          const round = n;
          pending.push(
            Promise.all([
              timed('storage.load', since, () => storage.load()),
              timed('storage.authKeys.set', since, () => storage.authKeys.set(3, authKey(round % 200))),
              timed('app storage.load', since, () => appStorage.load()),
              timed('sessions.createSession', since, () => sessions.createSession(4n, BigInt(round))),
              timed('sessions.hasSession', since, () => sessions.hasSession(1n, 1n)),
              timed('publish', since, () => publisher.publish(event(1_000 + round))),
            ]),
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killed = Date.now();
      await set.kill(master);

      // Mid-failover: calls on `closing`, then close() (before the promotion).
      await new Promise((resolve) => setTimeout(resolve, 300));
      const closingCalls = [timed('closing.load', since, () => closing.load()), timed('closing.save', since, () => closing.save(fullSession(4)))];
      const closed = timed('closing.close', since, () => closing.close());

      await eventually(async () => (await set.master().catch(() => 0)) === replica && (await onNode(replica, (client) => client.role()))[0] === 'master', `replica ${replica} promoted`, 20_000);
      const promoted = Date.now() - killed;
      // Then the same instances work by themselves.
      let rounds = 0;
      await eventually(async () => {
        rounds++;
        const done = await Promise.all([
          timed('load', since, () => storage.load()),
          timed('app load', since, () => appStorage.load()),
          timed('hasSession', since, () => sessions.hasSession(1n, 1n)),
          timed('authKeys.set', since, () => storage.authKeys.set(5, authKey(5))),
          timed('publish', since, () => publisher.publish(event(0))),
        ]);
        return done.every((outcome) => outcome.error === undefined);
      }, 'every call to succeed after the failover', 15_000);
      const recovered = Date.now() - killed;
      stop = true;
      await load;
      const outcomes = [...(await Promise.all(pending)).flat(), ...(await Promise.all(closingCalls))];
      const closeOutcome = await closed;

      const failed = outcomes.filter((outcome) => outcome.error !== undefined);
      const during = outcomes.filter((outcome) => outcome.at >= killed - since && outcome.at <= killed - since + promoted);
      console.info(
        `sentinel: replica promoted ${promoted} ms after the master was killed, every call working again at ${recovered} ms; ${outcomes.length} calls, ${during.length} made during the failover, ${failed.length} rejected, the longest took ${Math.max(...outcomes.map((outcome) => outcome.ms))} ms; close() mid-failover took ${closeOutcome.ms} ms`,
      );
      if (process.env.FAILOVER_MESSAGES) console.info([...new Set(failed.map((outcome) => `${outcome.what}: ${outcome.error?.message}`))].join('\n'));
      expect(during.length).toBeGreaterThan(0);
      // Every call settled within commandTimeout: resolved, or StorageUnavailableError in mtstore's words.
      expect(outcomes.filter((outcome) => outcome.ms >= COMMAND_TIMEOUT_MS).map((outcome) => `${outcome.what} at ${outcome.at} ms: ${outcome.ms} ms`)).toEqual([]);
      expect(failed.filter((outcome) => outcome.error?.code !== UNAVAILABLE).map((outcome) => `${outcome.what}: ${String(outcome.error)}`)).toEqual([]);
      expect([...new Set(failed.map((outcome) => outcome.error?.message.replace(/\(.*?\) failed/, '(…) failed')).filter((message) => RAW.test(message ?? '')))]).toEqual([]);
      // ioredis' error is kept as the cause.
      for (const outcome of failed) expect(outcome.error?.cause, outcome.what).toBeInstanceOf(Error);
      expect(closeOutcome.error).toBeUndefined();
      expect(closeOutcome.ms).toBeLessThan(COMMAND_TIMEOUT_MS);

      // What the replica had is there, read through the instances that lived through it.
      expect((await storage.load())?.apiId).toBe(fullSession(1).apiId);
      expect(plain(await appStorage.load())).toEqual(fullSession(2));
      expect(plain(await storage.authKeys.get(2))).toEqual(authKey(21));
      expect((await storage.peers.getByUsername('user_1'))?.id).toBe(1n);
      expect(await Promise.all(AUTH_KEYS.map((id) => sessions.hasSession(id, 1n)))).toEqual(AUTH_KEYS.map(() => true));
      expect(await connectionsOn(replica, name)).toBeGreaterThanOrEqual(5);

      // The bus: lost, then live, on the same instance; an event published now is heard.
      await eventually(() => states.at(-1) === 'live', 'the subscriber live again', 10_000);
      expect(states.slice(0, 2)).toEqual(['lost', 'live']);
      await publisher.publish(event(99_999));
      await eventually(() => heard.includes(99_999), 'an event after the failover', 5_000);
      console.info(`sentinel bus: lost ${(stateTimes[0] ?? 0) - killed} ms and live ${(stateTimes[1] ?? 0) - killed} ms after the kill`);
    } finally {
      await Promise.all([storage.close(), sessions.close(), appStorage.close(), subscriber.close(), publisher.close(), closing.close()]);
      appClient.disconnect();
    }
  }, 45_000);
});
