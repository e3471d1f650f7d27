#!/usr/bin/env node
// `npm run conformance`: runs the conformance kit against every adapter in the repo
// (each package's test/conformance*.test.ts) and prints a matrix:
// adapter × trait group → passed / failed / skipped, then the skip reasons and the
// failures. Servers that are not reachable make that adapter's file fail with the
// reason (CI=true) or skip it (locally).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workspaces } from './workspaces.mjs';

const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const out = mkdtempSync(join(tmpdir(), 'mtstore-conformance-'));
const rows = new Map(); // "adapter · Suite" -> Map(group -> {passed, failed, skipped})
const skips = new Map(); // reason -> [row]
const failures = [];
const fileProblems = [];

for (const { name, dir } of workspaces()) {
  const testDir = join(dir, 'test');
  if (!existsSync(testDir)) continue;
  const files = readdirSync(testDir).filter((f) => /^conformance.*\.test\.ts$/.test(f));
  if (files.length === 0 || (only.length && !only.some((o) => name.includes(o)))) continue;
  const report = join(out, `${name.replace(/\W/g, '_')}.json`);
  console.error(`running the kit on ${name} (${files.join(', ')})`);
  spawnSync('npx', ['vitest', 'run', ...files.map((f) => `test/${f}`)], {
    cwd: dir,
    env: { ...process.env, MTSTORE_VITEST_REPORT: report },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (!existsSync(report)) {
    fileProblems.push(`${name}: the kit did not run (no report)`);
    continue;
  }
  const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
  for (const file of testResults) {
    if (file.assertionResults.length === 0) fileProblems.push(`${name}: ${file.message?.split('\n')[0] ?? 'no tests ran'}`);
    for (const test of file.assertionResults) {
      const [row = name, group = '(top level)'] = test.ancestorTitles;
      const cells = rows.get(row) ?? rows.set(row, new Map()).get(row);
      const cell = cells.get(group) ?? cells.set(group, { passed: 0, failed: 0, skipped: 0 }).get(group);
      if (test.status === 'passed') cell.passed++;
      else if (test.status === 'failed') {
        cell.failed++;
        failures.push(`${row} › ${group} › ${test.title}: ${(test.failureMessages[0] ?? '').split('\n')[0]}`);
      } else {
        cell.skipped++;
        const reason = /\[skipped: (.*)\]$/.exec(test.title)?.[1] ?? 'skipped';
        (skips.get(reason) ?? skips.set(reason, []).get(reason)).push(`${row} › ${group}`);
      }
    }
  }
}

// One table per suite kind: the groups of a kind are the same for every adapter.
const kinds = new Map();
for (const [row, cells] of rows) {
  const [adapter, kind = ''] = row.split(' · ');
  const table = kinds.get(kind) ?? kinds.set(kind, { groups: [], rows: [] }).get(kind);
  for (const group of cells.keys()) if (!table.groups.includes(group)) table.groups.push(group);
  table.rows.push([adapter, cells]);
}
const mark = (cell) => {
  if (!cell) return '—';
  const total = cell.passed + cell.failed;
  if (cell.failed) return `FAIL ${cell.passed}/${total}`;
  if (total === 0) return 'skipped';
  return `ok ${cell.passed}${cell.skipped ? ` +${cell.skipped} skipped` : ''}`;
};
for (const [kind, table] of kinds) {
  const header = [kind || 'suite', ...table.groups];
  const body = table.rows.map(([adapter, cells]) => [adapter, ...table.groups.map((g) => mark(cells.get(g)))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(`\n${line(header)}\n| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |\n${body.map(line).join('\n')}`);
}
if (skips.size) {
  console.log('\nSkipped, by declared capability:');
  for (const [reason, where] of skips) console.log(`- ${reason}: ${[...new Set(where)].join(', ')}`);
}
for (const problem of fileProblems) console.log(`! ${problem}`);
if (failures.length) {
  console.log(`\n${failures.length} failed:`);
  for (const failure of failures) console.log(`- ${failure}`);
}
process.exit(failures.length || fileProblems.length ? 1 : 0);
