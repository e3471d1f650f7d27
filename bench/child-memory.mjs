// What bench/import-memory.mjs and bench/export-memory.mjs share: the command line's
// options, big Telethon / Pyrogram session files generated from the real fixtures, and
// the sampler a measured child process loads (--require) to report its peaks.
import Database from 'better-sqlite3';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = join(root, 'packages/convert/test/fixtures');

/** `--name value` on the command line, else `fallback`. */
export function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}

/**
 * A `kind` ('telethon' or 'pyrogram') session file of `rows` peers, the library's own
 * schema (a copy of its fixture) filled with better-sqlite3: users with a username on
 * every other row, a phone on every fifth, a display name (Telethon), a last-seen time
 * that is no function of the id.
 */
export function generateSessionFile(kind, rows, path) {
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

/**
 * Loaded into the measured child with --require: the V8 heap peak sampled every 10 ms
 * (it misses the top of a spike between samples), and at exit the kernel's peak RSS
 * (process.resourceUsage().maxRSS) and user + system CPU, written to MTSTORE_BENCH_OUT.
 */
export const SAMPLER = `
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

/** The figures SAMPLER wrote, or NaNs when the child was killed (out of memory) before it could. */
export function readFigures(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return { heap: NaN, rss: NaN, cpu: NaN };
  }
}
