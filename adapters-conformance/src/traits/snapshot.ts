/**
 * Contract v2 snapshot traits (docs/contract.md "Session snapshot"): partial updates,
 * listing named sessions, and the fields v2 added (DC hosts, address-less entries,
 * every self username, premium).
 */
import type { Session } from '@mtstore/core';
import { authKey, fullSession, minimalSession } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { StorageRegistrar } from './context.js';

export function partialUpdate({ group, test, expect, options }: StorageRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  group('update', () => {
    test('changes only the fields given; state, channels, keys and the rest stay', async (s) => {
      const storage = await s.open();
      const session = fullSession(3);
      await storage.save(session);
      await storage.update({ user: { id: 42n, dcId: 4, bot: true, usernames: ['Bot_A', 'bot_b'], premium: false } });
      expect(await storage.load()).toEqual({ ...session, user: { id: 42n, dcId: 4, bot: true, usernames: ['Bot_A', 'bot_b'], premium: false } });
      await storage.update({ apiId: 7, takeoutId: -5n });
      expect(await storage.load()).toEqual({ ...session, apiId: 7, takeoutId: -5n, user: { id: 42n, dcId: 4, bot: true, usernames: ['Bot_A', 'bot_b'], premium: false } });
    });

    test('null removes user, apiId and takeoutId', async (s) => {
      const storage = await s.open();
      const session = fullSession(1);
      await storage.save(session);
      await storage.update({ user: null, apiId: null, takeoutId: null });
      const { user: _u, apiId: _a, takeoutId: _t, ...rest } = session;
      expect(await storage.load()).toEqual(rest);
      expect(Object.keys((await storage.load()) ?? {}).sort()).toEqual(Object.keys(rest).sort());
    });

    test('homeDcId + dcs create the snapshot when none is stored (no state, no channels), keeping keys set before', async (s) => {
      const storage = await s.open();
      await storage.authKeys.set(2, authKey(2));
      await storage.update({ homeDcId: 2, dcs: [{ id: 2, ipv6: '2001:67c:4e8:f002::a', port: 443, testMode: true }, { id: 2, host: 'media.example.org', port: 80, mediaOnly: true }] });
      const expected: Session = {
        version: 1,
        homeDcId: 2,
        dcs: [
          { id: 2, ipv6: '2001:67c:4e8:f002::a', port: 443, testMode: true, authKey: authKey(2) },
          { id: 2, host: 'media.example.org', port: 80, mediaOnly: true },
        ],
        channels: [],
      };
      expect(await storage.load()).toEqual(expected);
      await storage.saveUpdateState({ pts: 1, qts: 2, date: 3, seq: 4 });
      expect((await storage.load())?.state).toEqual({ pts: 1, qts: 2, date: 3, seq: 4 });
    });

    test('homeDcId + dcs create the snapshot with the apiId, user and takeoutId the patch gives; null ones are left out', async (s) => {
      const storage = await s.open();
      const user = { id: 42n, dcId: 2, bot: false, usernames: ['First_Owner'], premium: true };
      await storage.update({ homeDcId: 2, dcs: [{ id: 2, port: 443 }], apiId: 7, user, takeoutId: -5n });
      expect(await storage.load()).toEqual({ version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443 }], apiId: 7, user, takeoutId: -5n, channels: [] });
      const other = await s.open('other');
      await other.update({ homeDcId: 4, dcs: [{ id: 4, port: 80 }], apiId: null, user: null, takeoutId: null, state: null });
      const created = await other.load();
      expect(created).toEqual({ version: 1, homeDcId: 4, dcs: [{ id: 4, port: 80 }], channels: [] });
      expect(Object.keys(created ?? {}).sort()).toEqual(['channels', 'dcs', 'homeDcId', 'version']);
    });

    test('without a stored snapshot, a patch without homeDcId rejects NotFoundError and stores nothing', async (s) => {
      const storage = await s.open();
      await expectRejects(expect, 'update({ apiId }) before save', CODES.notFound, () => storage.update({ apiId: 5 }));
      expect(await storage.load()).toBeNull();
      expect(await storage.listNames()).toEqual([]);
    });

    test('state sets or (null) removes the update state; channels replace every channel pts, in order; keys and the rest stay', async (s) => {
      const storage = await s.open();
      const session = fullSession(3); // four channels
      await storage.save(session);
      await storage.authKeys.set(9, authKey(9));
      const withKey9 = (loaded: Session): Session => ({ ...loaded, dcs: [...loaded.dcs, { id: 9, authKey: authKey(9) }] });
      await storage.update({ state: { pts: 0, qts: 1, date: 2 ** 32 - 1, seq: 3 } });
      expect(await storage.load()).toEqual(withKey9({ ...session, state: { pts: 0, qts: 1, date: 2 ** 32 - 1, seq: 3 } }));
      const channels = [{ id: -5n, pts: 1 }, { id: 2n ** 63n - 1n, pts: 2 ** 31 - 1 }, { id: 1_000_000_000_001n, pts: 0 }];
      await storage.update({ channels });
      expect(await storage.load()).toEqual(withKey9({ ...session, state: { pts: 0, qts: 1, date: 2 ** 32 - 1, seq: 3 }, channels }));
      // A channel added later goes after the replaced ones.
      await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }, [{ id: 77n, pts: 7 }, { id: -5n, pts: 9 }]);
      expect((await storage.load())?.channels).toEqual([{ id: -5n, pts: 9 }, channels[1], channels[2], { id: 77n, pts: 7 }]);
      // Logout of a client: user, state and every channel in one call; DCs and keys stay.
      await storage.update({ user: null, state: null, channels: [] });
      const { user: _u, state: _s, ...rest } = session;
      const loaded = await storage.load();
      expect(loaded).toEqual(withKey9({ ...rest, channels: [] }));
      expect(Object.keys(loaded ?? {}).sort()).toEqual(Object.keys({ ...rest, channels: [] }).sort());
      await storage.saveUpdateState({ pts: 4, qts: 4, date: 4, seq: 4 });
      expect((await storage.load())?.state).toEqual({ pts: 4, qts: 4, date: 4, seq: 4 });
    });

    test('state and channels need a stored snapshot: NotFoundError, nothing stored; with homeDcId + dcs they are part of the snapshot created', async (s) => {
      const storage = await s.open();
      await storage.authKeys.set(2, authKey(2));
      await expectRejects(expect, 'update({ state }) before save', CODES.notFound, () => storage.update({ state: { pts: 1, qts: 1, date: 1, seq: 1 } }));
      await expectRejects(expect, 'update({ channels: [] }) before save', CODES.notFound, () => storage.update({ channels: [] }));
      await expectRejects(expect, 'update({ state: null, channels }) before save', CODES.notFound, () => storage.update({ state: null, channels: [{ id: 1n, pts: 1 }] }));
      expect(await storage.load()).toBeNull();
      const created = { homeDcId: 2, dcs: [{ id: 2, port: 443 }], state: { pts: 5, qts: 6, date: 7, seq: 8 }, channels: [{ id: 3n, pts: 4 }, { id: 1n, pts: 2 }] };
      await storage.update(created);
      expect(await storage.load()).toEqual({ version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: authKey(2) }], state: created.state, channels: created.channels });
    });

    // docs/contract.md §2: update changes only the fields given, in one atomic step, "with
    // no load-modify-save that could undo a concurrent key write" (nor a concurrent
    // saveUpdateState's state and channels). With sharedBackend: false, on one instance.
    test(`updates racing key writes and saveUpdateState ${shared ? 'of another instance' : 'on the same instance'} undo none of them`, async (s) => {
      const a = await s.open();
      const b = shared ? await s.open() : a;
      await a.save(minimalSession()); // DC 2, no key, no state, no channels
      const rounds = 8;
      for (let r = 0; r < rounds; r++) {
        await Promise.all([
          a.update({ user: { id: BigInt(r + 1), dcId: 2, bot: false } }),
          a.update({ homeDcId: 2, dcs: [{ id: 2, port: 1000 + r }] }),
          b.authKeys.set(10 + r, authKey(10 + r)),
          b.authKeys.setTemp(2, { index: r, key: authKey(50 + r), expiresAt: r }),
          b.saveUpdateState({ pts: r, qts: r, date: r, seq: r }, [{ id: BigInt(100 + r), pts: r }]),
        ]);
      }
      const loaded = await a.load();
      expect(loaded?.user?.id, 'the last user written').toBe(BigInt(rounds));
      expect(loaded?.state, 'the last state written').toEqual({ pts: rounds - 1, qts: rounds - 1, date: rounds - 1, seq: rounds - 1 });
      expect(loaded?.channels, 'every channel saveUpdateState added').toEqual(Array.from({ length: rounds }, (_, r) => ({ id: BigInt(100 + r), pts: r })));
      const temps = Array.from({ length: rounds }, (_, r) => ({ index: r, key: authKey(50 + r), expiresAt: r }));
      expect(loaded?.dcs, 'every key set, on the address entry update wrote last and as address-less entries').toEqual([
        { id: 2, port: 1000 + rounds - 1, tempAuthKeys: temps },
        ...Array.from({ length: rounds }, (_, r) => ({ id: 10 + r, authKey: authKey(10 + r) })),
      ]);
    });

    test('dcs replace every address entry; homeDcId moves with them', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession());
      await storage.update({ homeDcId: 5, dcs: [{ id: 5, ipv4: '91.108.56.1', port: 443 }, { id: 1, port: 80 }] });
      expect(await storage.load()).toEqual({ ...minimalSession(), homeDcId: 5, dcs: [{ id: 5, ipv4: '91.108.56.1', port: 443 }, { id: 1, port: 80 }] });
    });
  });
}

export function names({ group, test, expect }: StorageRegistrar): void {
  group('listNames', () => {
    test('lists every name with anything stored, sorted; a deleted name disappears', async (s) => {
      const a = await s.open('Zed');
      const b = await s.open('alpha');
      const c = await s.open('mid.dle:1');
      const d = await s.open('keys-only');
      expect(await a.listNames()).toEqual([]);
      await a.save(minimalSession());
      await b.save(fullSession(1));
      await c.peers.upsert([{ type: 'user', id: 1n, accessHash: 1n, usernames: [], updatedAt: 1 }]);
      await d.authKeys.set(2, authKey(1));
      expect(await b.listNames()).toEqual(['Zed', 'alpha', 'keys-only', 'mid.dle:1']);
      await b.delete();
      expect(await a.listNames()).toEqual(['Zed', 'keys-only', 'mid.dle:1']);
    });

    // docs/contract.md §2: "the names of every session with anything stored": kv entries,
    // references and temp keys count as much as a snapshot, peers or a permanent key.
    test('a name holding only kv entries, only references or only a temp key is listed; delete() removes it', async (s) => {
      const kvOnly = await s.open('kv-only');
      const refsOnly = await s.open('refs-only');
      const tempOnly = await s.open('temp-only');
      await kvOnly.kv.set('k', new Uint8Array([1]));
      await refsOnly.refMessages.store(7n, -100n, 5);
      await tempOnly.authKeys.setTemp(2, { index: 0, key: authKey(2), expiresAt: 1 });
      expect(await kvOnly.listNames()).toEqual(['kv-only', 'refs-only', 'temp-only']);
      for (const storage of [kvOnly, refsOnly, tempOnly]) await storage.delete();
      expect(await kvOnly.listNames()).toEqual([]);
    });

    test('a deleted name that held a lease is not listed: the lease kept by delete() (§12) is no stored data', async (s) => {
      const storage = await s.open('leased');
      const other = await s.open('other');
      await storage.save(minimalSession());
      await storage.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      await storage.kv.set('k', Uint8Array.of(1));
      await storage.lease.release();
      expect(await other.listNames()).toEqual(['leased']);
      await storage.delete();
      expect(await other.listNames(), 'after delete() of the released name').toEqual([]);
      // Deleted by the holder while it holds the lease.
      await storage.lease.acquire({ ttlSeconds: 20, heartbeat: false });
      await storage.save(minimalSession());
      expect(await other.listNames()).toEqual(['leased']);
      await storage.delete();
      expect(await other.listNames(), 'after delete() under a held lease').toEqual([]);
      await storage.lease.release();
      expect(await other.listNames(), 'after the release').toEqual([]);
    });
  });
}

export function modelV2({ group, test, expect }: StorageRegistrar): void {
  group('contract v2 fields', () => {
    test('a DC host, address-less entries and CDN DC ids (200+) round-trip through save', async (s) => {
      const storage = await s.open();
      const session: Session = {
        version: 1,
        homeDcId: 203,
        dcs: [
          { id: 4, authKey: authKey(4) },
          { id: 203, host: 'zws2.web.telegram.org', port: 443, tempAuthKeys: [{ index: 3, key: authKey(3), expiresAt: 2 ** 32 - 1 }] },
          { id: 1000, host: 'a-b.c', port: 65535, mediaOnly: true, testMode: false },
          { id: 7 },
        ],
        channels: [],
      };
      await storage.save(session);
      expect(await storage.load()).toEqual(session);
      expect(Object.keys((await storage.load())?.dcs[3] ?? {})).toEqual(['id']);
    });

    test('an empty tempAuthKeys list is the same as none: it loads absent', async (s) => {
      const storage = await s.open();
      const session: Session = { ...minimalSession(), dcs: [{ id: 2, port: 443, authKey: authKey(1), tempAuthKeys: [] }, { id: 3, tempAuthKeys: [{ index: 0, key: authKey(2), expiresAt: 1 }] }] };
      await storage.save(session);
      expect(await storage.load()).toEqual({ ...session, dcs: [{ id: 2, port: 443, authKey: authKey(1) }, session.dcs[1]] });
      expect(Object.keys((await storage.load())?.dcs[0] ?? {}).sort()).toEqual(['authKey', 'id', 'port']);
    });

    test('temp keys on several DCs and on a media-only entry round-trip, ordered by index', async (s) => {
      const storage = await s.open();
      const temp = (index: number, seed: number) => ({ index, key: authKey(seed), expiresAt: 1_800_000_000 + index });
      const session: Session = {
        ...minimalSession(),
        dcs: [
          { id: 2, port: 443, tempAuthKeys: [temp(0, 1), temp(3, 2)] },
          { id: 2, port: 443, mediaOnly: true, authKey: authKey(9), tempAuthKeys: [temp(1, 3)] },
          { id: 4, ipv4: '149.154.167.91', port: 443, authKey: authKey(4), tempAuthKeys: [temp(0, 4), temp(1, 5), temp(2, 6)] },
        ],
      };
      await storage.save(session);
      expect(await storage.load()).toEqual(session);
      expect(await storage.authKeys.getTemp(2, 1)).toBeNull(); // slot 1 of DC 2 is the media entry's: authKeys address the main one
      expect(await storage.authKeys.getTemp(4, 2)).toEqual(temp(2, 6));
    });

    test('every self username in order, premium absent / false / true, an empty username list', async (s) => {
      const storage = await s.open();
      for (const user of [
        { id: 1n, dcId: 2, bot: false },
        { id: 1n, dcId: 2, bot: false, usernames: [], premium: false },
        { id: -1n, dcId: 2, bot: false, usernames: ['Main', 'second_one', 'THIRD'], premium: true },
      ]) {
        const session = { ...minimalSession(), user };
        await storage.save(session);
        const loaded = await storage.load();
        expect(loaded, JSON.stringify(Object.keys(user))).toEqual(session);
        expect(Object.keys(loaded?.user ?? {}).sort()).toEqual(Object.keys(user).sort());
      }
    });

    test('zero pts / qts / seq / date and dates past 2^31 round-trip through save', async (s) => {
      const storage = await s.open();
      const session = { ...fullSession(2), state: { pts: 0, qts: 0, date: 2 ** 31 + 1, seq: 0 } };
      await storage.save(session);
      expect(await storage.load()).toEqual(session);
      const zero = { ...fullSession(2), state: { pts: 0, qts: 0, date: 0, seq: 0 } };
      await storage.save(zero);
      expect(await storage.load()).toEqual(zero);
    });
  });
}
