/**
 * `mtstore check` removes its scratch namespaces with the backend's driver, loaded from where the
 * adapter package finds it (a global install has ioredis only under @mtstore/redis/node_modules),
 * and a namespace it could not remove is named on stderr / in the error, with a non-zero exit,
 * never left behind silently. No server needed: a fake driver in a folder laid out like
 * `npm i -g @mtstore/cli @mtstore/core @mtstore/redis`, and the memory adapter for the kit.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { check, CliError, EXIT } from '../src/index.js';
import { scratchFor, type Scratch } from '../src/check.js';
import { captureIo, stores } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-cleanup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** A global prefix's lib/node_modules with @mtstore/redis (and, if `withDriver`, a fake ioredis under it); returns where the CLI's file would be. */
function globalLayout(name: string, withDriver: boolean): string {
  const modules = join(dir, name, 'lib', 'node_modules');
  write(join(modules, '@mtstore/redis/package.json'), JSON.stringify({ name: '@mtstore/redis', version: '0.1.0', main: 'index.cjs' }));
  write(join(modules, '@mtstore/redis/index.cjs'), 'module.exports = {};\n');
  if (withDriver) {
    write(join(modules, '@mtstore/redis/node_modules/ioredis/package.json'), JSON.stringify({ name: 'ioredis', version: '5.0.0', main: 'index.js' }));
    write(
      join(modules, '@mtstore/redis/node_modules/ioredis/index.js'),
      `class Redis {
  constructor(url) { globalThis.__fakeIoredis = { url, calls: [] }; }
  on() {}
  async scan(cursor, ...args) { globalThis.__fakeIoredis.calls.push(['scan', cursor, ...args]); return ['0', ['ns_x:a', 'ns_x:b']]; }
  async del(...keys) { globalThis.__fakeIoredis.calls.push(['del', ...keys]); return keys.length; }
  async quit() { globalThis.__fakeIoredis.calls.push(['quit']); }
}
module.exports = { Redis, default: Redis };
`,
    );
  }
  // The CLI is installed beside the adapter, without the driver (it does not depend on it).
  write(join(modules, '@mtstore/cli/package.json'), JSON.stringify({ name: '@mtstore/cli', version: '0.1.0' }));
  return join(modules, '@mtstore/cli/dist/bin.js');
}

describe("check's scratch namespaces", () => {
  it('leave out a ?session= of the URL given: the kit names its sessions, and server storage refuses one', () => {
    for (const [input, param] of [
      ['postgres://u@127.0.0.1:1/db?session=alice&sslmode=disable', 'schema'],
      ['redis://127.0.0.1:1/3?session=alice', 'prefix'],
      ['mongodb://127.0.0.1:1/db?session=alice', 'collectionPrefix'],
    ] as const) {
      const url = new URL(scratchFor(input).url('ns_q'));
      expect([url.searchParams.has('session'), url.searchParams.get(param)?.startsWith('ns_q')], input).toEqual([false, true]);
    }
    expect(new URL(scratchFor('postgres://u@127.0.0.1:1/db?session=alice&sslmode=disable').url('ns_q')).searchParams.get('sslmode')).toBe('disable');
  });
});

describe("check's scratch cleanup", () => {
  it("loads the driver from the adapter package's folder (ioredis only under @mtstore/redis/node_modules, as in a global install)", async () => {
    const cli = globalLayout('global-with-driver', true);
    const scratch = scratchFor('redis://user:pw@127.0.0.1:1/3?prefix=ignored:', cli);
    await scratch.cleanup('ns_x');
    const fake = (globalThis as { __fakeIoredis?: { url: string; calls: unknown[][] } }).__fakeIoredis;
    expect(fake?.url).toBe('redis://user:pw@127.0.0.1:1/3');
    expect(fake?.calls).toEqual([['scan', '0', 'MATCH', 'ns_x:*', 'COUNT', 1000], ['del', 'ns_x:a', 'ns_x:b'], ['quit']]);
  });

  it('rejects, naming the driver, when neither the adapter nor the CLI can load it (it used to return as if done)', async () => {
    const cli = globalLayout('global-without-driver', false);
    const error = await scratchFor('redis://127.0.0.1:1/3', cli)
      .cleanup('ns_y')
      .then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.MISSING_PACKAGE);
    expect((error as CliError).message).toMatch(/^check could not load ioredis \(the driver of @mtstore\/redis\) to remove its scratch data/);
  });

  it('a namespace it could not remove is named and the run exits non-zero, although every trait passed', { timeout: 60_000 }, async () => {
    const failing = new Set<string>();
    const scratch: Scratch = {
      url: (ns) => `shared://${ns.replace(/[^a-z0-9]/gi, '')}`,
      cleanup: async (ns) => {
        if (ns.startsWith('mt_check_probe_') || failing.size < 2) {
          failing.add(ns);
          throw new Error('server went away');
        }
        stores.delete(ns.replace(/[^a-z0-9]/gi, ''));
      },
      dispose: () => {},
    };
    const io = captureIo();
    // A few trait groups of both suites (each opens and cleans many namespaces): the
    // whole kit took 15 s here, and runs through check in servers.test.ts (SQLite).
    const error = await check('shared://cleanup', io, scratch, { grep: '› (round trip|two instances|events) ›' }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    const { exitCode, message } = error as CliError;
    expect(exitCode).not.toBe(EXIT.OK);
    const said = `${io.err()}\n${message}`;
    expect(said).toContain(`check could not remove ${failing.size} scratch namespaces (`);
    for (const ns of failing) expect(said).toContain(ns);
    expect(said).toContain('server went away');
    if (exitCode !== EXIT.VERIFY) expect(io.out()).toMatch(/\n[1-9]\d* passed, 0 failed, \d+ skipped\n/);
  });
});
