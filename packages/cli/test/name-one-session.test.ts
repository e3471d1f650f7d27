/**
 * `--name` for `inspect` and `export` picks a session in a storage or in a GramJS folder
 * (which can hold several). Given for a session that has no names — a Telethon, Pyrogram
 * or mtcute file, a session string, a file holding one, what is piped into `-` — it was
 * silently ignored: `mtstore inspect ./telethon.session --name alice` printed the file's
 * one session, and the user believed alice had been picked. Now exit 2 with one line,
 * before the session is read (standard input is left unread) and before `--out` is made.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parseSessionString } from '@mtstore/convert';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, run } from '../src/index.js';
import { captureIo, convertFixtures } from './helpers.js';

const telethonFile = `${convertFixtures}telethon/telethon.session`;
const pyrogramFile = `${convertFixtures}pyrogram/pyrogram.session`;
const telethonString = readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8').trim();
const pyrogramString = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-name-one-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mtcuteFile = join(dir, 'mtcute.session');
const stringFile = join(dir, 'login.txt');

beforeAll(async () => {
  // An mtcute file, written by export from the Telethon fixture.
  expect(await run(['import', telethonFile, 'shared://name-one-src', '--name', 'alice'], captureIo())).toBe(EXIT.OK);
  const io = captureIo();
  expect(await run(['export', 'shared://name-one-src', '--name', 'alice', '--format', 'mtcute-sqlite', '--out', mtcuteFile], io), io.err()).toBe(EXIT.OK);
  writeFileSync(stringFile, `${telethonString}\n`);
});

/** Each source that holds one session and no names, as the refusal describes it. */
const oneSession: [label: string, source: () => string, says: () => string][] = [
  ['a Telethon file', () => telethonFile, () => `${telethonFile}, a Telethon session file,`],
  ['a Pyrogram file', () => pyrogramFile, () => `${pyrogramFile}, a Pyrogram session file,`],
  ['an mtcute file', () => mtcuteFile, () => `${mtcuteFile}, an mtcute session file,`],
  ['a Telethon string', () => telethonString, () => 'a session string'],
  ['a Pyrogram string', () => pyrogramString, () => 'a session string'],
  ['a file holding a string', () => stringFile, () => `${stringFile}, a file holding a session string,`],
];

function refusal(what: string): string {
  return `mtstore: --name picks a session in an mtstore storage or a GramJS session folder, but ${what} holds one session and no session names: run it without --name (mtstore import <session> <target> --name <name> stores it under a name).\n`;
}

describe('--name for a session that holds no names: exit 2, nothing read or written', () => {
  it.each(oneSession)('%s: inspect, export (string and --out) are refused', async (_label, source, says) => {
    const runs: string[][] = [
      ['inspect', source(), '--name', 'alice'],
      ['export', source(), '--name', 'alice', '--format', 'telethon'],
      ['export', source(), '--name', 'alice', '--format', 'telethon-sqlite', '--out', join(dir, 'never.session')],
    ];
    for (const args of runs) {
      const io = captureIo();
      expect(await run(args, io), `${args.slice(0, 1).join(' ')} ${args.slice(2).join(' ')}: ${io.err()}`).toBe(EXIT.USAGE);
      expect(io.err()).toBe(refusal(says()));
      expect(io.out()).toBe('');
    }
    expect(existsSync(join(dir, 'never.session'))).toBe(false);
  });

  it('the login is never printed: a string is "a session string"', async () => {
    const io = captureIo();
    expect(await run(['inspect', telethonString, '--name', 'alice'], io)).toBe(EXIT.USAGE);
    expect(io.err()).not.toContain(telethonString.slice(10, 60));
  });

  it('--from naming a format other than gramjs-store is refused as well', async () => {
    const io = captureIo();
    expect(await run(['export', telethonString, '--from', 'telethon', '--name', 'alice', '--format', 'gramjs'], io)).toBe(EXIT.USAGE);
    expect(io.err()).toBe(refusal('a telethon session (--from telethon)'));
    expect(io.out()).toBe('');
  });

  it('"-" is refused before standard input is read: what was piped in is still there', async () => {
    for (const args of [['inspect', '-', '--name', 'alice'], ['export', '-', '--name', 'alice', '--format', 'telethon']]) {
      const stdin = new PassThrough();
      stdin.end(telethonString);
      const io = { ...captureIo(), stdin };
      expect(await run(args, io), io.err()).toBe(EXIT.USAGE);
      expect(io.err()).toBe(refusal('what is piped into "-" (a session string or a session file)'));
      expect(io.out()).toBe('');
      expect(String(stdin.read())).toBe(telethonString);
    }
  });
});

describe('--name keeps its meaning where there are names to pick', () => {
  it('the same sources without --name still inspect and export', async () => {
    for (const [label, source] of oneSession) {
      const io = captureIo();
      expect(await run(['inspect', source()], io), `${label}: ${io.err()}`).toBe(EXIT.OK);
    }
    const io = captureIo();
    expect(await run(['export', telethonString, '--format', 'telethon'], io), io.err()).toBe(EXIT.OK);
  });

  it('a storage: --name picks the session (inspect shows that one, export writes it)', async () => {
    const url = 'shared://name-one-store';
    expect(await run(['import', telethonFile, url, '--name', 'alice'], captureIo())).toBe(EXIT.OK);
    expect(await run(['import', telethonString, url, '--name', 'bob'], captureIo())).toBe(EXIT.OK);
    const shown = captureIo();
    expect(await run(['inspect', url, '--name', 'bob'], shown), shown.err()).toBe(EXIT.OK);
    expect(shown.out()).toContain('session "bob":');
    expect(shown.out()).not.toContain('session "alice":');
    const exported = captureIo();
    expect(await run(['export', url, '--name', 'bob', '--format', 'telethon'], exported), exported.err()).toBe(EXIT.OK);
    expect(exported.out().trim()).toBe(telethonString);
  });

  it('a GramJS folder holding two sessions: --name picks one for inspect and export', async () => {
    const folder = join(dir, 'both');
    mkdirSync(folder);
    for (const [name, dc, seed] of [['acct', 2, 5], ['other', 4, 9]] as const) {
      writeFileSync(join(folder, `${name}%3AdcId`), String(dc));
      writeFileSync(join(folder, `${name}%3AauthKey`), JSON.stringify({ type: 'Buffer', data: Array.from({ length: 256 }, (_, i) => (i * seed) & 0xff) }));
    }
    const shown = captureIo();
    expect(await run(['inspect', folder, '--name', 'other'], shown), shown.err()).toBe(EXIT.OK);
    expect(shown.out()).toContain('home DC: 4');
    const exported = captureIo();
    expect(await run(['export', folder, '--name', 'acct', '--format', 'telethon'], exported), exported.err()).toBe(EXIT.OK);
    expect((await parseSessionString(exported.out().trim(), { format: 'telethon' })).session.homeDcId).toBe(2);
  });
});
