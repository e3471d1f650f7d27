/**
 * Session lifetime (docs/contract.md §7.1): last-used and expiry times, `touchSession`,
 * expiry at once for every read, `expireSessions` removing each expired session once
 * across instances, `destroyed` events with reason `expired`, and what a clock jump does.
 * The kit moves the clock; the database's own clock plays no part in the answers.
 */
import { SessionSubject, type SessionStorageProtocol } from '@mtstore/core';
import { CODES, expectRejects } from '../harness.js';
import type { ServerRegistrar, ServerScope } from './context.js';
import { recorder } from './events.js';

const TTL = 60;
const TTL_MS = TTL * 1000;

/** A clock the test moves by hand, starting near real time (native expiry keeps its grace). */
function manualClock() {
  let now = Math.floor(Date.now() / 1000) * 1000;
  return {
    clock: () => now,
    get now() {
      return now;
    },
    advance(ms: number) {
      now += ms;
    },
  };
}

type Lifetime = NonNullable<ServerRegistrar['options']['openWithLifetime']>;

const TRAITS = [
  'a session expires ttlSeconds after its last use: gone for hasSession, listSessions, destroySession and sessionInfo at once, and can be created again',
  'touchSession refreshes last-used and expiry; sessionInfo reports both in epoch ms; an expired or unknown session is not touched',
  'without ttlSeconds sessions never expire; sessionInfo has expiresAt null',
  'expireSessions removes only expired sessions, at most limit per call, each once across two racing instances',
  'a SessionSubject announces each expired session once, as destroyed with reason expired',
  'a clock jump: forward expires what the new time has passed; backward revives what was expired but not yet removed',
  'expireSessions validates its limit and rejects after close',
  'creating over expired sessions: of racing creators exactly one wins, and one racing a sweep by another instance still creates',
  'the expiry is set by the instance that created or last touched the session, from its own ttlSeconds: a shorter one brings it forward, none makes it never expire; a session created over an expired one starts anew',
];

export function lifetime({ group, test, skip, expect, options }: ServerRegistrar): void {
  group('session lifetime', () => {
    const open = options.openWithLifetime;
    if (open === undefined) {
      for (const name of TRAITS) skip(name, 'the adapter gives no openWithLifetime option (no session lifetime support)');
      return;
    }
    const openWith = async (s: ServerScope, lifetime: Parameters<Lifetime>[1]): Promise<SessionStorageProtocol & Required<Pick<SessionStorageProtocol, 'touchSession' | 'sessionInfo' | 'expireSessions'>>> => {
      const storage = s.track(await open(s.namespace, lifetime));
      for (const method of ['touchSession', 'sessionInfo', 'expireSessions'] as const) {
        expect(typeof storage[method], `storage.${method}`).toBe('function');
      }
      return storage as never;
    };

    test(TRAITS[0] as string, async (s) => {
      const t = manualClock();
      const storage = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      expect(await storage.createSession(1n, 1n)).toBe(true);
      expect(await storage.createSession(1n, 2n)).toBe(true);
      t.advance(TTL_MS - 1);
      expect(await storage.hasSession(1n, 1n), 'hasSession 1 ms before the expiry').toBe(true);
      expect(await storage.createSession(1n, 1n), 'createSession over a live session').toBe(false);
      expect(await storage.touchSession(1n, 2n), 'touchSession of a live session').toBe(true);
      t.advance(1);
      expect(await storage.hasSession(1n, 1n), 'hasSession at the expiry (expiresAt <= now does not exist)').toBe(false);
      expect(await storage.sessionInfo(1n, 1n), 'sessionInfo at the expiry').toBeNull();
      expect(await storage.listSessions(1n), 'listSessions at the expiry: only the touched session').toEqual([2n]);
      expect(await storage.destroySession(1n, 1n), 'destroySession of an expired session').toBe(false);
      expect(await storage.destroyAllSessions(1n), 'destroyAllSessions reports only the live (touched) session').toEqual([2n]);
      expect(await storage.createSession(1n, 1n), 'createSession over an expired session creates').toBe(true);
      expect(await storage.hasSession(1n, 1n), 'hasSession of the session created again').toBe(true);
      expect(await storage.listSessions(1n), 'listSessions after the create').toEqual([1n]);
    });

    test(TRAITS[1] as string, async (s) => {
      const t = manualClock();
      const storage = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      const created = t.now;
      await storage.createSession(-5n, 7n);
      expect(await storage.sessionInfo(-5n, 7n)).toEqual({ lastUsedAt: created, expiresAt: created + TTL_MS });
      t.advance(1_234);
      expect(await storage.touchSession(-5n, 7n)).toBe(true);
      expect(await storage.sessionInfo(-5n, 7n)).toEqual({ lastUsedAt: created + 1_234, expiresAt: created + 1_234 + TTL_MS });
      t.advance(TTL_MS - 1);
      expect(await storage.hasSession(-5n, 7n), 'hasSession 1 ms before the touched expiry').toBe(true);
      t.advance(1);
      expect(await storage.touchSession(-5n, 7n), 'touchSession at the expiry (an expired session is not touched)').toBe(false);
      expect(await storage.hasSession(-5n, 7n), 'hasSession at the expiry, after a touch that must not have revived it').toBe(false);
      expect(await storage.touchSession(-5n, 8n), 'touchSession of an unknown session').toBe(false);
      expect(await storage.hasSession(-5n, 8n), 'hasSession after touching an unknown session (a touch creates nothing)').toBe(false);
      // An auth key never seen at all, not only a session unknown under a known key.
      expect(await storage.sessionInfo(-6n, 7n)).toBeNull();
      expect(await storage.touchSession(-6n, 7n)).toBe(false);
      await expectRejects(expect, 'touchSession with a number id', CODES.invalid, () => storage.touchSession(1 as unknown as bigint, 1n));
      await expectRejects(expect, 'sessionInfo with sessionId 2^63', CODES.invalid, () => storage.sessionInfo(1n, 2n ** 63n));
    });

    test(TRAITS[2] as string, async (s) => {
      const t = manualClock();
      const storage = await openWith(s, { clock: t.clock });
      await storage.createSession(1n, 1n);
      expect(await storage.sessionInfo(1n, 1n)).toEqual({ lastUsedAt: t.now, expiresAt: null });
      t.advance(10 * 365 * 86_400_000);
      expect(await storage.hasSession(1n, 1n)).toBe(true);
      expect(await storage.touchSession(1n, 1n)).toBe(true);
      expect(await storage.sessionInfo(1n, 1n)).toEqual({ lastUsedAt: t.now, expiresAt: null });
      expect(await storage.expireSessions()).toEqual([]);
      expect(await storage.listSessions(1n)).toEqual([1n]);
    });

    test(TRAITS[3] as string, async (s) => {
      const t = manualClock();
      const a = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      // A second instance without ttlSeconds still removes what expired under another's.
      const b = await openWith(s, { clock: t.clock });
      const expiring: string[] = [];
      for (let i = 0n; i < 30n; i++) {
        await a.createSession(i % 3n, i);
        expiring.push(`${i % 3n}/${i}`);
      }
      await b.createSession(9n, 9n); // never expires
      t.advance(TTL_MS / 2);
      await a.createSession(8n, 8n); // expires later
      expect(await a.expireSessions()).toEqual([]);
      t.advance(TTL_MS / 2);
      const first = await a.expireSessions(4);
      expect(first).toHaveLength(4);
      const [x, y] = await Promise.all([a.expireSessions(10_000), b.expireSessions(10_000)]);
      const all = [...first, ...(x ?? []), ...(y ?? [])].map((e) => `${e.authKeyId}/${e.sessionId}`).sort();
      expect(all).toEqual([...expiring].sort());
      expect(await a.expireSessions()).toEqual([]);
      expect(await a.hasSession(9n, 9n)).toBe(true);
      expect(await a.hasSession(8n, 8n)).toBe(true);
      t.advance(TTL_MS / 2);
      expect(await b.expireSessions()).toEqual([{ authKeyId: 8n, sessionId: 8n }]);
    });

    test(TRAITS[4] as string, async (s) => {
      const t = manualClock();
      const storage = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      const subject = s.track(new SessionSubject(storage, { id: 'node-a' }));
      const observer = recorder();
      await subject.createSession(3n, 1n);
      await subject.createSession(3n, 2n);
      subject.subscribe(observer);
      t.advance(TTL_MS);
      expect(await subject.expireSessions()).toHaveLength(2);
      expect(await subject.expireSessions()).toEqual([]);
      const sorted = [...observer.events].sort((p, q) => Number(p.sessionId - q.sessionId));
      expect(sorted).toEqual([
        { type: 'destroyed', authKeyId: 3n, sessionId: 1n, origin: 'node-a', reason: 'expired' },
        { type: 'destroyed', authKeyId: 3n, sessionId: 2n, origin: 'node-a', reason: 'expired' },
      ]);
    });

    test(TRAITS[5] as string, async (s) => {
      const t = manualClock();
      const storage = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      await storage.createSession(1n, 1n);
      t.advance(3_600_000); // an NTP step forward of an hour
      expect(await storage.hasSession(1n, 1n), 'hasSession after the clock jumped an hour forward').toBe(false);
      t.advance(-3_600_000); // and back: expiry is a comparison with the clock, nothing was removed yet
      expect(await storage.hasSession(1n, 1n), 'hasSession after the clock jumped back (expired, not removed)').toBe(true);
      t.advance(3_600_000);
      expect(await storage.expireSessions(), 'expireSessions after the jump forward').toEqual([{ authKeyId: 1n, sessionId: 1n }]);
      t.advance(-3_600_000); // removed is removed
      expect(await storage.hasSession(1n, 1n), 'hasSession of a removed session after the clock jumped back').toBe(false);
    });

    test(TRAITS[7] as string, async (s) => {
      const t = manualClock();
      const a = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      const b = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      // Racing creators over one expired, unswept session: one `true`, every round.
      for (let round = 0n; round < 5n; round++) {
        await a.createSession(7n, round);
        t.advance(TTL_MS);
        const won = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).createSession(7n, round)));
        expect(won.filter(Boolean), `round ${round}: winners`).toHaveLength(1);
        expect(await a.hasSession(7n, round)).toBe(true);
      }
      // Creates racing a sweep of the same expired sessions: each creates (true) and stays.
      const ids = Array.from({ length: 150 }, (_, i) => BigInt(i));
      for (const id of ids) await a.createSession(8n, id);
      t.advance(TTL_MS);
      const [created] = await Promise.all([Promise.all(ids.map((id) => a.createSession(8n, id))), b.expireSessions(10_000)]);
      expect(created.filter((ok) => !ok).length, 'creates that answered false over an expired session').toBe(0);
      const present = await Promise.all(ids.map((id) => a.hasSession(8n, id)));
      expect(present.filter((there) => !there).length, 'created sessions missing afterwards').toBe(0);
    });

    // docs/contract.md §7.1: the expiry is `lastUsed + ttlSeconds` of the instance that
    // created or last touched the session, or none. A touch that kept a stored expiry it
    // was not given (COALESCE), or never moved one earlier (GREATEST), answers otherwise.
    test(TRAITS[8] as string, async (s) => {
      const t = manualClock();
      const long = await openWith(s, { ttlSeconds: TTL, clock: t.clock });
      const short = await openWith(s, { ttlSeconds: 10, clock: t.clock });
      const never = await openWith(s, { clock: t.clock });
      await long.createSession(1n, 1n);
      await long.createSession(1n, 2n);
      t.advance(1_000);
      expect(await short.touchSession(1n, 1n)).toBe(true);
      expect(await long.sessionInfo(1n, 1n), 'touched by an instance with a shorter ttlSeconds').toEqual({ lastUsedAt: t.now, expiresAt: t.now + 10_000 });
      expect(await never.touchSession(1n, 2n)).toBe(true);
      expect(await long.sessionInfo(1n, 2n), 'touched by an instance without ttlSeconds').toEqual({ lastUsedAt: t.now, expiresAt: null });
      t.advance(10_000);
      expect(await long.hasSession(1n, 1n), 'past the shorter expiry').toBe(false);
      t.advance(TTL_MS);
      expect(await long.hasSession(1n, 2n), 'past the first expiry, after a touch that took it away').toBe(true);
      expect(await long.expireSessions(), 'the sweep').toEqual([{ authKeyId: 1n, sessionId: 1n }]);
      expect(await long.touchSession(1n, 2n)).toBe(true);
      expect(await never.sessionInfo(1n, 2n), 'touched again with ttlSeconds').toEqual({ lastUsedAt: t.now, expiresAt: t.now + TTL_MS });
      // Expired but not swept: a create over it sets both times anew, from the creator's lifetime.
      await short.createSession(1n, 3n);
      t.advance(10_000);
      expect(await long.createSession(1n, 3n), 'a create over an expired session').toBe(true);
      expect(await short.sessionInfo(1n, 3n), 'the session created again').toEqual({ lastUsedAt: t.now, expiresAt: t.now + TTL_MS });
      t.advance(20_000);
      expect(await never.createSession(1n, 3n), 'a create over a live session').toBe(false);
      expect(await short.sessionInfo(1n, 3n), 'a create that found it changes nothing').toEqual({ lastUsedAt: t.now - 20_000, expiresAt: t.now - 20_000 + TTL_MS });
    });

    test(TRAITS[6] as string, async (s) => {
      const storage = await openWith(s, { ttlSeconds: TTL, clock: manualClock().clock });
      for (const bad of [0, -1, 1.5, 10_001, '10']) {
        await expectRejects(expect, `expireSessions(${JSON.stringify(bad)})`, CODES.invalid, () => storage.expireSessions(bad as number));
      }
      await storage.close();
      await expectRejects(expect, 'expireSessions after close', CODES.closed, () => storage.expireSessions());
      await expectRejects(expect, 'touchSession after close', CODES.closed, () => storage.touchSession(1n, 1n));
    });
  });
}
