/**
 * Counts of one in the summaries and progress lines: "1 peer", "1 kv entry", "1 reference
 * message", "1 session". They said "1 reference messages", "1 sessions", "1 chats", … —
 * found in a user testing session. Each command that prints a count is run on a store
 * (or file) holding exactly one of each thing it counts.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, toMarkedId } from '@mtstore/core';
import { parseSession } from '@mtstore/convert';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures, makePeers } from './helpers.js';

const telethonFile = `${convertFixtures}telethon/telethon.session`;
const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-counts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

process.env.MTSTORE_TEST_COUNTS_K1 = Buffer.alloc(32, 41).toString('base64');

/** Every singular noun the summaries use, as the old code printed it with a count of one. */
const OLD_PLURALS = /\b1 (peers|sessions|kv entries|kv values|reference messages|auth keys|temp keys|users|chats|channels|rows or fields|more rows or fields|warnings|keys)\b/;

/**
 * A store holding one session "alice": the Telethon fixture's snapshot (one DC with its
 * auth key) plus one temp key, one peer, one kv entry and one reference message.
 */
async function oneOfEach(url: string): Promise<void> {
  const session = (await parseSession(telethonFile)).session;
  const storage = await openStorage(url, { name: 'alice' });
  await storage.save(session);
  await storage.authKeys.setTemp(session.homeDcId, { index: 0, key: new Uint8Array(256).fill(9), expiresAt: 1_900_000_000 });
  await storage.peers.upsert(makePeers(1, 11)); // a user: 1 user, 0 chats, 0 channels
  await storage.kv.set('salts:2', Uint8Array.of(1, 2, 3));
  await storage.refMessages.store(toMarkedId('user', 11n), -1001183945448n, 77);
  await storage.close();
}

describe('a count of one is singular', () => {
  it('inspect: 1 session, 1 temp key, 1 user, 0 chats, 0 channels', async () => {
    const url = 'shared://counts-inspect';
    await oneOfEach(url);
    const io = captureIo();
    expect(await run(['inspect', url], io), io.err()).toBe(EXIT.OK);
    expect(io.out()).toContain(`${url}: 1 session\n`);
    expect(io.out()).toContain('1 temp key\n');
    expect(io.out()).toContain('  peers: 1 (1 user, 0 chats, 0 channels, 1 min)\n');
    expect(io.out()).not.toMatch(OLD_PLURALS);
  });

  it('inspect of a file with one row left out: "1 row or field"', async () => {
    const path = join(dir, 'one-odd.session');
    copyFileSync(telethonFile, path);
    const db = new Database(path);
    db.prepare("insert into entities values (-2000000000005, 1, 'secret', null, 'Secret', 1700000100)").run();
    db.close();
    const io = captureIo();
    expect(await run(['inspect', path], io), io.err()).toBe(EXIT.OK);
    expect(io.out()).toContain('  left out on import: 1 row or field\n');
    const imported = captureIo();
    expect(await run(['import', path, 'shared://counts-odd'], imported), imported.err()).toBe(EXIT.OK);
    expect(imported.err()).toContain('(1 row or field left out: see the warnings above).');
  });

  it('export --out and import: "1 peer", "1 reference message"', async () => {
    const url = 'shared://counts-export';
    await oneOfEach(url);
    const out = join(dir, 'alice-mtcute.session');
    const exported = captureIo();
    expect(await run(['export', url, '--name', 'alice', '--format', 'mtcute-sqlite', '--out', out], exported), exported.err()).toBe(EXIT.OK);
    expect(exported.err()).toMatch(/Exported session "alice" as a mtcute-sqlite file to .*: home DC 2, user 777000111, 1 peer[ .]/);
    expect(exported.err()).not.toMatch(OLD_PLURALS);
    // The mtcute file holds the reference message: imported back, each count is one.
    const imported = captureIo();
    expect(await run(['import', out, 'shared://counts-import', '--name', 'alice'], imported), imported.err()).toBe(EXIT.OK);
    expect(imported.err()).toMatch(/: home DC 2, user 777000111, 1 peer, 0 kv entries, 1 reference message\.\n$/);
    expect(imported.err()).not.toMatch(OLD_PLURALS);
  });

  it('migrate: "Migrating 1 session", the progress line, "1 peer, 1 kv entry, 1 reference message", "Done: 1 session, 1 peer"', async () => {
    const url = 'shared://counts-migrate';
    await oneOfEach(url);
    const io = captureIo();
    expect(await run(['migrate', url, 'shared://counts-migrate-copy'], io), io.err()).toBe(EXIT.OK);
    const lines = io.err().trim().split('\n');
    expect(lines[0]).toBe(`Migrating 1 session from ${url} to shared://counts-migrate-copy.`);
    expect(lines).toContainEqual(expect.stringMatching(/^alice: 1\/1 peer \([\d,]+\/s\)$/));
    expect(lines).toContain('alice: snapshot, 1 peer, 1 kv entry, 1 reference message — verified.');
    expect(lines.at(-1)).toMatch(/^Done: 1 session, 1 peer in [\d.]+ s \(\d+ peers\/s\), counts verified\.$/);
    expect(io.err()).not.toMatch(OLD_PLURALS);
  });

  it('migrate of a session without a snapshot: "1 auth key (no snapshot)"', async () => {
    const url = 'shared://counts-keys-only';
    const storage = await openStorage(url, { name: 'keys' });
    await storage.authKeys.set(2, new Uint8Array(256).fill(3));
    await storage.close();
    const io = captureIo();
    expect(await run(['migrate', url, 'shared://counts-keys-only-copy'], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain('keys: 1 auth key (no snapshot), 0 peers, 0 kv entries, 0 reference messages — verified.');
  });

  it('rotate-keys: "Re-sealed 1 auth key and 1 kv value of 1 session", "1 session has no snapshot (its keys …)"', async () => {
    const url = 'shared://counts-rotate';
    await oneOfEach(url);
    const io = captureIo();
    expect(await run(['rotate-keys', url, '--key', 'k1=MTSTORE_TEST_COUNTS_K1', '--secret-kv', 'salts:'], io), io.err()).toBe(EXIT.OK);
    // The snapshot's auth key and its temp key: two keys, one kv value.
    expect(io.err()).toContain(`Re-sealed 2 auth keys and 1 kv value of 1 session in ${url} with key "k1" (0 already current).`);
    expect(io.err()).not.toMatch(OLD_PLURALS);

    const bare = 'shared://counts-rotate-keys-only';
    const storage = await openStorage(bare, { name: 'keys' });
    await storage.authKeys.set(2, new Uint8Array(256).fill(3));
    await storage.close();
    const keysOnly = captureIo();
    expect(await run(['rotate-keys', bare, '--key', 'k1=MTSTORE_TEST_COUNTS_K1'], keysOnly), keysOnly.err()).toBe(EXIT.OK);
    expect(keysOnly.err()).toContain(`Re-sealed 1 auth key and 0 kv values of 1 session in ${bare}`);
    expect(keysOnly.err()).toContain('1 session has no snapshot (its keys were listed one by one): keys.');
  });
});
