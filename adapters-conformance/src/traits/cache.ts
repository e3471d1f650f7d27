/**
 * CachedSessionStorage over the adapter's real storage and bus (docs/contract.md §7.2):
 * two nodes, node A destroys, node B's cached `hasSession` turns false within the bus
 * latency (measured and printed); with B's bus connection cut and restored, no stale
 * "yes" is served once it is back; the bus tells subscribers `lost` and `live`.
 */
import { CachedSessionStorage, SessionSubject, type SessionEventBus, type SessionEventBusState } from '@mtstore/core';
import { CODES, sleep, waitFor } from '../harness.js';
import type { BusRegistrar, BusScope } from './context.js';

const ROUNDS = 20;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

/** Node A: a subject publishing on its bus. Node B: a cache on its own bus connection. */
async function twoNodes(s: BusScope) {
  const a = s.track(new SessionSubject(await s.open(), { id: 'node-a', bus: await s.openBus() }));
  const busB = await s.openBus();
  const b = s.track(new CachedSessionStorage(await s.open(), { bus: busB }));
  await Promise.all([a.ready(), b.ready()]);
  return { a, b, busB };
}

/** Records a bus's state changes through a subscription of its own. */
async function watchStates(bus: SessionEventBus): Promise<SessionEventBusState[]> {
  const states: SessionEventBusState[] = [];
  await bus.subscribe(() => {}, { onState: (state) => states.push(state) });
  return states;
}

export function sessionCache({ group, test, skip, expect, options }: BusRegistrar): void {
  const timeout = options.capabilities?.deliveryTimeout ?? 5_000;
  const interrupt = options.interrupt;

  group('session cache', () => {
    test(`node A destroys, node B's cached hasSession turns false within the bus latency (${ROUNDS} rounds, latency printed)`, async (s) => {
      const { a, b } = await twoNodes(s);
      const latencies: number[] = [];
      for (let i = 1n; i <= BigInt(ROUNDS); i++) {
        await a.createSession(7n, i);
        expect(await b.hasSession(7n, i)).toBe(true);
        const misses = b.stats().misses;
        expect(await b.hasSession(7n, i)).toBe(true);
        expect(b.stats().misses, 'a second hasSession is answered from memory').toBe(misses);
        const started = performance.now();
        expect(await a.destroySession(7n, i)).toBe(true);
        const committed = performance.now();
        while (await b.hasSession(7n, i)) {
          if (performance.now() - committed > timeout) throw new Error(`node B still answered yes ${timeout} ms after node A's destroy`);
          await sleep(0.5);
        }
        latencies.push(performance.now() - started);
      }
      latencies.sort((x, y) => x - y);
      console.info(
        `[kit] session cache eviction latency (destroy on node A → hasSession false on node B), ${ROUNDS} rounds: ` +
          `median ${percentile(latencies, 0.5).toFixed(1)} ms, p90 ${percentile(latencies, 0.9).toFixed(1)} ms, max ${(latencies.at(-1) as number).toFixed(1)} ms`,
      );
      expect(b.stats().evictions).toBeGreaterThan(0);
    });

    test('destroyAllSessions on node A evicts every session of the key on node B; other keys stay cached', async (s) => {
      const { a, b } = await twoNodes(s);
      for (const id of [1n, 2n, 3n]) await a.createSession(4n, id);
      await a.createSession(5n, 1n);
      for (const id of [1n, 2n, 3n]) expect(await b.hasSession(4n, id)).toBe(true);
      expect(await b.hasSession(5n, 1n)).toBe(true);
      await a.destroyAllSessions(4n);
      await waitFor(() => b.stats().evictions >= 3, timeout, 'three evictions on node B');
      for (const id of [1n, 2n, 3n]) expect(await b.hasSession(4n, id)).toBe(false);
      const misses = b.stats().misses;
      expect(await b.hasSession(5n, 1n)).toBe(true);
      expect(b.stats().misses).toBe(misses);
    });

    const reconnect = "node B's bus connection is cut: B's bus says lost then live, the cache is dropped, and no stale yes is served after it is back";
    const churn = 'sessions destroyed on node A while node B answers hasSession in a loop and its bus is cut: once live again, B never says yes for a destroyed session';
    const joining = 'a subscription made while the bus is lost hears lost before subscribe() resolves and live with the others, or resolves only once live';
    if (interrupt === undefined) {
      for (const name of [reconnect, churn, joining]) skip(name, 'the adapter gives no interrupt option (cannot cut a bus connection)');
      return;
    }

    // docs/contract.md §7: "A subscription made while the bus is lost (its shared connection
    // down) hears lost at once, before subscribe() resolves, and live with the others." A
    // bus whose subscribe waits for a live connection meets it too: it resolves live, so an
    // event published right after reaches it. What no bus may do is resolve a subscription
    // that is deaf and say nothing: a cache made on it would fill while it misses destroys.
    test(joining, async (s) => {
      const a = await s.openBus();
      const busB = await s.openBus();
      const states = await watchStates(busB);
      await interrupt(busB);
      await waitFor(() => states.includes('lost'), timeout, "node B's bus to say lost");
      const heard: bigint[] = [];
      let told: SessionEventBusState[] = [];
      // A bus that opens a connection to subscribe may find the database unreachable
      // (StorageUnavailableError, as any call then): the caller tries again, as a cache does.
      const deadline = Date.now() + timeout * 4;
      for (;;) {
        const attempt: SessionEventBusState[] = (told = []);
        const subscribed = await busB.subscribe((e) => heard.push(e.authKeyId), { onState: (state) => attempt.push(state) }).then(
          () => true,
          (error: unknown) => {
            if ((error as { code?: unknown }).code !== CODES.unavailable || Date.now() > deadline) throw error;
            return false;
          },
        );
        if (subscribed) break;
        await sleep(50);
      }
      if (told.length === 0) {
        // Resolved without a word: it must be live now.
        await a.publish({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'kit' });
        await waitFor(() => heard.includes(1n), timeout, 'an event published right after a subscribe() that resolved saying nothing');
      } else {
        expect(told[0], 'the first state a subscription made while the bus is lost hears').toBe('lost');
        await waitFor(() => told.at(-1) === 'live', timeout * 4, 'the late subscription to hear live');
        expect(told, 'the late subscription hears lost, then live with the others').toEqual(['lost', 'live']);
      }
      await waitFor(() => states.at(-1) === 'live', timeout * 4, "node B's bus to say live again");
      await a.publish({ type: 'created', authKeyId: 2n, sessionId: 2n, origin: 'kit' });
      await waitFor(() => heard.includes(2n), timeout, 'an event once the bus is live again');
    });

    test(reconnect, async (s) => {
      const { a, b, busB } = await twoNodes(s);
      const states = await watchStates(busB);
      await a.createSession(1n, 1n);
      await a.createSession(1n, 2n);
      expect(await b.hasSession(1n, 1n)).toBe(true);
      expect(await b.hasSession(1n, 2n)).toBe(true);
      const resets = b.stats().resets;
      await interrupt(busB);
      await waitFor(() => states.includes('lost'), timeout, "node B's bus to say lost");
      // Destroyed while B's bus is down: the event may never reach B.
      expect(await a.destroySession(1n, 1n)).toBe(true);
      expect(await b.hasSession(1n, 1n)).toBe(false);
      await waitFor(() => states.at(-1) === 'live', timeout * 4, "node B's bus to say live again");
      expect(states).toEqual(['lost', 'live']);
      expect(b.stats().resets).toBe(resets + 2);
      expect(b.stats().live).toBe(true);
      expect(await b.hasSession(1n, 1n)).toBe(false);
      expect(await b.hasSession(1n, 2n)).toBe(true);
      // Live again: events flow and evict as before.
      await a.destroySession(1n, 2n);
      await waitFor(() => b.stats().evictions >= 1, timeout, 'an eviction after the reconnect');
      expect(await b.hasSession(1n, 2n)).toBe(false);
    });

    test(churn, async (s) => {
      const { a, b, busB } = await twoNodes(s);
      const states = await watchStates(busB);
      const ids = Array.from({ length: 40 }, (_, i) => BigInt(i + 1));
      for (const id of ids) await a.createSession(2n, id);
      for (const id of ids) expect(await b.hasSession(2n, id)).toBe(true);
      let running = true;
      const reader = (async () => {
        let calls = 0;
        while (running) {
          await b.hasSession(2n, ids[calls++ % ids.length] as bigint);
          if (calls % 50 === 0) await sleep(0);
        }
        return calls;
      })();
      // Destroyed before B said `live` again: B's cache was dropped after they were
      // gone, so B must say no at once. Destroyed after (a loaded machine may reconnect
      // the bus before the loop ends): their events reach B over the live bus, which
      // may take its latency, so B must say no once they have arrived.
      const destroyed: bigint[] = [];
      const afterLive: bigint[] = [];
      try {
        for (const [i, id] of ids.entries()) {
          if (i === 10) await interrupt(busB);
          await a.destroySession(2n, id);
          (states.includes('live') ? afterLive : destroyed).push(id);
          if (i % 4 === 0) await sleep(5);
        }
        await waitFor(() => states.includes('lost'), timeout, "node B's bus to say lost");
        await waitFor(() => states.at(-1) === 'live', timeout * 4, "node B's bus to say live again");
      } finally {
        running = false;
      }
      expect(await reader).toBeGreaterThan(0);
      for (const id of destroyed) expect(await b.hasSession(2n, id), `session ${id} after the reconnect`).toBe(false);
      // A yes cached from a read across the gap would stay (no later event evicts it).
      for (const id of afterLive) {
        let answer = await b.hasSession(2n, id);
        const deadline = Date.now() + timeout;
        while (answer && Date.now() < deadline) {
          await sleep(20);
          answer = await b.hasSession(2n, id);
        }
        expect(answer, `session ${id}, destroyed after the reconnect, once its event had time to arrive`).toBe(false);
      }
    });
  });
}
