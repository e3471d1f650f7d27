import { createDecipheriv } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EncryptionError, generateEncryptionKey, type EncryptionKey, isSealed, openSessionStorage, openStorage, registerAdapter, sealedKeyId, type Storage } from '../src/index.js';
import { noEncryptionError, Sealer } from '../src/seal.js';

const material = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
const perm = { kind: 'authKey', dcId: 2, mediaOnly: false, slot: -1 } as const;

function sealer(keys: EncryptionKey[] = [{ id: 'k1', key: material }], name = 'alice', secretKvPrefixes?: string[]): Sealer {
  return new Sealer({ keys, secretKvPrefixes }, name, 'Test');
}

function rejectsCode(run: () => unknown, code: string): Error {
  try {
    run();
  } catch (error) {
    expect((error as { code?: string }).code).toBe(code);
    return error as Error;
  }
  throw new Error('did not throw');
}

describe('sealed values', () => {
  it('have the documented layout: "mtseal", version 1, key id, 12-byte nonce, ciphertext, 16-byte tag', () => {
    const sealed = sealer().seal(key, perm);
    expect(sealed.length).toBe(6 + 1 + 1 + 2 + 12 + 256 + 16);
    expect(Buffer.from(sealed.subarray(0, 6)).toString()).toBe('mtseal');
    expect(sealed[6]).toBe(1);
    expect(sealed[7]).toBe(2);
    expect(Buffer.from(sealed.subarray(8, 10)).toString()).toBe('k1');
    expect(isSealed(sealed)).toBe(true);
    expect(sealedKeyId(sealed)).toBe('k1');
    // Decrypted by hand with the documented associated data: header, name length (u32 BE), name, place.
    const header = sealed.subarray(0, 22);
    const aad = Buffer.concat([header, Buffer.from([0, 0, 0, 5]), Buffer.from('alice'), Buffer.from('authKey\u00002\u0000main\u0000-1')]);
    const decipher = createDecipheriv('aes-256-gcm', material, sealed.subarray(10, 22));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const plain = Buffer.concat([decipher.update(sealed.subarray(22, sealed.length - 16)), decipher.final()]);
    expect(plain.equals(Buffer.from(key))).toBe(true);
  });

  it('a plaintext auth key is never taken for a sealed one, whatever its first bytes', () => {
    const lookalike = Uint8Array.from(key);
    lookalike.set(Buffer.from('mtseal\u0001\u0002k1'));
    expect(lookalike.length).toBe(256);
    // isSealed looks at the header only: the base class tells keys apart by length first (sealed ≥ 293).
    expect(sealer().seal(key, perm).length).toBeGreaterThanOrEqual(293);
  });

  it('open returns the plaintext for its own place, and EncryptionError for any other', () => {
    const s = sealer();
    const sealed = s.seal(key, perm);
    expect(Buffer.from(s.open(sealed, perm, 'x')).equals(Buffer.from(key))).toBe(true);
    for (const other of [
      { ...perm, dcId: 3 },
      { ...perm, mediaOnly: true },
      { kind: 'tempAuthKey', dcId: 2, mediaOnly: false, slot: 0 },
      { kind: 'kv', key: 'authKey' },
    ] as const) {
      const error = rejectsCode(() => s.open(sealed, other, 'stored thing'), 'MTSTORE_ENCRYPTION') as EncryptionError;
      expect([error.keyId, error.reason]).toEqual(['k1', 'does-not-open']);
    }
    // Same place, another session name (of the same length).
    rejectsCode(() => sealer(undefined, 'carol').open(sealed, perm, 'x'), 'MTSTORE_ENCRYPTION');
  });

  it('a fresh nonce for every new value; an unchanged value written back keeps its sealed bytes', () => {
    const s = sealer();
    const a = s.seal(key, perm);
    // Another instance (no memory of what it sealed) sealing the same value: a fresh nonce.
    const b = sealer().seal(key, perm);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(Buffer.from(a.subarray(10, 22)).equals(Buffer.from(b.subarray(10, 22)))).toBe(false);
    // The same instance writing the same value back to the same place: the same bytes (same nonce AND plaintext).
    expect(Buffer.from(s.seal(key, perm)).equals(Buffer.from(a))).toBe(true);
    // A different value there, then the first again: each gets a fresh nonce.
    const other = Uint8Array.from(key, (x) => x ^ 1);
    const c = s.seal(other, perm);
    const d = s.seal(key, perm);
    expect(Buffer.from(c.subarray(10, 22)).equals(Buffer.from(a.subarray(10, 22)))).toBe(false);
    expect(Buffer.from(d.subarray(10, 22)).equals(Buffer.from(a.subarray(10, 22)))).toBe(false);
  });

  it('reads accept any configured key, writes use the first', () => {
    const old = sealer([{ id: 'old', key: material }]).seal(key, perm);
    const both = sealer([
      { id: 'new', key: new Uint8Array(32).fill(9) },
      { id: 'old', key: material },
    ]);
    expect(Buffer.from(both.open(old, perm, 'x')).equals(Buffer.from(key))).toBe(true);
    expect(sealedKeyId(both.seal(key, perm))).toBe('new');
    const missing = rejectsCode(() => sealer([{ id: 'new', key: material }]).open(old, perm, 'stored key'), 'MTSTORE_ENCRYPTION') as EncryptionError;
    expect([missing.keyId, missing.reason]).toEqual(['old', 'missing-key']);
    expect(missing.message).toContain('"old"');
    const none = noEncryptionError(old, 'stored key') as EncryptionError;
    expect(none).toBeInstanceOf(EncryptionError);
    expect([none.keyId, none.reason]).toEqual(['old', 'missing-key']);
  });

  it('a truncated sealed value is CorruptDataError, not garbage', () => {
    const sealed = sealer().seal(key, perm);
    rejectsCode(() => sealer().open(sealed.subarray(0, 30), perm, 'x'), 'MTSTORE_CORRUPT_DATA');
    const badId = Uint8Array.from(sealed);
    badId[7] = 40; // id length beyond the value
    rejectsCode(() => sealer().open(badId.subarray(0, 60), perm, 'x'), 'MTSTORE_CORRUPT_DATA');
  });

  it('secret kv prefixes', () => {
    const s = sealer(undefined, 'alice', ['salts:', 'secret']);
    expect([s.isSecretKv('salts:1'), s.isSecretKv('secrets'), s.isSecretKv('salt')]).toEqual([true, true, false]);
  });
});

describe('encryption options', () => {
  it('keys as bytes, hex, base64 and base64url, or from an environment variable', () => {
    const text = generateEncryptionKey();
    expect(Buffer.from(text, 'base64').length).toBe(32);
    const bytes = Buffer.from(text, 'base64');
    const sealed = sealer([{ id: 'a', key: bytes }]).seal(key, perm);
    for (const form of [text, bytes.toString('hex'), bytes.toString('hex').toUpperCase(), bytes.toString('base64url')]) {
      expect(Buffer.from(sealer([{ id: 'a', key: form }]).open(sealed, perm, 'x')).equals(Buffer.from(key))).toBe(true);
    }
    process.env.MTSTORE_TEST_SEAL_KEY = text;
    try {
      expect(Buffer.from(new Sealer({ keys: [{ id: 'a', env: 'MTSTORE_TEST_SEAL_KEY' }] }, 'alice', 'T').open(sealed, perm, 'x')).equals(Buffer.from(key))).toBe(true);
    } finally {
      delete process.env.MTSTORE_TEST_SEAL_KEY;
    }
  });

  it('bad options are InvalidArgumentError that never show key material', () => {
    const secretText = Buffer.from(material).toString('hex');
    const cases: unknown[] = [
      null,
      { keys: [] },
      { keys: [{ id: 'a' }] },
      { keys: [{ id: 'a', key: material.subarray(0, 31) }] },
      { keys: [{ id: 'a', key: `${secretText}00` }] },
      { keys: [{ id: 'bad id', key: material }] },
      { keys: [{ id: 'x'.repeat(33), key: material }] },
      { keys: [{ id: 'a', key: material }, { id: 'a', key: material }] },
      { keys: [{ id: 'a', key: material, env: 'X' }] },
      { keys: [{ id: 'a', env: 'MTSTORE_TEST_UNSET_VARIABLE' }] },
      { keys: [{ id: 'a', env: 'not a name' }] },
      { keys: [{ id: 'a', key: material }], secretKvPrefixes: 'salts' },
    ];
    for (const options of cases) {
      const error = rejectsCode(() => new Sealer(options as never, 'alice', 'Test'), 'MTSTORE_INVALID_ARGUMENT');
      expect(error.message).not.toContain(secretText.slice(0, 16));
    }
  });

  it('an option it does not know is InvalidArgumentError naming the nearest one, not silently ignored', () => {
    // A misspelt secretKvPrefixes left every kv value under those prefixes in plaintext with no sign of it.
    const error = rejectsCode(() => new Sealer({ keys: [{ id: 'a', key: material }], secretKvPrefix: ['salts'] } as never, 'alice', 'Test'), 'MTSTORE_INVALID_ARGUMENT');
    expect(error.message).toContain('unknown option "secretKvPrefix"');
    expect(error.message).toContain('did you mean "secretKvPrefixes"');
    const other = rejectsCode(() => new Sealer({ key: material, keys: [{ id: 'a', key: material }] } as never, 'alice', 'Test'), 'MTSTORE_INVALID_ARGUMENT');
    expect(other.message).toContain('did you mean "keys"');
    // A name that may be key material itself is not echoed.
    const secretText = Buffer.from(material).toString('hex');
    const hidden = rejectsCode(() => new Sealer({ keys: [{ id: 'a', key: material }], [secretText]: true } as never, 'alice', 'Test'), 'MTSTORE_INVALID_ARGUMENT');
    expect(hidden.message).not.toContain(secretText.slice(0, 16));
    expect(() => new Sealer({ keys: [{ id: 'a', key: material }], secretKvPrefixes: undefined }, 'alice', 'Test')).not.toThrow();
  });

  it('key text given as bytes (a key file read without an encoding) is named as such, not accepted and not shown', () => {
    const text = `${Buffer.from(material).toString('base64')}\n`;
    for (const bytes of [Buffer.from(text), new TextEncoder().encode(Buffer.from(material).toString('hex'))]) {
      const error = rejectsCode(() => sealer([{ id: 'a', key: bytes }]), 'MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain('hex or base64 text');
      expect(error.message).toContain("readFileSync(path, 'utf8')");
      expect(error.message).not.toContain(text.slice(0, 16));
    }
    // Other wrong lengths keep the plain message.
    expect(rejectsCode(() => sealer([{ id: 'a', key: material.subarray(0, 31) }]), 'MTSTORE_INVALID_ARGUMENT').message).not.toContain('readFileSync');
  });

  it('inspect and JSON of a sealer show key ids only', () => {
    const s = sealer([{ id: 'k1', key: material }]);
    for (const text of [inspect(s, { showHidden: true, depth: 5 }), JSON.stringify({ s })]) {
      expect(text).toContain('k1');
      expect(text).not.toContain(Buffer.from(material).toString('hex').slice(0, 12));
      expect(text).not.toContain(Array.from(material.subarray(0, 6)).join(', '));
    }
  });

  it('openStorage refuses keys in the URL (before loading any adapter) and encryption for an open instance', async () => {
    for (const url of ['memory:?encryptionKey=abc', 'postgres://db/app?secret=x', 'redis://cache?key=abc']) {
      const error = await openStorage(url).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect((error as { code?: string }).code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).not.toContain('abc');
    }
    // openSessionStorage too (server storage has nothing to seal), before the adapter loads.
    let loaded = 0;
    registerAdapter('sealtest', async () => {
      loaded++;
      throw new Error('the adapter was loaded');
    });
    for (const url of ['sealtest://db?encryptionKey=abc', 'sealtest://db?KEY=abc', 'sealtest://db?secret=abc']) {
      const error = await openSessionStorage(url).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect((error as { code?: string }).code, url).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message, url).toContain('never go in the URL');
      expect(error?.message, url).not.toContain('abc');
    }
    expect(loaded).toBe(0);
    const instance = { load: async () => null, save: async () => {}, saveUpdateState: async () => {}, peers: {} } as unknown as Storage;
    await expect(openStorage(instance, { encryption: { keys: [{ id: 'a', key: material }] } })).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
  });
});
