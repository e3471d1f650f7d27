/**
 * Options of the parse, open and write functions are checked before anything is read
 * (docs/contract.md §8's rule, as every constructor of mtstore): left out or an object of
 * known names, none null, each of its type; else MTSTORE_CONVERT_INVALID naming the
 * option. Before: a misspelt `{ fromat: 'telethon' }` and `{ bot: null }` were read as
 * left out, `{ bot: 'no' }` marked a Telethon file's account a bot, `{ apiID: 6 }` wrote
 * a Pyrogram string without the api_id asked for (or failed asking for it), and
 * `options: null` was a TypeError.
 */
import { describe, expect, it } from 'vitest';
import { openSession, openSessionFile, parseSession, parseSessionFile, parseSessionString, toPyrogramString, toSessionString, type ConvertedSession } from '../src/index.js';
import { fixtures, fixtureText } from './helpers.js';

const text = fixtureText('telethon/ipv4.string');
const file = `${fixtures}telethon/telethon.session`;

type Call = (options: unknown) => unknown;

const parsers: [string, Call][] = [
  ['parseSessionString', (options) => parseSessionString(text, options as never)],
  ['parseSession (string)', (options) => parseSession(text, options as never)],
  ['openSession (string)', (options) => openSession(text, options as never)],
  ['parseSession (file)', (options) => parseSession(file, options as never)],
  ['parseSessionFile', (options) => parseSessionFile(file, options as never)],
  ['openSessionFile', (options) => openSessionFile(file, options as never)],
];

/** The error `call(options)` threw or rejected with, or 'accepted'. */
async function outcome(call: Call, options: unknown): Promise<unknown> {
  try {
    const result = call(options);
    const value = result instanceof Promise ? await result : result;
    // A stream holds the file open: close it.
    (value as { close?: () => unknown } | undefined)?.close?.();
    return 'accepted';
  } catch (error) {
    return error;
  }
}

const invalid = (message: string) => ({ code: 'MTSTORE_CONVERT_INVALID', message: expect.stringContaining(message) });

describe('convert options', () => {
  for (const [name, call] of parsers) {
    it(`${name}: a misspelt, null or mistyped option, or null options, is MTSTORE_CONVERT_INVALID naming it; good ones are read`, async () => {
      expect(await outcome(call, { fromat: 'telethon' })).toMatchObject(invalid('unknown option "fromat" (did you mean "format"?)'));
      for (const option of ['format', 'bot', 'name']) {
        expect(await outcome(call, { [option]: null }), option).toMatchObject(invalid(`${option} must not be null`));
      }
      expect(await outcome(call, { bot: 'no' })).toMatchObject(invalid('bot must be a boolean, got string'));
      expect(await outcome(call, { name: 5 })).toMatchObject(invalid('name must be a string, got number'));
      expect(await outcome(call, null)).toMatchObject(invalid('options must be an object, got null'));
      expect(await outcome(call, { format: 'nope' })).toMatchObject({ code: 'MTSTORE_CONVERT_UNKNOWN_FORMAT' });
      expect(await outcome(call, undefined)).toBe('accepted');
      expect(await outcome(call, { bot: false })).toBe('accepted');
    });
  }

  it('toSessionString and toPyrogramString: a misspelt or null option is MTSTORE_CONVERT_INVALID naming it, for every format written', async () => {
    const session = ((await parseSession(text)) as ConvertedSession).session;
    const withUser = { ...session, user: { id: 777n, dcId: session.homeDcId, bot: false } };
    for (const format of ['telethon', 'gramjs', 'pyrogram', 'mtcute'] as const) {
      expect(() => toSessionString(withUser, format, { apiID: 6 } as never), format).toThrow(expect.objectContaining(invalid('unknown option "apiID" (did you mean "apiId"?)')));
      expect(() => toSessionString(withUser, format, { layout: null } as never), format).toThrow(expect.objectContaining(invalid('layout must not be null')));
    }
    expect(() => toPyrogramString(withUser, { apiId: null } as never)).toThrow(expect.objectContaining(invalid('apiId must not be null')));
    expect(() => toPyrogramString(withUser, null as never)).toThrow(expect.objectContaining(invalid('options must be an object, got null')));
    expect(toPyrogramString(withUser, { apiId: 6 })).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
