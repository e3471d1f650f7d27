/**
 * A call that removes many sessions at once (destroyAllSessions of an auth key with
 * thousands of sessions, an expireSessions batch of up to 10,000) emits one event per
 * session: they go out a chunk at a time with the event loop free in between, so the
 * hot path (hasSession of every incoming message) is not held for the whole lot.
 * Checked by order, not by time: an immediate queued when the call starts runs before
 * its last event.
 */
import { describe, expect, it } from 'vitest';
import { LocalEventChannel, LocalSessionEventBus, SessionSubject, type ExpiredSession, type SessionStorageProtocol } from '../src/index.js';

const MANY = 5_000;

/** Answers the two removing calls with MANY sessions each; nothing else is used here. */
function storage(): SessionStorageProtocol {
  const ids = Array.from({ length: MANY }, (_, i) => BigInt(i + 1));
  return {
    createSession: async () => true,
    hasSession: async () => false,
    destroySession: async () => false,
    listSessions: async () => [],
    destroyAllSessions: async () => ids,
    expireSessions: async (): Promise<ExpiredSession[]> => ids.map((sessionId) => ({ authKeyId: 9n, sessionId })),
    close: async () => {},
  };
}

describe('SessionSubject: the events of a call that removed many sessions', () => {
  for (const [name, call] of [
    ['destroyAllSessions', (s: SessionSubject) => s.destroyAllSessions(9n)],
    ['expireSessions', (s: SessionSubject) => s.expireSessions(10_000)],
  ] as const) {
    it(`${name}: the event loop runs between them, and each is delivered and published once`, async () => {
      const channel = new LocalEventChannel();
      const bus = new LocalSessionEventBus(channel);
      const subject = new SessionSubject(storage(), { bus });
      await subject.ready();
      const delivered: bigint[] = [];
      subject.subscribe({ update: (e) => void delivered.push(e.sessionId) });
      const heard: bigint[] = [];
      const other = new LocalSessionEventBus(channel);
      await other.subscribe((e) => heard.push(e.sessionId));
      let deliveredAtImmediate = -1;
      setImmediate(() => {
        deliveredAtImmediate = delivered.length;
      });
      const removed = await call(subject);
      expect(removed.length).toBe(MANY);
      // Before: all 5,000 were delivered before the loop ran anything else.
      expect(deliveredAtImmediate).toBeGreaterThanOrEqual(0);
      expect(deliveredAtImmediate).toBeLessThan(MANY);
      expect(delivered.length).toBe(MANY);
      expect(new Set(delivered).size).toBe(MANY);
      await new Promise((resolve) => setImmediate(resolve));
      expect(heard.length).toBe(MANY);
      await subject.close();
      await bus.close();
      await other.close();
    });
  }

  it('close() waits for the chunks still to go: every event is delivered before it resolves', async () => {
    const subject = new SessionSubject(storage());
    let delivered = 0;
    subject.subscribe({ update: () => void delivered++ });
    const call = subject.destroyAllSessions(9n);
    await new Promise((resolve) => setImmediate(resolve));
    await subject.close();
    expect(delivered).toBe(MANY);
    expect((await call).length).toBe(MANY);
  });
});
