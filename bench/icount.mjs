// Instruction counts per operation (callgrind), for the hot rows of bench/run.mjs:
//   node bench/icount.mjs <op> <side> <concurrency>     runs one target, prints nothing useful;
//   node bench/icount.mjs --report <op> [c]             runs callgrind on both sides at two
//                                                        op counts and prints instructions per op.
// Per-op figure = (Ir at N2 ops - Ir at N1 ops) / (N2 - N1): start-up and JIT warm-up cancel.
// ICOUNT_N1 / ICOUNT_N2 set the two op counts (default 10,000 / 60,000).
// <op>: memory:kv.get, memory:kv.set, memory:cached hit, memory:cached miss, memory:save sealed,
// memory:load sealed (and sqlite:...); the sealed rows are bench/run.mjs's "(encryption on ÷ off)".
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [first, ...rest] = process.argv.slice(2);
const N1 = Number(process.env.ICOUNT_N1 ?? 10_000);
const N2 = Number(process.env.ICOUNT_N2 ?? 60_000);

// bench/common.mjs's kvKey / kvValue, inlined: common.mjs loads the conformance kit (and
// fast-check), which only adds start-up instructions to every run.
const kvKey = (i) => `salts:${i % 8}`;
const kvValue = (i) => new Uint8Array(64).fill(i & 0xff);
const encryption = { keys: [{ id: 'bench', key: new Uint8Array(32).fill(7) }] };

async function targets(op) {
  // The kit (and fast-check) only for the rows that save its session: start-up cost, cancelled by N2 - N1.
  const session = op.includes('sealed') ? (await import('@mtstore/conformance')).fullSession(1) : undefined;
  const [backend, name] = op.split(':');
  const { CachedSessionStorage, LocalSessionEventBus } = await import('@mtstore/core');
  let storage, client, sealed, dir;
  if (backend === 'memory') {
    const { MemorySessionStorage, MemoryStorage, MemoryStore } = await import('@mtstore/memory');
    const store = new MemoryStore();
    storage = new MemorySessionStorage({ store });
    client = new MemoryStorage({ store, name: 'bench' });
    sealed = new MemoryStorage({ store, name: 'sealed', encryption });
  } else {
    const { SqliteSessionStorage, SqliteStorage } = await import('@mtstore/sqlite');
    dir = mkdtempSync(join(tmpdir(), 'mtstore-icount-'));
    storage = new SqliteSessionStorage(join(dir, 'server.session'));
    client = new SqliteStorage(join(dir, 'client.session'));
    sealed = new SqliteStorage(join(dir, 'sealed.session'), { encryption });
  }
  for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));
  const rawKv = new Map(Array.from({ length: 8 }, (_, i) => [kvKey(i), kvValue(i)]));
  const bus = new LocalSessionEventBus();
  const cache = new CachedSessionStorage(storage, { bus });
  await cache.ready();
  await storage.createSession(1n, 1n);
  await cache.hasSession(1n, 1n);
  if (session !== undefined) {
    await client.save(session);
    await sealed.save(session);
  }
  const all = {
    // bench/common.mjs's sealedRows: the same call with encryption on (adapter) and off (raw).
    'save sealed': { adapter: () => sealed.save(session), raw: () => client.save(session) },
    'load sealed': { adapter: () => sealed.load(), raw: () => client.load() },
    'kv.get': {
      adapter: (i) => client.kv.get(kvKey(i)),
      raw: async (i) => {
        const value = rawKv.get(kvKey(i));
        return value === undefined ? null : new Uint8Array(value);
      },
    },
    'kv.set': {
      adapter: (i) => client.kv.set(kvKey(i), kvValue(i)),
      raw: async (i) => void rawKv.set(kvKey(i), new Uint8Array(kvValue(i))),
    },
    'cached miss': { adapter: () => cache.hasSession(1n, 2n), raw: () => storage.hasSession(1n, 2n) },
    'cached hit': { adapter: () => cache.hasSession(1n, 1n), raw: () => storage.hasSession(1n, 1n) },
  };
  return { pair: all[name], close: async () => { await cache.close(); await bus.close(); await storage.close(); await client.close(); await sealed.close(); if (dir) rmSync(dir, { recursive: true, force: true }); } };
}

async function run(op, side, concurrency, count) {
  const { pair, close } = await targets(op);
  const target = pair[side];
  let counter = 0;
  for (let done = 0; done < count; done += concurrency) {
    const wave = [];
    for (let i = 0; i < concurrency; i++) wave.push(target(counter++));
    await Promise.all(wave);
  }
  await close();
}

function instructions(op, side, concurrency, count) {
  const dir = mkdtempSync(join(tmpdir(), 'icount-'));
  const out = join(dir, 'cg.out');
  execFileSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, fileURLToPath(import.meta.url), op, side, String(concurrency), String(count)], { stdio: 'ignore' });
  const summary = readFileSync(out, 'utf8').match(/^summary: (\d+)/m) ?? readFileSync(out, 'utf8').match(/^totals: (\d+)/m);
  rmSync(dir, { recursive: true, force: true });
  return Number(summary[1]);
}

if (first === '--report') {
  const [op, c] = rest;
  for (const concurrency of c ? [Number(c)] : [1, 64]) {
    const per = {};
    for (const side of ['adapter', 'raw']) per[side] = (instructions(op, side, concurrency, N2) - instructions(op, side, concurrency, N1)) / (N2 - N1);
    console.log(`${op.padEnd(20)} c=${String(concurrency).padEnd(3)} adapter ${per.adapter.toFixed(0)} Ir/op  raw ${per.raw.toFixed(0)} Ir/op  raw/adapter ${(per.raw / per.adapter).toFixed(3)}`);
  }
} else {
  await run(first, rest[0], Number(rest[1]), Number(rest[2]));
}
