// What the writers killed by the crash tests share (crash-writer.mjs, order-writer.mjs):
// a real mtcute client (@mtcute/node's BaseTelegramClient, never connected) on the built
// @mtstore/mtcute, over the session the process arguments name (openFromArgs), loaded,
// with DC 2 stored when no DC is yet; the update state each of their writes sets; and
// the turn they give timers between writes.
import { BaseTelegramClient } from '@mtcute/node';
import { mtcuteStorage } from '@mtstore/mtcute';
import { openFromArgs } from '@mtstore/test-adapters/child';

/** The client and the first write's number (the argument after the session's). `label`: openFromArgs' name for the session. */
export async function writerClient(label) {
  const { storage, rest } = openFromArgs(process.argv.slice(2), label);
  // The killed writer before this one never gave its lease back: take it over.
  const tg = new BaseTelegramClient({ apiId: 1, apiHash: '0123456789abcdef0123456789abcdef', storage: mtcuteStorage(storage, { lease: { force: true } }), logLevel: 0 });
  const storageManager = tg.mt.storage;
  await storageManager.load();
  if ((await storageManager.dcs.fetch()) === null) {
    const main = { id: 2, ipAddress: '149.154.167.51', port: 443 };
    await storageManager.dcs.store({ main, media: main });
  }
  return { tg, storageManager, start: Number(rest[0]) };
}

/** The update state of write `i`, as mtcute's UpdatesStateService sets it. */
export async function setState(tg, i) {
  await tg.storage.updates.setPts(i);
  await tg.storage.updates.setQts(1);
  await tg.storage.updates.setDate(1_700_000_000 + i);
  await tg.storage.updates.setSeq(2);
}

/**
 * A real client waits for the network between writes. Over SQLite (synchronous) a write
 * loop would otherwise await only microtasks: no timer (the lease's heartbeat) or signal
 * handler would ever run.
 */
export const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
