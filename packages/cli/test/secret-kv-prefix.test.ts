/**
 * A --secret-kv prefix no kv key can start with (kv keys are 1 to 255 characters from
 * `!` to `~`) sealed nothing and the run said it was done (exit 0). It is exit 2 naming
 * the flag now, for rotate-keys and migrate, before any store is opened: the runs below
 * name stores that do not exist, which would otherwise be exit 6.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, type EncryptionOptions } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-secret-kv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

process.env.MTSTORE_TEST_SECRET_KV_K1 = Buffer.alloc(32, 61).toString('base64');
const k1: EncryptionOptions = { keys: [{ id: 'k1', env: 'MTSTORE_TEST_SECRET_KV_K1' }] };
const KEY = ['--key', 'k1=MTSTORE_TEST_SECRET_KV_K1'];

/** Prefixes no kv key starts with, and what the message must (not) show. */
const never: Record<string, string> = {
  'a space': 'salts ',
  'non-ASCII': 'sälts',
  'a control character': 'salts\n',
};
const long = 'a'.repeat(256);

describe('--secret-kv with a prefix that can never match', () => {
  for (const [what, prefix] of Object.entries(never)) {
    it(`${what}: rotate-keys and migrate are exit 2 naming the flag, before opening anything`, async () => {
      const missing = join(dir, 'missing.session');
      const target = join(dir, `target-${Math.random().toString(36).slice(2)}.session`);
      const rotate = captureIo();
      expect(await run(['rotate-keys', missing, ...KEY, '--secret-kv', prefix], rotate), rotate.err()).toBe(EXIT.USAGE);
      expect(rotate.err()).toContain(`--secret-kv ${JSON.stringify(prefix)} can never match`);
      const migrate = captureIo();
      expect(await run(['migrate', missing, target, ...KEY, '--secret-kv', 'salts:', '--secret-kv', prefix], migrate), migrate.err()).toBe(EXIT.USAGE);
      expect(migrate.err()).toContain(`--secret-kv ${JSON.stringify(prefix)} can never match`);
      expect(existsSync(target)).toBe(false);
    });
  }

  it('longer than a kv key: exit 2 with its length, the text not shown', async () => {
    const missing = join(dir, 'missing.session');
    const io = captureIo();
    expect(await run(['rotate-keys', missing, ...KEY, '--secret-kv', long], io), io.err()).toBe(EXIT.USAGE);
    expect(io.err()).toContain('--secret-kv got a prefix of 256 characters (not shown)');
    expect(io.err()).not.toContain(long.slice(0, 40));
  });

  it('a store holding a plaintext kv value under the prefix meant: the refused run leaves it plaintext; the empty prefix (every key) still seals it', async () => {
    const url = `shared://secret-kv-${Math.random().toString(36).slice(2)}`;
    const alice = await openStorage(url, { name: 'alice' });
    await alice.kv.set('salts:2', Uint8Array.of(1, 2, 3));
    await alice.close();
    const refused = captureIo();
    expect(await run(['rotate-keys', url, ...KEY, '--secret-kv', 'salts :'], refused), refused.err()).toBe(EXIT.USAGE);
    const plain = await openStorage(url, { name: 'alice' });
    expect(await plain.kv.get('salts:2')).toEqual(Uint8Array.of(1, 2, 3));
    await plain.close();
    const all = captureIo();
    expect(await run(['rotate-keys', url, ...KEY, '--secret-kv', ''], all), all.err()).toBe(EXIT.OK);
    expect(all.err()).toContain('1 kv value of');
    const without = await openStorage(url, { name: 'alice' });
    await expect(without.kv.get('salts:2')).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION' });
    await without.close();
    const withKey = await openStorage(url, { name: 'alice', encryption: k1 });
    expect(await withKey.kv.get('salts:2')).toEqual(Uint8Array.of(1, 2, 3));
    await withKey.close();
  });
});
