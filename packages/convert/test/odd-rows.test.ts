/**
 * Session files as users have them: copies of the real Telethon and Pyrogram fixtures
 * with one odd row each (edited with better-sqlite3, the library's own schema kept), and
 * the Pyrogram forks' layouts. One row mtstore cannot store must cost that row or that
 * field, with a warning, never the whole file.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSession } from '../src/index.js';
import { fixtures, hex, seededKey } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-odd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A writable copy of a fixture, edited by `edit` through better-sqlite3. */
function copyOf(fixture: string, name: string, edit: (db: Database.Database) => void): string {
  const path = join(dir, name);
  copyFileSync(join(fixtures, fixture), path);
  const db = new Database(path);
  db.defaultSafeIntegers(true);
  edit(db);
  db.close();
  return path;
}

describe('Telethon file with odd entity rows', () => {
  it('keeps every other peer; drops the username, phone or row it cannot store, with a warning each', async () => {
    const clean = await parseSession(join(fixtures, 'telethon/telethon.session'));
    const longName = `${'x'.repeat(1023)}😀`; // cut at 1024 code units it would split the emoji
    const path = copyOf('telethon/telethon.session', 'odd-telethon.session', (db) => {
      db.prepare("update entities set username = 'bad.name' where id = 777000222").run();
      // Telethon's phone column is an integer; tools that fill it write text like this.
      db.prepare("update entities set phone = '+1 555-000-1111' where id = 777000222").run();
      db.prepare("update entities set phone = 'call me' where id = 777000111").run();
      db.prepare('update entities set name = ? where id = 5000000001').run(longName);
      // A secret chat's marked id (-2000000000000 - id): no user, chat or channel.
      db.prepare("insert into entities values (-2000000000005, 1, 'secret', null, 'Secret', 1700000100)").run();
    });
    const parsed = await parseSession(path);
    expect(parsed.session).toEqual(clean.session);
    expect(parsed.peers).toHaveLength(clean.peers.length);
    const alice = parsed.peers.find((p) => p.id === 777000222n)!;
    expect(alice).toEqual({ ...clean.peers.find((p) => p.id === 777000222n)!, usernames: [], phone: '15550001111' });
    const self = parsed.peers.find((p) => p.id === 777000111n)!;
    expect(self.phone).toBeUndefined();
    expect(self.usernames).toEqual(['interop_self']);
    const bot = parsed.peers.find((p) => p.id === 5000000001n)!;
    expect(bot.displayName).toBe('x'.repeat(1023));
    expect(parsed.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining('777000222: username "bad.name" dropped'),
        expect.stringContaining('777000111: phone dropped'),
        expect.stringContaining('-2000000000005: skipped, not a marked user, chat or channel id'),
      ]),
    );
    expect(parsed.warnings).toHaveLength(3);
    // The phone that was dropped is not repeated in the warning.
    expect(parsed.warnings.join('\n')).not.toContain('call me');
    expect(clean.warnings).toEqual([]);
  });

  it('usernames of 3 and of 33-64 characters are stored as they are (Telegram allows them)', async () => {
    const path = copyOf('telethon/telethon.session', 'short-long.session', (db) => {
      db.prepare("update entities set username = 'abc' where id = 777000222").run();
      db.prepare('update entities set username = ? where id = 5000000001').run(`b${'o'.repeat(40)}t`);
      db.prepare('update entities set username = ? where id = 777000111').run('@interop_self');
    });
    const parsed = await parseSession(path);
    expect(parsed.peers.find((p) => p.id === 777000222n)!.usernames).toEqual(['abc']);
    expect(parsed.peers.find((p) => p.id === 5000000001n)!.usernames).toEqual([`b${'o'.repeat(40)}t`]);
    // A leading "@" (as some tools write it) is not part of the name.
    expect(parsed.peers.find((p) => p.id === 777000111n)!.usernames).toEqual(['interop_self']);
    expect(parsed.warnings).toEqual([]);
  });

  it('an update_state row it cannot store is left out with a warning, never the file', async () => {
    const clean = await parseSession(join(fixtures, 'telethon/telethon.session'));
    const path = copyOf('telethon/telethon.session', 'odd-state.session', (db) => {
      db.exec('update update_state set pts = null where id = 1183945448');
      db.exec('update update_state set qts = null where id = 0');
    });
    const parsed = await parseSession(path);
    expect(parsed.session.state).toBeUndefined();
    expect(parsed.session.channels).toEqual(clean.session.channels.filter((c) => c.id !== 1183945448n));
    expect(parsed.peers).toEqual(clean.peers);
    expect(parsed.warnings).toEqual([expect.stringContaining('update_state of the account left out'), expect.stringContaining('update_state row 1183945448 left out')]);
  });

  it('an empty entities table, and a logged-out file (auth_key NULL), still read', async () => {
    const empty = await parseSession(copyOf('telethon/telethon.session', 'empty.session', (db) => db.exec('delete from entities')));
    expect([empty.peers, empty.session.user, empty.warnings]).toEqual([[], undefined, []]);
    const out = await parseSession(copyOf('telethon/telethon.session', 'logged-out.session', (db) => db.exec('update sessions set auth_key = null')));
    expect(out.session.dcs[0]!.authKey).toBeUndefined();
  });
});

describe('Pyrogram file with odd peer rows', () => {
  it('normalizes "+", spaces and dashes in phone_number, and skips only the rows it cannot store', async () => {
    const clean = await parseSession(join(fixtures, 'pyrogram/pyrogram.session'));
    const path = copyOf('pyrogram/pyrogram.session', 'odd-pyrogram.session', (db) => {
      db.prepare("update peers set phone_number = '+15550001111' where id = 777000222").run();
      db.prepare("update peers set phone_number = '+1 555 000-0001' where id = 777000111").run();
      db.prepare("update peers set username = 'x-y' where id = 5000000001").run();
      // Declared a user but the id is a channel's: the row contradicts itself.
      db.prepare("insert into peers values (-1009999999999, 5, 'user', null, null, 1700000000)").run();
      db.prepare("insert into peers values (-2000000000005, 5, 'user', null, null, 1700000000)").run();
    });
    const parsed = await parseSession(path);
    expect(parsed.session).toEqual(clean.session);
    // By id: Pyrogram's trigger sets last_update_on to the current second on each UPDATE
    // above, so when they straddle a second the oldest-first order of the edited rows differs.
    const byId = (a: { id: bigint }, b: { id: bigint }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    expect([...parsed.peers].sort(byId).map((p) => [p.id, p.phone, p.usernames])).toEqual(
      [...clean.peers].sort(byId).map((p) => [p.id, p.id === 777000111n ? '15550000001' : p.phone, p.id === 5000000001n ? [] : p.usernames]),
    );
    expect(parsed.peers.find((p) => p.id === 777000222n)!.phone).toBe('15550001111');
    expect(parsed.warnings).toHaveLength(3);
    expect(parsed.warnings).toEqual(
      expect.arrayContaining([expect.stringContaining('"x-y" dropped'), expect.stringContaining('-1009999999999: skipped'), expect.stringContaining('-2000000000005: skipped')]),
    );
  });
});

/** Creates a Pyrogram-family file from the fixture's rows with a fork's DDL. */
function forkFile(name: string, ddl: string, version: number, fill: (db: Database.Database, source: Database.Database) => void): string {
  const path = join(dir, name);
  const db = new Database(path);
  db.defaultSafeIntegers(true);
  db.exec(ddl);
  db.prepare('insert into version values (?)').run(version);
  const source = new Database(join(fixtures, 'pyrogram/pyrogram.session'), { readonly: true });
  source.defaultSafeIntegers(true);
  fill(db, source);
  source.close();
  db.close();
  return path;
}

const PYROFORK_DDL = `
CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, api_id INTEGER, test_mode INTEGER, auth_key BLOB, date INTEGER NOT NULL, user_id INTEGER, is_bot INTEGER);
CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, type INTEGER NOT NULL, username TEXT, phone_number TEXT,
  last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER)));
CREATE TABLE update_state (id INTEGER PRIMARY KEY, pts INTEGER, qts INTEGER, date INTEGER, seq INTEGER);
CREATE TABLE version (number INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS usernames (id TEXT PRIMARY KEY, peer_id INTEGER NOT NULL,
  last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER)));
CREATE TABLE dc_options (id INTEGER PRIMARY KEY AUTOINCREMENT, dc_id INTEGER, address TEXT, port INTEGER, is_ipv6 BOOLEAN, is_test BOOLEAN,
  is_media BOOLEAN, is_default_ip BOOLEAN, UNIQUE(dc_id, is_ipv6, is_test, is_media));`;

const KURIGRAM_DDL = `
CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, server_address TEXT, port INTEGER, api_id INTEGER, test_mode INTEGER, auth_key BLOB,
  date INTEGER NOT NULL, user_id INTEGER, is_bot INTEGER);
CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, type INTEGER NOT NULL, phone_number TEXT,
  last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER)));
CREATE TABLE usernames (id INTEGER, username TEXT, FOREIGN KEY (id) REFERENCES peers(id));
CREATE TABLE update_state (id INTEGER PRIMARY KEY, pts INTEGER, qts INTEGER, date INTEGER, seq INTEGER);
CREATE TABLE version (number INTEGER PRIMARY KEY);
CREATE INDEX idx_usernames_username ON usernames (username);`;

describe('Pyrogram forks', () => {
  it('Pyrofork / Electrogram schema 4: update_state, usernames(id = name, peer_id) and dc_options are no obstacle; extra usernames are read', async () => {
    const clean = await parseSession(join(fixtures, 'pyrogram/pyrogram.session'));
    const path = forkFile('pyrofork.session', PYROFORK_DDL, 4, (db, source) => {
      for (const row of source.prepare('select * from sessions').all()) db.prepare('insert into sessions values (@dc_id, @api_id, @test_mode, @auth_key, @date, @user_id, @is_bot)').run(row);
      for (const row of source.prepare('select * from peers').all()) db.prepare('insert into peers values (@id, @access_hash, @type, @username, @phone_number, @last_update_on)').run(row);
      // As Pyrofork writes them: (marked channel id or 0, pts, None, date, seq).
      db.prepare('insert into update_state values (0, 10, null, 1700000000, 1)').run();
      db.prepare('insert into update_state values (-1001183945448, 555, null, 1700000000, 1)').run();
      db.prepare("insert into usernames (id, peer_id) values ('alice_collectible', 777000222), ('alice_interop', 777000222)").run();
    });
    const parsed = await parseSession(path);
    expect(parsed.format).toBe('pyrogram-sqlite');
    expect(parsed.layout).toBe('schema 4, Pyrofork layout');
    // No qts: no account state (a made-up one would skip or replay updates); the channel's pts is read.
    expect(parsed.session).toEqual({ ...clean.session, channels: [{ id: 1183945448n, pts: 555 }] });
    expect(parsed.peers).toEqual(clean.peers.map((p) => (p.id === 777000222n ? { ...p, usernames: ['alice_interop', 'alice_collectible'] } : p)));
    expect(parsed.warnings).toEqual([expect.stringContaining('update_state of the account not read: a counter is missing')]);
  });

  it('Kurigram schema 7: no peers.username (usernames(id, username) instead), the address in sessions', async () => {
    const clean = await parseSession(join(fixtures, 'pyrogram/pyrogram.session'));
    const path = forkFile('kurigram.session', KURIGRAM_DDL, 7, (db, source) => {
      for (const row of source.prepare('select * from sessions').all() as Record<string, unknown>[]) {
        db.prepare("insert into sessions values (@dc_id, '149.154.167.51', 443, @api_id, @test_mode, @auth_key, @date, @user_id, @is_bot)").run(row);
      }
      for (const row of source.prepare('select * from peers').all() as Record<string, unknown>[]) {
        db.prepare('insert into peers values (@id, @access_hash, @type, @phone_number, @last_update_on)').run(row);
        if (row.username !== null) db.prepare('insert into usernames values (?, ?)').run(row.id, row.username);
      }
      db.prepare("insert into peers values (-1001700000001, 77, 'forum', null, 1700000000)").run();
      // Kurigram: UpdateState(0, pts, qts, date, seq) at start, channels by marked id.
      db.prepare('insert into update_state values (0, 12345, 67, 1700000000, 89)').run();
      db.prepare('insert into update_state values (-1001700000001, 42, null, null, null)').run();
      db.prepare('insert into update_state values (777000222, 1, 1, 1, 1)').run();
    });
    const parsed = await parseSession(path);
    expect(parsed.format).toBe('pyrogram-sqlite');
    expect(parsed.layout).toBe('schema 7, Kurigram layout');
    expect(parsed.session.dcs).toEqual([{ ...clean.session.dcs[0], ipv4: '149.154.167.51', port: 443 }]);
    expect(hex(parsed.session.dcs[0]!.authKey)).toBe(hex(clean.session.dcs[0]!.authKey));
    expect(parsed.session.user).toEqual(clean.session.user);
    expect(parsed.session.state).toEqual({ pts: 12345, qts: 67, date: 1700000000, seq: 89 });
    expect(parsed.session.channels).toEqual([{ id: 1700000001n, pts: 42 }]);
    expect(parsed.warnings).toEqual([expect.stringContaining('update_state row 777000222 left out')]);
    expect(parsed.peers.filter((p) => p.id !== 1700000001n)).toEqual(clean.peers);
    expect(parsed.peers.find((p) => p.id === 1700000001n)).toMatchObject({ type: 'channel', accessHash: 77n });
  });

  it('a Pyrogram-family file without the columns every schema has is refused naming its schema version', async () => {
    const path = forkFile('future.session', 'create table version (number integer primary key); create table sessions (dc_id integer primary key, key_ref text)', 12, () => {});
    await expect(parseSession(path)).rejects.toMatchObject({
      code: 'MTSTORE_CONVERT_INVALID',
      message: expect.stringMatching(/Pyrogram-family session file of schema version 12.*found sessions\(dc_id, key_ref\)/),
    });
  });
});

describe('GramJS StoreSession folder with odd entities', () => {
  it('normalizes a "+" phone and skips an entity whose access hash is out of 64-bit range', async () => {
    const folder = join(dir, 'gramjs');
    mkdirSync(folder);
    const put = (key: string, value: unknown) => writeFileSync(join(folder, encodeURIComponent(`acct:${key}`)), JSON.stringify(value));
    put('dcId', 2);
    put('serverAddress', '149.154.167.51');
    put('port', 443);
    put('authKey', { type: 'Buffer', data: Array.from(seededKey(9)) });
    put('777000222', ['777000222', '-5764607523034234880', 'alice_interop', '+1 555 000 1111', 'Alice Example', 1700000000000]);
    put('777000333', ['777000333', '99999999999999999999', 'bob', '15550002222', 'Bob', 1700000000000]);
    const parsed = await parseSession(folder);
    expect(parsed.peers).toEqual([
      { type: 'user', id: 777000222n, accessHash: -5764607523034234880n, usernames: ['alice_interop'], phone: '15550001111', displayName: 'Alice Example', updatedAt: 1700000000 },
    ]);
    expect(parsed.warnings).toEqual([expect.stringContaining('777000333: skipped, its access hash is outside 64-bit range')]);
  });
});

describe('a session string saved to a file', () => {
  it('reads as that string (BOM and CRLF around it too); a cut-short one names the file and is no session', async () => {
    const { readFileSync } = await import('node:fs');
    const telethon = readFileSync(join(fixtures, 'telethon/ipv4.string'), 'utf8').trim();
    const pyrogram = readFileSync(join(fixtures, 'pyrogram/user.string'), 'utf8').trim();
    const plain = join(dir, 'telethon.txt');
    writeFileSync(plain, `${telethon}\n`);
    const windows = join(dir, 'pyrogram.txt');
    writeFileSync(windows, `\uFEFF${pyrogram}\r\n`);
    expect(await parseSession(plain)).toEqual(await parseSession(telethon));
    expect(await parseSession(windows)).toEqual(await parseSession(pyrogram));
    const cut = join(dir, 'cut.txt');
    writeFileSync(cut, telethon.slice(0, 300));
    const error = await parseSession(cut).then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    );
    expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT', message: expect.stringContaining(`"${cut}" holds text but no session`) });
    expect(error!.message).not.toContain(telethon.slice(10, 60));
  });

  it('reads a string in quotes as that string (copied from JSON, a .env value or Python\'s repr)', async () => {
    const { readFileSync } = await import('node:fs');
    const telethon = readFileSync(join(fixtures, 'telethon/ipv4.string'), 'utf8').trim();
    // It was taken for an SQLite file: 'Cannot open … as SQLite: file is not a database'.
    for (const [name, text] of [['double.txt', `"${telethon}"\n`], ['single.txt', `'${telethon}'`], ['spaced.txt', ` " ${telethon} " \r\n`]] as const) {
      const path = join(dir, name);
      writeFileSync(path, text);
      expect(await parseSession(path), name).toEqual(await parseSession(telethon));
    }
    // Quotes that do not pair are no string.
    const odd = join(dir, 'odd-quotes.txt');
    writeFileSync(odd, `"${telethon}'`);
    await expect(parseSession(odd)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' });
  });

  it('a text file that holds no session string is named as such (UNKNOWN_FORMAT), its text never shown', async () => {
    const { readFileSync } = await import('node:fs');
    const telethon = readFileSync(join(fixtures, 'telethon/ipv4.string'), 'utf8').trim();
    // Notes, a whole .env file: it was 'Cannot open … as SQLite: file is not a database' (INVALID, "copy it again").
    for (const [name, text] of [['notes.txt', 'hello world\n'], ['bot.env', `API_ID=12345\nSESSION=${telethon}\n`]] as const) {
      const path = join(dir, name);
      writeFileSync(path, text);
      const error = await parseSession(path).then(
        () => null,
        (e: unknown) => e as Error & { code: string },
      );
      expect(error, name).toMatchObject({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT', message: expect.stringContaining(`"${path}" holds text but no session string`) });
      expect(error!.message).not.toContain(telethon.slice(10, 60));
      expect(error!.message).not.toContain('hello');
    }
  });
});

describe('a Pyrogram schema 1 file', () => {
  it('has its session read and its peers left out with a warning, as Pyrogram discards them on upgrade', async () => {
    const clean = await parseSession(join(fixtures, 'pyrogram/pyrogram.session'));
    // Schema 1: no api_id yet (2 → 3 adds it).
    const ddl = `
      CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, test_mode INTEGER, auth_key BLOB, date INTEGER NOT NULL, user_id INTEGER, is_bot INTEGER);
      CREATE TABLE peers (id INTEGER PRIMARY KEY, access_hash INTEGER, type INTEGER NOT NULL, username TEXT, phone_number TEXT,
        last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER)));
      CREATE TABLE version (number INTEGER PRIMARY KEY);`;
    const path = forkFile('pyrogram-v1.session', ddl, 1, (db, source) => {
      for (const row of source.prepare('select * from sessions').all()) db.prepare('insert into sessions values (@dc_id, @test_mode, @auth_key, @date, @user_id, @is_bot)').run(row);
      for (const row of source.prepare('select * from peers').all()) db.prepare('insert into peers values (@id, @access_hash, @type, @username, @phone_number, @last_update_on)').run(row);
    });
    const parsed = await parseSession(path);
    expect(parsed.layout).toBe('schema 1');
    const { apiId: _, ...withoutApiId } = clean.session;
    expect(parsed.session).toEqual(withoutApiId);
    expect(parsed.peers).toEqual([]);
    expect(parsed.warnings).toEqual([expect.stringContaining('peers of a schema 1 file not read')]);
  });
});

describe('a file with many channels', () => {
  // Each channel is looked up in a Set: checking the list read so far made reading
  // 60,000 channels take ~10 s instead of ~0.6 s (quadratic), measured when fixed.
  it('Telethon: every update_state channel is read once, with its pts', async () => {
    const path = copyOf('telethon/telethon.session', 'many-channels.session', (db) => {
      const insert = db.prepare('insert or replace into update_state (id, pts, qts, date, seq) values (?, ?, 0, 0, 0)');
      db.transaction(() => {
        for (let i = 1; i <= 60_000; i++) insert.run(BigInt(9_000_000_000 + i), i);
      })();
    });
    const parsed = await parseSession(path);
    const added = parsed.session.channels.filter((c) => c.id > 9_000_000_000n);
    expect(added).toHaveLength(60_000);
    expect(new Set(added.map((c) => c.id)).size).toBe(60_000);
    expect(added.every((c) => c.pts === Number(c.id - 9_000_000_000n))).toBe(true);
  });
});

describe('an auth key stored as text', () => {
  // Tools that write these files by hand store the key as hex or base64 text. It was read
  // as no key at all: the import succeeded as a session that is logged out, where a key
  // of the wrong length is a damaged file.
  for (const [fixture, format] of [
    ['telethon/telethon.session', 'Telethon session file'],
    ['pyrogram/pyrogram.session', 'Pyrogram session file'],
  ] as const) {
    it(`${format}: is a damaged file (INVALID) naming the column, never the text`, async () => {
      const text = Buffer.from(seededKey(4)).toString('hex');
      const path = copyOf(fixture, `text-key-${fixture.split('/')[0]}.session`, (db) => db.prepare('update sessions set auth_key = ?').run(text));
      const error = await parseSession(path).then(
        () => null,
        (e: unknown) => e as Error & { code: string },
      );
      expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_INVALID', message: expect.stringContaining('sessions.auth_key holds text, not the 256 bytes of an auth key') });
      expect(error!.message).not.toContain(text.slice(0, 16));
    });
  }
});
