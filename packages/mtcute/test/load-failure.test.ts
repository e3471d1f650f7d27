/**
 * A start whose storage load fails after the lease was taken (here: a session sealed
 * with an encryption key the storage was not given, EncryptionError from load(); a
 * database that goes down between the two round trips does the same) gives the lease
 * back. mtcute never destroys a driver whose load failed (StorageManager._destroy
 * returns unless the load finished), so the lease stayed held, renewed by its heartbeat
 * for the life of the process, and the next client on the session — a new storage in
 * this very process, with the right key — got LeaseHeldError naming this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EncryptionOptions } from '@mtstore/core';
import { SqliteStorage } from '@mtstore/sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mtcuteStorage } from '../src/index.js';
import { loadProvider } from './helpers.js';

const ENCRYPTION: EncryptionOptions = { keys: [{ id: 'k1', key: Uint8Array.from({ length: 32 }, (_, i) => i * 3 + 7) }] };
const AUTH_KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 3) & 0xff);

describe('a failed load on @mtstore/sqlite', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtstore-mtcute-load-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the lease it took back: the next client on the session starts', async () => {
    const path = join(dir, 'bot.session');
    const sealed = new SqliteStorage({ path, name: 'bot', encryption: ENCRYPTION });
    await sealed.save({ version: 1, homeDcId: 2, dcs: [{ id: 2, authKey: AUTH_KEY }], channels: [] });
    await sealed.close();

    const withoutKey = new SqliteStorage({ path, name: 'bot' });
    const failed = await loadProvider(mtcuteStorage(withoutKey)).then(
      () => null,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(failed?.code).toBe('MTSTORE_ENCRYPTION');
    const probe = new SqliteStorage({ path, name: 'bot' });
    expect(await probe.lease.holder(), 'no lease left behind').toBeNull();

    const next = new SqliteStorage({ path, name: 'bot', encryption: ENCRYPTION });
    const provider = mtcuteStorage(next);
    await loadProvider(provider);
    expect(Array.from((await provider.authKeys.get(2)) ?? [])).toEqual(Array.from(AUTH_KEY));
    expect((await probe.lease.holder())?.owner.label).toBe('mtcute');
    await provider.driver.destroy!();
    await Promise.all([withoutKey.close(), probe.close()]);
  });
});
