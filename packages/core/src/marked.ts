/**
 * Bot API "marked" peer ids: users as themselves, basic chats negated, channels
 * (and supergroups) as -100… i.e. -(10^12 + id). The ranges are TDLib's, so a marked
 * id decodes to exactly one (type, id).
 */
import { InvalidArgumentError } from './errors.js';
import type { PeerType } from './model.js';
import { describeValue } from './validate.js';

/** Largest user id (2^40 - 1). */
export const MAX_USER_ID = 2n ** 40n - 1n;
/** Largest basic-chat id. */
export const MAX_CHAT_ID = 999_999_999_999n;
/** Largest channel id: marked channel ids stay above the secret-chat range. */
export const MAX_CHANNEL_ID = 1_000_000_000_000n - 2n ** 31n;
const ZERO_CHANNEL_ID = -1_000_000_000_000n;

const MAX_ID: Record<PeerType, bigint> = { user: MAX_USER_ID, chat: MAX_CHAT_ID, channel: MAX_CHANNEL_ID };

export interface UnmarkedPeerId {
  type: PeerType;
  id: bigint;
}

/** (type, id) to a Bot API marked id. */
export function toMarkedId(type: PeerType, id: bigint): bigint {
  const max = MAX_ID[type];
  if (max === undefined) throw new InvalidArgumentError(`toMarkedId: type must be 'user', 'chat' or 'channel', got ${describeValue(type)}`);
  if (typeof id !== 'bigint' || id < 1n || id > max) {
    throw new InvalidArgumentError(`toMarkedId: a ${type} id must be a bigint from 1 to ${max}, got ${describeValue(id)}`);
  }
  switch (type) {
    case 'user':
      return id;
    case 'chat':
      return -id;
    case 'channel':
      return ZERO_CHANNEL_ID - id;
  }
}

/** A Bot API marked id (bigint, or a safe-integer number) to (type, id). */
export function fromMarkedId(marked: bigint | number): UnmarkedPeerId {
  let value: bigint;
  if (typeof marked === 'bigint') value = marked;
  else if (typeof marked === 'number' && Number.isSafeInteger(marked)) value = BigInt(marked);
  else throw new InvalidArgumentError(`fromMarkedId: marked id must be a bigint or a safe integer, got ${describeValue(marked)}`);

  if (value >= 1n && value <= MAX_USER_ID) return { type: 'user', id: value };
  if (value <= -1n && value >= -MAX_CHAT_ID) return { type: 'chat', id: -value };
  if (value < ZERO_CHANNEL_ID && value >= ZERO_CHANNEL_ID - MAX_CHANNEL_ID) return { type: 'channel', id: ZERO_CHANNEL_ID - value };
  throw new InvalidArgumentError(`fromMarkedId: ${value} is not a marked user, chat or channel id`);
}
