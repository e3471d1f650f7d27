// A process holding a session through a real mtcute client (@mtcute/node's
// BaseTelegramClient, never connected) on the built @mtstore/mtcute, with the default
// lease, driven by lines on stdin: `write <n>` caches user n from an API result (mtcute
// saves then), sets the key of DC 2 and saves, then prints `saved <n>` or
// `failed <n> <code>`; `exit` destroys the client (`destroyed`, after
// `destroy-failed <code>` when mtcute's destroy() rejected) and exits. A lost lease
// prints `lost <code>`. Usage: node lease-holder.mjs sqlite <file> | postgres <url> <schema>.
import { createInterface } from 'node:readline';
import { writeSync } from 'node:fs';
import { Long } from '@mtcute/core';
import { BaseTelegramClient } from '@mtcute/node';
import { mtcuteStorage } from '@mtstore/mtcute';
import { crashKey } from './crash-data.mjs';
import { openFromArgs } from '@mtstore/test-adapters/child';

const { storage } = openFromArgs(process.argv.slice(2), 'leased');
const say = (line) => writeSync(1, `${line}\n`);
const tg = new BaseTelegramClient({
  apiId: 1,
  apiHash: '0123456789abcdef0123456789abcdef',
  storage: mtcuteStorage(storage, { lease: { onLost: (error) => say(`lost ${error.code}`) } }),
  logLevel: 0,
});
let n = 0;
tg.mt.call = async () => ({ _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: n }, users: [{ _: 'user', id: n, accessHash: Long.fromInt(n * 3), firstName: 'H', username: `holder_${n}` }], chats: [] });
const manager = tg.mt.storage;
await manager.load();
await manager.dcs.store({ main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } });
await manager.save();
say(`ready ${process.pid}`);
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(' ');
  if (command === 'exit') break;
  n = Number(arg);
  try {
    await tg.call({ _: 'contacts.resolveUsername', username: `holder_${n}` });
    await manager.provider.authKeys.set(2, crashKey(n));
    await manager.save();
    say(`saved ${n}`);
  } catch (error) {
    say(`failed ${n} ${error.code}`);
  }
}
try {
  await tg.destroy();
  say('destroyed');
} catch (error) {
  say(`destroy-failed ${error.code}`);
  await manager.destroy(); // what the README says to do then
  say('destroyed');
}
