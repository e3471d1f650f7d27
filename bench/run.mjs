#!/usr/bin/env node
// npm run bench [-- --adapter redis[,postgres] --quick --concurrency 1,64 --ops kv.,authKeys.set --rounds 7 --out file.json]
// (with memory or sqlite, or --adapter clients alone: also the "vs clients" section, bench/vs-clients.mjs;
// --no-clients leaves it out; with postgres, redis or mongo: the event bus rows, bench/bus.mjs, --no-bus leaves them out)
//
// For every adapter whose server is reachable, measures each operation through the
// adapter and through the raw driver doing the same work (same queries / commands,
// same concurrency), in the same process and run, and prints median ops/s, p99
// latency and the ratio adapter/raw. Machines are noisy: compare ratios, not ops/s.
// Results also go to bench/results.json (or --out); `node bench/report.mjs` turns
// them into the README's markdown.
//
// One sample is one "wave": `concurrency` calls started together and awaited, so at
// concurrency 64 a sample's ops/s is 64 / wave time and its latency is the slowest
// call of the wave (an upper bound of a single call's latency). Each row runs in
// several rounds (3 with --quick, else 5) that alternate which side goes first; the
// row shows the median of the rounds, and the ratio is the median per-round ratio.
//
// --ops a,b   only the operations whose name contains one of the comma-separated
//             substrings (case-sensitive: `kv.` is kv.get, kv.set and the lease row of
//             kv.set; `authKeys.set`), e.g. to confirm a few rows with many rounds;
//             modules skip set-up only other rows need (typeorm, postgres: 50 peer batches);
//             the memory figures are left out.
// --rounds N  rounds per row instead of 3 (--quick) or 5; more rounds narrow the median
//             on a busy machine at the cost of time.
// `node bench/run.mjs --adapter typeorm,postgres,mongo --ops kv.,authKeys.set --rounds 7 --no-clients`
// is such a confirmation run.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { measureMemory } from './memory.mjs';
import { cacheTargets } from './cache.mjs';
import { belowTarget, fullTable } from './report.mjs';

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const quick = args.includes('--quick');
const only = option('adapter')?.split(',');
const concurrencies = (option('concurrency') ?? '1,64').split(',').map(Number);
const time = quick ? 100 : 400;
const warmupTime = quick ? 30 : 100;
const opFilter = option('ops')?.split(',').filter((part) => part !== '');
const wanted = (operation) => opFilter === undefined || opFilter.some((part) => operation.includes(part));
const roundCount = option('rounds') === undefined ? (quick ? 3 : 5) : Number(option('rounds'));
if (!Number.isInteger(roundCount) || roundCount < 1) throw new Error(`bench: --rounds must be a positive integer, got ${JSON.stringify(option('rounds'))}`);
if (opFilter !== undefined && opFilter.length === 0) throw new Error('bench: --ops needs at least one name substring');
// tinybench runs at least this many samples even past `time`: keep slow waves (64 × 1,000 peers) bounded.
const minIterations = quick ? 4 : 8;

const ADAPTERS = ['memory', 'sqlite', 'postgres', 'redis', 'mongo', 'typeorm'];
const results = [];
const skipped = [];

function stats(task, concurrency) {
  const latency = task.result.latency; // ms per wave
  return {
    opsPerSecond: (concurrency * 1000) / latency.p50,
    p99Ms: latency.p99,
    samples: latency.samplesCount ?? task.result.samples?.length,
  };
}

for (const name of ADAPTERS.filter((n) => !only || only.includes(n))) {
  let module;
  try {
    module = (await import(`./adapters/${name}.mjs`)).default;
  } catch (error) {
    // Only the module itself missing skips it: a module whose own import fails (a package
    // not found from it) says so instead of vanishing from the tables.
    if (error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).startsWith(`Cannot find module '${fileURLToPath(new URL(`./adapters/${name}.mjs`, import.meta.url))}'`)) continue;
    throw error;
  }
  const reason = await module.unavailable();
  if (reason) {
    skipped.push({ adapter: name, reason });
    console.log(`- ${name}: skipped (${reason})`);
    continue;
  }
  const opened = await module.open({ wanted });
  // Encryption-at-rest rows: the module's sealed storage beside its plain one (bench/common.mjs sealedRows).
  if (opened.sealed) {
    Object.assign(opened.targets.adapter, opened.sealed.adapter);
    Object.assign(opened.targets.raw, opened.sealed.raw);
  }
  // CachedSessionStorage rows on this backend's storage and bus (bench/cache.mjs).
  const cache = await cacheTargets(name);
  if (cache) {
    Object.assign(opened.targets.adapter, cache.adapter);
    Object.assign(opened.targets.raw, cache.raw);
  }
  try {
    for (const operation of Object.keys(opened.targets.adapter).filter(wanted)) {
      // A row needs both sides: an operation whose raw side a module does not define yet is listed, not measured.
      if (opened.targets.raw[operation] === undefined) {
        console.log(`${name.padEnd(9)} ${operation.padEnd(30)} no raw side in bench/adapters/${name}.mjs: not measured`);
        continue;
      }
      for (const concurrency of concurrencies) {
        if (opened.concurrency?.[operation] && !opened.concurrency[operation].includes(concurrency)) continue;
        // Rounds alternate which side runs first, so drift in machine load lands on
        // both sides; the row reports medians over rounds.
        const rounds = { adapter: [], raw: [], ratio: [] };
        for (let round = 0; round < roundCount; round++) {
          const bench = new Bench({ time, warmupTime, iterations: minIterations, warmupIterations: minIterations });
          let counter = 0;
          const order = round % 2 === 0 ? ['adapter', 'raw'] : ['raw', 'adapter'];
          for (const target of order) {
            const run = opened.targets[target][operation];
            bench.add(target, async () => {
              const wave = [];
              for (let i = 0; i < concurrency; i++) wave.push(run(counter++));
              await Promise.all(wave);
            });
          }
          await bench.run();
          const byName = Object.fromEntries(bench.tasks.map((t) => [t.name, stats(t, concurrency)]));
          rounds.adapter.push(byName.adapter);
          rounds.raw.push(byName.raw);
          rounds.ratio.push(byName.adapter.opsPerSecond / byName.raw.opsPerSecond);
        }
        const adapter = { opsPerSecond: median(rounds.adapter.map((r) => r.opsPerSecond)), p99Ms: median(rounds.adapter.map((r) => r.p99Ms)) };
        const raw = { opsPerSecond: median(rounds.raw.map((r) => r.opsPerSecond)), p99Ms: median(rounds.raw.map((r) => r.p99Ms)) };
        const row = { adapter: name, operation, concurrency, adapterOps: adapter.opsPerSecond, rawOps: raw.opsPerSecond, ratio: median(rounds.ratio), adapterP99Ms: adapter.p99Ms, rawP99Ms: raw.p99Ms, rounds: roundCount };
        results.push(row);
        console.log(
          `${name.padEnd(9)} ${operation.padEnd(30)} c=${String(concurrency).padEnd(3)} adapter ${fmt(row.adapterOps)} ops/s (p99 ${row.adapterP99Ms.toFixed(3)} ms)  raw ${fmt(row.rawOps)} ops/s (p99 ${row.rawP99Ms.toFixed(3)} ms)  ratio ${row.ratio.toFixed(2)}`,
        );
      }
    }
  } finally {
    await opened.sealed?.close();
    await opened.close();
    await cache?.close();
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US').padStart(11);
}

// Memory figures are not operation rows: --ops leaves them out.
const memory = opFilter !== undefined || (only && !only.includes('memory') && !only.includes('sqlite')) ? [] : await measureMemory({ only });
for (const m of memory) {
  console.log(`memory    ${m.what.padEnd(34)} RSS ${(m.bytes / 2 ** 20).toFixed(1)} MiB (${Math.round(m.bytes / m.count)} B each), JS heap ${(m.heapBytes / 2 ** 20).toFixed(1)} MiB (${Math.round(m.heapBytes / m.count)} B each)`);
}

// mtstore against the clients' own storage (bench/vs-clients.mjs), with the memory and sqlite adapters.
const withClients = !args.includes('--no-clients') && (!only || only.includes('memory') || only.includes('sqlite') || only.includes('clients'));
const clients = withClients ? await (await import('./vs-clients.mjs')).benchClients({ quick }) : [];

// Session events between two processes on the postgres, redis and mongo buses (bench/bus.mjs); --no-bus leaves them out, so does --ops.
const withBus = !args.includes('--no-bus') && opFilter === undefined && (!only || only.some((n) => ['postgres', 'redis', 'mongo'].includes(n)));
const bus = withBus ? await (await import('./bus.mjs')).benchBus({ quick, only }) : [];

console.log(`\n${fullTable(results)}`);
const short = belowTarget(results);
if (short) console.log(`\n${short}`);

const machine = { cpus: `${cpus().length}× ${cpus()[0]?.model ?? 'unknown'}`, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
const out = option('out') ?? fileURLToPath(new URL('./results.json', import.meta.url));
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), machine, quick, results, memory, clients, bus, skipped }, null, 2)}\n`);
console.log(`\nwrote ${out} (${results.length} rows)`);
