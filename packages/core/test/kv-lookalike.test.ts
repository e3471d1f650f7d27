import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../../memory/src/index.js';
import { EncryptionError, type EncryptionOptions } from '../src/index.js';

const material = Uint8Array.from({ length: 32 }, (_, i) => i * 5 + 3);
const encryption: EncryptionOptions = { keys: [{ id: 'k1', key: material }] };
const magic = [...Buffer.from('mtseal')];

/** Plain values that start like a sealed or escaped one: a valid sealed header, escapes, short ones. */
const lookalikes: [string, Uint8Array][] = [
  ['a valid sealed header (version 1, key id "A")', Uint8Array.from([...magic, 1, 1, 65, ...new Uint8Array(28)])],
  ['a valid sealed header naming the configured key', Uint8Array.from([...magic, 1, 2, 107, 49, ...new Uint8Array(40)])],
  ['the escape form (version 0)', Uint8Array.from([...magic, 0, 1, 2, 3])],
  ['an escape of an escape', Uint8Array.from([...magic, 0, ...magic, 0, 9])],
  ['a malformed header', Uint8Array.from([...magic, 1, 0, ...new Uint8Array(40)])],
  ['another version', Uint8Array.from([...magic, 2, 7])],
  ['the magic alone', Uint8Array.from(magic)],
  ['the magic and version 1 alone', Uint8Array.from([...magic, 1])],
];

async function roundTrips(writer: MemoryStorage, readers: MemoryStorage[]): Promise<void> {
  for (const [i, [, value]] of lookalikes.entries()) await writer.kv.set(`v${i}`, value);
  await writer.kv.set('plain', Uint8Array.of(1, 2, 3));
  for (const reader of readers) {
    for (const [i, [what, value]] of lookalikes.entries()) expect(await reader.kv.get(`v${i}`), what).toEqual(value);
    const entries = await reader.kv.entries();
    expect(entries.map((e) => e.value)).toEqual([Uint8Array.of(1, 2, 3), ...lookalikes.map(([, v]) => v)]);
  }
}

describe('kv values that start like a sealed value (docs/contract.md §10a)', () => {
  it('read back as written on a storage without encryption, by instances with and without it', async () => {
    const store = new MemoryStore();
    const plain = new MemoryStorage({ name: 'a', store });
    await roundTrips(plain, [plain, new MemoryStorage({ name: 'a', store }), new MemoryStorage({ name: 'a', store, encryption })]);
  });

  it('read back as written on a storage with encryption, by instances with it', async () => {
    const store = new MemoryStore();
    const sealed = new MemoryStorage({ name: 'a', store, encryption });
    await roundTrips(sealed, [sealed, new MemoryStorage({ name: 'a', store, encryption })]);
  });

  it('are never stored starting with the sealed magic and version 1 without encryption', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 'a', store });
    for (const [i, [, value]] of lookalikes.entries()) await storage.kv.set(`v${i}`, value);
    const stored = [...(store.clients.get('a')?.kv ?? new Map<string, Uint8Array>())];
    expect(stored.length).toBe(lookalikes.length);
    for (const [key, value] of stored) expect(Buffer.from(value.subarray(0, 7)).equals(Buffer.from([...magic, 0])), key).toBe(true);
  });

  it('a value sealed earlier and read without encryption is still EncryptionError missing-key', async () => {
    const store = new MemoryStore();
    await new MemoryStorage({ name: 'a', store, encryption }).kv.set('s', Uint8Array.of(1, 2, 3), { secret: true });
    const error = await new MemoryStorage({ name: 'a', store }).kv.get('s').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EncryptionError);
    expect((error as EncryptionError).reason).toBe('missing-key');
    expect((error as EncryptionError).keyId).toBe('k1');
  });

  it('the escaped form is "mtseal" 0x00 and the value; read from a driver Buffer, the value is a copy', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 'a', store });
    await storage.kv.set('x', Uint8Array.from([...magic, 1, 9]));
    const kv = store.clients.get('a')?.kv as Map<string, Uint8Array>;
    expect(Array.from(kv.get('x') as Uint8Array)).toEqual([...magic, 0, ...magic, 1, 9]);
    const driver = Buffer.from(kv.get('x') as Uint8Array);
    kv.set('x', driver);
    const value = (await storage.kv.get('x')) as Uint8Array;
    expect(Array.from(value)).toEqual([...magic, 1, 9]);
    driver.fill(0);
    expect(Array.from(value)).toEqual([...magic, 1, 9]);
  });
});
