/**
 * `mtstore export --out` of a session sealed by `mtstore rotate-keys` (auth keys and secret
 * kv values sealed at rest): with the key (`--key id=ENV_VAR`) each file format holds the
 * plaintext auth key; without a key that opens it the command fails exactly as the string
 * export does (same exit code, same line) and leaves nothing at --out: no file, no SQLite
 * journal, no GramJS scratch folder.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage } from '@mtstore/core';
import { parseSession } from '@mtstore/convert';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures } from './helpers.js';

const telethonFile = `${convertFixtures}telethon/telethon.session`;
const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-export-sealed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

process.env.MTSTORE_TEST_EXPORT_K1 = Buffer.alloc(32, 31).toString('base64');
process.env.MTSTORE_TEST_EXPORT_K2 = Buffer.alloc(32, 32).toString('base64');
// k1's id with other key material: the sealed values do not open with it.
process.env.MTSTORE_TEST_EXPORT_K1_WRONG = Buffer.alloc(32, 33).toString('base64');

const FILE_FORMATS = ['telethon-sqlite', 'pyrogram-sqlite', 'mtcute-sqlite', 'gramjs-store'] as const;

const sources: Record<string, () => string> = {
  memory: () => `shared://export-sealed-${Math.random().toString(36).slice(2)}`,
  sqlite: () => join(dir, `${Math.random().toString(36).slice(2)}.session`),
};

/** The Telethon fixture imported as "alice" with a secret kv value, then sealed by rotate-keys with k1. */
async function sealedStore(source: string): Promise<void> {
  expect(await run(['import', telethonFile, source, '--name', 'alice'], captureIo())).toBe(EXIT.OK);
  const storage = await openStorage(source, { name: 'alice' });
  await storage.kv.set('salts:2', new Uint8Array([4, 5, 6]));
  await storage.close();
  const io = captureIo();
  expect(await run(['rotate-keys', source, '--key', 'k1=MTSTORE_TEST_EXPORT_K1', '--secret-kv', 'salts:'], io), io.err()).toBe(EXIT.OK);
  expect(io.err()).toContain('Re-sealed 1 auth key and 1 kv value of 1 session in');
  // Sealed for real: without the key the snapshot does not load.
  const bare = await openStorage(source, { name: 'alice' });
  await expect(bare.load()).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k1' });
  await bare.close();
}

describe.each(Object.keys(sources))('%s: export --out of a session sealed by rotate-keys', (adapter) => {
  it('with --key: each file format holds the plaintext auth key', async () => {
    const source = sources[adapter]!();
    await sealedStore(source);
    const plaintext = (await parseSession(telethonFile)).session.dcs[0]!.authKey!;
    const outDir = join(dir, `with-key-${adapter}`);
    mkdirSync(outDir);
    for (const format of FILE_FORMATS) {
      const out = join(outDir, format);
      const io = captureIo();
      expect(await run(['export', source, '--name', 'alice', '--format', format, '--out', out, '--api-id', '12345', '--key', 'k1=MTSTORE_TEST_EXPORT_K1'], io), io.err()).toBe(EXIT.OK);
      expect(io.err()).toMatch(new RegExp(`Exported session "alice" as a ${format} (file|folder) to ${out}: home DC 2, user 777000111, 6 peers`));
    }
    // Listed before reading back: a reader of mtcute's WAL file leaves its -wal/-shm beside it.
    expect(readdirSync(outDir).sort()).toEqual([...FILE_FORMATS].sort());
    for (const format of FILE_FORMATS) {
      const back = await parseSession(join(outDir, format));
      expect(back.format).toBe(format);
      expect(back.session.dcs.find((d) => d.id === 2)?.authKey, format).toEqual(plaintext);
      expect(back.peers, format).toHaveLength(6);
    }
  });

  it('without --key, with another key only, or with wrong material for k1: the string export\'s exit code and line, and nothing at --out', async () => {
    const source = sources[adapter]!();
    await sealedStore(source);
    const cases: Record<string, string[]> = {
      'no --key': [],
      'another key only': ['--key', 'k2=MTSTORE_TEST_EXPORT_K2'],
      'wrong material for k1': ['--key', 'k1=MTSTORE_TEST_EXPORT_K1_WRONG'],
    };
    for (const [label, keys] of Object.entries(cases)) {
      const asString = captureIo();
      const stringCode = await run(['export', source, '--name', 'alice', '--format', 'telethon', ...keys], asString);
      expect(stringCode, `${label}: ${asString.err()}`).toBe(EXIT.USAGE);
      const stringLine = asString.err().trim();
      expect(stringLine.split('\n'), label).toHaveLength(1);
      expect(stringLine, label).toMatch(label === 'wrong material for k1' ? /does not open with encryption key "k1".*--key k1=<ENV_VAR> holds the key that sealed it/ : /sealed with encryption key "k1".*pass --key k1=<ENV_VAR>/);

      const outDir = join(dir, `${adapter}-${label.replaceAll(' ', '-')}`);
      mkdirSync(outDir);
      for (const format of FILE_FORMATS) {
        const out = join(outDir, format);
        const io = captureIo();
        expect(await run(['export', source, '--name', 'alice', '--format', format, '--out', out, '--api-id', '12345', ...keys], io), `${label}, ${format}: ${io.err()}`).toBe(stringCode);
        expect(io.err().trim(), `${label}, ${format}`).toBe(stringLine);
        expect(io.out()).toBe('');
      }
      // No file, no -journal/-wal/-shm, no GramJS scratch folder (.gramjs-store.mtstore-…).
      expect(readdirSync(outDir), label).toEqual([]);
    }
  });
});
