// Client-side instructions per operation, adapter vs. raw, for any row of bench/run.mjs
// (bench/icount.mjs covers memory and sqlite only; this one opens the server backends'
// bench modules as run.mjs does, so both sides are exactly the rows' targets):
//   node bench/cpu.mjs <adapter> "<operation>" [concurrency=1] [ops=2000]
// Runs each side in its own process under callgrind with instrumentation off, opens
// bench/adapters/<adapter>.mjs, warms the side up (`ops` operations), then switches
// instrumentation on (callgrind_control) for `ops` more operations in waves of
// `concurrency`, and prints the instructions per operation of each side (every thread
// of the process; the server's work is not counted). Wall clock on the shared box moves
// with other processes' load; instruction counts do not.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [adapter, operation, c = '1', n = '2000', side] = process.argv.slice(2);
const concurrency = Number(c);
const ops = Number(n);

async function measured() {
  // The parent checked the server (its connect timeout is too short under valgrind).
  const module = (await import(`./adapters/${adapter}.mjs`)).default;
  const opened = await module.open();
  try {
    const run = opened.targets[side][operation];
    if (run === undefined) throw new Error(`bench/adapters/${adapter}.mjs has no ${side} side for ${operation}`);
    let counter = 0;
    const waves = async () => {
      for (let done = 0; done < ops; done += concurrency) {
        const wave = [];
        for (let i = 0; i < concurrency; i++) wave.push(run(counter++));
        await Promise.all(wave);
      }
    };
    await waves();
    execFileSync('callgrind_control', ['-i', 'on', String(process.pid)], { stdio: 'ignore' });
    await waves();
    execFileSync('callgrind_control', ['-i', 'off', String(process.pid)], { stdio: 'ignore' });
  } finally {
    await opened.sealed?.close();
    await opened.close();
  }
}

function instructions(which) {
  const dir = mkdtempSync(join(tmpdir(), 'cpu-'));
  const out = join(dir, 'cg.out');
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, fileURLToPath(import.meta.url), adapter, operation, c, n, which], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`${which} side failed (${code}): ${stderr.slice(-2000)}`);
        const text = readFileSync(out, 'utf8');
        const total = text.match(/^totals: (\d+)/m)[1]; // summary: stays 0 with --instr-atstart=no
        resolve(Number(total) / ops);
      } catch (error) {
        reject(error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

if (side) await measured();
else {
  const reason = await (await import(`./adapters/${adapter}.mjs`)).default.unavailable();
  if (reason) throw new Error(reason);
  const [a, r] = await Promise.all([instructions('adapter'), instructions('raw')]);
  const k = (x) => `${Math.round(x).toLocaleString('en-US')}`;
  console.log(`${adapter} ${operation} c=${concurrency}, ${ops} ops: instructions/op adapter ${k(a)}, raw ${k(r)}, raw/adapter ${(r / a).toFixed(2)}`);
}
