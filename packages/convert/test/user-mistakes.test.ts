/**
 * What users moving a session get wrong, read through the public API: an empty file given
 * for a session, and the messages of the file formats' refusals (worded as the user reads
 * them, never "a … session file session").
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSession, openSessionFile, parseSession, parseSessionFile, toSessionString, writeSessionFile, type ConvertError } from '../src/index.js';
import { fixtures } from './helpers.js';

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

  it('a folder that is no GramJS StoreSession says "Not a valid GramJS StoreSession:"; a string format keeps "… string session"', async () => {
    const folder = join(dir, 'not-gramjs');
    mkdirSync(folder);
    writeFileSync(join(folder, 'notes.txt'), 'not a GramJS entry');
    const error = await failure(() => parseSession(folder));
    expect(error.message).toMatch(/^Not a valid GramJS StoreSession: /);
    const { session } = await parseSession(`${fixtures}telethon/ipv4.string`);
    const pyrogram = await failure(() => toSessionString(session, 'pyrogram', { apiId: 1 }));
    expect(pyrogram.message).toBe('Cannot write a Pyrogram string session: the session has no logged-in user (Pyrogram strings always hold one).');
  });
});

