/**
 * rotate-keys whose first --key has the id the store is sealed with but other material
 * (a mistyped environment variable) is exit 2 naming that --key, and writes nothing: it
 * was exit 0 ("1 already current"), core's re-seal skipping values sealed with the write
 * key's id without opening them, and a store holding older values too got those sealed
 * with material nothing else opens. Found by fuzzing rotate-keys (h3, stop 57).
 */
import { openStorage } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo } from './helpers.js';

process.env.MTSTORE_TEST_ROTATE_WRONG_K1 = Buffer.alloc(32, 41).toString('base64');
process.env.MTSTORE_TEST_ROTATE_WRONG_K1_TYPO = Buffer.alloc(32, 49).toString('base64');
process.env.MTSTORE_TEST_ROTATE_WRONG_K0 = Buffer.alloc(32, 40).toString('base64');
const k1 = { keys: [{ id: 'k1', env: 'MTSTORE_TEST_ROTATE_WRONG_K1' }] };
const k0 = { keys: [{ id: 'k0', env: 'MTSTORE_TEST_ROTATE_WRONG_K0' }] };

describe('rotate-keys with other material under the write key id', () => {
  it('is exit 2 naming the --key, and the store opens with the right keys as before', async () => {
    const url = 'shared://rotate-wrong-key';
    const alice = await openStorage(url, { name: 'alice', encryption: k1 });
    await alice.authKeys.set(2, new Uint8Array(256).fill(5));
    await alice.close();
    const older = await openStorage(url, { name: 'alice', encryption: k0 });
    await older.authKeys.set(4, new Uint8Array(256).fill(6));
    await older.close();
    const io = captureIo();
    const args = ['rotate-keys', url, '--key', 'k1=MTSTORE_TEST_ROTATE_WRONG_K1_TYPO', '--key', 'k0=MTSTORE_TEST_ROTATE_WRONG_K0'];
    expect(await run(args, io), io.err()).toBe(EXIT.USAGE);
    expect(io.err()).toContain('--key k1=<ENV_VAR>');
    // DC 4's key is still sealed with k0: k0 opens it, and k1 (the right one) opens DC 2's
    // (keys come back as AuthKeyBytes views: compared as Buffers).
    const withK0 = await openStorage(url, { name: 'alice', encryption: k0 });
    expect(Buffer.from((await withK0.authKeys.get(4)) ?? [])).toEqual(Buffer.alloc(256, 6));
    await withK0.close();
    const withK1 = await openStorage(url, { name: 'alice', encryption: k1 });
    expect(Buffer.from((await withK1.authKeys.get(2)) ?? [])).toEqual(Buffer.alloc(256, 5));
    await withK1.close();
    // With the right k1 the rotation finishes: both keys open with k1 alone.
    const ok = captureIo();
    expect(await run(['rotate-keys', url, '--key', 'k1=MTSTORE_TEST_ROTATE_WRONG_K1', '--key', 'k0=MTSTORE_TEST_ROTATE_WRONG_K0'], ok), ok.err()).toBe(EXIT.OK);
    const after = await openStorage(url, { name: 'alice', encryption: k1 });
    expect((await after.authKeys.entries()).map((e) => e.dcId).sort()).toEqual([2, 4]);
    await after.close();
  });
});
