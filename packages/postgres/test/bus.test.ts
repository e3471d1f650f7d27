/**
 * The LISTEN/NOTIFY bus beyond the kit: one dedicated connection, ids-only payloads,
 * reconnection after the server kills the listening connection, a connection that dies
 * silently (behind a blackholed proxy) noticed by the heartbeat, and payloads that are
 * not mtstore events.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
// By path: this package cannot depend on @mtstore/test-adapters, which depends on it.
import { unhandledRejections } from '../../test-adapters/src/outcomes.js';
import { openProxy, within, type Proxy } from '../../test-adapters/src/proxy.js';
import { answeredWhileStalling, darkWhileStalling } from '../../test-adapters/src/stall.js';
import { PostgresSessionEventBus } from '../src/index.js';
import { admin, applicationName, backends, freshSchema, gone, probe, terminate, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

function event(n: number, origin = 'test'): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: -BigInt(n), origin };
}

function bus(schema: string, application: string, errors: unknown[] = []) {
  return track(
    new PostgresSessionEventBus({
      config: { connectionString: url, application_name: application },
      schema,
      reconnectDelay: { initial: 20, max: 200 },
      onError: (error) => errors.push(error),
    }),
  );
}

describe.runIf(server.available)('bus', () => {
  it('uses one dedicated connection for LISTEN and NOTIFY, and the payload carries ids only', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-one');
    const a = bus(schema, application);
    // A plain pg client listening on the channel sees the wire format.
    const spy = track(new pg.Client({ connectionString: url }));
    await spy.connect();
    const raw: string[] = [];
    spy.on('notification', (n) => raw.push(n.payload ?? ''));
    await spy.query(`LISTEN "${a.channel}"`);
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    for (let i = 1; i <= 20; i++) await a.publish({ ...event(i), type: i % 2 ? 'created' : 'destroyed' });
    await until(() => heard.length === 20 && raw.length === 20, 'twenty events');
    expect(await backends(application)).toHaveLength(1);
    expect(a.channel).toBe(`mtstore_${schema}`);
    expect(JSON.parse(raw[0] as string)).toEqual({ t: 'c', a: '1', s: '-1', o: 'test' });
    for (const payload of raw) expect(Object.keys(JSON.parse(payload)).sort()).toEqual(['a', 'o', 's', 't']);
  });

  it('publishes made at once go out one at a time, in call order, without pg\'s concurrent-query deprecation warning', async () => {
    const schema = freshSchema();
    const a = bus(schema, applicationName('bus-order'));
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => a.publish(event(i + 1))));
      await until(() => heard.length === 50, 'fifty events');
      // Let a warning emitted by pg reach the process listeners.
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('warning', onWarning);
    }
    expect(heard.map((e) => Number(e.authKeyId))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
  });

  it('3,000 publishes made at once (a destroyAllSessions of 3,000 sessions) go out in a few statements, every event heard by another bus in call order', async () => {
    const schema = freshSchema();
    const a = bus(schema, applicationName('bus-batch'));
    const b = bus(schema, applicationName('bus-batch-b'));
    const heard: SessionEvent[] = [];
    await b.subscribe((e) => heard.push(e));
    await a.publish(event(0)); // connected: only the publishes below are counted
    // Counts what every pg Client sends (passed on unchanged): one statement per event before.
    const query = pg.Client.prototype.query;
    let notifies = 0;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text;
      if (text?.includes('pg_notify')) notifies++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    try {
      await Promise.all(Array.from({ length: 3_000 }, (_, i) => a.publish(event(i + 1))));
    } finally {
      pg.Client.prototype.query = query;
    }
    await until(() => heard.length === 3_001, '3,001 events');
    expect(heard.map((e) => Number(e.authKeyId))).toEqual(Array.from({ length: 3_001 }, (_, i) => i));
    expect(notifies).toBeLessThanOrEqual(5);
  });

  it('close() lets the publishes made before it finish: 3,000 at once, then close() at once, every one heard by another bus', async () => {
    const schema = freshSchema();
    const a = bus(schema, applicationName('bus-close-publishes'));
    const b = bus(schema, applicationName('bus-close-publishes-b'));
    const heard: SessionEvent[] = [];
    await b.subscribe((e) => heard.push(e));
    await a.publish(event(0));
    const publishes = Array.from({ length: 3_000 }, (_, i) => a.publish(event(i + 1)));
    await a.close();
    // Every one rejected "Connection terminated" before: close() ended the connection under them.
    const outcomes = await Promise.allSettled(publishes);
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    await until(() => heard.length === 3_001, '3,001 events');
    await expect(a.publish(event(1))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
  });

  it('the same event published twice at once is heard twice (PostgreSQL delivers one of identical notifications of one transaction)', async () => {
    const schema = freshSchema();
    const a = bus(schema, applicationName('bus-same'));
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    const created = event(7);
    const destroyed: SessionEvent = { ...created, type: 'destroyed', reason: 'explicit' };
    await Promise.all([a.publish(created), a.publish(destroyed), a.publish(created), a.publish(destroyed)]);
    await until(() => heard.length === 4, 'four events');
    expect(heard.map((e) => e.type)).toEqual(['created', 'destroyed', 'created', 'destroyed']);
  });

  it('two buses publishing at once: the subscribers of both hear every event once, in one order (the server\'s), each as it was published', async () => {
    // A bus hands its subscribers its own events from what it kept at publish (not
    // decoded back): they must still be the events published, in the server's order.
    const schema = freshSchema();
    const a = bus(schema, applicationName('bus-two-a'));
    const b = bus(schema, applicationName('bus-two-b'));
    const heardA: SessionEvent[] = [];
    const heardB: SessionEvent[] = [];
    await a.subscribe((e) => heardA.push(e));
    await b.subscribe((e) => heardB.push(e));
    const published: SessionEvent[] = [];
    for (let wave = 0; wave < 4; wave++) {
      const fromA = Array.from({ length: 300 }, (_, i): SessionEvent => {
        // Session 0 created, destroyed, created and destroyed again: each payload twice in one wave.
        if (i < 4) return i % 2 === 0 ? event(0, 'node a') : { ...event(0, 'node a'), type: 'destroyed', reason: 'explicit' };
        const n = wave * 1_000 + i;
        return i % 3 === 0 ? { ...event(n, 'node a'), type: 'destroyed', reason: 'expired' } : event(n, 'node a');
      });
      const fromB = Array.from({ length: 300 }, (_, i) => event(100_000 + wave * 1_000 + i, 'node b'));
      published.push(...fromA.map((e) => ({ ...e })), ...fromB);
      const publishes = [...fromA.map((e) => a.publish(e)), ...fromB.map((e) => b.publish(e))];
      // The caller's objects change once published: what is heard does not.
      for (const e of fromA) Object.assign(e, { sessionId: 0n, origin: 'changed' });
      await Promise.all(publishes);
    }
    await until(() => heardA.length === published.length && heardB.length === published.length, 'every event on both buses');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heardA).toEqual(heardB);
    const key = (e: SessionEvent) => `${e.type} ${e.authKeyId} ${e.sessionId} ${e.origin} ${e.reason}`;
    expect(heardA.map(key).sort()).toEqual(published.map(key).sort());
    // Each bus's own events in the order it published them.
    expect(heardA.filter((e) => e.origin === 'node a').map(key)).toEqual(published.filter((e) => e.origin === 'node a').map(key));
    expect(heardB.filter((e) => e.origin === 'node a').map(key)).toEqual(published.filter((e) => e.origin === 'node a').map(key));
    expect(heardA.every((e) => Object.isFrozen(e)) && heardB.every((e) => Object.isFrozen(e))).toBe(true);
  });

  it('after the server kills its connection, the bus reconnects by itself, LISTENs again and keeps delivering', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-listen');
    const errors: unknown[] = [];
    const listener = bus(schema, application, errors);
    const publisher = bus(schema, applicationName('bus-publish'));
    const heard: SessionEvent[] = [];
    await listener.subscribe((e) => heard.push(e));
    await publisher.publish(event(1));
    await until(() => heard.length === 1, 'the first event');

    for (let round = 0; round < 2; round++) {
      const killed = await terminate(application);
      expect(killed).toHaveLength(1);
      await gone(killed);
      await until(() => errors.length > round, 'the lost connection to be reported');
      // Publish until the reconnected bus hears a new event; events sent while it was away are lost (at-most-once).
      let n = 100 * (round + 1);
      const before = heard.length;
      await until(async () => {
        await publisher.publish(event(n++));
        return heard.length > before;
      }, 'delivery after reconnecting');
      const pids = await backends(application);
      expect(pids).toHaveLength(1);
      expect(killed).not.toContain(pids[0]);
    }
    expect(errors[0]).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    // Every event heard was published, once each.
    const ids = heard.map((e) => e.authKeyId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('a publish-only bus reconnects on the next publish', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-pub-only');
    const a = bus(schema, application);
    const b = bus(schema, applicationName('bus-sub'));
    const heard: SessionEvent[] = [];
    await b.subscribe((e) => heard.push(e));
    await a.publish(event(1));
    await gone(await terminate(application));
    await a.publish(event(2));
    await until(() => heard.length === 2, 'both events');
    expect(heard.map((e) => e.authKeyId)).toEqual([1n, 2n]);
  });

  it('a payload that is not an mtstore event is reported and skipped; delivery goes on', async () => {
    const schema = freshSchema();
    const errors: unknown[] = [];
    const a = bus(schema, applicationName('bus-garbage'), errors);
    const heard: SessionEvent[] = [];
    await a.subscribe((e) => heard.push(e));
    await admin().query('SELECT pg_notify($1, $2)', [a.channel, '{"not":"an event"}']);
    await a.publish(event(3));
    await until(() => heard.length === 1, 'the valid event');
    expect(heard).toEqual([event(3)]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'MTSTORE_CORRUPT_DATA' });
  });

  it('close ends the connection; publish and subscribe then reject StorageClosedError', async () => {
    const schema = freshSchema();
    const application = applicationName('bus-close');
    const a = bus(schema, application);
    await a.subscribe(() => {});
    expect(await backends(application)).toHaveLength(1);
    await a.close();
    await until(async () => (await backends(application)).length === 0, 'the connection to end');
    await expect(a.publish(event(1))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
    await expect(a.subscribe(() => {})).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
  });

  it('rejects invalid options', () => {
    expect(() => new PostgresSessionEventBus({ schema: 'bad-name' })).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
    expect(() => new PostgresSessionEventBus({ connectionString: url, config: {} })).toThrow(/not both/);
    for (const heartbeatInterval of [0, 99, 1.5, -1, 2 ** 31, Number.NaN, null as unknown as number, '1000' as unknown as number]) {
      expect(() => new PostgresSessionEventBus({ connectionString: url, heartbeatInterval })).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('heartbeatInterval') }),
      );
    }
    // A delay past Node's timer limit would fire after 1 ms; 0 or NaN would reconnect in a tight loop.
    for (const reconnectDelay of [{ initial: 2 ** 31 }, { max: 2 ** 32 }, { initial: 0 }, { max: Number.NaN }, { initial: -5 }, { max: 1.5 }, { initial: '100' }, 5, null]) {
      expect(() => new PostgresSessionEventBus({ connectionString: url, reconnectDelay: reconnectDelay as never }), JSON.stringify(reconnectDelay)).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('reconnectDelay') }),
      );
    }
    void new PostgresSessionEventBus({ connectionString: url, reconnectDelay: { initial: 1, max: 2 ** 31 - 1 } }).close();
    // An onError that is not a function would have hidden every error (the bus swallows what its hook throws).
    for (const onError of ['warn', {}, null]) {
      expect(() => new PostgresSessionEventBus({ connectionString: url, onError: onError as never }), String(onError)).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('onError') }),
      );
    }
  });
});

/** A short heartbeat, so a silent death is noticed within 2 × 200 ms. */
const HEARTBEAT = 200;
/** What the bounds below allow for timers firing late on a loaded machine (CI runs packages side by side on two cores). */
const SLACK = 1_500;

describe.runIf(server.available)('bus whose connection dies silently (a proxy that goes dark)', () => {
  const proxies: Proxy[] = [];
  const buses: PostgresSessionEventBus[] = [];
  const rejections = unhandledRejections();
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  /** A bus through a fresh proxy (heartbeat 200 ms; pg's own connect and query timeouts left at the bus defaults, 10 s and 30 s), and a publisher straight to the server. */
  async function setup(errors: unknown[] = []) {
    const proxy = await openProxy(url);
    proxies.push(proxy);
    const schema = freshSchema();
    const application = applicationName('bus-dark');
    const listener = new PostgresSessionEventBus({
      config: { connectionString: proxy.url(), application_name: application },
      schema,
      reconnectDelay: { initial: 20, max: 200 },
      heartbeatInterval: HEARTBEAT,
      onError: (error) => errors.push(error),
    });
    const publisher = bus(schema, applicationName('bus-dark-publish'));
    buses.push(listener, publisher);
    return { proxy, application, listener, publisher };
  }

  it('notices within two heartbeats (lost, reported), and once a route is back reconnects, says live and delivers; no socket is left behind', async () => {
    const errors: unknown[] = [];
    const { proxy, application, listener, publisher } = await setup(errors);
    const heard: SessionEvent[] = [];
    const states: { state: string; at: number }[] = [];
    await listener.subscribe((e) => heard.push(e), { onState: (state) => states.push({ state, at: Date.now() }) });
    await publisher.publish(event(1));
    await until(() => heard.length === 1, 'the first event');

    // The link goes dark: the connection stays open, nothing passes, nobody is told.
    const dark = Date.now();
    proxy.blackhole();
    await until(() => states.length > 0, 'lost', 5_000);
    expect(states.map((s) => s.state)).toEqual(['lost']);
    const noticedMs = (states[0]?.at ?? 0) - dark;
    expect(noticedMs).toBeLessThan(2 * HEARTBEAT + SLACK);
    expect(errors[0]).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('heartbeatInterval') });
    // Dark a while longer: reconnects meanwhile are accepted and never answered (the heartbeat bounds them too).
    await new Promise((resolve) => setTimeout(resolve, 4 * HEARTBEAT));
    expect(states.map((s) => s.state)).toEqual(['lost']);

    // A new route: new connections reach the server; the old ones stay dead for good (their peer is gone).
    const back = Date.now();
    proxy.up({ resume: false });
    await until(() => states.length === 2, 'live again', 5_000);
    expect(states.map((s) => s.state)).toEqual(['lost', 'live']);
    await publisher.publish(event(2));
    await until(() => heard.some((e) => e.authKeyId === 2n), 'the event published after live', 2_000);
    const recoveredMs = Date.now() - back;
    // A reconnect still held from the dark spell dropped (two heartbeats at most), the
    // reconnect backoff (at most 200 ms here), a connect and a LISTEN (500 ms is plenty).
    expect(recoveredMs).toBeLessThan(2 * HEARTBEAT + 200 + 500 + SLACK);
    // The bus destroyed the sockets it gave up on: once the proxy hears of it, only the new connection is left on the server.
    await until(async () => (await backends(application)).length === 1, 'one connection left', 5_000);
    expect(rejections).toEqual([]);
    console.info(`postgres bus, silent death: lost after ${noticedMs} ms (heartbeat ${HEARTBEAT} ms); delivering ${recoveredMs} ms after the route came back`);
  });

  it('an application that blocks its loop for longer than a heartbeat after every tick still hears lost when the link goes dark', async () => {
    // Every heartbeat tick comes late: a late tick alone proves nothing, two in a row without an answer do (core heartbeatJudge).
    const { states, noticedMs } = await darkWhileStalling(await setup(), HEARTBEAT, event);
    expect(states).toEqual(['lost']);
    // The first tick after the link went dark asks, the next two (late, each after a 2.5-heartbeat stall) find no answer.
    expect(noticedMs).toBeLessThan(3 * 3.5 * HEARTBEAT + SLACK);
    console.info(`postgres bus, silent death under stalls of ${2.5 * HEARTBEAT} ms after every tick: lost after ${noticedMs.toFixed(0)} ms (heartbeat ${HEARTBEAT} ms)`);
  });

  it('close() with publishes in flight over a dark link stops waiting for them after a second without an answer: they reject, close() settles', async () => {
    const { proxy, listener } = await setup();
    await listener.publish(event(1));
    proxy.blackhole();
    const publishes = [listener.publish(event(2)), listener.publish(event(3))];
    await new Promise((resolve) => setTimeout(resolve, 20));
    const started = Date.now();
    await within(5_000, 'close', listener.close());
    // A second without an answer to the publishes, then the grace pg's Terminate gets (1 s).
    expect(Date.now() - started).toBeLessThan(2_000 + SLACK);
    for (const outcome of await Promise.allSettled(publishes)) expect(outcome.status).toBe('rejected');
    proxy.up();
    expect(rejections).toEqual([]);
  });

  it('a publish, or a first subscribe, over a dark link rejects StorageUnavailableError within two heartbeats (not pg\'s 10 s connect or 30 s query timeout)', async () => {
    const { proxy, listener, publisher } = await setup();
    await listener.publish(event(1));
    proxy.blackhole();
    let started = Date.now();
    await expect(within(5_000, 'publish', listener.publish(event(2)))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2 * HEARTBEAT + SLACK);

    const other = new PostgresSessionEventBus({ connectionString: proxy.url(), schema: freshSchema(), heartbeatInterval: HEARTBEAT, onError: () => {} });
    buses.push(other);
    started = Date.now();
    await expect(within(5_000, 'subscribe', other.subscribe(() => {}))).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2 * HEARTBEAT + SLACK);

    proxy.up({ resume: false });
    const heard: SessionEvent[] = [];
    await listener.subscribe((e) => heard.push(e));
    await publisher.publish(event(3));
    await until(() => heard.some((e) => e.authKeyId === 3n), 'the event', 2_000);
    expect(rejections).toEqual([]);
  });

  it('close() while the link is dark settles within about a second, also with a connection attempt under way (subscribe then rejects StorageClosedError)', async () => {
    const { proxy, application, listener } = await setup();
    await listener.subscribe(() => {});
    proxy.blackhole();
    let started = Date.now();
    await within(5_000, 'close', listener.close());
    // The grace close() gives pg's Terminate (1 s), then the socket is dropped.
    expect(Date.now() - started).toBeLessThan(1_000 + SLACK);

    const other = new PostgresSessionEventBus({ connectionString: proxy.url(), schema: freshSchema(), heartbeatInterval: HEARTBEAT, onError: () => {} });
    buses.push(other);
    const subscribing = other.subscribe(() => {});
    await new Promise((resolve) => setTimeout(resolve, 50));
    started = Date.now();
    await within(5_000, 'close', other.close());
    await expect(subscribing).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
    expect(Date.now() - started).toBeLessThan(SLACK);
    // No socket left: once the link is back the proxy hears the closes, and the server has none of the bus's connections.
    proxy.up();
    await until(async () => (await backends(application)).length === 0, 'no connection left', 5_000);
    expect(rejections).toEqual([]);
  });
});

describe.runIf(server.available)('bus heartbeat and a blocked event loop', () => {
  it('an event loop blocked for several heartbeats at a time does not drop a connection that answers', async () => {
    const schema = freshSchema();
    const errors: unknown[] = [];
    const listener = track(
      new PostgresSessionEventBus({ config: { connectionString: url, application_name: applicationName('bus-stall') }, schema, heartbeatInterval: 100, onError: (error) => errors.push(error) }),
    );
    const publisher = bus(schema, applicationName('bus-stall-pub'));
    const { states, delivered } = await answeredWhileStalling({ listener, publisher }, event);
    expect(states, 'lost / live heard while the server answered every check').toEqual([]);
    expect(errors, 'errors reported').toEqual([]);
    expect(delivered, 'an event after the stalls').toBe(true);
  });
});
