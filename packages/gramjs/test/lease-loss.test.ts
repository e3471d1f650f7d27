/**
 * Losing the lease (contract §12) under a GramJS session, on every backend: a second
 * process (another Storage instance of the same name) connecting gets LeaseHeldError
 * naming the first; once it takes the lease by force, the first session's writes are
 * refused (LeaseLostError to onError, the lease's onLost called once), nothing of the
 * first lands over the second's, and — once the second gives the lease back — the
 * first client's next connect (load()) takes it anew and its writes land again.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { Api } from 'telegram';
import { authKey, plainBytes } from '@mtstore/conformance/vitest';
import type { LeaseLostError } from '@mtstore/core';
import { StorageSession } from '../src/index.js';
import { backends, type Backend } from './backends.js';
import { gramKey, offlineClient, user } from './client.js';

for (const factory of backends) {
  const backend = await factory.create();
  describe.skipIf(backend === null)(`StorageSession losing its lease on ${factory.name}`, () => {
    const live = backend as Backend;
    let names = 0;
    let name: string;
    beforeEach(() => {
      name = `gramjs-lease-${process.pid}-${++names}`;
    });
    afterAll(() => live.dispose());

    it('a forced takeover stops the first session: writes refused and reported, onLost once, the second’s data kept; a reconnect takes the lease anew', async () => {
      const errors: string[] = [];
      const lost: LeaseLostError[] = [];
      const firstStorage = await live.open(name);
      const first = new StorageSession(firstStorage, {
        lease: { onLost: (error) => lost.push(error) },
        onError: (error, operation) => errors.push(`${operation}: ${(error as { code?: string }).code}`),
      });
      const client = first.attach(offlineClient(first));
      await (client as unknown as { _initSession(): Promise<void> })._initSession(); // load() + setDC, as connect() does
      first.setAuthKey(await gramKey(authKey(1)));
      first.processEntities([user({ id: 1, self: true, username: 'first_me' })]);
      await first.save();

      const secondStorage = await live.open(name);
      const refused = await new StorageSession(secondStorage).load().then(
        () => null,
        (error: unknown) => error as { code?: string; holder?: { owner: { pid: number; label?: string } } },
      );
      expect([refused?.code, refused?.holder?.owner.label, refused?.holder?.owner.pid]).toEqual(['MTSTORE_LEASE_HELD', 'gramjs', process.pid]);

      const second = new StorageSession(secondStorage, { lease: { force: true, owner: { label: 'second' } } });
      await second.load();
      second.setAuthKey(await gramKey(authKey(2)), 2);
      second.processEntities([user({ id: 2, username: 'second_user' })]);
      await second.save();

      // The first process goes on as GramJS would: a key, an entity, the DC.
      first.setAuthKey(await gramKey(authKey(3)), 2);
      first.processEntities([user({ id: 3, username: 'first_late' })]);
      first.setDC(1, '149.154.175.53', 443);
      await first.save();
      first.setAuthKey(await gramKey(authKey(5)), 5);
      await first.save();
      expect(errors.length).toBeGreaterThan(0);
      expect(new Set(errors.map((e) => e.split(': ')[1]))).toEqual(new Set(['MTSTORE_LEASE_LOST']));
      expect(lost).toHaveLength(1);
      expect(String(lost[0])).not.toMatch(/[0-9a-f]{32}/i);

      const probe = await live.open(name);
      expect(plainBytes(await probe.authKeys.get(2))).toEqual(authKey(2));
      expect(await probe.authKeys.get(5)).toBeNull();
      expect(await probe.peers.getByUsername('first_late')).toBeNull();
      expect((await probe.load())?.dcs.some((dc) => dc.ipv4 === '149.154.175.53')).toBe(false);

      // While the second holds it, the first reconnecting is refused; once it is given back, taken anew.
      await expect(first.load()).rejects.toMatchObject({ code: 'MTSTORE_LEASE_HELD' });
      await second.close();
      const failed = errors.length;
      await first.load();
      expect((await probe.lease.holder())?.owner.label).toBe('gramjs');
      // The reconnect read the stored session back: the key refused after the loss is gone from memory too.
      expect(first.getAuthKey(2)?.getKey()).toEqual(Buffer.from(authKey(2)));
      expect(first.getAuthKey(5)).toBeUndefined();
      first.setAuthKey(await gramKey(authKey(6)), 5);
      first.processEntities([user({ id: 6, username: 'first_again' })]);
      await first.save();
      expect(errors.slice(failed)).toEqual([]);
      expect(plainBytes(await probe.authKeys.get(5))).toEqual(authKey(6));
      expect((await probe.peers.getByUsername('first_again'))?.id).toBe(6n);
      // What the first process had in memory from before the takeover was not written back over the second's.
      expect(plainBytes(await probe.authKeys.get(2))).toEqual(authKey(2));
      expect(String((first.getInputEntity('second_user') as Api.InputPeerUser).userId)).toBe('2');
      await client.destroy();
      expect(await probe.lease.holder()).toBeNull();
      await Promise.all([probe.close(), firstStorage.close(), secondStorage.close()]);
    });
  });
}
