// Instructions per call of core's label-free checks (callgrind), on values built before the
// measured window, so only the check is counted:
//   node bench/validate-icount.mjs --report [update|peers]   callgrind at two counts, per-call figures;
//   node bench/validate-icount.mjs <row> <count>              runs one target (what callgrind runs).
// Rows: `update <kind>`, assertSessionUpdate on an update() patch (per call; N 10,000 / 60,000
// after 100,000 warm-up calls); `peers <n>`, assertPeers (isPeer on each peer) on a batch of
// 1,000 peers with n usernames each (per batch; N 20 / 220 batches, after 100 warm-up batches).
// Figure = (Ir at N2 - Ir at N1) / (N2 - N1). Node runs --single-threaded with a full
// collection before the window. Run it against two builds of core (a dist copied into a
// node_modules of its own) to compare a change: the peers rows wander by about ±10 Ir/peer.
import { fileURLToPath } from 'node:url';
import { callgrindTotal, instrument } from './callgrind.mjs';

const PATCHES = {
  // As the mtcute bridge's save() may write it (packages/mtcute/src/session-kv.ts).
  'state+3 channels': (i) => ({ state: { pts: i, qts: 1, date: 1_700_000_000, seq: 1 }, channels: [{ id: 1n, pts: i }, { id: 2n, pts: i + 1 }, { id: 3n, pts: i + 2 }] }),
  'dcs+user': (i) => ({
    homeDcId: 2,
    dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }, { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true }],
    user: { id: BigInt(i), dcId: 2, bot: false, usernames: ['durov'] },
  }),
  'user null': () => ({ user: null }),
};

/** Peer `n` with `names` usernames (the first with an upper-case letter, as client-peers.mjs's). */
const peer = (n, names) => ({
  type: 'user',
  id: BigInt(n),
  accessHash: BigInt(n) * 7919n + 13n,
  usernames: Array.from({ length: names }, (_, k) => (k === 0 ? `User_${n}` : `user_${n}_${k}`)),
  phone: String(10_000_000_000 + n),
  updatedAt: 1_700_000_000 + n,
  displayName: `User ${n}`,
  complete: new Uint8Array(100),
});
const batch = (b, names) => Array.from({ length: 1000 }, (_, k) => peer(b * 1000 + k + 1, names));

const rows = {
  ...Object.fromEntries(Object.keys(PATCHES).map((kind) => [`update ${kind}`, { counts: [10_000, 60_000], warmup: 100_000, make: PATCHES[kind], check: 'assertSessionUpdate' }])),
  ...Object.fromEntries([0, 1, 2, 3].map((names) => [`peers ${names}`, { counts: [20, 220], warmup: 100, make: (b) => batch(b, names), check: 'assertPeers' }])),
};

const [first, second] = process.argv.slice(2);
if (first === '--report') {
  for (const [name, row] of Object.entries(rows)) {
    if (second !== undefined && !name.startsWith(second)) continue;
    const run = (n) => callgrindTotal(['--single-threaded', '--expose-gc', fileURLToPath(import.meta.url), name, String(n)], { valgrind: ['--instr-atstart=no'] });
    const [n1, n2] = row.counts;
    console.log(`${name.padEnd(24)} ${((run(n2) - run(n1)) / (n2 - n1)).toFixed(0)} Ir/${row.check === 'assertPeers' ? 'batch' : 'call'}`);
  }
} else {
  const core = await import('@mtstore/core');
  const row = rows[first];
  const check = core[row.check];
  const count = Number(second);
  const made = Array.from({ length: count }, (_, i) => row.make(i));
  for (let i = 0; i < row.warmup; i++) check(row.make(count + (i % 1000)), 'value');
  globalThis.gc?.();
  await instrument('on');
  for (let i = 0; i < count; i++) check(made[i], 'value');
  await instrument('off');
}
