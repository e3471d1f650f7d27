/**
 * Real GramJS objects for the tests: a TelegramClient that cannot reach the network
 * (its socket refuses to connect, and the tests never call connect()/start()), and
 * users, chats and channels built with telegram's own Api classes.
 */
import { Api, extensions, helpers, TelegramClient } from 'telegram';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import type { Session } from 'telegram/sessions/index.js';

/** A socket that refuses every connection: a test that reached the network would fail here. */
class OfflineSocket extends extensions.PromisedNetSockets {
  override connect(port: number, ip: string): Promise<unknown> {
    throw new Error(`tests must not connect (attempted ${ip}:${port})`);
  }
}

export function offlineClient(session: Session): TelegramClient {
  return new TelegramClient(session, 12345, '0123456789abcdef0123456789abcdef', {
    baseLogger: new extensions.Logger(LogLevel.NONE),
    networkSocket: OfflineSocket,
    connectionRetries: 0,
    autoReconnect: false,
  });
}

export interface UserSpec {
  id: number | bigint;
  accessHash?: bigint;
  username?: string;
  phone?: string;
  firstName?: string;
  lastName?: string;
  self?: boolean;
  bot?: boolean;
  min?: boolean;
  extraUsernames?: string[];
}

export function user(spec: UserSpec): Api.User {
  return new Api.User({
    id: helpers.returnBigInt(BigInt(spec.id)),
    accessHash: helpers.returnBigInt(spec.accessHash ?? BigInt(spec.id) * 7n + 3n),
    firstName: spec.firstName ?? `User ${spec.id}`,
    lastName: spec.lastName,
    username: spec.username,
    phone: spec.phone,
    self: spec.self,
    bot: spec.bot,
    min: spec.min,
    usernames: spec.extraUsernames?.map((username) => new Api.Username({ username, active: true })),
  });
}

export function chat(id: number, title = `Chat ${id}`): Api.Chat {
  return new Api.Chat({ id: helpers.returnBigInt(id), title, photo: new Api.ChatPhotoEmpty(), participantsCount: 3, date: 1_700_000_000, version: 1 });
}

export function channel(id: bigint, username?: string, title = `Channel ${id}`): Api.Channel {
  return new Api.Channel({
    id: helpers.returnBigInt(id),
    accessHash: helpers.returnBigInt(id * 11n + 5n),
    title,
    username,
    photo: new Api.ChatPhotoEmpty(),
    date: 1_700_000_000,
    broadcast: true,
  });
}

/** A GramJS AuthKey holding `bytes`, as the client's MTProtoSender makes them. */
export async function gramKey(bytes: Uint8Array): Promise<AuthKey> {
  const key = new AuthKey();
  await key.setKey(Buffer.from(bytes));
  return key;
}
