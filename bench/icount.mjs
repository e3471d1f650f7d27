// Instruction counts per operation (callgrind), for the hot rows of bench/run.mjs:
//   node bench/icount.mjs <op> <side> <concurrency>     runs one target, prints nothing useful;
//   node bench/icount.mjs --report <op> [c]             runs callgrind on both sides at two
//                                                        op counts and prints instructions per op.
// Per-op figure = (Ir at N2 ops - Ir at N1 ops) / (N2 - N1): start-up and JIT warm-up cancel.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [first, ...rest] = process.argv.slice(2);
const N1 = 10_000;
const N2 = 60_000;

// bench/common.mjs's kvKey / kvValue, inlined: common.mjs loads the conformance kit (and
// fast-check), which only adds start-up instructions to every run.
const kvKey = (i) => `salts:${i % 8}`;
const kvValue = (i) => new Uint8Array(64).fill(i & 0xff);

async function targets(op) {
  const [backend, name] = op.split(':');
  const { CachedSessionStorage, LocalSessionEventBus } = await import('@mtstore/core');
  let storage, client, dir;
  if (backend === 'memory') {
    const { MemorySessionStorage, MemoryStorage, MemoryStore } = await import('@mtstore/memory');
    const store = new MemoryStore();
    storage = new MemorySessionStorage({ store });
    client = new MemoryStorage({ store, name: 'bench' });
  } else {
    const { SqliteSessionStorage, SqliteStorage } = await import('@mtstore/sqlite');
    dir = mkdtempSync(join(tmpdir(), 'mtstore-icount-'));
    storage = new SqliteSessionStorage(join(dir, 'server.session'));
    client = new SqliteStorage(join(dir, 'client.session'));
  }
  for (let i = 0; i < 8; i++) await client.kv.set(kvKey(i), kvValue(i));
  const rawKv = new Map(Array.from({ length: 8 }, (_, i) => [kvKey(i), kvValue(i)]));
  const bus = new LocalSessionEventBus();
  const cache = new CachedSessionStorage(storage, { bus });
  await cache.ready();
  await storage.createSession(1n, 1n);
  await cache.hasSession(1n, 1n);
  const all = {
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
  return { pair: all[name], close: async () => { await cache.close(); await bus.close(); await storage.close(); await client.close(); if (dir) rmSync(dir, { recursive: true, force: true }); } };
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
