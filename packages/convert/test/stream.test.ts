/**
 * openSessionFile / openSession: a session file read as it is written — the session at
 * once, the peers in batches, oldest first as parseSession lists them (SQLite sorts them
 * by the reader's own time of each row, so the order is the peers' updatedAt exactly).
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Peer } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { isConvertError, openSession, openSessionFile, parseSession, type SessionStream } from '../src/index.js';
import { fixtures, hex } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function allPeers(stream: SessionStream, batchSize: number): Promise<{ peers: Peer[]; sizes: number[] }> {
  const peers: Peer[] = [];
  const sizes: number[] = [];
  for await (const batch of stream.peers(batchSize)) {
    sizes.push(batch.length);
    peers.push(...batch);
  }
  return { peers, sizes };
}

function copyOf(fixture: string, name: string, edit: (db: Database.Database) => void): string {
  const path = join(dir, name);
  copyFileSync(join(fixtures, fixture), path);
  const db = new Database(path);
  edit(db);
  db.close();
  return path;
}

describe('a session file as a stream', () => {
  it.each(['telethon/telethon.session', 'pyrogram/pyrogram.session'])('%s: the session at once, then the peers parseSession lists, in batches of the size asked', async (fixture) => {
    const whole = await parseSession(join(fixtures, fixture));
    const stream = await openSessionFile(join(fixtures, fixture));
    try {
      expect([stream.format, stream.layout, stream.session, stream.kv, stream.peerRows]).toEqual([whole.format, whole.layout, whole.session, whole.kv, whole.peers.length]);
      const { peers, sizes } = await allPeers(stream, 4);
      expect(sizes).toEqual([4, 2]);
      expect(peers).toEqual(whole.peers);
      expect(stream.warnings).toEqual(whole.warnings);
    } finally {
      stream.close();
    }
  });

  it('orders rows by the time the peer stores (text dates, none, out of range: 0), equal times in file order', async () => {
    // [id, date as Telethon or a tool wrote it, the updatedAt it is read as]
    const rows: [number, unknown, number][] = [
      [100, 1_700_000_300, 1_700_000_300],
      [101, '2023-11-14 22:13:20', 1_700_000_000], // sqlite3's adapter writes datetimes as text
      [102, null, 0],
      [103, 1_700_000_000, 1_700_000_000],
      [104, -5, 0],
      [105, 2 ** 33, 0], // beyond uint32: stored as 0
      [106, 1_699_999_999.9, 1_699_999_999],
      [107, '2023-11-14T22:13:21Z', 1_700_000_001],
    ];
    const path = copyOf('telethon/telethon.session', 'dates.session', (db) => {
      db.exec('delete from entities where id <> 0');
      const insert = db.prepare('insert into entities values (?, ?, null, null, null, ?)');
      // Inserted out of id order: the file's order (rowid, the id here) breaks ties, not insertion.
      for (const [id, date] of [...rows].reverse()) insert.run(id, id, date);
    });
    // What the whole-file reader did before the stream: a stable sort of the file's rows by updatedAt.
    const expected = [...rows].sort((a, b) => a[0] - b[0]).sort((a, b) => a[2] - b[2]);
    const stream = await openSessionFile(path);
    try {
      const { peers } = await allPeers(stream, 3);
      expect(peers.map((p) => [Number(p.id), p.updatedAt])).toEqual(expected.map(([id, , time]) => [id, time]));
    } finally {
      stream.close();
    }
  });

  it("a Kurigram file's usernames (one row each, no index on the peer) join their peer in the table's order", async () => {
    const path = join(dir, 'kurigram.session');
    const db = new Database(path);
    db.pragma('foreign_keys = off'); // Kurigram's own connection does not enforce them
    db.exec(`
      CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, server_address TEXT, port INTEGER, api_id INTEGER, test_mode INTEGER, auth_key BLOB, date INTEGER NOT NULL, user_id INTEGER, is_bot INTEGER);
      CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, type INTEGER NOT NULL, phone_number TEXT, last_update_on INTEGER NOT NULL);
      CREATE TABLE usernames (id INTEGER, username TEXT, FOREIGN KEY (id) REFERENCES peers(id));
      CREATE TABLE version (number INTEGER PRIMARY KEY);
      INSERT INTO version VALUES (7);`);
    db.prepare("insert into sessions values (2, '149.154.167.51', 443, 1, 0, ?, 0, 777, 0)").run(Buffer.alloc(256, 7));
    const peer = db.prepare("insert into peers values (?, ?, 'user', null, ?)");
    const name = db.prepare('insert into usernames values (?, ?)');
    peer.run(500, 1, 1_700_000_002);
    peer.run(501, 2, 1_700_000_001);
    peer.run(502, 3, 1_700_000_003);
    name.run(500, 'zed_first');
    name.run(502, 'only');
    name.run(500, 'alpha_second');
    name.run(500, 'bad name');
    name.run(999, 'nobody');
    db.close();
    const stream = await openSessionFile(path);
    try {
      const { peers, sizes } = await allPeers(stream, 1);
      expect(sizes).toEqual([1, 1, 1]);
      expect(peers.map((p) => [Number(p.id), p.usernames])).toEqual([
        [501, []],
        [500, ['zed_first', 'alpha_second']],
        [502, ['only']],
      ]);
      expect(stream.warnings).toEqual(['peers row 500: username "bad name" dropped (not 1-64 letters, digits or underscores)']);
    } finally {
      stream.close();
    }
  });

  it('holds the file read-locked until close: a client writing meanwhile waits, then writes', async () => {
    const path = copyOf('telethon/telethon.session', 'locked.session', () => {});
    const stream = await openSessionFile(path);
    const client = new Database(path, { timeout: 0 });
    try {
      const batches = stream.peers(2);
      await batches.next();
      expect(() => client.prepare("update entities set name = 'x' where id = 777000222").run()).toThrow(/database is locked/);
      stream.close();
      // The iterator ends with the stream.
      expect(await batches.next()).toEqual({ done: true, value: undefined });
      expect(client.prepare("update entities set name = 'x' where id = 777000222").run().changes).toBe(1);
    } finally {
      client.close();
      stream.close();
    }
  });

  it('a file damaged past what opening it reads fails while its peers are read: ConvertError INVALID naming the file, no key bytes', async () => {
    let overflow: number[] = [];
    const path = copyOf('telethon/telethon.session', 'damaged.session', (db) => {
      // A name longer than a page goes on overflow pages, which neither the session rows
      // nor counting the table read.
      db.prepare("insert into entities values (123456789, 5, 'long_name', null, ?, 1700000100)").run('x'.repeat(20_000));
      overflow = db.prepare("select pageno from dbstat where name = 'entities' and pagetype = 'overflow'").pluck().all() as number[];
    });
    expect(overflow.length).toBeGreaterThan(1);
    const bytes = readFileSync(path);
    const pageSize = bytes.readUInt16BE(16);
    // Each overflow page starts with the number of the next one: point them past the file.
    for (const page of overflow) bytes.writeUInt32BE(0xfffffff0, (page - 1) * pageSize);
    writeFileSync(path, bytes);
    const stream = await openSessionFile(path);
    try {
      const key = hex(stream.session.dcs[0]!.authKey);
      expect(key).toHaveLength(512);
      const error = await allPeers(stream, 10_000).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConvertError(error) && error.code).toBe('MTSTORE_CONVERT_INVALID');
      expect((error as Error).message).toBe(`"${path}" is damaged or not a valid session file: database disk image is malformed.`);
      expect((error as Error).cause).toBeUndefined();
    } finally {
      stream.close();
    }
  });

  it('peers and reference messages are read once each; a batch size must be a positive integer', async () => {
    const stream = await openSession(join(fixtures, 'telethon/telethon.session'));
    try {
      // ConvertErrors, as every failure of the package (they were a RangeError and a plain Error).
      for (const size of [0, 1.5]) expect(() => stream.peers(size)).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_INVALID', message: `batchSize must be a positive integer, got ${size}.` }));
      await allPeers(stream, 10);
      expect(() => stream.peers()).toThrow(expect.objectContaining({ code: 'MTSTORE_CONVERT_INVALID', message: 'The peers of a session stream are read once.' }));
      expect(await stream.refMessages().next()).toEqual({ done: true, value: undefined });
      expect(() => stream.refMessages()).toThrow('The reference messages of a session stream are read once.');
    } finally {
      stream.close();
    }
  });

  it('a session string is a stream of no peers', async () => {
    const text = readFileSync(join(fixtures, 'telethon/ipv4.string'), 'utf8').trim();
    const stream = await openSession(text);
    expect([stream.format, stream.peerRows, stream.warnings]).toEqual(['telethon', 0, []]);
    expect((await allPeers(stream, 5)).peers).toEqual([]);
    stream.close();
  });
});
