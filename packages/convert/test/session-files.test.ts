/**
 * Session files as users have them, beyond the fixtures the libraries wrote: the older
 * Telethon schemas Telethon still upgrades from, and files another process holds.
 * Each file is built here with the statements the library itself runs.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectSessionFile, parseSession, toTelethonString } from '../src/index.js';
import { hex, seededKey } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A Telethon SQLiteSession file at `version`, as Telethon's `_create_table` and
 * `_upgrade_database` shape it: update_state from 4, sessions.takeout_id from 5,
 * entities.date from 7.
 */
function telethonFile(version: number, name = `telethon-v${version}`): string {
  const path = join(dir, `${name}.session`);
  const db = new Database(path);
  db.exec('create table version (version integer primary key)');
  db.prepare('insert into version values (?)').run(version);
  db.exec(`create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob${version >= 5 ? ', takeout_id integer' : ''})`);
  db.exec(`create table entities (id integer primary key, hash integer not null, username text, phone integer, name text${version >= 7 ? ', date integer' : ''})`);
  db.exec('create table sent_files (md5_digest blob, file_size integer, type integer, id integer, hash integer, primary key(md5_digest, file_size, type))');
  if (version >= 4) db.exec('create table update_state (id integer primary key, pts integer, qts integer, date integer, seq integer)');
  db.prepare(`insert into sessions values (2, '149.154.167.51', 443, ?${version >= 5 ? ', null' : ''})`).run(Buffer.from(seededKey(9)));
  const entity = db.prepare(`insert into entities values (?, ?, ?, ?, ?${version >= 7 ? ', 1700000100' : ''})`);
  entity.run(777000222, 5555, 'alice_interop', 15550001111, 'Alice Example');
  entity.run(-1001183945448, -1234, 'interopchannel', null, 'Interop Channel');
  if (version >= 4) db.prepare('insert into update_state values (0, 100, 2, 1700000000, 3)').run();
  db.close();
  return path;
}

describe('Telethon .session files of older schemas', () => {
  for (const version of [1, 2, 3, 4, 5, 6, 7]) {
    it(`reads schema ${version}: DC, key and every entity (the date only from 7, update state from 4)`, async () => {
      const parsed = await parseSession(telethonFile(version));
      expect(parsed.format).toBe('telethon-sqlite');
      expect(parsed.layout).toBe(`schema ${version}`);
      const dc = parsed.session.dcs[0]!;
      expect([dc.id, dc.ipv4, dc.port, hex(dc.authKey)]).toEqual([2, '149.154.167.51', 443, hex(seededKey(9))]);
      const updatedAt = version >= 7 ? 1700000100 : 0;
      expect(parsed.peers).toEqual([
        { type: 'channel', id: 1183945448n, accessHash: -1234n, usernames: ['interopchannel'], displayName: 'Interop Channel', updatedAt },
        { type: 'user', id: 777000222n, accessHash: 5555n, usernames: ['alice_interop'], phone: '15550001111', displayName: 'Alice Example', updatedAt },
      ]);
      expect(parsed.session.state).toEqual(version >= 4 ? { pts: 100, qts: 2, date: 1700000000, seq: 3 } : undefined);
      expect(toTelethonString(parsed.session)).toMatch(/^1/);
    });
  }
});

describe('a session file another process holds locked', () => {
  it('is "locked by another process" (IO) for detection and parsing, never "no session file" or "damaged"', async () => {
    const path = telethonFile(7, 'locked');
    const holder = new Database(path);
    // What Telethon's sqlite3 holds while it commits, here held for the whole test.
    holder.exec('begin exclusive');
    try {
      // Detection used to answer null (no session file): the CLI then opened the Telethon
      // file as a storage and blamed a server.
      const detected = await detectSessionFile(path).then(
        (format) => ({ format }),
        (error: unknown) => error,
      );
      expect(detected).toMatchObject({ code: 'MTSTORE_CONVERT_IO', message: expect.stringContaining('is locked by another process') });
      await expect(parseSession(path)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_IO', message: expect.stringContaining('is locked by another process') });
    } finally {
      holder.exec('rollback');
      holder.close();
    }
    expect((await parseSession(path)).format).toBe('telethon-sqlite');
  });
});
