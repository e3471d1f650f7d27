/**
 * A session sealed by rotate-keys read without the key that opens it: every command
 * says which --key to pass (exit 2), whichever part of the session is sealed — not
 * only a snapshot, also the keys of a session without one and its kv values — and
 * migrate refuses before it writes anything of that session into the target.
 * Found by differential fuzzing of migrate over stores holding keys-only and kv-only
 * sessions: those were exit 4 ("a backend failed") with the library's API advice
 * (`pass encryption: { keys: … }`), after peers and references were already copied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, toMarkedId, type EncryptionOptions, type Storage } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, makePeers } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-sealed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

process.env.MTSTORE_TEST_SEALED_K1 = Buffer.alloc(32, 21).toString('base64');
process.env.MTSTORE_TEST_SEALED_K2 = Buffer.alloc(32, 22).toString('base64');
const k1: EncryptionOptions = { keys: [{ id: 'k1', env: 'MTSTORE_TEST_SEALED_K1' }], secretKvPrefixes: ['salts:'] };
const key = (seed: number) => Uint8Array.from({ length: 256 }, (_, i) => (i * seed + 3) & 0xff);

/** The parts a session may hold sealed without holding a snapshot. */
const sealedParts: Record<string, (s: Storage) => Promise<void>> = {
  'keys without a snapshot': async (s) => {
    await s.authKeys.set(2, key(5));
    await s.authKeys.setTemp(4, { index: 0, key: key(7), expiresAt: 1_900_000_000 });
  },
  'kv values only (a sealed salt beside peers and references)': async (s) => {
    await s.kv.set('salts:2', new Uint8Array([1, 2, 3]));
  },
};

/** Peers and references (never sealed) beside the sealed part: what migrate used to copy before failing. */
async function fill(url: string, part: (s: Storage) => Promise<void>): Promise<void> {
  const s = await openStorage(url, { name: 'n', encryption: k1 });
  await part(s);
  await s.peers.upsert(makePeers(5));
  await s.refMessages.store(toMarkedId('user', 1n), -1001n, 7);
  await s.close();
}

async function holdsNothing(url: string): Promise<void> {
  const s = await openStorage(url, { name: 'n' });
  try {
    expect(await s.authKeys.entries()).toEqual([]);
    expect((await s.peers.list({ limit: 100 })).peers).toEqual([]);
    expect((await s.refMessages.list({ limit: 100 })).refs).toEqual([]);
    expect(await s.listNames()).toEqual([]);
  } finally {
    await s.close();
  }
}

const sources: Record<string, () => string> = {
  memory: () => `shared://sealed-${Math.random().toString(36).slice(2)}`,
  sqlite: () => join(dir, `${Math.random().toString(36).slice(2)}.session`),
};

describe.each(Object.keys(sources))('%s: a sealed session without its key', (adapter) => {
  it.each(Object.keys(sealedParts))('%s: migrate without --key (or with another key only) is exit 2 naming --key k1, and writes nothing of it', async (part) => {
    const from = sources[adapter]!();
    await fill(from, sealedParts[part]!);
    for (const keys of [[], ['--key', 'k2=MTSTORE_TEST_SEALED_K2']]) {
      const to = sources[adapter]!();
      const io = captureIo();
      expect(await run(['migrate', from, to, ...keys], io), io.err()).toBe(EXIT.USAGE);
      const lines = io.err().trim().split('\n');
      expect(lines.at(-1)).toMatch(/^mtstore: .*sealed with encryption key "k1".*pass --key k1=<ENV_VAR>/);
      expect(io.err()).not.toContain('encryption: {');
      await holdsNothing(to);
    }
    // With the key it copies, and the copy opens with it.
    const to = sources[adapter]!();
    const io = captureIo();
    expect(await run(['migrate', from, to, '--key', 'k1=MTSTORE_TEST_SEALED_K1', '--secret-kv', 'salts:'], io), io.err()).toBe(EXIT.OK);
    const [a, b] = [await openStorage(from, { name: 'n', encryption: k1 }), await openStorage(to, { name: 'n', encryption: k1 })];
    expect(await b.authKeys.entries()).toEqual(await a.authKeys.entries());
    expect(await b.kv.entries()).toEqual(await a.kv.entries());
    await Promise.all([a.close(), b.close()]);
  });

  it('migrate --key keeps a kv value sealed in the source sealed in the target, without --secret-kv (kv.set with secret: true, as the mtcute bridge writes)', async () => {
    const from = sources[adapter]!();
    const s = await openStorage(from, { name: 'n', encryption: { keys: k1.keys } });
    await s.save({ version: 1, homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443, authKey: key(9) }], channels: [] });
    await s.kv.set('salts:2', new Uint8Array([7, 7, 7]), { secret: true });
    await s.kv.set('unknown_key', new Uint8Array([8]), { secret: true });
    await s.kv.set('plain', new Uint8Array([9]));
    await s.close();
    const to = sources[adapter]!();
    const io = captureIo();
    expect(await run(['migrate', from, to, '--key', 'k2=MTSTORE_TEST_SEALED_K2', '--key', 'k1=MTSTORE_TEST_SEALED_K1'], io), io.err()).toBe(EXIT.OK);
    const bare = await openStorage(to, { name: 'n' });
    await expect(bare.kv.get('salts:2')).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k2' });
    await expect(bare.kv.get('unknown_key')).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k2' });
    expect(await bare.kv.get('plain')).toEqual(new Uint8Array([9]));
    await bare.close();
    const sealed = await openStorage(to, { name: 'n', encryption: { keys: [{ id: 'k2', env: 'MTSTORE_TEST_SEALED_K2' }] } });
    expect(await sealed.kv.entries()).toEqual([
      { key: 'plain', value: new Uint8Array([9]) },
      { key: 'salts:2', value: new Uint8Array([7, 7, 7]), secret: true },
      { key: 'unknown_key', value: new Uint8Array([8]), secret: true },
    ]);
    await sealed.close();
  });

  it('rotate-keys and export with a --key list that does not name the sealing key: exit 2 naming --key k1', async () => {
    const from = sources[adapter]!();
    const s = await openStorage(from, { name: 'n', encryption: k1 });
    await s.save({ version: 1, homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443, authKey: key(9) }], channels: [] });
    await s.close();
    for (const argv of [
      ['rotate-keys', from, '--key', 'k2=MTSTORE_TEST_SEALED_K2'],
      ['export', from, '--name', 'n', '--format', 'telethon', '--key', 'k2=MTSTORE_TEST_SEALED_K2'],
      ['migrate', from, sources[adapter]!(), '--key', 'k2=MTSTORE_TEST_SEALED_K2'],
    ]) {
      const io = captureIo();
      expect(await run(argv, io), `${argv[0]}: ${io.err()}`).toBe(EXIT.USAGE);
      expect(io.err().trim().split('\n').at(-1), argv[0]).toMatch(/^mtstore: .*sealed with encryption key "k1".*--key k1=<ENV_VAR>/);
      expect(io.out()).toBe('');
    }
  });
});
