// Instructions and cache misses per memory peer lookup (valgrind), for the "memory: lookup
// by id / username / phone" rows of bench/vs-clients.mjs: @mtstore/memory's MemoryStorage
// against mtcute's MemoryStorage, 100,000 peers made by client-peers.mjs, lookups spread
// by the same prime stride, each awaited before the next, as vs-clients.mjs runs them.
//   node bench/lookup-icount.mjs --report [row ...]   callgrind with its cache simulation
//        (D1 48 KiB and LL 1 MiB: this box's L1d and per-core L2, which valgrind does not
//        find on this CPU) on each side at two lookup counts; prints instructions, D1 and
//        LL misses per lookup. Only the lookups are instrumented (callgrind_control
//        switches it on after the 100,000 upserts and a warm-up, and off after them):
//        a run takes seconds instead of minutes on a shared box;
//   node bench/lookup-icount.mjs <row> <side> <count> [peers]   runs one target (what valgrind runs);
//   node bench/lookup-icount.mjs --wall <row> <side> [peers]    ns per lookup, wall clock (noisy
//        on a shared box: use it for the shape, e.g. 1,000 against 100,000 peers).
// Rows: id, username, phone; sides: mtstore, mtcute. Per-lookup figure = (count at N2
// lookups - count at N1) / (N2 - N1): what switching instrumentation costs cancels.
// Both sides run --single-threaded under valgrind, so compiler work lands on the main
// thread in both windows alike and counts repeat.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOKUP_PEERS, lookupTargets } from './client-peers.mjs';

const N1 = 10_000;
const N2 = 40_000;
/** Lookups before the measured ones in both windows, so the JIT has settled in each. */
const WARMUP = 10_000;

async function side(name) {
  if (name === 'mtstore') {
    const memory = await import('@mtstore/memory');
    return new memory.MemoryStorage({ name: 'bench' });
  }
  const { MemoryStorage } = await import('@mtcute/core');
  const storage = new MemoryStorage();
  await storage.driver.load();
  return storage;
}

async function open(row, name, peers) {
  const storage = await side(name);
  const targets = await lookupTargets({ [name]: storage }, peers);
  return targets[row][name];
}

/** Instrumentation on or off (valgrind started with --instr-atstart=no); async for icount.mjs's reason. */
const instrument = (state) => promisify(execFile)('callgrind_control', ['-i', state, String(process.pid)]);

async function run(row, name, count, peers) {
  const target = await open(row, name, peers);
  // A full collection after the upserts (valgrind runs node with --expose-gc): otherwise
  // the marking those 100,000 peers started goes on in steps during the lookups, and a
  // major collection lands in one window and not the other.
  globalThis.gc?.();
  let i = 0;
  for (let k = 0; k < WARMUP; k++) await target(i++);
  const valgrind = process.env.LOOKUP_ICOUNT_INSTRUMENT === '1';
  if (valgrind) await instrument('on');
  for (let k = 0; k < count; k++) await target(i++);
  if (valgrind) await instrument('off');
}

async function wall(row, name, peers) {
  const target = await open(row, name, peers);
  let i = 0;
  for (let k = 0; k < 200_000; k++) await target(i++);
  const times = [];
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < 200_000; k++) await target(i++);
    times.push(Number(process.hrtime.bigint() - start) / 200_000);
  }
  times.sort((a, b) => a - b);
  console.log(`${row.padEnd(8)} ${name.padEnd(7)} ${String(peers).padStart(6)} peers  ${times[3].toFixed(0)} ns/lookup (min ${times[0].toFixed(0)})`);
}

const CACHE = ['--cache-sim=yes', '--D1=49152,12,64', '--LL=1048576,16,64', '--I1=32768,8,64'];

function counts(row, name, count) {
  const dir = mkdtempSync(join(tmpdir(), 'lookup-icount-'));
  const out = join(dir, 'vg.out');
  const args = ['--tool=callgrind', '--instr-atstart=no', ...CACHE, `--callgrind-out-file=${out}`];
  execFileSync('valgrind', [...args, process.execPath, '--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), row, name, String(count)], {
    stdio: 'ignore',
    env: { ...process.env, LOOKUP_ICOUNT_INSTRUMENT: '1' },
  });
  const text = readFileSync(out, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  const events = (text.match(/^events: (.*)$/m) ?? [])[1].trim().split(/\s+/);
  // totals, not summary: with --instr-atstart=no callgrind writes summary 0.
  const line = text.match(/^totals: (.*)$/m) ?? text.match(/^summary: (.*)$/m);
  const values = line[1].trim().split(/\s+/).map(Number);
  return Object.fromEntries(events.map((e, k) => [e, values[k] ?? 0]));
}

const args = process.argv.slice(2);
if (args[0] === '--report') {
  const rows = args.slice(1);
  for (const row of rows.length > 0 ? rows : ['id', 'username', 'phone']) {
    for (const name of ['mtstore', 'mtcute']) {
      const [a, b] = [counts(row, name, N1), counts(row, name, N2)];
      const per = (e) => (b[e] - a[e]) / (N2 - N1);
      const d1 = `D1 misses ${(per('D1mr') + per('D1mw')).toFixed(2)} (read ${per('D1mr').toFixed(2)})`;
      const ll = `LL misses ${(per('DLmr') + per('DLmw')).toFixed(2)} (read ${per('DLmr').toFixed(2)})`;
      console.log(`${row.padEnd(8)} ${name.padEnd(7)} ${per('Ir').toFixed(0)} Ir/lookup  ${d1}  ${ll}`);
    }
  }
} else if (args[0] === '--wall') {
  await wall(args[1], args[2], Number(args[3] ?? LOOKUP_PEERS));
} else {
  await run(args[0], args[1], Number(args[2]), Number(args[3] ?? LOOKUP_PEERS));
}
