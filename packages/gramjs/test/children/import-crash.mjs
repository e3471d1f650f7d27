// A GramJS client (attached to a StorageSession over the built @mtstore/gramjs) at the
// point a file download on another DC reaches: GramJS's own _connectSender for DC 4 is
// under way (its promise in client._exportedSenderPromises, as _borrowExportedSender
// puts it; the socket refuses, so it never imports the login) and the sender's new key
// has gone through GramJS's _authKeyCallback (setAuthKey(key, 4) and save(), what
// MTProtoSender does after making a key). Then `key-set` on stdout; the test kills it
// with SIGKILL there. Usage: node import-crash.mjs sqlite <file> | postgres <url> <schema>.
import { writeSync } from 'node:fs';
import { Api, extensions, TelegramClient } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { StorageSession } from '@mtstore/gramjs';
import { crashKey } from './crash-data.mjs';
import { openFromArgs } from '@mtstore/test-adapters/child';

const { storage } = openFromArgs(process.argv.slice(2), 'import');
class OfflineSocket extends extensions.PromisedNetSockets {
  connect(port, ip) {
    throw new Error(`no network here (${ip}:${port})`);
  }
}
const session = new StorageSession(storage, {
  lease: { force: true },
  onError: (error, operation) => {
    writeSync(2, `${operation}: ${String(error)}\n`);
    process.exit(3);
  },
});
const client = session.attach(
  new TelegramClient(session, 12345, '0123456789abcdef0123456789abcdef', {
    baseLogger: new extensions.Logger(LogLevel.NONE),
    networkSocket: OfflineSocket,
    connectionRetries: 0,
    autoReconnect: false,
  }),
);
await session.load();
// The logged-in home DC 2 with its key.
session.setDC(2, '149.154.167.51', 443);
const home = new AuthKey();
await home.setKey(Buffer.from(crashKey(1)));
session.setAuthKey(home);
await session.save();
// help.getConfig's answer, which getDC reads (the client never connected to fetch it).
client._config = new Api.Config({ dcOptions: [new Api.DcOption({ id: 4, ipAddress: '149.154.167.91', port: 443 })] });
const sender = client._createExportedSender(4);
client._exportedSenderPromises.set(4, client._connectSender(sender, 4));
await sender.authKey.setKey(Buffer.from(crashKey(4)));
await client._authKeyCallback(sender.authKey, 4);
writeSync(1, 'key-set\n');
setInterval(() => undefined, 1000);
