/**
 * Two copies of @mtstore/core in one process (the dual-package hazard): an app that
 * `require`s core beside adapters that `import` it, or npm's global installs, where
 * each package gets its own copy of a peer. Errors must still match `instanceof` across
 * copies, and openStorage from the CommonJS build must open adapters on that same build.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as esm from '@mtstore/core';

const require = createRequire(import.meta.url);
/** The CommonJS build of core: another copy of every class beside the ESM one imported above. */
const cjs = require('@mtstore/core') as typeof esm;

const CLASSES = [
  'InvalidArgumentError',
  'StorageClosedError',
  'CorruptDataError',
  'NotFoundError',
  'StorageUnavailableError',
  'MigrationError',
  'LeaseLostError',
  'AdapterUnavailableError',
] as const;

describe('two copies of core', () => {
  it('are two copies (the premise)', () => {
    expect(cjs.InvalidArgumentError).not.toBe(esm.InvalidArgumentError);
  });

  it("an error of one copy is an instance of the other copy's class of its code, and of no other", () => {
    for (const made of CLASSES) {
      for (const [from, to] of [
        [cjs, esm],
        [esm, cjs],
      ] as const) {
        const error = new from[made]('x');
        for (const asked of CLASSES) expect(error instanceof to[asked], `${made} instanceof ${asked}`).toBe(made === asked);
        expect(error instanceof to.StorageError).toBe(true);
        expect(to.isStorageError(error)).toBe(true);
      }
    }
    const held = new cjs.LeaseHeldError('held', { owner: 'o', expiresAt: 1 } as never);
    expect(held instanceof esm.LeaseHeldError).toBe(true);
    const sealed = new cjs.EncryptionError('no', 'k1', 'missing-key');
    expect(sealed instanceof esm.EncryptionError).toBe(true);
  });

  it('only Errors with an mtstore code match; a subclass of the caller keeps plain instanceof', () => {
    const coded = Object.assign(new Error('x'), { code: 'MTSTORE_NOT_FOUND' });
    expect(coded instanceof esm.NotFoundError).toBe(true);
    expect(coded instanceof esm.InvalidArgumentError).toBe(false);
    expect({ code: 'MTSTORE_NOT_FOUND', message: 'x' } instanceof esm.NotFoundError).toBe(false);
    expect(Object.assign(new Error('x'), { code: 'ENOENT' }) instanceof esm.StorageError).toBe(false);
    expect((null as unknown) instanceof esm.StorageError).toBe(false);
    class Mine extends esm.InvalidArgumentError {}
    expect(new esm.InvalidArgumentError('x') instanceof Mine).toBe(false);
    expect(new cjs.InvalidArgumentError('x') instanceof Mine).toBe(false);
    expect(new Mine('x') instanceof esm.InvalidArgumentError).toBe(true);
    expect(new Mine('x') instanceof cjs.InvalidArgumentError).toBe(true);
  });

  it("toStorageError passes another copy's error through instead of wrapping it as unavailable", () => {
    const error = new cjs.NotFoundError('gone');
    expect(esm.toStorageError(error, 'op')).toBe(error);
  });
});

describe('openStorage from the CommonJS build', () => {
  it('opens the adapter on the CommonJS build of core (one copy), whose errors are that copy\'s', () => {
    const script = `
      const core = require('@mtstore/core');
      (async () => {
        const storage = await core.openStorage('memory:');
        const memory = require('@mtstore/memory');
        const out = {
          sameClass: storage instanceof memory.MemoryStorage,
          base: storage instanceof core.BaseStorage,
        };
        await storage.close();
        try { await storage.load(); } catch (e) { out.closedProto = Object.getPrototypeOf(e) === core.StorageClosedError.prototype; }
        console.log(JSON.stringify(out));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = spawnSync(process.execPath, ['-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ sameClass: true, base: true, closedProto: true });
  });
});
