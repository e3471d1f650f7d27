/**
 * Ctrl-C (SIGINT) or a kill (SIGTERM) while `mtstore export --out` writes a session file
 * or folder: the built binary in a child process, signalled once the file exists. The
 * command removes what it wrote and exits 130 with one line. Before, the signal's default
 * action left a half-written login there: an empty Telethon file and its -journal, or
 * GramJS's claimed folder beside a hidden scratch folder holding the auth key, and the
 * same command then refused the path as existing.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@mtstore/core';
import { parseSession } from '@mtstore/convert';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { bigTelethonFile, convertFixtures, makePeers, mtstoreSignalled } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-export-interrupted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Enough peers that writing them takes a while after the file appears (~1 s of CPU for Telethon's file). */
const PEERS = 100_000;
const store = join(dir, 'store.session');
const telethon = join(dir, 'big-telethon.session');

beforeAll(async () => {
  const storage = await openStorage(store, { name: 'big' });
  try {
    await storage.save((await parseSession(`${convertFixtures}telethon/telethon.session`)).session);
    const peers = makePeers(PEERS).map((p) => ({ ...p, min: false }));
    for (let i = 0; i < peers.length; i += 10_000) await storage.peers.upsert(peers.slice(i, i + 10_000));
  } finally {
    await storage.close();
  }
  bigTelethonFile(telethon, PEERS);
}, 120_000);

describe(`export --out interrupted while it writes ${PEERS.toLocaleString('en-US')} peers`, () => {
  it.each([
    ['telethon-sqlite', 'SIGINT'],
    ['pyrogram-sqlite', 'SIGINT'],
    ['mtcute-sqlite', 'SIGTERM'],
    ['gramjs-store', 'SIGINT'],
  ] as const)('from a storage to %s, %s: exit 130, one line, nothing left at --out', async (format, signal) => {
    const folder = join(dir, `storage-${format}`);
    mkdirSync(folder);
    const out = join(folder, 'out');
    const r = await mtstoreSignalled(['export', store, '--name', 'big', '--format', format, '--out', out, '--api-id', '12345'], signal, () => existsSync(out));
    expect(r.sent).toBe(true);
    // Before: { code: null, killedBy: signal } and the file, its -journal or GramJS's folders left.
    expect({ code: r.code, killedBy: r.killedBy, left: readdirSync(folder) }, r.stderr).toEqual({ code: EXIT.INTERRUPTED, killedBy: null, left: [] });
    expect(r.stderr.trim().split('\n')).toEqual([`mtstore: Interrupted (${signal}) while writing the ${format} ${format === 'gramjs-store' ? 'folder' : 'file'} ${out}: what was written is removed, nothing is left there.`]);
  }, 60_000);

  it('from a foreign Telethon file to an mtcute file, SIGTERM: exit 130, nothing left; the same command then writes the file', async () => {
    const folder = join(dir, 'foreign');
    mkdirSync(folder);
    const out = join(folder, 'out');
    const args = ['export', telethon, '--format', 'mtcute-sqlite', '--out', out];
    const r = await mtstoreSignalled(args, 'SIGTERM', () => existsSync(out));
    expect({ code: r.code, killedBy: r.killedBy, left: readdirSync(folder) }, r.stderr).toEqual({ code: EXIT.INTERRUPTED, killedBy: null, left: [] });
    // Nothing refuses the path now: the export runs to the end.
    const again = await mtstoreSignalled(args, 'SIGTERM', () => existsSync(join(folder, 'never')));
    expect({ code: again.code, sent: again.sent }, again.stderr).toEqual({ code: EXIT.OK, sent: false });
    expect((await parseSession(out)).peers).toHaveLength(PEERS + 6);
  }, 60_000);
});
