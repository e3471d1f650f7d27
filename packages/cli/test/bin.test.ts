/**
 * The built binary (dist/bin.js), spawned as a user runs it: conversions between
 * foreign formats need no backend; exit codes and one-line errors.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseSession, parseSessionString } from '@mtstore/convert';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { convertFixtures, mtstore } from './helpers.js';


const pyrogramTruth = JSON.parse(readFileSync(`${convertFixtures}pyrogram/pyrogram.json`, 'utf8')) as { export_session_string: string };

describe('mtstore (built binary)', () => {
  it('--help lists the commands and exits 0', () => {
    const r = mtstore(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['import', 'export', 'migrate', 'inspect', 'check']) expect(r.stdout).toContain(command);
  });

  it('- reads the session from standard input (import, inspect, export), so no login stands in the process list', () => {
    // A string on the command line is in /proc/<pid>/cmdline for every local user and in
    // the shell history; '-' was taken for a 1-character session string (exit 3).
    const text = readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-stdin-'));
    try {
      const target = join(dir, 'bot.session');
      const imported = mtstore(['import', '-', target], {}, 60_000, text);
      expect(imported.code, imported.stderr).toBe(EXIT.OK);
      expect(imported.stderr).toContain(`Imported a telethon session (IPv4) into ${target}`);
      expect(mtstore(['export', target, '--format', 'telethon']).stdout.trim()).toBe(text.trim());
      const inspected = mtstore(['inspect', '-'], {}, 60_000, text);
      expect(inspected.code, inspected.stderr).toBe(EXIT.OK);
      expect(inspected.stdout).toContain('standard input: a telethon session (IPv4)');
      const exported = mtstore(['export', '-', '--format', 'gramjs'], {}, 60_000, text);
      expect(exported.code, exported.stderr).toBe(EXIT.OK);
      expect(parseSessionString(exported.stdout.trim()).session.dcs[0]!.ipv4).toBe('149.154.167.51');
      // A session file piped in reads as the file.
      const file = mtstore(['export', '-', '--format', 'pyrogram'], {}, 60_000, readFileSync(`${convertFixtures}pyrogram/pyrogram.session`));
      expect(file.stdout.trim()).toBe(pyrogramTruth.export_session_string);
      // An empty pipe is nothing piped in: a usage error, as the README's row says (test/user-mistakes.test.ts).
      const empty = mtstore(['import', '-', join(dir, 'empty.session')], {}, 60_000, '');
      expect(empty.code).toBe(EXIT.USAGE);
      expect(existsSync(join(dir, 'empty.session'))).toBe(false);
      for (const r of [imported, inspected, exported, empty]) expect(r.stderr).not.toContain(text.trim().slice(40, 80));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('export converts a Pyrogram file to the string Pyrogram itself exported', () => {
    const r = mtstore(['export', `${convertFixtures}pyrogram/pyrogram.session`, '--format', 'pyrogram']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.stdout.trim()).toBe(pyrogramTruth.export_session_string);
    expect(r.stderr).toContain('anyone holding it can use the account');
  });

  it('export converts a Telethon file to a GramJS string with the same DC and key', async () => {
    const r = mtstore(['export', `${convertFixtures}telethon/telethon.session`, '--format', 'gramjs']);
    expect(r.code).toBe(EXIT.OK);
    const back = parseSessionString(r.stdout.trim());
    const original = await parseSession(`${convertFixtures}telethon/telethon.session`);
    expect(back.format).toBe('gramjs');
    expect(back.session.dcs[0]).toEqual(original.session.dcs[0]);
  });

  it('inspect of a file prints counts and never key bytes', async () => {
    const r = mtstore(['inspect', `${convertFixtures}telethon/telethon.session`]);
    expect(r.code).toBe(EXIT.OK);
    expect(r.stdout).toContain('peers: 6 (3 users, 1 chat, 2 channels)');
    expect(r.stdout).toContain('update state: pts 12345, qts 67, seq 89');
    const key = (await parseSession(`${convertFixtures}telethon/telethon.session`)).session.dcs[0]!.authKey!;
    expect(r.stdout + r.stderr).not.toContain(Buffer.from(key).toString('hex').slice(0, 12));
  });

  it('exit codes: usage 2, input 3, missing source 6, unknown scheme 2 — each one line on stderr', () => {
    const usage = mtstore(['export', 'x.session']);
    expect(usage.code).toBe(EXIT.USAGE);
    const input = mtstore(['import', 'AAAA', 'memory:']);
    expect(input.code).toBe(EXIT.INPUT);
    expect(input.stderr.trim().split('\n')).toHaveLength(1);
    const missing = mtstore(['export', '/nonexistent/dir/bot.session', '--format', 'telethon']);
    expect(missing.code).toBe(EXIT.NOT_FOUND);
    expect(missing.stderr).toBe('mtstore: No such storage file: /nonexistent/dir/bot.session. Give an existing .session file or a database URL.\n');
    const scheme = mtstore(['inspect', 'dynamo://table']);
    expect(scheme.code).toBe(EXIT.USAGE);
    expect(scheme.stderr).toContain('no adapter for "dynamo:" URLs');
  });

  it('reading commands leave a file that holds no mtstore store as it was: another program\'s database, an empty file (exit 6)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-foreign-'));
    try {
      const other = join(dir, 'app.db');
      const db = new Database(other);
      db.exec("CREATE TABLE app_data (x); INSERT INTO app_data VALUES ('precious')");
      db.close();
      const empty = join(dir, 'empty.db');
      writeFileSync(empty, '');
      for (const file of [other, empty, `sqlite://${other}`]) {
        const path = file.replace('sqlite://', '');
        const before = readFileSync(path);
        for (const args of [['inspect', file], ['export', file, '--format', 'telethon'], ['migrate', file, `sqlite://${join(dir, 'target.session')}`]]) {
          const r = mtstore(args);
          expect(r.code, args.join(' ')).toBe(EXIT.NOT_FOUND);
          expect(r.stderr, args.join(' ')).toContain('holds no @mtstore/sqlite database');
          expect(r.stderr.trim().split('\n')).toHaveLength(1);
          expect(readFileSync(path).equals(before), `${args.join(' ')} left ${path} as it was`).toBe(true);
          for (const suffix of ['-wal', '-shm']) expect(existsSync(path + suffix)).toBe(false);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stray % in a URL is a usage error (exit 2) naming the part, never the password', () => {
    for (const [url, part] of [
      ['redis://us%er@127.0.0.1:1', 'user name'],
      ['redis://admin:hunt%er2@127.0.0.1:1', 'password'],
      ['sqlite:bot%zz.session', 'path'],
    ]) {
      const r = mtstore(['inspect', url!]);
      expect(r.code, url).toBe(EXIT.USAGE);
      expect(r.stderr, url).toContain(`the ${part} of `);
      expect(r.stderr).not.toContain('hunt%er2');
    }
  });

  it('stops quietly when its reader goes away (`mtstore inspect … | head -1`, here `| true`)', () => {
    const file = `${convertFixtures}telethon/telethon.session`;
    const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
    // The reader (`true`) is gone before node has started: every write meets a closed pipe.
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${bin}" inspect "${file}" | true; echo "status \${PIPESTATUS[0]}" >&2`], { encoding: 'utf8' });
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toContain('EPIPE');
    expect(r.stderr).toMatch(/^status 0\n$/);
  });

  it('a session string given where a path belongs is never printed back (it is a login)', () => {
    const text = readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8').trim();
    for (const args of [
      ['migrate', text, 'memory:'],
      ['import', `${convertFixtures}telethon/telethon.session`, text],
      ['import', text, join(tmpdir(), 'never-written.session'), '--format', 'telethon-sqlite'],
      ['inspect', `${text}.session`],
    ]) {
      const r = mtstore(args);
      expect(r.code, r.stderr).not.toBe(EXIT.OK);
      expect(r.code, r.stderr).not.toBe(EXIT.INTERNAL);
      expect(r.stdout + r.stderr, args[0]).not.toContain(text.slice(8, 40));
    }
  });

  it('a URL password never reaches the output', () => {
    const r = mtstore(['inspect', 'dynamo://user:hunter2@host/table']);
    expect(r.stderr).not.toContain('hunter2');
  });
});
