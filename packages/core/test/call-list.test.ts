/**
 * CallList: the calls an adapter may have to settle all at once (CallsInFlight.abandon,
 * redis' watch of an application's client). A call is held once, let go once, and
 * drain() hands back those still held in the order they were added, the list empty first
 * (releaseWhere: those of them it picks).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallList, type ListedCall } from '../src/call-list.js';

class Call implements ListedCall {
  listed = true;
  prev: ListedCall | undefined = undefined;
  next: ListedCall | undefined = undefined;
  constructor(readonly n: number) {}
}

describe('CallList', () => {
  it('behaves as an insertion-ordered set of the calls held, whatever is added and released', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant('add' as const), fc.nat(40)), { maxLength: 80 }), (steps) => {
        const list = new CallList<Call>();
        const model: Call[] = [];
        const made: Call[] = [];
        for (const step of steps) {
          if (step === 'add') {
            const call = new Call(made.length);
            made.push(call);
            model.push(call);
            expect(list.add(call)).toBe(call);
          } else {
            const call = made[step];
            if (call === undefined) continue;
            const at = model.indexOf(call);
            expect(list.release(call)).toBe(at >= 0);
            if (at >= 0) model.splice(at, 1);
            // Let go: no links left to keep another call alive.
            expect(call.prev).toBeUndefined();
            expect(call.next).toBeUndefined();
          }
          expect(list.size).toBe(model.length);
        }
        const drained = list.drain();
        expect(drained.map((c) => c.n)).toEqual(model.map((c) => c.n));
        expect(list.size).toBe(0);
        for (const call of drained) expect(list.release(call)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('releaseWhere() lets go of the calls picked, in the order added, and keeps the others in theirs', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 40 }), fc.array(fc.nat(40), { maxLength: 10 }), (picks, released) => {
        const list = new CallList<Call>();
        const made = picks.map((_, n) => list.add(new Call(n)));
        for (const n of released) if (made[n] !== undefined) list.release(made[n]);
        const held = made.filter((call) => call.listed);
        const seen: number[] = [];
        const taken = list.releaseWhere((call) => {
          seen.push(call.n);
          return picks[call.n] === true;
        });
        // Each call held is asked once; those let go before are not.
        expect(seen.sort((a, b) => a - b)).toEqual(held.map((c) => c.n));
        expect(taken.map((c) => c.n)).toEqual(held.filter((c) => picks[c.n]).map((c) => c.n));
        for (const call of taken) expect([call.listed, call.prev, call.next]).toEqual([false, undefined, undefined]);
        expect(list.size).toBe(held.length - taken.length);
        expect(list.drain().map((c) => c.n)).toEqual(held.filter((c) => !picks[c.n]).map((c) => c.n));
      }),
      { numRuns: 500 },
    );
  });

  it('drain() empties the list before the caller settles anything: a call added meanwhile is held anew', () => {
    const list = new CallList<Call>();
    list.add(new Call(1));
    list.add(new Call(2));
    const drained = list.drain();
    list.add(new Call(3));
    expect(drained.map((c) => c.n)).toEqual([1, 2]);
    expect(list.drain().map((c) => c.n)).toEqual([3]);
  });
});
