/**
 * SessionSubject's bus and hooks are checked in the constructor (docs/contract.md §8:
 * bad input is InvalidArgumentError before any I/O). `{ bus: {} }` was taken and its
 * TypeError reported to onBusError every resubscribeDelay for the subject's life;
 * `onObserverError: 'log'` threw inside the report, which swallows hook failures, so
 * every observer error vanished without a word.
 */
import { describe, expect, it } from 'vitest';
import { MemorySessionStorage } from '../../memory/src/index.js';
import { LocalEventChannel, LocalSessionEventBus, SessionSubject } from '../src/index.js';
import { thrown } from './thrown.js';

describe('SessionSubject options', () => {
  it('refuses a bus that is not a SessionEventBus', () => {
    const storage = new MemorySessionStorage();
    for (const bus of [{}, { subscribe: () => undefined }, { publish: () => undefined }, 'bus', 5]) {
      const error = thrown(() => new SessionSubject(storage, { bus: bus as never }));
      expect(error?.code, JSON.stringify(bus)).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).toContain('SessionSubject: options.bus must be a SessionEventBus');
    }
  });

  it('refuses hooks that are not functions, and takes functions', async () => {
    const storage = new MemorySessionStorage();
    for (const hook of ['onObserverError', 'onBusError', 'onSweepError'] as const) {
      for (const value of ['log', 1, {}, true]) {
        const error = thrown(() => new SessionSubject(storage, { [hook]: value } as never));
        expect(error?.code, `${hook}: ${String(value)}`).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message).toContain(`SessionSubject: ${hook} must be a function`);
      }
    }
    const bus = new LocalSessionEventBus(new LocalEventChannel());
    const told: unknown[] = [];
    const subject = new SessionSubject(storage, { bus, onObserverError: (error) => told.push(error), onBusError: () => undefined, onSweepError: () => undefined });
    await subject.ready();
    subject.subscribe({
      update: () => {
        throw new Error('observer failed');
      },
    });
    expect(await subject.createSession(1n, 1n)).toBe(true);
    expect(told.map((error) => (error as Error).message)).toEqual(['observer failed']);
    await subject.close();
    await bus.close();
    await storage.close();
  });
});
