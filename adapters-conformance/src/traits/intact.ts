/**
 * "Everything but X is intact": the shared check of every trait that removes one kind
 * of data (peers.clear, kv.clear / delete, refMessages.clear / delete / deleteByPeer,
 * authKeys.clear / delete / deleteTemp / deleteByDc, and delete() for other names).
 * docs/contract.md §2-§6 and §9: each of those removes what it names and nothing else.
 *
 * `storedEverywhere(scope)` writes one of everything — a full snapshot, permanent and
 * temp keys (also of a DC the snapshot does not list), kv entries, peers with usernames
 * and phones, references — under session `main` and under session `other`, and takes a
 * picture of each through every read the contract offers. After the operation,
 * `expectIntactBut(kinds, what)` reads everything again and compares each kind not
 * named with its picture, and every kind of `other`.
 */
import type { AuthKeyEntry, DataCenter, Peer, RefMessageEntry, Session, Storage, TempAuthKey } from '@mtstore/core';
import type { Expect } from '../api.js';
import { authKey, fullSession, peer } from '../fixtures.js';
import type { StorageRegistrar, StorageScope } from './context.js';

export type Kind = 'snapshot' | 'keys' | 'kv' | 'peers' | 'refs';
export const KINDS: readonly Kind[] = ['snapshot', 'keys', 'kv', 'peers', 'refs'];

/** What each kind reads back, through every read method of that kind. */
export interface Picture {
  /** load() with the key fields taken out and address-less entries left out (they are keys). */
  snapshot: Session | null;
  keys: {
    entries: AuthKeyEntry[];
    /** load()'s key fields, per DC entry: [id, mediaOnly, authKey, tempAuthKeys]. */
    inLoad: [number, boolean, Uint8Array | undefined, TempAuthKey[] | undefined][];
    get: [number, Uint8Array | null][];
    getTemp: [number, number, TempAuthKey | null][];
  };
  kv: { key: string; value: Uint8Array }[];
  peers: {
    list: Peer[];
    byUsername: [string, string | null][];
    byPhone: [string, string | null][];
  };
  refs: {
    list: RefMessageEntry[];
    byPeer: [string, { chatId: bigint; messageId: number } | null][];
  };
}

/** The peers `storeEverything` upserts for `seed`: every type, usernames, a phone, a min one, TL bytes. */
export function everythingPeers(seed: number): Peer[] {
  const hash = (n: number) => BigInt(seed) * 1_000_000n + BigInt(n);
  return [
    peer('user', 1, {
      accessHash: hash(1),
      displayName: `User ${seed}`,
      complete: Uint8Array.from([seed, 1, 2, 3]),
    }),
    peer('user', 2, {
      accessHash: hash(2),
      usernames: [`u2_${seed}`, `U2_${seed}_alt`],
    }),
    peer('user', 3, { accessHash: hash(3), usernames: [], min: true }),
    peer('chat', 4, { accessHash: hash(4) }),
    peer('channel', 5, { accessHash: hash(5), usernames: [`ch_${seed}`] }),
  ];
}

/** The references `storeEverything` stores for `seed`, in store order. */
export function everythingRefs(seed: number): RefMessageEntry[] {
  return [
    { peerId: 1n, chatId: -100n, messageId: 1 },
    { peerId: 2n, chatId: -100n, messageId: 2 },
    { peerId: 1n, chatId: -200n, messageId: seed + 2 },
    { peerId: 3n, chatId: -100n, messageId: 4 },
  ];
}

export function everythingKv(seed: number): { key: string; value: Uint8Array }[] {
  return [
    { key: 'a', value: Uint8Array.from([seed]) },
    { key: 'b:1', value: new Uint8Array(0) },
    {
      key: 'salts:2',
      value: Uint8Array.from({ length: 64 }, (_, i) => (i * seed) & 0xff),
    },
  ];
}

/** Writes one of everything under `storage`'s name: snapshot, keys, kv, peers, references. */
export async function storeEverything(storage: Storage, seed: number): Promise<void> {
  await storage.save(fullSession(seed));
  // Keys of a DC the snapshot does not list (an address-less entry) and a temp key set alone.
  await storage.authKeys.set(9, authKey(seed * 100 + 9));
  await storage.authKeys.setTemp(9, {
    index: 3,
    key: authKey(seed * 100 + 10),
    expiresAt: 1_900_000_000 + seed,
  });
  await storage.authKeys.setTemp(1, {
    index: 5,
    key: authKey(seed * 100 + 11),
    expiresAt: 1_900_000_001 + seed,
  });
  for (const { key, value } of everythingKv(seed)) await storage.kv.set(key, value);
  await storage.peers.upsert(everythingPeers(seed));
  for (const r of everythingRefs(seed)) await storage.refMessages.store(r.peerId, r.chatId, r.messageId);
}

const hasAddress = (dc: DataCenter): boolean => dc.ipv4 !== undefined || dc.ipv6 !== undefined || dc.host !== undefined || dc.port !== undefined;
const peerKey = (p: { type: string; id: bigint }): string => `${p.type}:${p.id}`;

/** Reads everything of `storage`'s session through every read method. */
export async function picture(storage: Storage, seed: number): Promise<Picture> {
  const loaded = await storage.load();
  const snapshot: Session | null =
    loaded === null
      ? null
      : {
          ...loaded,
          dcs: loaded.dcs.filter(hasAddress).map(({ authKey: _k, tempAuthKeys: _t, ...address }) => address),
        };
  const entries = await storage.authKeys.entries();
  const inLoad: Picture['keys']['inLoad'] = (loaded?.dcs ?? [])
    .filter((dc) => dc.authKey !== undefined || dc.tempAuthKeys !== undefined)
    .map((dc) => [dc.id, dc.mediaOnly === true, dc.authKey, dc.tempAuthKeys]);
  // Every DC id and slot the session was given, whether it still holds a key or not.
  const dcIds = [...new Set([...fullSession(seed).dcs.map((dc) => dc.id), 9, ...entries.map((e) => e.dcId)])].sort((a, b) => a - b);
  const slots: [number, number][] = [
    [2, 0],
    [2, 1],
    [9, 3],
    [1, 5],
  ];
  const get: Picture['keys']['get'] = [];
  for (const dc of dcIds) get.push([dc, await storage.authKeys.get(dc)]);
  const getTemp: Picture['keys']['getTemp'] = [];
  for (const [dc, index] of slots) getTemp.push([dc, index, await storage.authKeys.getTemp(dc, index)]);
  const kv = await storage.kv.entries();
  const list: Peer[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await storage.peers.list({ cursor, limit: 2 });
    list.push(...page.peers);
    cursor = page.cursor;
  } while (cursor !== null && ++pages < 100);
  list.sort((a, b) => (peerKey(a) < peerKey(b) ? -1 : peerKey(a) > peerKey(b) ? 1 : 0));
  const known = everythingPeers(seed);
  const byUsername: Picture['peers']['byUsername'] = [];
  for (const name of known.flatMap((p) => p.usernames)) {
    const found = await storage.peers.getByUsername(name);
    byUsername.push([name, found === null ? null : peerKey(found)]);
  }
  const byPhone: Picture['peers']['byPhone'] = [];
  for (const phone of known.flatMap((p) => (p.phone === undefined ? [] : [p.phone]))) {
    const found = await storage.peers.getByPhone(phone);
    byPhone.push([phone, found === null ? null : peerKey(found)]);
  }
  const refs: RefMessageEntry[] = [];
  cursor = null;
  pages = 0;
  do {
    const page = await storage.refMessages.list({ cursor, limit: 3 });
    refs.push(...page.refs);
    cursor = page.cursor;
  } while (cursor !== null && ++pages < 100);
  const byPeer: Picture['refs']['byPeer'] = [];
  for (const id of [1n, 2n, 3n]) byPeer.push([String(id), await storage.refMessages.getByPeer(id)]);
  return {
    snapshot,
    keys: { entries, inLoad, get, getTemp },
    kv,
    peers: { list, byUsername, byPhone },
    refs: { list: refs, byPeer },
  };
}

export interface StoredEverywhere {
  /** Session `main`, holding one of everything. */
  storage: Storage;
  /** Session `other` of the same backend, holding one of everything too. */
  other: Storage;
  /** The picture of `main` taken before the operation. */
  before: Picture;
  /**
   * Reads everything again: each kind of `main` not in `changed` is as before, and
   * every kind of `other` is. `what` names the operation in the failure messages.
   */
  expectIntactBut(changed: Kind | readonly Kind[], what: string): Promise<void>;
}

/**
 * Stores everything under `main` (seed 1) and `other` (seed 2), checks that the
 * pictures hold it (so comparing them later means something), and returns the check.
 */
export async function storedEverywhere(s: StorageScope, expect: Expect): Promise<StoredEverywhere> {
  const storage = await s.open('main');
  const other = await s.open('other');
  await storeEverything(storage, 1);
  await storeEverything(other, 2);
  const before = await picture(storage, 1);
  const otherBefore = await picture(other, 2);
  expectEverything(expect, 'main', before, 1);
  expectEverything(expect, 'other', otherBefore, 2);
  return {
    storage,
    other,
    before,
    async expectIntactBut(changed, what) {
      const skip = new Set<Kind>(typeof changed === 'string' ? [changed] : changed);
      const after = await picture(storage, 1);
      for (const kind of KINDS) {
        if (!skip.has(kind)) expect(after[kind], `${what} changed the session’s ${kind}`).toEqual(before[kind]);
      }
      const otherAfter = await picture(other, 2);
      for (const kind of KINDS) expect(otherAfter[kind], `${what} changed another name’s ${kind}`).toEqual(otherBefore[kind]);
      expect(await other.listNames(), `${what}: listNames still lists the other name`).toContain('other');
    },
  };
}

/** Checks that a picture holds what `storeEverything(storage, seed)` wrote (so comparing it later means something). */
export function expectEverything(expect: Expect, what: string, shot: Picture, seed: number): void {
  const address = fullSession(seed);
  expect(shot.snapshot, `${what}: the snapshot stored`).toEqual({
    ...address,
    dcs: address.dcs.map(({ authKey: _k, tempAuthKeys: _t, ...rest }) => rest),
  });
  expect(
    shot.keys.entries.map((e) => [e.dcId, e.mediaOnly, e.authKey !== undefined, e.tempAuthKeys.map((t) => t.index)]),
    `${what}: the keys stored`
  ).toContainEqual([9, false, true, [3]]);
  expect(
    shot.keys.getTemp.every(([, , t]) => t !== null),
    `${what}: every temp key stored`
  ).toBe(true);
  expect(shot.kv, `${what}: the kv entries stored`).toEqual(everythingKv(seed));
  expect(shot.peers.list.length, `${what}: the peers stored`).toBe(everythingPeers(seed).length);
  expect(shot.refs.list, `${what}: the references stored`).toEqual(everythingRefs(seed));
}

/**
 * Each operation that removes part of one kind removes that part and nothing else
 * (the clear() of each kind is checked with the same helper in its own group).
 */
export function removals({ group, test, expect }: StorageRegistrar): void {
  group('removing one kind leaves the rest', () => {
    test('kv.delete removes that entry only: the other entries, snapshot, keys, peers, references and other names stay', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.kv.delete('b:1');
      expect(await storage.kv.get('b:1')).toBeNull();
      expect(await storage.kv.entries()).toEqual(everythingKv(1).filter((e) => e.key !== 'b:1'));
      await expectIntactBut('kv', 'kv.delete()');
    });

    test('refMessages.delete and deleteByPeer remove those references only: the other references, snapshot, keys, kv, peers and other names stay', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      const [, second, third] = everythingRefs(1) as [RefMessageEntry, RefMessageEntry, RefMessageEntry];
      await storage.refMessages.delete(-100n, [1, 4]);
      expect((await storage.refMessages.list()).refs, 'after delete(-100, [1, 4])').toEqual([second, third]);
      await expectIntactBut('refs', 'refMessages.delete()');
      await storage.refMessages.deleteByPeer(2n);
      expect((await storage.refMessages.list()).refs, 'after deleteByPeer(2)').toEqual([third]);
      expect(await storage.refMessages.getByPeer(1n)).toEqual({
        chatId: third.chatId,
        messageId: third.messageId,
      });
      expect(await storage.refMessages.getByPeer(3n), 'peer 3 lost its only reference').toBeNull();
      await expectIntactBut('refs', 'refMessages.deleteByPeer()');
    });

    test('refMessages.clear removes every reference only: snapshot, keys, kv, peers and other names stay', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.refMessages.clear();
      expect(await storage.refMessages.list()).toEqual({
        refs: [],
        cursor: null,
      });
      for (const id of [1n, 2n, 3n]) expect(await storage.refMessages.getByPeer(id), `peer ${id}`).toBeNull();
      await expectIntactBut('refs', 'refMessages.clear()');
    });

    test('authKeys.delete, deleteTemp and deleteByDc remove those keys only: the other keys, snapshot addresses, kv, peers, references and other names stay', async (s) => {
      const { storage, before, expectIntactBut } = await storedEverywhere(s, expect);
      const entries = () => storage.authKeys.entries();
      const strip = (list: AuthKeyEntry[]) => list.map((e) => [e.dcId, e.mediaOnly, e.authKey !== undefined, e.tempAuthKeys.map((t) => t.index)]);
      const start = strip(before.keys.entries);
      await storage.authKeys.delete(9);
      expect(await storage.authKeys.get(9)).toBeNull();
      expect(await storage.authKeys.getTemp(9, 3), 'the temp key of the DC whose permanent key was deleted').not.toBeNull();
      expect(strip(await entries()), 'after delete(9)').toEqual(start.map((e) => (e[0] === 9 && e[1] === false ? [9, false, false, [3]] : e)));
      await expectIntactBut('keys', 'authKeys.delete()');
      await storage.authKeys.deleteTemp(2, 0);
      expect(await storage.authKeys.getTemp(2, 0)).toBeNull();
      expect(await storage.authKeys.getTemp(2, 1), 'the other temp key of the DC').not.toBeNull();
      expect(await storage.authKeys.get(2), 'the permanent key of the DC').toEqual(authKey(12));
      await expectIntactBut('keys', 'authKeys.deleteTemp()');
      await storage.authKeys.deleteByDc(2);
      expect(await storage.authKeys.get(2)).toBeNull();
      expect(await storage.authKeys.getTemp(2, 1)).toBeNull();
      expect(await storage.authKeys.get(1), 'DC 1').toEqual(authKey(11));
      expect(await storage.authKeys.getTemp(1, 5), 'DC 1’s temp key').not.toBeNull();
      expect(await storage.authKeys.get(4), 'DC 4').toEqual(authKey(15));
      expect(await storage.authKeys.getTemp(9, 3), 'DC 9’s temp key').not.toBeNull();
      expect(strip(await entries()).map((e) => e[0])).toEqual([1, 4, 9]);
      await expectIntactBut('keys', 'authKeys.deleteByDc()');
    });

    // §2: save replaces the snapshot and every key, update the fields it gives; "peers, kv
    // entries and reference messages are kept" by both (and every key by update).
    test('save and update change the snapshot (save the keys too) and nothing else: kv, peers, references and other names stay', async (s) => {
      const { storage, before, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.save(fullSession(1));
      // fullSession(1) holds keys of DCs 1, 2 and 4: DC 9's and DC 1's slot 5, set one at a time, are gone.
      expect((await storage.authKeys.entries()).map((e) => [e.dcId, e.mediaOnly, e.tempAuthKeys.map((t) => t.index)]), 'the keys after save').toEqual([[1, false, []], [2, false, [0, 1]], [4, false, []]]);
      await expectIntactBut('keys', 'save()');
      await storage.authKeys.set(9, authKey(109));
      await storage.authKeys.setTemp(9, { index: 3, key: authKey(110), expiresAt: 1_900_000_001 });
      await storage.authKeys.setTemp(1, { index: 5, key: authKey(111), expiresAt: 1_900_000_002 });
      await storage.update({ apiId: 77, state: { pts: 1, qts: 2, date: 3, seq: 4 }, channels: [{ id: 5n, pts: 6 }] });
      await storage.update({ homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }] });
      const loaded = await storage.load();
      expect([loaded?.apiId, loaded?.state, loaded?.channels, loaded?.homeDcId], 'the fields update gave').toEqual([77, { pts: 1, qts: 2, date: 3, seq: 4 }, [{ id: 5n, pts: 6 }], 2]);
      expect(await storage.authKeys.entries(), 'update keeps every key').toEqual(before.keys.entries);
      await expectIntactBut(['snapshot', 'keys'], 'update()');
    });

    test('delete() of a session removes all of it and nothing of another name', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.delete();
      expect(await storage.load()).toBeNull();
      expect(await storage.authKeys.entries()).toEqual([]);
      expect(await storage.kv.entries()).toEqual([]);
      expect(await storage.peers.list()).toEqual({ peers: [], cursor: null });
      expect(await storage.refMessages.list()).toEqual({
        refs: [],
        cursor: null,
      });
      expect(await storage.listNames()).toEqual(['other']);
      await expectIntactBut(KINDS, 'delete()');
    });
  });
}
