import { describe, expect, it } from 'vitest';
import { fromMarkedId, InvalidArgumentError, MAX_CHANNEL_ID, MAX_CHAT_ID, MAX_USER_ID, toMarkedId } from '../src/index.js';

describe('Bot API marked ids', () => {
  const cases: [string, 'user' | 'chat' | 'channel', bigint, bigint][] = [
    ['5-digit user', 'user', 12345n, 12345n],
    ['10-digit user', 'user', 1234567890n, 1234567890n],
    ['13-digit user', 'user', 1099511627775n, 1099511627775n],
    ['5-digit chat', 'chat', 12345n, -12345n],
    ['10-digit chat', 'chat', 1234567890n, -1234567890n],
    ['12-digit chat (the largest)', 'chat', 999999999999n, -999999999999n],
    ['5-digit channel', 'channel', 12345n, -1000000012345n],
    ['10-digit channel', 'channel', 1234567890n, -1001234567890n],
    ['12-digit channel (the largest)', 'channel', 997852516352n, -1997852516352n],
  ];

  for (const [what, type, id, marked] of cases) {
    it(`${what}: (${type}, ${id}) <-> ${marked}`, () => {
      expect(toMarkedId(type, id)).toBe(marked);
      expect(fromMarkedId(marked)).toEqual({ type, id });
    });
  }

  it('accepts safe-integer numbers as marked ids', () => {
    expect(fromMarkedId(-1001234567890)).toEqual({ type: 'channel', id: 1234567890n });
    expect(fromMarkedId(777)).toEqual({ type: 'user', id: 777n });
  });

  it('the limits are TDLib’s', () => {
    expect(MAX_USER_ID).toBe(2n ** 40n - 1n);
    expect(MAX_CHAT_ID).toBe(999_999_999_999n);
    expect(MAX_CHANNEL_ID).toBe(997_852_516_352n);
  });

  it('rejects ids outside every range with InvalidArgumentError', () => {
    for (const bad of [0n, 2n ** 40n, -1000000000000n, -1997852516353n, -2000000000001n, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      expect(() => fromMarkedId(bad as bigint), String(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => toMarkedId('user', 0n)).toThrow(InvalidArgumentError);
    expect(() => toMarkedId('user', 2n ** 40n)).toThrow(InvalidArgumentError);
    expect(() => toMarkedId('chat', 10n ** 12n)).toThrow(InvalidArgumentError);
    expect(() => toMarkedId('channel', MAX_CHANNEL_ID + 1n)).toThrow(InvalidArgumentError);
    expect(() => toMarkedId('bot' as 'user', 1n)).toThrow(InvalidArgumentError);
    expect(() => toMarkedId('user', 5 as unknown as bigint)).toThrow(InvalidArgumentError);
  });
});
