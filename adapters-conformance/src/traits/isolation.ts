/**
 * Staleness and isolation (docs/contract.md §2, §7, §8): an instance never serves
 * what another instance has since replaced — checked again after later writes, so a
 * cache filled on the first read and never refreshed fails — and closing one
 * instance of a backend leaves every other instance of it working. A closed bus
 * delivers nothing more, and nobody hears an event twice, checked over a quiet period.
 */
import type { SessionEvent, SessionEventBus } from '@mtstore/core';
import { authKey, fullSession, peer } from '../fixtures.js';
import { sleep, waitFor } from '../harness.js';
import type { BusRegistrar, ServerRegistrar, StorageRegistrar } from './context.js';

const SHARED_BACKEND_REASON = 'declared capability sharedBackend: false (instances on one namespace do not share data)';
/** After the expected deliveries, how long the kit watches for late or duplicate ones. */
export const QUIET_PERIOD = 300;

export function clientStaleness({ group, test, skip, expect, options }: StorageRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  group('staleness and isolation', () => {
    const reread = 'every read on the other instance is fresh after each later write (snapshot, state, keys, kv, peers, references)';
    if (!shared) skip(reread, SHARED_BACKEND_REASON);
    else
      test(reread, async (s) => {
        const a = await s.open();
        const b = await s.open();
        for (let round = 1; round <= 4; round++) {
          // Every read on b, every round: b has read each value before it changes.
          await a.save(fullSession(round));
          expect(await b.load(), `round ${round}: load after save`).toEqual(fullSession(round));
          await a.saveUpdateState({ pts: round, qts: round, date: round, seq: round }, [{ id: 9n, pts: round }]);
          expect((await b.load())?.state?.pts, `round ${round}: state`).toBe(round);
          await a.update({ apiId: 100 + round });
          expect((await b.load())?.apiId, `round ${round}: update`).toBe(100 + round);
          await a.authKeys.set(7, authKey(round));
          expect(await b.authKeys.get(7), `round ${round}: auth key`).toEqual(authKey(round));
          await a.authKeys.setTemp(7, { index: 1, key: authKey(round + 50), expiresAt: round });
          expect(await b.authKeys.getTemp(7, 1), `round ${round}: temp key`).toEqual({ index: 1, key: authKey(round + 50), expiresAt: round });
          await a.kv.set('k', Uint8Array.from([round]));
          expect(await b.kv.get('k'), `round ${round}: kv`).toEqual(Uint8Array.from([round]));
          expect(await b.kv.entries(), `round ${round}: kv entries`).toEqual([{ key: 'k', value: Uint8Array.from([round]) }]);
          await a.peers.upsert([peer('user', 1, { accessHash: BigInt(round), usernames: [`name_${round}`] })]);
          expect((await b.peers.getById('user', 1n))?.accessHash, `round ${round}: peer by id`).toBe(BigInt(round));
          expect((await b.peers.getByUsername(`name_${round}`))?.accessHash, `round ${round}: peer by new username`).toBe(BigInt(round));
          expect(await b.peers.getByUsername(`name_${round - 1}`), `round ${round}: the username it dropped`).toBeNull();
          expect((await b.peers.getByPhone(peer('user', 1).phone as string))?.accessHash, `round ${round}: peer by phone`).toBe(BigInt(round));
          expect((await b.peers.list()).peers.map((p) => p.accessHash), `round ${round}: peer list`).toEqual([BigInt(round)]);
          await a.refMessages.store(1n, -100n, round);
          expect(await b.refMessages.getByPeer(1n), `round ${round}: reference`).toEqual({ chatId: -100n, messageId: round });
          await a.authKeys.deleteTemp(7, 1);
          expect(await b.authKeys.getTemp(7, 1), `round ${round}: temp key deleted`).toBeNull();
          await a.kv.delete('k');
          expect(await b.kv.get('k'), `round ${round}: kv deleted`).toBeNull();
          await a.delete();
          expect(await b.load(), `round ${round}: delete`).toBeNull();
          expect(await b.authKeys.get(7), `round ${round}: keys after delete`).toBeNull();
          expect(await b.peers.getById('user', 1n), `round ${round}: peers after delete`).toBeNull();
          expect(await b.refMessages.getByPeer(1n), `round ${round}: references after delete`).toBeNull();
        }
      });

    const listings = 'listings on the other instance are fresh after each later write and clear (authKeys.entries, kv.entries, peers.list, refMessages.list, listNames)';
    if (!shared) skip(listings, SHARED_BACKEND_REASON);
    else
      test(listings, async (s) => {
        const a = await s.open();
        const b = await s.open();
        const another = await s.open('another');
        for (let round = 1; round <= 3; round++) {
          // b lists before every change, so a listing kept from an earlier read shows.
          expect(await b.authKeys.entries(), `round ${round}: keys before`).toEqual([]);
          await a.authKeys.set(7, authKey(round));
          expect(await b.authKeys.entries(), `round ${round}: keys`).toEqual([{ dcId: 7, mediaOnly: false, authKey: authKey(round), tempAuthKeys: [] }]);
          await a.authKeys.clear();
          expect(await b.authKeys.entries(), `round ${round}: keys after clear`).toEqual([]);
          expect(await b.kv.entries(), `round ${round}: kv before`).toEqual([]);
          await a.kv.set('k', Uint8Array.of(round));
          expect(await b.kv.entries(), `round ${round}: kv`).toEqual([{ key: 'k', value: Uint8Array.of(round) }]);
          await a.kv.clear();
          expect(await b.kv.entries(), `round ${round}: kv after clear`).toEqual([]);
          expect(await b.peers.list(), `round ${round}: peers before`).toEqual({ peers: [], cursor: null });
          await a.peers.upsert([peer('user', round)]);
          expect(await b.peers.list(), `round ${round}: peers`).toEqual({ peers: [peer('user', round)], cursor: null });
          await a.peers.clear();
          expect(await b.peers.list(), `round ${round}: peers after clear`).toEqual({ peers: [], cursor: null });
          expect(await b.refMessages.list(), `round ${round}: references before`).toEqual({ refs: [], cursor: null });
          await a.refMessages.store(BigInt(round), -100n, round);
          expect(await b.refMessages.list(), `round ${round}: references`).toEqual({ refs: [{ peerId: BigInt(round), chatId: -100n, messageId: round }], cursor: null });
          await a.refMessages.clear();
          expect(await b.refMessages.list(), `round ${round}: references after clear`).toEqual({ refs: [], cursor: null });
          // Whether 'main', emptied piece by piece, is still listed is unspecified (§2): only 'another' is asked about.
          expect(await b.listNames(), `round ${round}: names before`).not.toContain('another');
          await another.kv.set('k', Uint8Array.of(round));
          expect(await b.listNames(), `round ${round}: names`).toContain('another');
          await another.delete();
          expect(await b.listNames(), `round ${round}: names after delete`).not.toContain('another');
        }
      });

    test('closing one instance leaves the others of the backend reading and writing', async (s) => {
      const a = await s.open();
      const b = await s.open();
      const other = await s.open('other');
      await a.save(fullSession(1));
      await other.save(fullSession(2));
      await a.close();
      if (shared) expect(await b.load(), 'the same name after the other instance closed').toEqual(fullSession(1));
      expect(await other.load(), 'another name after the other instance closed').toEqual(fullSession(2));
      for (const [name, storage, seed] of [
        ['the same name', b, 1],
        ['another name', other, 2],
      ] as const) {
        await storage.save(fullSession(seed + 10));
        await storage.peers.upsert([peer('user', seed)]);
        await storage.kv.set('after', Uint8Array.from([seed]));
        expect(await storage.load(), `${name}: save after the other closed`).toEqual(fullSession(seed + 10));
        expect(await storage.peers.getById('user', BigInt(seed)), `${name}: peers after the other closed`).toEqual(peer('user', seed));
        expect(await storage.kv.get('after'), `${name}: kv after the other closed`).toEqual(Uint8Array.from([seed]));
      }
      const reopened = await s.open();
      await reopened.saveUpdateState({ pts: 5, qts: 5, date: 5, seq: 5 });
      expect((await reopened.load())?.state?.pts, 'an instance opened after the close').toBe(5);
    });
  });
}

export function serverStaleness({ group, test, skip, expect, options }: ServerRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  group('staleness and isolation', () => {
    const reread = 'every read on the other instance is fresh after each later write';
    if (!shared) skip(reread, SHARED_BACKEND_REASON);
    else
      test(reread, async (s) => {
        const a = await s.open();
        const b = await s.open();
        for (let round = 1n; round <= 4n; round++) {
          expect(await b.hasSession(1n, round), `round ${round}: before create`).toBe(false);
          expect(await a.createSession(1n, round)).toBe(true);
          expect(await b.hasSession(1n, round), `round ${round}: after create`).toBe(true);
          expect((await b.listSessions(1n)).length, `round ${round}: list after create`).toBe(1);
          expect(await b.createSession(1n, round), `round ${round}: b creates what a created`).toBe(false);
          expect(await a.destroySession(1n, round)).toBe(true);
          expect(await b.hasSession(1n, round), `round ${round}: after destroy`).toBe(false);
          expect(await b.listSessions(1n), `round ${round}: list after destroy`).toEqual([]);
          expect(await b.destroySession(1n, round), `round ${round}: b destroys what a destroyed`).toBe(false);
          await b.createSession(2n, round);
          expect(await a.destroyAllSessions(2n), `round ${round}: destroyAll sees b's create`).toEqual([round]);
          expect(await b.listSessions(2n), `round ${round}: b sees a's destroyAll`).toEqual([]);
        }
      });

    test('closing one instance leaves the others of the backend working', async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.createSession(1n, 1n);
      await a.close();
      if (shared) expect(await b.hasSession(1n, 1n)).toBe(true);
      expect(await b.createSession(1n, 2n)).toBe(true);
      expect(await b.hasSession(1n, 2n)).toBe(true);
      expect(await b.destroySession(1n, 2n)).toBe(true);
      const reopened = await s.open();
      expect(await reopened.createSession(3n, 3n)).toBe(true);
      expect(await reopened.listSessions(3n)).toEqual([3n]);
    });
  });
}

function listen(bus: SessionEventBus): Promise<SessionEvent[]> {
  const events: SessionEvent[] = [];
  return bus.subscribe((event) => void events.push(event)).then(() => events);
}

const event = (n: number): SessionEvent => ({ type: n % 2 ? 'destroyed' : 'created', authKeyId: BigInt(n), sessionId: BigInt(n), origin: `kit-${n}` });

export function busIsolation({ group, test, expect, options }: BusRegistrar): void {
  const timeout = options.capabilities?.deliveryTimeout ?? 5_000;
  group('staleness and isolation', () => {
    test('a closed bus delivers nothing more to its listeners, over a quiet period', async (s) => {
      const closing = await s.openBus();
      const publisher = await s.openBus();
      const heard = await listen(closing);
      const control = await listen(publisher);
      await publisher.publish(event(1));
      await waitFor(() => heard.length >= 1 && control.length >= 1, timeout, 'the event before close');
      await closing.close();
      for (let n = 2; n <= 4; n++) await publisher.publish(event(n));
      await waitFor(() => control.length >= 4, timeout, 'the events after close on the open bus');
      await sleep(QUIET_PERIOD);
      expect(heard, 'the closed bus').toEqual([event(1)]);
    });

    test('closing one bus leaves the other buses of the namespace publishing and delivering', async (s) => {
      const a = await s.openBus();
      const b = await s.openBus();
      const c = await s.openBus();
      const atB = await listen(b);
      const atC = await listen(c);
      await a.close();
      await b.publish(event(5));
      await c.publish(event(6));
      await waitFor(() => atB.length >= 2 && atC.length >= 2, timeout, 'both events on both open buses');
      await sleep(QUIET_PERIOD);
      expect(atB).toEqual([event(5), event(6)]);
      expect(atC).toEqual([event(5), event(6)]);
      const d = await s.openBus();
      const atD = await listen(d);
      await b.publish(event(7));
      await waitFor(() => atD.length >= 1, timeout, 'an event on a bus opened after the close');
    });

    test('the publisher’s own subscribers hear each event once, over a quiet period', async (s) => {
      const a = await s.openBus();
      const other = await s.openBus();
      const own = await listen(a);
      const second = await listen(a);
      const remote = await listen(other);
      for (let n = 8; n <= 10; n++) await a.publish(event(n));
      await waitFor(() => own.length >= 3 && second.length >= 3 && remote.length >= 3, timeout, 'three events on every listener');
      await sleep(QUIET_PERIOD);
      expect(own, 'the publisher’s first listener').toEqual([event(8), event(9), event(10)]);
      expect(second, 'the publisher’s second listener').toEqual([event(8), event(9), event(10)]);
      expect(remote, 'the other instance').toEqual([event(8), event(9), event(10)]);
    });
  });
}

/**
 * How a reader waits between reads. A single reader that yields one `setImmediate` per
 * read runs in lockstep with a writer whose calls take as many event-loop turns: it can
 * read at the same point of every write and never see a window that opens between a
 * write's steps (state written, one hop, then channels). So several readers run at
 * once, each with its own pacing, and their reads fall at every point of a write.
 * Every pacing yields to I/O at least every other read, so an in-memory adapter does
 * not starve the writer.
 */
function pacings(): ((read: number) => Promise<void>)[] {
  // A fixed seed: the same schedule every run.
  let x = 0x9e3779b9;
  let hops = 1;
  return [
    // one setImmediate after each read (lockstep with a one-hop-per-step writer)
    () => immediates(1),
    // every other read only microtasks (1-5), the others two setImmediate hops
    (read) => (read % 2 === 0 ? microtasks(1 + (read % 5)) : immediates(2)),
    // three setImmediate hops, then a microtask
    async () => {
      await immediates(3);
      await microtasks(1);
    },
    // pseudo-random: 0-3 microtasks, then 0-3 setImmediate hops, never none twice in a row
    async () => {
      x = (Math.imul(x ^ (x >>> 15), 2246822519) + 0x6b43a9b5) >>> 0;
      await microtasks((x >>> 2) & 3);
      hops = (x & 3) === 0 && hops === 0 ? 1 : x & 3;
      await immediates(hops);
    },
  ];
}

async function immediates(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function microtasks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => queueMicrotask(resolve));
}

/**
 * For the torn-read traits: runs `write` while four readers, each with its own pacing
 * (see pacings), call `read` in loops; returns everything they read.
 */
export async function whileWriting<T>(read: () => Promise<T>, write: () => Promise<void>): Promise<T[]> {
  const seen: T[] = [];
  let writing = true;
  const reading = pacings().map(async (pace) => {
    for (let n = 0; writing; n++) {
      seen.push(await read());
      await pace(n);
    }
  });
  try {
    await write();
  } finally {
    writing = false;
    const failed = (await Promise.allSettled(reading)).find((r) => r.status === 'rejected');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }
  return seen;
}
