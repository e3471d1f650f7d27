/**
 * mtcute's `current_user` kv entry and mtstore's `SelfUser`. The layout is the one
 * mtcute's CurrentUserService writes (version 1, flags bot/usernames/premium, int53
 * user id, usernames); mtcute does not export that service's serializer, so it is
 * written here with mtcute's own TL primitives and checked against the service
 * itself in the tests (a real client stores its user through this bridge).
 */
import type { SelfUser } from '@mtstore/core';
import { TlBinaryReader, TlBinaryWriter, TlSerializationCounter } from '@mtcute/core/utils.js';
import { storableUsernames } from './peer-info.js';

/** mtcute's `CurrentUserInfo`. */
export interface CurrentUserInfo {
  userId: number;
  isBot: boolean;
  isPremium: boolean;
  usernames: string[];
}

const FLAG_BOT = 1;
const FLAG_USERNAMES = 2;
const FLAG_PREMIUM = 4;

/** Empty bytes stand for "logged out", as mtcute writes them. */
export function serializeCurrentUser(info: CurrentUserInfo | null): Uint8Array {
  if (info === null) return new Uint8Array(0);
  const hasUsernames = info.usernames.length > 0;
  let overhead = hasUsernames ? 4 : 0;
  for (const username of info.usernames) overhead += TlSerializationCounter.countBytesOverhead(username.length) + username.length;
  const writer = TlBinaryWriter.manual(16 + overhead);
  writer.int(1);
  writer.int((info.isBot ? FLAG_BOT : 0) | (hasUsernames ? FLAG_USERNAMES : 0) | (info.isPremium ? FLAG_PREMIUM : 0));
  writer.int53(info.userId);
  if (hasUsernames) {
    writer.int(info.usernames.length);
    for (const username of info.usernames) writer.string(username);
  }
  return writer.result();
}

/** null for empty bytes (logged out) or an unknown version. */
export function parseCurrentUser(data: Uint8Array): CurrentUserInfo | null {
  if (data.length === 0) return null;
  const reader = TlBinaryReader.manual(data);
  if (reader.int() !== 1) return null;
  const flags = reader.int();
  const userId = reader.int53();
  const usernames: string[] = [];
  if ((flags & FLAG_USERNAMES) !== 0) {
    const count = reader.int();
    for (let i = 0; i < count; i++) usernames.push(reader.string());
  }
  return { userId, isBot: (flags & FLAG_BOT) !== 0, isPremium: (flags & FLAG_PREMIUM) !== 0, usernames };
}

/**
 * The typed user for mtcute's info. Usernames core would refuse are left out: mtcute's
 * `setMyUsername(null)` keeps `''` in place of the removed username, and a user core
 * refuses would fail the whole `update()` it goes in — the user stayed the old one for
 * every other client, and after a restart for mtcute too, and a home DC written in the
 * same update (a migration) was lost with it.
 */
export function selfUserFromInfo(info: CurrentUserInfo, dcId: number): SelfUser {
  const user: SelfUser = { id: BigInt(info.userId), dcId, bot: info.isBot, premium: info.isPremium };
  const usernames = storableUsernames(info.usernames);
  if (usernames.length > 0) user.usernames = [...usernames];
  return user;
}

export function infoFromSelfUser(user: SelfUser): CurrentUserInfo {
  return { userId: Number(user.id), isBot: user.bot, isPremium: user.premium === true, usernames: [...(user.usernames ?? [])] };
}
