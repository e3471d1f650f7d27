// A GramJS session (the built @mtstore/gramjs) writing forever, as GramJS's client
// drives it: a key of one of DCs 1-5, an entity (now and then the logged-in user),
// now and then a new home DC, then `await save()`, and only then `ack <i>` on stdout.
// The test kills it with SIGKILL. Usage: node crash-writer.mjs sqlite <file> <start>
// or node crash-writer.mjs postgres <url> <schema> <start>.
import { writeSync } from 'node:fs';
import { Api, helpers } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { StorageSession } from '@mtstore/gramjs';
import { crashKey, crashUser } from './crash-data.mjs';
import { openFromArgs } from '@mtstore/test-adapters/child';

const { storage, rest } = openFromArgs(process.argv.slice(2), 'crash');
const start = Number(rest[0]);
// The killed writer before this one never gave its lease back: take it over.
const session = new StorageSession(storage, {
  lease: { force: true },
  onError: (error, operation) => {
    writeSync(2, `${operation}: ${String(error)}\n`);
    process.exit(3);
  },
});
await session.load();
if (!session.serverAddress) session.setDC(2, '149.154.167.51', 443);
for (let i = start; ; i++) {
  const key = new AuthKey();
  await key.setKey(Buffer.from(crashKey(i)));
  session.setAuthKey(key, 1 + (i % 5));
  const spec = crashUser(i);
  session.processEntities([
    new Api.User({ id: helpers.returnBigInt(spec.id), accessHash: helpers.returnBigInt(spec.accessHash), username: spec.username, firstName: `U${i}`, self: spec.self }),
  ]);
  if (i % 11 === 0) session.setDC(1 + (i % 5), `149.154.167.${i % 250}`, 443);
  await session.save();
  writeSync(1, `ack ${i}\n`);
}
