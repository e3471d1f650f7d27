/**
 * The bus's `lost` / `live` for subscriptions made around a failure of its feed
 * (docs/contract.md §7): a subscription made while the bus is lost hears `lost` at
 * once, before subscribe() resolves, and `live` with the others; one made after the
 * feed stopped (every subscriber left) and started again hears nothing, nothing having
 * been missed. The feed fails for real: the bus reaches FerretDB through a loopback
 * proxy that is taken down (connections reset, new ones refused), so its polls fail
 * after the driver's server selection timeout; the cache's storage and the other node
 * reach the server directly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { MongoClientOptions } from 'mongodb';
import { waitFor } from '@mtstore/conformance/vitest';
import { CachedSessionStorage, SessionSubject, type SessionEvent } from '@mtstore/core';
import { MongoSessionEventBus, MongoSessionStorage } from '../src/index.js';
import { openProxy, type Proxy } from './proxy.js';
import { closeAdmin, ownScratch, server, urlFor } from './server.js';

/**
 * Polls through the downed proxy fail within about this long (server selection), not the
 * bus's 5 s stall bound. The same bound covers the bus's first connect through the proxy
 * (up): 2 s, not 500 ms, which a loaded machine can miss (the kit's bus instances failed
 * 'Server selection timed out after 300 ms' on a first connect in CI at 80020e5).
 */
const FAST: MongoClientOptions = { serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000, heartbeatFrequencyMS: 500 };

if (server.available) {
  afterAll(closeAdmin);

  /**
   * Scratch space and proxies of one test. The three tests run side by side (both describes
   * concurrent): each mostly waits on poll intervals and the stall bound, 11.6 s one after
   * another alone. What a test opened is closed when it finishes (its proxies first).
   */
  function own(onTestFinished: (cleanup: () => Promise<void>) => void) {
    const { fresh, track } = ownScratch(onTestFinished);
    const proxies: Proxy[] = [];
    onTestFinished(async () => {
      for (const proxy of proxies) await proxy.close();
    });
    const proxyFor = async (): Promise<Proxy> => {
      const proxy = await openProxy();
      proxies.push(proxy);
      return proxy;
    };
    async function proxied(database: string, pollInterval: number): Promise<{ proxy: Proxy; bus: MongoSessionEventBus; errors: unknown[] }> {
      const proxy = await proxyFor();
      const errors: unknown[] = [];
      const bus = track(new MongoSessionEventBus({ url: proxy.url(database), clientOptions: FAST, mode: 'poll', pollInterval, onError: (error) => errors.push(error) }));
      return { proxy, bus, errors };
    }
    return { fresh, track, proxyFor, proxied };
  }

  describe.concurrent('a subscription made while the bus is lost', () => {
    it('hears lost before subscribe() resolves and live with the others; a cache made then does not answer from memory while the bus is deaf', async ({ onTestFinished }) => {
      const { fresh, track, proxied } = own(onTestFinished);
      const database = fresh();
      // Long between polls: after the failed one, the bus stays lost for POLL ms while the server is back.
      const POLL = 6_000;
      const { proxy, bus, errors } = await proxied(database, POLL);
      const first: string[] = [];
      await bus.subscribe(() => {}, { onState: (state) => first.push(state) });
      proxy.down();
      await waitFor(() => first.length === 1, POLL + 5_000, 'lost');
      expect(first).toEqual(['lost']);
      expect(errors.length).toBeGreaterThan(0);
      // The server is reachable again, but the bus's next poll is seconds away: it is still lost.
      proxy.up();
      const second: string[] = [];
      await bus.subscribe(() => {}, { onState: (state) => second.push(state) });
      expect(second).toEqual(['lost']);

      // A cache made now over that bus must not fill: a destroy elsewhere is in the log, unheard.
      const sessions = new MongoSessionStorage({ url: urlFor(database) });
      const cache = track(new CachedSessionStorage(sessions, { bus }));
      track(sessions);
      await cache.ready();
      expect(cache.stats().live).toBe(false);
      // Another node: its own storage and bus, straight to the server (closed after its subject).
      const [otherStorage, otherBus] = [new MongoSessionStorage({ url: urlFor(database) }), new MongoSessionEventBus({ url: urlFor(database) })];
      const elsewhere = track(new SessionSubject(otherStorage, { bus: otherBus }));
      track(otherBus);
      track(otherStorage);
      expect(await elsewhere.createSession(1n, 2n)).toBe(true);
      expect(await cache.hasSession(1n, 2n)).toBe(true);
      expect(await elsewhere.destroySession(1n, 2n)).toBe(true);
      // Asked before the bus has heard the destroy: storage answers, not a cached yes.
      expect(await cache.hasSession(1n, 2n)).toBe(false);
      expect(first).toEqual(['lost']);

      await waitFor(() => first.length === 2 && second.length === 2, POLL + 5_000, 'live again');
      expect(first).toEqual(['lost', 'live']);
      expect(second).toEqual(['lost', 'live']);
      expect(cache.stats().live).toBe(true);
      expect(await cache.hasSession(1n, 2n)).toBe(false);
    });

    it('one made after every subscriber left a lost bus and the server came back hears nothing: its feed starts afresh', async ({ onTestFinished }) => {
      const { fresh, track, proxied } = own(onTestFinished);
      const database = fresh();
      const { proxy, bus } = await proxied(database, 50);
      const first: string[] = [];
      const unsubscribe = await bus.subscribe(() => {}, { onState: (state) => first.push(state) });
      proxy.down();
      await waitFor(() => first.length === 1, 5_000, 'lost');
      // Every subscriber leaves while the bus is lost: the feed stops.
      await unsubscribe();
      proxy.up();
      const states: string[] = [];
      const heard: SessionEvent[] = [];
      await bus.subscribe((event) => heard.push(event), { onState: (state) => states.push(state) });
      const publisher = track(new MongoSessionEventBus({ url: urlFor(database) }));
      await publisher.publish({ type: 'created', authKeyId: 3n, sessionId: 4n, origin: 'elsewhere' });
      // Heard through polls that succeeded: a live with no lost before it would have come with the first.
      await waitFor(() => heard.length === 1, 5_000, 'the event');
      expect(states).toEqual([]);
      expect(first).toEqual(['lost']);
    });
  });

  describe.concurrent('a poll the server never answers', () => {
    it('says lost within the stall bound (the driver noticing nothing) and live once a poll answers, nothing missed', async ({ onTestFinished }) => {
      const { fresh, track, proxyFor } = own(onTestFinished);
      const database = fresh();
      const proxy = await proxyFor();
      const errors: unknown[] = [];
      // The driver's monitor checks the server once a minute: within this test only the bus's own bound can notice.
      const bus = track(new MongoSessionEventBus({ url: proxy.url(database), clientOptions: { heartbeatFrequencyMS: 60_000 }, mode: 'poll', pollInterval: 50, onError: (error) => errors.push(error) }));
      const publisher = track(new MongoSessionEventBus({ url: urlFor(database) }));
      const states: string[] = [];
      const heard: bigint[] = [];
      await bus.subscribe((event) => heard.push(event.authKeyId), { onState: (state) => states.push(state) });
      await publisher.publish({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'elsewhere' });
      await waitFor(() => heard.length === 1, 5_000, 'the first event');
      // The connections stay open and nothing passes either way (a server paused, a proxy holding the traffic).
      proxy.blackhole();
      await publisher.publish({ type: 'destroyed', authKeyId: 2n, sessionId: 2n, origin: 'elsewhere', reason: 'explicit' });
      // The bound is 5 s (STALL_MS, pollInterval being shorter); generous here for a loaded machine.
      await waitFor(() => states.length === 1, 20_000, 'lost while the poll hangs');
      expect(states).toEqual(['lost']);
      expect(heard).toEqual([1n]);
      expect(errors[0]).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringMatching(/has not answered for 5000 ms/) });
      // The traffic goes through again: the held poll gets its answer, with the event published meanwhile.
      proxy.up();
      await waitFor(() => states.length === 2 && heard.length === 2, 20_000, 'live and the event published during the stall');
      expect(states).toEqual(['lost', 'live']);
      expect(heard).toEqual([1n, 2n]);
    }, 60_000);
  });
}
