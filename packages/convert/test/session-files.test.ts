/**
 * Session files as users have them, beyond the fixtures the libraries wrote: the older
 * Telethon schemas Telethon still upgrades from, and files another process holds.
 * Each file is built here with the statements the library itself runs.
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/**
 * A client killed in the middle of a write (SIGKILL, a container stopped without grace)
 * leaves a hot journal beside its file: the pages it had already written over, which
 * the next opener must put back. Made here by a real process killed mid-transaction.
 */
function killedMidWrite(path: string): void {
  const script = `
    const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(path)});
    db.pragma('cache_size = 1'); // so the changed pages reach the file before the commit
    db.exec('begin immediate');
    db.prepare('update sessions set auth_key = zeroblob(256)').run();
    const insert = db.prepare('insert into entities (id, hash, name) values (?, ?, ?)');
    for (let i = 0; i < 300; i++) insert.run(1_000_000_000 + i, i, 'x'.repeat(200));
    process.kill(process.pid, 'SIGKILL');`;
  const child = spawnSync(process.execPath, ['-e', script]);
  expect(child.signal).toBe('SIGKILL');
  expect(existsSync(`${path}-journal`)).toBe(true);
}

describe('a session file whose client was killed in the middle of a write', () => {
  it('reads as its last commit, from a private copy: the file and its journal are left as they were', async () => {
    const path = telethonFile(7, 'killed');
    killedMidWrite(path);
    const before = [readFileSync(path), readFileSync(`${path}-journal`)];
    // A read-only open cannot put the pages back (SQLITE_READONLY_ROLLBACK): the import
    // failed 'attempt to write a readonly database', and the CLI then took the file for a storage.
    expect(await detectSessionFile(path)).toBe('telethon-sqlite');
    const parsed = await parseSession(path);
    expect(hex(parsed.session.dcs[0]!.authKey)).toBe(hex(seededKey(9)));
    expect(parsed.peers.map((p) => p.id)).toEqual([1183945448n, 777000222n]);
    expect([readFileSync(path), readFileSync(`${path}-journal`)]).toEqual(before);
  });
});

describe('stale rows naming a username or phone another peer has taken since', () => {
  it('peers come oldest first, so the most recently seen owner is stored last and keeps the name (as Telethon and Pyrogram answer)', async () => {
    // Telethon keeps a row until it sees the peer again: user 200 (seen in 2020) still
    // says "foo" and the phone that user 100 (seen in 2023) has now. Telethon's own
    // lookup evicts the older row; stored in file order (by id) 200 would win.
    const telethon = join(dir, 'stale.session');
    const db = new Database(telethon);
    db.exec('create table version (version integer primary key); insert into version values (7)');
    db.exec('create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer)');
    db.exec('create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)');
    db.prepare("insert into sessions values (2, '149.154.167.51', 443, ?, null)").run(Buffer.from(seededKey(40)));
    const entity = db.prepare('insert into entities values (?, ?, ?, ?, ?, ?)');
    entity.run(100, 1, 'foo', 15550001, 'Now', 1700000000);
    entity.run(200, 2, 'Foo', 15550001, 'Stale', 1600000000);
    entity.run(300, 3, null, null, 'Other', 1650000000);
    db.close();
    const fromTelethon = await parseSession(telethon);
    expect(fromTelethon.peers.map((p) => p.id)).toEqual([200n, 300n, 100n]);

    // Pyrogram answers a username with ORDER BY last_update_on DESC.
    const pyrogram = join(dir, 'stale-pyrogram.session');
    const pdb = new Database(pyrogram);
    pdb.exec('create table version (number integer primary key); insert into version values (3)');
    pdb.exec('create table sessions (dc_id integer primary key, api_id integer, test_mode integer, auth_key blob, date integer not null, user_id integer, is_bot integer)');
    pdb.exec('create table peers (id integer primary key, access_hash integer, type integer not null, username text, phone_number text, last_update_on integer not null)');
    pdb.prepare('insert into sessions values (2, 5, 0, ?, 0, 100, 0)').run(Buffer.from(seededKey(41)));
    const peer = pdb.prepare('insert into peers values (?, ?, ?, ?, ?, ?)');
    peer.run(100, 1, 'user', 'foo', '15550001', 1700000000);
    peer.run(200, 2, 'user', 'foo', '15550001', 1600000000);
    pdb.close();
    expect((await parseSession(pyrogram)).peers.map((p) => p.id)).toEqual([200n, 100n]);
  });
});
