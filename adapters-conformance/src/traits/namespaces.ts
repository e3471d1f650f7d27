/**
 * Namespaces (the kit's README, "Use it"; docs/contract.md §2 and §7): the namespace an
 * adapter maps to a schema, table prefix, key prefix or collection prefix is the whole
 * data set. Every other trait runs alone in a fresh namespace, so a table, key or
 * collection the adapter forgot to put under it (one kind of data shared by every
 * namespace of the backend) went unseen: here two namespaces hold the same session
 * name, or the same server sessions, at once.
 */
import type { Peer } from '@mtstore/core';
import { authKey } from '../fixtures.js';
import { expectRejects } from '../harness.js';
import type { ServerRegistrar, StorageRegistrar } from './context.js';
import { everythingPeers, expectEverything, picture, storeEverything } from './intact.js';

const byKey = (peers: Peer[]): Peer[] => [...peers].sort((x, y) => (`${x.type}:${x.id}` < `${y.type}:${y.id}` ? -1 : 1));

export function clientNamespaces({ group, test, expect, options }: StorageRegistrar): void {
  // With sharedBackend: false a second instance of a namespace sees nothing of the first:
  // the parts that need one (a second name there, a second acquirer) are left out.
  const shared = options.capabilities?.sharedBackend !== false;
  group('namespaces', () => {
    test('two namespaces of one backend share nothing: the same session name in each keeps its own snapshot, keys, kv, peers, references, names and lease; delete() in one leaves the other', async (s) => {
      const elsewhere = s.scope.another();
      const here = await s.open('main');
      const there = await s.openIn(elsewhere, 'main');
      await storeEverything(here, 1);
      await storeEverything(there, 2);
      const herePicture = await picture(here, 1);
      const therePicture = await picture(there, 2);
      for (const [what, shot, seed] of [['this namespace', herePicture, 1], ['the other namespace', therePicture, 2]] as const) {
        expectEverything(expect, what, shot, seed);
        expect(shot.keys.get.find(([dc]) => dc === 9)?.[1], `${what}: the key of DC 9`).toEqual(authKey(seed * 100 + 9));
        expect(shot.peers.list, `${what}: the peers`).toEqual(byKey(everythingPeers(seed)));
      }
      expect(await here.peers.getByUsername('u2_2'), 'a username only the other namespace holds').toBeNull();
      const thereNames = shared ? ['main', 'only-there'] : ['main'];
      if (shared) await (await s.openIn(elsewhere, 'only-there')).kv.set('k', Uint8Array.of(1));
      expect(await here.listNames(), 'listNames of this namespace').toEqual(['main']);
      expect(await there.listNames(), 'listNames of the other namespace').toEqual(thereNames);
      // The lease is the name's in its namespace: the same name elsewhere is free.
      const held = await here.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      const heldThere = await there.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      expect((await there.lease.holder())?.token, 'the other namespace’s holder').toBe(heldThere.token);
      expect((await here.lease.holder())?.token, 'this namespace’s holder').toBe(held.token);
      await here.lease.release();
      if (shared) await expectRejects(expect, 'a second acquirer in the other namespace', 'MTSTORE_LEASE_HELD', async () => (await s.openIn(elsewhere, 'main')).lease.acquire({ ttlSeconds: 20 }));
      await there.lease.release();
      await here.delete();
      expect(await here.load(), 'this namespace after delete()').toBeNull();
      expect(await picture(there, 2), 'the other namespace after delete() here').toEqual(therePicture);
      expect(await there.listNames()).toEqual(thereNames);
    });
  });
}

export function serverNamespaces({ group, test, expect }: ServerRegistrar): void {
  group('namespaces', () => {
    test('two namespaces of one backend share no sessions: each creates, lists and destroys its own', async (s) => {
      const here = await s.open();
      const there = await s.openIn(s.scope.another());
      expect(await here.createSession(1n, 1n)).toBe(true);
      expect(await there.hasSession(1n, 1n), 'the other namespace').toBe(false);
      expect(await there.listSessions(1n), 'the other namespace').toEqual([]);
      expect(await there.destroySession(1n, 1n), 'destroySession in the other namespace').toBe(false);
      expect(await here.hasSession(1n, 1n), 'after a destroy in the other namespace').toBe(true);
      expect(await there.createSession(1n, 1n), 'the same session in the other namespace').toBe(true);
      expect(await there.createSession(1n, 2n)).toBe(true);
      expect(await here.listSessions(1n)).toEqual([1n]);
      expect(await here.destroyAllSessions(1n)).toEqual([1n]);
      expect([...(await there.listSessions(1n))].sort((a, b) => (a < b ? -1 : 1)), 'the other namespace after destroyAllSessions here').toEqual([1n, 2n]);
    });
  });
}
