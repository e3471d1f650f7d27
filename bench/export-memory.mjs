// Peak memory and time of `mtstore export <storage> --format <file format> --out <path>`
// from an SQLite storage holding a big peer cache, as a user runs it: the built CLI
// (packages/cli/dist/bin.js) in a child process, once per file format. Peak RSS is the
// kernel's (process.resourceUsage().maxRSS at exit); the V8 heap peak is sampled every
// 10 ms (it misses the top of a spike between samples); CPU is the child's user + system
// time (the wall clock moves with the machine's load).
//
//   node bench/export-memory.mjs [--peers 1000000] [--formats telethon-sqlite,pyrogram-sqlite,mtcute-sqlite,gramjs-store] [--bin path/to/bin.js] [--source-query mmapSize=0] [--heap 32]
//
// The storage is filled the way a user fills one, fast: a Telethon file generated with
// better-sqlite3 from the real fixture (as bench/import-memory.mjs builds them: a username
// on every other row, a phone on every fifth, a display name on each, a last-seen time that
// is no function of the id), imported with `mtstore import` (not measured). The source's
// own memory counts in RSS: @mtstore/sqlite maps up to 256 MB of the file it reads
// (mmapSize); `--source-query mmapSize=0` leaves it unmapped, to see the export's own part.
// `--heap <MB>` runs the child with --max-old-space-size: V8 lets its heap grow well past
// what is live before it collects, so a run in a small heap shows what the export holds.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateSessionFile, option, readFigures, root, SAMPLER } from './child-memory.mjs';

// --bin: another build of the CLI (an older one, to compare).
const bin = option('bin', join(root, 'packages/cli/dist/bin.js'));

/** Bytes of a written file, or of a folder's files (GramJS). */
function sizeOf(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return spawnSync('du', ['-sb', path], { encoding: 'utf8' }).stdout.split('\t').map(Number)[0];
}

const rows = Number(option('peers', '1000000'));
const formats = option('formats', 'telethon-sqlite,pyrogram-sqlite,mtcute-sqlite,gramjs-store').split(',');
const sourceQuery = option('source-query', '');
const heap = option('heap', '');
const dir = mkdtempSync(join(tmpdir(), 'mtstore-export-memory-'));
try {
  const sampler = join(dir, 'sampler.cjs');
  writeFileSync(sampler, SAMPLER);
  const telethon = join(dir, 'generated.session');
  generateSessionFile('telethon', rows, telethon);
  const store = join(dir, 'store.session');
  const imported = spawnSync(process.execPath, [bin, 'import', telethon, store, '--name', 'big'], { encoding: 'utf8' });
  if (imported.status !== 0) throw new Error(`import failed (exit ${imported.status}): ${imported.stderr.slice(-2000)}`);
  rmSync(telethon);
  const source = sourceQuery === '' ? store : `${pathToFileURL(store).href}?${sourceQuery}`;
  const mb = (bytes) => (bytes / 1024 / 1024).toFixed(0);
  console.log(`| format | peers | exit | wall s | CPU s | peak RSS MB | peak heap MB | written MB |\n| --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const format of formats) {
    const out = join(dir, `out-${format}`);
    const figuresFile = join(dir, `${format}.json`);
    const started = process.hrtime.bigint();
    const child = spawnSync(process.execPath, [...(heap === '' ? [] : [`--max-old-space-size=${heap}`]), '--require', sampler, bin, 'export', source, '--name', 'big', '--format', format, '--out', out, '--api-id', '12345'], {
      encoding: 'utf8',
      env: { ...process.env, MTSTORE_BENCH_OUT: figuresFile },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const figures = readFigures(figuresFile);
    const summary = child.stderr.trim().split('\n').at(-1);
    if (child.status !== 0) console.error(child.stderr.slice(-3000));
    else if (!summary.includes(`, ${rows + 6} peers`) && !summary.includes('warning')) console.error(`unexpected summary: ${summary}`);
    const written = child.status === 0 ? mb(sizeOf(out)) : '–';
    console.log(`| ${format} | ${rows.toLocaleString('en-US')} | ${child.status ?? child.signal} | ${seconds.toFixed(1)} | ${figures.cpu.toFixed(1)} | ${mb(figures.rss)} | ${mb(figures.heap)} | ${written} |`);
    if (child.status === 0) console.error(`  ${format}: ${summary}`);
    rmSync(out, { recursive: true, force: true });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
