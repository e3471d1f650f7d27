/**
 * Exit 5's hint (`Run: npm install …`, from core's and convert's messages) says `npm install -g …`
 * when the CLI runs from npm's global folder: a package installed beside a global CLI in the
 * current project is not one the CLI can load.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConvertError } from '@mtstore/convert';
import { AdapterUnavailableError } from '@mtstore/core';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT, explain } from '../src/index.js';
import { runsFromGlobalInstall } from '../src/exit.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-hint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '');
  return path;
}

const adapterMissing = () => new AdapterUnavailableError('openStorage: redis: URLs need @mtstore/redis, which is not installed. Run: npm install @mtstore/redis ioredis');
const sqliteMissing = () => new ConvertError('MTSTORE_CONVERT_SQLITE_UNAVAILABLE', 'Reading SQLite session files needs better-sqlite3, which is not installed. Run: npm install better-sqlite3');

describe('the exit-5 hint', () => {
  it('says npm install -g for a CLI that runs from the global folder', () => {
    expect(explain(adapterMissing(), () => true)).toEqual({ code: EXIT.MISSING_PACKAGE, line: 'openStorage: redis: URLs need @mtstore/redis, which is not installed. Run: npm install -g @mtstore/redis ioredis' });
    expect(explain(sqliteMissing(), () => true).line).toMatch(/Run: npm install -g better-sqlite3$/);
  });

  it('says npm install, as before, for a CLI installed in a project', () => {
    expect(explain(adapterMissing(), () => false).line).toMatch(/Run: npm install @mtstore\/redis ioredis$/);
    expect(explain(sqliteMissing(), () => false).line).toMatch(/Run: npm install better-sqlite3$/);
  });

  it('global: the CLI file is under `npm root -g` (asked from npm, with npm_config_prefix moving it here)', () => {
    const prefix = join(dir, 'prefix');
    const root = join(prefix, 'lib', 'node_modules');
    const globalBin = file(join(root, '@mtstore', 'cli', 'dist', 'bin.js'));
    const localBin = file(join(dir, 'project', 'node_modules', '@mtstore', 'cli', 'dist', 'bin.js'));
    expect(runsFromGlobalInstall(globalBin, root)).toBe(true);
    expect(runsFromGlobalInstall(pathToFileURL(globalBin).href, root)).toBe(true);
    expect(runsFromGlobalInstall(localBin, root)).toBe(false);
    const saved = process.env.npm_config_prefix;
    process.env.npm_config_prefix = prefix;
    try {
      expect(runsFromGlobalInstall(globalBin)).toBe(true);
      expect(runsFromGlobalInstall(localBin)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.npm_config_prefix;
      else process.env.npm_config_prefix = saved;
    }
  }, 30_000);
});
