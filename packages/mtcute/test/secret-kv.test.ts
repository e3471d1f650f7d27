/**
 * Secret kv entries (docs/contract.md §10a) with mtcute's own code writing them: a
 * StubTelegramClient stores future server salts through mtcute's FutureSaltsService
 * and saves; on an @mtstore/sqlite file opened with `encryption`, the salts are
 * nowhere in the database's bytes (file and WAL), and read back as written. The
 * control: the same steps without encryption leave the salt bytes in the file, so
 * the search does see kv storage.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaseStorage, type EncryptionOptions } from '@mtstore/core';
import { SqliteStorage } from '@mtstore/sqlite';
import { Long, type mtp } from '@mtcute/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSecretKey, mtcuteStorage } from '../src/index.js';
import { stubClient } from './helpers.js';

const ENCRYPTION: EncryptionOptions = { keys: [{ id: 'k1', key: Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 1) }] };

/** Salts whose 8 bytes are easy to find in a file (and unlike anything else in it). */
const SALTS: mtp.RawMt_future_salt[] = [0x1122334455667788n, -0x0102030405060708n, 0x7a6b5c4d3e2f1a0bn].map((salt, i) => ({
  _: 'mt_future_salt',
  validSince: 1_760_000_000 + i * 1800,
  validUntil: 1_760_001_800 + i * 1800,
  salt: Long.fromString(salt.toString()),
}));

const saltBytes = (salt: Long): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeInt32LE(salt.low, 0);
  bytes.writeInt32LE(salt.high, 4);
  return bytes;
};

describe('secret kv entries on @mtstore/sqlite', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mtstore-mtcute-secret-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** mtcute stores salts for DC 2 and saves, then is destroyed (the storage closed); returns every byte the database left on disk. */
  async function writeSalts(encryption: EncryptionOptions | undefined): Promise<Buffer> {
    const path = join(dir, `${encryption === undefined ? 'plain' : 'sealed'}.db`);
    const tg = stubClient(mtcuteStorage(new SqliteStorage({ path, name: 'salts', encryption })));
    await tg.mt.storage.load();
    await tg.mt.storage.salts.store(2, SALTS);
    await tg.mt.storage.save();
    await tg.destroy();

    // A new client reads them back through mtcute's service (opened when sealed).
    const again = stubClient(mtcuteStorage(new SqliteStorage({ path, name: 'salts', encryption })));
    await again.mt.storage.load();
    const read = await again.mt.storage.salts.fetch(2);
    expect(read?.map((s) => [s.validSince, s.validUntil, s.salt.toString()])).toEqual(SALTS.map((s) => [s.validSince, s.validUntil, s.salt.toString()]));
    await again.destroy();

    const files = readdirSync(dir).filter((f) => f.startsWith(path.slice(dir.length + 1)));
    return Buffer.concat(files.map((f) => readFileSync(join(dir, f))));
  }

  it('future salts are sealed at rest: not in the database bytes, read back by mtcute', async () => {
    expect(isSecretKey('salts:2')).toBe(true);
    const plain = await writeSalts(undefined);
    for (const salt of SALTS) expect(plain.includes(saltBytes(salt.salt)), 'control: a salt stored without encryption is in the file').toBe(true);
    const sealed = await writeSalts(ENCRYPTION);
    for (const salt of SALTS) expect(sealed.includes(saltBytes(salt.salt)), `salt ${salt.salt.toString()} in the sealed database`).toBe(false);
  });

  it('the stored kv value is a sealed envelope; typed fallbacks stay plain', async () => {
    const storage = new SqliteStorage({ path: join(dir, 'kv.db'), name: 'kv', encryption: ENCRYPTION });
    const provider = mtcuteStorage(storage, { lease: false, closeOnDestroy: false });
    await provider.driver.load!();
    const value = Uint8Array.from({ length: 40 }, (_, i) => 200 - i);
    provider.kv.set('salts:4', value);
    provider.kv.set('plugin:token', value);
    // An update state before any DC is known has no typed place yet: it stays in kv, plain (it is a plain snapshot field once moved).
    provider.kv.set('updates_pts', Uint8Array.of(5, 0, 0, 0));
    await provider.driver.save!();
    const stored = BaseStorage.storedRepositories(storage).kv;
    for (const key of ['salts:4', 'plugin:token']) {
      const raw = (await stored.get(key)) as Uint8Array;
      expect(Buffer.from(raw).includes(Buffer.from(value.subarray(0, 16))), `${key} stored in plaintext`).toBe(false);
      expect(Buffer.from(raw.subarray(0, 6)).toString(), `${key} is an mtstore sealed envelope`).toBe('mtseal');
      expect(Array.from((await storage.kv.get(key)) ?? [])).toEqual(Array.from(value));
    }
    expect(Array.from((await stored.get('updates_pts')) ?? [])).toEqual([5, 0, 0, 0]);
    await provider.driver.destroy!();
    await storage.close();
  });
});
