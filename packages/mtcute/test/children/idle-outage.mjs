// An mtcute client that goes idle in a database outage, through the built @mtstore/mtcute
// (@mtcute/node's BaseTelegramClient, never connected, no lease): it loads the session,
// stores DC 2 and an update state, prints `ready`, and on `go` (sent once the test took
// the database away) sets a newer state and saves — the save rejects — and prints
// `failed <code>`. Then it does nothing more and leaves its storage open: the driver's
// background save, refused for as long as the outage lasts, must not keep the process
// alive, so it exits by itself. Usage: node idle-outage.mjs postgres <url through the proxy> <schema>.
import { writeSync } from 'node:fs';
import { BaseTelegramClient } from '@mtcute/node';
import { mtcuteStorage } from '@mtstore/mtcute';
import { openFromArgs, untilStdinLine } from '@mtstore/test-adapters/child';
import { setState } from './writer-client.mjs';

const { storage } = openFromArgs(process.argv.slice(2), 'idle');
const say = (line) => writeSync(1, `${line}\n`);
const tg = new BaseTelegramClient({ apiId: 1, apiHash: '0123456789abcdef0123456789abcdef', storage: mtcuteStorage(storage, { lease: false }), logLevel: 0 });
const manager = tg.mt.storage;
await manager.load();
await manager.dcs.store({ main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } });
await setState(tg, 1);
await manager.save();
say('ready');
// Nothing more is read after it: stdin must not be what keeps the process alive either.
await untilStdinLine('go');
await setState(tg, 2);
await manager.save().then(
  () => say('saved'),
  (error) => say(`failed ${error.code}`),
);
