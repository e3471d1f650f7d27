// Instructions per new peer (callgrind) of the row `sqlite: 1,000-peer batch, first insert`
// of bench/vs-clients.mjs, its two synchronous=FULL sides (mtstore FULL and Telethon's
// replayed session: one unindexed rowid table, `insert or replace` per peer, one
// transaction a batch), each op as vs-clients times it: the batch of 1,000 new peers
// built in the call, then stored.
//   node bench/first-insert-icount.mjs --report    both sides, one process under callgrind;
//   node bench/first-insert-icount.mjs --child     what callgrind runs.
// Windowed as bench/bridge-icount.mjs: instrumentation off at start, WARMUP batches per
// side, a full collection, then `count` batches in a window and a dump; the first two
// (empty) windows give the control calls' share, subtracted. Node runs --single-threaded,
// Instructions leave out fsync waits. The window holds the garbage collection of the
// batches it builds, which lands unevenly: the same code measured 33.0k and 34.4k
// Ir/peer (mtstore) in two runs on 3 Dec 2026; compare the mean of a few runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { callgrindDumps, measured } from './callgrind.mjs';
import { barePeer, batchOf, PEERS, telethonRow } from './client-peers.mjs';

const WARMUP = Number(process.env.ICOUNT_WARMUP ?? 16);
const COUNT = Number(process.env.ICOUNT_N ?? 10);
const SIDES = ['mtstore FULL', 'telethon'];

async function child() {
  const { SqliteStorage } = await import('@mtstore/sqlite');
  const dir = mkdtempSync(join(tmpdir(), 'first-insert-icount-'));
  const mtstore = new SqliteStorage({ path: join(dir, 'mtstore-full.db'), name: 'bench', synchronous: 'FULL' });
  const telethon = new Database(join(dir, 'telethon.session'));
  telethon.defaultSafeIntegers(true);
  // The table vs-clients.mjs's telethonCreate makes (Telethon 1.37 schema), and its
  // connection defaults: rollback journal, synchronous=FULL.
  telethon.exec('create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)');
  const insert = telethon.prepare('insert or replace into entities values (?,?,?,?,?,?)');
  const batch = telethon.transaction((rows) => {
    for (const row of rows) insert.run(...row);
  });
  // ICOUNT_PREBUILT=1: the batches are built before the windows (the storage's cost alone,
  // without building and collecting the batches): mtstore repeated to 0.1% (26,843 and
  // 26,875 Ir/peer before pack.ts, 25,288 and 25,281 after), Telethon to ~4%.
  const prebuilt = (make) => (process.env.ICOUNT_PREBUILT ? Array.from({ length: WARMUP + COUNT }, (_, i) => batchOf(make, 1 + i * PEERS)) : undefined);
  // mtstore's side stores the peers as converted from Telethon: no TL bytes (Telethon keeps none).
  const built = { mtstore: prebuilt(barePeer), telethon: prebuilt(telethonRow) };
  const ops = {
    'mtstore FULL': (i) => mtstore.peers.upsert(built.mtstore?.[i] ?? batchOf(barePeer, 1 + i * PEERS)),
    telethon: async (i) => batch.immediate(built.telethon?.[i] ?? batchOf(telethonRow, 1 + i * PEERS)),
  };
  await measured(async () => {});
  await measured(async () => {});
  for (const side of SIDES) {
    let i = 0;
    for (; i < WARMUP; i++) await ops[side](i);
    globalThis.gc();
    await measured(async () => {
      for (const end = i + COUNT; i < end; i++) await ops[side](i);
    });
  }
  await mtstore.close();
  telethon.close();
  rmSync(dir, { recursive: true, force: true });
}

function report() {
  const totals = callgrindDumps(['--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), '--child'], "cg.out.3 is mtstore FULL's window");
  const overhead = totals[1];
  const [mtstore, telethon] = [totals[2], totals[3]].map((total) => (total - overhead) / COUNT / PEERS);
  console.log(`sqlite first insert, synchronous=FULL: mtstore ${mtstore.toFixed(0)} Ir/peer  telethon ${telethon.toFixed(0)} Ir/peer  telethon/mtstore ${(telethon / mtstore).toFixed(3)}`);
}

const arg = process.argv[2];
if (arg === '--report') report();
else if (arg === '--child') await child();
else throw new Error('usage: node bench/first-insert-icount.mjs --report');
