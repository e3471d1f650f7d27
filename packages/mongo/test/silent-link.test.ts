/**
 * Connections that die silently: every instance reaches the server through a loopback
 * proxy that goes `blackhole` — connections stay open, nothing passes either way, no FIN,
 * no RST (a partition, a NAT that forgot the flow, a host that vanished) — and then
 * `up({ resume: false })`: new connections get through, the old ones stay silent for good.
 *
 * What is checked (docs/contract.md §8, §9), on FerretDB 1.x here:
 * - calls in flight reject StorageUnavailableError within the driver monitor's bound
 *   (its heartbeat times out and the driver fails the operations on the server's
 *   connections), not only after socketTimeoutMS: client Storage, server SessionStorage,
 *   a holder of the session lease (its heartbeat, fenced writes and write permits);
 * - once new connections get through, the same instances work again by themselves;
 * - close() settles within CLOSE_GRACE_MS plus the client's own teardown, every call in
 *   flight settled, even where the monitor would take a minute to notice (connection.ts,
 *   Closing).
 * The driver settings are shortened through `clientOptions` so the tests run in seconds;
 * the bounds scale with them (README, Lost connections).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MongoClientOptions } from 'mongodb';
import { fullSession, peer } from '@mtstore/conformance/vitest';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { openProxy, within, type Proxy } from './proxy.js';
import { closeAdmin, eventually, ownScratch, plain, server } from './server.js';

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
const HEARTBEAT = 500;
const CONNECT = 1_000;
const SELECT = 1_000;
/** The driver settings of the first two tests: the monitor notices a silent server within HEARTBEAT + CONNECT. */
const FAST: MongoClientOptions = { heartbeatFrequencyMS: HEARTBEAT, connectTimeoutMS: CONNECT, serverSelectionTimeoutMS: SELECT };
/** What the bounds allow for timers firing late on a loaded machine (two cores, other test files running). */
const SLACK = 4_000;
/**
 * From the link going silent to a call in flight rejecting: the next heartbeat and its
 * timeout (HEARTBEAT + CONNECT), then a read the driver retries waits SELECT for the
 * server, and a call that needed a new connection waits for its handshake: up to three
 * attempts of CONNECT (driver 7 retries a failed connection twice).
 */
const NOTICE = HEARTBEAT + CONNECT + SELECT + 3 * CONNECT + SLACK;
/** From `up()` to a call that succeeds: a monitor check made while dark is silent for good too and goes the same way first. */
const RECOVERY = HEARTBEAT + 3 * CONNECT + SELECT + SLACK;

type Outcome = { state: 'resolved'; ms: number } | { state: 'rejected'; ms: number; error: unknown } | { state: 'pending' };

/** How `call` settles within `ms` of `since`, never leaving it unhandled. */
function settle(call: Promise<unknown>, since: number, ms: number): Promise<Outcome> {
  return within(ms - (Date.now() - since), 'call', call).then(
    (): Outcome => ({ state: 'resolved', ms: Date.now() - since }),
    (error: unknown): Outcome => (error instanceof Error && /still pending after/.test(error.message) ? { state: 'pending' } : { state: 'rejected', ms: Date.now() - since, error }),
  );
}

/** Every call rejects StorageUnavailableError within `bound` ms of `since`; returns the slowest. */
async function allUnavailable(calls: Record<string, Promise<unknown>>, since: number, bound: number): Promise<number> {
  // Every call gets its handler now: one that rejects while another is awaited is not unhandled.
  const outcomes = await Promise.all(Object.entries(calls).map(async ([what, call]) => ({ what, outcome: await settle(call, since, bound) })));
  let slowest = 0;
  for (const { what, outcome } of outcomes) {
    expect(outcome.state, `${what}: ${outcome.state} within ${bound} ms`).toBe('rejected');
    if (outcome.state !== 'rejected') continue;
    expect(outcome.error, what).toMatchObject({ code: UNAVAILABLE });
    slowest = Math.max(slowest, outcome.ms);
  }
  return slowest;
}

/** Rejections nobody handled while this file's tests run: a silent link must not leave any. */
const rejections: unknown[] = [];
const onRejection = (reason: unknown): void => {
  rejections.push(reason);
};

/**
 * The three tests run side by side (it.concurrent): each waits seconds on the driver's
 * timers with nothing to do (heartbeats, connect timeouts, the close grace), ~17 s one
 * after another alone, ~7 s together. Each has its own proxy and instances, closed when it
 * finishes (the proxy first, so the instances close over reset connections), and checks
 * that no rejection went unhandled in the file so far: one of a neighbour's fails it too.
 */
describe.runIf(server.available)('connections that die silently (proxy blackhole, FerretDB)', () => {
  afterAll(closeAdmin);
  beforeAll(() => {
    rejections.length = 0;
    process.on('unhandledRejection', onRejection);
  });
  afterAll(() => {
    process.off('unhandledRejection', onRejection);
  });
  /** This test's scratch space and proxies; onTestFinished runs last-registered first. */
  const own = (onTestFinished: (cleanup: () => Promise<void>) => void) => {
    const { fresh, track } = ownScratch(onTestFinished);
    const proxies: Proxy[] = [];
    onTestFinished(async () => {
      await Promise.all(proxies.map((proxy) => proxy.close()));
    });
    const proxyFor = async (): Promise<Proxy> => {
      const proxy = await openProxy();
      proxies.push(proxy);
      return proxy;
    };
    return { fresh, track, proxyFor };
  };

  it.concurrent('calls in flight reject StorageUnavailableError within the monitor bound, and once new connections get through the same instances work again by themselves', async ({ onTestFinished }) => {
    const { fresh, track, proxyFor } = own(onTestFinished);
    const proxy = await proxyFor();
    const database = fresh();
    const storage = track(new MongoStorage({ url: proxy.url(database), name: 'alice', clientOptions: FAST }));
    const sessions = track(new MongoSessionStorage({ url: proxy.url(database), clientOptions: FAST }));
    await storage.save(fullSession(1));
    await storage.peers.upsert([peer('user', 1)]);
    await sessions.createSession(1n, 1n);

    proxy.blackhole();
    const dark = Date.now();
    const slowest = await allUnavailable(
      {
        load: storage.load(),
        saveUpdateState: storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }),
        'peers.upsert': storage.peers.upsert([peer('user', 2)]),
        'peers.getById': storage.peers.getById('user', 1n),
        'kv.set': storage.kv.set('k', Uint8Array.of(1)),
        hasSession: sessions.hasSession(1n, 1n),
        createSession: sessions.createSession(1n, 2n),
        destroySession: sessions.destroySession(1n, 1n),
      },
      dark,
      NOTICE,
    );
    console.log(`silent link: calls in flight rejected within ${slowest} ms (bound ${NOTICE} ms)`);

    proxy.up({ resume: false });
    const healed = Date.now();
    // The same instances, no reopening: what was acknowledged before is there.
    const loaded = await eventually(RECOVERY, () => storage.load());
    expect(plain(loaded)).toEqual(fullSession(1));
    expect(await eventually(RECOVERY, () => sessions.hasSession(1n, 1n))).toBe(true);
    await storage.peers.upsert([peer('user', 3)]);
    expect(await storage.peers.getById('user', 3n)).toEqual(peer('user', 3));
    await storage.saveUpdateState({ pts: 4, qts: 4, date: 4, seq: 4 });
    expect((await storage.load())?.state?.pts).toBe(4);
    expect(await sessions.createSession(1n, 3n)).toBe(true);
    const recovered = Date.now() - healed;
    console.log(`silent link: working again ${recovered} ms after up (bound ${RECOVERY} ms)`);
    expect(recovered).toBeLessThan(RECOVERY + 5_000);
    expect(rejections).toEqual([]);
  }, 60_000);

  it.concurrent('a holder of the session lease: renew, fenced writes and leased batches reject within the monitor bound, its heartbeat and write permits do not hang, and after up it writes again under the same lease', async ({ onTestFinished }) => {
    const { fresh, track, proxyFor } = own(onTestFinished);
    const proxy = await proxyFor();
    const database = fresh();
    const storage = track(new MongoStorage({ url: proxy.url(database), name: 'alice', clientOptions: FAST }));
    await storage.save(fullSession(1));
    const lost: unknown[] = [];
    // Beats every TTL/4 = 4 s; the holder stops writing 12 s after its last confirmed renewal.
    const held = await storage.lease.acquire({ ttlSeconds: 16, onLost: (error) => lost.push(error) });
    await storage.kv.set('k', Uint8Array.of(1)); // a write permit, renewed every 2 s while held
    await storage.peers.upsert([peer('user', 1)]); // the write lease (FerretDB: every write takes it)

    proxy.blackhole();
    const dark = Date.now();
    const slowest = await allUnavailable(
      {
        'lease.renew': storage.lease.renew(),
        'kv.set': storage.kv.set('k', Uint8Array.of(2)),
        'authKeys.set': storage.authKeys.set(2, new Uint8Array(256).fill(2)),
        'peers.upsert': storage.peers.upsert(Array.from({ length: 50 }, (_, k) => peer('user', k + 2))),
        saveUpdateState: storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }),
      },
      dark,
      NOTICE,
    );
    console.log(`silent link, lease held: calls in flight rejected within ${slowest} ms (bound ${NOTICE} ms)`);

    proxy.up({ resume: false });
    const healed = Date.now();
    // New permits and write leases are taken; what the dark period left behind is cleared or ran out.
    await eventually(RECOVERY, () => storage.kv.set('k', Uint8Array.of(3)));
    await storage.peers.upsert([peer('user', 100)]);
    await storage.saveUpdateState({ pts: 3, qts: 3, date: 3, seq: 3 });
    expect([...((await storage.kv.get('k')) ?? [])]).toEqual([3]);
    expect(await storage.peers.getById('user', 100n)).toEqual(peer('user', 100));
    const renewed = await storage.lease.renew();
    expect(renewed.token, 'the same lease, never lost').toBe(held.token);
    const recovered = Date.now() - healed;
    console.log(`silent link, lease held: writing again ${recovered} ms after up`);
    // The heartbeat kept beating through the dark period: a beat after up extends the lease by itself.
    const beaten = await eventually(4_000 + SLACK, async () => {
      const holder = await storage.lease.holder();
      if (holder === null || holder.expiresAt.getTime() <= renewed.expiresAt.getTime()) throw new Error('no heartbeat since the renewal');
      return holder;
    });
    expect(beaten.token).toBe(held.token);
    expect(lost).toEqual([]);
    expect(rejections).toEqual([]);
  }, 60_000);

  it.concurrent('close() over a silent link settles within CLOSE_GRACE_MS plus the teardown, every call in flight settled, though the monitor would not notice for a minute', async ({ onTestFinished }) => {
    const { fresh, track, proxyFor } = own(onTestFinished);
    const proxy = await proxyFor();
    const database = fresh();
    // No help from the monitor: its next heartbeat is a minute away, and socketTimeoutMS is the adapter's 60 s.
    const slow: MongoClientOptions = { heartbeatFrequencyMS: 60_000, connectTimeoutMS: CONNECT, serverSelectionTimeoutMS: SELECT };
    const storage = track(new MongoStorage({ url: proxy.url(database), name: 'alice', clientOptions: slow }));
    const sessions = track(new MongoSessionStorage({ url: proxy.url(database), clientOptions: slow }));
    const bus = track(new MongoSessionEventBus({ url: proxy.url(database), mode: 'poll', onError: () => {}, clientOptions: slow }));
    await storage.save(fullSession(1));
    await storage.lease.acquire({ ttlSeconds: 30 });
    await storage.peers.upsert([peer('user', 1)]);
    await sessions.createSession(1n, 1n);
    await bus.subscribe(() => {});
    // Several connections in each pool, idle when the link goes silent (as in an application that was busy).
    await Promise.all([...Array.from({ length: 4 }, () => storage.load()), ...Array.from({ length: 4 }, () => sessions.hasSession(1n, 1n))]);

    proxy.blackhole();
    const calls: Record<string, Promise<unknown>> = {
      'storage.load': storage.load(),
      'storage.kv.set (fenced)': storage.kv.set('k', Uint8Array.of(1)),
      'storage.peers.upsert (leased)': storage.peers.upsert(Array.from({ length: 50 }, (_, k) => peer('user', k + 2))),
      'storage.saveUpdateState': storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }),
      'sessions.hasSession': sessions.hasSession(1n, 1n),
      'sessions.createSession': sessions.createSession(1n, 2n),
      'sessions.destroySession': sessions.destroySession(1n, 1n),
      'bus.publish': bus.publish({ type: 'created', authKeyId: 1n, sessionId: 3n, origin: 'dark' }),
    };
    await new Promise((resolve) => setTimeout(resolve, 300)); // on the wire, going nowhere
    const closing = Date.now();
    // The grace, checked every quarter of it; then the client's teardown may wait for a new connection
    // to send endSessions: three attempts of CONNECT with driver 7, behind the pool's connections being made
    // (measured: about 4 s here).
    const bound = CLOSE_GRACE_MS * 1.25 + 5 * CONNECT + SLACK;
    const closes: Record<string, Promise<unknown>> = { storage: storage.close(), sessions: sessions.close(), bus: bus.close() };
    // All watched at once, each timed from close().
    const [closeOutcomes, settled] = await Promise.all([
      Promise.all(Object.entries(closes).map(async ([what, close]) => [what, await settle(close, closing, bound)] as const)),
      Promise.all(Object.entries(calls).map(async ([what, call]) => ({ what, outcome: await settle(call, closing, bound) }))),
    ]);
    const closed = Object.fromEntries(closeOutcomes);
    const show = (outcome: Outcome) => (outcome.state === 'pending' ? 'pending' : `${outcome.state} ${outcome.ms} ms`);
    console.log(
      `silent link: close() ${Object.entries(closed)
        .map(([what, outcome]) => `${what} ${show(outcome)}`)
        .join(', ')}; calls in flight ${settled.map(({ what, outcome }) => `${what} ${show(outcome)}`).join(', ')} (bound ${Math.round(bound)} ms)`,
    );
    for (const [what, outcome] of Object.entries(closed)) {
      expect(outcome.state, `${what}.close(): ${outcome.state === 'rejected' ? String(outcome.error) : outcome.state} ${bound} ms after it began`).toBe('resolved');
    }
    for (const { what, outcome } of settled) {
      expect(outcome.state, `${what}: still pending ${bound} ms after close() began`).not.toBe('pending');
      if (outcome.state === 'rejected') expect((outcome.error as { code?: string }).code, `${what}: ${String(outcome.error)}`).toMatch(/^MTSTORE_/);
      // Settled by the time its instance's close() resolved (a few ms for the rejection to travel).
      const own = closed[what.split('.')[0] as string] as Outcome;
      if (outcome.state !== 'pending' && own.state === 'resolved') expect(outcome.ms, `${what} settled after close()`).toBeLessThanOrEqual(own.ms + 100);
    }
    expect(rejections).toEqual([]);
  }, 60_000);
});
