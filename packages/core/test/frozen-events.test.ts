// docs/contract.md §7: events a bus delivers are frozen. The Redis and MongoDB buses hand
// every listener the object decodeSessionEvent returns (one decode per message), so that
// object must be frozen, on the pattern's path and on the JSON.parse path alike.
import { describe, expect, it } from 'vitest';
import { decodeSessionEvent, encodeSessionEvent, type SessionEvent } from '../src/index.js';

const texts: [string, string][] = [
  ['created, read by the pattern', encodeSessionEvent({ type: 'created', authKeyId: 1n, sessionId: -2n, origin: 'node-a' })],
  ['destroyed with a reason, read by the pattern', encodeSessionEvent({ type: 'destroyed', authKeyId: 2n ** 63n - 1n, sessionId: 0n, origin: 'node-a', reason: 'expired' })],
  ['destroyed without a reason (an older writer), read by the pattern', '{"t":"d","a":"3","s":"4","o":"old"}'],
  ['an origin JSON escapes, read by JSON.parse', encodeSessionEvent({ type: 'destroyed', authKeyId: 5n, sessionId: 6n, origin: 'quote " and \\', reason: 'explicit' })],
  ['keys in another order, read by JSON.parse', '{"o":"x","s":"8","a":"7","t":"c"}'],
];

describe('decodeSessionEvent', () => {
  it.each(texts)('returns a frozen event: %s', (_, text) => {
    const event = decodeSessionEvent(text);
    const before = { ...event };
    expect(Object.isFrozen(event)).toBe(true);
    // Test modules are strict: a write to a frozen object throws instead of doing nothing.
    const target = event as unknown as Record<string, unknown>;
    expect(() => (target.origin = 'changed')).toThrow(TypeError);
    expect(() => (target.sessionId = 99n)).toThrow(TypeError);
    expect(() => (target.extra = 1)).toThrow(TypeError);
    expect(() => delete target.type).toThrow(TypeError);
    expect(event).toStrictEqual(before);
  });

  it('a listener that writes to the decoded event leaves the next listener’s event as sent', () => {
    // What a bus does with one message: decode it once and call each listener with it.
    const sent: SessionEvent = { type: 'destroyed', authKeyId: 10n, sessionId: 11n, origin: 'node-b', reason: 'explicit' };
    const heard: SessionEvent[] = [];
    const listeners = [
      (e: SessionEvent) => {
        try {
          (e as { origin: string }).origin = 'changed by an observer';
        } catch {
          // The write is refused; the observer goes on.
        }
      },
      (e: SessionEvent) => void heard.push({ ...e }),
    ];
    const event = decodeSessionEvent(encodeSessionEvent(sent));
    for (const listener of listeners) listener(event);
    expect(heard).toEqual([sent]);
  });
});
