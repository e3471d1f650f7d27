/**
 * Damaged data and lost connections (docs/contract.md §8), through the factory's
 * optional hooks: `corrupt(namespace, name)` damages a stored snapshot the adapter's
 * own way, and reading it must reject with CorruptDataError (an instance of core's
 * class) — not a crash, not a wrong session; `interrupt(namespace)` drops the
 * connections of the namespace's instances, and every call then settles as it should
 * or rejects with StorageUnavailableError, and the instance recovers by itself.
 */
import { CorruptDataError, StorageUnavailableError } from '@mtstore/core';
import type { Expect } from '../api.js';
import { fullSession, peer } from '../fixtures.js';
import { expectRejects, keyBytesInError, sleep } from '../harness.js';
import type { ServerRegistrar, StorageRegistrar } from './context.js';

const NO_CORRUPT = 'no corrupt(namespace, name) hook given (the kit cannot damage stored data the adapter’s way)';
const NO_INTERRUPT = 'no interrupt(namespace) hook given (the kit cannot drop the adapter’s connections)';
/** How long an instance may take to recover from a dropped connection. */
const RECOVERY_MS = 15_000;

/**
 * Runs `call` until it succeeds: before that, it may only reject with
 * StorageUnavailableError. Returns the value and how many times it failed.
 */
async function untilRecovered<T>(expect: Expect, what: string, call: () => Promise<T>, failed: [string, unknown][] = []): Promise<{ value: T; failures: number }> {
  const deadline = Date.now() + RECOVERY_MS;
  let failures = 0;
  for (;;) {
    try {
      return { value: await call(), failures };
    } catch (error) {
      failed.push([what, error]);
      const name = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
      expect(error instanceof StorageUnavailableError, `${what} after the connection dropped must resolve or reject with StorageUnavailableError, got ${name}`).toBe(true);
      failures++;
      expect(Date.now() < deadline, `${what} had not recovered ${RECOVERY_MS} ms after the connection dropped (last: ${name})`).toBe(true);
      await sleep(100);
    }
  }
}

/** Settles calls already in flight when the connection dropped: resolved, or StorageUnavailableError. */
/**
 * Calls started before interrupt(): each gets a handler at once, so one that rejects
 * while the kit still awaits interrupt() is not an unhandled rejection (which fails the
 * whole test run); inFlight() checks each outcome afterwards.
 */
function started(calls: [string, Promise<unknown>][]): [string, Promise<unknown>][] {
  for (const [, call] of calls) call.catch(() => {});
  return calls;
}

async function inFlight(expect: Expect, calls: [string, Promise<unknown>][], failed: [string, unknown][] = []): Promise<void> {
  for (const [what, call] of calls) {
    try {
      await call;
    } catch (error) {
      failed.push([what, error]);
      const name = error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
      expect(error instanceof StorageUnavailableError, `${what} in flight when the connection dropped must resolve or reject with StorageUnavailableError, got ${name}`).toBe(true);
    }
  }
}

export function clientFaults({ group, test, skip, expect, options }: StorageRegistrar): void {
  group('faults', () => {
    const corrupt = options.corrupt;
    const corruptName = 'a snapshot damaged by corrupt() rejects CorruptDataError on load, without key bytes in the message; other names work; delete and save recover';
    if (corrupt === undefined) skip(corruptName, NO_CORRUPT);
    else
      test(corruptName, async (s) => {
        const storage = await s.open();
        const other = await s.open('other');
        await storage.save(fullSession(1));
        await storage.peers.upsert([peer('user', 1)]);
        await other.save(fullSession(2));
        await corrupt(s.namespace, 'main');
        const error = await expectRejects(expect, 'load of a damaged snapshot', 'MTSTORE_CORRUPT_DATA', () => storage.load());
        expect(error instanceof CorruptDataError).toBe(true);
        expect(/\bmain\b/.test(error.message), `the message names the session: ${error.message}`).toBe(true);
        const fresh = await expectRejects(expect, 'load of a damaged snapshot on a fresh instance', 'MTSTORE_CORRUPT_DATA', async () => (await s.open()).load());
        // An error describing the damaged row or document must not quote the keys beside it (§8).
        const keys = fullSession(1).dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k): k is Uint8Array => k !== undefined);
        for (const [what, shown] of [['load', error], ['load on a fresh instance', fresh]] as const) expect(keyBytesInError(shown, keys), `the CorruptDataError of ${what} shows key bytes`).toBe(undefined);
        // The damage is that snapshot's: the instance, and other names, keep working.
        expect(await other.load(), 'another name in the same backend').toEqual(fullSession(2));
        expect(await storage.peers.getById('user', 1n), 'the damaged session’s peers').toEqual(peer('user', 1));
        await storage.delete();
        expect(await storage.load(), 'load after delete').toBeNull();
        await storage.save(fullSession(3));
        expect(await storage.load(), 'save after the damage').toEqual(fullSession(3));
      });

    const interrupt = options.interrupt;
    const interruptName =
      'after interrupt() drops the connections, calls resolve or reject StorageUnavailableError, the instance recovers by itself and nothing acknowledged is lost; no failed call’s error shows key bytes or kv value bytes';
    if (interrupt === undefined) skip(interruptName, NO_INTERRUPT);
    else
      test(interruptName, async (s) => {
        const storage = await s.open();
        const session = fullSession(1);
        await storage.save(session);
        await storage.peers.upsert([peer('user', 1)]);
        const keys = session.dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k): k is Uint8Array => k !== undefined);
        const dc2 = session.dcs[1]?.authKey as Uint8Array;
        // kv values are secrets too (§4: an error never shows them): mtcute keeps its future salts there.
        const salts = Uint8Array.from({ length: 64 }, (_, i) => (i * 97 + 13) & 0xff);
        await storage.kv.set('salts:2', salts, { secret: true });
        // Every error of a failed call, checked at the end for the stored keys' bytes (docs/contract.md §8:
        // the driver error is kept as cause, sanitized; a message that quotes key bytes leaks them).
        const failed: [string, unknown][] = [];
        for (let round = 1; round <= 2; round++) {
          const calls = started([
            ['load', storage.load()],
            ['peers.getById', storage.peers.getById('user', 1n)],
            ['kv.entries', storage.kv.entries()],
            ['authKeys.get', storage.authKeys.get(2)],
            ['authKeys.entries', storage.authKeys.entries()],
            // The key DC 2 already has: whether it lands or not, the session is the same.
            ['authKeys.set', storage.authKeys.set(2, dc2)],
            ['kv.get', storage.kv.get('salts:2')],
            // The value it already has, as for the key above.
            ['kv.set', storage.kv.set('salts:2', salts, { secret: true })],
          ]);
          await interrupt(s.namespace);
          await inFlight(expect, calls, failed);
          const { value } = await untilRecovered(expect, `round ${round}: load`, () => storage.load(), failed);
          expect(value, `round ${round}: the session after recovery`).toEqual(round === 1 ? session : { ...session, state: { pts: 9, qts: 9, date: 9, seq: 9 } });
          await untilRecovered(expect, `round ${round}: saveUpdateState`, () => storage.saveUpdateState({ pts: 9, qts: 9, date: 9, seq: 9 }), failed);
          const { value: p } = await untilRecovered(expect, `round ${round}: peers.getByUsername`, () => storage.peers.getByUsername('USER_1'), failed);
          expect(p, `round ${round}: a peer after recovery`).toEqual(peer('user', 1));
          await untilRecovered(expect, `round ${round}: authKeys.set`, () => storage.authKeys.set(2, dc2), failed);
          expect((await untilRecovered(expect, `round ${round}: authKeys.get`, () => storage.authKeys.get(2), failed)).value, `round ${round}: a key after recovery`).toEqual(dc2);
        }
        const fresh = await s.open();
        expect((await untilRecovered(expect, 'a fresh instance', () => fresh.load(), failed)).value?.state?.pts).toBe(9);
        expect((await untilRecovered(expect, 'kv.get after the outages', () => fresh.kv.get('salts:2'), failed)).value, 'the kv value after the outages').toEqual(salts);
        for (const [what, error] of failed) {
          expect(keyBytesInError(error, keys), `the error of ${what} during the outage shows key bytes`).toBe(undefined);
          expect(keyBytesInError(error, [salts]), `the error of ${what} during the outage shows the bytes of a kv value`).toBe(undefined);
        }
      });
  });
}

export function serverFaults({ group, test, skip, expect, options }: ServerRegistrar): void {
  group('faults', () => {
    const interrupt = options.interrupt;
    const name = 'after interrupt() drops the connections, calls resolve or reject StorageUnavailableError and the instance recovers by itself';
    if (interrupt === undefined) {
      skip(name, NO_INTERRUPT);
      return;
    }
    test(name, async (s) => {
      const storage = await s.open();
      await storage.createSession(1n, 1n);
      for (let round = 2n; round <= 3n; round++) {
        const calls = started([
          ['hasSession', storage.hasSession(1n, 1n)],
          ['listSessions', storage.listSessions(1n)],
        ]);
        await interrupt(s.namespace);
        await inFlight(expect, calls);
        expect((await untilRecovered(expect, 'hasSession', () => storage.hasSession(1n, 1n))).value).toBe(true);
        // A create that failed may still have been applied; after recovery the session is there exactly once.
        await untilRecovered(expect, 'createSession', () => storage.createSession(1n, round));
        expect(await storage.hasSession(1n, round)).toBe(true);
      }
      const listed = await storage.listSessions(1n);
      expect([...listed].sort((a, b) => (a < b ? -1 : 1))).toEqual([1n, 2n, 3n]);
    });
  });
}

