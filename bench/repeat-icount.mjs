// Instructions per 1,000-peer batch (callgrind) of core's batch repeat checks, which
// BaseStorage.peers.upsert runs before a repository sees a batch: repeatsPeer (the
// (type, id) check of a `peersUpsertInOrder` repository: memory) and checkPeerBatch
// (ids, usernames and phones: a `writesCopyBytes` one: sqlite).
//   node bench/repeat-icount.mjs --report [check ...]    callgrind at two batch counts per check;
//   node bench/repeat-icount.mjs <bundle> <check> <count> runs one target (what callgrind runs).
// Checks: repeatsPeer, checkPeerBatch. Neither is exported from @mtstore/core's dist, so
// --report bundles packages/core/src/peers.ts with esbuild (from the working tree: build
// nothing first) into a temporary module. Batches are client-peers.mjs's (users with a
// username and a phone, no repeats: the whole batch is checked), BATCHES of them built
// before any check runs, so their cost is the same at N1 and N2. Per-batch figure =
// (Ir at N2 checks - Ir at N1) / (N2 - N1), after WARMUP checks (100,000 peers) in both
// runs, so start-up and JIT warm-up cancel. Node runs --single-threaded under callgrind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { callgrindTotal } from './callgrind.mjs';
import { batchOf, mtstorePeer, PEERS } from './client-peers.mjs';

// A check costs a few hundred thousand instructions: a thousand of them between N1 and
// N2 outweigh what start-up and compilation leave in the difference (with 20 and 100,
// repeatsPeer read 273k to 380k a batch in four runs of the same code).
const N1 = 100;
const N2 = 1_100;
const WARMUP = 100;
const BATCHES = 8;
const CHECKS = ['repeatsPeer', 'checkPeerBatch'];

async function run(bundle, check, count) {
  const fn = (await import(pathToFileURL(bundle).href))[check];
  const batches = Array.from({ length: BATCHES }, (_, b) => batchOf(mtstorePeer, 1 + b * PEERS));
  let repeated = 0;
  for (let i = 0; i < WARMUP + count; i++) if (fn(batches[i % BATCHES])) repeated++;
  // The batches repeat nothing: any true is a broken check, not a figure.
  if (repeated !== 0) throw new Error(`${check} found a repeat in a batch with none`);
}

function instructions(bundle, check, count) {
  return callgrindTotal(['--single-threaded', fileURLToPath(import.meta.url), bundle, check, String(count)]);
}

const args = process.argv.slice(2);
if (args[0] === '--report') {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'repeat-icount-'));
  const bundle = join(dir, 'peers.mjs');
  await build({ entryPoints: [fileURLToPath(new URL('../packages/core/src/peers.ts', import.meta.url))], bundle: true, format: 'esm', platform: 'node', outfile: bundle, logLevel: 'error' });
  try {
    for (const check of args.length > 1 ? args.slice(1) : CHECKS) {
      if (!CHECKS.includes(check)) throw new Error(`repeat-icount: no check ${JSON.stringify(check)} (${CHECKS.join(', ')})`);
      const per = (instructions(bundle, check, N2) - instructions(bundle, check, N1)) / (N2 - N1);
      console.log(`${check.padEnd(17)} ${(per / 1e3).toFixed(1)}k Ir/batch  ${(per / PEERS).toFixed(0)} Ir/peer`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  await run(args[0], args[1], Number(args[2]));
}
