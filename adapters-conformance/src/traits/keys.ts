/**
 * Auth keys written one at a time (contract v2, docs/contract.md "Auth keys"): durable
 * on resolve, no snapshot needed, main entry of a DC id, shown by load(), replaced
 * by save(), kept by update(), removed by delete(); listed by entries(), removed
 * together by clear().
 */
import { authKey, fullSession, minimalSession } from '../fixtures.js';
import type { StorageRegistrar } from './context.js';
import { storedEverywhere } from './intact.js';

export function authKeys({ group, test, expect, options }: StorageRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  group('auth keys', () => {
    test('set / get / delete the permanent key of a DC, with no snapshot saved', async (s) => {
      const storage = await s.open();
      expect(await storage.authKeys.get(2)).toBeNull();
      await storage.authKeys.set(2, authKey(1));
      expect(await storage.authKeys.get(2)).toEqual(authKey(1));
      expect(await storage.load()).toBeNull();
      await storage.authKeys.set(2, authKey(2));
      expect(await storage.authKeys.get(2)).toEqual(authKey(2));
      await storage.authKeys.delete(2);
      expect(await storage.authKeys.get(2)).toBeNull();
      await storage.authKeys.delete(2);
    });

    test('deleting keys never stored is a no-op, also on a name with nothing stored; setting the permanent key keeps the temp keys', async (s) => {
      const fresh = await s.open('fresh');
      await fresh.authKeys.delete(2);
      await fresh.authKeys.deleteTemp(2, 0);
      await fresh.authKeys.deleteByDc(2);
      await fresh.authKeys.clear();
      expect(await fresh.authKeys.entries()).toEqual([]);
      const storage = await s.open();
      const temp = { index: 0, key: authKey(30), expiresAt: 1_700_000_000 };
      await storage.authKeys.setTemp(4, temp);
      await storage.authKeys.delete(5); // a DC with no entry, on a name that has keys
      await storage.authKeys.deleteTemp(5, 0);
      expect(await storage.authKeys.entries(), 'only DC 4’s temp key').toEqual([{ dcId: 4, mediaOnly: false, tempAuthKeys: [temp] }]);
      await storage.authKeys.set(4, authKey(4));
      expect(await storage.authKeys.getTemp(4, 0), 'the temp key set before the permanent one').toEqual(temp);
      expect(await storage.authKeys.get(4)).toEqual(authKey(4));
    });

    test('temp keys per (DC, slot) with their expiry, independent of the permanent key', async (s) => {
      const storage = await s.open();
      const t0 = { index: 0, key: authKey(10), expiresAt: 2 ** 31 + 5 };
      const t1 = { index: 1, key: authKey(11), expiresAt: 1_700_000_000 };
      await storage.authKeys.setTemp(4, t0);
      await storage.authKeys.setTemp(4, t1);
      await storage.authKeys.setTemp(203, { ...t0, key: authKey(12) });
      expect(await storage.authKeys.getTemp(4, 0)).toEqual(t0);
      expect(await storage.authKeys.getTemp(4, 1)).toEqual(t1);
      expect(await storage.authKeys.getTemp(4, 2)).toBeNull();
      expect(await storage.authKeys.getTemp(203, 0)).toEqual({ ...t0, key: authKey(12) });
      expect(await storage.authKeys.get(4)).toBeNull();
      await storage.authKeys.deleteTemp(4, 0);
      expect(await storage.authKeys.getTemp(4, 0)).toBeNull();
      expect(await storage.authKeys.getTemp(4, 1)).toEqual(t1);
      await storage.authKeys.setTemp(4, { index: 1, key: authKey(13), expiresAt: 0 });
      expect(await storage.authKeys.getTemp(4, 1)).toEqual({ index: 1, key: authKey(13), expiresAt: 0 });
    });

    test('deleteByDc removes every key of that DC id (main and media entries) and no other', async (s) => {
      const storage = await s.open();
      const session = fullSession(1);
      session.dcs.push({ id: 2, ipv4: '149.154.167.152', port: 443, mediaOnly: true, authKey: authKey(77) });
      session.dcs.splice(2, 1); // drop fullSession's key-less media entry for DC 2
      await storage.save(session);
      await storage.authKeys.deleteByDc(2);
      expect(await storage.authKeys.get(2)).toBeNull();
      expect(await storage.authKeys.getTemp(2, 0)).toBeNull();
      expect(await storage.authKeys.getTemp(2, 1)).toBeNull();
      expect(await storage.authKeys.get(1)).toEqual(session.dcs[0]?.authKey);
      const loaded = await storage.load();
      for (const dc of loaded?.dcs ?? []) {
        if (dc.id === 2) expect(dc.authKey === undefined && dc.tempAuthKeys === undefined, `DC 2 entry ${JSON.stringify({ media: dc.mediaOnly })}`).toBe(true);
      }
      // Addresses stay: only keys went.
      expect(loaded?.dcs.map((dc) => [dc.id, dc.ipv4])).toEqual(session.dcs.map((dc) => [dc.id, dc.ipv4]));
    });

    // A media-only entry's keys share the DC id with the main entry's: a statement that
    // leaves out the media flag reads them for the main entry's, or deletes them with it.
    test('get, set, delete, getTemp, setTemp and deleteTemp address the main entry of a DC only: the media-only entry’s keys are never read, replaced or deleted by them', async (s) => {
      const storage = await s.open();
      const mediaTemp = { index: 0, key: authKey(61), expiresAt: 7 };
      const media = { id: 2, ipv4: '149.154.167.222', port: 443, mediaOnly: true, authKey: authKey(60), tempAuthKeys: [mediaTemp] };
      await storage.save({ ...minimalSession(), dcs: [{ id: 2, port: 443 }, media] });
      expect(await storage.authKeys.get(2), 'get while only the media-only entry holds a permanent key').toBeNull();
      expect(await storage.authKeys.getTemp(2, 0), 'getTemp of a slot only the media-only entry holds').toBeNull();
      await storage.authKeys.delete(2);
      await storage.authKeys.deleteTemp(2, 0);
      expect((await storage.load())?.dcs, 'delete and deleteTemp with nothing in the main entry').toEqual([{ id: 2, port: 443 }, media]);
      const mainTemp = { index: 0, key: authKey(71), expiresAt: 9 };
      await storage.authKeys.set(2, authKey(70));
      await storage.authKeys.setTemp(2, mainTemp);
      expect(await storage.authKeys.get(2)).toEqual(authKey(70));
      expect(await storage.authKeys.getTemp(2, 0)).toEqual(mainTemp);
      expect((await storage.load())?.dcs, 'set and setTemp').toEqual([{ id: 2, port: 443, authKey: authKey(70), tempAuthKeys: [mainTemp] }, media]);
      await storage.authKeys.delete(2);
      await storage.authKeys.deleteTemp(2, 0);
      expect((await storage.load())?.dcs, 'delete and deleteTemp of the main entry’s keys').toEqual([{ id: 2, port: 443 }, media]);
      expect(await storage.authKeys.entries()).toEqual([{ dcId: 2, mediaOnly: true, authKey: authKey(60), tempAuthKeys: [mediaTemp] }]);
    });

    test('load shows keys set one at a time on the matching entries, and keys of unknown DCs as address-less entries', async (s) => {
      const storage = await s.open();
      await storage.save(minimalSession()); // DC 2, port 443, no key
      await storage.authKeys.set(2, authKey(2));
      await storage.authKeys.setTemp(2, { index: 1, key: authKey(21), expiresAt: 5 });
      await storage.authKeys.setTemp(2, { index: 0, key: authKey(20), expiresAt: 6 });
      await storage.authKeys.set(5, authKey(5));
      await storage.authKeys.set(4, authKey(4));
      expect(await storage.load()).toEqual({
        ...minimalSession(),
        dcs: [
          {
            id: 2,
            port: 443,
            authKey: authKey(2),
            tempAuthKeys: [
              { index: 0, key: authKey(20), expiresAt: 6 },
              { index: 1, key: authKey(21), expiresAt: 5 },
            ],
          },
          { id: 4, authKey: authKey(4) },
          { id: 5, authKey: authKey(5) },
        ],
      });
    });

    test('get reads keys that save wrote, and save replaces every key (a DC left out loses its keys)', async (s) => {
      const storage = await s.open();
      const session = fullSession(2); // keys on DC 1, 2 (+ temps), 4
      await storage.save(session);
      expect(await storage.authKeys.get(1)).toEqual(session.dcs[0]?.authKey);
      expect(await storage.authKeys.getTemp(2, 1)).toEqual(session.dcs[1]?.tempAuthKeys?.[1]);
      await storage.authKeys.set(9, authKey(9));
      await storage.save(minimalSession());
      expect(await storage.authKeys.get(1)).toBeNull();
      expect(await storage.authKeys.get(9)).toBeNull();
      expect(await storage.authKeys.getTemp(2, 0)).toBeNull();
      expect(await storage.load()).toEqual(minimalSession());
    });

    test('update keeps every key, also of a DC whose address entry it drops', async (s) => {
      const storage = await s.open();
      await storage.save(fullSession(1));
      await storage.authKeys.set(3, authKey(3));
      await storage.update({ homeDcId: 4, dcs: [{ id: 4, host: 'vesta.web.telegram.org', port: 443 }] });
      const loaded = await storage.load();
      expect(loaded?.homeDcId).toBe(4);
      // DC 4 had a key in the snapshot: the new address entry shows it.
      expect(loaded?.dcs[0]).toEqual({ id: 4, host: 'vesta.web.telegram.org', port: 443, authKey: fullSession(1).dcs[3]?.authKey });
      expect(await storage.authKeys.get(1)).toEqual(fullSession(1).dcs[0]?.authKey);
      expect(await storage.authKeys.get(2)).toEqual(fullSession(1).dcs[1]?.authKey);
      expect(await storage.authKeys.get(3)).toEqual(authKey(3));
      expect(loaded?.dcs.map((dc) => dc.id)).toEqual([4, 1, 2, 3]);
    });

    test('a media-only entry dropped by update keeps its keys as an address-less media-only entry; a DC whose last key is deleted disappears', async (s) => {
      const storage = await s.open();
      const media = { id: 5, ipv4: '149.154.171.5', port: 443, mediaOnly: true, authKey: authKey(50), tempAuthKeys: [{ index: 0, key: authKey(51), expiresAt: 7 }] };
      await storage.save({ ...minimalSession(), dcs: [{ id: 2, port: 443 }, media] });
      await storage.update({ homeDcId: 2, dcs: [{ id: 2, port: 443 }] });
      expect((await storage.load())?.dcs).toEqual([{ id: 2, port: 443 }, { id: 5, mediaOnly: true, authKey: authKey(50), tempAuthKeys: media.tempAuthKeys }]);
      // A key-only DC: listed while it holds a key, gone once its last key is deleted.
      await storage.authKeys.set(9, authKey(9));
      await storage.authKeys.setTemp(9, { index: 1, key: authKey(10), expiresAt: 1 });
      await storage.authKeys.delete(9);
      expect((await storage.load())?.dcs.at(-1), 'DC 9 with its temp key left').toEqual({ id: 9, tempAuthKeys: [{ index: 1, key: authKey(10), expiresAt: 1 }] });
      await storage.authKeys.deleteTemp(9, 1);
      expect((await storage.load())?.dcs.map((dc) => dc.id), 'DC 9 without keys').toEqual([2, 5]);
    });

    // docs/contract.md §2: address-less entries come "after the listed ones, ordered by DC
    // id, main entry before media-only", whatever order the keys were written in.
    test('load lists address-less entries after the listed ones, by DC id, the main entry before the media-only one, whichever was written first', async (s) => {
      const storage = await s.open();
      const temp = { index: 0, key: authKey(31), expiresAt: 3 };
      await storage.save({
        ...minimalSession(),
        dcs: [
          { id: 2, port: 443 },
          { id: 5, port: 443, mediaOnly: true, authKey: authKey(51) },
          { id: 5, port: 443, authKey: authKey(50) },
          { id: 3, port: 443, mediaOnly: true, tempAuthKeys: [temp] },
        ],
      });
      await storage.authKeys.set(6, authKey(6));
      await storage.authKeys.set(4, authKey(4));
      await storage.authKeys.set(3, authKey(3)); // DC 3's main entry is written after its media-only one
      await storage.update({ homeDcId: 2, dcs: [{ id: 2, port: 443 }] }); // DC 3 and DC 5 lose their addresses
      expect((await storage.load())?.dcs).toEqual([
        { id: 2, port: 443 },
        { id: 3, authKey: authKey(3) },
        { id: 3, mediaOnly: true, tempAuthKeys: [temp] },
        { id: 4, authKey: authKey(4) },
        { id: 5, authKey: authKey(50) },
        { id: 5, mediaOnly: true, authKey: authKey(51) },
        { id: 6, authKey: authKey(6) },
      ]);
    });

    test('delete removes the keys; other named sessions keep theirs', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      await alice.authKeys.set(2, authKey(1));
      await bob.authKeys.set(2, authKey(2));
      await alice.delete();
      expect(await alice.authKeys.get(2)).toBeNull();
      expect(await bob.authKeys.get(2)).toEqual(authKey(2));
    });

    test('entries lists every key without a snapshot: by DC id, temp keys by index, entries without keys left out', async (s) => {
      const storage = await s.open();
      expect(await storage.authKeys.entries()).toEqual([]);
      await storage.authKeys.set(1000, authKey(1));
      await storage.authKeys.setTemp(2, { index: 7, key: authKey(27), expiresAt: 9 });
      await storage.authKeys.setTemp(2, { index: 0, key: authKey(20), expiresAt: 2 ** 32 - 1 });
      await storage.authKeys.set(4, authKey(4));
      await storage.authKeys.set(3, authKey(3));
      await storage.authKeys.delete(3); // DC 3 holds no key any more: not listed
      expect(await storage.authKeys.entries()).toEqual([
        { dcId: 2, mediaOnly: false, tempAuthKeys: [{ index: 0, key: authKey(20), expiresAt: 2 ** 32 - 1 }, { index: 7, key: authKey(27), expiresAt: 9 }] },
        { dcId: 4, mediaOnly: false, authKey: authKey(4), tempAuthKeys: [] },
        { dcId: 1000, mediaOnly: false, authKey: authKey(1), tempAuthKeys: [] },
      ]);
      expect(await storage.load()).toBeNull();
      const [entry] = await storage.authKeys.entries();
      expect(Object.keys(entry ?? {}).sort(), 'no authKey field on an entry with temp keys only').toEqual(['dcId', 'mediaOnly', 'tempAuthKeys']);
      // Keys come back like get's: redacted from JSON and string conversion.
      const listed = await storage.authKeys.entries();
      expect(JSON.stringify(listed[1]?.authKey)).toContain('redacted');
      expect(String(listed[0]?.tempAuthKeys[0]?.key)).toContain('redacted');
    });

    test('entries lists the main entry of a DC before its address-less media-only one, whichever was written first', async (s) => {
      const storage = await s.open();
      const session = minimalSession();
      // The media-only entry of DC 3 is written (saved) before its main entry exists.
      session.dcs.push({ id: 3, mediaOnly: true, authKey: authKey(33) }, { id: 6, mediaOnly: true, authKey: authKey(66) });
      await storage.save(session);
      await storage.authKeys.set(3, authKey(3));
      await storage.authKeys.set(6, authKey(6));
      await storage.authKeys.setTemp(1, { index: 0, key: authKey(10), expiresAt: 1 });
      const listed = (await storage.authKeys.entries()).map((e) => `${e.dcId}${e.mediaOnly ? ' media' : ''}`);
      expect(listed).toEqual(['1', '3', '3 media', '6', '6 media']);
    });

    test('entries lists the keys save wrote, media-only entries after the main one of their DC, and keys of DCs the snapshot does not list', async (s) => {
      const storage = await s.open();
      const session = fullSession(2); // keys on DC 1, 2 (+ temps), 4, 5; a key-less media entry of DC 2
      session.dcs.push({ id: 1, ipv4: '149.154.175.54', port: 443, mediaOnly: true, tempAuthKeys: [{ index: 3, key: authKey(13), expiresAt: 3 }] });
      session.dcs.unshift({ id: 9, mediaOnly: true, authKey: authKey(99) });
      await storage.save(session);
      await storage.authKeys.set(7, authKey(7));
      const dc = (id: number, media = false) => session.dcs.find((d) => d.id === id && (d.mediaOnly === true) === media);
      expect(await storage.authKeys.entries()).toEqual([
        { dcId: 1, mediaOnly: false, authKey: dc(1)?.authKey, tempAuthKeys: [] },
        { dcId: 1, mediaOnly: true, tempAuthKeys: [{ index: 3, key: authKey(13), expiresAt: 3 }] },
        { dcId: 2, mediaOnly: false, authKey: dc(2)?.authKey, tempAuthKeys: dc(2)?.tempAuthKeys },
        { dcId: 4, mediaOnly: false, authKey: dc(4)?.authKey, tempAuthKeys: [] },
        { dcId: 5, mediaOnly: false, authKey: dc(5)?.authKey, tempAuthKeys: [] },
        { dcId: 7, mediaOnly: false, authKey: authKey(7), tempAuthKeys: [] },
        { dcId: 9, mediaOnly: true, authKey: authKey(99), tempAuthKeys: [] },
      ]);
      await storage.authKeys.deleteByDc(2);
      expect((await storage.authKeys.entries()).map((e) => [e.dcId, e.mediaOnly])).toEqual([[1, false], [1, true], [4, false], [5, false], [7, false], [9, true]]);
    });

    test('clear removes every key of the session and nothing else: snapshot, kv, peers, references and other names stay', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.authKeys.clear();
      expect(await storage.authKeys.entries()).toEqual([]);
      for (const dc of [1, 2, 4, 9]) expect(await storage.authKeys.get(dc), `DC ${dc}`).toBeNull();
      for (const [dc, index] of [[2, 0], [2, 1], [9, 3], [1, 5]] as const) expect(await storage.authKeys.getTemp(dc, index), `DC ${dc} slot ${index}`).toBeNull();
      const addresses = fullSession(1).dcs.map(({ authKey: _k, tempAuthKeys: _t, ...address }) => address);
      expect(await storage.load(), 'the snapshot keeps its address entries').toEqual({ ...fullSession(1), dcs: addresses });
      await expectIntactBut('keys', 'authKeys.clear()');
      await storage.authKeys.clear(); // idempotent
      const keysOnly = await s.open('keys-only');
      await keysOnly.authKeys.set(2, authKey(2));
      await keysOnly.authKeys.clear(); // a session with keys and nothing else
      expect(await keysOnly.authKeys.entries()).toEqual([]);
      expect(await keysOnly.load()).toBeNull();
    });

    test('every DC id and slot extreme round-trips (DC 1 and 1000, slot 0 and 2^31-1, expiry 0 and 2^32-1)', async (s) => {
      const storage = await s.open();
      for (const dcId of [1, 1000]) {
        await storage.authKeys.set(dcId, authKey(dcId));
        for (const [index, expiresAt] of [[0, 0], [2 ** 31 - 1, 2 ** 32 - 1]] as const) {
          await storage.authKeys.setTemp(dcId, { index, key: authKey(dcId + index), expiresAt });
        }
      }
      for (const dcId of [1, 1000]) {
        expect(await storage.authKeys.get(dcId)).toEqual(authKey(dcId));
        expect(await storage.authKeys.getTemp(dcId, 2 ** 31 - 1)).toEqual({ index: 2 ** 31 - 1, key: authKey(dcId + 2 ** 31 - 1), expiresAt: 2 ** 32 - 1 });
      }
    });

    // With sharedBackend: false this runs on one instance.
    {
      test(`durable on resolve and visible to ${shared ? 'another' : 'the same'} instance; concurrent writers of different keys lose none`, async (s) => {
        const a = await s.open();
        const b = shared ? await s.open() : a;
        await a.save(minimalSession());
        await a.authKeys.set(2, authKey(1));
        expect(await b.authKeys.get(2)).toEqual(authKey(1));
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            i % 2 ? (i % 4 === 1 ? a : b).authKeys.set(i + 10, authKey(i)) : (i % 4 === 0 ? a : b).authKeys.setTemp(2, { index: i, key: authKey(100 + i), expiresAt: i }),
          ),
        );
        for (let i = 0; i < 20; i++) {
          if (i % 2) expect(await b.authKeys.get(i + 10), `key of DC ${i + 10}`).toEqual(authKey(i));
          else expect(await a.authKeys.getTemp(2, i), `temp key ${i}`).toEqual({ index: i, key: authKey(100 + i), expiresAt: i });
        }
        // And a concurrent saveUpdateState of the same session did not undo any of it.
        await Promise.all([a.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 }), b.authKeys.set(2, authKey(3))]);
        expect(await a.authKeys.get(2)).toEqual(authKey(3));
        expect((await b.load())?.state?.pts).toBe(1);
      });
    }

    test('the store keeps no reference to the caller’s key bytes, and get returns fresh copies', async (s) => {
      const storage = await s.open();
      const key = authKey(5);
      const pending = storage.authKeys.set(3, key);
      key[0] = (key[0] as number) ^ 0xff;
      await pending;
      const read = (await storage.authKeys.get(3)) as Uint8Array;
      expect(read).toEqual(authKey(5));
      read[1] = (read[1] as number) ^ 0xff;
      expect(await storage.authKeys.get(3)).toEqual(authKey(5));
    });
  });
}
