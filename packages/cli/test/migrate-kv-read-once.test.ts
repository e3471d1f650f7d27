/**
 * migrate reads each kv value of the source once: what it writes, and whether it writes
 * it sealed, both come from kv.entries() (docs/contract.md §4: `secret: true` on values
 * stored sealed). It used to find the sealed ones by opening the source a second time
 * without encryption and reading every key again: a value the source's client deleted
 * between the two reads read as no value there, so the secret read the first time was
 * written into the target in plaintext.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { openStorage, type EncryptionOptions } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run, type Io } from '../src/index.js';
import { makePeers, stores } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-kv-once-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

process.env.MTSTORE_TEST_KV_ONCE_K1 = Buffer.alloc(32, 31).toString('base64');
const k1: EncryptionOptions = { keys: [{ id: 'k1', env: 'MTSTORE_TEST_KV_ONCE_K1' }] };
const salt = Uint8Array.from({ length: 32 }, (_, i) => i * 3 + 1);

/**
 * An Io whose stderr runs `during` (synchronously, once) when migrate reports its first
 * peers: after it read the session's kv entries, before it writes them to the target.
 */
function ioDuring(during: () => void): Io & { err(): string } {
  let err = '';
  let ran = false;
  const sink = () =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        const text = chunk.toString();
        err += text;
        if (!ran && / peers \(/.test(text)) {
          ran = true;
          during();
        }
        done();
      },
    });
  return { stdout: sink(), stderr: sink(), err: () => err };
}

/** A source, and how to delete one kv entry of session "n" in it at once, below mtstore (as another process would). */
const sources: Record<string, () => { url: string; deleteNow: (key: string) => void }> = {
  memory: () => {
    const host = `kv-once-${Math.random().toString(36).slice(2)}`;
    return { url: `shared://${host}`, deleteNow: (key) => void stores.get(host)?.clients.get('n')?.kv.delete(key) };
  },
  sqlite: () => {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.session`);
    return {
      url: path,
      deleteNow: (key) => {
        const db = new Database(path);
        try {
          db.prepare('DELETE FROM mtstore_kv WHERE key = ?').run(key);
        } finally {
          db.close();
        }
      },
    };
  },
};

describe.each(Object.keys(sources))('%s: migrate --key with a source whose kv changes while it runs', (adapter) => {
  it('a sealed value deleted from the source after migrate read it is still written sealed, never in plaintext', async () => {
    const source = sources[adapter]!();
    const s = await openStorage(source.url, { name: 'n', encryption: k1 });
    await s.kv.set('salts:2', salt, { secret: true });
    await s.kv.set('plain', Uint8Array.of(9));
    await s.peers.upsert(makePeers(3));
    await s.close();
    const to = sources[adapter]!().url;
    let deleted = false;
    const io = ioDuring(() => {
      source.deleteNow('salts:2');
      deleted = true;
    });
    expect(await run(['migrate', source.url, to, '--key', 'k1=MTSTORE_TEST_KV_ONCE_K1'], io), io.err()).toBe(EXIT.OK);
    expect(deleted, 'the source was changed while migrate ran').toBe(true);
    // The target holds what migrate read, sealed as the source held it: without the key it does not open.
    const bare = await openStorage(to, { name: 'n' });
    try {
      await expect(bare.kv.get('salts:2')).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k1' });
      expect(await bare.kv.get('plain')).toEqual(Uint8Array.of(9));
    } finally {
      await bare.close();
    }
    const sealed = await openStorage(to, { name: 'n', encryption: k1 });
    try {
      expect(await sealed.kv.entries()).toEqual([
        { key: 'plain', value: Uint8Array.of(9) },
        { key: 'salts:2', value: salt, secret: true },
      ]);
    } finally {
      await sealed.close();
    }
  });
});
