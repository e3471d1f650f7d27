/**
 * Logout on every adapter: mtcute's `kv.deleteAll()` + save and `authKeys.deleteAll()`
 * go through `Storage.update` and `authKeys.clear()`, never a load-modify-save of the
 * snapshot (which could put back a key another connection removed, or drop one it wrote).
 */
import type { Storage } from '@mtstore/core';
import { serializeBasicDcOption } from '@mtcute/core/utils.js';
import { adapters } from '@mtstore/test-adapters';
import { describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { backendPerTest, loadProvider } from './helpers.js';

const key = (seed: number): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => (i * 3 + seed) & 0xff);
const int32 = (value: number): Uint8Array => Uint8Array.of(value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, value >>> 24);

/** The real storage, with the names of the snapshot writes it receives recorded. */
function recording(storage: Storage, calls: string[]): Storage {
  return new Proxy(storage, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'save' && property !== 'update' && property !== 'load') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => {
        calls.push(property === 'update' ? `update(${Object.keys(args[0] as object).sort().join(',')})` : String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`logout on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'logout');

    it('kv.deleteAll is one update of user, state and channels; authKeys.deleteAll clears the keys of every DC', async () => {
      const calls: string[] = [];
      const p = mtcuteStorage(recording(open(), calls), { closeOnDestroy: false, lease: false });
      await loadProvider(p);
      await p.authKeys.set(2, key(1));
      p.kv.set('dc_main', serializeBasicDcOption({ id: 2, ipAddress: '149.154.167.50', port: 443 }));
      p.kv.set('current_user', Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0x39, 0x30, 0, 0, 0, 0, 0, 0));
      for (const name of ['updates_pts', 'updates_qts', 'updates_date', 'updates_seq']) p.kv.set(name, int32(5));
      p.kv.set('updates_channel:123', int32(9));
      await p.driver.save?.();

      // Another connection of the same session: a key of a DC this provider never saw, and a temp key.
      const other = open();
      await other.authKeys.set(203, key(2));
      await other.authKeys.setTemp(4, { index: 1, key: key(3), expiresAt: 2_000_000_000 });

      calls.length = 0;
      await p.kv.deleteAll();
      await p.driver.save?.();
      expect(calls).toEqual(['update(channels,state,user)']);
      const session = await other.load();
      expect(session).toMatchObject({ homeDcId: 2, channels: [] });
      expect(session?.user).toBeUndefined();
      expect(session?.state).toBeUndefined();
      // Keys stay, the other connection's included.
      expect((await other.authKeys.entries()).map((e) => [e.dcId, e.authKey !== undefined, e.tempAuthKeys.length])).toEqual([
        [2, true, 0],
        [4, false, 1],
        [203, true, 0],
      ]);

      await p.authKeys.deleteAll();
      expect(calls).toEqual(['update(channels,state,user)']);
      expect(await other.authKeys.entries()).toEqual([]);
      expect((await other.load())?.dcs.map((dc) => dc.id)).toEqual([2]);
    });
  });
}
