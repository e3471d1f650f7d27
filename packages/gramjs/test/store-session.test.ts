/**
 * Side by side with GramJS's own persistent StoreSession: both cache the same
 * entities, both restart, both are asked through a TelegramClient. StoreSession
 * writes each row to disk under its id and looks up only ids there (its username and
 * phone lookups scan MemorySession's in-memory rows, which its processEntities never
 * fills); the bridge answers all three, before and after the restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Api, sessions } from 'telegram';
import { MemoryStorage, MemoryStore } from '@mtstore/memory';
import { StorageSession } from '../src/index.js';
import { offlineClient, user } from './client.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-gramjs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** StoreSession writes under "./<name>" relative to the working directory: point that into the temp dir. */
function storeSessionName(): string {
  return relative(process.cwd(), join(dir, `store-${Math.random().toString(36).slice(2)}`));
}

const carol = () => user({ id: 31337, username: 'carol_gramjs', phone: '15557777', firstName: 'Carol' });

describe('after a restart, next to GramJS StoreSession', () => {
  it('StoreSession resolves only by id; the bridge by id, username and phone', async () => {
    const name = storeSessionName();
    const gramStore = new sessions.StoreSession(name);
    await gramStore.load();
    gramStore.processEntities([carol()]);

    const backend = new MemoryStore();
    const ours = new StorageSession(new MemoryStorage({ store: backend, name: 'carol' }));
    await ours.load();
    ours.processEntities([carol()]);
    await ours.save();

    expect(String((gramStore.getInputEntity(31337) as Api.InputPeerUser).userId)).toBe('31337');
    expect(() => gramStore.getInputEntity('carol_gramjs')).toThrow(/Could not find/);
    for (const key of [31337, 'carol_gramjs', '+15557777']) expect(String((ours.getInputEntity(key) as Api.InputPeerUser).userId)).toBe('31337');

    // Each process starts again on what it stored (ours gives its session lease back first).
    await ours.close();
    const gramAgain = new sessions.StoreSession(name);
    const oursAgain = new StorageSession(new MemoryStorage({ store: backend, name: 'carol' }));
    const gramClient = offlineClient(gramAgain);
    const ourClient = offlineClient(oursAgain);
    await gramAgain.load();
    await oursAgain.load();

    const byId = await gramClient.getInputEntity(31337);
    expect(String((byId as Api.InputPeerUser).accessHash)).toBe(String(carol().accessHash));
    // GramJS's session misses; its client falls back to the network, which is not there.
    await expect(gramClient.getInputEntity('carol_gramjs')).rejects.toThrow(/disconnected/);
    await expect(gramClient.getInputEntity('+15557777')).rejects.toThrow(/disconnected/);

    for (const key of [31337, 'carol_gramjs', '+15557777']) {
      const input = await ourClient.getInputEntity(key);
      expect(input).toBeInstanceOf(Api.InputPeerUser);
      expect(String((input as Api.InputPeerUser).accessHash)).toBe(String(carol().accessHash));
    }
    expect(ourClient.connected || gramClient.connected).toBeFalsy();
  });
});
