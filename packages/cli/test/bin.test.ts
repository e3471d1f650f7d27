/**
 * The built binary (dist/bin.js), spawned as a user runs it: conversions between
 * foreign formats need no backend; exit codes and one-line errors.
 */
import { readFileSync } from 'node:fs';
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
    expect(r.stdout).toContain('peers: 6 (3 users, 1 chats, 2 channels)');
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

  it('a URL password never reaches the output', () => {
    const r = mtstore(['inspect', 'dynamo://user:hunter2@host/table']);
    expect(r.stderr).not.toContain('hunter2');
  });
});
