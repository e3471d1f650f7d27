/**
 * `openSessionStorage(url)` and `?session=`: openStorage reads it as the session name and
 * every adapter accepts it in its URLs, so a client URL copied into a server used to open
 * with the name silently dropped. Server storage has no session names: the parameter is
 * an InvalidArgumentError, before the adapter loads and so before any connection (the
 * postgres and redis URLs point at a port nothing listens on; a refusal by the server
 * would be a StorageUnavailableError, and a lazy adapter would not fail at all).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openSessionStorage, openStorage, registerAdapter } from '../src/index.js';

async function rejection(promise: Promise<unknown>): Promise<{ code?: unknown; message: string }> {
  try {
    const opened = (await promise) as { storage?: { close?: () => Promise<void> } } | null;
    await opened?.storage?.close?.();
  } catch (error) {
    return { code: (error as { code?: unknown }).code, message: (error as Error).message };
  }
  throw new Error('expected a rejection');
}

const dir = mkdtempSync(join(tmpdir(), 'mtstore-open-session-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openSessionStorage refuses ?session=', () => {
  const file = join(dir, 'server.db');
  const cases: [string, string | URL][] = [
    ['sqlite: URL', `sqlite:${file}?session=x`],
    ['file: URL', new URL(`${pathToFileURL(file).href}?session=x`)],
    ['memory:', 'memory:?session=x'],
    ['postgres on an unreachable port', 'postgres://u:pw@127.0.0.1:1/test?session=alice'],
    ['postgres with other parameters', 'postgresql://127.0.0.1:1/test?schema=tg&session=alice&create=false'],
    ['redis on an unreachable port', 'redis://127.0.0.1:1/0?prefix=app:&session=bot'],
    ['mongodb on an unreachable port', 'mongodb://127.0.0.1:1/app?session=bot'],
    ['an empty session value', 'redis://127.0.0.1:1?session='],
  ];
  for (const [what, url] of cases) {
    it(`${what}: InvalidArgumentError naming the parameter, nothing opened`, async () => {
      const started = Date.now();
      const failure = await rejection(openSessionStorage(url));
      expect(failure.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(failure.message).toContain('openSessionStorage: unexpected URL parameter "session": server storage has no session name');
      expect(failure.message).not.toContain('pw');
      // No connect attempt to wait out, no file made.
      expect(Date.now() - started).toBeLessThan(1000);
      expect(existsSync(file)).toBe(false);
    });
  }

  it('is refused before the adapter loads, for a registered scheme too', async () => {
    let loads = 0;
    registerAdapter('acme-session-param', () => {
      loads++;
      return Promise.reject(new Error('the adapter must not be loaded'));
    });
    const failure = await rejection(openSessionStorage('acme-session-param://host?session=x'));
    expect(failure.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(loads).toBe(0);
  });

  it('openStorage still reads ?session= as the session name, and a server URL without it opens', async () => {
    const storage = await openStorage('memory:?session=alice');
    await storage.close();
    const opened = await openSessionStorage('memory:');
    expect(typeof opened.storage.createSession).toBe('function');
    await opened.storage.close();
  });
});
