// Smoke test of `npm run bench`: the script runs end to end on the memory adapter and
// writes a complete results file that bench/report.mjs can render (the "vs clients"
// section, a minute of CPU, is left out: `npm run bench` runs it; one round a row, not
// quick's three: the rows' presence is checked, not their medians). It asserts what the
// run produced, never how fast: speed is compared in `npm run bench`, not in tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mtstore-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OPERATIONS = [
  'hasSession hit',
  'hasSession miss',
  'createSession+destroySession',
  'load',
  'save',
  'saveUpdateState',
  'peers.upsert ×1000',
  'peers.getByUsername',
  'authKeys.set',
  'kv.get',
  'kv.set',
  'save (encryption on ÷ off)',
  'load (encryption on ÷ off)',
  'cached hasSession hit',
  'cached hasSession miss',
];

interface Row {
  adapter: string;
  operation: string;
  concurrency: number;
  adapterOps: number;
  rawOps: number;
  ratio: number;
  adapterP99Ms: number;
  rawP99Ms: number;
}

describe('npm run bench', () => {
  it('runs on memory end to end: every operation at each concurrency, both sides measured, memory per 100,000', { timeout: 180_000 }, () => {
    const out = join(dir, 'results.json');
    const run = spawnSync(process.execPath, ['bench/run.mjs', '--adapter', 'memory', '--quick', '--rounds', '1', '--concurrency', '1,8', '--no-clients', '--out', out], { cwd: root, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);

    const results = JSON.parse(readFileSync(out, 'utf8'));
    expect(results.quick).toBe(true);
    expect(results.machine.node).toBe(process.version);
    const rows: Row[] = results.results;
    expect(rows.map((r) => `${r.operation} c=${r.concurrency}`).sort()).toEqual(OPERATIONS.flatMap((op) => [`${op} c=1`, `${op} c=8`]).sort());
    for (const row of rows) {
      expect(row.adapter).toBe('memory');
      for (const figure of [row.adapterOps, row.rawOps, row.ratio, row.adapterP99Ms, row.rawP99Ms]) expect(Number.isFinite(figure) && figure >= 0).toBe(true);
      expect(row.adapterOps).toBeGreaterThan(0);
      expect(row.rawOps).toBeGreaterThan(0);
    }
    expect(results.memory.map((m: { what: string }) => m.what)).toEqual(['memory: server sessions per 100,000', 'memory: peers per 100,000']);
    for (const m of results.memory) expect(m.bytes).toBeGreaterThan(0);

    // The printed table names every row too.
    for (const op of OPERATIONS) expect(run.stdout).toContain(`| memory | ${op} | 8 |`);

    const report = spawnSync(process.execPath, ['bench/report.mjs', out], { cwd: root, encoding: 'utf8' });
    expect(report.status).toBe(0);
    expect(report.stdout).toContain('| operation | c | memory |');
    expect(report.stdout).toContain(`Node ${process.version} · --quick`);
    expect(report.stdout).toContain('| memory: peers per 100,000 |');
  });
});
