/**
 * The peer index's keys against GramJS's own marked ids: markedKey(type, id) must be
 * the key of the id `utils.getPeerId` gives for the peer's Peer object, since
 * getInputEntity looks peers up by the marked id GramJS parses (keyOfMarked).
 */
import { describe, expect, it } from 'vitest';
import { Api, helpers, utils } from 'telegram';
import type { PeerType } from '@mtstore/core';
import { keyOfMarked, markedKey } from '../src/peers.js';

/** GramJS's marked id of (type, id), as a string. */
function gramjsMarkedId(type: PeerType, id: bigint): string {
  const value = helpers.returnBigInt(id);
  if (type === 'user') return utils.getPeerId(new Api.PeerUser({ userId: value }));
  if (type === 'chat') return utils.getPeerId(new Api.PeerChat({ chatId: value }));
  return utils.getPeerId(new Api.PeerChannel({ channelId: value }));
}

/** The key lookups use for a marked-id string: keyOfMarked of its integer when it is one. */
function keyOfString(marked: string): number | string {
  return /^-?[0-9]+$/.test(marked) && BigInt(marked).toString() === marked ? keyOfMarked(BigInt(marked)) : marked;
}

describe('peer index keys', () => {
  it('markedKey is the key of GramJS’s marked id, for every type, across digit counts and the safe-integer edge', () => {
    const ids = [1n, 9n, 10n, 99n, 100n, 123n, 999n, 1000n, 100_123n, 1_234_567_890n, 999_999_999_999n, 1_000_000_000_000n - 2n ** 31n, 2n ** 40n - 1n];
    for (let digits = 1; digits <= 19; digits++) ids.push(10n ** BigInt(digits) - 1n, 10n ** BigInt(digits), 10n ** BigInt(digits) + 7n);
    ids.push(2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n);
    for (const type of ['user', 'chat', 'channel'] as const) {
      for (const id of ids) {
        const marked = gramjsMarkedId(type, id);
        expect(markedKey(type, id), `${type} ${id} (${marked})`).toBe(keyOfString(marked));
      }
    }
  });

  it('keys are numbers for real peers, and tell a channel from a chat whose negated id reads the same', () => {
    expect(markedKey('user', 5n)).toBe(5);
    expect(markedKey('chat', 5n)).toBe(-5);
    expect(markedKey('channel', 1_234_567_890n)).toBe(-1_001_234_567_890);
    // GramJS's own collision ("-100123" is chat 100123 and channel 123) is kept, not resolved differently.
    expect(markedKey('channel', 123n)).toBe(markedKey('chat', 100_123n));
    expect(keyOfMarked(2n ** 60n)).toBe('1152921504606846976');
  });
});
