/**
 * A save under way while the client goes on. mtcute saves after caching the peers of
 * every API call and after every update batch, without awaiting anything else:
 * - lookups meanwhile: the bridge keeps a running save's batch visible until it is
 *   stored. A peer stored again while that save still writes its previous version is
 *   the newer one: a username or phone the newer version no longer lists finds nothing
 *   (mtcute's MemoryStorage drops it from its index at once), instead of the in-flight
 *   version that still lists it;
 * - the storage destroyed meanwhile (the updates loop's save racing the client's
 *   destroy): the save finishes before the storage closes, as mtcute's own storages,
 *   whose save is one synchronous transaction, never lose it.
 */
import { Long } from '@mtcute/core';
import { createStub } from '@mtcute/test/stub.js';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { mtcuteStorage } from '../src/index.js';
import { backendPerTest, stubClient } from './helpers.js';

/** `storage` whose peer upserts answer only after `release()`; `held` resolves when the first one is made. */
function holdingUpserts(storage: Storage): { storage: Storage; held: Promise<void>; release: () => void } {
  return holding(storage, 'peers', 'upsert');
}

/** `storage` whose `group.method` (or, without a group, `storage.method`) calls answer only after `release()`; `held` resolves when the first one is made. */
function holding(storage: Storage, group: 'peers' | null, method: string): { storage: Storage; held: Promise<void>; release: () => void } {
  let release!: () => void;
  let holding!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const held = new Promise<void>((resolve) => (holding = resolve));
  const hold = <T extends object>(object: T): T =>
    new Proxy(object, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (property !== method) return typeof value === 'function' ? value.bind(target) : value;
        // The call reaches the storage at once; only its answer waits (a slow round trip).
        return async (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => Promise<void>).apply(target, args);
          holding();
          await gate;
          return result;
        };
      },
    });
  if (group === null) return { storage: hold(storage), held, release };
  const inner = hold(storage[group]);
  const wrapped = new Proxy(storage, {
    get(target, property, receiver) {
      if (property === group) return inner;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { storage: wrapped, held, release };
}

const CHANNEL_ID = 1_500_000_001;
const MARKED_CHANNEL = -1_000_000_000_000 - CHANNEL_ID;
const channel = (username?: string) => createStub('channel', { id: CHANNEL_ID, accessHash: Long.fromInt(77), title: 'News', username });
const user = (phone?: string) => createStub('user', { id: 4242, accessHash: Long.fromInt(78), firstName: 'Bob', phone });

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`lookups during a save on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'in-flight');

    it('a username or phone the newer pending version dropped finds nothing while the save of the older one runs', async () => {
      const { storage, held, release } = holdingUpserts(open());
      // updatesWriteInterval 0: mtcute hands every store of a seen peer to the storage at once
      // (by default it keeps one with an unchanged access hash in its own queue for 30 s).
      const provider = mtcuteStorage(storage, { closeOnDestroy: false, lease: false });
      const tg = stubClient(provider, { storageOptions: { peers: { updatesWriteInterval: 0 } } });
      await tg.prepare();
      // An API result: mtcute caches its peers and saves; the save's upsert is still writing.
      const first = tg.storage.peers.updatePeersFrom({ _: 'contacts.resolvedPeer', peer: { _: 'peerChannel', channelId: CHANNEL_ID }, chats: [channel('news_old')], users: [user('15550001')] });
      await held;
      // The next result (mtcute's own store of each of its peers): the channel gave its
      // username up, the user hid the phone.
      await tg.storage.peers.store(channel());
      await tg.storage.peers.store(user());
      expect(await provider.peers.getByUsername('news_old')).toBeNull();
      expect(await provider.peers.getByPhone('15550001')).toBeNull();
      expect((await provider.peers.getById(MARKED_CHANNEL))?.usernames).toEqual([]);
      release();
      await first;
      await tg.mt.storage.save();
      // Stored: the same answers.
      expect(await provider.peers.getByUsername('news_old')).toBeNull();
      expect(await provider.peers.getByPhone('15550001')).toBeNull();
      await tg.destroy();
    });

    it('a save under way when mtcute destroys the storage is finished before the storage closes', async () => {
      const { storage, held, release } = holding(open(), null, 'update');
      const tg = stubClient(mtcuteStorage(storage, { lease: false }));
      await tg.prepare();
      await tg.mt.storage.dcs.store({ main: { id: 2, ipAddress: '149.154.167.50', port: 443 }, media: { id: 2, ipAddress: '149.154.167.50', port: 443 } });
      await tg.storage.updates.setPts(100);
      await tg.storage.updates.setQts(1);
      await tg.storage.updates.setDate(1_760_000_000);
      await tg.storage.updates.setSeq(1);
      // The updates loop's save after a batch (UpdatesManager._saveUpdatesStorage(true)),
      // which nothing awaits; its first write (the snapshot) is still on its way when
      // mtcute destroys the storage (the client's destroy, or its exit hook).
      const looping = tg.mt.storage.save().catch((error: unknown) => error);
      await held;
      const destroying = tg.mt.storage.destroy();
      release();
      await destroying;
      expect(await looping).toBeUndefined();
      const reopened = open();
      expect((await reopened.load())?.state).toEqual({ pts: 100, qts: 1, date: 1_760_000_000, seq: 1 });
    });
  });
}
