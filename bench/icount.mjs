// Instruction counts per operation (callgrind), for the hot rows of bench/run.mjs:
//   node bench/icount.mjs <op> <side> <concurrency>     runs one target, prints nothing useful;
//   node bench/icount.mjs --report <op> [c]             runs callgrind on both sides at two
//                                                        op counts and prints instructions per op.
// Per-op figure = (Ir at N2 ops - Ir at N1 ops) / (N2 - N1): start-up and JIT warm-up cancel.
// <op> is backend:operation. memory and sqlite have the rows below (kv.get, kv.set, cached
// miss, cached hit, authKeys.set with memory's raw side); any other row (sqlite:save, …) and
// any other backend (postgres, typeorm, mongo, redis) runs the row of
// bench/adapters/<backend>.mjs of that name, both sides as `npm run bench` runs them; networked
// rows with fewer ops (N1 1,024, N2 4,096: a round trip under callgrind is slow), instrumented only
// while they run (after their warm-up, below; callgrind_control toggles it). Instructions are
// this process's only: the server's work is not in them, so they show what each side's
// JavaScript and driver cost per op, which is what an adapter/raw gap on a busy machine
// comes from when both send the same statements. They include V8's compiler and GC
// threads, which on these short runs swing by 100k+ Ir/op between runs (a major GC or a
// re-optimization in one window and not the other): before trusting a gap, split the
// output files with callgrind_annotate (v8::internal::compiler::… is compilation;
// marking, sweeping and scavenging are GC; the rest is the JavaScript and runtime).
// ICOUNT_N1 / ICOUNT_N2 set the two op counts for every backend.
// Every row is instrumented only after its warm-up: networked rows 2,048 ops, the sealed
// rows 10,000, the other local rows 100,000: memory and SQLite answer in a few thousand
// instructions, and without a long warm-up V8's tiering (Maglev, then TurboFan, on-stack
// replacement) of the code under test lands inside the measured windows, differently in
// N1's and N2's. ICOUNT_WARMUP sets the warm-up ops for every row. Local rows run
// --single-threaded, with a full collection (--expose-gc) before the window: compiler and
// GC work then lands on the main thread in a fixed order, so repeated runs agree (memory:
// kv.get c=64 within ±20 Ir/op, where background threads made it wander by ±1,000).
// Local rows also: memory:update (sqlite:update), a patch of the update state and three
// channels, as the mtcute bridge's save() may write it; memory:save sealed, memory:load sealed (and sqlite:...), bench/run.mjs's
// "(encryption on ÷ off)" rows, and memory:load sealed other (sqlite:...): the same load by an
// instance that never saved the session (another instance, as another process, did).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callgrindTotal, instrument } from './callgrind.mjs';

const [first, ...rest] = process.argv.slice(2);
const LOCAL = new Set(['memory', 'sqlite']);
const networked = (op) => !LOCAL.has(op.split(':')[0]);
const counts = (op) => {
  const [n1, n2] = networked(op) ? [1_024, 4_096] : [10_000, 60_000];
  return [Number(process.env.ICOUNT_N1 ?? n1), Number(process.env.ICOUNT_N2 ?? n2)];
};
const warmup = (op) => Number(process.env.ICOUNT_WARMUP ?? (networked(op) ? 2_048 : op.includes('sealed') ? 10_000 : 100_000));

// bench/common.mjs's kvKey / kvValue, inlined: common.mjs loads the conformance kit (and
// fast-check), which only adds start-up instructions to every run.
const kvKey = (i) => `salts:${i % 8}`;
const kvValue = (i) => new Uint8Array(64).fill(i & 0xff);
const encryption = { keys: [{ id: 'bench', key: new Uint8Array(32).fill(7) }] };
/** The session the update row's patches change (update() needs a stored snapshot), and its patch. */
const updateSession = () => ({ version: 1, homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }], channels: [] });
const updatePatch = (i) => ({
  state: { pts: i, qts: 1, date: 1_700_000_000, seq: 1 },
  channels: [{ id: 1n, pts: i }, { id: 2n, pts: i + 1 }, { id: 3n, pts: i + 2 }],
});

/** The row `name` of bench/adapters/<backend>.mjs, both sides as run.mjs measures them. */
async function moduleTargets(backend, name) {
  const module = (await import(`./adapters/${backend}.mjs`)).default;
  // No unavailable() check: its 3 s connect timeout is too short under valgrind; open() fails plainly.
  const opened = await module.open({ wanted: (operation) => operation === name });
  const pair = { adapter: opened.targets.adapter[name], raw: opened.targets.raw[name] };
  if (!pair.adapter || !pair.raw) throw new Error(`icount: bench/adapters/${backend}.mjs has no row ${JSON.stringify(name)} on both sides`);
  return { pair, close: async () => { await opened.sealed?.close(); await opened.close(); } };
}

/**
 * The memory and sqlite rows written out here, each built from what targets() opened;
 * any other row of theirs is their bench module's.
 */
const LOCAL_ROWS = {
  // bench/common.mjs's sealedRows: the same call with encryption on (adapter) and off (raw).
  'save sealed': ({ sealed, client, session }) => ({ adapter: () => sealed.save(session), raw: () => client.save(session) }),
  'load sealed': ({ sealed, client }) => ({ adapter: () => sealed.load(), raw: () => client.load() }),
  'load sealed other': ({ otherReader, client }) => ({ adapter: () => otherReader.load(), raw: () => client.load() }),
  'kv.get': ({ client, rawKv }) => ({
    adapter: (i) => client.kv.get(kvKey(i)),
    raw: async (i) => {
      const value = rawKv.get(kvKey(i));
      return value === undefined ? null : new Uint8Array(value);
    },
  }),
  'kv.set': ({ client, rawKv }) => ({
    adapter: (i) => client.kv.set(kvKey(i), kvValue(i)),
    raw: async (i) => void rawKv.set(kvKey(i), new Uint8Array(kvValue(i))),
  }),
  // memory's raw side (bench/adapters/memory.mjs): a Map of copies; sqlite's is memory's too here.
  'authKeys.set': ({ client, rawKeys, benchKey, benchKeyDc }) => ({
    adapter: (i) => client.authKeys.set(benchKeyDc(i), benchKey(i)),
    raw: async (i) => void rawKeys.set(`${benchKeyDc(i)}:0`, new Uint8Array(benchKey(i))),
  }),
  // A patch as the mtcute bridge's save() may write it (packages/mtcute/src/session-kv.ts:
  // the update state and a channel list); the raw side puts copies of both in a session object.
  update: ({ client, rawSession }) => ({
    adapter: (i) => client.update(updatePatch(i)),
    raw: async (i) => {
      const { state, channels } = updatePatch(i);
      rawSession.state = { ...state };
      rawSession.channels = channels.map((channel) => ({ ...channel }));
    },
  }),
  'cached miss': ({ cache, storage }) => ({ adapter: () => cache.hasSession(1n, 2n), raw: () => storage.hasSession(1n, 2n) }),
  'cached hit': ({ cache, storage }) => ({ adapter: () => cache.hasSession(1n, 1n), raw: () => storage.hasSession(1n, 1n) }),
};

async function targets(op) {
  // The kit (and fast-check) only for the rows that save its session: start-up cost, cancelled by N2 - N1.
  const kit = op.includes('sealed') || op.includes('authKeys') ? await import('@mtstore/conformance') : undefined;
  const session = op.includes('sealed') ? kit.fullSession(1) : undefined;
  const [backend, name] = op.split(':');
  // A local backend's other rows (save, load, peers.…) are its bench module's, as for the networked ones.
  if (!LOCAL.has(backend) || !Object.hasOwn(LOCAL_ROWS, name)) return moduleTargets(backend, name);
  const { CachedSessionStorage, LocalSessionEventBus } = await import('@mtstore/core');
  // otherWriter saves the session otherReader loads (the "load sealed other" row).
  let storage, client, sealed, otherWriter, otherReader, dir;
  if (backend === 'memory') {
    const { MemorySessionStorage, MemoryStorage, MemoryStore } = await import('@mtstore/memory');
    const store = new MemoryStore();
    storage = new MemorySessionStorage({ store });
    client = new MemoryStorage({ store, name: 'bench' });
    sealed = new MemoryStorage({ store, name: 'sealed', encryption });
    otherWriter = new MemoryStorage({ store, name: 'other', encryption });
    otherReader = new MemoryStorage({ store, name: 'other', encryption });
  } else {
    const { SqliteSessionStorage, SqliteStorage } = await import('@mtstore/sqlite');
    dir = mkdtempSync(join(tmpdir(), 'mtstore-icount-'));
    storage = new SqliteSessionStorage(join(dir, 'server.session'));
    client = new SqliteStorage(join(dir, 'client.session'));
    // One argument: a path or options (a second argument was ignored: these were not sealed).
    sealed = new SqliteStorage({ path: join(dir, 'sealed.session'), encryption });
    otherWriter = new SqliteStorage({ path: join(dir, 'other.session'), encryption });
    otherReader = new SqliteStorage({ path: join(dir, 'other.session'), encryption });
  }
  for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));
  const rawKv = new Map(Array.from({ length: 8 }, (_, i) => [kvKey(i), kvValue(i)]));
  const rawKeys = new Map();
  // bench/common.mjs's benchKey / benchKeyDc (common.mjs itself is not imported: see kvKey).
  const benchKey = (i) => kit.authKey(i % 16);
  const benchKeyDc = (i) => (i % 5) + 1;
  const bus = new LocalSessionEventBus();
  const cache = new CachedSessionStorage(storage, { bus });
  await cache.ready();
  await storage.createSession(1n, 1n);
  await cache.hasSession(1n, 1n);
  const rawSession = updateSession();
  if (name === 'update') await client.save(updateSession());
  if (session !== undefined) {
    await client.save(session);
    await sealed.save(session);
    await otherWriter.save(session);
  }
  const pair = LOCAL_ROWS[name]({ client, sealed, otherReader, session, cache, storage, rawKv, rawKeys, rawSession, benchKey, benchKeyDc });
  return { pair, close: async () => { await cache.close(); await bus.close(); await storage.close(); await client.close(); await sealed.close(); await otherWriter.close(); await otherReader.close(); if (dir) rmSync(dir, { recursive: true, force: true }); } };
}


async function run(op, side, concurrency, count) {
  const { pair, close } = await targets(op);
  const target = pair[side];
  let counter = 0;
  const waves = async (n) => {
    for (let done = 0; done < n; done += concurrency) {
      const wave = [];
      for (let i = 0; i < concurrency; i++) wave.push(target(counter++));
      await Promise.all(wave);
    }
  };
  // Start-up (imports, schema, set-up) under callgrind takes minutes on a busy box: only
  // the measured ops are instrumented, after a warm-up so the JIT has settled.
  await waves(warmup(op));
  // A full collection first (local rows: --expose-gc), so no window inherits the warm-up's garbage.
  globalThis.gc?.();
  await instrument('on');
  await waves(count);
  await instrument('off');
  await close();
}

function instructions(op, side, concurrency, count) {
  // Local rows run --single-threaded (V8's compiler and GC work lands on the main thread in
  // a fixed order, as in lookup-icount.mjs): with background threads, memory:kv.get's default
  // windows wandered by ±1,000 Ir/op between runs.
  const flags = networked(op) ? [] : ['--single-threaded', '--expose-gc'];
  return callgrindTotal([...flags, fileURLToPath(import.meta.url), op, side, String(concurrency), String(count)], { valgrind: ['--instr-atstart=no'] });
}

if (first === '--report') {
  const [op, c] = rest;
  for (const concurrency of c ? [Number(c)] : [1, 64]) {
    const per = {};
    const [n1, n2] = counts(op);
    for (const side of ['adapter', 'raw']) per[side] = (instructions(op, side, concurrency, n2) - instructions(op, side, concurrency, n1)) / (n2 - n1);
    console.log(`${op.padEnd(20)} c=${String(concurrency).padEnd(3)} adapter ${per.adapter.toFixed(0)} Ir/op  raw ${per.raw.toFixed(0)} Ir/op  raw/adapter ${(per.raw / per.adapter).toFixed(3)}`);
  }
} else {
  await run(first, rest[0], Number(rest[1]), Number(rest[2]));
}
