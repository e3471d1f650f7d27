/**
 * The background sweep (sweepInterval) when several nodes sweep one storage: each
 * node's batch removes only part of what is due (the others take the rest), so a
 * batch comes back short while expired sessions remain. One interval's sweep must go
 * on until a batch removes nothing, not stop at the first short one.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionSubject, type ExpiredSession, type SessionStorageProtocol } from '../src/index.js';

afterEach(() => {
  vi.useRealTimers();
});

/**
 * Expired sessions 1 … count; each expireSessions(limit) takes a window of `limit` of
 * them, of which a racing node removed half first: this call removes and returns the
 * other half (as two MongoDB or Redis nodes sweeping at once were seen to).
 */
function racedStorage(count: number): SessionStorageProtocol & { due: bigint[]; calls: number[] } {
  const due = Array.from({ length: count }, (_, i) => BigInt(i + 1));
  const calls: number[] = [];
  return {
    due,
    calls,
    createSession: async () => true,
    hasSession: async () => false,
    destroySession: async () => false,
    listSessions: async () => [],
    destroyAllSessions: async () => [],
    expireSessions: async (limit = 1_000): Promise<ExpiredSession[]> => {
      const window = due.splice(0, limit);
      const mine = window.filter((_, i) => i % 2 === 1).map((sessionId) => ({ authKeyId: 3n, sessionId }));
      calls.push(mine.length);
      return mine;
    },
    close: async () => {},
  };
}

describe('SessionSubject sweep among racing nodes', () => {
  it('one interval goes on past short batches until one removes nothing', async () => {
    // Only the interval is faked: the sweep's own setImmediate between batches runs for real.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const storage = racedStorage(1_000);
    const subject = new SessionSubject(storage, { sweepInterval: 60_000, sweepBatch: 100 });
    const announced: bigint[] = [];
    subject.subscribe({ update: (e) => void (e.type === 'destroyed' && e.reason === 'expired' && announced.push(e.sessionId)) });
    vi.advanceTimersByTime(60_000); // one interval: one sweep
    // The sweep is done when its last batch removed nothing (the old one stopped after the first, 50).
    await vi.waitFor(() => expect(storage.calls.at(-1)).toBe(0), { timeout: 5_000, interval: 5 });
    expect(storage.due.length).toBe(0);
    expect(announced.length).toBe(500);
    expect(storage.calls).toEqual([...Array.from({ length: 10 }, () => 50), 0]);
    await subject.close();
  });
});
