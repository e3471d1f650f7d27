#!/usr/bin/env node
// node bench/clients.mjs [--quick]   (after `npm run build`)
//
// mtcute on SQLite: mtcute's own SqliteStorage (@mtcute/node) against the mtcute
// bridge (@mtstore/mtcute) over @mtstore/sqlite, each on its own file in a temporary
// directory, in the same process. Both are driven through mtcute's storage provider
// interface exactly as mtcute's client drives them: peers.store() for a batch then
// driver.save(), lookups by marked id and by username, auth key writes (immediate in
// both). Rounds alternate which side runs first; rows show medians over rounds and
// the median per-round ratio bridge/mtcute (target ≥ 1×).
//
// The default export has run.mjs's module shape (`unavailable`, `open` →
// targets.adapter = the bridge, targets.raw = mtcute's SqliteStorage), so run.mjs
// can list it beside the adapters.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

const PEERS_PER_BATCH = 1000;
const BATCHES = 50;

/** The PeerInfo mtcute's PeersService builds for user `id` (its TL object serialized with mtcute's writer). */
function peerInfo(utils, Long, id, updated) {
  const user = { _: 'user', id, accessHash: Long.fromNumber(id * 7919), firstName: `User ${id}`, lastName: 'Bench', username: `user_${id}`, phone: `1555${String(id).padStart(7, '0')}` };
  return {
    id,
    accessHash: utils.longToFastString(user.accessHash),
    isMin: false,
    usernames: [user.username],
    phone: user.phone,
    updated,
    complete: utils.TlBinaryWriter.serializeObject(utils.__tlWriterMap, user),
  };
}

async function modules() {
  const [node, utils, core, bridge, sqlite] = await Promise.all([
    import('@mtcute/node'),
    import('@mtcute/core/utils.js'),
    import('@mtcute/core'),
    import('@mtstore/mtcute'),
    import('@mtstore/sqlite'),
  ]);
  return { node, utils, Long: core.Long, bridge, sqlite };
}

async function unavailable() {
  try {
    const { sqlite } = await modules();
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-clients-probe-'));
    try {
      const storage = new sqlite.SqliteStorage(join(dir, 'probe.db'));
      // The bridge needs contract v2 (auth keys, kv, reference messages).
      if (typeof storage.authKeys?.set !== 'function' || typeof storage.kv?.get !== 'function') return '@mtstore/sqlite is not contract v2 yet';
      await storage.authKeys.get(2);
      await storage.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return null;
  } catch (error) {
    return `cannot open: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
  }
}

/** `batches`: how many peer batches to build (bench/bridge-icount.mjs builds fewer: building them is most of the set-up). */
async function open({ batches: batchCount = BATCHES } = {}) {
  const { node, utils, Long, bridge, sqlite } = await modules();
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-clients-'));
  const platform = new node.NodePlatform();
  const log = new utils.LogManager(undefined, platform);
  log.level = 0;

  const mtcute = new node.SqliteStorage(join(dir, 'mtcute.session'));
  // The bridge holds the session's lease as in a client (its writes are fenced). A long
  // TTL: the measuring loops never yield to timers (better-sqlite3 is synchronous, so
  // every await here settles in microtasks) and the heartbeat could not renew it.
  const mtstore = bridge.mtcuteStorage(new sqlite.SqliteStorage(join(dir, 'mtstore.db')), { lease: { ttlSeconds: 86_400 } });
  for (const provider of [mtcute, mtstore]) {
    provider.driver.setup(log, platform);
    await provider.driver.load();
  }

  const now = Date.now();
  const batches = Array.from({ length: batchCount }, (_, b) => Array.from({ length: PEERS_PER_BATCH }, (_, k) => peerInfo(utils, Long, b * PEERS_PER_BATCH + k + 1, now + b)));
  const keys = Array.from({ length: 16 }, (_, i) => new Uint8Array(256).fill(i + 1));
  // Both hold batch 0 before lookups are measured.
  for (const provider of [mtcute, mtstore]) {
    for (const info of batches[0]) provider.peers.store(info);
    await provider.driver.save();
  }

  const targets = (provider) => ({
    'peers.store ×1000 + save()': async (i) => {
      for (const info of batches[i % batchCount]) provider.peers.store(info);
      await provider.driver.save();
    },
    // What mtcute's PeersService does for each peer it caches: store it, then drop its
    // reference messages (a full peer needs none); the batch is then saved.
    'peers.store + refMessages.deleteByPeer ×1000 + save()': async (i) => {
      for (const info of batches[i % batchCount]) {
        provider.peers.store(info);
        await provider.refMessages.deleteByPeer(info.id);
      }
      await provider.driver.save();
    },
    'peers.getById': (i) => provider.peers.getById((i % PEERS_PER_BATCH) + 1),
    'peers.getByUsername': (i) => provider.peers.getByUsername(`user_${(i % PEERS_PER_BATCH) + 1}`),
    'authKeys.set': (i) => provider.authKeys.set((i % 5) + 1, keys[i % 16]),
  });

  return {
    targets: { adapter: targets(mtstore), raw: targets(mtcute) },
    // mtcute's client calls its storage one call at a time per client.
    concurrency: { 'peers.store ×1000 + save()': [1], 'peers.store + refMessages.deleteByPeer ×1000 + save()': [1], 'peers.getById': [1], 'peers.getByUsername': [1], 'authKeys.set': [1] },
    async close() {
      await mtcute.driver.destroy();
      await mtstore.driver.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export default { unavailable, open };

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main() {
  const quick = process.argv.includes('--quick');
  const time = quick ? 100 : 400;
  const roundCount = quick ? 3 : 5;
  const reason = await unavailable();
  if (reason) {
    console.log(`mtcute/sqlite: skipped (${reason})`);
    return;
  }
  const opened = await open();
  try {
    for (const operation of Object.keys(opened.targets.adapter)) {
      const rounds = { bridge: [], mtcute: [], ratio: [] };
      for (let round = 0; round < roundCount; round++) {
        const bench = new Bench({ time, warmupTime: quick ? 30 : 100, iterations: 4, warmupIterations: 4 });
        let counter = 0;
        const order = round % 2 === 0 ? ['adapter', 'raw'] : ['raw', 'adapter'];
        for (const side of order) {
          const run = opened.targets[side][operation];
          bench.add(side, () => run(counter++));
        }
        await bench.run();
        const ops = Object.fromEntries(bench.tasks.map((t) => [t.name, 1000 / t.result.latency.p50]));
        rounds.bridge.push(ops.adapter);
        rounds.mtcute.push(ops.raw);
        rounds.ratio.push(ops.adapter / ops.raw);
      }
      const fmt = (n) => Math.round(n).toLocaleString('en-US').padStart(9);
      console.log(
        `mtcute/sqlite ${operation.padEnd(28)} bridge ${fmt(median(rounds.bridge))} ops/s  mtcute SqliteStorage ${fmt(median(rounds.mtcute))} ops/s  ratio ${median(rounds.ratio).toFixed(2)}`,
      );
    }
  } finally {
    await opened.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
