/**
 * Crash safety: a process killed with SIGKILL in the middle of a stream of save /
 * saveUpdateState / peers.upsert leaves a file that opens, passes
 * `PRAGMA integrity_check`, holds every write whose promise had resolved, and holds
 * each write whole or not at all.
 */
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';
import { Child } from './child.js';
// @ts-expect-error: plain JavaScript shared with the child process
import { BATCH, sessionAt, stateAt } from './children/crash-data.mjs';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('crash');
afterAll(temp.remove);

const KILLS = 24;
const RUN = 3_000; // writes of one run are numbered run*RUN + n; RUN is a multiple of 3

it(`survives ${KILLS} SIGKILLs mid-stream with every acknowledged write intact`, async () => {
  const path = temp.file('crash.session');
  let lastStateWrite = -1;
  const ackedBatches: number[] = [];
  for (let run = 0; run < KILLS; run++) {
    const child = new Child('crash-writer.mjs', [path, String(run * RUN)]);
    // Kill after a varying number of acknowledged writes, so the kill lands on every kind of write.
    const acks = 1 + ((run * 7) % 40);
    let last = -1;
    for (let n = 0; n < acks; n++) last = Number((await child.next((l) => l.startsWith('ack '), 'an ack')).slice(4));
    child.kill('SIGKILL');
    const { signal } = await child.exited;
    expect(signal, `run ${run}: ${child.stderr}`).toBe('SIGKILL');
    // Lines that arrived before the kill are acknowledged writes too.
    for (const line of child.received) {
      if (!line.startsWith('ack ')) continue;
      const i = Number(line.slice(4));
      last = Math.max(last, i);
      if (i % 3 === 2) ackedBatches.push(i);
      else lastStateWrite = Math.max(lastStateWrite, i);
    }
    expect(last).toBeGreaterThanOrEqual(run * RUN);

    const raw = new Database(path);
    try {
      expect(raw.pragma('integrity_check', { simple: true }), `run ${run}`).toBe('ok');
      // Each batch whole or absent, and every acknowledged one present.
      const counts = new Map(
        (raw.prepare('SELECT id / 1000 AS batch, count(*) AS n FROM mtstore_peers GROUP BY batch').all() as { batch: number; n: number }[]).map((r) => [r.batch, r.n]),
      );
      for (const [batch, n] of counts) expect(n, `batch ${batch}`).toBe(BATCH);
      for (const batch of ackedBatches) expect(counts.get(batch), `acknowledged batch ${batch}`).toBe(BATCH);
    } finally {
      raw.close();
    }

    const storage = new SqliteStorage({ path, name: 'crash' });
    try {
      const loaded = await storage.load();
      const pts = loaded?.state?.pts as number;
      expect(pts, `run ${run}`).toBeGreaterThanOrEqual(lastStateWrite);
      // Whole writes only: the last committed one, exactly.
      const expected = pts % 3 === 0 ? sessionAt(pts) : { ...sessionAt(pts - 1), state: stateAt(pts) };
      if (pts % 3 === 1) expected.channels = [{ id: 7n, pts }, ...expected.channels.slice(1)];
      expect(plain(loaded), `run ${run}, write ${pts}`).toEqual(expected);
      const username = await storage.peers.getByUsername(`crash_${ackedBatches.at(-1)}_${BATCH - 1}`);
      if (ackedBatches.length > 0) expect(username).not.toBeNull();
    } finally {
      await storage.close();
    }
  }
}, 120_000);
