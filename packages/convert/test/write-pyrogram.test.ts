/**
 * writePyrogramSqlite's files are Pyrogram's own (Python, so Pyrogram itself cannot run
 * here): the schema (sqlite_master: tables, columns, types, indexes, the trigger), the
 * version row and the SQLite type of every value are those of the file Pyrogram 2.0.106
 * wrote (test/fixtures/pyrogram/pyrogram.session), its rows hold what the ground truth
 * lists, and reading the written file gives back exactly what the fixture gave.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { authKeyBytes, type Peer, type Session } from '@mtstore/core';
import { parseSession, writePyrogramSqlite } from '../src/index.js';
import { big, fixtures, seededKey, sqliteRows, sqliteShape, truth } from './helpers.js';

const fixture = join(fixtures, 'pyrogram/pyrogram.session');
const dir = mkdtempSync(join(tmpdir(), 'mtstore-write-pyrogram-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `w${n++}.session`);

function valueTypes(path: string): unknown {
  return {
    sessions: sqliteRows(path, 'select typeof(dc_id), typeof(api_id), typeof(test_mode), typeof(auth_key), typeof(date), typeof(user_id), typeof(is_bot) from sessions'),
    peers: sqliteRows(path, 'select id, typeof(id), typeof(access_hash), typeof(type), typeof(username), typeof(phone_number), typeof(last_update_on) from peers order by id'),
    version: sqliteRows(path, 'select typeof(number) from version'),
  };
}

describe('writePyrogramSqlite', () => {
  it('round trip from the file Pyrogram wrote: read, written, read again gives the same session, peers and warnings', async () => {
    const parsed = await parseSession(fixture);
    const path = fresh();
    const written = await writePyrogramSqlite(parsed.session, parsed.peers, path);
    expect(written).toEqual({ format: 'pyrogram-sqlite', path, peers: parsed.peers.length, warnings: [] });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await parseSession(path)).toEqual(parsed);
  });

  it('has the schema, version row and value types of the file Pyrogram wrote, and the rows its ground truth lists', async () => {
    const parsed = await parseSession(fixture);
    const path = fresh();
    await writePyrogramSqlite(parsed.session, parsed.peers, path);
    expect(sqliteShape(path)).toEqual(sqliteShape(fixture));
    expect(valueTypes(path)).toEqual(valueTypes(fixture));

    const t = truth<{ peers: { id: number | string; access_hash: number | string; type: string; username: string | null; phone_number: string | null }[]; dc_id: number; api_id: number; auth_key_hex: string; user_id: number; is_bot: boolean }>('pyrogram/pyrogram.json');
    // mtstore does not record a bot among users nor a supergroup among channels: both are
    // written as Pyrogram's plain kind, which it turns into the same input peer.
    const kind: Record<string, string> = { bot: 'user', supergroup: 'channel' };
    const expected = t.peers.map((p) => [big(p.id), big(p.access_hash), kind[p.type] ?? p.type, p.username, p.phone_number]).sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1));
    expect(sqliteRows(path, 'select id, access_hash, type, username, phone_number from peers order by id')).toEqual(expected);
    expect(sqliteRows(path, 'select dc_id, api_id, test_mode, hex(auth_key), user_id, is_bot from sessions')).toEqual([[BigInt(t.dc_id), BigInt(t.api_id), 0n, t.auth_key_hex.toUpperCase(), BigInt(t.user_id), t.is_bot ? 1n : 0n]]);
  });

  it('needs a user and an api id (as Pyrogram\'s strings), counts what Pyrogram has no place for, marks a bot\'s own row "bot"', async () => {
    const session: Session = {
      version: 1,
      homeDcId: 2,
      dcs: [
        { id: 2, ipv4: '149.154.167.40', port: 80, testMode: true, authKey: authKeyBytes(seededKey(3)) },
        { id: 4, authKey: authKeyBytes(seededKey(4)) },
      ],
      user: { id: 5000000001n, dcId: 2, bot: true },
      state: { pts: 1, qts: 2, date: 3, seq: 4 },
      channels: [{ id: 7n, pts: 8 }],
    };
    const peers: Peer[] = [
      { type: 'user', id: 5000000001n, accessHash: 9n, usernames: ['My_Bot'], displayName: 'Bot', updatedAt: 20 },
      { type: 'user', id: 3n, accessHash: 4n, usernames: [], min: true, updatedAt: 11 },
      { type: 'chat', id: 5n, accessHash: 0n, usernames: [], updatedAt: 12 },
    ];
    await expect(writePyrogramSqlite(session, peers, fresh())).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_UNSUPPORTED', message: expect.stringMatching(/apiId/) });
    await expect(writePyrogramSqlite({ ...session, user: undefined }, peers, fresh(), { apiId: 1 })).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_UNSUPPORTED' });
    await expect(writePyrogramSqlite(session, peers, fresh(), { apiId: 0 })).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    const path = fresh();
    const written = await writePyrogramSqlite(session, peers, path, { apiId: 12345 });
    expect(written.peers).toBe(2);
    expect(written.warnings).toEqual([
      'auth keys of DC 4 not written (Pyrogram\'s file keeps the home DC\'s only)',
      'update state not written (Pyrogram 2 keeps none: the client fetches a fresh one)',
      'pts of 1 channel not written (Pyrogram 2 keeps none)',
      '1 peer: display name not written (Pyrogram keeps none)',
      '1 peer: min peer not written (its access hash does not work for requests, and Pyrogram would use it)',
    ]);
    expect(sqliteRows(path, 'select id, type, username from peers order by id')).toEqual([[-5n, 'group', null], [5000000001n, 'bot', 'my_bot']]);
    const back = await parseSession(path);
    expect(back.session).toEqual({ version: 1, homeDcId: 2, apiId: 12345, dcs: [{ id: 2, testMode: true, authKey: session.dcs[0]!.authKey }], user: session.user, channels: [] });
  });
});
