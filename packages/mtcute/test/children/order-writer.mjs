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
import { BaseTelegramClient } from '@mtcute/node';
import { mtcuteStorage } from '@mtstore/mtcute';
import { openFromArgs } from '@mtstore/test-adapters/child';
import { orderUser, ORDER_BATCH } from './order-data.mjs';
import { Long } from '@mtcute/core';

const { storage, rest } = openFromArgs(process.argv.slice(2), 'order');
const start = Number(rest[0]);
// The killed writer before this one never gave its lease back: take it over.
const tg = new BaseTelegramClient({ apiId: 1, apiHash: '0123456789abcdef0123456789abcdef', storage: mtcuteStorage(storage, { lease: { force: true } }), logLevel: 0 });
const storageManager = tg.mt.storage;
await storageManager.load();
if ((await storageManager.dcs.fetch()) === null) {
  const main = { id: 2, ipAddress: '149.154.167.51', port: 443 };
  await storageManager.dcs.store({ main, media: main });
}
for (let i = start; ; i++) {
  for (let n = 0; n < ORDER_BATCH; n++) {
    const u = orderUser(i, n);
    await tg.storage.peers.store({ _: 'user', id: u.id, accessHash: Long.fromString(String(u.accessHash)), firstName: 'U', username: u.username });
  }
  await tg.storage.updates.setPts(i);
  await tg.storage.updates.setQts(1);
  await tg.storage.updates.setDate(1_700_000_000 + i);
  await tg.storage.updates.setSeq(2);
  await tg.storage.updates.setChannelPts(777, i);
  // The test watches the stored state from here on.
  writeSync(1, `saving ${i}\n`);
  await storageManager.save();
  writeSync(1, `ack ${i}\n`);
  // Timers (the lease's heartbeat) and the signal get their turn, as between network reads.
  await new Promise((resolve) => setImmediate(resolve));
}
