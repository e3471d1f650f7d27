/**
 * What users moving a session get wrong, read through the public API: an empty file given
 * for a session, and the messages of the file formats' refusals (worded as the user reads
 * them, never "a … session file session").
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectStringFormats, openSession, openSessionFile, parseSession, parseSessionFile, sessionStringInFile, toSessionString, writeSessionFile, type ConvertError } from '../src/index.js';
import { fixtures, hex } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-convert-mistakes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(run: () => unknown): Promise<ConvertError> {
  try {
    await run();
  } catch (error) {
    return error as ConvertError;
  }
  throw new Error('expected a failure');
}

describe('an empty file given as the session', () => {
  // SQLite opens a 0-byte file as an empty database: it read as "an SQLite file but not a
  // Telethon, Pyrogram or mtcute session (tables: none)", which it is not.
  it('is MTSTORE_CONVERT_UNKNOWN_FORMAT "is empty (0 bytes)", for every entry point', async () => {
    const path = join(dir, 'empty.session');
    writeFileSync(path, '');
    for (const read of [() => parseSession(path), () => openSession(path), () => parseSessionFile(path), () => openSessionFile(path), () => parseSession(join(dir, 'empty'))]) {
      const error = await failure(read);
      expect(error.code).toBe('MTSTORE_CONVERT_UNKNOWN_FORMAT');
      expect(error.message).toBe(`"${path}" is empty (0 bytes): it holds no session file and no session string.`);
    }
  });

  it('a 0-byte file given with a file format is refused the same way', async () => {
    const path = join(dir, 'empty-format.session');
    writeFileSync(path, '');
    const error = await failure(() => parseSession(path, { format: 'telethon-sqlite' }));
    expect(error.code).toBe('MTSTORE_CONVERT_UNKNOWN_FORMAT');
    expect(error.message).toContain('is empty (0 bytes)');
  });
});

describe('messages of the file formats', () => {
  it('a Pyrogram file of a session without a user says "Cannot write a Pyrogram session file:", once', async () => {
    const { session } = await parseSession(`${fixtures}telethon/ipv4.string`);
    const error = await failure(() => writeSessionFile(session, [], join(dir, 'nouser.session'), 'pyrogram-sqlite', { apiId: 1 }));
    expect(error.code).toBe('MTSTORE_CONVERT_UNSUPPORTED');
    expect(error.message).toBe('Cannot write a Pyrogram session file: the session has no logged-in user (Pyrogram would ask to log in again).');
  });

  it('a GramJS folder without a key says "Not a valid GramJS StoreSession:"; a string format keeps "… string session"', async () => {
    const folder = join(dir, 'keyless');
    mkdirSync(folder);
    writeFileSync(join(folder, 'keyless%3AdcId'), '2');
    const error = await failure(() => parseSession(folder));
    expect(error.message).toBe('Not a valid GramJS StoreSession: the folder has no <name>:authKey file.');
    const { session } = await parseSession(`${fixtures}telethon/ipv4.string`);
    const pyrogram = await failure(() => toSessionString(session, 'pyrogram', { apiId: 1 }));
    expect(pyrogram.message).toBe('Cannot write a Pyrogram string session: the session has no logged-in user (Pyrogram strings always hold one).');
  });
});


describe('a folder or file given as what it is not', () => {
  // A folder of other files (a Telethon workdir) read as a damaged GramJS folder:
  // "Not a valid GramJS StoreSession session: the folder has no <name>:authKey file".
  it('a folder holding no GramJS entry is UNKNOWN_FORMAT "not a GramJS StoreSession folder", naming the session files in it', async () => {
    const folder = join(dir, 'workdir');
    mkdirSync(folder);
    writeFileSync(join(folder, 'notes.txt'), 'not a GramJS entry');
    const plain = await failure(() => parseSession(folder));
    expect(plain.code).toBe('MTSTORE_CONVERT_UNKNOWN_FORMAT');
    expect(plain.message).toBe(`"${folder}" is a folder but not a GramJS StoreSession folder (no <name>:authKey file).`);
    writeFileSync(join(folder, 'bot.session'), '');
    const withFile = await failure(() => parseSession(folder));
    expect(withFile.message).toBe(`"${folder}" is a folder but not a GramJS StoreSession folder (no <name>:authKey file); a Telethon, Pyrogram or mtcute session is a file: give the file (it holds bot.session).`);
  });

  // A name the folder lacks read as damage: "there is no authKey for the name …".
  it('a GramJS folder asked for a name it does not hold names the ones it holds', async () => {
    const folder = join(dir, 'acct');
    mkdirSync(folder);
    writeFileSync(join(folder, 'acct%3AdcId'), '2');
    writeFileSync(join(folder, 'acct%3AauthKey'), JSON.stringify({ type: 'Buffer', data: Array.from({ length: 256 }, (_, i) => i) }));
    expect((await parseSession(folder)).format).toBe('gramjs-store');
    const error = await failure(() => parseSession(folder, { name: 'other' }));
    expect(error.code).toBe('MTSTORE_CONVERT_INVALID');
    expect(error.message).toBe('Not a valid GramJS StoreSession: the folder holds no session named "other" (it holds: acct); pass one of those names.');
  });

  // The path read as a string: "No such file or folder: … (and it is not a session string)" of a file that is there.
  it('a session file given with a string format says it is a file, not that string', async () => {
    const path = `${fixtures}telethon/telethon.session`;
    const error = await failure(() => parseSession(path, { format: 'telethon' }));
    expect(error.code).toBe('MTSTORE_CONVERT_UNKNOWN_FORMAT');
    expect(error.message).toBe(`"${path}" is a file, not a telethon session string: leave the format out to read it as what it is, or name its file format.`);
    const folder = join(dir, 'acct');
    const onFolder = await failure(() => parseSession(folder, { format: 'gramjs' }));
    expect(onFolder.message).toBe(`"${folder}" is a folder, not a gramjs session string: leave the format out to read it as what it is, or name its file format.`);
    // A file holding a string of that format still reads as it.
    expect((await parseSession(`${fixtures}telethon/ipv4.string`, { format: 'telethon' })).format).toBe('telethon');
  });
});

describe('a session string copied with line breaks or spaces inside', () => {
  // A terminal wraps a long line; a chat splits it. Python's base64 (Telethon, Pyrogram)
  // skips the white space; here no format decoded it, and a path-like one was printed
  // whole in "No such file or folder: …".
  const wrap = (text: string, at: number, by: string): string => text.replace(new RegExp(`(.{${at}})`, 'g'), `$1${by}`);

  it('reads as the same session, from the argument and from a file, for each string format', async () => {
    for (const fixture of ['telethon/ipv4.string', 'telethon/ipv6.string', 'pyrogram/user.string']) {
      const text = readFileSync(`${fixtures}${fixture}`, 'utf8').trim();
      const whole = await parseSession(text);
      for (const wrapped of [wrap(text, 80, '\n'), wrap(text, 64, '\r\n'), wrap(text, 100, ' ')]) {
        const parsed = await parseSession(wrapped);
        expect(parsed.format, fixture).toBe(whole.format);
        expect(hex(parsed.session.dcs[0]!.authKey), fixture).toBe(hex(whole.session.dcs[0]!.authKey));
        expect(detectStringFormats(wrapped), fixture).toEqual(detectStringFormats(text));
        const file = join(dir, `${fixture.replace('/', '-')}.txt`);
        writeFileSync(file, `${wrapped}\n`);
        expect(sessionStringInFile(file), fixture).toBe(text);
        expect((await parseSession(file)).format, fixture).toBe(whole.format);
      }
    }
  });

  it('a .env file stays "holds text but no session string"', async () => {
    const file = join(dir, 'settings.env');
    writeFileSync(file, `API_ID=12345\nAPI_HASH=${'a'.repeat(32)}\nSESSION_NAME=my_account_session_for_the_bot_which_is_long_enough_to_pass_one_hundred_chars\n`);
    expect(sessionStringInFile(file)).toBeNull();
    const error = await failure(() => parseSession(file));
    expect(error.message).toMatch(/holds text but no session string/);
  });

  it('a wrapped string cut short is never printed: shown by its length', async () => {
    const text = readFileSync(`${fixtures}telethon/ipv4.string`, 'utf8').trim();
    // Under 200 characters with a "/" read as a path: "No such file or folder: <it>".
    const cut = `${text.slice(0, 60)}/\n${text.slice(60, 150)}`;
    const error = await failure(() => parseSession(cut));
    expect(error.message).not.toContain(text.slice(10, 50));
    expect(error.message).toContain(`the ${cut.length}-character text (not shown`);
  });
});

describe('a session string with other characters copied around it', () => {
  it('in quotes reads as the string, as it does from a file', async () => {
    const text = readFileSync(`${fixtures}telethon/ipv4.string`, 'utf8').trim();
    for (const quoted of [`"${text}"`, `'${text}'`, ` "${text}"\n`]) expect((await parseSession(quoted)).format).toBe('telethon');
  });

  it('in a path-like text, the run of base64 is never printed', async () => {
    const text = readFileSync(`${fixtures}telethon/ipv4.string`, 'utf8').trim();
    const error = await failure(() => parseSession(`./${text.slice(0, 150)},`));
    expect(error.code).toBe('MTSTORE_CONVERT_IO');
    expect(error.message).not.toContain(text.slice(20, 60));
    // A path is still named: its "/" come every few characters.
    const path = `./v1.0/${'deep/'.repeat(30)}bot.session`;
    expect((await failure(() => parseSession(path))).message).toContain(`"${path}"`);
  });
});
