/**
 * close() with calls in flight on a server that answers: the calls finish (the driver
 * interrupts operations on a client being closed, so close() must wait for them), a
 * write made just before close() is there afterwards, and a call after close() is
 * StorageClosedError. The first call (still connecting and migrating) and calls on a
 * connected instance alike. Before the fix each of them failed with "Topology is
 * closed" / "client was closed" (StorageUnavailableError), a write's outcome unknown.
 */
import { describe, expect, it } from 'vitest';
import { fullSession, peer } from '@mtstore/conformance/vitest';
import { CLOSE_GRACE_MS } from '../src/connection.js';
import { MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';
import { adminClient, plain, scratch, server, urlFor } from './server.js';

if (server.available) {
  const { fresh, track } = scratch();

  describe('close() with calls in flight', () => {
    for (const warm of [false, true]) {
      it(`${warm ? 'on a connected instance' : 'during the first call (connecting, migrating)'}: every call finishes, its writes are there, later calls are StorageClosedError`, async () => {
        const database = fresh();
        const storage = new MongoStorage({ url: urlFor(database), name: 'alice' });
        const sessions = new MongoSessionStorage({ url: urlFor(database) });
        if (warm) await Promise.all([storage.load(), sessions.hasSession(9n, 9n)]);
        const calls = [
          storage.save(fullSession(2)),
          storage.kv.set('k', new Uint8Array([1, 2, 3])),
          storage.kv.get('missing'),
          sessions.createSession(1n, 2n),
          sessions.hasSession(3n, 4n),
        ];
        await Promise.all([storage.close(), sessions.close()]);
        expect(await Promise.allSettled(calls)).toEqual([
          { status: 'fulfilled', value: undefined },
          { status: 'fulfilled', value: undefined },
          { status: 'fulfilled', value: null },
          { status: 'fulfilled', value: true },
          { status: 'fulfilled', value: false },
        ]);
        for (const late of [storage.load(), sessions.hasSession(1n, 2n)]) {
          await expect(late).rejects.toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
        }
        const again = track(new MongoStorage({ url: urlFor(database), name: 'alice' }));
        const againSessions = track(new MongoSessionStorage({ url: urlFor(database) }));
        expect(plain(await again.load())).toEqual(fullSession(2));
        expect(plain(await again.kv.get('k'))).toEqual(new Uint8Array([1, 2, 3]));
        expect(await againSessions.hasSession(1n, 2n)).toBe(true);
      });
    }

    for (const warm of [false, true]) {
      it(`${warm ? 'on a connected instance' : 'during the first call (connecting, migrating)'}: repository calls alone in flight (no snapshot call beside them to wait for) each finish, their writes are there`, async () => {
        const database = fresh();
        const storage = new MongoStorage({ url: urlFor(database), name: 'alice' });
        if (warm) await storage.peers.upsert([peer('user', 1)]);
        // Reads, and writes no lease or permit waits for (kv, reference messages): only the
        // count of calls in flight keeps close() from closing the client under them.
        const calls = [
          storage.kv.get('missing'),
          storage.kv.set('k', new Uint8Array([1])),
          storage.peers.getById('user', 1n),
          storage.refMessages.store(1n, 2n, 3),
          storage.authKeys.entries(),
          storage.lease.holder(),
        ];
        await storage.close();
        const settled = await Promise.allSettled(calls);
        expect(settled.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
        expect((settled[2] as PromiseFulfilledResult<unknown>).value === null).toBe(!warm);
        const again = track(new MongoStorage({ url: urlFor(database), name: 'alice' }));
        expect(plain(await again.kv.get('k'))).toEqual(new Uint8Array([1]));
        expect(await again.refMessages.getByPeer(1n)).toEqual({ chatId: 2n, messageId: 3 });
      });
    }

    it('the bus: publishes in flight are written, a subscribe in flight is StorageClosedError (closed while subscribing), not an outage', async () => {
      for (const warm of [false, true]) {
        const database = fresh();
        const bus = new MongoSessionEventBus({ url: urlFor(database), mode: 'poll' });
        if (warm) await bus.publish({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'warm' });
        const publishes = [2n, 3n].map((sessionId) => bus.publish({ type: 'created', authKeyId: 1n, sessionId, origin: 'test' }));
        // Settled into a value at once: it rejects while close() is still running.
        const subscribing = bus.subscribe(() => {}).then(
          () => 'subscribed',
          (error: unknown) => error,
        );
        await bus.close();
        expect(await Promise.allSettled(publishes), `warm ${warm}`).toEqual([
          { status: 'fulfilled', value: undefined },
          { status: 'fulfilled', value: undefined },
        ]);
        expect(await subscribing, `warm ${warm}`).toMatchObject({ code: 'MTSTORE_STORAGE_CLOSED' });
        expect(await adminClient().db(database).collection('mtstore_events').countDocuments({}), `warm ${warm}`).toBe(warm ? 3 : 2);
      }
    });

    it('a process busy past the grace right after close() (the server answered meanwhile): every call finishes, none is cut off', async () => {
      const database = fresh();
      const storage = new MongoStorage({ url: urlFor(database), name: 'alice' });
      await storage.load();
      const calls = Array.from({ length: 20 }, (_, i) => storage.kv.set(`k${i}`, Uint8Array.of(i)));
      const closed = storage.close();
      // Microtasks only (no poll phase, so no reply is read): close() gets to its wait.
      for (let i = 0; i < 50; i++) await Promise.resolve();
      // The application's own synchronous work (or its backlog of calls) holds the event
      // loop past CLOSE_GRACE_MS: the server's replies wait unread meanwhile.
      const until = Date.now() + CLOSE_GRACE_MS + 1_000;
      while (Date.now() < until);
      await closed;
      const results = await Promise.allSettled(calls);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.message).slice(0, 1)).toEqual([]);
      const again = track(new MongoStorage({ url: urlFor(database), name: 'alice' }));
      expect((await again.kv.entries()).length).toBe(20);
    });
  });
}
