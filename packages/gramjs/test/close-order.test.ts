/**
 * Stopping a client whose session is not `attach`ed, as the README says, on every backend
 * with GramJS's real TelegramClient: `destroy()`, then `session.close()`, then
 * `storage.close()`. The writes GramJS made just before are queued behind one another
 * (one runs at a time), so `session.close()` is what waits for them. `storage.close()`
 * alone gives the lease back, but every write still queued then is refused by the closed
 * storage: each one reaches `onError` as a StorageClosedError, none is lost silently (on
 * PostgreSQL all of them were: the DC, the key, the peers). GramJS's own `save()` is no
 * string either: a `StringSession`'s is, this session's resolves to nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { authKey } from '@mtstore/conformance/vitest';
import type { Storage } from '@mtstore/core';
import { StorageSession } from '../src/index.js';
import { backends, type Backend } from './backends.js';
import { gramKey, offlineClient, user } from './client.js';

const PEERS = 50;

/** What a client does just before it stops: a login's DC, key and self user, a page of contacts, another DC's key. */
async function lastWrites(session: StorageSession): Promise<void> {
  session.setDC(4, '149.154.167.91', 443);
  session.setAuthKey(await gramKey(authKey(4)));
  session.processEntities([user({ id: 700, self: true, username: 'closing_me' }), ...Array.from({ length: PEERS }, (_, i) => user({ id: 1000 + i, username: `contact_${i}` }))]);
  session.setAuthKey(await gramKey(authKey(5)), 5);
}

/** Which of lastWrites' writes the storage holds. */
async function stored(storage: Storage): Promise<{ home: number | undefined; self: bigint | undefined; key4: boolean; key5: boolean; peers: number }> {
  const snapshot = await storage.load();
  let peers = 0;
  for (let i = 0; i < PEERS; i++) if ((await storage.peers.getById('user', BigInt(1000 + i))) !== null) peers++;
  return {
    home: snapshot?.homeDcId,
    self: snapshot?.user?.id,
    key4: Buffer.from((await storage.authKeys.get(4)) ?? []).equals(Buffer.from(authKey(4))),
    key5: Buffer.from((await storage.authKeys.get(5)) ?? []).equals(Buffer.from(authKey(5))),
    peers,
  };
}

for (const factory of backends) {
  const backend = await factory.create();
  describe.skipIf(backend === null)(`stopping a client without attach on ${factory.name}`, () => {
    const live = backend as Backend;
    afterAll(() => live.dispose());

    it('destroy(), session.close(), storage.close(): everything GramJS wrote just before is stored and the lease is free', async () => {
      const storage = await live.open('close-in-order');
      const errors: unknown[] = [];
      const session = new StorageSession(storage, { onError: (error) => errors.push(error) });
      const client = offlineClient(session);
      expect(await client.connect()).toBe(false); // GramJS's start-up: load() took the lease; the offline socket stops it there
      await lastWrites(session);
      const saved: unknown = client.session.save(); // what StringSession users print: here a promise of nothing
      expect(saved).toBeInstanceOf(Promise);
      await client.destroy();
      await session.close();
      await storage.close();
      expect(await saved).toBeUndefined();
      const check = await live.open('close-in-order');
      expect(await stored(check)).toEqual({ home: 4, self: 700n, key4: true, key5: true, peers: PEERS });
      expect(await check.lease.holder()).toBeNull();
      expect(errors).toEqual([]);
    });

    it('storage.close() alone: each write still queued reaches onError as StorageClosedError, none is lost silently', async () => {
      const storage = await live.open('close-storage-only');
      const errors: [unknown, string][] = [];
      const session = new StorageSession(storage, { onError: (error, operation) => errors.push([error, operation]) });
      const client = offlineClient(session);
      expect(await client.connect()).toBe(false);
      await lastWrites(session);
      await client.destroy();
      await storage.close();
      await session.save(); // the queue has run out: every write is stored or reported by now
      expect(errors.map(([error]) => (error as { code?: string }).code).filter((code) => code !== 'MTSTORE_STORAGE_CLOSED')).toEqual([]);
      const reported = errors.map(([, operation]) => operation);
      const check = await live.open('close-storage-only');
      const found = await stored(check);
      // A write is either stored or reported; which ones were still queued depends on the backend's speed.
      if (found.home !== 4) expect(reported).toContain('setDC(4)');
      if (!found.key4) expect(reported).toContain('authKeys.set(4)');
      if (!found.key5) expect(reported).toContain('authKeys.set(5)');
      if (found.peers < PEERS) expect(reported).toContain('peers.upsert');
      if (found.self !== 700n) expect(reported).toContain('update(user)');
      expect(await check.lease.holder(), 'storage.close() gave the lease back').toBeNull();
    });
  });
}
