// Instructions per op (callgrind) of the bridge rows of bench/clients.mjs (mtcute) and
// bench/gramjs.mjs (GramJS), both sides, exactly the targets those benches time:
//   node bench/bridge-icount.mjs --report [row ...]   a process under callgrind per row
//                                                      given (default: all), prints
//                                                      instructions per op;
//   node bench/bridge-icount.mjs --child <row ...>    what callgrind runs.
// Rows are `mtcute:<operation>` (sides adapter = the bridge over @mtstore/sqlite, raw =
// mtcute's SqliteStorage) and `gramjs:<operation>` (sides bridge = StorageSession,
// memorySession = GramJS's MemorySession or StoreSession); names as the benches print
// them. Callgrind starts with instrumentation off: start-up and set-up (building the
// peers, opening the stores) are not counted, which on a shared 2-core box is what
// makes a run take minutes instead of an hour. Per row and side: warm-up ops (batch
// rows: every batch twice, so the measured ops are the steady state the wall-clock rows
// mostly time), then instrumentation on for `count` ops, each awaited as the benches'
// runner awaits it, then off and a dump: per-op figure = the dump's total / count. The
// measured window includes the GC and JIT work those ops cause (the figures move by a
// few percent between runs for that). Run under `node --single-threaded` (this script
// does) so counts repeat, and with --expose-gc: each window starts after a full collection.
// Instructions leave out fsync waits.
// ICOUNT_PROFILE=n (with --report): each row's process also records instructions per
// address (--dump-instr=yes) and names V8's compiled code (node --perf-basic-prof writes
// /tmp/perf-PID.map); prints, per side, the n functions of most instructions of their own
// per op (JIT code as `JIT <name>`, native code by symbol), then the n largest differences
// between the sides, and keeps the dumps and the map (their directory is printed). The
// extra flags move the totals a little: compare profiles with profiles.
// The row `mtcute:peers.store ×1000 + save() (first time)` (named, not in the default
// set: its set-up builds FRESH_WARMUP + count batches) stores batches neither side has
// seen: warm-up on FRESH_WARMUP of them, then `count` more, each stored once. The
// steady-state row above re-stores stored peers; the wall-clock row in a short run
// mostly stores new ones, and the two cost very differently (stop 28: 1.03× vs ~0.6×).
//   node bench/bridge-icount.mjs --clocks   instructions of one read of each monotonic clock
// Node offers (the lease fence reads one on every write: core's lease.ts), as the fence
// compares it, 100,000 reads a window, the loop's own instructions (a window of the same
// loop comparing a constant) taken off; Date.now() is not among them (the wall clock steps).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { callgrindDumps, measured } from './callgrind.mjs';

const BATCH_ROW = /×1000/;
/**
 * Batches built per side (the benches build 50): building them is most of the set-up,
 * and under callgrind 50 take minutes. The batch rows cycle through these, so the
 * tables hold 6,000 peers instead of 50,000 (one B-tree level less at most).
 */
const BATCHES = 6;
const count = (row) => Number(process.env.ICOUNT_N ?? (BATCH_ROW.test(row) ? 10 : 5_000));
const FIRST_TIME = ' (first time)';
// ICOUNT_WARMUP=n: n warm-up batches instead (the default 4 leaves TurboFan compiling in the
// measured window, which under --single-threaded moves a 10-batch figure by several percent
// between runs; 16 leaves it out).
const FRESH_WARMUP = Number(process.env.ICOUNT_WARMUP ?? 4);
// ICOUNT_OP_WARMUP=n: n warm-up ops on the single-op rows instead of 20,000. After 2,000
// (the default until the loops went through runOps) TurboFan still compiled the bridge's
// callees in its window, none of mtcute's: mtcute:peers.getById's adapter side 34.8k Ir/op
// after 2,000 (6.9k of it compiler: peerFromData, core's and sqlite's getById), 27.2k after
// 20,000 with no compiler in any window of the mtcute rows; mtcute's side 28.1k and 28.5k.
// Compare figures of one ICOUNT_N: a window's fixed cost (beyond the control calls, which
// are subtracted) is spread over its ops.
const OP_WARMUP = Number(process.env.ICOUNT_OP_WARMUP ?? 20_000);
const warmup = (row) => (row.endsWith(FIRST_TIME) ? FRESH_WARMUP : BATCH_ROW.test(row) ? 2 * BATCHES : OP_WARMUP);

const ROWS = [
  'mtcute:peers.store ×1000 + save()',
  'mtcute:peers.getById',
  'mtcute:peers.getByUsername',
  'mtcute:authKeys.set',
  'gramjs:processEntities ×1000 new users',
  'gramjs:processEntities ×1000 seen before',
  'gramjs:getInputEntity by id',
  'gramjs:getInputEntity by username',
  'gramjs:setAuthKey (home DC)',
  'gramjs:setAuthKey (home DC), durable: sqlite vs StoreSession',
];
const SIDES = { mtcute: ['adapter', 'raw'], gramjs: ['bridge', 'memorySession'] };
const clientOf = (row) => row.slice(0, row.indexOf(':'));
const operationOf = (row) => row.slice(row.indexOf(':') + 1).replace(FIRST_TIME, '');
const KNOWN = [...ROWS, `mtcute:peers.store ×1000 + save()${FIRST_TIME}`];



/**
 * Ops `from` to `to` of `op`, each awaited. Warm-up and window both run through this one
 * function: with a loop of its own, the warm-up loop (OSR-compiled with `op` and its
 * callees inlined) left them unoptimized on their own, and TurboFan compiled them in the
 * window instead, after every warm-up op: 3-5k Ir/op of compiler in the window of the
 * side measured first (the bridge's mtcute authKeys.set alone, 20,000 warm-up ops:
 * 26.6k Ir/op measured first, 21.7k after mtcute's side; --trace-opt marked core's
 * `bytesLength` and the op itself for optimization inside the window). Shared by both
 * sides, this loop deopts once on the other side's `op` and is compiled again during
 * that side's warm-up.
 */
async function runOps(op, from, to) {
  for (let i = from; i < to; i++) await op(i);
}

async function child(rows) {
  let mtcute;
  let fresh;
  let gramjs;
  // Dump 1: no ops, only the control calls, subtracted from every other dump.
  await measured(async () => {});
  await measured(async () => {});
  for (const row of rows) {
    let targets;
    if (!KNOWN.includes(row)) throw new Error(`bridge-icount: no row ${JSON.stringify(row)}`);
    if (row.endsWith(FIRST_TIME)) {
      // Batch i is the i-th distinct batch: every op stores peers new to that side's store.
      fresh ??= await (await import('./clients.mjs')).default.open({ batches: FRESH_WARMUP + count(row) });
      targets = (side) => fresh.targets[side][operationOf(row)];
    } else if (clientOf(row) === 'mtcute') {
      mtcute ??= await (await import('./clients.mjs')).default.open({ batches: BATCHES });
      targets = (side) => mtcute.targets[side][operationOf(row)];
    } else {
      gramjs ??= await (await import('./gramjs.mjs')).gramjsTargets({ batches: BATCHES });
      targets = (side) => gramjs[operationOf(row)]?.[side];
    }
    for (const side of SIDES[clientOf(row)]) {
      const op = targets(side);
      if (op === undefined) throw new Error(`bridge-icount: no row ${JSON.stringify(row)} side ${side}`);
      const end = warmup(row);
      await runOps(op, 0, end);
      // A full collection first: the garbage of set-up (every batch built) and of the
      // other side is not marked in this side's window (incremental marking of it landed
      // in whichever side ran first, up to a third of a first-time window).
      globalThis.gc();
      await measured(() => runOps(op, end, end + count(row)));
    }
  }
  await mtcute?.close();
  await fresh?.close();
  await gramjs?.close();
}

/**
 * Self instructions per function of one dump made with --dump-instr=yes: callgrind names
 * JIT code by address only, so each address is looked up in V8's perf map (start, size,
 * name per line). Returns Map name -> instructions.
 */
function selfCosts(dumpPath, perfMap) {
  const ranges = perfMap
    .split('\n')
    .map((line) => line.split(' '))
    .filter((parts) => parts.length >= 3)
    .map(([start, size, ...name]) => [Number.parseInt(start, 16), Number.parseInt(size, 16), name.join(' ')])
    .sort((a, b) => a[0] - b[0]);
  const jitName = (address) => {
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ranges[mid][0] <= address) lo = mid + 1;
      else hi = mid - 1;
    }
    const range = ranges[hi];
    return range !== undefined && address < range[0] + range[1] ? `JIT ${range[2]}` : undefined;
  };
  const names = { fn: new Map(), ob: new Map() };
  // `fn=(12) name` defines id 12, a later `fn=(12)` refers to it (cfn= too).
  const nameOf = (kind, text) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(text);
    if (m === null) return text;
    if (m[2] !== undefined) names[kind].set(m[1], m[2]);
    return names[kind].get(m[1]) ?? m[1];
  };
  const num = (text) => (text.startsWith('0x') ? Number.parseInt(text, 16) : Number(text));
  const costs = new Map();
  let fn = '?';
  let ob = '';
  let last = 0;
  let callCost = false;
  for (const line of readFileSync(dumpPath, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) fn = nameOf('fn', line.slice(3));
    else if (line.startsWith('ob=')) ob = nameOf('ob', line.slice(3));
    else if (line.startsWith('cfn=')) nameOf('fn', line.slice(4));
    else if (line.startsWith('cob=')) nameOf('ob', line.slice(4));
    else if (line.startsWith('calls=')) callCost = true;
    else if (/^[0-9+*-]/.test(line)) {
      // Positions `instr line`, then Ir: an absolute, relative (+n / -n) or same (*) address.
      const parts = line.split(' ');
      const at = parts[0];
      last = at === '*' ? last : at[0] === '+' ? last + num(at.slice(1)) : at[0] === '-' ? last - num(at.slice(1)) : num(at);
      // The line after calls= is the call's inclusive cost, not this function's own.
      if (callCost) {
        callCost = false;
        continue;
      }
      const ir = Number(parts[parts.length - 1]);
      const key = fn.startsWith('0x') || ob.includes('???') ? (jitName(last) ?? `??? ${fn}`) : fn;
      costs.set(key, (costs.get(key) ?? 0) + ir);
    }
  }
  return costs;
}

/** One row under callgrind with per-address dumps and V8's perf map: see ICOUNT_PROFILE. */
async function profile(row, top) {
  const dir = mkdtempSync(join(tmpdir(), 'icount-profile-'));
  const out = join(dir, 'cg.out');
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', '--instr-atstart=no', '--dump-instr=yes', `--callgrind-out-file=${out}`, process.execPath, '--perf-basic-prof', '--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), '--child', row],
    { stdio: ['ignore', 'ignore', 'inherit'], cwd: dir },
  );
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`bridge-icount: the profile of ${row} exited ${code}`);
  // Valgrind runs node in its own process: the map is named by valgrind's pid.
  const mapPath = join(dir, 'perf.map');
  renameSync(`/tmp/perf-${child.pid}.map`, mapPath);
  const perfMap = readFileSync(mapPath, 'utf8');
  const dumps = readdirSync(dir).filter((file) => /^cg\.out\.\d+$/.test(file)).sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  const n = count(row);
  const sides = SIDES[clientOf(row)].map((side, i) => ({ side, costs: selfCosts(join(dir, dumps[2 + i]), perfMap) }));
  const fmt = (ir) => (ir / n).toFixed(1).padStart(11);
  console.log(`${row}: profile kept in ${dir} (cg.out.3 and cg.out.4 are the sides' windows, perf.map names the JIT code; control calls not subtracted)`);
  for (const { side, costs } of sides) {
    const total = [...costs.values()].reduce((a, b) => a + b, 0);
    console.log(`  ${side}: ${(total / n).toFixed(0)} Ir/op; functions by their own instructions per op:`);
    for (const [name, ir] of [...costs].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${fmt(ir)}  ${name.slice(0, 140)}`);
  }
  const [a, b] = sides;
  const names = new Set([...a.costs.keys(), ...b.costs.keys()]);
  const diff = [...names].map((name) => [name, (a.costs.get(name) ?? 0) - (b.costs.get(name) ?? 0)]).sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
  console.log(`  ${a.side} - ${b.side}, per op (largest first):`);
  for (const [name, ir] of diff.slice(0, top)) console.log(`  ${fmt(ir)}  ${name.slice(0, 140)}`);
}

function report(rows) {
  // One process per row: in one process for all, the JIT state earlier rows left moved a
  // later row's figure (gramjs:processEntities ×1000 new users, bridge: 13.3M Ir/op alone,
  // 23.1M after the mtcute rows' 20,000 warm-up ops, 11.3M of it compiler).
  for (const row of rows) {
    const totals = callgrindDumps(['--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), '--child', row], `cg.out.3 is ${row}'s first side`);
    // The second empty window (the first one also warms the control path up).
    const overhead = totals[1];
    const [a, b] = SIDES[clientOf(row)];
    const ia = (totals[2] - overhead) / count(row);
    const ib = (totals[3] - overhead) / count(row);
    console.log(`${row.padEnd(64)} ${a} ${ia.toFixed(0)} Ir/op  ${b} ${ib.toFixed(0)} Ir/op  ${b}/${a} ${(ib / ia).toFixed(3)}  (control calls per window: ${overhead} Ir, subtracted)`);
  }
}

const CLOCK_READS = 100_000;
/** Each clock as the fence reads it: once, compared with a deadline it never reaches. */
function clocks() {
  const held = { safeUntil: Number.POSITIVE_INFINITY };
  const lapsed = () => new Error('bridge-icount: a clock passed +Infinity');
  // References captured once, as core's lease.ts captures process.hrtime.
  const { hrtime, uptime } = process;
  const hrtimeBigint = process.hrtime.bigint;
  return {
    'the loop alone (subtracted)': () => {
      if (0 >= held.safeUntil) throw lapsed();
    },
    'performance.now() (node:perf_hooks binding)': () => {
      if (performance.now() >= held.safeUntil) throw lapsed();
    },
    'globalThis.performance.now()': () => {
      if (globalThis.performance.now() >= held.safeUntil) throw lapsed();
    },
    'process.hrtime, captured (ms)': () => {
      const time = hrtime();
      if (time[0] * 1000 + time[1] / 1e6 >= held.safeUntil) throw lapsed();
    },
    'process.hrtime() through the global (ms)': () => {
      const time = process.hrtime();
      if (time[0] * 1000 + time[1] / 1e6 >= held.safeUntil) throw lapsed();
    },
    'process.hrtime.bigint, captured': () => {
      if (Number(hrtimeBigint()) / 1e6 >= held.safeUntil) throw lapsed();
    },
    'process.hrtime.bigint() through the global': () => {
      if (Number(process.hrtime.bigint()) / 1e6 >= held.safeUntil) throw lapsed();
    },
    'process.uptime, captured': () => {
      if (uptime() * 1000 >= held.safeUntil) throw lapsed();
    },
    'process.uptime() through the global': () => {
      if (process.uptime() * 1000 >= held.safeUntil) throw lapsed();
    },
  };
}

async function clocksChild() {
  await measured(async () => {});
  await measured(async () => {});
  for (const read of Object.values(clocks())) {
    const loop = (n) => {
      for (let i = 0; i < n; i++) read();
    };
    for (let i = 0; i < 50; i++) loop(1000);
    globalThis.gc();
    await measured(async () => loop(CLOCK_READS));
  }
}

function clocksReport() {
  const totals = callgrindDumps(['--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), '--clocks-child'], 'cg.out.3 is the loop alone');
  const perRead = totals.slice(2).map((total) => (total - totals[1]) / CLOCK_READS);
  Object.keys(clocks()).forEach((name, i) => {
    const net = i === 0 ? '' : `  ${(perRead[i] - perRead[0]).toFixed(0).padStart(4)} Ir a read`;
    console.log(`${name.padEnd(46)} ${perRead[i].toFixed(0).padStart(4)} Ir a call${net}`);
  });
}

const args = process.argv.slice(2);
const profileTop = Number(process.env.ICOUNT_PROFILE ?? 0);
if (args[0] === '--report' && profileTop > 0) for (const row of args.length > 1 ? args.slice(1) : ROWS) await profile(row, profileTop);
else if (args[0] === '--report') report(args.length > 1 ? args.slice(1) : ROWS);
else if (args[0] === '--child') await child(args.slice(1));
else if (args[0] === '--clocks') clocksReport();
else if (args[0] === '--clocks-child') await clocksChild();
else throw new Error('usage: node bench/bridge-icount.mjs --report [row ...] | --clocks');
