// A process holding a GramJS session through the built @mtstore/gramjs, with the
// default lease, driven by lines on stdin: `write <n>` sets the key of DC 2 and caches
// user n, then awaits save() and prints `saved <n>`; `exit` closes the session and
// exits. What the bridge reports is printed: `error <operation> <code>`, `lost <code>`.
// Usage: node lease-holder.mjs sqlite <file> | postgres <url> <schema>.
import { createInterface } from 'node:readline';
import { writeSync } from 'node:fs';
import { Api, helpers } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { StorageSession } from '@mtstore/gramjs';
import { crashKey } from './crash-data.mjs';
import { openFromArgs } from '@mtstore/test-adapters/child';

const { storage } = openFromArgs(process.argv.slice(2), 'leased');
const say = (line) => writeSync(1, `${line}\n`);
const session = new StorageSession(storage, {
  lease: { onLost: (error) => say(`lost ${error.code}`) },
  onError: (error, operation) => say(`error ${operation} ${error.code}`),
});
await session.load();
if (!session.serverAddress) session.setDC(2, '149.154.167.51', 443);
await session.save();
say(`ready ${process.pid}`);
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.split(' ');
  if (command === 'exit') break;
  const n = Number(arg);
  const key = new AuthKey();
  await key.setKey(Buffer.from(crashKey(n)));
  session.setAuthKey(key, 2);
  session.processEntities([new Api.User({ id: helpers.returnBigInt(n), accessHash: helpers.returnBigInt(n * 3), username: `holder_${n}`, firstName: 'H' })]);
  await session.save();
  say(`saved ${n}`);
}
await session.close();
await storage.close();
say('closed');
