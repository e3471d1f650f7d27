// Instructions per op (callgrind) of the SQLite rows of bench/vs-clients.mjs ("sqlite:
// lookups in 100k peers" by id / phone / username, and "sqlite: update state + 3
// channels"), @mtstore/sqlite against mtcute 0.29.7's SqliteStorage (@mtcute/node), each
// side driven exactly as vs-clients.mjs drives it:
//   node bench/sqlite-icount.mjs --report [row ...]   one process under callgrind runs
//                                                      every row given (default: all),
//                                                      prints instructions per op;
//   node bench/sqlite-icount.mjs --child <row ...>    what callgrind runs.
// Rows: id, phone, username, state; sides: mtstore, mtcute. Callgrind starts with
// instrumentation off (start-up and storing the peers are not counted). Per row and
// side: WARMUP ops, then a full collection and a window of N1 ops, then another
// collection and a window of N2 ops; per-op figure = (Ir of the N2 window - Ir of the
// N1 window) / (N2 - N1), so what switching instrumentation costs cancels. The windows
// include the GC and JIT work the ops cause. Node runs --single-threaded (counts repeat).
// Instructions leave out fsync waits.
// Env: ICOUNT_PEERS peers stored per side (default 10,000, not vs-clients' 100,000:
// storing them under valgrind is most of a run's time; the B-trees are a level
// shallower at most), ICOUNT_WARMUP warm-up ops (default 10,000), ICOUNT_N1 / ICOUNT_N2
// (default 2,000 / 6,000). mtcute's username lookup scans every peer (json_each over each
// row's usernames): that side runs a twentieth of each count.
// The default windows spread by up to 8% between runs for id and phone (where garbage
// collections land); ICOUNT_N1=5000 ICOUNT_N2=25000 repeated to 0.2% (phone, 10,000
// peers, 3 Dec 2026: 28,712 and 28,672 Ir/op) — too long for the username row's scans.
// ICOUNT_KEEP=1 keeps the dumps for callgrind_annotate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callgrindDumps, measured } from './callgrind.mjs';
import { batchOf, lookupAt, mtcutePeer, mtstorePeer, PEERS, updateStateTargets } from './client-peers.mjs';

const ROWS = ['id', 'phone', 'username', 'state'];
const SIDES = ['mtstore', 'mtcute'];
const STORED = Number(process.env.ICOUNT_PEERS ?? 10_000);
const WARMUP = Number(process.env.ICOUNT_WARMUP ?? 10_000);
const N1 = Number(process.env.ICOUNT_N1 ?? 2_000);
const N2 = Number(process.env.ICOUNT_N2 ?? 6_000);
/** Divides the counts of a side that scans (see the header). */
const scale = (row, side) => (row === 'username' && side === 'mtcute' ? 20 : 1);



/** Both stores, the peers stored (as vs-clients.mjs stores them), a snapshot saved on mtstore's side. */
async function open(dir) {
  const { SqliteStorage } = await import('@mtstore/sqlite');
  const { fullSession } = await import('@mtstore/conformance');
  const mtcuteNode = await import('@mtcute/node');
  const { LogManager } = await import('@mtcute/core/utils.js');
  const platform = new mtcuteNode.NodePlatform();
  const log = new LogManager(undefined, platform);
  log.level = 0;
  const mtstore = new SqliteStorage({ path: join(dir, 'mtstore.db'), name: 'bench' });
  await mtstore.save(fullSession(1));
  const mtcute = new mtcuteNode.SqliteStorage(join(dir, 'mtcute.session'));
  mtcute.driver.setup(log, platform);
  await mtcute.driver.load();
  for (let at = 1; at <= STORED; at += PEERS) {
    await mtstore.peers.upsert(batchOf(mtstorePeer, at));
    for (const p of batchOf(mtcutePeer, at)) mtcute.peers.store(p);
    await mtcute.driver.save();
  }
  const n = (i) => lookupAt(i, STORED);
  const targets = {
    id: {
      mtstore: (i) => mtstore.peers.getById('user', BigInt(n(i))),
      mtcute: async (i) => mtcute.peers.getById(n(i)),
    },
    phone: {
      mtstore: (i) => mtstore.peers.getByPhone(String(10_000_000_000 + n(i))),
      mtcute: async (i) => mtcute.peers.getByPhone(String(10_000_000_000 + n(i))),
    },
    username: {
      mtstore: (i) => mtstore.peers.getByUsername(`user_${n(i)}`),
      mtcute: async (i) => mtcute.peers.getByUsername(`user_${n(i)}`),
    },
    state: updateStateTargets({ mtstore, mtcute }),
  };
  return {
    targets,
    close: async () => {
      await mtstore.close();
      await mtcute.driver.destroy();
    },
  };
}

async function child(rows) {
  const dir = mkdtempSync(join(tmpdir(), 'sqlite-icount-'));
  try {
    const opened = await open(dir);
    for (const row of rows) {
      if (!ROWS.includes(row)) throw new Error(`sqlite-icount: no row ${JSON.stringify(row)}`);
      for (const side of SIDES) {
        const op = opened.targets[row][side];
        const k = scale(row, side);
        let i = 0;
        for (; i < WARMUP / k; i++) await op(i);
        for (const count of [N1 / k, N2 / k]) {
          globalThis.gc();
          await measured(async () => {
            for (const end = i + count; i < end; i++) await op(i);
          });
        }
      }
    }
    await opened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(rows) {
  const totals = callgrindDumps(['--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), '--child', ...rows], "cg.out.1/.2 are the first row's first side (N1, N2)");
  let at = 0;
  for (const row of rows) {
    const per = {};
    for (const side of SIDES) {
      per[side] = (totals[at + 1] - totals[at]) / ((N2 - N1) / scale(row, side));
      at += 2;
    }
    console.log(`${row.padEnd(10)} mtstore ${per.mtstore.toFixed(0)} Ir/op  mtcute ${per.mtcute.toFixed(0)} Ir/op  mtcute/mtstore ${(per.mtcute / per.mtstore).toFixed(3)}`);
  }
}

const args = process.argv.slice(2);
if (args[0] === '--report') report(args.length > 1 ? args.slice(1) : ROWS);
else if (args[0] === '--child') await child(args.slice(1));
else throw new Error('usage: node bench/sqlite-icount.mjs --report [row ...]');
