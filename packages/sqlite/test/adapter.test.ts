/**
 * URLs through core's openStorage / openSessionStorage, which import the built
 * @mtstore/sqlite by scheme (test/build-dist.ts keeps dist current).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fullSession } from '@mtstore/conformance';
import { openSessionStorage, openStorage, type Storage } from '@mtstore/core';
import { adapter } from '../src/index.js';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('adapter');
afterAll(temp.remove);

interface Opened {
  path?: string;
  name: string;
  database: { pragma(source: string, options: { simple: true }): unknown };
}
const details = (storage: Storage) => storage as unknown as Opened;

describe('openStorage', () => {
  it('a plain path: Telethon naming, session "default" unless named, the file opened at once', async () => {
    const storage = await openStorage(temp.file('bot'));
    expect(details(storage).path).toBe(temp.file('bot.session'));
    expect(details(storage).name).toBe('default');
    expect(existsSync(temp.file('bot.session'))).toBe(true);
    await storage.save(fullSession(1));
    await storage.close();
    const again = await openStorage(pathToFileURL(temp.file('bot.session')));
    expect(plain(await again.load())).toEqual(fullSession(1));
    await again.close();
  });

  it('sqlite::memory:', async () => {
    const storage = await openStorage('sqlite::memory:', { name: 'alice' });
    expect(details(storage).path).toBe(':memory:');
    await storage.save(fullSession(2));
    expect(plain(await storage.load())).toEqual(fullSession(2));
    await storage.close();
  });

  it('sqlite:relative/path is relative to the working directory, with Telethon naming', async () => {
    const previous = process.cwd();
    process.chdir(temp.file(''));
    try {
      mkdirSync('data', { recursive: true });
      const storage = await openStorage('sqlite:data/bot');
      expect(details(storage).path).toBe(resolve(process.cwd(), 'data/bot.session'));
      expect(existsSync(temp.file('data/bot.session'))).toBe(true);
      await storage.close();
    } finally {
      process.chdir(previous);
    }
  });

  it('sqlite:///absolute/path with tablePrefix, synchronous, busyTimeout, mmapSize and session', async () => {
    const path = temp.file('tuned.db');
    const storage = await openStorage(`sqlite://${path}?tablePrefix=tg_&synchronous=full&busyTimeout=250&mmapSize=0&session=alice`);
    expect(details(storage).path).toBe(path);
    expect(details(storage).name).toBe('alice');
    await storage.save(fullSession(3));
    const db = details(storage).database;
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(250);
    expect(db.pragma('mmap_size', { simple: true })).toBe(0);
    expect((db as unknown as { prepare(s: string): { pluck(): { get(): unknown } } }).prepare("SELECT count(*) FROM tg_sessions WHERE name = 'alice'").pluck().get()).toBe(1);
    await storage.close();
  });

  it('?create=false opens only a store that is there (NotFoundError, no file created otherwise)', async () => {
    const path = temp.file('absent-store.session');
    await expect(openStorage(`${pathToFileURL(path).href}?create=false`)).rejects.toMatchObject({ code: 'MTSTORE_NOT_FOUND' });
    expect(existsSync(path)).toBe(false);
    const writer = await openStorage(`sqlite://${path}`);
    await writer.save(fullSession(1));
    await writer.close();
    const reader = await openStorage(`sqlite://${path}?create=false`);
    expect(await reader.load()).not.toBeNull();
    await reader.close();
  });

  it('sqlite::memory:?create=false is NotFoundError, as a missing file is (a new in-memory database holds no store)', async () => {
    for (const open of [() => openStorage('sqlite::memory:?create=false'), () => openSessionStorage('sqlite::memory:?create=false')]) {
      await expect(open()).rejects.toMatchObject({ code: 'MTSTORE_NOT_FOUND', message: expect.stringContaining("':memory:'") });
    }
  });

  const bad: Array<[string, string]> = [
    ['a host', 'sqlite://host/bot.session'],
    ['no path', 'sqlite:'],
    ['an unknown parameter', 'sqlite::memory:?synchronus=FULL'],
    ['an invalid busyTimeout', 'sqlite::memory:?busyTimeout=soon'],
    ['an invalid mmapSize', 'sqlite::memory:?mmapSize=-1'],
    ['an invalid synchronous', 'sqlite::memory:?synchronous=OFF'],
    ['an invalid tablePrefix', 'sqlite::memory:?tablePrefix=a-b'],
    ['a remote file URL', 'file://server/share/bot.session'],
    ['an invalid create', 'sqlite::memory:?create=no'],
    ['a stray % in the path', 'sqlite:bot%zz.session'],
  ];
  for (const [what, url] of bad) {
    it(`rejects ${what} with InvalidArgumentError`, async () => {
      await expect(openStorage(url)).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    });
  }

  it('a parameter given with no value is InvalidArgumentError naming it, before the file is made (?tablePrefix= opened the tables without a prefix)', async () => {
    const path = temp.file('empty-parameter.db');
    for (const parameter of ['tablePrefix', 'synchronous', 'busyTimeout', 'mmapSize']) {
      const opens = [
        (query: string) => openStorage(`sqlite://${path}?${query}`),
        (query: string) => openStorage(`sqlite://${path}?session=alice&${query}`),
        (query: string) => openSessionStorage(`sqlite://${path}?${query}`),
      ];
      for (const query of [`${parameter}=`, parameter]) {
        for (const open of opens) {
          const error = (await open(query).catch((e: unknown) => e)) as { code?: string; message?: string } | undefined;
          expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
          expect(error?.message, query).toContain(`URL parameter "${parameter}" has no value`);
        }
      }
    }
    expect(existsSync(path)).toBe(false);
  });

  it('names the parameter a misspelt one is nearest to', async () => {
    await expect(openStorage('sqlite::memory:?tablePrefx=tg_')).rejects.toThrow('unknown URL parameter "tablePrefx" (did you mean "tablePrefix"?)');
    await expect(openStorage('sqlite::memory:?synchronus=FULL')).rejects.toThrow('(did you mean "synchronous"?)');
  });

  it('a parameter name or create value that may be a pasted key (hex, base64, long) is never quoted', async () => {
    const hex = 'ad972859d0ca7c9d885e41c8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3';
    for (const query of [hex, `${hex}=1`, `create=${hex}`, `tablePrefix=tg_&${hex.slice(0, 16)}=1`]) {
      const error = (await openStorage(`sqlite::memory:?${query}`).then(() => new Error('opened'), (e: Error) => e)) as Error & { code?: string };
      expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message, query).toMatch(/not shown/);
      expect(error.message, query).not.toContain(hex.slice(0, 16));
    }
  });

  it('a message about one parameter never quotes the values of the others', () => {
    // The URL was shown with its query: ?tablePrefix=<hex>&busyTimeout= printed the hex.
    const hex = 'ad972859d0ca7c9d885e41c8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3';
    for (const query of [`tablePrefix=${hex}&busyTimeout=`, `synchronous=&tablePrefix=${hex}`, `create=&session=${hex}`]) {
      for (const open of [() => adapter.openStorage(new URL(`sqlite::memory:?${query}`), { name: 'default' }), () => adapter.openSessionStorage(new URL(`sqlite:${temp.file('x.db')}?${query}`))]) {
        let error: (Error & { code?: string }) | undefined;
        try {
          void open();
        } catch (e) {
          error = e as Error & { code?: string };
        }
        expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message, query).toMatch(/has no value/);
        expect(error?.message, query).not.toContain(hex.slice(0, 16));
      }
    }
  });
});

describe('openSessionStorage', () => {
  it('returns the storage and no bus (SQLite cannot notify other processes)', async () => {
    const opened = await openSessionStorage(temp.file('server'));
    expect(opened.bus).toBeUndefined();
    expect(await opened.storage.createSession(1n, 2n)).toBe(true);
    await opened.storage.close();
    const again = await adapter.openSessionStorage(pathToFileURL(temp.file('server.session')));
    expect(await again.storage.hasSession(1n, 2n)).toBe(true);
    await again.storage.close();
  });
});
