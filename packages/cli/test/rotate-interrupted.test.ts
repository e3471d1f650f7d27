/**
 * Ctrl-C (SIGINT) while `mtstore rotate-keys` re-seals the sessions of an SQLite store:
 * the built binary in a child process, signalled once its progress line says sessions are
 * done. The command stops at the end of the batch, closes its storages and exits 130 with
 * one line saying how far it got and the command that resumes; that command then re-seals
 * the rest. Before, the signal's default action killed it without a word of which sessions
 * hold the new key (the -wal and -shm of the file left beside it).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@mtstore/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { mtstore, mtstoreSignalled } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-rotate-interrupted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const store = join(dir, 'store.session');
/** Re-sealed one at a time (--batch 1), ~10 ms each: the rest takes a second or so after the first. */
const SESSIONS = 100;
const names = Array.from({ length: SESSIONS }, (_, i) => `s${String(i).padStart(3, '0')}`);
const env = { MTSTORE_TEST_ROTATE_INT_K1: Buffer.alloc(32, 41).toString('base64'), MTSTORE_TEST_ROTATE_INT_K2: Buffer.alloc(32, 42).toString('base64') };
Object.assign(process.env, env);
const k1 = { keys: [{ id: 'k1', env: 'MTSTORE_TEST_ROTATE_INT_K1' }] };
const k2 = { keys: [{ id: 'k2', env: 'MTSTORE_TEST_ROTATE_INT_K2' }] };
const authKey = new Uint8Array(256).fill(7);

beforeAll(async () => {
  // Each session's auth key sealed with k1, ten sessions at a time.
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(
      names.slice(i, i + 10).map(async (name) => {
        const storage = await openStorage(store, { name, encryption: k1 });
        try {
          await storage.authKeys.set(2, authKey);
        } finally {
          await storage.close();
        }
      }),
    );
  }
}, 60_000);

/** The auth key of session `name` read with k2 alone (as a plain Uint8Array: the one read is redacted when printed), or the id of the key it is still sealed with. */
async function withK2(name: string): Promise<Uint8Array | string | undefined> {
  const storage = await openStorage(store, { name, encryption: k2 });
  try {
    const key = (await storage.authKeys.entries())[0]?.authKey;
    return key === undefined ? undefined : new Uint8Array(key);
  } catch (error) {
    return (error as { keyId?: string }).keyId;
  } finally {
    await storage.close();
  }
}

describe(`rotate-keys of ${SESSIONS} sessions interrupted`, () => {
  it('SIGINT between batches: exit 130, storages closed, one line saying how far it got and the command that resumes, which finishes', async () => {
    const keys = ['--key', 'k2=MTSTORE_TEST_ROTATE_INT_K2', '--key', 'k1=MTSTORE_TEST_ROTATE_INT_K1'];
    const r = await mtstoreSignalled(['rotate-keys', store, ...keys, '--batch', '1'], 'SIGINT', (stderr) => stderr.includes('rotate-keys: '), env);
    expect(r.sent).toBe(true);
    // Before: { code: null, killedBy: 'SIGINT' }.
    expect({ code: r.code, killedBy: r.killedBy }, r.stderr).toEqual({ code: EXIT.INTERRUPTED, killedBy: null });
    const lines = r.stderr.trim().split('\n');
    expect(lines.slice(0, -1).every((line) => new RegExp(`^rotate-keys: \\d+/${SESSIONS} sessions`).test(line)), r.stderr).toBe(true);
    const match = new RegExp(
      `^mtstore: Interrupted \\(SIGINT\\) while re-sealing (\\S+) with key "k2": (\\d+) of ${SESSIONS} sessions re-sealed, every name up to "(s\\d+)"; the others are as they were \\(open with the old keys\\)\\. Resume with: (.+)$`,
    ).exec(lines.at(-1)!);
    expect(match, r.stderr).not.toBeNull();
    expect(match![1]).toBe(store);
    const done = Number(match![2]);
    const after = match![3]!;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(SESSIONS);
    expect(after).toBe(names[done - 1]);
    expect(match![4]).toBe(`mtstore rotate-keys ${store} ${keys.join(' ')} --after ${after} --batch 1`);

    // Closed: SQLite removes the -wal and -shm when the last connection closes (a killed run left both).
    expect(readdirSync(dir)).toEqual(['store.session']);
    // As the line says: the last session done opens with k2 alone, the next one is still sealed with k1.
    expect(await withK2(after)).toEqual(authKey);
    expect(await withK2(names[done]!)).toBe('k1');

    // The command it gave (`mtstore` is the built binary; no word of it needs quoting here) re-seals the rest.
    const again = mtstore(match![4]!.split(' ').slice(1), env, 60_000);
    expect(again.code, again.stderr).toBe(EXIT.OK);
    expect(again.stderr).toContain(`Re-sealed ${SESSIONS - done} auth keys and 0 kv values of ${SESSIONS - done} sessions in ${store} with key "k2" (0 already current).`);
    const opened = await Promise.all(names.map(withK2));
    expect(opened.filter((key) => !(key instanceof Uint8Array) || key.some((byte) => byte !== 7))).toEqual([]);
  }, 60_000);
});
