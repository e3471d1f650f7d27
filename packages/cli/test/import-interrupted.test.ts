/**
 * Ctrl-C (SIGINT) while `mtstore import` writes a big Telethon file's peers into an SQLite
 * storage: the built binary in a child process, signalled once its progress line says
 * peers are written. The command stops at the next batch, closes the storage (releasing
 * the session's lease) and exits 130 with one line saying what is left; the same import
 * with --force then runs at once and stores the whole session. Before, the signal's
 * default action killed the process holding the lease, and the re-run within the lease's
 * 30 s was refused "in use by mtstore import (pid …)" (exit 8).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@mtstore/core';
import { parseSession } from '@mtstore/convert';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { bigTelethonFile, countPeers, mtstore, mtstoreSignalled } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-import-interrupted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Ten batches of 10,000: writing them into SQLite takes a few seconds after the first. */
const PEERS = 100_000;
const telethon = join(dir, 'big-telethon.session');
const target = join(dir, 'target.session');

beforeAll(() => {
  bigTelethonFile(telethon, PEERS);
}, 60_000);

describe(`import of ${PEERS.toLocaleString('en-US')} peers interrupted`, () => {
  it('SIGINT while peers are written: exit 130, one line saying what is left; the same import with --force then runs at once', async () => {
    const args = ['import', telethon, target, '--name', 'alice'];
    const r = await mtstoreSignalled(args, 'SIGINT', (stderr) => stderr.includes('import "alice": '));
    expect(r.sent).toBe(true);
    // Before: { code: null, killedBy: 'SIGINT' }.
    expect({ code: r.code, killedBy: r.killedBy }, r.stderr).toEqual({ code: EXIT.INTERRUPTED, killedBy: null });
    const lines = r.stderr.trim().split('\n');
    // Progress lines (every 2 s off a terminal), then the one line.
    expect(lines.slice(0, -1).every((line) => /^import "alice": \d+\/\d+ peers/.test(line)), r.stderr).toBe(true);
    const match = /^mtstore: Interrupted \(SIGINT\) while importing "alice" into (.+): (\d+) peers written and no login \(the snapshot is written last\); run the same import with --force to replace them\.$/.exec(lines.at(-1)!);
    expect(match, r.stderr).not.toBeNull();
    expect(match![1]).toBe(target);
    const written = Number(match![2]);

    // What the line says is there: those peers, no snapshot.
    let storage = await openStorage(target, { name: 'alice' });
    try {
      expect(await storage.load()).toBeNull();
      expect(await countPeers(storage)).toBe(written);
    } finally {
      await storage.close();
    }
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(PEERS);

    // At once (well within the lease's 30 s): not refused, the whole session stored.
    const again = mtstore([...args, '--force'], {}, 60_000);
    expect(again.code, again.stderr).toBe(EXIT.OK);
    const file = await parseSession(telethon);
    storage = await openStorage(target, { name: 'alice' });
    try {
      const session = await storage.load();
      expect(session?.homeDcId).toBe(file.session.homeDcId);
      expect(session?.user?.id).toBe(file.session.user?.id);
      expect(session?.dcs.find((dc) => dc.id === file.session.homeDcId && !dc.mediaOnly)?.authKey).toEqual(file.session.dcs.find((dc) => dc.id === file.session.homeDcId && !dc.mediaOnly)?.authKey);
      expect(await countPeers(storage)).toBe(file.peers.length);
    } finally {
      await storage.close();
    }
  }, 60_000);
});
