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
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateSessionFile, option, readFigures, root, SAMPLER } from './child-memory.mjs';

// --bin: another build of the CLI (an older one, to compare).
const bin = option('bin', join(root, 'packages/cli/dist/bin.js'));

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
    generateSessionFile(kind, rows, file);
    const out = join(dir, `${kind}.json`);
    const started = process.hrtime.bigint();
    const child = spawnSync(process.execPath, ['--require', sampler, bin, 'import', file, targetQuery === '' ? join(dir, `${kind}-target.session`) : `${pathToFileURL(join(dir, `${kind}-target.session`)).href}?${targetQuery}`], {
      encoding: 'utf8',
      env: { ...process.env, MTSTORE_BENCH_OUT: out },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const figures = readFigures(out);
    if (child.status !== 0) console.error(child.stderr.split('\n').filter((l) => !l.startsWith('import "')).slice(0, 30).join('\n'));
    console.log(`| ${kind} | ${rows.toLocaleString('en-US')} | ${child.status ?? child.signal} | ${seconds.toFixed(1)} | ${figures.cpu.toFixed(1)} | ${mb(figures.rss)} | ${mb(figures.heap)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
