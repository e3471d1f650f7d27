import { describe, expect, it } from 'vitest';
import { CorruptDataError, decodeSessionEvent, encodeSessionEvent, InvalidArgumentError, type SessionEvent } from '../src/index.js';

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
