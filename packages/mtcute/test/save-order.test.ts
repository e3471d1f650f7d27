/**
 * A save writes the peers and reference messages before the update state. mtcute's own
 * SQLite storage commits a save in one transaction; the bridge's writes are separate,
 * and an update state (pts, or a channel's pts) stored ahead of the peers its updates
 * brought loses those peers for good: after a crash, or a peer write that failed, mtcute
 * resumes from the stored pts and never gets those updates again (a bot then cannot
 * message a user whose access hash came only in them). Peers stored and the state not is
 * harmless: mtcute fetches the updates again from the older pts.
 *
 * A real mtcute client (StubTelegramClient) stores the peers of an update batch, sets the
 * state and saves, as its updates loop does (PeersService.store, UpdatesStateService,
 * StorageManager.save), while the storage's peer write is held or fails.
 */
import { Long, type mtp } from '@mtcute/core';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { StorageUnavailableError, type Storage } from '@mtstore/core';
import { mtcuteStorage, type MtcuteStorage } from '../src/index.js';
import { backendPerTest, stubClient } from './helpers.js';

const CHANNEL_ID = 1_500_000_002;
const SALT: mtp.RawMt_future_salt = { _: 'mt_future_salt', validSince: 1_760_000_000, validUntil: 1_760_001_800, salt: Long.fromInt(0x1234567) };
const user = (id: number, hash: number) => createStub('user', { id, accessHash: Long.fromInt(hash), firstName: `User ${id}` });

/** A write held by `holding()`: `held` resolves once the call is made; `release` lets it reach the storage or, with 'fails', reject without reaching it. */
interface Hold {
  held: Promise<void>;
  release(outcome?: 'lands' | 'fails'): void;
}

/**
 * Holds calls of `target[method]` (a storage repository's write): `holdNext()` makes the
 * next call that `matches` wait for its `release()`.
 */
function holding<T, K extends keyof T>(target: T, method: K, matches: (...args: ArgsOf<T[K]>) => boolean = () => true): () => Hold {
  let next: { arrive: () => void; gate: Promise<boolean> } | null = null;
  const original = (target[method] as (...args: ArgsOf<T[K]>) => Promise<unknown>).bind(target);
  target[method] = (async (...args: ArgsOf<T[K]>) => {
    const hold = next;
    if (hold !== null && matches(...args)) {
      next = null;
      hold.arrive();
      if (await hold.gate) throw new StorageUnavailableError(`${String(method)} failed: connection reset`);
    }
    return original(...args);
  }) as T[K];
  return () => {
    let open!: (fail: boolean) => void;
    let arrive!: () => void;
    const gate = new Promise<boolean>((resolve) => (open = resolve));
    const held = new Promise<void>((resolve) => (arrive = resolve));
    next = { arrive, gate };
    return { held, release: (outcome = 'lands') => open(outcome === 'fails') };
  };
}

type ArgsOf<F> = F extends (...args: infer A) => Promise<unknown> ? A : never;

/** Holds `storage.peers.upsert`, the save's peer write. */
const holdingUpserts = (storage: Storage) => holding(storage.peers, 'upsert');

/** What the updates loop does after a batch: its peers cached, the state set, one save (not awaited here). */
async function updateBatch(tg: StubTelegramClient, pts: number, channelPts: number, ...users: ReturnType<typeof user>[]): Promise<{ saved: Promise<void> }> {
  for (const u of users) await tg.storage.peers.store(u);
  await tg.storage.updates.setPts(pts);
  await tg.storage.updates.setChannelPts(CHANNEL_ID, channelPts);
  // In an object: an async function's result promise would wait for the save.
  return { saved: tg.mt.storage.save() };
}

async function storedState(storage: Storage): Promise<[number | undefined, number | undefined]> {
  const session = await storage.load();
  return [session?.state?.pts, session?.channels.find((c) => c.id === BigInt(CHANNEL_ID))?.pts];
}

/**
 * mtcute's logout (TelegramStorageManager.clear(true): peers, references, auth keys, kv,
 * then a save) begun while `hold` holds a write of the save `saved`, which is then
 * released (`outcome`); then one more save.
 */
async function logOutDuring(tg: StubTelegramClient, hold: Hold, saved: Promise<void>, outcome: 'lands' | 'fails'): Promise<void> {
  const loggedOut = tg.storage.clear(true);
  // The logout has begun: it waits for the held write, or (code that does not wait) went past it.
  await new Promise((resolve) => setTimeout(resolve, 100));
  hold.release(outcome);
  await Promise.allSettled([saved]);
  await loggedOut;
  await tg.mt.storage.save();
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`save order on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'save-order');

    /** A client on `storage` whose session has DC 2 and update state pts 100, channel pts 10 stored. */
    async function started(storage: Storage): Promise<StubTelegramClient> {
      // updatesWriteInterval 0: mtcute hands every store of a peer to the storage at once.
      const tg = stubClient(mtcuteStorage(storage, { closeOnDestroy: false, lease: false }), { storageOptions: { peers: { updatesWriteInterval: 0 } } });
      await tg.prepare();
      await tg.mt.storage.dcs.store({ main: { id: 2, ipAddress: '149.154.167.50', port: 443 }, media: { id: 2, ipAddress: '149.154.167.50', port: 443 } });
      await tg.storage.updates.setQts(1);
      await tg.storage.updates.setDate(1_760_000_000);
      await tg.storage.updates.setSeq(1);
      await (await updateBatch(tg, 100, 10)).saved;
      expect(await storedState(open())).toEqual([100, 10]);
      return tg;
    }

    it('the update state is written only once the peers of the same save are: not while their write is held', async () => {
      const storage = open();
      const holdNext = holdingUpserts(storage);
      const tg = await started(storage);
      const first = holdNext();
      const { saved: saving } = await updateBatch(tg, 200, 20, user(9001, 1));
      await first.held;
      // The peers' write has not reached the storage: neither pts nor the channel's pts may have.
      const raw = open();
      expect(await raw.peers.getById('user', 9001n)).toBeNull();
      expect(await storedState(raw)).toEqual([100, 10]);
      // The next batch while that save still writes: its state waits for its own peers,
      // written by the next save, never by this one.
      const second = holdNext();
      const { saved: next } = await updateBatch(tg, 300, 30, user(9002, 2));
      first.release();
      await saving;
      expect((await raw.peers.getById('user', 9001n))?.accessHash).toBe(1n);
      expect(await storedState(raw)).toEqual([200, 20]);
      await second.held;
      expect(await raw.peers.getById('user', 9002n)).toBeNull();
      expect(await storedState(raw)).toEqual([200, 20]);
      second.release();
      await next;
      expect((await raw.peers.getById('user', 9002n))?.accessHash).toBe(2n);
      expect(await storedState(raw)).toEqual([300, 30]);
      await tg.destroy();
    });

    it('a logout while a save is writing its peers leaves none of them, nor the state, stored', async () => {
      // mtcute's logout: TelegramStorageManager.clear(true), peers.deleteAll() first. The
      // save's upsert, sent before it, must not land after the clear (over a pool it can
      // commit later), nor come back at the next save when it fails.
      for (const outcome of ['lands', 'fails'] as const) {
        const storage = open();
        const holdNext = holdingUpserts(storage);
        const tg = await started(storage);
        const held = holdNext();
        const { saved } = await updateBatch(tg, 200, 20, user(9001, 1));
        await held.held;
        await logOutDuring(tg, held, saved, outcome);
        const raw = open();
        expect(await raw.peers.getById('user', 9001n), outcome).toBeNull();
        expect((await raw.peers.list({ limit: 10 })).peers, outcome).toEqual([]);
        expect((await raw.load())?.state, outcome).toBeUndefined();
        await tg.destroy();
      }
    });

    it('a logout while a save is writing its kv entries leaves none of them stored', async () => {
      // The same for the kv part of a save: mtcute's logout reaches kv.deleteAll() after
      // the peers and references are cleared, while the save (its peers stored) writes
      // its kv entries, here the future salts mtcute keeps. An entry sent before the
      // clear must not land after it (nothing clears it again: the logged-out account's
      // salts would stay), nor be put back for the logout's own save when it fails.
      for (const outcome of ['lands', 'fails'] as const) {
        const storage = open();
        const holdNext = holding(storage.kv, 'set', (key) => key === 'salts:2');
        const tg = await started(storage);
        const held = holdNext();
        await tg.mt.storage.salts.store(2, [SALT]);
        const saved = tg.mt.storage.save();
        await held.held;
        await logOutDuring(tg, held, saved, outcome);
        const raw = open();
        expect(await raw.kv.get('salts:2'), outcome).toBeNull();
        expect(await raw.kv.entries(), outcome).toEqual([]);
        expect((await raw.load())?.state, outcome).toBeUndefined();
        await tg.destroy();
      }
    });

    it("a logout while a save's typed kv write is under way and then fails: the logout's save does not write it over the session", async () => {
      // The typed part of the kv write (here mtcute's DC options, after a migration to DC
      // 4) is the logged-out account's too: when it fails after the logout cleared kv, its
      // changes must not be put back, where the logout's save would write the DC options
      // as removed (mtcute's kv was emptied) and the stored home DC would lose its address.
      const storage = open();
      const holdNext = holding(storage, 'update', (patch) => patch.dcs !== undefined);
      const tg = await started(storage);
      const before = (await open().load())?.dcs;
      expect(before?.find((dc) => dc.id === 2 && dc.mediaOnly !== true)?.ipv4).toBe('149.154.167.50');
      const held = holdNext();
      await tg.mt.storage.dcs.store({ main: { id: 4, ipAddress: '149.154.167.91', port: 443 }, media: { id: 4, ipAddress: '149.154.167.91', port: 443 } });
      const saved = tg.mt.storage.save();
      await held.held;
      await logOutDuring(tg, held, saved, 'fails');
      await expect(saved).rejects.toThrow(StorageUnavailableError);
      const after = await open().load();
      expect(after?.homeDcId).toBe(2);
      expect(after?.dcs).toEqual(before);
      expect(after?.state).toBeUndefined();
      await tg.destroy();
    });

    it("mtcute's StorageManager.clear while a save writes its peers: nothing of the save's kv part is written after it", async () => {
      // The base client's clear (tg.mt.storage.clear: auth keys, kv.deleteAll, save) clears
      // no peers first, so the save's kv write, taken before it, has not begun when kv is
      // cleared: it must not begin after. Its DC option (an IPv4 address flagged ipv6,
      // which mtstore keeps a copy of mtcute's bytes of in kv) and salts would land in
      // the emptied kv store, and no later save removes them.
      const storage = open();
      const holdNext = holdingUpserts(storage);
      const tg = await started(storage);
      const held = holdNext();
      await tg.mt.storage.dcs.store({ main: { id: 4, ipAddress: '149.154.167.91', port: 443, ipv6: true }, media: { id: 4, ipAddress: '149.154.167.91', port: 443 } });
      await tg.mt.storage.salts.store(2, [SALT]);
      const { saved } = await updateBatch(tg, 200, 20, user(9001, 1));
      await held.held;
      // The clear's own save waits for this one: the peers are released once kv is cleared.
      const clear = storage.kv.clear.bind(storage.kv);
      const cleared = new Promise<void>((resolve) => (storage.kv.clear = () => clear().then(resolve)));
      const loggedOut = tg.mt.storage.clear(true);
      await cleared;
      held.release();
      await saved;
      await loggedOut;
      const raw = open();
      expect(await raw.kv.entries()).toEqual([]);
      expect((await raw.load())?.state).toBeUndefined();
      await tg.destroy();
    });

    it("a logout waiting for a save's kv copy of mtcute's DC option: the same option stored after it gets its copy again", async () => {
      // The copy (mtcute's bytes of an IPv4 address flagged ipv6, which the typed entry
      // cannot give back), written once the save's DC entries are, lands before the
      // logout's clear (which waits for it) and is removed by it: the bridge must not go
      // on taking it for stored, or the same option set again after the logout is never
      // copied and mtcute reads it back without its flag.
      const dcs = { main: { id: 4, ipAddress: '149.154.167.91', port: 443, ipv6: true }, media: { id: 4, ipAddress: '149.154.167.91', port: 443 } };
      const storage = open();
      // Held: the save's write of the DC entries, after which it writes the copy.
      const holdNext = holding(storage, 'update', (patch) => patch.dcs !== undefined);
      const tg = await started(storage);
      const held = holdNext();
      await tg.mt.storage.dcs.store(dcs);
      const saved = tg.mt.storage.save();
      await held.held;
      await logOutDuring(tg, held, saved, 'lands');
      // Logged in again on the same DC: mtcute stores the same options (new objects: its
      // DefaultDcsService skips a store of the very objects it cached).
      await tg.mt.storage.dcs.store({ main: { ...dcs.main }, media: { ...dcs.media } });
      await tg.mt.storage.save();
      await tg.destroy();
      const again = stubClient(mtcuteStorage(open(), { closeOnDestroy: false, lease: false }));
      await again.prepare();
      expect((await again.mt.storage.dcs.fetch())?.main).toMatchObject(dcs.main);
      await again.destroy();
    });

    it('a logout while a save is writing its reference messages leaves none of them stored', async () => {
      // refMessages.deleteAll (second in mtcute's logout) waits for the save's reference
      // write under way; one that then fails must not be queued again for the logout's save.
      for (const outcome of ['lands', 'fails'] as const) {
        const storage = open();
        const holdNext = holding(storage.refMessages, 'store');
        const tg = await started(storage);
        const held = holdNext();
        // A min peer seen in a channel message: mtcute keeps where it saw it.
        (tg.mt.storage.provider as MtcuteStorage).refMessages.store(9003, -1_000_000_000_000 - CHANNEL_ID, 5);
        const saved = tg.mt.storage.save();
        await held.held;
        await logOutDuring(tg, held, saved, outcome);
        const raw = open();
        expect(await raw.refMessages.getByPeer(9003n), outcome).toBeNull();
        expect((await raw.refMessages.list({ limit: 10 })).refs, outcome).toEqual([]);
        await tg.destroy();
      }
    });

    it('a save whose peer write fails rejects and leaves the update state unwritten; the next save writes both', async () => {
      const storage = open();
      const tg = await started(storage);
      const upsert = storage.peers.upsert.bind(storage.peers);
      let failures = 1;
      storage.peers.upsert = (peers) => (failures-- > 0 ? Promise.reject(new StorageUnavailableError('peers.upsert failed: connection reset')) : upsert(peers));
      await expect((await updateBatch(tg, 200, 20, user(9001, 1))).saved).rejects.toThrow(StorageUnavailableError);
      const raw = open();
      expect(await raw.peers.getById('user', 9001n)).toBeNull();
      expect(await storedState(raw)).toEqual([100, 10]);
      expect((tg.mt.storage.provider as MtcuteStorage).pending).toBe(true);
      await tg.mt.storage.save();
      expect((await raw.peers.getById('user', 9001n))?.accessHash).toBe(1n);
      expect(await storedState(raw)).toEqual([200, 20]);
      await tg.destroy();
    });

    it('a save whose reference-message write fails leaves the update state unwritten too', async () => {
      const storage = open();
      const tg = await started(storage);
      const store = storage.refMessages.store.bind(storage.refMessages);
      let failures = 1;
      storage.refMessages.store = (...args) => (failures-- > 0 ? Promise.reject(new StorageUnavailableError('refMessages.store failed: connection reset')) : store(...args));
      // A min peer seen in a channel message: mtcute keeps where it saw it.
      (tg.mt.storage.provider as MtcuteStorage).refMessages.store(9003, -1_000_000_000_000 - CHANNEL_ID, 5);
      await expect((await updateBatch(tg, 200, 20)).saved).rejects.toThrow(StorageUnavailableError);
      const raw = open();
      expect(await storedState(raw)).toEqual([100, 10]);
      await tg.mt.storage.save();
      expect(await raw.refMessages.getByPeer(9003n)).toEqual({ chatId: -1_000_000_000_000n - BigInt(CHANNEL_ID), messageId: 5 });
      expect(await storedState(raw)).toEqual([200, 20]);
      await tg.destroy();
    });
  });
}
