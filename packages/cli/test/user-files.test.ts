/**
 * `mtstore import` / `inspect` on session files as users have them: copies of the real
 * Telethon and Pyrogram fixtures edited with better-sqlite3 (the library's schema kept),
 * --bot on every input format, and the exit-3 messages.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-user-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const telethonFile = `${convertFixtures}telethon/telethon.session`;
const pyrogramFile = `${convertFixtures}pyrogram/pyrogram.session`;

function copyOf(fixture: string, name: string, edit: (db: Database.Database) => void): string {
  const path = join(dir, name);
  copyFileSync(fixture, path);
  const db = new Database(path);
  edit(db);
  db.close();
  return path;
}

async function isEmpty(url: string): Promise<boolean> {
  const storage = await openStorage(url);
  try {
    return (await storage.load()) === null && (await storage.peers.list({ limit: 1 })).peers.length === 0;
  } finally {
    await storage.close();
  }
}

describe('a file with rows mtstore cannot store', () => {
  it('imports everything else and says on stderr what was left out; inspect shows it before importing', async () => {
    const path = copyOf(telethonFile, 'odd.session', (db) => {
      db.prepare("update entities set username = 'bad.name', phone = '+1 555-000-1111' where id = 777000222").run();
      db.prepare("insert into entities values (-2000000000005, 1, 'secret', null, 'Secret', 1700000100)").run();
    });
    const io = captureIo();
    expect(await run(['import', path, 'shared://odd'], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toMatch(/^mtstore: warning: entities row 777000222: username "bad\.name" dropped/m);
    expect(io.err()).toMatch(/^mtstore: warning: entities row -2000000000005: skipped/m);
    expect(io.err()).toContain('6 peers, 0 kv entries, 0 reference messages (2 rows or fields left out: see the warnings above).');
    const storage = await openStorage('shared://odd');
    expect(await storage.peers.getById('user', 777000222n)).toMatchObject({ usernames: [], phone: '15550001111' });
    expect(await storage.peers.getByPhone('15550001111')).toMatchObject({ id: 777000222n });
    await storage.close();

    const shown = captureIo();
    expect(await run(['inspect', path], shown)).toBe(EXIT.OK);
    expect(shown.out()).toContain('  left out on import: 2 rows or fields');
  });

  it('a file whose login is gone (auth_key NULL) imports with a warning that it is no login', async () => {
    const path = copyOf(telethonFile, 'logged-out.session', (db) => db.exec('update sessions set auth_key = null'));
    const io = captureIo();
    expect(await run(['import', path, 'shared://out'], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain('mtstore: warning: the session has no auth key for its home DC 2 (logged out, or its login never finished)');
    const clean = captureIo();
    expect(await run(['import', telethonFile, 'shared://in'], clean)).toBe(EXIT.OK);
    expect(clean.err()).not.toContain('warning');
  });
});

describe('--bot', () => {
  it('marks the user of a Telethon file as a bot', async () => {
    expect(await run(['import', telethonFile, 'shared://bot', '--bot'], captureIo())).toBe(EXIT.OK);
    const storage = await openStorage('shared://bot');
    expect((await storage.load())?.user).toMatchObject({ id: 777000111n, bot: true });
    await storage.close();
  });

  it('on any other input is a usage error (exit 2) naming the format, and nothing is written', async () => {
    const inputs: [string, string][] = [
      [pyrogramFile, 'a Pyrogram session file records whether the account is a bot'],
      [readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim(), 'a Pyrogram string records whether the account is a bot'],
      [readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8').trim(), 'a Telethon string records no account'],
      [copyOf(telethonFile, 'no-self.session', (db) => db.exec('delete from entities where id = 0')), 'this Telethon session file has no logged-in user'],
    ];
    for (const [i, [input, says]] of inputs.entries()) {
      const io = captureIo();
      expect(await run(['import', input, `shared://notbot${i}`, '--bot'], io), io.err()).toBe(EXIT.USAGE);
      expect(io.err()).toMatch(/^mtstore: --bot/);
      expect(io.err()).toContain(says);
      expect(await isEmpty(`shared://notbot${i}`)).toBe(true);
    }
  });
});

describe('exit 3 says what to do', () => {
  it("another program's SQLite database: which file to give, not --format", async () => {
    const other = join(dir, 'app.db');
    const db = new Database(other);
    db.exec('create table notes (x)');
    db.close();
    const io = captureIo();
    expect(await run(['import', other, 'shared://notes'], io)).toBe(EXIT.INPUT);
    expect(io.err()).toContain('is an SQLite file but not a Telethon, Pyrogram or mtcute session (tables: notes). Give the session file the client itself keeps');
    expect(io.err()).not.toContain('--format');
  });

  it('a damaged or truncated file, and a file that is no database: copy it again, or export a string', async () => {
    const truncated = join(dir, 'truncated.session');
    writeFileSync(truncated, readFileSync(telethonFile).subarray(0, 5000));
    const garbage = join(dir, 'garbage.session');
    // Binary, not text: a text file is read as a session string (and named as holding none).
    writeFileSync(garbage, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256)));
    const badRow = copyOf(telethonFile, 'short-key.session', (db) => db.exec('update sessions set auth_key = substr(auth_key, 1, 255)'));
    for (const path of [truncated, garbage, badRow]) {
      const io = captureIo();
      expect(await run(['import', path, 'shared://damaged'], io), io.err()).toBe(EXIT.INPUT);
      expect(io.err(), path).toMatch(/^mtstore: .*Copy the session again \(the whole string, or the file with its client stopped\); if it still fails, have the library that wrote it export a session string and give that instead\.\n$/);
    }
  });
});

describe('export --bot', () => {
  it("marks a Telethon file's user as a bot in the string; any other source is exit 2", async () => {
    const { parseSessionString } = await import('@mtstore/convert');
    for (const [format, extra] of [['pyrogram', ['--api-id', '12345']], ['mtcute', []]] as const) {
      const io = captureIo();
      expect(await run(['export', telethonFile, '--format', format, ...extra, '--bot'], io), io.err()).toBe(EXIT.OK);
      expect(parseSessionString(io.out().trim(), { format }).session.user).toMatchObject({ id: 777000111n, bot: true });
    }
    const pyrogram = captureIo();
    expect(await run(['export', pyrogramFile, '--format', 'mtcute', '--bot'], pyrogram)).toBe(EXIT.USAGE);
    expect(pyrogram.err()).toContain('a Pyrogram session file records whether the account is a bot');
    expect(pyrogram.out()).toBe('');
    expect(await run(['import', telethonFile, 'shared://exportbot'], captureIo())).toBe(EXIT.OK);
    const stored = captureIo();
    expect(await run(['export', 'shared://exportbot', '--format', 'mtcute', '--bot'], stored)).toBe(EXIT.USAGE);
    expect(stored.err()).toContain('is a storage, whose sessions record whether the account is a bot');
    expect(stored.out()).toBe('');
  });
});

describe('a session string saved to a file', () => {
  it('imports, inspects and exports as that string', async () => {
    const file = join(dir, 'pyrogram string.txt');
    writeFileSync(file, `${readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim()}\n`);
    const io = captureIo();
    expect(await run(['import', file, 'shared://stringfile'], io), io.err()).toBe(EXIT.OK);
    expect(io.err()).toContain('Imported a pyrogram session');
    const shown = captureIo();
    expect(await run(['inspect', file], shown), shown.err()).toBe(EXIT.OK);
    expect(shown.out()).toContain(': a pyrogram session');
    const out = captureIo();
    expect(await run(['export', file, '--format', 'mtcute'], out), out.err()).toBe(EXIT.OK);
    expect(out.out().trim().length).toBeGreaterThan(100);
  });
});

describe('a file with many peers', () => {
  it('import shows its progress on stderr (a line per 2 s and the last off a TTY), not only the summary at the end', async () => {
    // 100,000 entities took 18 s into Redis and 197 s into FerretDB with nothing printed.
    const path = copyOf(telethonFile, 'many-peers.session', (db) => {
      const insert = db.prepare('insert into entities values (?, ?, ?, null, ?, 1700000100)');
      db.transaction(() => {
        for (let i = 0; i < 25_000; i++) insert.run(100_000_000 + i, i + 1, `user_${i}`, `User ${i}`);
      })();
    });
    const io = captureIo();
    expect(await run(['import', path, 'shared://many'], io), io.err()).toBe(EXIT.OK);
    const lines = io.err().trim().split('\n');
    expect(lines[0]).toMatch(/^import "default": 10000\/25006 peers \(\S+\/s\)$/);
    expect(lines.at(-2)).toMatch(/^import "default": 25006\/25006 peers \(\S+\/s\)$/);
    expect(lines.at(-1)).toContain('Imported a telethon-sqlite session (schema 7) into shared://many as "default": home DC 2, user 777000111, 25006 peers');
    // A small file prints its summary alone.
    const small = captureIo();
    expect(await run(['import', telethonFile, 'shared://few'], small)).toBe(EXIT.OK);
    expect(small.err().trim().split('\n')).toHaveLength(1);
  });
});

describe('an mtstore storage file given to import', () => {
  it('is exit 3 saying to use migrate (or export), naming its sessions, not to give a client\'s session file', async () => {
    const store = join(dir, 'already-mtstore.session');
    expect(await run(['import', telethonFile, store, '--name', 'alice'], captureIo())).toBe(EXIT.OK);
    const io = captureIo();
    expect(await run(['import', store, 'shared://from-store'], io), io.err()).toBe(EXIT.INPUT);
    // It said: "is an SQLite file but not a Telethon, Pyrogram or mtcute session (tables:
    // mtstore_…). Give the session file the client itself keeps …".
    expect(io.err()).toContain(`${store} is an mtstore storage (sessions: alice), not a session to convert: copy it with mtstore migrate ${store} <target>`);
    expect(io.err().trim().split('\n')).toHaveLength(1);
    expect(await isEmpty('shared://from-store')).toBe(true);
  });
});
