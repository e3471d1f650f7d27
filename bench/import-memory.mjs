// Peak memory and time of `mtstore import` of a big Telethon / Pyrogram session file into
// a fresh SQLite storage, as a user runs it: the built CLI (packages/cli/dist/bin.js) in a
// child process. Peak RSS is the kernel's (process.resourceUsage().maxRSS at exit); the
// V8 heap peak is sampled every 10 ms (it misses the top of a spike between samples); CPU
// is the child's user + system time (the wall clock moves with the machine's load).
//
//   node bench/import-memory.mjs [--peers 1000000] [--kinds telethon,pyrogram] [--bin path/to/bin.js] [--target-query mmapSize=0]
//
// The target's own memory counts in RSS: @mtstore/sqlite maps up to 256 MB of its file
// (mmapSize); `--target-query mmapSize=0` leaves it unmapped, to see the import's own part.
//
// Files are generated with better-sqlite3 from the real fixtures (the libraries' own
// schemas): users with a username on every other row, a phone on every fifth, a last-seen
// time that is no function of the id.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// --bin: another build of the CLI (an older one, to compare).
const bin = option('bin', join(root, 'packages/cli/dist/bin.js'));
const fixtures = join(root, 'packages/convert/test/fixtures');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}

function generate(kind, rows, path) {
  copyFileSync(join(fixtures, kind, `${kind}.session`), path);
  const db = new Database(path);
  const insert =
    kind === 'telethon'
      ? db.prepare('insert into entities (id, hash, username, phone, name, date) values (?, ?, ?, ?, ?, ?)')
      : db.prepare("insert into peers (id, access_hash, type, username, phone_number, last_update_on) values (?, ?, 'user', ?, ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const username = i % 2 === 1 ? `user_${i}` : null;
      const phone = i % 5 === 0 ? 15_550_000_000 + i : null;
      const date = 1_700_000_000 + ((i * 7919) % rows);
      if (kind === 'telethon') insert.run(300_000_000 + i, BigInt(i) * 7919n + 1n, username, phone, `User Number ${i}`, date);
      else insert.run(300_000_000 + i, BigInt(i) * 7919n + 1n, username, phone === null ? null : `+${phone}`, date);
    }
  })();
  db.close();
}

const SAMPLER = `
const { writeFileSync } = require('node:fs');
let heap = 0;
const sample = () => { heap = Math.max(heap, process.memoryUsage().heapUsed); };
setInterval(sample, 10).unref();
process.on('exit', () => {
  sample();
  const usage = process.resourceUsage();
  writeFileSync(process.env.MTSTORE_BENCH_OUT, JSON.stringify({ heap, rss: usage.maxRSS * 1024, cpu: (usage.userCPUTime + usage.systemCPUTime) / 1e6 }));
});
`;

const rows = Number(option('peers', '1000000'));
const kinds = option('kinds', 'telethon,pyrogram').split(',');
const targetQuery = option('target-query', '');
const dir = mkdtempSync(join(tmpdir(), 'mtstore-import-memory-'));
try {
  const sampler = join(dir, 'sampler.cjs');
  writeFileSync(sampler, SAMPLER);
  const mb = (bytes) => (bytes / 1024 / 1024).toFixed(0);
  console.log(`| file | peers | exit | wall s | CPU s | peak RSS MB | peak heap MB |\n| --- | --- | --- | --- | --- | --- | --- |`);
  for (const kind of kinds) {
    const file = join(dir, `${kind}.session`);
    generate(kind, rows, file);
    const out = join(dir, `${kind}.json`);
    const started = process.hrtime.bigint();
    const child = spawnSync(process.execPath, ['--require', sampler, bin, 'import', file, targetQuery === '' ? join(dir, `${kind}-target.session`) : `${pathToFileURL(join(dir, `${kind}-target.session`)).href}?${targetQuery}`], {
      encoding: 'utf8',
      env: { ...process.env, MTSTORE_BENCH_OUT: out },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let figures = { heap: NaN, rss: NaN, cpu: NaN };
    try {
      figures = JSON.parse(readFileSync(out, 'utf8'));
    } catch {
      // Killed (out of memory): no figures written.
    }
    if (child.status !== 0) console.error(child.stderr.split('\n').filter((l) => !l.startsWith('import "')).slice(0, 30).join('\n'));
    console.log(`| ${kind} | ${rows.toLocaleString('en-US')} | ${child.status ?? child.signal} | ${seconds.toFixed(1)} | ${figures.cpu.toFixed(1)} | ${mb(figures.rss)} | ${mb(figures.heap)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
