/**
 * GramJS's TelegramClient for the tests that open a session in both clients
 * (cross-client, imported): never connected, its socket refuses to connect, so a test
 * that reached the network would fail here. Apart from helpers.ts so that the mtcute-only
 * tests do not load GramJS.
 */
import { extensions, TelegramClient } from 'telegram';
import { LogLevel } from 'telegram/extensions/Logger.js';
import type { Session } from 'telegram/sessions/index.js';

class OfflineSocket extends extensions.PromisedNetSockets {
  override connect(port: number, ip: string): Promise<unknown> {
    throw new Error(`tests must not connect (attempted ${ip}:${port})`);
  }
}

/** GramJS's TelegramClient on `session`, with a socket that refuses to connect. */
export function gramClient(session: Session): TelegramClient {
  return new TelegramClient(session, 12345, '0123456789abcdef0123456789abcdef', {
    baseLogger: new extensions.Logger(LogLevel.NONE),
    networkSocket: OfflineSocket,
    connectionRetries: 0,
    autoReconnect: false,
  });
}
