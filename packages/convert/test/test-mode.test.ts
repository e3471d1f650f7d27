/**
 * Test-server sessions. Telethon and GramJS record no test flag: the address says it
 * (mtcute's own converter reads it the same way), and a conversion must keep it, or a
 * test account's session written as a Pyrogram or mtcute string claims production.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from '@mtstore/core';
import { convertFromGramjsSession, convertFromTelethonSession, convertToPyrogramSession } from '@mtcute/convert';
import { readStringSession } from '@mtcute/core/utils.js';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSession, parseSessionString, toMtcuteString, toPyrogramString, toTelethonString } from '../src/index.js';
import { seededKey } from './helpers.js';

const require = createRequire(import.meta.url);
const { StringSession } = require('telegram/sessions') as typeof import('telegram/sessions/index.js');
const { AuthKey } = require('telegram/crypto/AuthKey') as typeof import('telegram/crypto/AuthKey.js');

const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-test-dc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function gramjsString(dcId: number, address: string, port: number): Promise<string> {
  const session = new StringSession('');
  session.setDC(dcId, address, port);
  const authKey = new AuthKey();
  await authKey.setKey(Buffer.from(seededKey(31)));
  session.authKey = authKey;
  return session.save();
}

const testPyrogram: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [{ id: 2, testMode: true, authKey: seededKey(30) }],
  channels: [],
  apiId: 12345,
  user: { id: 777000333n, dcId: 2, bot: false },
};

describe('test-server sessions', () => {
  it('Pyrogram (test mode) → Telethon string → Pyrogram is the same string; mtcute reads the Telethon string as test mode too', () => {
    const pyrogram = toPyrogramString(testPyrogram);
    const telethon = toTelethonString(parseSessionString(pyrogram).session);
    expect(convertFromTelethonSession(telethon).primaryDcs?.main.testMode).toBe(true);
    const back = parseSessionString(telethon);
    expect(back.session.dcs[0]!.testMode).toBe(true);
    expect(toPyrogramString({ ...back.session, apiId: 12345, user: testPyrogram.user })).toBe(pyrogram);
  });

  it('a GramJS string GramJS wrote for a test server is test mode, as mtcute reads it; ours written as mtcute says so to mtcute', async () => {
    const text = await gramjsString(2, '149.154.167.40', 80);
    expect(convertFromGramjsSession(text).primaryDcs?.main.testMode).toBe(true);
    const parsed = parseSessionString(text);
    expect(parsed.format).toBe('gramjs');
    expect(parsed.session.dcs[0]!.testMode).toBe(true);
    expect(readStringSession(toMtcuteString(parsed.session)).primaryDcs?.main.testMode).toBe(true);
  });

  it('a Telethon file on a test server is test mode; as a Pyrogram string its test flag is set as mtcute would set it', async () => {
    const path = join(dir, 'test-dc.session');
    const db = new Database(path);
    db.exec('create table version (version integer primary key); insert into version values (7)');
    db.exec('create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer)');
    db.exec('create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer)');
    db.exec('create table update_state (id integer primary key, pts integer, qts integer, date integer, seq integer)');
    db.prepare("insert into sessions values (2, '149.154.167.40', 443, ?, null)").run(Buffer.from(seededKey(32)));
    db.prepare('insert into entities values (0, 777000444, null, null, null, 0)').run();
    db.close();
    const parsed = await parseSession(path);
    expect(parsed.session.dcs[0]!.testMode).toBe(true);
    const ours = toPyrogramString(parsed.session, { apiId: 5 });
    const mtcutes = convertToPyrogramSession(convertFromTelethonSession(toTelethonString(parsed.session)), { apiId: 5 });
    // mtcute's Pyrogram string has no user (Telethon strings carry none): compare the test flag only.
    expect(parseSessionString(ours).session.dcs[0]!.testMode).toBe(true);
    expect(parseSessionString(mtcutes, { format: 'pyrogram' }).session.dcs[0]!.testMode).toBe(true);
  });

  it('production addresses stay production', async () => {
    for (const address of ['149.154.167.51', '2001:67c:4e8:f002::a']) {
      const parsed = parseSessionString(await gramjsString(2, address, 443));
      expect(parsed.session.dcs[0]!.testMode, address).toBeUndefined();
    }
  });
});
