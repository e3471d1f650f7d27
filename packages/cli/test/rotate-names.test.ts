/**
 * rotate-keys --name with a name the store does not hold is exit 6 naming the names
 * there, and re-seals nothing: it was exit 0 ("1 sessions have no snapshot … alcie"),
 * so a typo left the session it meant sealed with the old key, reported as done — the
 * rotation after which an old key is dropped. migrate --name and inspect --name already
 * refuse an unknown name the same way. Found by fuzzing rotate-keys' arguments.
 */
import { openStorage } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo } from './helpers.js';

process.env.MTSTORE_TEST_ROTATE_NAMES_K1 = Buffer.alloc(32, 31).toString('base64');
process.env.MTSTORE_TEST_ROTATE_NAMES_K2 = Buffer.alloc(32, 32).toString('base64');
const k1 = { keys: [{ id: 'k1', env: 'MTSTORE_TEST_ROTATE_NAMES_K1' }] };
const k2 = { keys: [{ id: 'k2', env: 'MTSTORE_TEST_ROTATE_NAMES_K2' }] };

describe('rotate-keys --name', () => {
  it('a name the store does not hold is exit 6 naming the names there; nothing is re-sealed', async () => {
    const url = 'shared://rotate-names';
    const alice = await openStorage(url, { name: 'alice', encryption: k1 });
    await alice.authKeys.set(2, new Uint8Array(256).fill(5));
    await alice.close();
    const io = captureIo();
    expect(await run(['rotate-keys', url, '--key', 'k2=MTSTORE_TEST_ROTATE_NAMES_K2', '--key', 'k1=MTSTORE_TEST_ROTATE_NAMES_K1', '--name', 'alice', '--name', 'alcie'], io)).toBe(EXIT.NOT_FOUND);
    expect(io.err().trim().split('\n')).toEqual([`mtstore: No session named "alcie" in ${url}; it holds: alice.`]);
    // Still sealed with k1 only: k2 alone does not open it.
    const withK2 = await openStorage(url, { name: 'alice', encryption: k2 });
    await expect(withK2.authKeys.entries()).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k1' });
    await withK2.close();
    const ok = captureIo();
    expect(await run(['rotate-keys', url, '--key', 'k2=MTSTORE_TEST_ROTATE_NAMES_K2', '--key', 'k1=MTSTORE_TEST_ROTATE_NAMES_K1', '--name', 'alice'], ok), ok.err()).toBe(EXIT.OK);
    const after = await openStorage(url, { name: 'alice', encryption: k2 });
    expect(await after.authKeys.entries()).toHaveLength(1);
    await after.close();
  });

  it('?session= in the URL picks the one session to re-seal, as --name does (it was ignored: every session re-sealed), and one the store does not hold is exit 6', async () => {
    const url = 'shared://rotate-session-param';
    for (const name of ['alice', 'bob']) {
      const storage = await openStorage(url, { name, encryption: k1 });
      await storage.authKeys.set(2, new Uint8Array(256).fill(5));
      await storage.close();
    }
    const missing = captureIo();
    expect(await run(['rotate-keys', `${url}?session=carol`, '--key', 'k2=MTSTORE_TEST_ROTATE_NAMES_K2', '--key', 'k1=MTSTORE_TEST_ROTATE_NAMES_K1'], missing)).toBe(EXIT.NOT_FOUND);
    expect(missing.err()).toContain('No session named "carol"');
    const io = captureIo();
    expect(await run(['rotate-keys', `${url}?session=alice`, '--key', 'k2=MTSTORE_TEST_ROTATE_NAMES_K2', '--key', 'k1=MTSTORE_TEST_ROTATE_NAMES_K1'], io), io.err()).toBe(EXIT.OK);
    const alice = await openStorage(url, { name: 'alice', encryption: k2 });
    expect(await alice.authKeys.entries()).toHaveLength(1);
    await alice.close();
    // bob keeps k1 only: k2 alone does not open it.
    const bob = await openStorage(url, { name: 'bob', encryption: k2 });
    await expect(bob.authKeys.entries()).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k1' });
    await bob.close();
  });
});
