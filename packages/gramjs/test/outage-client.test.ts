/**
 * A database that goes away under a GramJS client (its own start-up, attach/destroy),
 * on PostgreSQL and Redis behind the shared loopback TCP proxy: writes GramJS makes
 * while down go to onError as StorageUnavailableError with no key bytes in them; the
 * session stores them by itself once the server is back (the next save); destroy()
 * while down settles (pending writes and the release reported, never thrown) and stops
 * the lease's heartbeat, so the next process gets the session after the TTL.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { authKey, plainBytes } from '@mtstore/conformance/vitest';
import { proxiedOutage, proxiedTargets, serverAnswers } from '@mtstore/test-adapters/processes';
import { StorageSession } from '../src/index.js';
import { gramKey, offlineClient, user } from './client.js';

const targets = proxiedTargets();

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`GramJS client through a ${target.name} outage`, () => {
    const outage = proxiedOutage(target, 'gramjs_client_outage');
    const { open } = outage;

    async function started(name: string): Promise<{ session: StorageSession; errors: [unknown, string][]; destroy(): Promise<void> }> {
      const errors: [unknown, string][] = [];
      const session = new StorageSession(open(name), { onError: (error, operation) => errors.push([error, operation]) });
      const client = session.attach(offlineClient(session));
      await (client as unknown as { _initSession(): Promise<void> })._initSession(); // connect()'s load() and default DC
      session.setAuthKey(await gramKey(authKey(1)));
      session.processEntities([user({ id: 1, self: true, username: 'me_outage' })]);
      await session.save();
      expect(errors).toEqual([]);
      return { session, errors, destroy: () => client.destroy() };
    }

    it('writes made while down are reported without key bytes and stored by the next save once the server is back', async () => {
      const { session, errors, destroy } = await started('running');
      outage.proxy.down();
      session.setAuthKey(await gramKey(authKey(2)));
      session.setAuthKey(await gramKey(authKey(3)), 3);
      session.processEntities([user({ id: 2, username: 'during_outage', phone: '15550002' })]);
      await session.save();
      expect(errors.length).toBeGreaterThan(0);
      for (const [error, operation] of errors) {
        expect((error as { code?: string }).code, operation).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        const shown = `${operation} ${String(error)} ${inspect(error, { depth: 5 })} ${JSON.stringify(error)}`;
        for (const seed of [1, 2, 3]) expect(shown).not.toContain(hex(authKey(seed)).slice(0, 32));
      }
      expect(inspect(session)).not.toContain(hex(authKey(2)).slice(0, 32));
      outage.proxy.up();
      const failed = errors.length;
      await session.save();
      expect(errors.slice(failed)).toEqual([]);
      await destroy();
      const storage = open('running');
      const stored = await storage.load();
      expect(plainBytes(await storage.authKeys.get(stored!.homeDcId))).toEqual(authKey(2));
      expect(plainBytes(await storage.authKeys.get(3))).toEqual(authKey(3));
      expect((await storage.peers.getByPhone('15550002'))?.id).toBe(2n);
      expect(stored?.user?.usernames).toEqual(['me_outage']);
    });

    it('destroy() while down settles, reports the pending writes and the release, and stops renewing the lease', async () => {
      const { session, errors, destroy } = await started('destroyed');
      const storage = session.storage;
      outage.proxy.down();
      session.processEntities([user({ id: 3, username: 'lost_in_outage' })]);
      await destroy(); // the vitest timeout is the hang this guards against
      expect(errors.map(([, operation]) => operation)).toEqual(expect.arrayContaining(['peers.upsert', 'lease.release']));
      expect(storage.lease.held, 'no heartbeat keeps the lease of a destroyed client').toBeNull();
      outage.proxy.up();
      // The release did not reach the database: the lease runs out by its TTL, then the next client starts.
      const next = new StorageSession(open('destroyed'), { lease: { force: true } });
      await next.load();
      expect(next.getAuthKey()?.getKey()).toEqual(Buffer.from(authKey(1)));
      await next.close();
    });
  });
}
