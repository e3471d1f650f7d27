/**
 * Server SessionStorageProtocol traits (DESIGN §4.1): lifecycle, keying by
 * (authKeyId, sessionId), ids, invalid input, races, two instances, close.
 */
import type { SessionStorageProtocol } from '@mtstore/core';
import { ID_EXTREMES } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { ServerRegistrar } from './context.js';

const SHARED_BACKEND_REASON = 'declared capability sharedBackend: false (instances on one namespace do not share data)';

function sorted(ids: readonly bigint[]): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function lifecycle({ group, test, expect }: ServerRegistrar): void {
  group('lifecycle', () => {
    test('createSession reports true when it creates, false when the session exists', async (s) => {
      const storage = await s.open();
      expect(await storage.createSession(1n, 10n)).toBe(true);
      expect(await storage.createSession(1n, 10n)).toBe(false);
      expect(await storage.createSession(1n, 11n)).toBe(true);
    });

    test('hasSession sees created sessions and nothing else', async (s) => {
      const storage = await s.open();
      expect(await storage.hasSession(1n, 10n)).toBe(false);
      await storage.createSession(1n, 10n);
      expect(await storage.hasSession(1n, 10n)).toBe(true);
      expect(await storage.hasSession(1n, 11n)).toBe(false);
      expect(await storage.hasSession(2n, 10n)).toBe(false);
    });

    test('destroySession reports true when it removes, false when there was nothing', async (s) => {
      const storage = await s.open();
      expect(await storage.destroySession(1n, 10n)).toBe(false);
      await storage.createSession(1n, 10n);
      expect(await storage.destroySession(1n, 10n)).toBe(true);
      expect(await storage.destroySession(1n, 10n)).toBe(false);
      expect(await storage.hasSession(1n, 10n)).toBe(false);
    });

    test('a destroyed session can be created again', async (s) => {
      const storage = await s.open();
      await storage.createSession(3n, 30n);
      await storage.destroySession(3n, 30n);
      expect(await storage.createSession(3n, 30n)).toBe(true);
      expect(await storage.hasSession(3n, 30n)).toBe(true);
    });

    test('sessions are keyed by (authKeyId, sessionId): one session id under two keys is two sessions', async (s) => {
      const storage = await s.open();
      expect(await storage.createSession(1n, 99n)).toBe(true);
      expect(await storage.createSession(2n, 99n)).toBe(true);
      expect(await storage.destroySession(1n, 99n)).toBe(true);
      expect(await storage.hasSession(2n, 99n)).toBe(true);
      expect(await storage.destroySession(1n, 99n)).toBe(false);
    });

    test('listSessions returns exactly the sessions of that auth key', async (s) => {
      const storage = await s.open();
      expect(await storage.listSessions(1n)).toEqual([]);
      for (const id of [5n, 3n, 9n]) await storage.createSession(1n, id);
      await storage.createSession(2n, 4n);
      expect(sorted(await storage.listSessions(1n))).toEqual([3n, 5n, 9n]);
      expect(await storage.listSessions(2n)).toEqual([4n]);
    });

    test('destroyAllSessions removes and returns exactly that key’s sessions', async (s) => {
      const storage = await s.open();
      for (const id of [1n, 2n, 3n]) await storage.createSession(7n, id);
      await storage.createSession(8n, 1n);
      expect(sorted(await storage.destroyAllSessions(7n))).toEqual([1n, 2n, 3n]);
      expect(await storage.listSessions(7n)).toEqual([]);
      expect(await storage.hasSession(7n, 1n)).toBe(false);
      expect(await storage.hasSession(8n, 1n)).toBe(true);
      expect(await storage.destroyAllSessions(7n)).toEqual([]);
    });
  });
}

export function serverIds({ group, test, expect }: ServerRegistrar): void {
  group('ids', () => {
    test('every extreme pair of (authKeyId, sessionId) is its own session and lists back exactly', async (s) => {
      const storage = await s.open();
      for (const authKeyId of ID_EXTREMES) for (const sessionId of ID_EXTREMES) expect(await storage.createSession(authKeyId, sessionId)).toBe(true);
      for (const authKeyId of ID_EXTREMES) {
        for (const sessionId of ID_EXTREMES) expect(await storage.hasSession(authKeyId, sessionId), `${authKeyId}/${sessionId}`).toBe(true);
        expect(sorted(await storage.listSessions(authKeyId)), `list ${authKeyId}`).toEqual(sorted(ID_EXTREMES));
      }
      expect(sorted(await storage.destroyAllSessions(2n ** 63n - 1n))).toEqual(sorted(ID_EXTREMES));
      expect(await storage.destroySession(-(2n ** 63n), 2n ** 53n + 1n)).toBe(true);
      expect(await storage.hasSession(-(2n ** 63n), 2n ** 53n)).toBe(false);
      expect(await storage.hasSession(-(2n ** 63n), 2n ** 53n + 1n)).toBe(false);
    });
  });
}

const BAD_IDS: readonly [string, unknown][] = [
  ['a number', 1],
  ['a decimal string', '1'],
  ['2^63', 2n ** 63n],
  ['-2^63-1', -(2n ** 63n) - 1n],
  ['undefined', undefined],
  ['null', null],
];

export function serverInput({ group, test, expect }: ServerRegistrar): void {
  group('invalid input', () => {
    const pairMethods = ['createSession', 'hasSession', 'destroySession'] as const;
    for (const method of pairMethods) {
      for (const argument of ['authKeyId', 'sessionId'] as const) {
        test(`${method} rejects a bad ${argument} with InvalidArgumentError and changes nothing`, async (s) => {
          const storage = await s.open();
          await storage.createSession(1n, 1n);
          for (const [what, bad] of BAD_IDS) {
            const args = (argument === 'authKeyId' ? [bad, 1n] : [1n, bad]) as [bigint, bigint];
            await expectRejects(expect, `${method} with ${argument} ${what}`, CODES.invalid, () => storage[method](...args));
          }
          expect(await storage.listSessions(1n)).toEqual([1n]);
        });
      }
    }
    for (const method of ['listSessions', 'destroyAllSessions'] as const) {
      test(`${method} rejects a bad authKeyId with InvalidArgumentError and changes nothing`, async (s) => {
        const storage = await s.open();
        await storage.createSession(1n, 1n);
        for (const [what, bad] of BAD_IDS) {
          await expectRejects(expect, `${method} with authKeyId ${what}`, CODES.invalid, () => storage[method](bad as bigint));
        }
        expect(await storage.listSessions(1n)).toEqual([1n]);
      });
    }
  });
}

export function races({ group, test, expect, options }: ServerRegistrar): void {
  const callers = options.capabilities?.raceCallers ?? 50;
  const shared = options.capabilities?.sharedBackend !== false;
  const where = shared ? 'from two instances' : 'on one instance';
  group('races', () => {
    async function instances(s: Parameters<Parameters<ServerRegistrar['test']>[1]>[0]): Promise<SessionStorageProtocol[]> {
      return shared ? [await s.open(), await s.open()] : [await s.open()];
    }

    test(`${callers} concurrent createSession calls on one session ${where}: exactly one true`, async (s) => {
      const pool = await instances(s);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.all(Array.from({ length: callers }, (_, i) => (pool[i % pool.length] as SessionStorageProtocol).createSession(5n, BigInt(round))));
        expect(results.filter(Boolean).length, `round ${round}`).toBe(1);
      }
    });

    test(`${callers} concurrent destroySession calls on one session ${where}: exactly one true`, async (s) => {
      const pool = await instances(s);
      for (let round = 0; round < 3; round++) {
        await (pool[0] as SessionStorageProtocol).createSession(6n, BigInt(round));
        const results = await Promise.all(Array.from({ length: callers }, (_, i) => (pool[i % pool.length] as SessionStorageProtocol).destroySession(6n, BigInt(round))));
        expect(results.filter(Boolean).length, `round ${round}`).toBe(1);
      }
    });

    test(`concurrent destroyAllSessions ${where} report each removed session exactly once`, async (s) => {
      const pool = await instances(s);
      const ids = Array.from({ length: 20 }, (_, i) => BigInt(i));
      for (const id of ids) await (pool[0] as SessionStorageProtocol).createSession(9n, id);
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => (pool[i % pool.length] as SessionStorageProtocol).destroyAllSessions(9n)));
      expect(sorted(results.flat())).toEqual(ids);
    });

    test(`create and destroy racing on many sessions ${where} agree with what is stored`, async (s) => {
      const pool = await instances(s);
      const ops = Array.from({ length: 200 }, (_, i) => ({ id: BigInt(i % 20), create: i % 3 !== 0, by: pool[i % pool.length] as SessionStorageProtocol }));
      const outcome = await Promise.all(ops.map((op) => (op.create ? op.by.createSession(4n, op.id) : op.by.destroySession(4n, op.id))));
      // Real transitions alternate create, destroy, create… from absent, whatever their order:
      // per session, successful creates minus successful destroys is 1 if it is stored now, else 0.
      for (let id = 0n; id < 20n; id++) {
        let balance = 0;
        ops.forEach((op, i) => {
          if (op.id === id && outcome[i]) balance += op.create ? 1 : -1;
        });
        const stored = await (pool[0] as SessionStorageProtocol).hasSession(4n, id);
        expect(balance, `session ${id}: creates minus destroys reported`).toBe(stored ? 1 : 0);
      }
    });
  });
}

export function serverInstances({ group, test, expect, options, skip }: ServerRegistrar): void {
  group('two instances', () => {
    const name = 'each sees the other’s creates and destroys';
    if (options.capabilities?.sharedBackend === false) {
      skip(name, SHARED_BACKEND_REASON);
      return;
    }
    test(name, async (s) => {
      const a = await s.open();
      const b = await s.open();
      await a.createSession(1n, 1n);
      expect(await b.hasSession(1n, 1n)).toBe(true);
      expect(await b.createSession(1n, 1n)).toBe(false);
      expect(await b.destroySession(1n, 1n)).toBe(true);
      expect(await a.hasSession(1n, 1n)).toBe(false);
      await b.createSession(2n, 2n);
      expect(await a.destroyAllSessions(2n)).toEqual([2n]);
    });
  });
}

export function serverClosing({ group, test, expect }: ServerRegistrar): void {
  group('close', () => {
    test('close is idempotent: a second and a concurrent close resolve', async (s) => {
      const storage = await s.open();
      await Promise.all([storage.close(), storage.close()]);
      await storage.close();
    });

    test('every method after close rejects StorageClosedError', async (s) => {
      const storage = await s.open();
      await storage.createSession(1n, 1n);
      await storage.close();
      const calls: [string, () => Promise<unknown>][] = [
        ['createSession', () => storage.createSession(1n, 2n)],
        ['hasSession', () => storage.hasSession(1n, 1n)],
        ['destroySession', () => storage.destroySession(1n, 1n)],
        ['listSessions', () => storage.listSessions(1n)],
        ['destroyAllSessions', () => storage.destroyAllSessions(1n)],
      ];
      for (const [what, call] of calls) await expectRejects(expect, `${what} after close`, CODES.closed, call);
    });
  });
}
