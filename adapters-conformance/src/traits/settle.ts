/**
 * Calls in flight and caller data (docs/contract.md §9): `close()` lets every call made
 * before it finish before `close()` resolves — on a database that answers (as in every
 * kit run) each completes as it would have without close(), also one made while the
 * instance was still connecting or migrating: a write whose outcome the caller cannot
 * know is data lost to it — and an acknowledged write is there afterwards; what the
 * caller changes after a call, even before it settles, changes nothing stored.
 */
import { isStorageError, type Session } from '@mtstore/core';
import { authKey, fullSession, minimalSession, peer } from '../fixtures.js';
import type { ServerRegistrar, StorageRegistrar } from './context.js';

/** How long close() and the calls it settles may take, all together. */
const SETTLE_MS = 8_000;

type Outcome = { state: 'resolved'; value: unknown } | { state: 'rejected'; error: unknown } | { state: 'pending' };

/** Waits for `promise` up to the deadline without ever leaving it unhandled. */
async function outcome(promise: Promise<unknown>, deadline: number): Promise<Outcome> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'pending' }), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([
      promise.then(
        (value): Outcome => ({ state: 'resolved', value }),
        (error: unknown): Outcome => ({ state: 'rejected', error }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(result: Outcome): string {
  if (result.state === 'rejected') return `rejected with ${result.error instanceof Error ? `${result.error.name}: ${result.error.message}` : String(result.error)}`;
  return result.state;
}

/** A call made before close(): its name, its promise, and (for a write) a check that it is stored. */
type CallMade = [what: string, call: Promise<unknown>, written: (() => Promise<boolean>) | undefined];

/**
 * Closes `storage` with `calls` in flight and expects close() and every call to resolve
 * within SETTLE_MS (the database answers: closing is no reason for a call made before it
 * to fail), and each resolved write to be readable afterwards (acknowledged means durable).
 */
async function closeAndExpectFinished(expect: StorageRegistrar['expect'], storage: { close(): Promise<void> }, calls: readonly CallMade[], shared: boolean): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  const closing = outcome(storage.close(), deadline);
  const results = await Promise.all(calls.map(([, call]) => outcome(call, deadline)));
  const closed = await closing;
  expect(closed.state, `close(): ${describe(closed)}`).toBe('resolved');
  for (const [i, result] of results.entries()) {
    const [what, , written] = calls[i] as CallMade;
    expect(result.state === 'pending', `${what} still pending ${SETTLE_MS} ms after close()`).toBe(false);
    if (result.state === 'rejected') expect(isStorageError(result.error), `${what} ${describe(result)}: not an mtstore error`).toBe(true);
    expect(result.state, `${what} ${describe(result)}, made before close() on a database that answers`).toBe('resolved');
    if (written && shared) expect(await written(), `${what} resolved but its write is gone`).toBe(true);
  }
}

export function settling({ group, test, expect, options }: StorageRegistrar): void {
  const shared = options.capabilities?.sharedBackend !== false;
  group('calls in flight', () => {
    for (const fresh of [false, true]) {
      test(`close() lets every call made before it finish ${fresh ? 'on an instance that never connected' : 'on a connected instance'}; their writes stay`, async (s) => {
        if (fresh) await (await s.open()).save(minimalSession());
        const storage = await s.open();
        if (!fresh) await storage.save(minimalSession());
        const calls: CallMade[] = [];
        const verify = shared ? await s.open() : storage;
        const track = (what: string, call: Promise<unknown>, written?: () => Promise<boolean>) => calls.push([what, call, written]);
        track('saveUpdateState', storage.saveUpdateState({ pts: 41, qts: 1, date: 1, seq: 1 }, [{ id: 7n, pts: 9 }]), async () => (await verify.load())?.state?.pts === 41);
        track('authKeys.set', storage.authKeys.set(3, authKey(3)), async () => (await verify.authKeys.get(3)) !== null);
        track('kv.set', storage.kv.set('inflight', Uint8Array.from([1])), async () => (await verify.kv.get('inflight')) !== null);
        track('peers.upsert', storage.peers.upsert([peer('user', 41)]), async () => (await verify.peers.getById('user', 41n)) !== null);
        track('load', storage.load());
        await closeAndExpectFinished(expect, storage, calls, shared);
      });
    }

    // Without a snapshot call beside them (which close() would wait for anyway), so each
    // repository call is counted on its own: an adapter that waits only for snapshot
    // calls, or only for calls that reached the database, fails here.
    test('close() lets repository calls made before it finish when they are the only calls, on an instance that never connected', async (s) => {
      await (await s.open()).save(minimalSession());
      const storage = await s.open();
      const verify = shared ? await s.open() : storage;
      const calls: CallMade[] = [
        ['authKeys.set', storage.authKeys.set(4, authKey(4)), async () => (await verify.authKeys.get(4)) !== null],
        ['kv.set', storage.kv.set('alone', Uint8Array.from([2])), async () => (await verify.kv.get('alone')) !== null],
        ['kv.get', storage.kv.get('missing'), undefined],
        ['peers.upsert', storage.peers.upsert([peer('user', 42)]), async () => (await verify.peers.getById('user', 42n)) !== null],
        ['peers.getById', storage.peers.getById('user', 43n), undefined],
        ['refMessages.store', storage.refMessages.store(42n, 7n, 2), async () => (await verify.refMessages.getByPeer(42n)) !== null],
      ];
      await closeAndExpectFinished(expect, storage, calls, shared);
    });

    test('what the caller changes after a call, before it settles, changes nothing stored', async (s) => {
      const storage = await s.open();
      const session = fullSession(2) as Session;
      const saving = storage.save(session);
      (session.dcs[0] as { authKey?: Uint8Array }).authKey = new Uint8Array(7);
      session.dcs.push({ id: 9, port: 1 });
      (session.user as { id: bigint }).id = 1n;
      session.channels.length = 0;
      await saving;
      expect(await storage.load()).toEqual(fullSession(2));

      // Two usernames: an adapter may keep a list of several as given (one as the string).
      const batch = [peer('user', 1, { usernames: ['first_name', 'second_name'], complete: Uint8Array.from([1, 2]) })];
      const upserting = storage.peers.upsert(batch);
      (batch[0] as { usernames: string[] }).usernames.push('not valid!');
      (batch[0]?.complete as Uint8Array)[0] = 9;
      batch.push(peer('user', 2));
      await upserting;
      expect(await storage.peers.getById('user', 1n)).toEqual(peer('user', 1, { usernames: ['first_name', 'second_name'], complete: Uint8Array.from([1, 2]) }));
      expect(await storage.peers.getById('user', 2n)).toBeNull();

      const patch = { user: { id: 5n, dcId: 2, bot: false, usernames: ['a'] } };
      const updating = storage.update(patch);
      patch.user.usernames.push('@bad');
      patch.user.id = 6n;
      await updating;
      expect((await storage.load())?.user).toEqual({ id: 5n, dcId: 2, bot: false, usernames: ['a'] });

      const temp = { index: 0, key: authKey(1), expiresAt: 5 };
      const settingTemp = storage.authKeys.setTemp(2, temp);
      temp.key = new Uint8Array(3);
      temp.expiresAt = -1;
      await settingTemp;
      expect(await storage.authKeys.getTemp(2, 0)).toEqual({ index: 0, key: authKey(1), expiresAt: 5 });

      const channels = [{ id: 1n, pts: 1 }];
      const updatingState = storage.saveUpdateState({ pts: 3, qts: 3, date: 3, seq: 3 }, channels);
      (channels[0] as { pts: number }).pts = -5;
      await updatingState;
      expect((await storage.load())?.channels).toContainEqual({ id: 1n, pts: 1 });
    });
  });
}

export function serverSettling({ group, test, expect }: ServerRegistrar): void {
  group('calls in flight', () => {
    for (const fresh of [false, true]) {
      test(`close() lets every call made before it finish ${fresh ? 'on an instance that never connected' : 'on a connected instance'}; an acknowledged create stays`, async (s) => {
        const verify = await s.open();
        if (fresh) await verify.createSession(1n, 1n);
        const storage = await s.open();
        if (!fresh) await storage.createSession(1n, 1n);
        const calls: [string, Promise<unknown>][] = [
          ['createSession', storage.createSession(1n, 2n)],
          ['hasSession', storage.hasSession(1n, 1n)],
          ['listSessions', storage.listSessions(1n)],
        ];
        const deadline = Date.now() + SETTLE_MS;
        const closing = outcome(storage.close(), deadline);
        const results = await Promise.all(calls.map(([, call]) => outcome(call, deadline)));
        expect((await closing).state, 'close()').toBe('resolved');
        for (const [i, result] of results.entries()) {
          const what = (calls[i] as [string, Promise<unknown>])[0];
          expect(result.state === 'pending', `${what} still pending ${SETTLE_MS} ms after close()`).toBe(false);
          if (result.state === 'rejected') expect(isStorageError(result.error), `${what} ${describe(result)}: not an mtstore error`).toBe(true);
          expect(result.state, `${what} ${describe(result)}, made before close() on a database that answers`).toBe('resolved');
        }
        const created = results[0] as Outcome;
        if (created.state === 'resolved' && created.value === true) expect(await verify.hasSession(1n, 2n), 'acknowledged create is gone').toBe(true);
      });
    }
  });
}
