// Several processes writing one better-sqlite3 file at once, each under its own session's
// lease (the usual deployment of a file per host, a process per account). Every write is
// fenced: its transaction reads the lease row, then writes. With TypeORM's deferred BEGIN
// that read took a WAL snapshot, and the write failed at once with SQLITE_BUSY ("database
// is locked", no busy_timeout wait) whenever another process had committed since; the
// adapter's eight retries were spent within ~0.3 s with eight processes. The transaction
// now starts with BEGIN IMMEDIATE and waits for the lock instead.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TypeormStorage } from '@mtstore/typeorm';
import { afterAll, describe, expect, it } from 'vitest';

const WRITER = fileURLToPath(new URL('./processes/leased-writer.mjs', import.meta.url));
const PROCESSES = 8;
const ROUNDS = 50;

describe('better-sqlite3: processes sharing one file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-typeorm-procs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${PROCESSES} processes, each writing its own leased session, all succeed and every write is there`, { timeout: 90_000 }, async () => {
    const file = join(dir, 'shared.db');
    const names = Array.from({ length: PROCESSES }, (_, i) => `writer_${i}`);
    const results = await Promise.all(
      names.map(async (name) => {
        const { stdout } = await promisify(execFile)(process.execPath, [WRITER, file, name, String(ROUNDS)]);
        return JSON.parse(stdout.trim().split('\n').at(-1) as string) as { name: string; errors: string[]; failed: number };
      }),
    );
    expect(results.filter((r) => r.failed > 0)).toEqual([]);
    for (const name of names) {
      const reader = new TypeormStorage({ options: { type: 'better-sqlite3', database: file, enableWAL: true }, name });
      try {
        expect([...((await reader.authKeys.get(2)) ?? [])], `${name}: auth key`).toEqual(new Array(256).fill(7));
        const peer = await reader.peers.getById('user', 20n);
        expect(peer?.accessHash, `${name}: the last batch`).toBe(BigInt(ROUNDS * 1000 + 19));
        expect((await reader.peers.getByUsername(`${name}_19`))?.id, `${name}: its username`).toBe(20n);
      } finally {
        await reader.close();
      }
    }
  });
});
