// Instructions per run of the statement that rewrites a stored auth key, in SQLite and
// better-sqlite3 only (the JavaScript above them left out), on the bridge's own file:
//   node bench/key-rewrite-icount.mjs --report   (after building @mtstore/sqlite)
// Statements, each run `count` times over five keys as bench/clients.mjs's
// `authKeys.set` row writes them:
//   fenced  the adapter's rewrite under a lease (keys.ts `rewrite`): UPDATE … WHERE id = ?
//           AND lease_token = ?, the token a BigInt as core hands it over;
//   plain   the same UPDATE without the fence (what runs without a lease);
//   mtcute  mtcute's own `INSERT OR REPLACE INTO auth_keys (dc, key) VALUES (?, ?)`, in a
//           table of its own shape in the same file.
// Every window starts with the write-ahead log emptied (a TRUNCATE checkpoint), so each
// statement appends the same frames (the WAL index's cost grows with the frames of one
// page since the log started over). Counted: the functions of better_sqlite3.node and libc
// (SQLite, the binding, memcpy…); V8 (the loop, the result object, GC) is left out, as it
// moves with where TurboFan compiled the loop. Each statement runs twice, in turn.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { measured } from './callgrind.mjs';

const count = Number(process.env.ICOUNT_N ?? 20_000);
const STATEMENTS = ['fenced', 'plain', 'mtcute'];
const ORDER = [...STATEMENTS, ...STATEMENTS];

function prepare(db, name) {
  if (name === 'mtcute') {
    db.exec('CREATE TABLE IF NOT EXISTS auth_keys (dc INTEGER PRIMARY KEY, key BLOB NOT NULL)');
    const set = db.prepare('INSERT OR REPLACE INTO auth_keys (dc, key) VALUES (?, ?)');
    return (key, dc) => set.run(dc, key);
  }
  const sql = `UPDATE mtstore_auth_key_bytes SET auth_key = ? WHERE id = ?${name === 'fenced' ? ' AND lease_token = ?' : ''}`;
  const update = db.prepare(sql);
  return name === 'fenced' ? (key, _dc, id, token) => update.run(key, id, token) : (key, _dc, id) => update.run(key, id);
}

async function child() {
  const { SqliteStorage } = await import('@mtstore/sqlite');
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-key-rewrite-'));
  const storage = new SqliteStorage(join(dir, 'bench.db'));
  await storage.lease.acquire({ ttlSeconds: 86_400 });
  const keys = Array.from({ length: 16 }, (_, i) => new Uint8Array(256).fill(i + 1));
  for (let dc = 1; dc <= 5; dc++) await storage.authKeys.set(dc, keys[dc]);
  const db = storage.database;
  // The ids as the adapter binds them (numbers: lease.ts `bindable`), the token as a BigInt.
  const rows = db.prepare('SELECT b.id, b.lease_token FROM mtstore_auth_key_bytes b JOIN mtstore_auth_keys k USING (id) ORDER BY k.dc_id').safeIntegers().raw().all();
  if (rows.length !== 5 || rows.some(([, token]) => token === null)) throw new Error('key-rewrite-icount: the five keys were not written under the lease');
  const ids = rows.map(([id]) => Number(id));
  const token = rows[0][1];
  await measured(async () => {});
  await measured(async () => {});
  for (const name of ORDER) {
    const run = prepare(db, name);
    const loop = (from, to) => {
      for (let i = from; i < to; i++) {
        if (run(keys[i % 16], (i % 5) + 1, ids[i % 5], token).changes !== 1) throw new Error(`key-rewrite-icount: ${name} changed no row`);
      }
    };
    // Warm-up in calls of 1,000: the window's call runs code compiled for a call, not on-stack replaced.
    for (let i = 0; i < 40; i++) loop(i * 1000, (i + 1) * 1000);
    globalThis.gc();
    db.pragma('wal_checkpoint(TRUNCATE)');
    await measured(async () => loop(0, count));
  }
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}

/** Instructions in better_sqlite3.node and libc of dump `file`. */
function native(file) {
  const out = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  let total = 0;
  for (const line of out.split('\n')) {
    const match = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (match !== null && /better_sqlite3\.node|libc\.so/.test(match[2])) total += Number(match[1].replaceAll(',', ''));
  }
  return total;
}

function report() {
  const dir = mkdtempSync(join(tmpdir(), 'icount-'));
  try {
    const out = join(dir, 'cg.out');
    execFileSync('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, '--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), '--child'], { stdio: ['ignore', 'ignore', 'inherit'] });
    // Dump 2: the second empty window (the control calls alone).
    const control = native(`${out}.2`);
    ORDER.forEach((name, i) => console.log(`${name.padEnd(8)} ${((native(`${out}.${i + 3}`) - control) / count).toFixed(0)} Ir/run in SQLite and the binding`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child();
else if (process.argv[2] === '--report') report();
else throw new Error('usage: node bench/key-rewrite-icount.mjs --report');
