// A real mtcute client (@mtcute/node's BaseTelegramClient, never connected) on the built
// @mtstore/mtcute, doing what mtcute's updates loop does after each update batch, forever:
// the batch's users cached (PeersService.store, no save of their own), the update state
// set, one driver.save() — so the peers and the state of batch i go in the same save —
// with `saving <i>` on stdout before it and `ack <i>` after. A batch holds many users, so
// its peer write takes longer than the state's. The test kills it with SIGKILL as soon as
// it sees the state of a batch stored, after that batch's `saving` line.
// Usage: node order-writer.mjs sqlite <file> <start> or
// node order-writer.mjs postgres <url> <schema> <start>.
import { writeSync } from 'node:fs';
import { Long } from '@mtcute/core';
import { orderUser, ORDER_BATCH } from './order-data.mjs';
import { nextTurn, setState, writerClient } from './writer-client.mjs';

const { tg, storageManager, start } = await writerClient('order');
for (let i = start; ; i++) {
  for (let n = 0; n < ORDER_BATCH; n++) {
    const u = orderUser(i, n);
    await tg.storage.peers.store({ _: 'user', id: u.id, accessHash: Long.fromString(String(u.accessHash)), firstName: 'U', username: u.username });
  }
  await setState(tg, i);
  await tg.storage.updates.setChannelPts(777, i);
  // The test watches the stored state from here on.
  writeSync(1, `saving ${i}\n`);
  await storageManager.save();
  writeSync(1, `ack ${i}\n`);
  await nextTurn();
}
