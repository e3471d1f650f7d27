// Instructions per 1,000-peer batch of new peers (callgrind), for the "memory: 1,000-peer
// batch, insert" row of bench/vs-clients.mjs: @mtstore/memory's MemoryStorage against
// mtcute's MemoryStorage, peers made by client-peers.mjs.
//   node bench/memory-insert-icount.mjs --report [side ...]   callgrind on each side at two batch counts;
//   node bench/memory-insert-icount.mjs <side> <mode> <count> runs one target (what callgrind runs).
// Sides: mtstore, mtcute. Modes: store (the batches are built before the measured window:
// the store's own work) and build (each batch built in the call, as vs-clients.mjs times it).
// Only the batches are instrumented (callgrind_control switches it on after WARMUP batches
// and off after them); per-batch figure = (Ir at N2 batches - Ir at N1) / (N2 - N1).
// The windows are long (10 and 60 batches) so that young-generation collections land in
// them on both sides: with 5 and 25, mtcute's batches fit in the new space emptied by the
// gc() before the window, it never scavenged there, and the figure left out the copying
// of what it keeps (its build row read ~6.2k instructions a peer instead of ~11.6k).
// Node runs --single-threaded under callgrind, with fixed hash and random seeds; the figure
// still moves by about ±5% run to run (when collections land depends on heap-growth
// heuristics): compare changes of more than that, or repeat the report.
import { fileURLToPath } from 'node:url';
import { callgrindTotal, instrument } from './callgrind.mjs';
import { batchOf, mtcutePeer, mtstorePeer, PEERS } from './client-peers.mjs';

const N1 = 10;
const N2 = 60;
/** Batches stored before the measured ones (20,000 peers: the JIT has settled). */
const WARMUP = 20;

async function side(name) {
  if (name === 'mtstore') {
    const memory = await import('@mtstore/memory');
    const s = new memory.MemoryStorage({ name: 'bench' });
    return { make: mtstorePeer, store: (batch) => s.peers.upsert(batch) };
  }
  const { MemoryStorage } = await import('@mtcute/core');
  const s = new MemoryStorage();
  await s.driver.load();
  // mtcute's PeersService builds a fresh PeerInfo per store: so does this side (as vs-clients.mjs).
  return {
    make: mtcutePeer,
    store: async (batch) => {
      for (const p of batch) s.peers.store({ ...p });
    },
  };
}


async function run(name, mode, count) {
  const s = await side(name);
  let at = 1;
  for (let i = 0; i < WARMUP; i++, at += PEERS) await s.store(batchOf(s.make, at));
  const prebuilt = [];
  if (mode === 'store') for (let i = 0; i < count; i++) prebuilt.push(batchOf(s.make, at + i * PEERS));
  globalThis.gc?.();
  const valgrind = process.env.MEMORY_ICOUNT_INSTRUMENT === '1';
  if (valgrind) await instrument('on');
  for (let i = 0; i < count; i++, at += PEERS) await s.store(mode === 'store' ? prebuilt[i] : batchOf(s.make, at));
  if (valgrind) await instrument('off');
}

function instructions(name, mode, count) {
  return callgrindTotal(['--single-threaded', '--expose-gc', '--hash-seed=1', '--random-seed=1', fileURLToPath(import.meta.url), name, mode, String(count)], {
    valgrind: ['--instr-atstart=no'],
    env: { ...process.env, MEMORY_ICOUNT_INSTRUMENT: '1' },
  });
}

const args = process.argv.slice(2);
if (args[0] === '--report') {
  const names = args.length > 1 ? args.slice(1) : ['mtstore', 'mtcute'];
  for (const mode of ['store', 'build']) {
    for (const name of names) {
      const per = (instructions(name, mode, N2) - instructions(name, mode, N1)) / (N2 - N1);
      console.log(`${mode.padEnd(5)} ${name.padEnd(7)} ${Math.round(per)} Ir/batch (${Math.round(per / PEERS)} a peer)`);
    }
  }
} else {
  await run(args[0], args[1], Number(args[2]));
}
