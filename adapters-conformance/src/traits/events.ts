/**
 * Events through a SessionSubject over the adapter's storage (DESIGN §4.2): only
 * real transitions, after the write, exactly once; observer isolation; subject close.
 */
import { SessionSubject, type SessionEvent, type SessionObserver } from '@mtstore/core';
import { CODES, expectRejects, sleep } from '../harness.js';
import type { ServerRegistrar } from './context.js';

/** An observer that records what it got (and what the storage said at that moment). */
export function recorder(check?: (event: SessionEvent) => Promise<unknown>): SessionObserver & { events: SessionEvent[]; seen: unknown[] } {
  const events: SessionEvent[] = [];
  const seen: unknown[] = [];
  return {
    events,
    seen,
    async update(event) {
      events.push(event);
      if (check) seen.push(await check(event));
    },
  };
}

function summary(events: readonly SessionEvent[]): string[] {
  return events.map((e) => `${e.type} ${e.authKeyId}/${e.sessionId}`).sort();
}

export function events({ group, test, expect, options }: ServerRegistrar): void {
  group('events', () => {
    test('created is emitted once per real creation, after the write; none when the session existed', async (s) => {
      const storage = await s.open();
      const subject = s.track(new SessionSubject(storage, { id: 'node-a' }));
      const observer = recorder((e) => storage.hasSession(e.authKeyId, e.sessionId));
      subject.subscribe(observer);
      expect(await subject.createSession(1n, 2n)).toBe(true);
      expect(await subject.createSession(1n, 2n)).toBe(false);
      expect(observer.events).toEqual([{ type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'node-a' }]);
      expect(observer.seen, 'the observer must see the committed write').toEqual([true]);
    });

    test('destroyed is emitted once per real removal, after the write; none when nothing was there', async (s) => {
      const storage = await s.open();
      const subject = s.track(new SessionSubject(storage, { id: 'node-a' }));
      await subject.createSession(1n, 2n);
      const observer = recorder((e) => storage.hasSession(e.authKeyId, e.sessionId));
      subject.subscribe(observer);
      expect(await subject.destroySession(1n, 2n)).toBe(true);
      expect(await subject.destroySession(1n, 2n)).toBe(false);
      expect(await subject.destroySession(1n, 3n)).toBe(false);
      expect(observer.events).toEqual([{ type: 'destroyed', authKeyId: 1n, sessionId: 2n, origin: 'node-a', reason: 'explicit' }]);
      expect(observer.seen).toEqual([false]);
    });

    test('destroyAllSessions emits one destroyed event per removed session', async (s) => {
      const storage = await s.open();
      const subject = s.track(new SessionSubject(storage));
      for (const id of [1n, 2n, 3n]) await subject.createSession(4n, id);
      await subject.createSession(5n, 1n);
      const observer = recorder();
      subject.subscribe(observer);
      await subject.destroyAllSessions(4n);
      expect(summary(observer.events)).toEqual(['destroyed 4/1', 'destroyed 4/2', 'destroyed 4/3']);
      await subject.destroyAllSessions(4n);
      expect(observer.events).toHaveLength(3);
    });

    test('an event carries ids and the subject id as origin, nothing else', async (s) => {
      const storage = await s.open();
      const subject = s.track(new SessionSubject(storage));
      const observer = recorder();
      subject.subscribe(observer);
      await subject.createSession(-(2n ** 63n), 2n ** 63n - 1n);
      const [event] = observer.events;
      expect(Object.keys(event ?? {}).sort()).toEqual(['authKeyId', 'origin', 'sessionId', 'type']);
      expect(event).toEqual({ type: 'created', authKeyId: -(2n ** 63n), sessionId: 2n ** 63n - 1n, origin: subject.id });
    });

    const callers = options.capabilities?.raceCallers ?? 50;
    test(`${callers} racing creates through two subjects emit exactly one created event`, async (s) => {
      const shared = options.capabilities?.sharedBackend !== false;
      const first = await s.open();
      const second = shared ? await s.open() : first;
      const a = s.track(new SessionSubject(first));
      const b = s.track(new SessionSubject(second));
      const observer = recorder();
      a.subscribe(observer);
      b.subscribe(observer);
      const results = await Promise.all(Array.from({ length: callers }, (_, i) => (i % 2 ? a : b).createSession(8n, 8n)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(summary(observer.events)).toEqual(['created 8/8']);
      await Promise.all(Array.from({ length: callers }, (_, i) => (i % 2 ? a : b).destroySession(8n, 8n)));
      expect(summary(observer.events)).toEqual(['created 8/8', 'destroyed 8/8']);
    });

    test('subscribing twice delivers once; unsubscribing an unknown observer is a no-op; unsubscribed observers hear nothing', async (s) => {
      const subject = s.track(new SessionSubject(await s.open()));
      const twice = recorder();
      const leaving = recorder();
      subject.subscribe(twice);
      subject.subscribe(twice);
      subject.subscribe(leaving);
      subject.unsubscribe(recorder());
      await subject.createSession(1n, 1n);
      subject.unsubscribe(leaving);
      subject.unsubscribe(leaving);
      await subject.createSession(1n, 2n);
      expect(twice.events).toHaveLength(2);
      expect(leaving.events).toHaveLength(1);
    });
  });
}

export function observerIsolation({ group, test, expect }: ServerRegistrar): void {
  group('observer isolation', () => {
    test('a throwing or rejecting observer fails neither the caller nor the others, and is reported', async (s) => {
      const reported: unknown[] = [];
      const subject = s.track(new SessionSubject(await s.open(), { onObserverError: (error) => reported.push(error) }));
      const before = recorder();
      const after = recorder();
      subject.subscribe(before);
      subject.subscribe({
        update() {
          throw new Error('observer throws');
        },
      });
      subject.subscribe({
        update: async () => {
          throw new Error('observer rejects');
        },
      });
      subject.subscribe(after);
      expect(await subject.createSession(1n, 1n)).toBe(true);
      expect(await subject.destroySession(1n, 1n)).toBe(true);
      expect(before.events).toHaveLength(2);
      expect(after.events).toHaveLength(2);
      expect(reported.map((e) => (e as Error).message).sort()).toEqual(['observer rejects', 'observer rejects', 'observer throws', 'observer throws']);
    });

    test('the caller resolves after async observers have settled', async (s) => {
      const subject = s.track(new SessionSubject(await s.open()));
      let settled = false;
      subject.subscribe({
        update: async () => {
          await sleep(30);
          settled = true;
        },
      });
      await subject.createSession(1n, 1n);
      expect(settled).toBe(true);
    });

    test('closing the subject leaves the storage open; the subject then rejects StorageClosedError', async (s) => {
      const storage = await s.open();
      const subject = new SessionSubject(storage);
      await subject.createSession(1n, 1n);
      await subject.close();
      await subject.close();
      expect(await storage.hasSession(1n, 1n)).toBe(true);
      expect(await storage.createSession(1n, 2n)).toBe(true);
      for (const [what, call] of [
        ['createSession', () => subject.createSession(1n, 3n)],
        ['hasSession', () => subject.hasSession(1n, 1n)],
        ['destroySession', () => subject.destroySession(1n, 1n)],
        ['listSessions', () => subject.listSessions(1n)],
        ['destroyAllSessions', () => subject.destroyAllSessions(1n)],
      ] as const) {
        await expectRejects(expect, `subject.${what} after close`, CODES.closed, call);
      }
      expect(await storage.hasSession(1n, 3n)).toBe(false);
    });
  });
}
