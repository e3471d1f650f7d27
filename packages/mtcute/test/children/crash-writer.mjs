// A real mtcute client (@mtcute/node's BaseTelegramClient, never connected: API calls are
// answered at its MtClient boundary, so the client caches their peers itself) on the
// built @mtstore/mtcute, writing forever: an API result with a user
// (mtcute caches it and awaits driver.save()), the key of one of DCs 1-5, the update
// state, then `await driver.save()`, and only then `ack <i>` on stdout. The test kills
// it with SIGKILL. Usage: node crash-writer.mjs sqlite <file> <start> or
// node crash-writer.mjs postgres <url> <schema> <start>.
import { writeSync } from 'node:fs';
import { Long } from '@mtcute/core';
import { BaseTelegramClient } from '@mtcute/node';
import { mtcuteStorage } from '@mtstore/mtcute';
import { crashKey, crashUser } from './crash-data.mjs';
import { openFromArgs } from '@mtstore/test-adapters/child';

const { storage, rest } = openFromArgs(process.argv.slice(2), 'crash');
const start = Number(rest[0]);
// The killed writer before this one never gave its lease back: take it over.
const tg = new BaseTelegramClient({ apiId: 1, apiHash: '0123456789abcdef0123456789abcdef', storage: mtcuteStorage(storage, { lease: { force: true } }), logLevel: 0 });
let current;
tg.mt.call = async () => ({ _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: current.id }, users: [{ _: 'user', id: current.id, accessHash: Long.fromString(String(current.accessHash)), firstName: 'U', username: current.username }], chats: [] });
const storageManager = tg.mt.storage;
await storageManager.load();
if ((await storageManager.dcs.fetch()) === null) {
  const main = { id: 2, ipAddress: '149.154.167.51', port: 443 };
  await storageManager.dcs.store({ main, media: main });
}
for (let i = start; ; i++) {
  current = crashUser(i);
  await tg.call({ _: 'contacts.resolveUsername', username: current.username });
  await storageManager.provider.authKeys.set(1 + (i % 5), crashKey(i));
  await tg.storage.updates.setPts(i);
  await tg.storage.updates.setQts(1);
  await tg.storage.updates.setDate(1_700_000_000 + i);
  await tg.storage.updates.setSeq(2);
  await storageManager.save();
  writeSync(1, `ack ${i}\n`);
  // A real client waits for the network between writes. Over SQLite (synchronous) this
  // loop would otherwise await only microtasks: no timer (the lease's heartbeat) or
  // signal handler would ever run.
  await new Promise((resolve) => setImmediate(resolve));
}
