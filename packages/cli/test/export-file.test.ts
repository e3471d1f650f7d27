/**
 * `mtstore export <source> --format <file format> --out <path>`: a stored or foreign
 * session written as a client's own session file or folder, its peers streamed from the
 * source, the path refused before anything is opened when it exists.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage, type Peer } from '@mtstore/core';
import { parseSession, parseSessionString } from '@mtstore/convert';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures, makePeers, mtstore } from './helpers.js';

const telethonFile = `${convertFixtures}telethon/telethon.session`;
const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-export-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a file format keeps of a peer read from the Telethon fixture (one username, lower-cased; mtcute keeps no name without its TL object). */
function kept(format: string, peer: Peer): Peer {
  const { displayName, ...rest } = peer;
  const out: Peer = { ...rest, usernames: peer.usernames.slice(0, format === 'mtcute-sqlite' ? undefined : 1).map((u) => u.toLowerCase()) };
  return format === 'mtcute-sqlite' || format === 'pyrogram-sqlite' || displayName === undefined ? out : { ...out, displayName };
}

describe('export --out', () => {
  it('writes a stored session as each client\'s own file or folder, every peer included; the summary and the login warning on stderr, nothing on stdout', async () => {
    const url = 'shared://export-file';
    expect(await run(['import', telethonFile, url, '--name', 'alice'], captureIo())).toBe(EXIT.OK);
    const expected = await parseSession(telethonFile);
    for (const format of ['telethon-sqlite', 'pyrogram-sqlite', 'mtcute-sqlite', 'gramjs-store'] as const) {
      const out = join(dir, `alice-${format}`);
      const io = captureIo();
      const code = await run(['export', url, '--name', 'alice', '--format', format, '--out', out, '--api-id', '12345'], io);
      expect(code, io.err()).toBe(EXIT.OK);
      expect(io.out()).toBe('');
      const lines = io.err().trim().split('\n');
      expect(lines).toContain(`warning: ${out} is a login: anyone holding it can use the account. Keep it secret.`);
      expect(lines.at(-1)).toMatch(new RegExp(`^Exported session "alice" as a ${format} (file|folder) to ${out}: home DC 2, user 777000111, 6 peers`));
      expect(statSync(out).mode & 0o777).toBe(format === 'gramjs-store' ? 0o700 : 0o600);

      const back = await parseSession(out);
      expect(back.format).toBe(format);
      expect(back.session.dcs.find((d) => d.id === 2)?.authKey).toEqual(expected.session.dcs[0]!.authKey);
      const byKey = (peers: Peer[]) => new Map(peers.map((p) => [`${p.type}:${p.id}`, p]));
      expect(byKey(back.peers)).toEqual(byKey(expected.peers.map((p) => kept(format, p))));
      if (format === 'telethon-sqlite') expect(back.session).toEqual(expected.session);
    }
  });

  it('converts a foreign file straight into another client\'s file, its peers read batch by batch', async () => {
    const out = join(dir, 'from-telethon.session');
    const io = captureIo();
    expect(await run(['export', telethonFile, '--format', 'pyrogram-sqlite', '--out', out, '--api-id', '777'], io)).toBe(EXIT.OK);
    expect(io.err()).toContain(`Exported the telethon-sqlite session ${telethonFile} as a pyrogram-sqlite file to ${out}: home DC 2, user 777000111, 6 peers (3 warnings above: what the source or the format left out).`);
    expect(io.err()).toContain('mtstore: warning: pts of 2 channels not written (Pyrogram 2 keeps none)');
    expect(io.err()).toContain('mtstore: warning: 6 peers: display name not written (Pyrogram keeps none)');
    const back = await parseSession(out);
    expect(back.session.apiId).toBe(777);
    expect(back.peers).toHaveLength(6);
  });

  it('streams a storage\'s peers page by page: 25,000 peers', async () => {
    const url = 'shared://export-file-many';
    const expected = await parseSession(telethonFile);
    const storage = await openStorage(url);
    await storage.save(expected.session);
    const peers = makePeers(25_000);
    for (let i = 0; i < peers.length; i += 10_000) await storage.peers.upsert(peers.slice(i, i + 10_000));
    await storage.close();
    const out = join(dir, 'many.session');
    const io = captureIo();
    expect(await run(['export', url, '--format', 'mtcute-sqlite', '--out', out], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toMatch(/, 25000 peers/);
    const back = await parseSession(out);
    expect(back.peers).toHaveLength(25_000);
    expect(back.peers.filter((p) => p.min).length).toBe(2_500);
  });

  it('a string format with --out writes the string to a new 0600 file instead of stdout', async () => {
    const out = join(dir, 'string.txt');
    const io = captureIo();
    expect(await run(['export', telethonFile, '--format', 'telethon', '--out', out], io)).toBe(EXIT.OK);
    expect(io.out()).toBe('');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const text = readFileSync(out, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(parseSessionString(text.trim()).session.dcs[0]!.authKey).toEqual((await parseSession(telethonFile)).session.dcs[0]!.authKey);
    expect(io.err()).toContain(`Wrote the telethon string to ${out}.`);
    expect(io.err()).toContain(`warning: ${out} holds a telethon string, a login: anyone holding it can use the account. Keep it secret.`);
  });

  it('an existing --out (file, folder, link, an earlier file\'s journal) is exit 2 before the source is opened; a file format without --out is exit 2', async () => {
    const missingSource = join(dir, 'no-such-store.session');
    const file = join(dir, 'taken.session');
    writeFileSync(file, 'someone\'s session');
    const link = join(dir, 'dangling');
    symlinkSync(join(dir, 'nowhere'), link);
    const journaled = join(dir, 'journaled.session');
    writeFileSync(`${journaled}-journal`, 'x');
    for (const [out, format] of [[file, 'telethon-sqlite'], [dir, 'gramjs-store'], [link, 'mtcute-sqlite'], [journaled, 'pyrogram-sqlite'], [file, 'telethon']] as const) {
      const io = captureIo();
      // The source does not exist: were it opened first, this would be exit 6.
      expect(await run(['export', missingSource, '--format', format, '--out', out], io), io.err()).toBe(EXIT.USAGE);
      expect(io.err()).toMatch(/^mtstore: --out .* already exists: export writes a new file only/);
    }
    expect(readFileSync(file, 'utf8')).toBe('someone\'s session');
    expect(existsSync(journaled)).toBe(false);
    const io = captureIo();
    expect(await run(['export', missingSource, '--format', 'gramjs-store'], io)).toBe(EXIT.USAGE);
    expect(io.err()).toContain('--format gramjs-store writes a session file: pass --out <path>');
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('the built binary writes a file too (dist/bin.js)', async () => {
    const out = join(dir, 'bin.session');
    const result = mtstore(['export', telethonFile, '--format', 'mtcute-sqlite', '--out', out]);
    expect(result.code, result.stderr).toBe(EXIT.OK);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/Exported the telethon-sqlite session .* as a mtcute-sqlite file to .*: home DC 2, user 777000111, 6 peers/);
    expect((await parseSession(out)).peers).toHaveLength(6);
  });

  it('a Pyrogram file of a session without an api_id asks for --api-id (exit 2), before the file is created', async () => {
    const out = join(dir, 'no-api-id.session');
    const io = captureIo();
    expect(await run(['export', telethonFile, '--format', 'pyrogram-sqlite', '--out', out], io)).toBe(EXIT.USAGE);
    expect(io.err()).toContain('pass --api-id');
    expect(existsSync(out)).toBe(false);
  });

  it('an --out in a folder that does not exist: exit 2 for a string, exit 3 for a file format, each saying to check the folder (not a raw Node error)', async () => {
    const missing = join(dir, 'no-such-folder');
    const asString = captureIo();
    expect(await run(['export', telethonFile, '--format', 'telethon', '--out', join(missing, 'alice.txt')], asString)).toBe(EXIT.USAGE);
    expect(asString.err()).toContain(`Cannot write --out ${join(missing, 'alice.txt')}: ENOENT. Check that its folder exists and this user can write to it.`);
    for (const format of ['telethon-sqlite', 'gramjs-store'] as const) {
      const io = captureIo();
      expect(await run(['export', telethonFile, '--format', format, '--out', join(missing, format)], io)).toBe(EXIT.INPUT);
      expect(io.err()).toMatch(/Cannot write the .* ENOENT\b.*\. Check that its folder exists and this user can write to it\./);
    }
    expect(existsSync(missing)).toBe(false);
  });
});
