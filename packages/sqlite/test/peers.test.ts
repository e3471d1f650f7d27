/**
 * Peer lookups by id go by the session's row id as last resolved (peers.ts getById):
 * another instance (here a second connection to the file, as another process would
 * be) that deletes the name and creates it again gives it a new row id, and the
 * lookup must follow the name, not the old id.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { peer } from '@mtstore/conformance';
import { SqliteStorage } from '../src/index.js';
import { tempDir } from './helpers.js';

const temp = tempDir('peers');
afterAll(temp.remove);

describe('peers.getById across instances', () => {
  it('follows the name when another instance deletes and re-creates the session', async () => {
    const path = temp.file('recreated.db');
    const reader = new SqliteStorage({ path, name: 'alice' });
    const writer = new SqliteStorage({ path, name: 'alice' });
    await writer.peers.upsert([peer('user', 1, { accessHash: 10n }), peer('user', 2, { accessHash: 20n })]);
    // The reader resolves (and keeps) the row id of 'alice'.
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(10n);
    expect((await reader.peers.getById('user', 2n))?.accessHash).toBe(20n);

    await writer.delete();
    await writer.peers.upsert([peer('user', 1, { accessHash: 11n }), peer('user', 3, { accessHash: 30n })]);
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(11n);
    expect((await reader.peers.getById('user', 3n))?.accessHash).toBe(30n);
    expect(await reader.peers.getById('user', 2n)).toBeNull();

    await writer.delete();
    expect(await reader.peers.getById('user', 1n)).toBeNull();
    await writer.peers.upsert([peer('user', 1, { accessHash: 12n })]);
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(12n);
    await reader.close();
    await writer.close();
  });

  it('a name that had no row when first asked is found once another instance creates it', async () => {
    const path = temp.file('created.db');
    const reader = new SqliteStorage({ path, name: 'bob' });
    const writer = new SqliteStorage({ path, name: 'bob' });
    expect(await reader.peers.getById('user', 1n)).toBeNull();
    await writer.peers.upsert([peer('user', 1, { accessHash: 10n })]);
    expect((await reader.peers.getById('user', 1n))?.accessHash).toBe(10n);
    await reader.close();
    await writer.close();
  });

  it('another name in the same file is another session', async () => {
    const path = temp.file('names.db');
    const alice = new SqliteStorage({ path, name: 'alice' });
    const bob = new SqliteStorage({ path, name: 'bob' });
    await alice.peers.upsert([peer('user', 1, { accessHash: 10n })]);
    await bob.peers.upsert([peer('user', 1, { accessHash: 20n })]);
    expect((await alice.peers.getById('user', 1n))?.accessHash).toBe(10n);
    expect((await bob.peers.getById('user', 1n))?.accessHash).toBe(20n);
    await alice.delete();
    expect(await alice.peers.getById('user', 1n)).toBeNull();
    expect((await bob.peers.getById('user', 1n))?.accessHash).toBe(20n);
    await alice.close();
    await bob.close();
  });
});
