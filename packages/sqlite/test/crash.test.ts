/**
 * Crash safety: a process killed with SIGKILL in the middle of a stream of save /
 * saveUpdateState / peers.upsert leaves a file that opens, passes
 * `PRAGMA integrity_check`, holds every write whose promise had resolved, and holds
 * each write whole or not at all.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
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

/**
 * Two writers of different sessions on one file, each killed at a random moment: a
 * third of them while still starting (importing, opening the file, creating its
 * schema), the others within 80 ms of being ready. Every kind of write (snapshot,
 * update state, peer batch, kv entry, server session, temp key) acknowledged before the
 * kill is there, whole.
 */
const ROUNDS = 8;
const STRIDE = 1_000_000; // round r of a lane writes i = r * STRIDE …

/** Runs crash-mixed.mjs until its random kill; returns the acknowledged write numbers. */
async function killedWriter(path: string, tag: number, start: number): Promise<{ acked: number[]; ready: boolean }> {
  const child = new Child('crash-mixed.mjs', [path, String(tag), String(start)]);
  const early = Math.random() < 1 / 3;
  if (early) setTimeout(() => child.kill('SIGKILL'), 50 + Math.random() * 550);
  else {
    // After its first acknowledged write (not a fixed time: on a loaded machine a write
    // can take longer than the window, and then no late kill would follow an ack).
    await child.next((line) => line.startsWith('ack '), 'a first ack').catch(() => undefined);
    setTimeout(() => child.kill('SIGKILL'), Math.random() * 80);
  }
  const { signal } = await child.exited;
  expect(signal, `writer ${tag} from ${start}: ${child.stderr}`).toBe('SIGKILL');
  return { acked: child.received.filter((line) => line.startsWith('ack ')).map((line) => Number(line.slice(4))), ready: child.received.includes('ready') };
}

function checkAcknowledged(path: string, tag: number, acked: readonly number[], where: string): void {
  // Both writers of a first round may die before either created the file.
  if (!existsSync(path)) {
    expect(acked, where).toEqual([]);
    return;
  }
  const db = new Database(path, { readonly: true });
  try {
    expect(db.pragma('integrity_check', { simple: true }), where).toBe('ok');
    if (acked.length === 0) return;
    const name = `w${tag}`;
    const session = `(SELECT id FROM mtstore_sessions WHERE name = '${name}')`;
    const peers = db.prepare(`SELECT count(*) FROM mtstore_peers WHERE session_id = ${session} AND id BETWEEN ? AND ?`).pluck();
    const kv = db.prepare(`SELECT count(*) FROM mtstore_kv WHERE session_id = ${session} AND key = ?`).pluck();
    const server = db.prepare('SELECT count(*) FROM mtstore_server_sessions WHERE auth_key_id = ? AND session_id = ?').pluck();
    for (const i of acked) {
      if (i % 6 === 2) expect(peers.get(i * 100, i * 100 + 49), `${where}: batch ${i}`).toBe(50);
      if (i % 6 === 3) expect(kv.get(`k${i}`), `${where}: kv ${i}`).toBe(1);
      if (i % 6 === 4) expect(server.get(tag, i), `${where}: server session ${i}`).toBe(1);
    }
    // Batches whole or absent.
    const partial = db.prepare(`SELECT id / 100 AS batch, count(*) AS n FROM mtstore_peers WHERE session_id = ${session} GROUP BY batch HAVING n != 50`).all();
    expect(partial, where).toEqual([]);
    // The state is at least the last acknowledged save or state write; a snapshot is whole.
    const row = db.prepare(`SELECT id, state_pts, api_id FROM mtstore_sessions WHERE name = ?`).safeIntegers(false).get(name) as { id: number; state_pts: number | null; api_id: number | null } | undefined;
    const states = acked.filter((i) => i % 6 <= 1);
    if (states.length > 0) expect(row?.state_pts, `${where}: state`).toBeGreaterThanOrEqual(Math.max(...states));
    if (row?.api_id !== null && row !== undefined) {
      expect(db.prepare('SELECT count(*) FROM mtstore_dcs WHERE session_id = ?').pluck().get(row.id), `${where}: DC rows of save ${row.api_id - 1}`).toBe(2);
    }
    const temps = acked.filter((i) => i % 6 === 5);
    if (temps.length > 0) {
      const last = Math.max(...temps);
      const expires = db.prepare(`SELECT expires_at FROM mtstore_auth_keys WHERE session_id = ${session} AND dc_id = 2 AND media_only = 0 AND slot = ?`).pluck().safeIntegers(false).get(last % 4) as number | undefined;
      // The write after a temp key is a save, whose snapshot has no temp keys: committed
      // (acknowledged or not: the kill may fall between commit and ack), it removed them.
      if (expires === undefined) expect(row?.api_id, `${where}: temp key ${last} gone, so save ${last + 1} committed`).toBeGreaterThanOrEqual(last + 2);
      else expect(expires, `${where}: temp key ${last}`).toBeGreaterThanOrEqual(1_900_000_000 + last);
    }
  } finally {
    db.close();
  }
}

it(`two writers on one file, ${2 * ROUNDS * 2} SIGKILLs at random moments (during the open too): every acknowledged write of every kind intact`, async () => {
  let acknowledged = 0;
  const lane = async (n: number): Promise<void> => {
    const dir = temp.file(`mixed-${n}`);
    mkdirSync(dir);
    const path = `${dir}/mixed.session`;
    for (let round = 0; round < ROUNDS; round++) {
      const start = round * STRIDE;
      const writers = await Promise.all([1, 2].map((tag) => killedWriter(path, tag, start)));
      for (const [index, { acked, ready }] of writers.entries()) {
        acknowledged += acked.length;
        checkAcknowledged(path, index + 1, acked, `lane ${n} round ${round} writer ${index + 1}`);
      }
    }
    // Every session still loads and decodes through the adapter.
    for (const tag of [1, 2]) {
      const storage = new SqliteStorage({ path, name: `w${tag}` });
      await storage.load();
      await storage.authKeys.entries();
      await storage.close();
    }
  };
  await Promise.all([lane(0), lane(1)]);
  // Every late kill follows an acknowledged write (early ones land before or after the
  // first write at random: on a loaded machine all may land before it).
  expect(acknowledged).toBeGreaterThan(0);
}, 180_000);
