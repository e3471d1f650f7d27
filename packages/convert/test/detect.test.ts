import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  detectSessionFile,
  detectStringFormats,
  FOREIGN_SQLITE_SIGNATURES,
  matchSqliteSignature,
  parseGramjsString,
  parseMtcuteString,
  parsePyrogramString,
  parseSession,
  parseSessionFile,
  parseSessionString,
  parseTelethonString,
  toGramjsString,
  toMtcuteString,
  toPyrogramString,
  toSessionString,
  toTelethonString,
} from '../src/index.js';
import { fixtureText, fixtures, truth } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(run: () => unknown): Promise<Error & { code?: string }> {
  try {
    await run();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

describe('detection', () => {
  it('recognises each fixture string as exactly one format', () => {
    expect(detectStringFormats(fixtureText('telethon/ipv4.string'))).toEqual(['telethon']);
    expect(detectStringFormats(fixtureText('telethon/ipv6.string'))).toEqual(['telethon']);
    expect(detectStringFormats(fixtureText('pyrogram/user.string'))).toEqual(['pyrogram']);
  });

  it('recognises the session files by their tables', async () => {
    expect(await detectSessionFile(`${fixtures}telethon/telethon.session`)).toBe('telethon-sqlite');
    expect(await detectSessionFile(`${fixtures}pyrogram/pyrogram.session`)).toBe('pyrogram-sqlite');
    expect(await detectSessionFile(join(dir, 'missing.session'))).toBeNull();
    const other = join(dir, 'other.db');
    const db = new Database(other);
    db.exec('create table sessions (name text primary key, data blob)');
    db.close();
    expect(await detectSessionFile(other)).toBeNull();
    expect(matchSqliteSignature({ mtcute_migrations: ['repo', 'version'], auth_keys: ['dc', 'key'], key_value: ['key', 'value'] })?.format).toBe('mtcute-sqlite');
    expect(FOREIGN_SQLITE_SIGNATURES.map((s) => s.library)).toEqual(['Telethon', 'Pyrogram', 'mtcute']);
  });

  it('reads a file given as bytes, and a string given as bytes', async () => {
    const bytes = readFileSync(`${fixtures}pyrogram/pyrogram.session`);
    expect((await parseSession(bytes)).format).toBe('pyrogram-sqlite');
    expect((await parseSession(Buffer.from(fixtureText('telethon/ipv4.string')))).format).toBe('telethon');
  });

  it('opens session files read-only: the file is byte for byte unchanged', async () => {
    const path = join(dir, 'copy.session');
    writeFileSync(path, readFileSync(`${fixtures}telethon/telethon.session`));
    const digest = () => createHash('sha256').update(readFileSync(path)).digest('hex');
    const before = digest();
    await parseSession(path);
    expect(digest()).toBe(before);
  });

  it('explains an unknown string without echoing it', async () => {
    const secretish = 'x'.repeat(300);
    const error = await failure(() => parseSession(secretish));
    expect(error).toMatchObject({ name: 'ConvertError', code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' });
    expect(error.message).not.toContain('xxxxxxxx');
  });

  it('a session string given where a path belongs is never echoed (it is a login)', async () => {
    const text = fixtureText('telethon/ipv4.string').trim();
    const shown = (message: string): boolean => message.includes(text.slice(8, 40));
    for (const run of [
      () => parseSession(text, { format: 'telethon-sqlite' }),
      () => parseSession(`${text}.session`),
      () => parseSessionFile(text),
      () => parseSessionFile(text.repeat(20)), // past the file-name limit: ENAMETOOLONG quotes the path
    ]) {
      const error = await failure(run);
      expect(error.name, error.message).toBe('ConvertError');
      expect(shown(error.message), error.message).toBe(false);
      expect(shown(inspect(error)), 'cause').toBe(false);
    }
  });

  it('anything but a string or bytes is a ConvertError, not a TypeError', async () => {
    for (const value of [null, undefined, 42, {}]) {
      for (const run of [
        () => parseSessionString(value as never),
        () => parseTelethonString(value as never),
        () => parsePyrogramString(value as never),
        () => parseGramjsString(value as never),
        () => parseMtcuteString(value as never),
        () => parseSessionFile(value as never),
        () => parseSession(value as never),
      ]) {
        expect(await failure(run), String(value)).toMatchObject({ name: 'ConvertError', code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' });
      }
      expect(detectStringFormats(value as never)).toEqual([]);
    }
  });

  it('a damaged GramJS StoreSession authKey file is refused without quoting its bytes, in the message or a cause', async () => {
    const folder = join(dir, 'damaged-store');
    mkdirSync(folder);
    const key = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff));
    const json = JSON.stringify(key);
    const at = json.indexOf(',', 400) + 1;
    writeFileSync(join(folder, encodeURIComponent('acct:authKey')), `${json.slice(0, at)}x${json.slice(at + 1)}`);
    writeFileSync(join(folder, encodeURIComponent('acct:dcId')), '2');
    const error = await failure(() => parseSessionFile(folder));
    expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    expect(error.message).toContain('authKey is not JSON');
    const decimals = json.slice(at - 12, at - 1);
    expect(inspect(error)).not.toContain(decimals);
  });

  it('a damaged session file is a ConvertError naming the damage, never a raw driver or decoder error', async () => {
    const keyOf = async (path: string) => Buffer.from((await parseSession(path)).session.dcs[0]!.authKey!);
    const original = `${fixtures}telethon/telethon.session`;
    const key = await keyOf(original);
    const expectDamaged = async (path: string, code: string, says: string) => {
      const error = await failure(() => parseSession(path));
      expect(error, path).toMatchObject({ name: 'ConvertError', code });
      expect(error.message, path).toContain(says);
      for (const form of [key.toString('hex'), key.toString('base64')]) expect(inspect(error)).not.toContain(form.slice(8, 40));
    };

    // A row the decoder rejects (a 255-byte auth key).
    const short = join(dir, 'short-key.session');
    writeFileSync(short, readFileSync(original));
    const db = new Database(short);
    db.prepare('update sessions set auth_key = substr(auth_key, 1, 255)').run();
    db.close();
    await expectDamaged(short, 'MTSTORE_CONVERT_INVALID', '255 bytes');

    // Pages past the first garbled: SQLite says "malformed" on reading the schema.
    const garbled = join(dir, 'garbled.session');
    const bytes = readFileSync(original);
    for (let i = 4096; i < bytes.length; i += 7) bytes[i]! ^= 0x5a;
    writeFileSync(garbled, bytes);
    await expectDamaged(garbled, 'MTSTORE_CONVERT_INVALID', 'malformed');

    // An mtcute file whose DC option blob ends early (the TL reader's RangeError).
    const mtcute = join(dir, 'mtcute-short.session');
    const m = new Database(mtcute);
    m.exec("create table mtcute_migrations (repo text, version integer); create table key_value (key text primary key, value blob); create table auth_keys (dc integer primary key, key blob)");
    m.prepare("insert into key_value values ('dc_main', x'01')").run();
    m.close();
    const error = await failure(() => parseSession(mtcute));
    expect(error).toMatchObject({ name: 'ConvertError', code: 'MTSTORE_CONVERT_INVALID' });

    // A GramJS StoreSession folder with a folder where an entry's file belongs.
    const folder = join(dir, 'store-with-folder');
    mkdirSync(folder);
    writeFileSync(join(folder, encodeURIComponent('acct:authKey')), JSON.stringify(key));
    writeFileSync(join(folder, encodeURIComponent('acct:dcId')), '2');
    mkdirSync(join(folder, encodeURIComponent('acct:foo')));
    await expectDamaged(folder, 'MTSTORE_CONVERT_IO', 'EISDIR');
  });

  it('says which file is missing', async () => {
    const error = await failure(() => parseSession('./nope/bot.session'));
    expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_IO' });
    expect(error.message).toContain('nope/bot.session');
  });

  it('refuses a format option that does not fit, naming what the input is', async () => {
    const error = await failure(() => parseSession(fixtureText('pyrogram/user.string'), { format: 'mtcute' }));
    expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' });
    expect(error.message).toMatch(/^The string is not a mtcute session: /);
    const file = await failure(() => parseSession(`${fixtures}telethon/telethon.session`, { format: 'pyrogram-sqlite' }));
    expect(file.message).toContain('is a telethon-sqlite file, not pyrogram-sqlite');
    const bad = await failure(() => parseSession('abc', { format: 'nope' as never }));
    expect(bad.message).toContain('Unknown format option');
  });

  it('an SQLite file of another kind is refused with its tables listed', async () => {
    const other = join(dir, 'app.sqlite');
    const db = new Database(other);
    db.exec('create table things (id integer)');
    db.close();
    const error = await failure(() => parseSession(other));
    expect(error.message).toContain('tables: things');
  });
});

describe('secrets', () => {
  it('util.inspect, JSON and String() of a parsed session never show key bytes', async () => {
    const t = truth<{ auth_key_hex: string }>('telethon/telethon.json');
    const parsed = await parseSession(`${fixtures}telethon/telethon.session`);
    const printed = inspect(parsed, { depth: 10 }) + JSON.stringify(parsed, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    expect(printed).toContain('redacted');
    const keyBytes = Buffer.from(t.auth_key_hex, 'hex');
    expect(printed).not.toContain(t.auth_key_hex.slice(0, 16));
    expect(printed).not.toContain(Array.from(keyBytes.subarray(0, 6)).join(', '));
  });

  it('a session without a key cannot be written, and the error says why', async () => {
    const parsed = await parseSession(`${fixtures}telethon/telethon.session`);
    const keyless = { ...parsed.session, dcs: parsed.session.dcs.map(({ authKey: _drop, ...dc }) => dc) };
    for (const write of [toTelethonString, toGramjsString, toMtcuteString, (s: typeof keyless) => toPyrogramString(s, { apiId: 1 })]) {
      const error = await failure(() => write(keyless));
      expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_UNSUPPORTED' });
      expect(error.message).toContain('no auth key for its home DC 2');
    }
  });

  it('converts a Pyrogram session (no address) to the other formats through the well-known DC table', () => {
    const parsed = parseSessionString(fixtureText('pyrogram/user.string'));
    const telethon = parseSessionString(toSessionString(parsed.session, 'telethon'));
    expect(telethon.session.dcs[0]).toMatchObject({ id: 2, ipv4: '149.154.167.51', port: 443 });
    const gramjs = parseSessionString(toSessionString(parsed.session, 'gramjs'));
    expect(gramjs.format).toBe('gramjs');
    const mtcute = parseSessionString(toSessionString(parsed.session, 'mtcute'));
    expect(mtcute.session.user).toEqual(parsed.session.user);
    expect(toSessionString(mtcute.session, 'pyrogram', { apiId: parsed.session.apiId })).toBe(fixtureText('pyrogram/user.string'));
  });
});
