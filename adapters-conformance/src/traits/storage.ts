/**
 * Client Storage traits (DESIGN §3.2): round trip, ids, saveUpdateState, delete,
 * two instances, atomic save, close.
 */
import type { Session, Storage } from '@mtstore/core';
import { authKey, fullSession, ID_EXTREMES, minimalSession, peer } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { StorageRegistrar } from './context.js';
import { whileWriting } from './isolation.js';

const SHARED_BACKEND_REASON = 'declared capability sharedBackend: false (instances on one namespace do not share data)';

export function roundTrip({ group, test, expect }: StorageRegistrar): void {
  group('round trip', () => {
    test('load returns null when nothing is stored under the name', async (s) => {
      const storage = await s.open();
      expect(await storage.load()).toBeNull();
    });

    test('load after save returns a deep-equal session (every DC, key and temp key)', async (s) => {
      const storage = await s.open();
      const session = fullSession(2);
      await storage.save(session);
      expect(await storage.load()).toEqual(session);
    });

    test('a minimal session round-trips without invented fields', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      expect(await storage.load()).toEqual(minimalSession());
    });

    test('absent, false and true booleans stay distinct', async (s) => {
      const storage = await s.open();
      const session = minimalSession();
      session.dcs = [
        { id: 2, port: 443 },
        { id: 2, port: 443, mediaOnly: true, testMode: false },
        { id: 3, port: 443, mediaOnly: false, testMode: true },
      ];
      session.user = { id: 7n, dcId: 2, bot: false };
      await storage.save(session);
      const loaded = await storage.load();
      expect(loaded).toEqual(session);
      // toEqual treats a missing key like undefined; make sure nothing turned into false.
      expect(Object.keys(loaded?.dcs[0] ?? {}).sort()).toEqual(['id', 'port']);
      expect(Object.keys(loaded?.user ?? {}).sort()).toEqual(['bot', 'dcId', 'id']);
    });

    test('save replaces the whole session: nothing of the previous one survives', async (s) => {
      const storage = await s.open();
      await storage.save(fullSession(5));
      const next = minimalSession();
      next.dcs = [{ id: 2, port: 80, ipv4: '10.0.0.2', authKey: authKey(99) }];
      await storage.save(next);
      expect(await storage.load()).toEqual(next);
    });

    test('the store keeps no reference to the caller’s objects, and load returns fresh copies', async (s) => {
      const storage = await s.open();
      const session = fullSession(3);
      await storage.save(session);
      const savedKey = session.dcs[0]?.authKey as Uint8Array;
      savedKey[0] = (savedKey[0] as number) ^ 0xff;
      session.channels.push({ id: 42n, pts: 1 });
      const loaded = (await storage.load()) as Session;
      expect(loaded).toEqual(fullSession(3));
      loaded.dcs.pop();
      const loadedKey = loaded.dcs[0]?.authKey as Uint8Array;
      loadedKey[1] = (loadedKey[1] as number) ^ 0xff;
      expect(await storage.load()).toEqual(fullSession(3));
    });

    test('DCs and channels come back in the order they were saved', async (s) => {
      const storage = await s.open();
      const session = fullSession(5);
      session.dcs.reverse();
      session.channels = [{ id: 900n, pts: 1 }, { id: -5n, pts: 2 }, { id: 2n ** 40n, pts: 3 }, { id: 7n, pts: 4 }];
      await storage.save(session);
      expect(await storage.load()).toEqual(session);
    });

    test('named sessions in one backend are independent', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      await alice.save(fullSession(1));
      expect(await bob.load()).toBeNull();
      await bob.save(fullSession(2));
      expect(await alice.load()).toEqual(fullSession(1));
      expect(await bob.load()).toEqual(fullSession(2));
    });
  });
}

export function ids({ group, test, expect }: StorageRegistrar): void {
  group('ids', () => {
    test('user id, channel ids and takeout id round-trip at every extreme (-2^63, -1, 0, 1, 2^53+1, 2^63-1)', async (s) => {
      const storage = await s.open();
      for (const id of ID_EXTREMES) {
        const session = fullSession(1);
        session.user = { id, dcId: 1, bot: true };
        session.takeoutId = id;
        session.channels = ID_EXTREMES.map((channelId, pts) => ({ id: channelId, pts }));
        await storage.save(session);
        expect(await storage.load(), `id ${id}`).toEqual(session);
      }
    });

    test('saveUpdateState channel ids round-trip at every extreme', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      const channels = ID_EXTREMES.map((id, i) => ({ id, pts: i + 1 }));
      await storage.saveUpdateState({ pts: 1, qts: 2, date: 3, seq: 4 }, channels);
      expect((await storage.load())?.channels).toEqual(channels);
    });

    test('peer ids and access hashes round-trip at every extreme', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      const peers = ID_EXTREMES.map((id, i) => peer('channel', i, { id, accessHash: ID_EXTREMES[ID_EXTREMES.length - 1 - i] as bigint }));
      await storage.peers.upsert(peers);
      for (const p of peers) expect(await storage.peers.getById('channel', p.id), `peer ${p.id}`).toEqual(p);
    });
  });
}

export function updateState({ group, test, expect, options }: StorageRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  group('saveUpdateState', () => {
    test('on a name with no saved session it rejects NotFoundError and stores nothing', async (s) => {
      const storage = await s.open();
      await expectRejects(expect, 'saveUpdateState before save', CODES.notFound, () =>
        storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }]),
      );
      expect(await storage.load()).toBeNull();
      // And the name is still free: a later save starts from exactly what it saves.
      await storage.save(minimalSession());
      expect(await storage.load()).toEqual(minimalSession());
    });

    // docs/contract.md §2: "keys, kv entries, peers or references alone are not a snapshot";
    // saveUpdateState (and an update without homeDcId + dcs) on such a name is NotFoundError.
    test('on a name holding keys, kv entries, peers and references but no snapshot it rejects NotFoundError, as update does; they stay and load stays null', async (s) => {
      const storage = await s.open();
      const temp = { index: 0, key: authKey(21), expiresAt: 5 };
      await storage.authKeys.set(2, authKey(2));
      await storage.authKeys.setTemp(2, temp);
      await storage.kv.set('k', new Uint8Array([1]));
      await storage.peers.upsert([peer('user', 7)]);
      await storage.refMessages.store(7n, -100n, 5);
      await expectRejects(expect, 'saveUpdateState without a snapshot', CODES.notFound, () => storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 5 }]));
      await expectRejects(expect, 'saveUpdateState without channels and without a snapshot', CODES.notFound, () => storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }));
      await expectRejects(expect, 'update({ apiId }) without a snapshot', CODES.notFound, () => storage.update({ apiId: 5 }));
      await expectRejects(expect, 'update({ user }) without a snapshot', CODES.notFound, () => storage.update({ user: { id: 1n, dcId: 2, bot: false } }));
      const reader = await s.open();
      expect(await reader.load(), 'no snapshot appeared').toBeNull();
      expect(await reader.authKeys.entries()).toEqual([{ dcId: 2, mediaOnly: false, authKey: authKey(2), tempAuthKeys: [temp] }]);
      expect(await reader.kv.entries()).toEqual([{ key: 'k', value: new Uint8Array([1]) }]);
      expect(await reader.peers.getById('user', 7n)).toEqual(peer('user', 7));
      expect(await reader.refMessages.getByPeer(7n)).toEqual({ chatId: -100n, messageId: 5 });
      // A save then starts from exactly what it saves (no state or channels of the refused calls), keys replaced.
      await storage.save(minimalSession());
      expect(await reader.load()).toEqual(minimalSession());
    });

    test('sets the state and only the listed channels; other channels keep their pts', async (s) => {
      const storage = await s.open();
      const session = fullSession(3); // four channels
      await storage.save(session);
      const [first, second] = session.channels;
      await storage.saveUpdateState({ pts: 1, qts: 2, date: 3, seq: 4 }, [{ id: (second as { id: bigint }).id, pts: 999 }]);
      const loaded = await storage.load();
      expect(loaded?.state).toEqual({ pts: 1, qts: 2, date: 3, seq: 4 });
      expect(loaded?.channels).toContainEqual({ id: (first as { id: bigint }).id, pts: (first as { pts: number }).pts });
      expect(loaded?.channels).toContainEqual({ id: (second as { id: bigint }).id, pts: 999 });
      expect(loaded?.channels).toHaveLength(session.channels.length);
    });

    test('adds channels it has not seen and keeps the rest of the session', async (s) => {
      const storage = await s.open();
      const session = fullSession(1);
      await storage.save(session);
      await storage.saveUpdateState({ pts: 5, qts: 6, date: 7, seq: 8 }, [{ id: 77n, pts: 7 }]);
      const loaded = await storage.load();
      expect(loaded).toEqual({ ...session, state: { pts: 5, qts: 6, date: 7, seq: 8 }, channels: loaded?.channels });
      expect(loaded?.channels).toContainEqual({ id: 77n, pts: 7 });
      expect(loaded?.channels).toHaveLength(session.channels.length + 1);
    });

    test('without channels it changes only the state', async (s) => {
      const storage = await s.open();
      const session = fullSession(2);
      await storage.save(session);
      await storage.saveUpdateState({ pts: 10, qts: 20, date: 30, seq: 40 });
      expect(await storage.load()).toEqual({ ...session, state: { pts: 10, qts: 20, date: 30, seq: 40 } });
    });

    test('needs no prior load: a fresh instance can call it first', async (s) => {
      await (await s.open()).save(fullSession(1));
      const fresh = await s.open();
      await fresh.saveUpdateState({ pts: 11, qts: 12, date: 13, seq: 14 });
      expect((await fresh.load())?.state).toEqual({ pts: 11, qts: 12, date: 13, seq: 14 });
    });

    // With sharedBackend: false these run on one instance: a lost or late write shows there too.
    const other = shared ? 'another instance' : 'the same instance';
    test(`is durable when it resolves: ${other} sees it at once`, async (s) => {
      const a = await s.open();
      const b = shared ? await s.open() : a;
      await a.save(minimalSession());
      for (let i = 1; i <= 20; i++) {
        await a.saveUpdateState({ pts: i, qts: i, date: i, seq: i }, [{ id: 1n, pts: i }]);
        const seen = await b.load();
        expect(seen?.state?.pts, `update ${i}`).toBe(i);
        expect(seen?.channels, `update ${i}`).toEqual([{ id: 1n, pts: i }]);
      }
    });

    test(`concurrent calls on different channels from ${shared ? 'two instances' : 'one instance'} lose none of them`, async (s) => {
      const a = await s.open();
      const b = shared ? await s.open() : a;
      await a.save(minimalSession());
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).saveUpdateState({ pts: i, qts: 0, date: 0, seq: 0 }, [{ id: BigInt(1000 + i), pts: i + 1 }])),
      );
      const channels = (await a.load())?.channels ?? [];
      expect(channels).toHaveLength(20);
      for (let i = 0; i < 20; i++) expect(channels).toContainEqual({ id: BigInt(1000 + i), pts: i + 1 });
    });

    test('a later save replaces state and channels', async (s) => {
      const storage = await s.open();
      await storage.save(fullSession(1));
      await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 9n, pts: 9 }]);
      await storage.save(minimalSession());
      expect(await storage.load()).toEqual(minimalSession());
    });
  });
}

export function deletion({ group, test, expect }: StorageRegistrar): void {
  group('delete', () => {
    test('removes the session, its state, channels and peers', async (s) => {
      const storage = await s.open();
      await storage.save(fullSession(1));
      await storage.peers.upsert([peer('user', 1), peer('channel', 2)]);
      await storage.delete();
      expect(await storage.load()).toBeNull();
      expect(await storage.peers.getById('user', 1n)).toBeNull();
      expect(await storage.peers.getByUsername('channel_2')).toBeNull();
      expect(await storage.peers.getByPhone(peer('user', 1).phone as string)).toBeNull();
    });

    test('is idempotent, also on a name that was never saved', async (s) => {
      const storage = await s.open();
      await storage.delete();
      await storage.save(minimalSession());
      await storage.delete();
      await storage.delete();
      expect(await storage.load()).toBeNull();
    });

    test('leaves other named sessions and their peers untouched', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      await alice.save(fullSession(1));
      await bob.save(fullSession(2));
      await alice.peers.upsert([peer('user', 1)]);
      await bob.peers.upsert([peer('user', 2)]);
      await alice.delete();
      expect(await bob.load()).toEqual(fullSession(2));
      expect(await bob.peers.getById('user', 2n)).toEqual(peer('user', 2));
      expect(await bob.peers.getByUsername('user_2')).toEqual(peer('user', 2));
    });

    test('after delete, saveUpdateState rejects NotFoundError; nothing of the session is left, keys, kv and references included', async (s) => {
      const storage = await s.open();
      await storage.save(fullSession(2));
      await storage.authKeys.set(9, authKey(9));
      await storage.kv.set('k', Uint8Array.from([1]));
      await storage.refMessages.store(1n, -100n, 1);
      await storage.peers.upsert([peer('user', 1)]);
      await storage.delete();
      await expectRejects(expect, 'saveUpdateState after delete', CODES.notFound, () => storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }));
      expect(await storage.load()).toBeNull();
      expect(await storage.authKeys.get(9)).toBeNull();
      expect(await storage.authKeys.get(1)).toBeNull();
      expect(await storage.authKeys.getTemp(2, 0)).toBeNull();
      expect(await storage.kv.entries()).toEqual([]);
      expect(await storage.refMessages.getByPeer(1n)).toBeNull();
      expect(await storage.peers.list()).toEqual({ peers: [], cursor: null });
      expect(await storage.listNames()).toEqual([]);
    });

    test('a save after delete starts from nothing: no old peers come back', async (s) => {
      const storage = await s.open();
      await storage.save(fullSession(1));
      await storage.peers.upsert([peer('user', 1)]);
      await storage.delete();
      await storage.save(minimalSession());
      expect(await storage.peers.getById('user', 1n)).toBeNull();
      expect(await storage.peers.getByUsername('user_1')).toBeNull();
    });
  });
}

export function twoInstances({ group, test, expect, options, skip }: StorageRegistrar): void {
  group('two instances', () => {
    const names = [
      'each sees the other’s committed save',
      'each sees the other’s saveUpdateState',
      'peers written by one are read by the other',
      'a delete by one is seen by the other',
    ];
    if (options.capabilities?.sharedBackend === false) {
      for (const name of names) skip(name, SHARED_BACKEND_REASON);
      return;
    }
    test(names[0] as string, async (s) => {
      const a = await s.open();
      const b = await s.open();
      expect(await b.load()).toBeNull();
      await a.save(fullSession(1));
      expect(await b.load()).toEqual(fullSession(1));
      await b.save(fullSession(2));
      expect(await a.load()).toEqual(fullSession(2));
    });

    test(names[1] as string, async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.save(fullSession(1));
      expect(await b.load()).toEqual(fullSession(1)); // b has read once: it must not serve that from a cache now
      await a.saveUpdateState({ pts: 77, qts: 1, date: 1, seq: 1 }, [{ id: 5n, pts: 55 }]);
      const seen = await b.load();
      expect(seen?.state?.pts).toBe(77);
      expect(seen?.channels).toContainEqual({ id: 5n, pts: 55 });
    });

    test(names[2] as string, async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.save(minimalSession());
      expect(await b.peers.getById('user', 1n)).toBeNull();
      await a.peers.upsert([peer('user', 1)]);
      expect(await b.peers.getById('user', 1n)).toEqual(peer('user', 1));
      await b.peers.upsert([peer('user', 1, { accessHash: 5n })]);
      expect((await a.peers.getByUsername('user_1'))?.accessHash).toBe(5n);
    });

    test(names[3] as string, async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.save(fullSession(1));
      expect(await b.load()).toEqual(fullSession(1));
      await a.delete();
      expect(await b.load()).toBeNull();
    });
  });
}

export function atomicSave({ group, test, expect, options }: StorageRegistrar): void {
  group('atomic save', () => {
    const sessions = Array.from({ length: 12 }, (_, i) => fullSession(i + 1));

    test('concurrent saves leave exactly one of the saved sessions, never a mix', async (s) => {
      const instances: Storage[] = options.capabilities?.sharedBackend === false ? [await s.open()] : [await s.open(), await s.open()];
      for (let round = 0; round < 3; round++) {
        await Promise.all(sessions.map((session, i) => (instances[i % instances.length] as Storage).save(session)));
        expect(sessions, `round ${round}`).toContainEqual(await (instances[0] as Storage).load());
      }
    });

    const shared = options.capabilities?.sharedBackend !== false;
    // docs/contract.md §2/§3: save is an atomic full replace of the snapshot and every key;
    // key writes are single writes that never rewrite the session. Racing, each resolves
    // and the result is one of the two orders for each key: never a failed call (a
    // deadlock, a unique-key clash between save's insert and the key's upsert), never a mix.
    test(`saves racing key writes of the same DCs ${shared ? 'on another instance' : 'on the same instance'} all resolve, each key ending as one of the two orders left it`, async (s) => {
      const a = await s.open();
      const b = shared ? await s.open() : a;
      await a.save(fullSession(1));
      for (let round = 1; round <= 12; round++) {
        const session = fullSession(round);
        const key = authKey(200 + round);
        const temp = { index: 5, key: authKey(220 + round), expiresAt: round };
        const keyWrites = () => [b.authKeys.set(2, key), b.authKeys.setTemp(2, temp), b.authKeys.set(9, authKey(240 + round)), b.authKeys.delete(1)];
        // The save issued first, then last: a backend that runs calls in the order made gets both interleavings.
        await Promise.all(round % 2 === 0 ? [a.save(session), ...keyWrites()] : [...keyWrites(), a.save(session)]);
        const loaded = (await a.load()) as Session;
        const label = `round ${round}`;
        const main2 = loaded.dcs.find((dc) => dc.id === 2 && dc.mediaOnly !== true);
        const saved2 = session.dcs[1] as Session['dcs'][number];
        expect([saved2.authKey, key], `${label}: DC 2's key is the saved one or the one set`).toContainEqual(main2?.authKey);
        expect([saved2.tempAuthKeys, [...(saved2.tempAuthKeys ?? []), temp]], `${label}: DC 2's temp keys are the saved ones, with or without the one set`).toContainEqual(main2?.tempAuthKeys);
        expect([session.dcs[0]?.authKey, undefined], `${label}: DC 1's key is the saved one or deleted`).toContainEqual(loaded.dcs.find((dc) => dc.id === 1)?.authKey);
        const dc9 = loaded.dcs.filter((dc) => dc.id === 9);
        expect([[], [{ id: 9, authKey: authKey(240 + round) }]], `${label}: DC 9 holds the key set or none`).toContainEqual(dc9);
        const rest = (dcs: Session['dcs']) => dcs.filter((dc) => dc.id !== 1 && dc.id !== 9 && !(dc.id === 2 && dc.mediaOnly !== true));
        expect(rest(loaded.dcs), `${label}: every other entry is the saved one`).toEqual(rest(session.dcs));
        expect({ ...loaded, dcs: [] }, `${label}: the rest of the snapshot is the saved one`).toEqual({ ...session, dcs: [] });
      }
    });

    test(`a load ${shared ? 'on another instance' : 'on the same instance'} during concurrent saves returns a whole session, never a torn one`, async (s) => {
      const writer = await s.open();
      const reader = shared ? await s.open() : writer;
      await writer.save(sessions[0] as Session);
      const seen = await whileWriting(
        () => reader.load(),
        async () => {
          for (let round = 0; round < 3; round++) for (const session of sessions) await writer.save(session);
        },
      );
      expect(seen.length).toBeGreaterThan(0);
      for (const loaded of seen) expect(sessions).toContainEqual(loaded);
    });
  });
}

export function closing({ group, test, expect, options }: StorageRegistrar): void {
  group('close', () => {
    test('close is idempotent: a second and a concurrent close resolve', async (s) => {
      const storage = await s.open();
      await Promise.all([storage.close(), storage.close()]);
      await storage.close();
    });

    // docs/contract.md §9: "every call returns the first call's promise".
    test('every close() call returns the first call’s promise, before and after it settled', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      const first = storage.close();
      expect(storage.close() === first, 'a concurrent close() returns the first call’s promise').toBe(true);
      await first;
      expect(storage.close() === first, 'a close() after it settled returns the first call’s promise').toBe(true);
    });

    test('every method after close rejects StorageClosedError', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      await storage.close();
      const calls: [string, () => Promise<unknown>][] = [
        ['load', () => storage.load()],
        ['save', () => storage.save(minimalSession())],
        ['saveUpdateState', () => storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 })],
        ['delete', () => storage.delete()],
        ['peers.upsert', () => storage.peers.upsert([peer('user', 1)])],
        ['peers.getById', () => storage.peers.getById('user', 1n)],
        ['peers.getByUsername', () => storage.peers.getByUsername('user_1')],
        ['peers.getByPhone', () => storage.peers.getByPhone('123')],
        ['peers.list', () => storage.peers.list()],
        ['peers.clear', () => storage.peers.clear()],
        ['update', () => storage.update({ apiId: 1 })],
        ['listNames', () => storage.listNames()],
        ['authKeys.get', () => storage.authKeys.get(2)],
        ['authKeys.set', () => storage.authKeys.set(2, authKey(1))],
        ['authKeys.delete', () => storage.authKeys.delete(2)],
        ['authKeys.getTemp', () => storage.authKeys.getTemp(2, 0)],
        ['authKeys.setTemp', () => storage.authKeys.setTemp(2, { index: 0, key: authKey(1), expiresAt: 1 })],
        ['authKeys.deleteTemp', () => storage.authKeys.deleteTemp(2, 0)],
        ['authKeys.deleteByDc', () => storage.authKeys.deleteByDc(2)],
        ['kv.get', () => storage.kv.get('k')],
        ['kv.set', () => storage.kv.set('k', new Uint8Array(1))],
        ['kv.delete', () => storage.kv.delete('k')],
        ['kv.entries', () => storage.kv.entries()],
        ['kv.clear', () => storage.kv.clear()],
        ['refMessages.store', () => storage.refMessages.store(1n, 1n, 1)],
        ['refMessages.getByPeer', () => storage.refMessages.getByPeer(1n)],
        ['refMessages.delete', () => storage.refMessages.delete(1n, [1])],
        ['refMessages.deleteByPeer', () => storage.refMessages.deleteByPeer(1n)],
        ['refMessages.clear', () => storage.refMessages.clear()],
        ['refMessages.list', () => storage.refMessages.list()],
        ['authKeys.entries', () => storage.authKeys.entries()],
        ['authKeys.clear', () => storage.authKeys.clear()],
        ['lease.acquire', () => storage.lease.acquire({ ttlSeconds: 20 })],
        ['lease.renew', () => storage.lease.renew()],
        ['lease.release', () => storage.lease.release()],
        ['lease.holder', () => storage.lease.holder()],
      ];
      for (const [what, call] of calls) await expectRejects(expect, `${what} after close`, CODES.closed, call);
    });

    if (options.capabilities?.sharedBackend !== false) {
      test('what was saved before close is there after reopening; closing one instance leaves the other working', async (s) => {
        const a = await s.open();
        const b = await s.open();
        await a.save(fullSession(4));
        await a.peers.upsert([peer('user', 4)]);
        await a.close();
        expect(await b.load()).toEqual(fullSession(4));
        const reopened = await s.open();
        expect(await reopened.load()).toEqual(fullSession(4));
        expect(await reopened.peers.getById('user', 4n)).toEqual(peer('user', 4));
      });
    }
  });
}
