// Instructions per 1,000-peer batch (callgrind), for the SQLite peer rows of bench/vs-clients.mjs:
//   node bench/peer-icount.mjs --report [side ...]     callgrind on each side at two batch counts;
//   node bench/peer-icount.mjs <side> <kind> <count>   runs one target (what callgrind runs).
// Sides: mtstore, mtcute, telethon; kinds: insert (new ids each batch), reupsert (the stored
// batches again). Per-batch figure = (Ir at N2 batches - Ir at N1) / (N2 - N1): start-up,
// schema creation and JIT warm-up cancel. Peers as vs-clients.mjs makes them. Instructions
// leave out fsync waits: they count what each side makes SQLite (and JS) do.
// Node runs --single-threaded under callgrind: no background GC or compiler threads, so
// the counts repeat run to run. The mtstore side stores TL bytes, as mtcute does; Telethon keeps
// none (bench/first-insert-icount.mjs compares it with peers without them, as vs-clients does).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callgrindTotal } from './callgrind.mjs';
import { batchOf, mtcutePeer, mtstorePeer, PEERS, telethonRow } from './client-peers.mjs';

const N1 = 5;
const N2 = 25;
const STORED = 20;

async function side(name, dir) {
  if (name === 'mtstore') {
    const { SqliteStorage } = await import('@mtstore/sqlite');
    const s = new SqliteStorage({ path: join(dir, 'mtstore.db'), name: 'bench' });
    return { batch: (first) => s.peers.upsert(batchOf(mtstorePeer, first)), close: () => s.close() };
  }
  if (name === 'mtcute') {
    const { SqliteStorage, NodePlatform } = await import('@mtcute/node');
    const { LogManager } = await import('@mtcute/core/utils.js');
    const platform = new NodePlatform();
    const log = new LogManager(undefined, platform);
    log.level = 0;
    const s = new SqliteStorage(join(dir, 'mtcute.session'));
    s.driver.setup(log, platform);
    await s.driver.load();
    return {
      batch: async (first) => {
        for (const p of batchOf(mtcutePeer, first)) s.peers.store(p);
        await s.driver.save();
      },
      close: () => s.driver.destroy(),
    };
  }
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'telethon.session'));
  db.defaultSafeIntegers(true);
  db.exec(`create table version (version integer primary key);
    create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer);`);
  const insert = db.prepare('insert or replace into entities values (?,?,?,?,?,?)');
  const tx = db.transaction((rows) => {
    for (const row of rows) insert.run(...row);
  });
  return { batch: async (first) => tx.immediate(batchOf(telethonRow, first)), close: () => db.close() };
}

async function run(name, kind, count) {
  const dir = mkdtempSync(join(tmpdir(), 'peer-icount-'));
  const s = await side(name, dir);
  // Both kinds start from STORED stored batches, so the file is the same size at N1 and N2 for re-upserts.
  for (let i = 0; i < STORED; i++) await s.batch(1 + i * PEERS);
  for (let i = 0; i < count; i++) await s.batch(kind === 'insert' ? 1 + (STORED + i) * PEERS : 1 + (i % STORED) * PEERS);
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}

function instructions(name, kind, count) {
  return callgrindTotal(['--single-threaded', fileURLToPath(import.meta.url), name, kind, String(count)]);
}

const args = process.argv.slice(2);
if (args[0] === '--report') {
  const names = args.length > 1 ? args.slice(1) : ['mtstore', 'mtcute', 'telethon'];
  for (const kind of ['insert', 'reupsert']) {
    for (const name of names) {
      const per = (instructions(name, kind, N2) - instructions(name, kind, N1)) / (N2 - N1);
      console.log(`${kind.padEnd(9)} ${name.padEnd(9)} ${(per / 1e6).toFixed(2)} MIr/batch  ${(per / PEERS).toFixed(0)} Ir/peer`);
    }
  }
} else {
  await run(args[0], args[1], Number(args[2]));
}
