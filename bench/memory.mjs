// Resident memory per 100,000 items, each case in its own child process
// (node --expose-gc) so earlier work does not blur the figure: RSS after building
// the items and a full GC, minus RSS before (and the same for the V8 heap alone,
// which for sqlite leaves out the database's own page cache).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CASES = [
  ['memory', 'server sessions'],
  ['memory', 'peers'],
  ['sqlite', 'peers'],
];

export async function measureMemory({ only } = {}) {
  // Always the full 100,000: a smaller count is dominated by V8's fixed heap growth.
  const count = 100_000;
  const out = [];
  for (const [adapter, what] of CASES) {
    if (only && !only.includes(adapter)) continue;
    if (!existsSync(new URL(`./adapters/${adapter}.mjs`, import.meta.url))) continue;
    const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), adapter, what, String(count)], { encoding: 'utf8' });
    const line = child.stdout.trim().split('\n').pop();
    if (child.status !== 0 || !line?.startsWith('{')) {
      console.log(`- memory ${adapter} ${what}: failed (${child.stderr.trim().split('\n').pop()})`);
      continue;
    }
    const { bytes, heapBytes } = JSON.parse(line);
    out.push({ what: `${adapter}: ${what} per 100,000`, count, bytes, heapBytes });
  }
  return out;
}

// Child: build the items, then report the RSS they hold.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [adapter, what, countText] = process.argv.slice(2);
  const module = (await import(`./adapters/${adapter}.mjs`)).default;
  const build = module.memoryCases?.[what];
  if (!build) throw new Error(`bench/adapters/${adapter}.mjs has no memory case "${what}"`);
  globalThis.gc();
  const before = process.memoryUsage();
  const keep = await build(Number(countText));
  globalThis.gc();
  const after = process.memoryUsage();
  console.log(JSON.stringify({ bytes: after.rss - before.rss, heapBytes: after.heapUsed - before.heapUsed, kept: typeof keep }));
  await module.memoryCleanup?.(keep);
}
