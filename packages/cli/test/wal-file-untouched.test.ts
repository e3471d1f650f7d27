/**
 * `mtstore inspect` and `mtstore import` of an mtcute SQLite storage (WAL mode) leave its
 * folder as they found it: no `-wal` / `-shm` beside the user's file (a read-only SQLite
 * open of a WAL file creates both and leaves them). The file is mtcute 0.29.7's own.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeStringSession } from '@mtcute/core/utils.js';
import { SqliteStorage, TelegramClient } from '@mtcute/node';
import Long from 'long';
import { openStorage } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-wal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Names, sizes and modification times (ns) of everything in the folder. */
function listing(): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const s = statSync(join(dir, name), { bigint: true });
      return `${name} ${s.size} ${s.mtimeNs}`;
    });
}

describe('an mtcute file its client closed', () => {
  it('inspect and import read it and leave the folder as it was', async () => {
    const path = join(dir, 'bot.session');
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    const main = { id: 2, ipAddress: '149.154.167.51', port: 443 };
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main, media: main }, self: { userId: 777000111, isBot: true, isPremium: false, usernames: [] }, authKey: new Uint8Array(256).fill(7) }));
    await client.storage.peers.updatePeersFrom({ users: [{ _: 'user', id: 777000222, accessHash: Long.fromNumber(99), username: 'alice_wal', firstName: 'Alice' }], chats: [] } as never);
    await client.storage.close();
    await client.destroy();
    const before = listing();
    expect(before.map((line) => line.split(' ')[0])).toEqual(['bot.session']);
    const bytes = readFileSync(path);

    const shown = captureIo();
    expect(await run(['inspect', path], shown), shown.err()).toBe(EXIT.OK);
    expect(shown.out()).toContain('mtcute-sqlite');
    expect(listing()).toEqual(before);

    const io = captureIo();
    expect(await run(['import', path, 'shared://wal'], io), io.err()).toBe(EXIT.OK);
    expect(listing()).toEqual(before);
    expect(readFileSync(path).equals(bytes)).toBe(true);

    const storage = await openStorage('shared://wal');
    expect((await storage.peers.getByUsername('alice_wal'))?.id).toBe(777000222n);
    await storage.close();
  });
});
