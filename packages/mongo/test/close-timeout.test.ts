/**
 * closeTimeoutMillis: close()'s grace for calls in flight (docs/contract.md §9), the
 * option @mtstore/postgres and @mtstore/typeorm have under the same name: the server's
 * silence allowed before close() closes the client it owns under the calls still in
 * flight, default CLOSE_GRACE_MS (2 s), 0 for no wait. Each test holds a kv.set of a
 * MongoStorage and a createSession of a MongoSessionStorage that the server does not
 * answer: their connections go through a TCP proxy that is then blackholed (open,
 * nothing forwarded). The driver's monitor is kept out of it (a heartbeat a minute
 * away), so only close() ends the calls. Light on FerretDB: two instances a test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MongoClientOptions } from 'mongodb';
import { fullSession } from '@mtstore/conformance/vitest';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { adapter, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { openProxy, within, type Proxy } from './proxy.js';
import { adminClient, scratch, server, urlFor } from './server.js';

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
/** What the bounds allow for timers firing late on a loaded machine (two cores shared). */
const SLACK = 1_000;
const GRACE = 300;
const CONNECT = 500;
/** No help from the monitor (its next heartbeat a minute away); the client's teardown waits CONNECT for a new connection. */
const QUIET: MongoClientOptions = { heartbeatFrequencyMS: 60_000, connectTimeoutMS: CONNECT, serverSelectionTimeoutMS: 1_000 };
/** close() of a client closed under its calls: the client's teardown may try new connections (endSessions), each up to CONNECT. */
const TEARDOWN = 5 * CONNECT;

/** How a call settled, and when, in ms after close() began (`since`). */
interface Settled {
  readonly code: string | undefined;
  readonly message: string;
  readonly after: number;
}

const settle = (call: Promise<unknown>, since: () => number): Promise<Settled> =>
  call.then(
    () => ({ code: undefined, message: 'resolved', after: Date.now() - since() }),
    (error: { code?: string; message?: string }) => ({ code: error.code, message: String(error.message), after: Date.now() - since() }),
  );

/** `url` with these query parameters set. */
function withParameters(url: string, parameters: Record<string, unknown>): URL {
  const copy = new URL(url);
  for (const [key, value] of Object.entries(parameters)) copy.searchParams.set(key, String(value));
  return copy;
}

if (server.available) {
  const { fresh, track } = scratch();
  const proxies: Proxy[] = [];
  // After scratch()'s afterEach has closed the instances and dropped the databases.
  afterEach(() => Promise.all(proxies.splice(0).map((proxy) => proxy.close())));
  const proxyFor = async (): Promise<Proxy> => {
    const proxy = await openProxy();
    proxies.push(proxy);
    return proxy;
  };

  /**
   * A MongoStorage and a MongoSessionStorage with `closeTimeoutMillis` (given to the
   * constructors, or `fromUrl`: in an openStorage / openSessionStorage URL), used once,
   * then the link goes silent with a call of each in flight.
   */
  async function hold(closeTimeoutMillis: number, closedAt: () => number, fromUrl = false) {
    const proxy = await proxyFor();
    const database = fresh();
    let storage: MongoStorage;
    let sessions: MongoSessionStorage;
    if (fromUrl) {
      const url = withParameters(proxy.url(database), { ...QUIET, closeTimeoutMillis });
      storage = track(adapter.openStorage(url, { name: 'held' }) as MongoStorage);
      const opened = await adapter.openSessionStorage(url);
      sessions = track(opened.storage as MongoSessionStorage);
      // The bus keeps its own grace (CLOSE_GRACE_MS): it takes no closeTimeoutMillis.
      const bus = opened.bus;
      if (bus !== undefined) track(bus);
    } else {
      storage = track(new MongoStorage({ url: proxy.url(database), name: 'held', clientOptions: QUIET, closeTimeoutMillis }));
      sessions = track(new MongoSessionStorage({ url: proxy.url(database), clientOptions: QUIET, closeTimeoutMillis }));
    }
    await storage.save(fullSession(1));
    expect(await sessions.createSession(1n, 1n)).toBe(true);
    proxy.blackhole();
    const calls = [settle(storage.kv.set('held', Uint8Array.of(1)), closedAt), settle(sessions.createSession(1n, 2n), closedAt)];
    // On the wire, going nowhere, before close().
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { proxy, storage, sessions, calls };
  }

  describe('closeTimeoutMillis', () => {
    it('0: close() does not wait; the calls in flight reject StorageUnavailableError at once', async () => {
      let started = 0;
      const held = await hold(0, () => started);
      try {
        started = Date.now();
        await within(TEARDOWN + SLACK, 'close()', Promise.all([held.storage.close(), held.sessions.close()]));
        const closedAfter = Date.now() - started;
        const [set, create] = await Promise.all(held.calls);
        for (const call of [set, create]) {
          expect(call?.code, call?.message).toBe(UNAVAILABLE);
          expect(call?.after, call?.message).toBeLessThan(300);
        }
        expect(closedAfter).toBeLessThan(TEARDOWN + SLACK);
        console.info(`mongo: closeTimeoutMillis 0, calls rejected after ${set?.after} / ${create?.after} ms (${set?.message}), close() resolved after ${closedAfter} ms`);
      } finally {
        held.proxy.up();
      }
    }, 20_000);

    it(`${GRACE}, from an openStorage / openSessionStorage URL: close() gives up on a silent server after ${GRACE} ms, not CLOSE_GRACE_MS (${CLOSE_GRACE_MS} ms)`, async () => {
      let started = 0;
      const held = await hold(GRACE, () => started, true);
      try {
        started = Date.now();
        await within(GRACE * 1.25 + TEARDOWN + SLACK, 'close()', Promise.all([held.storage.close(), held.sessions.close()]));
        const closedAfter = Date.now() - started;
        const [set, create] = await Promise.all(held.calls);
        for (const call of [set, create]) {
          expect(call?.code, call?.message).toBe(UNAVAILABLE);
          // The silence is checked every tenth of the grace, then after one more poll phase.
          expect(call?.after, call?.message).toBeGreaterThanOrEqual(GRACE - 10);
          expect(call?.after, call?.message).toBeLessThan(GRACE + SLACK);
        }
        expect(closedAfter).toBeGreaterThanOrEqual(GRACE - 10);
        console.info(`mongo: closeTimeoutMillis ${GRACE}, calls rejected after ${set?.after} / ${create?.after} ms, close() resolved after ${closedAfter} ms`);
      } finally {
        held.proxy.up();
      }
    }, 20_000);

    it('a bad value is InvalidArgumentError from the constructor, before any connection is made; so is the option with a client or Db of the application', async () => {
      const proxy = await proxyFor();
      const database = fresh();
      const url = proxy.url(database);
      for (const value of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, 2 ** 32, '5', true, {}, null]) {
        const closeTimeoutMillis = value as number;
        expect(() => new MongoStorage({ url, closeTimeoutMillis }), String(value)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('MongoStorage: closeTimeoutMillis') }));
        expect(() => new MongoSessionStorage({ url, closeTimeoutMillis }), String(value)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('MongoSessionStorage: closeTimeoutMillis') }));
      }
      // The bounds themselves are taken.
      for (const closeTimeoutMillis of [0, 2 ** 31 - 1]) await new MongoStorage({ url, closeTimeoutMillis }).close();
      // mtstore never closes the application's client: the option would do nothing there.
      const client = adminClient();
      const refused = expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('closeTimeoutMillis applies only to a client mtstore makes from url') });
      expect(() => new MongoStorage({ client, database, closeTimeoutMillis: 300 })).toThrow(refused);
      expect(() => new MongoSessionStorage({ db: client.db(database), closeTimeoutMillis: 0 })).toThrow(refused);
      // In a URL: digits only, then the same rule.
      for (const value of ['-1', '1.5', 'abc', '', '2147483648']) {
        const bad = withParameters(url, { closeTimeoutMillis: value });
        expect(() => adapter.openStorage(bad, { name: 'x' }), value).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('MongoStorage: closeTimeoutMillis') }));
        expect(() => adapter.openSessionStorage(bad), value).toThrow(expect.objectContaining({ name: 'InvalidArgumentError', message: expect.stringContaining('MongoSessionStorage: closeTimeoutMillis') }));
      }
      expect(proxy.connections).toBe(0);
    });
  });
}
