import { afterEach, describe, expect, test, vi } from 'vitest';
import { CallsInFlight, whenSilent } from '../src/index.js';

/** A promise and its settle functions. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Whether `promise` settled, and to what, after the microtasks queued so far. */
async function peek<T>(promise: Promise<T>): Promise<{ settled: boolean; value?: T }> {
  let state: { settled: boolean; value?: T } = { settled: false };
  void promise.then((value) => (state = { settled: true, value }));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return state;
}

describe('CallsInFlight (what close() lets finish)', () => {
  afterEach(() => vi.useRealTimers());

  test('track returns the work itself and counts it until it settles, resolved or rejected', async () => {
    const calls = new CallsInFlight();
    const a = deferred<number>();
    const b = deferred();
    expect(calls.track(a.promise)).toBe(a.promise);
    const tracked = calls.track(b.promise);
    expect(calls.size).toBe(2);
    a.resolve(1);
    await a.promise;
    await Promise.resolve();
    expect(calls.size).toBe(1);
    b.reject(new Error('no'));
    await expect(tracked).rejects.toThrow('no');
    await Promise.resolve();
    expect(calls.size).toBe(0);
  });

  test('settled() resolves true at once with nothing in flight, else once the last call settles', async () => {
    const calls = new CallsInFlight();
    expect(await calls.settled()).toBe(true);
    const a = deferred();
    const b = deferred();
    calls.track(a.promise);
    calls.track(b.promise).catch(() => undefined);
    const waiting = calls.settled();
    a.resolve();
    expect((await peek(waiting)).settled).toBe(false);
    b.reject(new Error('lost'));
    expect(await waiting).toBe(true);
  });

  test('settled(quietMs) resolves false once that long passes without a call settling', async () => {
    vi.useFakeTimers();
    const calls = new CallsInFlight();
    calls.track(deferred().promise);
    const waiting = calls.settled(1_000);
    await vi.advanceTimersByTimeAsync(999);
    expect((await peek(waiting)).settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    // Decided after the next poll phase (a setImmediate): replies read there would count.
    await vi.runOnlyPendingTimersAsync();
    expect(await peek(waiting)).toEqual({ settled: true, value: false });
  });

  test('a call settling restarts the quiet period: a database that keeps answering is never cut off', async () => {
    vi.useFakeTimers();
    const calls = new CallsInFlight();
    const steps = Array.from({ length: 5 }, () => deferred());
    for (const step of steps) calls.track(step.promise);
    const waiting = calls.settled(1_000);
    // One call settles every 800 ms: 4 s in all, never 1 s without an answer.
    for (const step of steps) {
      await vi.advanceTimersByTimeAsync(800);
      expect((await peek(waiting)).settled).toBe(false);
      step.resolve();
    }
    expect(await waiting).toBe(true);
  });

  test('without quietMs it waits as long as the calls take', async () => {
    vi.useFakeTimers();
    const calls = new CallsInFlight();
    const a = deferred();
    calls.track(a.promise);
    const waiting = calls.settled();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect((await peek(waiting)).settled).toBe(false);
    a.resolve();
    expect(await waiting).toBe(true);
  });

  test('add() and done() count a call the caller settles itself, as track does', async () => {
    const calls = new CallsInFlight();
    calls.add();
    calls.add();
    const waiting = calls.settled();
    calls.done();
    expect([calls.size, (await peek(waiting)).settled]).toEqual([1, false]);
    const { done } = calls; // passed around as a callback, unbound
    done();
    expect(await waiting).toBe(true);
  });

  test('settledWithin(timeoutMs) resolves false at that time even while calls keep settling', async () => {
    vi.useFakeTimers();
    const calls = new CallsInFlight();
    const steps = Array.from({ length: 5 }, () => deferred());
    for (const step of steps) calls.track(step.promise);
    const waiting = calls.settledWithin(1_000);
    // One call settles every 300 ms: settled(1_000) would go on waiting, this one stops at 1 s.
    for (const step of steps.slice(0, 3)) {
      await vi.advanceTimersByTimeAsync(300);
      step.resolve();
    }
    await vi.advanceTimersByTimeAsync(99);
    expect((await peek(waiting)).settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await peek(waiting)).toEqual({ settled: true, value: false });
    expect(calls.size).toBe(2);
  });

  test('settledWithin(timeoutMs) resolves true as soon as the last call settles, and leaves no timer', async () => {
    vi.useFakeTimers();
    const calls = new CallsInFlight();
    expect(await calls.settledWithin(0)).toBe(true);
    const a = deferred();
    calls.track(a.promise);
    const waiting = calls.settledWithin(60_000);
    await vi.advanceTimersByTimeAsync(10);
    a.resolve();
    expect(await peek(waiting)).toEqual({ settled: true, value: true });
    expect(vi.getTimerCount()).toBe(0);
  });

  test('trackAbandonable settles as its work does and counts it until then', async () => {
    const calls = new CallsInFlight();
    const a = deferred<number>();
    const b = deferred();
    const first = calls.trackAbandonable(a.promise);
    const second = calls.trackAbandonable(b.promise);
    expect(first).not.toBe(a.promise);
    expect(calls.size).toBe(2);
    const waiting = calls.settled();
    a.resolve(7);
    expect(await first).toBe(7);
    expect([calls.size, (await peek(waiting)).settled]).toEqual([1, false]);
    b.reject(new Error('lost'));
    await expect(second).rejects.toThrow('lost');
    expect(calls.size).toBe(0);
    expect(await waiting).toBe(true);
  });

  test('abandon() rejects each abandonable call still in flight with an error of its own, stops counting them, and leaves the others', async () => {
    const calls = new CallsInFlight();
    const done = deferred<string>();
    const stuck = [deferred<string>(), deferred<string>()];
    const plain = deferred();
    const finished = calls.trackAbandonable(done.promise);
    const abandoned = stuck.map((call) => calls.trackAbandonable(call.promise));
    calls.track(plain.promise);
    done.resolve('ok');
    expect(await finished).toBe('ok');
    let made = 0;
    calls.abandon(() => new Error(`closed ${++made}`));
    expect(made).toBe(2);
    expect(calls.size).toBe(1);
    await expect(abandoned[0]).rejects.toThrow('closed 1');
    await expect(abandoned[1]).rejects.toThrow('closed 2');
    // The work settling later changes nothing: its caller already has its answer, the count stays.
    stuck[0]?.resolve('late');
    stuck[1]?.reject(new Error('late'));
    await Promise.allSettled(stuck.map((call) => call.promise));
    await Promise.resolve();
    expect(calls.size).toBe(1);
    await expect(abandoned[0]).rejects.toThrow('closed 1');
    const waiting = calls.settled();
    plain.resolve();
    expect(await waiting).toBe(true);
    expect(calls.size).toBe(0);
  });
});

describe('CallsInFlight marks: abandon(error, which) (TypeORM: the calls on a pool the application ended)', () => {
  afterEach(() => vi.useRealTimers());

  test('abandon(error, which) rejects only the abandonable calls whose mark it picks; the others settle as their work does', async () => {
    const calls = new CallsInFlight<object>();
    const [old, current] = [{}, {}];
    const first = deferred<string>();
    const second = deferred<string>();
    const third = deferred<string>();
    const fourth = deferred<string>();
    const onOld = [calls.trackAbandonable(first.promise, old), calls.trackAbandonable(second.promise, old)];
    const onCurrent = calls.trackAbandonable(third.promise, current);
    const unmarked = calls.trackAbandonable(fourth.promise);
    const asked: (object | undefined)[] = [];
    let made = 0;
    calls.abandon(
      () => new Error(`ended ${++made}`),
      (mark) => {
        asked.push(mark);
        return mark === old;
      },
    );
    // Each call in flight asked once, its own mark (undefined when none was given).
    expect(asked.filter((mark) => mark === old)).toHaveLength(2);
    expect(asked.filter((mark) => mark === current)).toHaveLength(1);
    expect(asked.filter((mark) => mark === undefined)).toHaveLength(1);
    expect(made).toBe(2);
    expect(calls.size).toBe(2);
    await expect(onOld[0]).rejects.toThrow('ended 1');
    await expect(onOld[1]).rejects.toThrow('ended 2');
    third.resolve('on the new pool');
    fourth.reject(new Error('its own failure'));
    expect(await onCurrent).toBe('on the new pool');
    await expect(unmarked).rejects.toThrow('its own failure');
    expect(calls.size).toBe(0);
    // Work of an abandoned call settling later changes nothing, the count included.
    first.resolve('late');
    await first.promise;
    await Promise.resolve();
    expect(calls.size).toBe(0);
    await expect(onOld[0]).rejects.toThrow('ended 1');
  });

  test('a settled(quietMs) waiting resolves true once abandon(error, which) took the last calls, and abandoning restarts the quiet period', async () => {
    vi.useFakeTimers();
    const calls = new CallsInFlight<string>();
    const a = calls.trackAbandonable(deferred().promise, 'a').catch((error: Error) => error.message);
    const b = calls.trackAbandonable(deferred().promise, 'b').catch((error: Error) => error.message);
    const waiting = calls.settled(1_000);
    await vi.advanceTimersByTimeAsync(900);
    calls.abandon(() => new Error('gone'), (mark) => mark === 'a');
    expect(await a).toBe('gone');
    // 900 ms after the call abandoned: the period counts from it, not from settled().
    await vi.advanceTimersByTimeAsync(900);
    expect((await peek(waiting)).settled).toBe(false);
    calls.abandon(() => new Error('gone too'), (mark) => mark === 'b');
    expect(await b).toBe('gone too');
    expect(await peek(waiting)).toEqual({ settled: true, value: true });
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('whenSilent (the quiet-period watch of close(): CallsInFlight.settled(quietMs), mongo)', () => {
  afterEach(() => vi.useRealTimers());

  test('calls onSilent once quietMs pass without news, after one more poll phase; news restarts the period', async () => {
    vi.useFakeTimers();
    let heard = Date.now();
    let silent = 0;
    whenSilent(1_000, () => heard, () => silent++);
    await vi.advanceTimersByTimeAsync(600);
    heard = Date.now();
    await vi.advanceTimersByTimeAsync(999);
    expect(silent).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    // Due, but decided in a setImmediate: news read in that poll phase keeps it going.
    expect(silent).toBe(0);
    heard = Date.now();
    await vi.runOnlyPendingTimersAsync();
    expect(silent).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.runOnlyPendingTimersAsync();
    expect(silent).toBe(1);
    // Once.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(silent).toBe(1);
  });

  test('a tick that ran late (the process was busy) restarts the quiet period from that tick', async () => {
    vi.useFakeTimers();
    const heard = Date.now();
    let silent = 0;
    whenSilent(1_000, () => heard, () => silent++);
    // The event loop held for 5 s: the clock moved, no timer ran.
    vi.setSystemTime(Date.now() + 5_000);
    await vi.advanceTimersByTimeAsync(100);
    await vi.runOnlyPendingTimersAsync();
    expect(silent).toBe(0);
    await vi.advanceTimersByTimeAsync(850);
    expect(silent).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    await vi.runOnlyPendingTimersAsync();
    expect(silent).toBe(1);
  });

  test('stopped, it never calls onSilent and leaves no timer', async () => {
    vi.useFakeTimers();
    let silent = 0;
    const stop = whenSilent(1_000, () => 0, () => silent++);
    await vi.advanceTimersByTimeAsync(500);
    stop();
    stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(silent).toBe(0);
  });
});
