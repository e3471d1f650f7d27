/**
 * writeTelethonSqlite's files are Telethon's own (Python, so Telethon itself cannot run
 * here): the schema (sqlite_master: tables, columns, types, indexes), the version row and
 * the SQLite type of every value are those of the file Telethon 1.37 wrote
 * (test/fixtures/telethon/telethon.session), its rows hold what the ground truth lists,
 * and reading the written file gives back exactly what the fixture gave.
 */
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { authKeyBytes, type Peer, type Session } from '@mtstore/core';
import { parseSession, writeTelethonSqlite } from '../src/index.js';
import { big, fixtures, seededKey, sqliteRows, sqliteShape, truth } from './helpers.js';

const fixture = join(fixtures, 'telethon/telethon.session');
const dir = mkdtempSync(join(tmpdir(), 'mtstore-write-telethon-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `w${n++}.session`);

/** The SQLite type of every value of the rows both files hold (sent_files is a cache of uploads mtstore does not keep). */
function valueTypes(path: string): unknown {
  return {
    sessions: sqliteRows(path, 'select typeof(dc_id), typeof(server_address), typeof(port), typeof(auth_key), typeof(takeout_id) from sessions'),
    entities: sqliteRows(path, 'select id, typeof(id), typeof(hash), typeof(username), typeof(phone), typeof(name), typeof(date) from entities order by id'),
    update_state: sqliteRows(path, 'select id, typeof(id), typeof(pts), typeof(qts), typeof(date), typeof(seq) from update_state order by id'),
    version: sqliteRows(path, 'select typeof(version) from version'),
  };
}

describe('writeTelethonSqlite', () => {
  it('round trip from the file Telethon wrote: read, written, read again gives the same session, peers and warnings', async () => {
    const parsed = await parseSession(fixture);
    const path = fresh();
    const written = await writeTelethonSqlite(parsed.session, parsed.peers, path);
    expect(written).toEqual({ format: 'telethon-sqlite', path, peers: parsed.peers.length, warnings: [] });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await parseSession(path)).toEqual(parsed);
  });

  it('has the schema, version row and value types of the file Telethon wrote, and the rows its ground truth lists', async () => {
    const parsed = await parseSession(fixture);
    const path = fresh();
    await writeTelethonSqlite(parsed.session, parsed.peers, path);
    expect(sqliteShape(path)).toEqual(sqliteShape(fixture));
    expect(valueTypes(path)).toEqual(valueTypes(fixture));

    const t = truth<{ entities: { id: number | string; hash: number | string; username: string | null; phone: number | null; name: string | null }[]; update_state_rows: { id: number; pts: number; qts: number; seq: number }[]; auth_key_hex: string; ip: string; port: number; dc_id: number }>('telethon/telethon.json');
    const entities = sqliteRows(path, 'select id, hash, username, phone, name from entities order by id') as unknown[][];
    const expected = t.entities.map((e) => [big(e.id), big(e.hash), e.username, e.phone === null ? null : big(e.phone), e.name]).sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1));
    const db = new Database(path, { readonly: true });
    try {
      db.defaultSafeIntegers(true);
      expect(db.prepare('select id, hash, username, phone, name from entities order by id').raw().all()).toEqual(expected);
      expect(db.prepare('select id, pts, qts, seq from update_state order by id').raw().all()).toEqual(t.update_state_rows.map((r) => [BigInt(r.id), BigInt(r.pts), BigInt(r.qts), BigInt(r.seq)]));
      const [row] = db.prepare('select dc_id, server_address, port, hex(auth_key) from sessions').raw().all() as unknown[][];
      expect(row).toEqual([BigInt(t.dc_id), t.ip, BigInt(t.port), t.auth_key_hex.toUpperCase()]);
    } finally {
      db.close();
    }
    expect(entities).toHaveLength(t.entities.length);
  });

  it('counts what Telethon has no place for: other DCs\' keys, the bot flag, extra usernames, min peers', async () => {
    const session: Session = {
      version: 1,
      homeDcId: 4,
      dcs: [
        { id: 2, ipv4: '149.154.167.51', port: 443, authKey: authKeyBytes(seededKey(1)) },
        { id: 4, ipv6: '2001:67c:4e8:f004::a', port: 443, authKey: authKeyBytes(seededKey(2)) },
      ],
      user: { id: 5000000001n, dcId: 4, bot: true },
      channels: [],
      takeoutId: 99n,
    };
    const peers: Peer[] = [
      { type: 'user', id: 1n, accessHash: 2n, usernames: ['One', 'Uno'], updatedAt: 10 },
      { type: 'user', id: 3n, accessHash: 4n, usernames: [], min: true, updatedAt: 11 },
      { type: 'channel', id: 5n, accessHash: 6n, usernames: ['Five', 'Cinq'], updatedAt: 12 },
    ];
    const path = fresh();
    const written = await writeTelethonSqlite(session, peers, path);
    expect(written.peers).toBe(2);
    expect(written.warnings).toEqual([
      'auth keys of DC 2 not written (Telethon\'s file keeps the home DC\'s only)',
      'the bot flag not written (Telethon does not record it: read the file back with { bot: true })',
      '2 peers: usernames after the first not written (Telethon keeps one)',
      '1 peer: min peer not written (its access hash does not work for requests, and Telethon would use it)',
    ]);
    const back = await parseSession(path, { bot: true });
    expect(back.session).toEqual({ version: 1, homeDcId: 4, dcs: [session.dcs[1]], user: session.user, channels: [], takeoutId: 99n });
    expect(back.peers).toEqual([
      { ...peers[0]!, usernames: ['one'] },
      { ...peers[2]!, usernames: ['five'] },
    ]);
  });

  it('never writes over a file: the fixture\'s copy is refused and left as it was', async () => {
    const copy = fresh();
    copyFileSync(fixture, copy);
    const before = statSync(copy);
    const parsed = await parseSession(copy);
    await expect(writeTelethonSqlite(parsed.session, parsed.peers, copy)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_IO' });
    expect(statSync(copy).mtimeMs).toBe(before.mtimeMs);
    expect(await parseSession(copy)).toEqual(parsed);
  });
});
