/**
 * PeerCache traits (DESIGN §3.3): round trip, lookups, username and phone moves,
 * min peers, batches, isolation between named sessions.
 */
import type { Peer } from '@mtstore/core';
import { minimalSession, peer } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { StorageRegistrar, StorageScope } from './context.js';
import { everythingPeers, storedEverywhere } from './intact.js';

async function openSaved(s: StorageScope, name = 'main') {
  const storage = await s.open(name);
  await storage.save(minimalSession());
  return storage;
}

export function peers({ group, test, expect, options }: StorageRegistrar): void {
  group('peers', () => {
    test('a username or phone its peer no longer lists finds nothing; one added finds it, the others stay', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1, { usernames: ['alpha', 'beta'], phone: '15550000001' })]);
      await storage.peers.upsert([peer('user', 1, { usernames: ['beta'], phone: '15550000002' })]);
      expect(await storage.peers.getByUsername('alpha'), 'a dropped username').toBeNull();
      expect(await storage.peers.getByPhone('15550000001'), 'a replaced phone').toBeNull();
      expect((await storage.peers.getByPhone('15550000002'))?.id).toBe(1n);
      await storage.peers.upsert([peer('user', 1, { usernames: ['beta', 'gamma'], phone: '15550000002' })]);
      expect((await storage.peers.getByUsername('gamma'))?.id, 'an added username').toBe(1n);
      expect((await storage.peers.getByUsername('beta'))?.id, 'a kept username').toBe(1n);
      expect((await storage.peers.getById('user', 1n))?.usernames).toEqual(['beta', 'gamma']);
      // The same record again (the usual re-upsert): its username and phone keep finding it.
      await storage.peers.upsert([peer('user', 1, { usernames: ['beta', 'gamma'], phone: '15550000002' })]);
      expect((await storage.peers.getByPhone('15550000002'))?.id, 'the phone after an identical upsert').toBe(1n);
      expect((await storage.peers.getByUsername('gamma'))?.id, 'a username after an identical upsert').toBe(1n);
      const read = (await storage.peers.getById('user', 1n)) as Peer;
      read.usernames.push('changed');
      expect((await storage.peers.getById('user', 1n))?.usernames, 'a peer read back is the caller’s copy').toEqual(['beta', 'gamma']);
    });

    test('ids one apart beyond 2^53 and near -2^63 / 2^63-1 are distinct peers', async (s) => {
      const storage = await openSaved(s);
      const ids = [2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n), -(2n ** 53n) - 1n, 2n ** 63n - 1n, 2n ** 63n - 2n, -(2n ** 63n), -(2n ** 63n) + 1n];
      await storage.peers.upsert(ids.map((id, i) => ({ ...peer('channel', i + 1, { usernames: [] }), id })));
      for (const [i, id] of ids.entries()) {
        const found = await storage.peers.getById('channel', id);
        expect(found?.id, `channel ${id}`).toBe(id);
        expect(found?.accessHash, `channel ${id}`).toBe(peer('channel', i + 1).accessHash);
      }
    });

    test('a peer of each type round-trips with every field', async (s) => {
      const storage = await openSaved(s);
      const all: Peer[] = [
        peer('user', 1, { usernames: ['Alice', 'alice_backup'], phone: '15550000001', min: false }),
        peer('chat', 2, { usernames: [] }),
        peer('channel', 3, { usernames: ['SomeChannel'] }),
      ];
      await storage.peers.upsert(all);
      for (const p of all) expect(await storage.peers.getById(p.type, p.id)).toEqual(p);
    });

    test('getById returns null for an unknown peer, and the type is part of the key', async (s) => {
      const storage = await openSaved(s);
      expect(await storage.peers.getById('user', 1n)).toBeNull();
      await storage.peers.upsert([peer('user', 1), peer('channel', 1, { usernames: ['chan'] })]);
      expect(await storage.peers.getById('user', 1n)).toEqual(peer('user', 1));
      expect(await storage.peers.getById('channel', 1n)).toEqual(peer('channel', 1, { usernames: ['chan'] }));
      expect(await storage.peers.getById('chat', 1n)).toBeNull();
    });

    test('usernames match case-insensitively and come back as given', async (s) => {
      const storage = await openSaved(s);
      const durov = peer('user', 1, { usernames: ['DuRov', 'Second_Name'] });
      await storage.peers.upsert([durov]);
      for (const name of ['durov', 'DUROV', 'DuRov', 'second_name', 'SECOND_NAME']) {
        expect(await storage.peers.getByUsername(name), name).toEqual(durov);
      }
      expect(await storage.peers.getByUsername('durov2')).toBeNull();
    });

    test('a username moved to another peer answers for the new owner only', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1, { usernames: ['shared', 'keep_me'] })]);
      await storage.peers.upsert([peer('channel', 2, { usernames: ['SHARED'] })]);
      expect((await storage.peers.getByUsername('shared'))?.id).toBe(2n);
      // The previous owner no longer lists it; its other usernames stay.
      expect((await storage.peers.getById('user', 1n))?.usernames).toEqual(['keep_me']);
      expect((await storage.peers.getByUsername('keep_me'))?.id).toBe(1n);
    });

    test('a peer upserted without a username it had releases it', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1, { usernames: ['old_name', 'other'] })]);
      await storage.peers.upsert([peer('user', 1, { usernames: ['new_name'] })]);
      expect(await storage.peers.getByUsername('old_name')).toBeNull();
      expect(await storage.peers.getByUsername('other')).toBeNull();
      expect((await storage.peers.getByUsername('new_name'))?.id).toBe(1n);
    });

    // The re-upserts an adapter may take for "usernames unchanged" (nothing to re-index)
    // when they are not: the phone stays the same, so only the usernames tell them apart.
    test('usernames changed with the phone unchanged (none to two, two to three, one of three swapped, three to none, none to one) find the peer exactly as listed', async (s) => {
      const storage = await openSaved(s);
      const steps = [[], ['first_name', 'second_name'], ['first_name', 'second_name', 'third_name'], ['first_name', 'other_name', 'third_name'], [], ['fourth_name']];
      const every = new Set(steps.flat());
      for (const [i, usernames] of steps.entries()) {
        await storage.peers.upsert([peer('user', 1, { usernames, phone: '15550000001' })]);
        expect((await storage.peers.getById('user', 1n))?.usernames, `step ${i}`).toEqual(usernames);
        for (const name of every) expect((await storage.peers.getByUsername(name))?.id ?? null, `step ${i}: ${name}`).toBe(usernames.includes(name) ? 1n : null);
        expect((await storage.peers.getByPhone('15550000001'))?.id, `step ${i}: the phone`).toBe(1n);
      }
    });

    // Adapters may stage a large batch differently from a small one (SQLite: peers above the
    // largest stored id of their type skip the probe for a stored row), so this one is large
    // and mixes both kinds, the stored peer with the largest id among the renamed ones.
    test('a batch of 40 — 20 stored peers renamed (the largest stored id among them), 20 new ones above them — stores each and moves every name and phone', async (s) => {
      const storage = await openSaved(s);
      const name = (id: number, round: number) => `u${id}_r${round}`;
      const phone = (id: number, round: number) => `1555${round}${String(id).padStart(6, '0')}`;
      const users = (from: number, round: number) => Array.from({ length: 20 }, (_, i) => peer('user', from + i, { usernames: [name(from + i, round)], phone: phone(from + i, round) }));
      await storage.peers.upsert(users(1, 0));
      await storage.peers.upsert([...users(1, 1), ...users(21, 1)]);
      for (let id = 1; id <= 40; id++) {
        expect((await storage.peers.getById('user', BigInt(id)))?.usernames, `user ${id}`).toEqual([name(id, 1)]);
        expect((await storage.peers.getByUsername(name(id, 1)))?.id, `user ${id}: its new username`).toBe(BigInt(id));
        expect((await storage.peers.getByPhone(phone(id, 1)))?.id, `user ${id}: its new phone`).toBe(BigInt(id));
        if (id > 20) continue;
        expect(await storage.peers.getByUsername(name(id, 0)), `user ${id}: its old username`).toBeNull();
        expect(await storage.peers.getByPhone(phone(id, 0)), `user ${id}: its old phone`).toBeNull();
      }
    });

    // A batch of new peers only (every id above the stored ones of its type) is the one an
    // adapter may write by a path of its own that indexes the names as it writes the rows
    // (SQLite, from 16 peers: straight into the tables, lower-casing only where a name has
    // an upper-case letter). Each round is such a batch: a round whose only upper-case
    // letters are `A`, one with `Z`, one all upper case, one with peers of several names
    // (and of none) of every type, the channels only of several. Names are letters only,
    // so no digit or `_` stands in for a letter where an adapter tells them apart.
    test('batches of 16 new peers above the stored ones — names whose only capital is A or Z, names all in capitals, peers of several names or none — find each peer by each name in any case', async (s) => {
      const storage = await openSaved(s);
      // Stored first: every batch below is above what is stored, of each type.
      await storage.peers.upsert([peer('user', 1), peer('chat', 1), peer('channel', 1)]);
      // Lower-case letters only, distinct per (round, k).
      const word = (round: number, k: number) => `${'abcdefgh'[round]}${'bcdefghijklmnopqrstuvwxy'[k]}`;
      const types = ['user', 'chat', 'channel'] as const;
      const rounds: [string, (round: number, k: number) => Peer][] = [
        ['the only capital A', (round, k) => peer('user', 100 * round + k, { usernames: [k === 5 ? `${word(round, k)}nameA` : `${word(round, k)}name`] })],
        ['the only capital Z', (round, k) => peer('user', 100 * round + k, { usernames: [k === 5 ? `Zed${word(round, k)}` : `zed${word(round, k)}`] })],
        ['all in capitals', (round, k) => peer('user', 100 * round + k, { usernames: [`CAPS${word(round, k).toUpperCase()}`] })],
        [
          'several names or none, every type',
          (round, k) => {
            const w = word(round, k);
            const type = types[k % 3] as (typeof types)[number];
            const several = [
              [`one${w}`, `Two${w}`],
              [`first${w}`, `second${w}`, `THIRD${w}`],
            ];
            // Channels only of several names (no channel of one name or none), users and chats of every kind.
            if (type === 'channel') return peer(type, 100 * round + k, { usernames: several[k % 2] as string[] });
            return peer(type, 100 * round + k, { usernames: k % 4 === 0 ? [] : k % 4 === 2 ? [`solo${w}`] : (several[k % 4 === 1 ? 0 : 1] as string[]) });
          },
        ],
      ];
      for (const [round, [what, make]] of rounds.entries()) {
        const batch = Array.from({ length: 16 }, (_, k) => make(round + 1, k));
        await storage.peers.upsert(batch);
        for (const p of batch) {
          expect(await storage.peers.getById(p.type, p.id), `after the batch with ${what}: ${p.type} ${p.id}`).toEqual(p);
          for (const name of p.usernames) {
            for (const asked of [name, name.toLowerCase(), name.toUpperCase()]) {
              const found = await storage.peers.getByUsername(asked);
              expect(found && `${found.type} ${found.id}`, `after the batch with ${what}: ${asked}`).toBe(`${p.type} ${p.id}`);
            }
          }
        }
      }
      for (const p of [peer('user', 1), peer('chat', 1), peer('channel', 1)]) expect((await storage.peers.getByUsername(p.usernames[0] as string))?.id, `the stored ${p.type}`).toBe(1n);
    });

    // The same path's other half: a name or phone that a stored peer holds, given to a new
    // peer of such a batch, must be taken from it (an adapter writing straight into the
    // tables meets it as a unique-key conflict and must then move it, not fail).
    test('a batch of 16 new peers above the stored ones takes a username, then a phone, from a stored peer: the stored peer loses it, the new one answers for it', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1, { usernames: ['taken_name', 'kept_name'], phone: '15550000001' }), peer('user', 2, { usernames: ['other_name'], phone: '15550000002' })]);
      const users = (from: number, change: Partial<Peer>) => Array.from({ length: 16 }, (_, k) => peer('user', from + k, k === 3 ? change : {}));
      await storage.peers.upsert(users(10, { usernames: ['TAKEN_NAME'] }));
      expect((await storage.peers.getByUsername('taken_name'))?.id, 'the taken username').toBe(13n);
      expect(await storage.peers.getById('user', 1n), 'the stored peer that lost its username').toEqual(peer('user', 1, { usernames: ['kept_name'], phone: '15550000001' }));
      expect((await storage.peers.getByUsername('kept_name'))?.id, 'the username it kept').toBe(1n);
      await storage.peers.upsert(users(30, { phone: '15550000002' }));
      expect((await storage.peers.getByPhone('15550000002'))?.id, 'the taken phone').toBe(33n);
      const phoneless = peer('user', 2, { usernames: ['other_name'] });
      delete phoneless.phone;
      expect(await storage.peers.getById('user', 2n), 'the stored peer that lost its phone').toEqual(phoneless);
      expect((await storage.peers.getByUsername('other_name'))?.id, 'the username of the stored peer that lost its phone').toBe(2n);
      for (const from of [10, 30]) {
        for (const p of users(from, {})) {
          if (p.id === 13n || p.id === 33n) continue;
          expect((await storage.peers.getByUsername(p.usernames[0] as string))?.id, `user ${p.id} by username`).toBe(p.id);
          expect((await storage.peers.getByPhone(p.phone as string))?.id, `user ${p.id} by phone`).toBe(p.id);
        }
      }
    });

    test('a phone finds its owner, follows a move and is released when dropped', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1, { phone: '15550000001' })]);
      expect((await storage.peers.getByPhone('15550000001'))?.id).toBe(1n);
      await storage.peers.upsert([peer('user', 2, { phone: '15550000001' })]);
      expect((await storage.peers.getByPhone('15550000001'))?.id).toBe(2n);
      expect((await storage.peers.getById('user', 1n))?.phone).toBeUndefined();
      const withoutPhone = peer('user', 2);
      delete withoutPhone.phone;
      await storage.peers.upsert([withoutPhone]);
      expect(await storage.peers.getByPhone('15550000001')).toBeNull();
      expect(await storage.peers.getByPhone('99999')).toBeNull();
    });

    test('a min peer is never returned by username or phone, but getById returns it as min', async (s) => {
      const storage = await openSaved(s);
      const min = peer('user', 7, { usernames: ['min_user'], phone: '15550007', min: true });
      await storage.peers.upsert([min]);
      expect(await storage.peers.getByUsername('min_user')).toBeNull();
      expect(await storage.peers.getByPhone('15550007')).toBeNull();
      expect(await storage.peers.getById('user', 7n)).toEqual(min);
    });

    test('a min peer never overwrites the access hash of a stored non-min peer', async (s) => {
      const storage = await openSaved(s);
      const full = peer('user', 8, { accessHash: 111n, usernames: ['full_user'] });
      await storage.peers.upsert([full]);
      await storage.peers.upsert([peer('user', 8, { accessHash: 999n, usernames: ['renamed_user'], min: true, updatedAt: 1_800_000_000 })]);
      const stored = await storage.peers.getById('user', 8n);
      expect(stored?.accessHash).toBe(111n);
      expect(stored?.min).toBeUndefined();
      // The rest of the min peer is news and is kept: a usable peer answers to its new name.
      expect(stored?.usernames).toEqual(['renamed_user']);
      expect(stored?.updatedAt).toBe(1_800_000_000);
      expect((await storage.peers.getByUsername('renamed_user'))?.accessHash).toBe(111n);
      // Within one batch the same rule holds.
      await storage.peers.upsert([peer('user', 9, { accessHash: 1n }), peer('user', 9, { accessHash: 2n, min: true })]);
      expect((await storage.peers.getById('user', 9n))?.accessHash).toBe(1n);
    });

    // docs/contract.md §5: a username or phone that moves is taken from its previous owner,
    // and lookups never return a min peer: moved to a min peer, it finds nothing.
    test('a username or phone moved to a min peer is taken from its stored owner, and then finds nothing', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1, { usernames: ['taken', 'kept'], phone: '15550000001' })]);
      await storage.peers.upsert([peer('user', 2, { usernames: ['TAKEN'], phone: '15550000001', min: true })]);
      const previous = await storage.peers.getById('user', 1n);
      expect(previous?.usernames, 'the previous owner no longer lists the moved username').toEqual(['kept']);
      expect(previous?.phone, 'the previous owner no longer has the moved phone').toBeUndefined();
      expect(await storage.peers.getByUsername('taken'), 'the moved username (its owner is min)').toBeNull();
      expect(await storage.peers.getByPhone('15550000001'), 'the moved phone (its owner is min)').toBeNull();
      expect((await storage.peers.getByUsername('kept'))?.id).toBe(1n);
      expect(await storage.peers.getById('user', 2n)).toEqual(peer('user', 2, { usernames: ['TAKEN'], phone: '15550000001', min: true }));
    });

    test('a non-min peer replaces a min one, and a min one replaces a min one', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('channel', 3, { accessHash: 1n, min: true })]);
      await storage.peers.upsert([peer('channel', 3, { accessHash: 2n, min: true })]);
      expect(await storage.peers.getById('channel', 3n)).toEqual(peer('channel', 3, { accessHash: 2n, min: true }));
      await storage.peers.upsert([peer('channel', 3, { accessHash: 3n })]);
      expect(await storage.peers.getById('channel', 3n)).toEqual(peer('channel', 3, { accessHash: 3n }));
      expect((await storage.peers.getByUsername('channel_3'))?.accessHash).toBe(3n);
    });

    test('within one batch the last entry for a key, a username or a phone wins', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([
        peer('user', 1, { accessHash: 1n, usernames: ['first'], phone: '111' }),
        peer('user', 2, { usernames: ['FIRST', 'second'], phone: '111' }),
        peer('user', 1, { accessHash: 5n, usernames: ['third'], phone: '333' }),
      ]);
      expect(await storage.peers.getById('user', 1n)).toEqual(peer('user', 1, { accessHash: 5n, usernames: ['third'], phone: '333' }));
      expect((await storage.peers.getByUsername('first'))?.id).toBe(2n);
      expect((await storage.peers.getByPhone('111'))?.id).toBe(2n);
      expect((await storage.peers.getByUsername('third'))?.id).toBe(1n);
    });

    test('save keeps the peers; an empty batch is a no-op', async (s) => {
      const storage = await openSaved(s);
      await storage.peers.upsert([peer('user', 1)]);
      await storage.save(minimalSession());
      await storage.peers.upsert([]);
      expect(await storage.peers.getById('user', 1n)).toEqual(peer('user', 1));
    });

    test('upsert needs no saved snapshot (the cache belongs to the name), and load stays null', async (s) => {
      const storage = await s.open();
      await storage.peers.upsert([peer('user', 1)]);
      expect(await storage.peers.getById('user', 1n)).toEqual(peer('user', 1));
      expect(await storage.load()).toBeNull();
      await storage.save(minimalSession());
      expect(await storage.peers.getByUsername('user_1')).toEqual(peer('user', 1));
    });

    test('the peers of one named session are invisible to another', async (s) => {
      const alice = await openSaved(s, 'alice');
      const bob = await openSaved(s, 'bob');
      await alice.peers.upsert([peer('user', 1, { accessHash: 10n })]);
      expect(await bob.peers.getById('user', 1n)).toBeNull();
      expect(await bob.peers.getByUsername('user_1')).toBeNull();
      expect(await bob.peers.getByPhone(peer('user', 1).phone as string)).toBeNull();
      // The same peer in both caches keeps each account's own access hash.
      await bob.peers.upsert([peer('user', 1, { accessHash: 20n })]);
      expect((await alice.peers.getById('user', 1n))?.accessHash).toBe(10n);
      expect((await bob.peers.getByUsername('user_1'))?.accessHash).toBe(20n);
    });

    test('concurrent batches moving the same usernames and phones leave each with exactly one owner', async (s) => {
      const a = await openSaved(s);
      const b = options.capabilities?.sharedBackend === false ? a : await s.open();
      const names = ['alpha', 'beta', 'gamma', 'delta'];
      // 12 batches race; in each, the four names and phones go to four of six peers.
      await Promise.all(
        Array.from({ length: 12 }, (_, round) =>
          (round % 2 ? a : b).peers.upsert(names.map((name, k) => peer('user', ((k + round) % 6) + 1, { usernames: [name], phone: String(5_550_000 + k) }))),
        ),
      );
      const usernameOwners = new Map<string, bigint>();
      const phoneOwners = new Map<string, bigint>();
      for (let id = 1n; id <= 6n; id++) {
        const stored = await a.peers.getById('user', id);
        for (const username of stored?.usernames ?? []) {
          expect(usernameOwners.has(username), `${username} listed by two peers`).toBe(false);
          usernameOwners.set(username, id);
        }
        if (stored?.phone !== undefined) {
          expect(phoneOwners.has(stored.phone), `${stored.phone} held by two peers`).toBe(false);
          phoneOwners.set(stored.phone, id);
        }
      }
      for (const [k, name] of names.entries()) {
        const byName = await a.peers.getByUsername(name);
        expect(byName?.id, `owner of ${name}`).toBe(usernameOwners.get(name));
        const byPhone = await a.peers.getByPhone(String(5_550_000 + k));
        expect(byPhone?.id, `owner of phone ${k}`).toBe(phoneOwners.get(String(5_550_000 + k)));
      }
    });

    test('clear() racing a batch that rewrites the same peers ends in one of the two orders, never a peer without its usernames', async (s) => {
      const a = await openSaved(s);
      const shared = options.capabilities?.sharedBackend === false;
      const b = shared ? a : await s.open();
      const c = shared ? a : await s.open();
      const batch = [peer('user', 1, { usernames: ['alpha', 'beta'], phone: '1001' }), peer('user', 2, { usernames: ['gamma'], phone: '1002' })];
      for (let round = 0; round < 25; round++) {
        await a.peers.upsert(batch);
        await Promise.all([b.peers.upsert(batch), c.peers.clear()]);
        for (const stored of batch) {
          const byId = await a.peers.getById('user', stored.id);
          const names = await Promise.all(stored.usernames.map((name) => a.peers.getByUsername(name)));
          const byPhone = await a.peers.getByPhone(stored.phone as string);
          // Upsert then clear: nothing; clear then upsert: the peer with its names and phone.
          if (byId === null) {
            expect(names, `round ${round}: names of a cleared peer`).toEqual(stored.usernames.map(() => null));
            expect(byPhone, `round ${round}: phone of a cleared peer`).toBeNull();
          } else {
            expect(byId.usernames, `round ${round}: usernames of peer ${stored.id}`).toEqual(stored.usernames);
            expect(names.map((found) => found?.id), `round ${round}: owners of its usernames`).toEqual(stored.usernames.map(() => stored.id));
            expect(byPhone?.id, `round ${round}: owner of its phone`).toBe(stored.id);
          }
        }
      }
    });

    const size = options.capabilities?.peerBatchSize ?? 10_000;
    test(`a batch of ${size.toLocaleString('en-US')} peers is stored whole and every lookup works`, async (s) => {
      const storage = await openSaved(s);
      const types = ['user', 'chat', 'channel'] as const;
      const batch = Array.from({ length: size }, (_, i) => peer(types[i % 3] as 'user', i + 1, { usernames: [`bulk_${i}`] }));
      await storage.peers.upsert(batch);
      for (const i of [0, 1, 2, Math.floor(size / 2), size - 2, size - 1]) {
        const p = batch[i] as Peer;
        expect(await storage.peers.getById(p.type, p.id), `peer ${i}`).toEqual(p);
        expect(await storage.peers.getByUsername(`BULK_${i}`), `username of peer ${i}`).toEqual(p);
        if (p.phone) expect(await storage.peers.getByPhone(p.phone), `phone of peer ${i}`).toEqual(p);
      }
      // Upserting the same batch again replaces, it does not duplicate or fail.
      await storage.peers.upsert(batch.map((p) => ({ ...p, accessHash: p.accessHash + 1n })));
      expect((await storage.peers.getByUsername(`bulk_${size - 1}`))?.accessHash).toBe((batch[size - 1] as Peer).accessHash + 1n);
    });
  });
}

/** Contract v2 peer fields and operations: display name, TL bytes, paging, clear. */
export function peersV2({ group, test, expect }: StorageRegistrar): void {
  group('peers: v2 fields, list and clear', () => {
    test('displayName and complete round-trip; absent stays absent; updates replace them', async (s) => {
      const storage = await s.open();
      const complete = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
      const withAll = peer('user', 1, { displayName: 'Павел Дуров 🚀', complete, min: false });
      const bare = peer('channel', 2);
      const longName = peer('chat', 3, { displayName: 'x'.repeat(1024), complete: new Uint8Array(65_536).fill(1) });
      await storage.peers.upsert([withAll, bare, longName]);
      expect(await storage.peers.getById('user', 1n)).toEqual(withAll);
      expect(await storage.peers.getById('chat', 3n)).toEqual(longName);
      const stored = await storage.peers.getById('channel', 2n);
      expect(stored).toEqual(bare);
      expect(Object.keys(stored ?? {}).sort()).toEqual(Object.keys(bare).sort());
      const renamed = peer('user', 1, { displayName: 'Pavel', complete: Uint8Array.from([1, 2]) });
      await storage.peers.upsert([renamed]);
      expect(await storage.peers.getByUsername('USER_1')).toEqual(renamed);
    });

    // docs/contract.md §1: a display name is up to 1024 characters (UTF-16 code units) of
    // any Unicode: its longest UTF-8 form is 1024 three-byte characters (3,072 bytes), past
    // a column or index sized for 1024 or 2048 bytes.
    test('display names at the limit in every UTF-8 width round-trip: 1024 one-, two- and three-byte characters, 512 four-byte ones', async (s) => {
      const storage = await s.open();
      const names = ['x'.repeat(1024), 'ß'.repeat(1024), '中'.repeat(1024), '🚀'.repeat(512), `${'中'.repeat(1000)}${'🚀'.repeat(12)}`];
      const peers = names.map((displayName, i) => peer('user', i + 1, { displayName }));
      await storage.peers.upsert(peers);
      for (const p of peers) expect(await storage.peers.getById('user', p.id), `display name of user ${p.id}`).toEqual(p);
      expect((await storage.peers.list()).peers.map((p) => p.displayName).sort(), 'the listing').toEqual([...names].sort());
    });

    test('the store keeps no reference to the caller’s TL bytes, and every lookup returns bytes of its own', async (s) => {
      const storage = await s.open();
      // Lengths on both sides of 64 (V8's in-heap limit) and of a 4 KiB copy (core's pooled copies).
      const lengths = [1, 64, 65, 100, 300, 4096, 4097];
      const bytesOf = (k: number): Uint8Array => Uint8Array.from({ length: lengths[k] as number }, (_, i) => (i * 31 + k) & 0xff);
      const given = lengths.map((_, k) => peer('user', k + 1, { complete: bytesOf(k) }));
      const pending = storage.peers.upsert(given);
      for (const p of given) (p.complete as Uint8Array).fill(0xee);
      await pending;
      const expected = lengths.map((_, k) => peer('user', k + 1, { complete: bytesOf(k) }));
      // Copies read one after another, by each kind of lookup and by list: scribbling over
      // each changes neither what is stored nor any copy read before or after it.
      const reads: Peer[] = [];
      for (let k = 0; k < lengths.length; k++) {
        reads.push((await storage.peers.getById('user', BigInt(k + 1))) as Peer);
        reads.push((await storage.peers.getByUsername(`user_${k + 1}`)) as Peer);
        reads.push((await storage.peers.getByPhone(String(10_000_000_001 + k))) as Peer);
      }
      reads.push(...(await storage.peers.list({ limit: 100 })).peers);
      const expectedOf = (read: Peer): Peer => expected[Number(read.id) - 1] as Peer;
      for (const read of reads) expect(read).toEqual(expectedOf(read));
      for (const [i, read] of reads.entries()) {
        (read.complete as Uint8Array).fill(i & 0xff);
        for (const later of reads.slice(i + 1)) expect(later, `a copy read after copy ${i}`).toEqual(expectedOf(later));
      }
      for (let k = 0; k < lengths.length; k++) expect(await storage.peers.getById('user', BigInt(k + 1))).toEqual(expected[k]);
    });

    test('a min peer over a stored non-min one keeps its access hash and complete object', async (s) => {
      const storage = await s.open();
      const full = peer('user', 1, { accessHash: 111n, complete: Uint8Array.from([1, 1, 1]), displayName: 'Full' });
      await storage.peers.upsert([full]);
      await storage.peers.upsert([peer('user', 1, { accessHash: 222n, min: true, complete: Uint8Array.from([2]), displayName: 'Min' })]);
      expect(await storage.peers.getById('user', 1n)).toEqual({ ...full, displayName: 'Min' });
    });

    // An adapter that keeps TL bytes in a shared buffer and reclaims the space of replaced
    // ones (memory's PeerBytes) must move every peer's bytes with it; over a few hundred
    // KiB of replacements this reaches any such reclaiming. Each peer's history is one
    // of: new bytes every round, the same bytes again, none and bytes by turns, new bytes
    // every other round (the same ones between).
    test('TL bytes replaced, repeated, dropped and gained over many rounds read back as last written', async (s) => {
      const storage = await s.open();
      // An empty `complete` on a peer that had none, before the session holds any TL bytes.
      await storage.peers.upsert([peer('chat', 1000)]);
      await storage.peers.upsert([peer('chat', 1000, { complete: new Uint8Array(0) })]);
      expect(await storage.peers.getById('chat', 1000n), 'empty TL bytes').toEqual(peer('chat', 1000, { complete: new Uint8Array(0) }));
      // Bytes cut short: the stored ones begin with the new ones.
      const long = Uint8Array.from({ length: 100 }, (_, i) => i + 1);
      await storage.peers.upsert([peer('chat', 1001, { complete: long })]);
      await storage.peers.upsert([peer('chat', 1001, { complete: long.slice(0, 50) })]);
      expect(await storage.peers.getById('chat', 1001n), 'TL bytes cut short').toEqual(peer('chat', 1001, { complete: long.slice(0, 50) }));
      // The repeated ones the largest: space counted free that is still in use shows.
      const bytesOf = (k: number, version: number) => Uint8Array.from({ length: k % 4 === 1 ? 6000 + k : 2000 + k * 13 }, (_, i) => (i * 31 + k * 17 + version * 101) & 0xff);
      const count = 40;
      let last: Peer[] = [];
      for (let round = 0; round < 8; round++) {
        const batch: Peer[] = [];
        last = batch;
        for (let k = 1; k <= count; k++) {
          const history = k % 4;
          const version = history === 0 ? round : history === 1 ? 0 : history === 2 ? round : round - (round % 2);
          const complete = history === 2 && round % 2 === 0 ? undefined : bytesOf(k, version);
          batch.push(peer('user', k, complete === undefined ? {} : { complete }));
        }
        await storage.peers.upsert(batch);
        // One page holds them all: a read per round, not one per peer.
        const listed = new Map((await storage.peers.list({ limit: 100 })).peers.map((p) => [`${p.type}:${p.id}`, p]));
        for (const p of batch) expect(listed.get(`user:${p.id}`), `round ${round}: user ${p.id}`).toEqual(p);
      }
      for (const p of last.slice(0, 4)) expect(await storage.peers.getById('user', p.id), `user ${p.id} at the end`).toEqual(p);
      expect(await storage.peers.getById('chat', 1000n), 'empty TL bytes at the end').toEqual(peer('chat', 1000, { complete: new Uint8Array(0) }));
    });

    test('list pages through every peer exactly once, with any page size', async (s) => {
      const storage = await s.open();
      const types = ['user', 'chat', 'channel'] as const;
      const all = Array.from({ length: 257 }, (_, i) => peer(types[i % 3] as 'user', i % 7 === 0 ? -(i + 1) : i + 1, { usernames: [] }));
      all.push(peer('user', 0, { id: 2n ** 62n, accessHash: -1n, usernames: [] }), peer('channel', 0, { id: -(2n ** 62n), accessHash: 2n ** 63n - 1n, usernames: [] }));
      await storage.peers.upsert(all);
      for (const limit of [1, 10, 100, 1000]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await storage.peers.list({ cursor, limit });
          expect(page.peers.length > limit, `page ${pages} of size ${limit} holds ${page.peers.length}`).toBe(false);
          for (const p of page.peers) {
            seen.push(`${p.type}:${p.id}`);
            expect(p, `${p.type}:${p.id}`).toEqual(all.find((x) => x.type === p.type && x.id === p.id));
          }
          cursor = page.cursor;
          pages++;
          expect(pages > all.length + 1, `more pages than peers (${pages})`).toBe(false);
        } while (cursor !== null);
        expect(seen.length, `peers listed with limit ${limit}`).toBe(all.length);
        expect(new Set(seen).size, `distinct peers listed with limit ${limit}`).toBe(all.length);
      }
      expect((await storage.peers.list()).cursor, 'one default page (1000) holds all 259').toBeNull();
    });

    test('list pages through ids at both ends of the 64-bit range, a page ending on each; a cursor is the last peer’s type:id', async (s) => {
      const storage = await s.open();
      const ends = [-(2n ** 63n), -(2n ** 63n) + 1n, -1n, 0n, 1n, 2n ** 63n - 2n, 2n ** 63n - 1n];
      const all = (['user', 'chat', 'channel'] as const).flatMap((type) => ends.map((id) => peer(type, 0, { id, usernames: [] })));
      await storage.peers.upsert(all);
      for (const limit of [1, 2, 3]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await storage.peers.list({ cursor, limit });
          for (const p of page.peers) seen.push(`${p.type}:${p.id}`);
          const last = page.peers[page.peers.length - 1];
          if (page.cursor !== null) expect(page.cursor, `cursor of page ${pages} (limit ${limit})`).toBe(`${last?.type}:${last?.id}`);
          cursor = page.cursor;
          pages++;
          expect(pages > all.length + 1, `more pages than peers (${pages})`).toBe(false);
        } while (cursor !== null);
        expect([...seen].sort(), `peers listed with limit ${limit}`).toEqual(all.map((p) => `${p.type}:${p.id}`).sort());
      }
    });

    test('a well-formed cursor naming a peer that is not stored pages on without failing; one kept across clear gives an empty page', async (s) => {
      const storage = await s.open();
      const all = [peer('user', 1), peer('user', 2), peer('chat', 3), peer('chat', 4), peer('channel', 5), peer('channel', 6)];
      await storage.peers.upsert(all);
      const stored = new Set(all.map((p) => `${p.type}:${p.id}`));
      for (const cursor of ['user:999', 'chat:-999', 'channel:999', `user:${-(2n ** 63n)}`, `channel:${2n ** 63n - 1n}`]) {
        const seen = new Set<string>();
        let next: string | null = cursor;
        let pages = 0;
        do {
          const page = await storage.peers.list({ cursor: next, limit: 2 });
          for (const p of page.peers) {
            const key = `${p.type}:${p.id}`;
            expect(stored.has(key) && !seen.has(key), `from ${cursor}: ${key} is a stored peer listed once`).toBe(true);
            seen.add(key);
          }
          next = page.cursor;
          pages++;
        } while (next !== null && pages <= all.length);
        expect(next, `from ${cursor}: the listing ends`).toBeNull();
      }
      const kept = (await storage.peers.list({ limit: 3 })).cursor;
      expect(kept).not.toBeNull();
      await storage.peers.clear();
      expect(await storage.peers.list({ cursor: kept })).toEqual({ peers: [], cursor: null });
    });

    test('a cursor naming a peer no longer stored goes on from where that peer was in the adapter’s order, not from the start', async (s) => {
      const storage = await s.open();
      const all = [peer('user', 1), peer('user', 2), peer('user', 3), peer('chat', 4), peer('chat', 5), peer('chat', 6), peer('channel', 7), peer('channel', 8), peer('channel', 9)];
      await storage.peers.upsert(all);
      // The adapter's order, learned from one listing.
      const order: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await storage.peers.list({ cursor, limit: 4 });
        for (const p of page.peers) order.push(`${p.type}:${p.id}`);
        cursor = page.cursor;
      } while (cursor !== null && order.length <= all.length);
      expect([...order].sort(), 'the listing learning the order').toEqual(all.map((p) => `${p.type}:${p.id}`).sort());
      const byKey = new Map(all.map((p) => [`${p.type}:${p.id}`, p]));
      // §5: the listing goes on from where the missing peer would be, so no peer before it
      // (a restart from the beginning lists them); it may miss peers, never repeats one.
      for (let i = 1; i < order.length - 1; i++) {
        const gone = order[i] as string;
        await storage.peers.clear();
        await storage.peers.upsert(order.filter((key) => key !== gone).map((key) => byKey.get(key) as Peer));
        const seen = new Set<string>();
        let next: string | null = gone;
        let pages = 0;
        do {
          const page = await storage.peers.list({ cursor: next, limit: 2 });
          for (const p of page.peers) {
            const key = `${p.type}:${p.id}`;
            expect(order.indexOf(key) > i && !seen.has(key), `from ${gone} (position ${i} of ${order.join(', ')}): ${key} follows it and is listed once`).toBe(true);
            seen.add(key);
          }
          next = page.cursor;
          pages++;
        } while (next !== null && pages <= all.length);
        expect(next, `from ${gone}: the listing ends`).toBeNull();
      }
    });

    test('list of a session without peers is one empty page; other names’ peers never show', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      await bob.peers.upsert([peer('user', 1)]);
      expect(await alice.peers.list()).toEqual({ peers: [], cursor: null });
      expect((await bob.peers.list()).peers).toEqual([peer('user', 1)]);
    });

    test('clear removes every peer and its usernames and phones, and nothing else: snapshot, permanent and temp keys, kv, references and other names stay', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.peers.clear();
      for (const p of everythingPeers(1)) {
        expect(await storage.peers.getById(p.type, p.id), `${p.type} ${p.id}`).toBeNull();
        for (const name of p.usernames) expect(await storage.peers.getByUsername(name), name).toBeNull();
        if (p.phone !== undefined) expect(await storage.peers.getByPhone(p.phone), p.phone).toBeNull();
      }
      expect(await storage.peers.list()).toEqual({ peers: [], cursor: null });
      await expectIntactBut('peers', 'peers.clear()');
      // The names are free again.
      await storage.peers.upsert([peer('chat', 9, { usernames: ['u2_1'] })]);
      expect((await storage.peers.getByUsername('U2_1'))?.id).toBe(9n);
    });
  });
}
