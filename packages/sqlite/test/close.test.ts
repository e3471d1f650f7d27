/**
 * close() with calls in flight. better-sqlite3 answers every statement synchronously, so
 * only a call of several steps with awaits between them (core's reseal) can still be
 * running when close() is called: it must finish as it would have without close(), and
 * nothing may open the file again once close() has settled.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';
import { Connection } from '../src/connection.js';
import { tempDir } from './helpers.js';

const temp = tempDir('close');
afterAll(temp.remove);

/** The files under `dir` this process holds open. */
function openFilesUnder(dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) open.push(target);
    } catch {
      // closed between the listing and the read
    }
  }
  return open;
}

const key = (fill: number): Uint8Array => new Uint8Array(256).fill(fill);

it('close() right after reseal(): the reseal finishes (main and media-only keys, kv), and the file is closed afterwards', async () => {
  const path = temp.file('reseal.session');
  const plain = new SqliteStorage({ path, name: 'a' });
  await plain.save({
    version: 1,
    homeDcId: 2,
    dcs: [
      { id: 2, ipv4: '149.154.167.51', port: 443, authKey: key(1) },
      { id: 4, ipv4: '149.154.167.91', port: 443, authKey: key(2) },
      { id: 2, ipv4: '149.154.167.52', port: 443, mediaOnly: true, authKey: key(3) },
    ],
    channels: [],
  });
  for (let i = 0; i < 5; i++) await plain.kv.set(`secret.${i}`, Uint8Array.of(i));
  await plain.close();

  const encryption = { keys: [{ id: 'k1', key: randomBytes(32) }], secretKvPrefixes: ['secret.'] };
  const sealing = new SqliteStorage({ path, name: 'a', encryption });
  const report = sealing.reseal();
  const closed = sealing.close();
  expect(await report).toEqual({ name: 'a', keys: 3, kvEntries: 5, current: 0, snapshot: true });
  await closed;
  expect(openFilesUnder(temp.dir)).toEqual([]);

  const check = new SqliteStorage({ path, name: 'a', encryption });
  const again = await check.reseal();
  expect(again).toMatchObject({ keys: 0, kvEntries: 0, current: 8 });
  const loaded = await check.load();
  expect(loaded?.dcs.map((dc) => [...(dc.authKey ?? [])][0])).toEqual([1, 2, 3]);
  expect(await check.kv.get('secret.4')).toEqual(Uint8Array.of(4));
  await check.close();
});

it('a closed connection is never opened again: a call that reaches it after close() fails instead of leaking a new handle', () => {
  const path = temp.file('reopen.session');
  const connection = new Connection({ path }, 'test');
  connection.open();
  connection.close();
  expect(() => connection.open()).toThrow(expect.objectContaining({ code: 'MTSTORE_STORAGE_CLOSED' }));
  expect(openFilesUnder(temp.dir)).toEqual([]);
});
