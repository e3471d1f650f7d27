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
import { Long } from '@mtcute/core';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { StorageUnavailableError, type Storage } from '@mtstore/core';
import { mtcuteStorage, type MtcuteStorage } from '../src/index.js';
import { backendPerTest, stubClient } from './helpers.js';

const CHANNEL_ID = 1_500_000_002;
const user = (id: number, hash: number) => createStub('user', { id, accessHash: Long.fromInt(hash), firstName: `User ${id}` });

/**
 * Holds `storage.peers.upsert` calls: `holdNext()` makes the next call wait for its
 * `release()` before it reaches the storage; `held` resolves when that call is made.
 */
function holdingUpserts(storage: Storage): () => { held: Promise<void>; release: () => void } {
  let next: { arrive: () => void; gate: Promise<void> } | null = null;
  const upsert = storage.peers.upsert.bind(storage.peers);
  storage.peers.upsert = async (...args) => {
    const hold = next;
    next = null;
    if (hold !== null) {
      hold.arrive();
      await hold.gate;
    }
    return upsert(...args);
  };
  return () => {
    let release!: () => void;
    let arrive!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = new Promise<void>((resolve) => (arrive = resolve));
    next = { arrive, gate };
    return { held, release };
  };
}

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
        // Under the hold: the held write itself fails when `failNext` is set.
        let failNext = false;
        const upsert = storage.peers.upsert.bind(storage.peers);
        storage.peers.upsert = (peers) => (failNext ? Promise.reject(new StorageUnavailableError('peers.upsert failed: connection reset')) : upsert(peers));
        const holdNext = holdingUpserts(storage);
        const tg = await started(storage);
        const held = holdNext();
        const { saved } = await updateBatch(tg, 200, 20, user(9001, 1));
        await held.held;
        failNext = outcome === 'fails';
        const loggedOut = tg.storage.clear(true);
        // The clear has begun; the old account's write arrives now.
        await new Promise((resolve) => setTimeout(resolve, 20));
        held.release();
        await Promise.allSettled([saved]);
        failNext = false;
        await loggedOut;
        await tg.mt.storage.save();
        const raw = open();
        expect(await raw.peers.getById('user', 9001n), outcome).toBeNull();
        expect((await raw.peers.list({ limit: 10 })).peers, outcome).toEqual([]);
        expect((await raw.load())?.state, outcome).toBeUndefined();
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
