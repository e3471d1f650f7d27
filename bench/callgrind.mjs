// What the bench/*-icount.mjs scripts share: running a Node script under callgrind and
// reading its instruction total, and switching instrumentation from inside the process
// being measured (callgrind_control), so a window holds only the operations counted.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Instructions (Ir) of `node ...nodeArgs` under callgrind; `valgrind` are extra callgrind
 * options (e.g. --instr-atstart=no). Totals, not summary: with --instr-atstart=no
 * callgrind writes summary 0.
 */
export function callgrindTotal(nodeArgs, { valgrind = [], env = process.env } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'icount-'));
  const out = join(dir, 'cg.out');
  let keep = false;
  try {
    execFileSync('valgrind', ['--tool=callgrind', ...valgrind, `--callgrind-out-file=${out}`, process.execPath, ...nodeArgs], { stdio: 'ignore', env });
    const text = readFileSync(out, 'utf8');
    const line = text.match(/^totals: (\d+)/m) ?? text.match(/^summary: (\d+)/m);
    if (line === null) throw new Error(`callgrind wrote no total in ${out}`);
    // ICOUNT_KEEP=1 keeps the dump (callgrind_annotate on it shows where a window's instructions went).
    keep = Boolean(process.env.ICOUNT_KEEP);
    if (keep) console.log(`${nodeArgs.slice(1).join(' ')}: dump kept in ${out}`);
    return Number(line[1]);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The totals of every dump of `node ...nodeArgs` run under callgrind with instrumentation
 * off at start, in the order the child dumped them (cg.out.1, cg.out.2, …; the last file,
 * cg.out, is the exit's and is left out). ICOUNT_KEEP=1 keeps the dumps (callgrind_annotate
 * <dir>/cg.out.N shows where a window's instructions went) and prints where, with `note`.
 */
export function callgrindDumps(nodeArgs, note) {
  const dir = mkdtempSync(join(tmpdir(), 'icount-'));
  const out = join(dir, 'cg.out');
  execFileSync('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...nodeArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  const totals = readdirSync(dir)
    .filter((file) => /^cg\.out\.\d+$/.test(file))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)))
    .map((file) => Number(readFileSync(join(dir, file), 'utf8').match(/^totals: (\d+)/m)?.[1] ?? Number.NaN));
  if (process.env.ICOUNT_KEEP) console.log(`dumps kept in ${dir}: ${note}`);
  else rmSync(dir, { recursive: true, force: true });
  return totals;
}

/** callgrind_control on this process. Not execFileSync: valgrind answers it while this process waits. */
export const control = (...args) => promisify(execFile)('callgrind_control', [...args, String(process.pid)]);

/** Instrumentation on or off. */
export const instrument = (state) => control('-i', state);

/** Instrumentation on, `ops()`, off, dump: the dump holds what ops() did, plus the control calls' own share. */
export async function measured(ops) {
  await instrument('on');
  await ops();
  await instrument('off');
  await control('-d');
}
