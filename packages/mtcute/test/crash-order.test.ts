/**
 * The update state never gets ahead of the peers across a SIGKILL: a real mtcute client
 * (test/children/order-writer.mjs, the built @mtstore/mtcute) stores each update batch's
 * peers (1,000 users) and its update state in one save, as mtcute's updates loop does, and
 * is killed the moment this process sees a batch's state stored. After each kill, a stored
 * pts P (and channel pts) means every peer of batches up to P is stored: mtcute resumes
 * from P and never gets those updates again, so a peer missing then is lost for good. On
 * a SQLite file and on PostgreSQL. On PostgreSQL the bridge's old save (peers, kv and
 * references concurrently) stored the state first and the peers' batch some
 * milliseconds later: the first kill found batch 2's 1,000 peers missing in 5 runs of 5.
 * On SQLite (synchronous) the peers were written first anyway.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { fileNamespace, processTargetsOfFile, serverAnswers } from '@mtstore/test-adapters/processes';
// @ts-expect-error: plain JS shared with the child, no declarations
import { ORDER_BATCH, orderUser } from './children/order-data.mjs';

const userOf = orderUser as (i: number, n: number) => { id: number; accessHash: bigint; username: string };
const WRITER = fileURLToPath(new URL('./children/order-writer.mjs', import.meta.url));
const KILLS = 4;
const RUN = 1000; // batch i of run r is r * RUN + n
const BATCH = ORDER_BATCH as number;

/**
 * Runs the writer until it starts the save of batch `batch` (its `saving` line), then
 * reads the stored session on `watch` until that batch's update state is there and
 * SIGKILLs the writer at once: the moment the state lands, before or after the peers of
 * its save. Returns the batches it reached and acknowledged.
 */
async function killWhenStateStored(args: string[], batch: number, watch: Storage): Promise<{ acked: number[]; saving: number[] }> {
  const child = spawn(process.execPath, [WRITER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const acked: number[] = [];
  const saving: number[] = [];
  let partial = '';
  let exitedEarly = false;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => {
      exitedEarly = signal !== 'SIGKILL';
      resolve(signal);
    }),
  );
  const read = (line: string): void => {
    if (line.startsWith('ack ')) acked.push(Number(line.slice(4)));
    if (line.startsWith('saving ')) saving.push(Number(line.slice(7)));
  };
  await new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) read(line);
      if (saving.includes(batch)) resolve();
    });
    child.on('exit', () => resolve());
  });
  while (!exitedEarly && ((await watch.load())?.state?.pts ?? -1) < batch) {
    // Reads until the writer's save stores the state (or the writer died).
  }
  child.kill('SIGKILL');
  const signal = await exited;
  if (signal !== 'SIGKILL') throw new Error(`the writer ended by ${String(signal)}, not SIGKILL: ${stderr}`);
  for (const line of partial.split('\n')) read(line);
  return { acked, saving };
}

/** Every batch up to the stored pts has all its peers; returns that pts. */
async function expectPeersUpToState(storage: Storage, batches: readonly number[]): Promise<number | undefined> {
  const session = await storage.load();
  const pts = session?.state?.pts;
  const channelPts = session?.channels.find((c) => c.id === 777n)?.pts;
  if (pts === undefined) {
    expect(channelPts).toBeUndefined();
    return undefined;
  }
  expect(channelPts, 'the channel pts is written with the state').toBe(pts);
  for (const i of batches.filter((b) => b <= pts)) {
    const missing: number[] = [];
    for (let n = 0; n < BATCH; n++) {
      const spec = userOf(i, n);
      const peer = await storage.peers.getById('user', BigInt(spec.id));
      if (peer?.accessHash !== spec.accessHash) missing.push(n);
    }
    expect(missing, `stored pts ${pts}: the peers of batch ${i} missing`).toEqual([]);
  }
  return pts;
}

const targets = processTargetsOfFile('mtcute-order');

for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`mtcute client killed with SIGKILL inside a save on ${target.name}`, () => {
    const ns = fileNamespace('mtcute_order');
    afterAll(() => target.cleanup(ns));

    it(`never leaves the update state ahead of the peers over ${KILLS} kills`, async () => {
      for (let run = 0; run < KILLS; run++) {
        // Each run's batches (the one under way at the kill: after the last acknowledged);
        // those of an earlier run were checked after its kill, and its last one, cut off,
        // was never stored with its state.
        const watch = target.open(ns, 'order');
        let killed: { acked: number[]; saving: number[] };
        try {
          killed = await killWhenStateStored([...target.args(ns), String(run * RUN)], run * RUN + 2 + (run % 3), watch);
        } finally {
          await watch.close();
        }
        const storage = target.open(ns, 'order');
        try {
          const pts = await expectPeersUpToState(storage, killed.saving);
          // Acknowledged saves are stored: the kill came after them.
          expect(pts, 'update state').toBeGreaterThanOrEqual(Math.max(...killed.acked));
        } finally {
          await storage.close();
        }
      }
    }, 120_000);
  });
}
