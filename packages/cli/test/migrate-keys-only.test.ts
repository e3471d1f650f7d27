/**
 * migrate of a session that has keys but no snapshot, into a target that holds a
 * snapshot under that name (another login's): the target must end with no snapshot, as
 * the source, not with that login's snapshot (its user, DCs, update state) answering
 * load() around the keys just copied. Found by differential fuzzing of migrate into
 * targets already holding data: load() was the target's old snapshot, holding the
 * source's keys, and the verification passed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage, type Storage } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, makePeers } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-keys-only-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = (seed: number) => Uint8Array.from({ length: 256 }, (_, i) => (i * seed + 5) & 0xff);
const bytes = (entries: Awaited<ReturnType<Storage['authKeys']['entries']>>) =>
  entries.map((e) => ({ ...e, authKey: e.authKey && Buffer.from(e.authKey).toString('hex'), tempAuthKeys: e.tempAuthKeys.map((t) => ({ ...t, key: Buffer.from(t.key).toString('hex') })) }));

const stores: Record<string, () => string> = {
  memory: () => `shared://keys-only-${Math.random().toString(36).slice(2)}`,
  sqlite: () => join(dir, `${Math.random().toString(36).slice(2)}.session`),
};

describe.each(Object.keys(stores))('%s', (adapter) => {
  it('a session with keys but no snapshot, migrated over a target holding another login\'s snapshot: the target holds the source\'s keys and no snapshot', async () => {
    const from = stores[adapter]!();
    const to = stores[adapter]!();
    const source = await openStorage(from, { name: 'n' });
    await source.authKeys.set(2, key(3));
    await source.authKeys.setTemp(4, { index: 1, key: key(7), expiresAt: 1_900_000_000 });
    await source.peers.upsert(makePeers(3));
    const target = await openStorage(to, { name: 'n' });
    await target.save({
      version: 1,
      homeDcId: 2,
      dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443, authKey: key(11) }],
      user: { id: 777n, dcId: 2, bot: false },
      state: { pts: 5, qts: 6, date: 7, seq: 8 },
      channels: [],
    });
    await target.peers.upsert(makePeers(2, 500)); // the other login's peers

    const io = captureIo();
    expect(await run(['migrate', from, to], io), io.err()).toBe(EXIT.OK);
    expect(await target.load()).toBeNull();
    expect(bytes(await target.authKeys.entries())).toEqual(bytes(await source.authKeys.entries()));
    // What was the other login's under that name is gone with its snapshot (access hashes are per account).
    expect(await target.peers.getById('user', 500n)).toBeNull();
    expect((await target.peers.list({ limit: 100 })).peers).toEqual((await source.peers.list({ limit: 100 })).peers);
    expect(io.err()).toMatch(/n: .*the target's snapshot under that name was removed/);
    // Run again: nothing more to remove, the same result.
    const again = captureIo();
    expect(await run(['migrate', from, to], again), again.err()).toBe(EXIT.OK);
    expect(again.err()).not.toMatch(/snapshot under that name was removed/);
    expect(await target.load()).toBeNull();
    expect(bytes(await target.authKeys.entries())).toEqual(bytes(await source.authKeys.entries()));
    await Promise.all([source.close(), target.close()]);
  });
});
