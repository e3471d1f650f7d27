/**
 * `mtstore import` of a big Telethon or Pyrogram file, run as a user runs it (the built
 * binary in a child process) with a V8 heap too small to hold the file's peers at once:
 * it must write as it reads. What lands must be what the whole-file reader
 * (`parseSession`) reads, stored in its order: the file holds stale rows, later in the
 * file than the peers that took their usernames and phones since, which lose them only
 * when peers are written oldest first.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, type Peer } from '@mtstore/core';
import { parseSession, toMtcuteString } from '@mtstore/convert';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { convertFixtures, mtstore } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Rows in each generated file. Held at once they need ~100 MB of heap (~485 B a peer). */
const ROWS = 200_000;
/** The child's V8 heap: room for a few 10,000-peer batches, not for the file. */
const HEAP_MB = 64;
/** One stale row every STALE_EVERY rows. */
const STALE_EVERY = 1_000;
const T0 = 1_700_000_000;

/** Row i: a user with a username when i is odd and a phone when i % 5 == 0, seen at a time that is no function of its id. */
const row = (i: number) => ({
  id: 300_000_000 + i,
  hash: BigInt(i) * 7919n + 1n,
  username: i % 2 === 1 ? `user_${i}` : null,
  phone: i % 5 === 0 ? 15_550_000_000 + i : null,
  date: T0 + ((i * 7919) % ROWS),
});

/**
 * Stale row k: a higher id than every row (so later in the file), seen before all of them,
 * naming the username of row 10k+1 and the phone of row 10k+5 (with a case change: one name).
 */
const stale = (k: number) => ({ id: 900_000_000 + k, hash: BigInt(k) + 5n, username: `USER_${10 * k + 1}`, phone: 15_550_000_000 + 10 * k + 5, date: T0 - 100 });

function bigFile(kind: 'telethon' | 'pyrogram'): string {
  const path = join(dir, `${kind}-big.session`);
  copyFileSync(`${convertFixtures}${kind}/${kind}.session`, path);
  const db = new Database(path);
  const insert =
    kind === 'telethon'
      ? db.prepare('insert into entities (id, hash, username, phone, name, date) values (@id, @hash, @username, @phone, @name, @date)')
      : db.prepare("insert into peers (id, access_hash, type, username, phone_number, last_update_on) values (@id, @hash, 'user', @username, @phone, @date)");
  const phone = (value: number | null) => (kind === 'telethon' || value === null ? value : `+${value}`);
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) {
      const r = row(i);
      insert.run({ ...r, phone: phone(r.phone), ...(kind === 'telethon' ? { name: `User Number ${i}` } : {}) });
    }
    for (let k = 0; k < ROWS / STALE_EVERY; k++) {
      const s = stale(k);
      insert.run({ ...s, phone: phone(s.phone), ...(kind === 'telethon' ? { name: `Stale ${k}` } : {}) });
    }
  })();
  db.close();
  return path;
}

/**
 * The peers a storage holds after upserting `peers` in order (contract §5): a username or
 * phone a later peer names is taken from the earlier one.
 */
function afterUpserts(peers: readonly Peer[]): Map<string, Peer> {
  const key = (p: Peer) => `${p.type}:${p.id}`;
  const owners = new Map<string, string>();
  for (const p of peers) {
    for (const name of p.usernames) owners.set(`u:${name.toLowerCase()}`, key(p));
    if (p.phone !== undefined) owners.set(`p:${p.phone}`, key(p));
  }
  const result = new Map<string, Peer>();
  for (const p of peers) {
    const kept: Peer = { ...p, usernames: p.usernames.filter((name) => owners.get(`u:${name.toLowerCase()}`) === key(p)) };
    if (p.phone !== undefined && owners.get(`p:${p.phone}`) !== key(p)) delete kept.phone;
    result.set(key(p), kept);
  }
  return result;
}

async function storedPeers(path: string): Promise<Map<string, Peer>> {
  const storage = await openStorage(path);
  try {
    const all = new Map<string, Peer>();
    let cursor: string | null = null;
    do {
      const page = await storage.peers.list({ cursor, limit: 10_000 });
      for (const p of page.peers) all.set(`${p.type}:${p.id}`, { ...p });
      cursor = page.cursor;
    } while (cursor !== null);
    expect(await storage.load()).not.toBeNull();
    return all;
  } finally {
    await storage.close();
  }
}

describe.each(['telethon', 'pyrogram'] as const)('import of a %s file with 200,000 peers', (kind) => {
  it(`runs in a ${HEAP_MB} MB heap and stores what the whole-file reader reads, oldest first`, async () => {
    const file = bigFile(kind);
    const target = join(dir, `${kind}-target.session`);
    const run = mtstore(['import', file, target], { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` }, 300_000);
    // The old import read all peers first: "FATAL ERROR: ... JavaScript heap out of memory" (signal, code -1).
    expect({ code: run.code, stderr: run.stderr.split('\n').filter((l) => !l.startsWith('import "')).join('\n').slice(-2000) }).toEqual({ code: EXIT.OK, stderr: expect.any(String) });
    // The fixture's own six peers, the rows, the stale rows.
    expect(run.stderr).toContain(`${6 + ROWS + ROWS / STALE_EVERY} peers, 0 kv entries`);

    const whole = await parseSession(file);
    const expected = afterUpserts(whole.peers);
    const stored = await storedPeers(target);
    expect(stored.size).toBe(expected.size);
    const differing = [...expected].filter(([key, peer]) => JSON.stringify(stored.get(key), bigints) !== JSON.stringify(peer, bigints)).slice(0, 3);
    expect(differing.map(([key, peer]) => ({ key, expected: peer, stored: stored.get(key) }))).toEqual([]);
    // The stale rows lost their names and phones to the rows seen after them.
    expect(stored.get(`user:${stale(3).id}`)).toMatchObject({ usernames: [] });
    expect(stored.get(`user:${stale(3).id}`)?.phone).toBeUndefined();
    expect(stored.get(`user:${row(31).id}`)).toMatchObject({ usernames: ['user_31'] });
    expect(stored.get(`user:${row(35).id}`)?.phone).toBe(String(row(35).phone));

    // export reads the session only; inspect counts the peers batch by batch (both read
    // every peer first before, and died out of heap here).
    const small = { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` };
    const exported = mtstore(['export', file, '--format', 'mtcute'], small, 300_000);
    expect({ code: exported.code, stderr: exported.stderr.slice(-500) }).toEqual({ code: EXIT.OK, stderr: expect.any(String) });
    expect(exported.stdout.trim()).toBe(toMtcuteString(whole.session));
    const inspected = mtstore(['inspect', file], small, 300_000);
    expect({ code: inspected.code, stderr: inspected.stderr.slice(-500) }).toEqual({ code: EXIT.OK, stderr: '' });
    expect(inspected.stdout).toContain(`  peers: ${whole.peers.length} (`);
  }, 600_000);
});

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}
