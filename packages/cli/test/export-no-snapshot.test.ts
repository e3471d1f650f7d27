/**
 * export of a name that holds keys, peers or kv entries but no snapshot: exit 6 saying
 * that session has no snapshot — not "No session named "n" … it holds: n (pick one with
 * --name)", which named the very session asked for and sent the user to pick it again.
 * Found while fuzzing export over stores holding keys-only sessions.
 */
import { openStorage } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, makePeers } from './helpers.js';

describe('export of a session without a snapshot', () => {
  it('is exit 6 saying it has no snapshot, not that no session has its name', async () => {
    const url = 'shared://export-no-snapshot';
    const s = await openStorage(url, { name: 'n' });
    await s.authKeys.set(2, new Uint8Array(256).fill(4));
    await s.peers.upsert(makePeers(2));
    await s.close();
    const io = captureIo();
    expect(await run(['export', url, '--name', 'n', '--format', 'telethon'], io)).toBe(EXIT.NOT_FOUND);
    const lines = io.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mtstore: The session "n" in shared:\/\/export-no-snapshot has no snapshot/);
    expect(lines[0]).not.toContain('pick one with --name');
    expect(io.out()).toBe('');
    // A name with nothing stored is still "no session named", with the names there.
    const other = captureIo();
    expect(await run(['export', url, '--name', 'm', '--format', 'telethon'], other)).toBe(EXIT.NOT_FOUND);
    expect(other.err()).toContain('No session named "m" in shared://export-no-snapshot: it holds: n');
  });
});
