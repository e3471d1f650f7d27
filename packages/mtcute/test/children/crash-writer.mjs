// A real mtcute client (@mtcute/node's BaseTelegramClient, never connected: API calls are
// answered at its MtClient boundary, so the client caches their peers itself) on the
// built @mtstore/mtcute, writing forever: an API result with a user
// (mtcute caches it and awaits driver.save()), the key of one of DCs 1-5, the update
// state, then `await driver.save()`, and only then `ack <i>` on stdout. The test kills
// it with SIGKILL. Usage: node crash-writer.mjs sqlite <file> <start> or
// node crash-writer.mjs postgres <url> <schema> <start>.
import { writeSync } from 'node:fs';
import { Long } from '@mtcute/core';
import { crashKey, crashUser } from './crash-data.mjs';
import { nextTurn, setState, writerClient } from './writer-client.mjs';

const { tg, storageManager, start } = await writerClient('crash');
let current;
tg.mt.call = async () => ({ _: 'contacts.resolvedPeer', peer: { _: 'peerUser', userId: current.id }, users: [{ _: 'user', id: current.id, accessHash: Long.fromString(String(current.accessHash)), firstName: 'U', username: current.username }], chats: [] });
for (let i = start; ; i++) {
  current = crashUser(i);
  await tg.call({ _: 'contacts.resolveUsername', username: current.username });
  await storageManager.provider.authKeys.set(1 + (i % 5), crashKey(i));
  await setState(tg, i);
  await storageManager.save();
  writeSync(1, `ack ${i}\n`);
  await nextTurn();
}
