#!/usr/bin/env node
// `npm test`: runs every package's tests through turbo (all packages, even after a
// failure), then sums the vitest JSON reports into one line:
//   N passed, N failed, N skipped
// A package whose tests crashed before writing a report counts as one failure, so
// a broken package can never look green. Extra arguments go to turbo, e.g.
//   npm test -- --filter=@mtstore/postgres...
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { turbo } from './turbo.mjs';
import { root, workspaces } from './workspaces.mjs';

const REPORT = '.vitest-results.json';
const packages = workspaces().filter((w) => w.pkg.scripts?.test);
for (const { dir } of packages) rmSync(join(dir, REPORT), { force: true });

// Two packages at a time: most test time is waiting (database round trips, lease TTLs,
// child processes), so two overlap well on a 2-core machine and keep .ci/run inside
// its 20 minutes. Every package's tests use namespaces of their own on the shared
// servers, so packages running side by side never see each other's data.
const turboStatus = turbo(['run', 'test', '--continue', '--concurrency=2', ...process.argv.slice(2)]);

// With --filter only some packages ran: count those that wrote a report, plus any
// that turbo says failed without one.
const filtered = process.argv.slice(2).some((a) => a.startsWith('--filter'));
let passed = 0;
let failed = 0;
let skipped = 0;
const problems = [];
for (const { name, dir } of packages) {
  const file = join(dir, REPORT);
  if (!existsSync(file)) {
    if (!filtered) {
      failed += 1;
      problems.push(`${name}: no test report (the test run crashed or did not start)`);
    }
    continue;
  }
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  for (const suite of report.testResults) {
    // Named at the end, beside the summary: CI keeps only the tail of a long log.
    for (const test of suite.assertionResults) {
      if (test.status !== 'failed') continue;
      const why = (test.failureMessages?.[0] ?? '').split('\n')[0].slice(0, 300);
      problems.push(`${name}: ${suite.name.replace(root, '')} > ${test.fullName}: ${why}`);
    }
    // A test file that failed to load has no tests: count it, or it would vanish.
    if (suite.status === 'failed' && suite.assertionResults.length === 0) {
      failed += 1;
      problems.push(`${name}: ${suite.name.replace(root, '')} failed to run: ${(suite.message ?? '').split('\n')[0]}`);
    }
  }
}
if (process.env.MTSTORE_EXTRA_FAILURE) {
  failed += 1;
  problems.push(process.env.MTSTORE_EXTRA_FAILURE);
}
if (turboStatus !== 0 && failed === 0) {
  failed += 1;
  problems.push(`turbo exited with status ${turboStatus} without a failing test (a build or lint step failed)`);
}
for (const problem of problems) console.log(`! ${problem}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
