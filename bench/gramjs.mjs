#!/usr/bin/env node
// node bench/gramjs.mjs [--quick]   (after `npm run build`)
//
// GramJS's own MemorySession against the GramJS bridge (@mtstore/gramjs
// StorageSession) over @mtstore/memory, in the same process and run (and, for auth
// keys, GramJS's StoreSession — which writes a file per change — against the bridge
// over @mtstore/sqlite: durable against durable): rounds
// alternate which side goes first; each row shows the median ops/s of the rounds
// and the median per-round ratio bridge/MemorySession. One op is one call as
// GramJS makes it; the bridge's write-through is included where there is one (the
// op ends with `await session.save()`), MemorySession stores nothing anywhere.
//
// The bridge's getInputEntity is a map lookup; MemorySession scans its rows (and
// keeps a duplicate row each time it sees an entity again), so lookup ratios grow
// with the cache: these rows use a cache of 1,000 users.
//
// "setAuthKey (home DC)" cannot reach 1× by construction: MemorySession's setAuthKey
// is one field assignment (~0 instructions of its own; what callgrind counts there is
// this loop's), while the bridge's is a write the contract makes durable when save()
// resolves — the key compared with the stored one, validated and copied by core
// (~2.4k of it: a 256-byte ArrayBuffer is allocated off the V8 heap), stored, and
// save() awaiting it: ~6.9k instructions (bench/bridge-icount.mjs, ICOUNT_N=20000
// ICOUNT_OP_WARMUP=20000), most of it core's and the promises'. Skipping the write
// or the await would make the row 1× and the bridge wrong. The durable row below is
// the like-for-like one.
//
// `benchGramjs()` returns the rows in bench/run.mjs's shape (adapter 'gramjs',
// adapterOps = bridge, rawOps = MemorySession) for whoever wires it in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { Api, helpers, sessions } from 'telegram';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { authKey } from '@mtstore/conformance';
import { MemoryStorage, MemoryStore } from '@mtstore/memory';
import { SqliteStorage } from '@mtstore/sqlite';
import { StorageSession } from '@mtstore/gramjs';

const BATCHES = 50;

/** Batch `b` of 1,000 GramJS users, each with a username and a phone. */
function userBatch(b) {
  return Array.from({ length: 1000 }, (_, k) => {
    const id = b * 1000 + k + 1;
    return new Api.User({
      id: helpers.returnBigInt(id),
      accessHash: helpers.returnBigInt(BigInt(id) * 7919n + 17n),
      firstName: `User ${id}`,
      username: `user_${id}`,
      phone: String(15_550_000_000 + id),
    });
  });
}

async function gramKey(seed) {
  const key = new AuthKey();
  await key.setKey(Buffer.from(authKey(seed)));
  return key;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Leases here last a day: the measuring loops await nothing but microtasks (memory and
 * better-sqlite3 never do I/O), so the lease heartbeat's timer cannot run, and with the
 * default 30 s TTL every write would be refused after ~22 s (LeaseLostError).
 */
const LEASE = { ttlSeconds: 86_400 };

async function bridgeSession(options) {
  const session = new StorageSession(new MemoryStorage({ store: new MemoryStore() }), { lease: LEASE, ...options });
  await session.load();
  session.setDC(2, '149.154.167.51', 443);
  return session;
}

function gramSession() {
  const session = new sessions.MemorySession();
  session.setDC(2, '149.154.167.51', 443);
  return session;
}

/**
 * The rows: for each, [setup once] → { bridge(i), memorySession(i) }. `batches`: how
 * many user batches to build (bench/bridge-icount.mjs builds fewer: GramJS's TL
 * constructors make building them most of the set-up).
 */
export async function gramjsTargets({ batches: batchCount = BATCHES } = {}) {
  const batches = Array.from({ length: batchCount }, (_, b) => userBatch(b));
  const keys = await Promise.all(Array.from({ length: 16 }, (_, i) => gramKey(i)));

  // Lookups: a cache of batch 0 on each side.
  const lookupBridge = await bridgeSession();
  const lookupGram = gramSession();
  lookupBridge.processEntities(batches[0]);
  await lookupBridge.save();
  lookupGram.processEntities(batches[0]);
  const lookupId = (i) => (i % 1000) + 1;

  // Entities seen again: long-lived sessions that saw every batch once.
  const seenBridge = await bridgeSession();
  const seenGram = gramSession();
  for (const batch of batches) {
    seenBridge.processEntities(batch);
    seenGram.processEntities(batch);
  }
  await seenBridge.save();

  const keyBridge = await bridgeSession();
  const keyGram = gramSession();

  // Durable against durable: the bridge on a SQLite file, StoreSession on its node-localstorage files.
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-gramjs-bench-'));
  const sqlite = new SqliteStorage({ path: join(dir, 'bridge.db'), name: 'bench' });
  const durableBridge = new StorageSession(sqlite, { lease: LEASE });
  await durableBridge.load();
  durableBridge.setDC(2, '149.154.167.51', 443);
  // StoreSession keeps its files under ./<name>, relative to the working directory.
  const store = new sessions.StoreSession(relative(process.cwd(), join(dir, 'store')));
  await store.load();
  store.setDC(2, '149.154.167.51', 443);

  return {
    // A session's first sight of 1,000 users: a fresh session (and backend) per op.
    'processEntities ×1000 new users': {
      bridge: async (i) => {
        const session = new StorageSession(new MemoryStorage({ store: new MemoryStore() }));
        session.processEntities(batches[i % batchCount]);
        await session.save();
      },
      memorySession: async (i) => {
        new sessions.MemorySession().processEntities(batches[i % batchCount]);
      },
    },
    'processEntities ×1000 seen before': {
      bridge: async (i) => {
        seenBridge.processEntities(batches[i % batchCount]);
        await seenBridge.save();
      },
      memorySession: async (i) => {
        seenGram.processEntities(batches[i % batchCount]);
      },
    },
    'getInputEntity by id': {
      bridge: async (i) => lookupBridge.getInputEntity(lookupId(i)),
      memorySession: async (i) => lookupGram.getInputEntity(lookupId(i)),
    },
    'getInputEntity by username': {
      bridge: async (i) => lookupBridge.getInputEntity(`user_${lookupId(i)}`),
      memorySession: async (i) => lookupGram.getInputEntity(`user_${lookupId(i)}`),
    },
    'setAuthKey (home DC)': {
      bridge: async (i) => {
        keyBridge.setAuthKey(keys[i % 16]);
        await keyBridge.save();
      },
      memorySession: async (i) => {
        keyGram.setAuthKey(keys[i % 16]);
      },
    },
    'setAuthKey (home DC), durable: sqlite vs StoreSession': {
      client: 'StoreSession',
      bridge: async (i) => {
        durableBridge.setAuthKey(keys[i % 16]);
        await durableBridge.save();
      },
      memorySession: async (i) => {
        store.setAuthKey(keys[i % 16]);
      },
    },
    close: async () => {
      await durableBridge.close();
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function benchGramjs({ quick = false, log = console.log } = {}) {
  const time = quick ? 100 : 400;
  const warmupTime = quick ? 30 : 100;
  const roundCount = quick ? 3 : 5;
  const rows = [];
  const { close, ...all } = await gramjsTargets();
  try {
    await runRows(all, { time, warmupTime, roundCount, rows, log });
  } finally {
    await close();
  }
  return rows;
}

async function runRows(all, { time, warmupTime, roundCount, rows, log }) {
  for (const [operation, sides] of Object.entries(all)) {
    const rounds = { bridge: [], memorySession: [], ratio: [] };
    for (let round = 0; round < roundCount; round++) {
      const bench = new Bench({ time, warmupTime, iterations: 8, warmupIterations: 8 });
      const order = round % 2 === 0 ? ['bridge', 'memorySession'] : ['memorySession', 'bridge'];
      for (const side of order) {
        let counter = 0;
        const run = sides[side];
        bench.add(side, () => run(counter++));
      }
      await bench.run();
      const ops = Object.fromEntries(bench.tasks.map((t) => [t.name, 1000 / t.result.latency.p50]));
      rounds.bridge.push(ops.bridge);
      rounds.memorySession.push(ops.memorySession);
      rounds.ratio.push(ops.bridge / ops.memorySession);
    }
    const client = sides.client ?? 'MemorySession';
    const row = { adapter: 'gramjs', operation, client, concurrency: 1, adapterOps: median(rounds.bridge), rawOps: median(rounds.memorySession), ratio: median(rounds.ratio), rounds: roundCount };
    rows.push(row);
    log(`gramjs    ${operation.padEnd(36)} bridge ${fmt(row.adapterOps)} ops/s   ${client} ${fmt(row.rawOps)} ops/s   ratio ${row.ratio.toFixed(2)}`);
  }
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US').padStart(11);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await benchGramjs({ quick: process.argv.includes('--quick') });
}
