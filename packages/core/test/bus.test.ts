import { describe, expect, it } from 'vitest';
import { CorruptDataError, decodeSessionEvent, encodeSessionEvent, heartbeatTicks, InvalidArgumentError, type SessionEvent } from '../src/index.js';

describe('session events on the wire', () => {
  it('round-trip every extreme id as decimal strings, ids only', () => {
    for (const id of [-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n]) {
      const event: SessionEvent = { type: 'destroyed', authKeyId: id, sessionId: -(id + 1n), origin: 'node' };
      const text = encodeSessionEvent(event);
      expect(text).toContain(`"a":"${id}"`);
      expect(decodeSessionEvent(text)).toEqual(event);
    }
  });

  it('encoding an invalid event is InvalidArgumentError; decoding garbage is CorruptDataError', () => {
    expect(() => encodeSessionEvent({ type: 'created', authKeyId: 1 as unknown as bigint, sessionId: 1n, origin: 'x' })).toThrow(InvalidArgumentError);
    for (const garbage of ['', 'null', '{}', '{"t":"c","a":"1","s":"1"}', '{"t":"x","a":"1","s":"1","o":"n"}', '{"t":"c","a":"1e3","s":"1","o":"n"}', '{"t":"c","a":"99999999999999999999","s":"1","o":"n"}']) {
      expect(() => decodeSessionEvent(garbage), garbage).toThrow(CorruptDataError);
    }
  });
});

describe('heartbeatTicks', () => {
  it('tells a tick that came on time from one that came over half an interval late', () => {
    const wait = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // the event loop blocked
      }
    };
    // Late means over 1.5 intervals (600 ms here); the margins allow for a preempted test process.
    const onTime = heartbeatTicks(400);
    wait(300);
    expect(onTime(), 'after 300 ms of a 400 ms interval').toBe(true);
    wait(700);
    expect(onTime(), 'after 700 ms').toBe(false);
    // Each tick is timed from the one before, not from the start.
    wait(400);
    expect(onTime(), 'after 400 ms again').toBe(true);
  });
});
