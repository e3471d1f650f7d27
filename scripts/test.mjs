#!/usr/bin/env node
// `npm test`: runs every package's tests (all packages, even after a failure; two at
// a time, longest first), then sums the vitest JSON reports into one line:
//   N passed, N failed, N skipped
// A package whose tests crashed before writing a report counts as one failure, so
// a broken package can never look green. With arguments, turbo runs the tests they select, e.g.
//   npm test -- --filter=@mtstore/postgres...
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { quietEnv, turbo } from './turbo.mjs';
import { root, workspaces } from './workspaces.mjs';

const REPORT = '.vitest-results.json';
const packages = workspaces().filter((w) => w.pkg.scripts?.test);
for (const { dir } of packages) rmSync(join(dir, REPORT), { force: true });

// Two packages at a time: most test time is waiting (database round trips, lease TTLs,
// child processes), so two overlap well on a 2-core machine and keep .ci/run inside
// its 20 minutes. Every package's tests use namespaces of their own on the shared
// servers, so packages running side by side never see each other's data.
//
// The whole run lasts at least as long as its longest package, and ends soonest when
// the longest start first: turbo starts them in whatever order their builds become
// ready (in one CI run mongo, the longest, started after 5 of its 9 minutes had gone).
// So without arguments the packages run from here, longest first, after turbo has made
// (or restored) every build; with arguments (--filter) turbo runs what they select.
// Longest first, from a CI run of 6 Dec 2026, 03:02 (seconds): mongo 435, typeorm 408
// (with its TypeORM 1.x project), postgres 185, redis 179, conformance 85, sqlite 79,
// integration 73, cli 70, mtcute 49, core 38, gramjs 33, memory 30; the rest after them.
// Most of it is CPU on this 2-core machine (the kit's DDL and worker processes, imports,
// FerretDB itself): two workers in a package (mongo, typeorm, postgres, redis,
// conformance) overlap its waits, not its CPU.
const LONGEST_FIRST = ['@mtstore/mongo', '@mtstore/typeorm', '@mtstore/postgres', '@mtstore/redis', '@mtstore/conformance', '@mtstore/sqlite', '@mtstore/integration', '@mtstore/cli', '@mtstore/mtcute', '@mtstore/core', '@mtstore/gramjs', '@mtstore/memory'];

/**
 * Silence after which a package's test run counts as stalled: vitest prints each test
 * file as it ends, a test times out after 30 s and a hook after 60 s, and the longest
 * file takes about three minutes (mongo's kit: 173 s in the CI run of 5 Dec 2026, beside
 * other files that print meanwhile), so five minutes without a line mean vitest itself
 * stopped. Keep it above the longest file. One
 * CI run (4 Dec 2026) sat 17 minutes on a typeorm fork worker that was idle from its
 * start (0.44 s of CPU, no socket, no query open) and never ran its file; four runs of
 * typeorm's tests since did not repeat it.
 */
const STALL_MS = Number(process.env.MTSTORE_TEST_STALL_MS ?? 300_000);

/**
 * Runs one package's `npm test`, its output lines prefixed with its name as turbo does;
 * resolves 'passed', 'failed', or 'stalled' (no line for STALL_MS: the whole process
 * group, vitest's workers too, is killed).
 */
function testPackage({ name, dir }) {
  return new Promise((resolve) => {
    // Its own process group (detached), so a stall kills vitest's fork workers with it.
    const child = spawn('npm', ['run', 'test'], { cwd: dir, env: quietEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let last = Date.now();
    let stalled = false;
    const watchdog = setInterval(() => {
      if (Date.now() - last < STALL_MS) return;
      stalled = true;
      clearInterval(watchdog);
      console.log(`${name}:test: no output for ${Math.round(STALL_MS / 1000)} s: the test run stalled; stopping it`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, Math.min(10_000, STALL_MS / 4));
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        last = Date.now();
        process.stdout.write(`${name}:test: ${line}\n`);
      });
    }
    child.on('error', (error) => {
      clearInterval(watchdog);
      console.log(`${name}:test: could not start npm: ${error.message}`);
      resolve('failed');
    });
    child.on('close', (code) => {
      clearInterval(watchdog);
      resolve(stalled ? 'stalled' : code === 0 ? 'passed' : 'failed');
    });
  });
}

/** Packages whose first run stalled and that were run again (named beside the summary). */
const rerun = [];
/** Packages whose second run stalled too (a failure). */
const stalledTwice = [];

/**
 * The typecheck run beside the tests (MTSTORE_LINT_BESIDE=1, what .ci/run sets): started
 * once the builds are in place, with `--only` so its turbo restores no build output
 * while the tests read it, and at the lowest CPU priority (`nice -n 19`, inherited by
 * turbo's tsc processes): it takes the CPU the tests leave while they wait on databases
 * and never slows them (at normal priority it made the two longest packages ~10%
 * slower); settles to its exit status and output.
 */
let lint;

function lintBeside() {
  return new Promise((resolve) => {
    const bin = join(root, 'scripts', 'turbo.mjs');
    const child = spawn('nice', ['-n', '19', process.execPath, bin, 'run', 'lint', '--only', '--output-logs=errors-only'], { cwd: root, env: quietEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', (error) => resolve({ code: 1, output: `could not start the typecheck: ${error.message}` }));
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

async function testAll() {
  const built = turbo(['run', 'build']);
  if (built !== 0) return built;
  if (process.env.MTSTORE_LINT_BESIDE === '1') lint = lintBeside();
  const rank = (name) => (LONGEST_FIRST.includes(name) ? LONGEST_FIRST.indexOf(name) : LONGEST_FIRST.length);
  const queue = [...packages].sort((a, b) => rank(a.name) - rank(b.name));
  let status = 0;
  const lane = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      let result = await testPackage(next);
      if (result === 'stalled') {
        // Once more from the start: a stall is the runner's, not a test's (see STALL_MS);
        // a second one counts as a failure.
        rerun.push(next.name);
        rmSync(join(next.dir, REPORT), { force: true });
        console.log(`${next.name}:test: running the package's tests again`);
        result = await testPackage(next);
        if (result === 'stalled') stalledTwice.push(next.name);
      }
      if (result !== 'passed') status = 1;
    }
  };
  await Promise.all([lane(), lane()]);
  return status;
}

const args = process.argv.slice(2);
const runStatus = args.length === 0 ? await testAll() : turbo(['run', 'test', '--continue', '--concurrency=2', ...args]);

// With --filter only some packages ran: count those that wrote a report, plus any
// that turbo says failed without one.
const filtered = args.some((a) => a.startsWith('--filter'));
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
if (lint !== undefined) {
  const { code, output } = await lint;
  if (code !== 0) {
    console.log(`== npm run lint (typecheck) output\n${output.split('\n').slice(-80).join('\n')}`);
    failed += 1;
    problems.push(`npm run lint (typecheck) failed: exit ${code}`);
  }
}
if (process.env.MTSTORE_EXTRA_FAILURE) {
  failed += 1;
  problems.push(process.env.MTSTORE_EXTRA_FAILURE);
}
if (runStatus !== 0 && failed === 0) {
  failed += 1;
  problems.push(`the test run ended with status ${runStatus} without a failing test (a build or lint step failed)`);
}
for (const name of stalledTwice) problems.push(`${name}: its test run stalled twice (no output for ${Math.round(STALL_MS / 1000)} s each time)`);
for (const name of rerun) console.log(`note: ${name}'s first test run stalled (no output for ${Math.round(STALL_MS / 1000)} s) and was run again`);
for (const problem of problems) console.log(`! ${problem}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
