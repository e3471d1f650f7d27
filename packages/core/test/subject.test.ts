import { describe, expect, it } from 'vitest';
import {
  LocalEventChannel,
  LocalSessionEventBus,
  SessionSubject,
  StorageClosedError,
  type SessionEvent,
  type SessionEventBus,
  type SessionStorageProtocol,
} from '../src/index.js';

/** A tiny in-memory protocol: enough to watch the subject, without the memory adapter. */
function storage(): SessionStorageProtocol {
  const set = new Set<string>();
  return {
    createSession: async (a, s) => (set.has(`${a}/${s}`) ? false : (set.add(`${a}/${s}`), true)),
    hasSession: async (a, s) => set.has(`${a}/${s}`),
    destroySession: async (a, s) => set.delete(`${a}/${s}`),
    listSessions: async () => [],
    destroyAllSessions: async () => [],
    close: async () => {},
  };
}

describe('SessionSubject', () => {
  it('reports a failing publish through onBusError and still resolves the caller', async () => {
    const failures: unknown[] = [];
    const bus: SessionEventBus = {
      publish: async () => {
        throw new Error('bus down');
      },
      subscribe: async () => async () => {},
      close: async () => {},
    };
    const subject = new SessionSubject(storage(), { bus, onBusError: (error) => failures.push(error) });
    await subject.ready();
    expect(await subject.createSession(1n, 1n)).toBe(true);
    expect(failures.map((e) => (e as Error).message)).toEqual(['bus down']);
  });

  it('a batching bus whose one statement failed (one error for all its publishes) is reported once, with the first event; distinct failures each', async () => {
    let shared: Error | undefined;
    const bus: SessionEventBus = {
      // As the PostgreSQL bus: publishes made together go in one statement and share its failure.
      publish: async () => {
        const error = (shared ??= new Error('NOTIFY of 3 events failed'));
        await Promise.resolve();
        shared = undefined;
        throw error;
      },
      subscribe: async () => async () => {},
      close: async () => {},
    };
    const removed = [7n, 8n, 9n];
    const reported: Array<[unknown, SessionEvent | undefined]> = [];
    const subject = new SessionSubject({ ...storage(), destroyAllSessions: async () => removed }, { bus, onBusError: (error, event) => reported.push([error, event]) });
    await subject.ready();
    expect(await subject.destroyAllSessions(1n)).toEqual(removed);
    expect(reported).toHaveLength(1);
    expect((reported[0]?.[0] as Error).message).toBe('NOTIFY of 3 events failed');
    expect(reported[0]?.[1]?.sessionId).toBe(7n);
    // The next failure is a new error: told again.
    await subject.destroyAllSessions(1n);
    expect(reported).toHaveLength(2);
    // A bus that fails each publish with its own error is told about each.
    const each: unknown[] = [];
    const plain = new SessionSubject({ ...storage(), destroyAllSessions: async () => removed }, {
      bus: { ...bus, publish: async () => Promise.reject(new Error('down')) },
      onBusError: (error) => each.push(error),
    });
    await plain.destroyAllSessions(1n);
    expect(each).toHaveLength(3);
    await subject.close();
    await plain.close();
  });

  it('ready() rejects when the bus subscription fails, without an unhandled rejection', async () => {
    const reported: unknown[] = [];
    const bus: SessionEventBus = {
      publish: async () => {},
      subscribe: async () => {
        throw new Error('cannot subscribe');
      },
      close: async () => {},
    };
    const subject = new SessionSubject(storage(), { bus, onBusError: (error) => reported.push(error) });
    await expect(subject.ready()).rejects.toThrow('cannot subscribe');
    expect(reported).toHaveLength(1);
    await subject.close();
  });

  it('a subscription that failed at start is tried again until it works: the subject then hears other nodes', async () => {
    const channel = new LocalEventChannel();
    const real = new LocalSessionEventBus(channel);
    let failures = 2;
    // The bus's database is down for the first two attempts, then back.
    const flaky: SessionEventBus = {
      publish: (event) => real.publish(event),
      subscribe: async (listener, options) => {
        if (failures-- > 0) throw new Error('bus database down');
        return real.subscribe(listener, options);
      },
      close: () => real.close(),
    };
    const reported: string[] = [];
    const subject = new SessionSubject(storage(), { bus: flaky, resubscribeDelay: 5, onBusError: (error) => reported.push((error as Error).message) });
    await expect(subject.ready()).rejects.toThrow('bus database down');
    const seen: SessionEvent[] = [];
    subject.subscribe({ update: (event) => void seen.push(event) });
    const other = new SessionSubject(storage(), { bus: new LocalSessionEventBus(channel), id: 'node-b' });
    for (let i = 0; i < 100 && reported.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await subject.ready();
    expect(reported).toEqual(['bus database down', 'bus database down']);
    await other.createSession(4n, 2n);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen.map((e) => `${e.type} ${e.origin}`)).toEqual(['created node-b']);
    await subject.close();
    await other.close();
  });

  it('close() stops the retries of a subscription that keeps failing', async () => {
    let attempts = 0;
    const bus: SessionEventBus = {
      publish: async () => {},
      subscribe: async () => {
        attempts++;
        throw new Error('down');
      },
      close: async () => {},
    };
    const subject = new SessionSubject(storage(), { bus, resubscribeDelay: 5, onBusError: () => {} });
    await new Promise((resolve) => setTimeout(resolve, 30));
    await subject.close();
    const after = attempts;
    expect(after).toBeGreaterThan(1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(attempts).toBe(after);
  });

  it('a subject closed before its subscription is live unsubscribes when it goes live', async () => {
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    const subject = new SessionSubject(storage(), { bus });
    await subject.close();
    expect(channel.subscriptions.size).toBe(0);
    await expect(subject.createSession(1n, 1n)).rejects.toBeInstanceOf(StorageClosedError);
  });

  it('close() waits for the calls and remote deliveries in flight: each settles, its events delivered and published, and nothing reaches an observer after close() resolves', async () => {
    const channel = new LocalEventChannel();
    const bus = new LocalSessionEventBus(channel);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow: SessionStorageProtocol = {
      ...storage(),
      createSession: async () => (await gate, true),
      destroySession: async () => (await gate, true),
      destroyAllSessions: async () => (await gate, [5n, 6n]),
      expireSessions: async () => (await gate, [{ authKeyId: 1n, sessionId: 7n }]),
    };
    const busErrors: unknown[] = [];
    const subject = new SessionSubject(slow, { bus, id: 'n1', onBusError: (error) => busErrors.push(error) });
    await subject.ready();
    let closed = false;
    const late: string[] = [];
    const seen: string[] = [];
    let asyncObserverDone = 0;
    subject.subscribe({ update: (event) => void (closed ? late : seen).push(`${event.type} ${event.sessionId} ${event.origin}`) });
    subject.subscribe({
      update: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        asyncObserverDone++;
      },
    });
    const remote = new LocalSessionEventBus(channel);
    const calls = [subject.createSession(1n, 1n), subject.destroySession(1n, 2n), subject.destroyAllSessions(1n), subject.expireSessions(10)];
    // A remote event heard before close(): its delivery (the async observer too) is waited for.
    await remote.publish({ type: 'created', authKeyId: 2n, sessionId: 3n, origin: 'n2' });
    await Promise.resolve();
    const closing = subject.close().then(() => (closed = true));
    setTimeout(release, 10);
    await closing;
    // The bus is closed right after, as an application does: no publish of the calls fails on it.
    await bus.close();
    const settled = await Promise.allSettled(calls);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(seen.sort()).toEqual(['created 1 n1', 'created 3 n2', 'destroyed 2 n1', 'destroyed 5 n1', 'destroyed 6 n1', 'destroyed 7 n1']);
    expect(asyncObserverDone).toBe(6);
    expect(late).toEqual([]);
    expect(busErrors).toEqual([]);
    await remote.close();
  });

  it('events handed to observers are frozen: one observer cannot change what the next sees', async () => {
    const subject = new SessionSubject(storage(), { id: 'n1' });
    const seen: SessionEvent[] = [];
    let mutationFailed = false;
    subject.subscribe({
      update(event) {
        try {
          (event as { sessionId: bigint }).sessionId = 99n;
        } catch {
          mutationFailed = true;
        }
      },
    });
    subject.subscribe({ update: (event) => void seen.push(event) });
    await subject.createSession(1n, 2n);
    expect(mutationFailed).toBe(true);
    expect(seen[0]?.sessionId).toBe(2n);
  });

  it('an observer unsubscribed during a dispatch gets nothing more; one subscribed during it gets the next event', async () => {
    const subject = new SessionSubject(storage(), { id: 'n1' });
    const late: SessionEvent[] = [];
    const removed: SessionEvent[] = [];
    const lateObserver = { update: (event: SessionEvent) => void late.push(event) };
    const removedObserver = { update: (event: SessionEvent) => void removed.push(event) };
    subject.subscribe({
      update() {
        subject.unsubscribe(removedObserver);
        subject.subscribe(lateObserver);
      },
    });
    subject.subscribe(removedObserver);
    await subject.createSession(1n, 2n);
    expect(removed).toEqual([]);
    expect(late).toEqual([]);
    await subject.createSession(1n, 3n);
    expect(removed).toEqual([]);
    expect(late.map((e) => e.sessionId)).toEqual([3n]);
  });

  it('rejects an observer without update() and an invalid id', () => {
    const subject = new SessionSubject(storage());
    expect(() => subject.subscribe({} as never)).toThrow('observer must have an update(event) method');
    expect(() => new SessionSubject(storage(), { id: '' })).toThrow('id must be a non-empty string');
  });
});
