/**
 * Ctrl-C (SIGINT) while `mtstore migrate` copies a session's peers from one SQLite store
 * into another: the built binary in a child process, signalled once its progress line says
 * peers are copied. The command stops at the next page, closes both storages and exits 130
 * with one line saying what the target holds and the command that finishes; that command
 * then runs and the copy is whole. Before, the signal's default action killed it without a
 * word, leaving a target session whose snapshot loads (written first) with part of its
 * peers, and both files' -wal and -shm.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@mtstore/core';
import { parseSession } from '@mtstore/convert';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { convertFixtures, countPeers, makePeers, mtstore, mtstoreSignalled } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-migrate-interrupted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 20 pages of --batch 1,000: copying the rest takes a good part of a second after the first. */
const PEERS = 20_000;
const BATCH = '1000';
const source = join(dir, 'source.session');
const target = join(dir, 'target.session');

beforeAll(async () => {
  const storage = await openStorage(source, { name: 'alice' });
  try {
    await storage.save((await parseSession(`${convertFixtures}telethon/telethon.session`)).session);
    const peers = makePeers(PEERS);
    for (let i = 0; i < peers.length; i += 10_000) await storage.peers.upsert(peers.slice(i, i + 10_000));
    await storage.kv.set('salts', new Uint8Array([1, 2, 3]));
  } finally {
    await storage.close();
  }
}, 60_000);

describe(`migrate of ${PEERS.toLocaleString('en-US')} peers interrupted`, () => {
  it('SIGINT while peers are copied: exit 130, both storages closed, one line saying what the target holds and the command that finishes it, which does', async () => {
    const r = await mtstoreSignalled(['migrate', source, target, '--batch', BATCH], 'SIGINT', (stderr) => stderr.includes('alice: '));
    expect(r.sent).toBe(true);
    // Before: { code: null, killedBy: 'SIGINT' }.
    expect({ code: r.code, killedBy: r.killedBy }, r.stderr).toEqual({ code: EXIT.INTERRUPTED, killedBy: null });
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`Migrating 1 session from ${source} to ${target}.`);
    expect(lines.slice(1, -1).every((line) => new RegExp(`^alice: \\d+/${PEERS} peers`).test(line)), r.stderr).toBe(true);
    const match = new RegExp(
      `^mtstore: Interrupted \\(SIGINT\\) while migrating from (\\S+) to (\\S+): 0 of 1 session copied and verified; "alice" has its snapshot \\(it loads\\) and (\\d+) of ${PEERS} peers there, no reference messages or kv entries yet\\. ` +
        `Run the same migrate again to finish \\(every write is a replace or an upsert\\): (.+)$`,
    ).exec(lines.at(-1)!);
    expect(match, r.stderr).not.toBeNull();
    expect([match![1], match![2]]).toEqual([source, target]);
    expect(match![4]).toBe(`mtstore migrate ${source} ${target} --batch ${BATCH}`);
    const copied = Number(match![3]);
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(PEERS);

    // Both storages closed: SQLite removes a WAL file's -wal and -shm when its last connection closes (a killed run left both files' pairs).
    expect(readdirSync(dir).sort()).toEqual(['source.session', 'target.session']);
    // What the line says is there: the snapshot and those peers, no kv entry.
    let storage = await openStorage(target, { name: 'alice' });
    try {
      expect((await storage.load())?.homeDcId).toBe(2);
      expect(await countPeers(storage)).toBe(copied);
      expect(await storage.kv.entries()).toEqual([]);
    } finally {
      await storage.close();
    }

    // The command it gave (`mtstore` is the built binary; no word of it needs quoting here) finishes the copy.
    const again = mtstore(match![4]!.split(' ').slice(1), {}, 60_000);
    expect(again.code, again.stderr).toBe(EXIT.OK);
    expect(again.stderr).toContain(`alice: snapshot, ${PEERS} peers, 1 kv entry, 0 reference messages — verified.`);
    storage = await openStorage(target, { name: 'alice' });
    try {
      expect(await countPeers(storage)).toBe(PEERS);
      expect(await storage.kv.get('salts')).toEqual(new Uint8Array([1, 2, 3]));
    } finally {
      await storage.close();
    }
  }, 60_000);
});
