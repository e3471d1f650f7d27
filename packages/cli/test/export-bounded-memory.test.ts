/**
 * `mtstore export <storage> --format <file format> --out` of a big peer cache, run as a
 * user runs it (the built binary in a child process) with a V8 heap too small to hold the
 * cache at once: the peers must go from `peers.list` pages into the file as they are read
 * (no writer, and not the pager, holding them all). Each file read back holds them all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, type Peer } from '@mtstore/core';
import { parseSession } from '@mtstore/convert';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { convertFixtures, mtstore } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-export-bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Peers stored. Held at once as Peer objects they take ~50 MB of heap (~100 MB for
 * 200,000: those ran out of a 64 MB heap), well past the heap below. 100,000 and not
 * more: the file runs in CI on every commit (200,000 took 18 s of its 20 minutes).
 */
const PEERS = 100_000;
/** The child's V8 heap: room for a few 10,000-peer pages, not for the cache (exports of 200,000 to 1,000,000 peers ran in it: bench/export-memory.mjs --heap 32). */
const HEAP_MB = 32;
const source = join(dir, 'big.session');

/** Peer i: a user with a username on odd rows, a phone every fifth, a display name, seen at a time that is no function of the id. */
const peer = (i: number): Peer => ({
  type: 'user',
  id: BigInt(300_000_000 + i),
  accessHash: BigInt(i) * 7919n + 1n,
  usernames: i % 2 === 1 ? [`user_${i}`] : [],
  ...(i % 5 === 0 ? { phone: String(15_550_000_000 + i) } : {}),
  displayName: `User Number ${i}`,
  updatedAt: 1_700_000_000 + ((i * 7919) % PEERS),
});

beforeAll(async () => {
  const storage = await openStorage(source, { name: 'big' });
  try {
    await storage.save((await parseSession(`${convertFixtures}telethon/telethon.session`)).session);
    for (let i = 0; i < PEERS; i += 10_000) await storage.peers.upsert(Array.from({ length: 10_000 }, (_, k) => peer(i + k)));
  } finally {
    await storage.close();
  }
}, 300_000);

describe(`export --out of a storage with ${PEERS.toLocaleString('en-US')} peers in a ${HEAP_MB} MB heap`, () => {
  // GramJS's folder stops at 4 MiB of peers (its quota), so it cannot show a cache held whole.
  it.each(['telethon-sqlite', 'pyrogram-sqlite', 'mtcute-sqlite'] as const)('%s: runs, and the file holds every peer', async (format) => {
    const out = join(dir, `out-${format}`);
    const r = mtstore(['export', source, '--name', 'big', '--format', format, '--out', out, '--api-id', '12345'], { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` }, 300_000);
    // A cache held whole: "FATAL ERROR: ... JavaScript heap out of memory" (a signal: code -1).
    expect({ code: r.code, stderr: r.stderr.slice(-1500) }).toEqual({ code: EXIT.OK, stderr: expect.any(String) });
    expect(r.stderr.trim().split('\n').at(-1)).toContain(`, ${PEERS} peers`);
    const back = await parseSession(out);
    expect(back.peers).toHaveLength(PEERS);
    const last = back.peers.find((p) => p.id === BigInt(300_000_000 + PEERS - 1));
    expect(last).toMatchObject({ accessHash: peer(PEERS - 1).accessHash, usernames: [`user_${PEERS - 1}`] });
  }, 300_000);
});
