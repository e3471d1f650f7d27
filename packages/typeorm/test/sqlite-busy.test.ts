// better-sqlite3, another process holding the file's write lock past the busy timeout
// (TypeORM's `timeout` option): a write fails with StorageUnavailableError after that one
// wait, as the README says. SQLite's busy handler waits synchronously, and the adapter
// took the SQLITE_BUSY it then returns for a conflict worth retrying: eight attempts,
// each blocking the event loop for the whole timeout again (~40 s with the default 5 s).
// The holder here is a second connection in this process: the adapter's wait blocks
// this thread, so the holder lets go only after the call has failed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { TypeormStorage } from '@mtstore/typeorm';
import { afterAll, describe, expect, it } from 'vitest';

const TIMEOUT_MS = 300;

describe('better-sqlite3: a write lock held past the busy timeout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-typeorm-busy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a write fails StorageUnavailableError after one busy timeout, then works once the lock is free', async () => {
    const file = join(dir, 'held.db');
    const storage = new TypeormStorage({ options: { type: 'better-sqlite3', database: file, enableWAL: true, timeout: TIMEOUT_MS }, name: 'busy' });
    const holder = new Database(file);
    try {
      await storage.kv.set('before', new Uint8Array([1])); // schema made, file in WAL mode
      holder.exec('BEGIN IMMEDIATE');
      const start = performance.now();
      const error = await storage.kv.set('held', new Uint8Array([2])).then(
        () => undefined,
        (e: unknown) => e,
      );
      const waited = performance.now() - start;
      holder.exec('ROLLBACK');
      expect((error as { code?: string } | undefined)?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      // One busy timeout, not one per retry (8 attempts took ~2.5 s here); room for a loaded machine.
      expect(waited, `the write failed after ${waited.toFixed(0)} ms`).toBeLessThan(5 * TIMEOUT_MS);
      await storage.kv.set('after', new Uint8Array([3]));
      expect(await storage.kv.get('after')).toEqual(new Uint8Array([3]));
      expect(await storage.kv.get('held')).toBeNull();
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
      await storage.close();
    }
  });
});
