import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackoffTimer } from '../src/index.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('BackoffTimer', () => {
  it('runs one round at a time, each after its delay jittered between half and all of it, the delay doubling up to the cap', () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const runs: number[] = [];
    const start = Date.now();
    const timer = new BackoffTimer(() => runs.push(Date.now() - start), 100, 500);
    for (let round = 0; round < 5; round++) {
      timer.soon();
      timer.soon(); // one at a time: a second call while one is set does nothing
      expect(timer.pending).toBe(true);
      vi.runOnlyPendingTimers();
      expect(timer.pending).toBe(false);
    }
    // Delays 100, 200, 400, then the cap: 500, 500; random 0.5: three quarters of each.
    expect(runs.map((at, i) => at - (runs[i - 1] ?? 0))).toEqual([75, 150, 300, 375, 375]);
  });

  it('waits at least half the delay; reset() and cancel() start again from the first delay, cancel() drops the round', () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0);
    let ran = 0;
    const timer = new BackoffTimer(() => ran++, 100, 5_000);
    timer.soon();
    vi.advanceTimersByTime(49);
    expect(ran).toBe(0);
    vi.advanceTimersByTime(1);
    expect(ran).toBe(1);
    timer.soon(); // 200: 100 at random 0
    timer.cancel();
    vi.advanceTimersByTime(10_000);
    expect(ran).toBe(1);
    timer.soon(); // from 100 again: 50
    vi.advanceTimersByTime(50);
    expect(ran).toBe(2);
    timer.reset();
    timer.soon();
    vi.advanceTimersByTime(50);
    expect(ran).toBe(3);
  });

  it('never keeps a process alive: its timer is unref()ed', () => {
    const timer = new BackoffTimer(() => {}, 60_000, 60_000);
    const spy = vi.spyOn(globalThis, 'setTimeout');
    timer.soon();
    const handle = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(handle.hasRef()).toBe(false);
    timer.cancel();
  });
});
