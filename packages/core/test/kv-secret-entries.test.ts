/**
 * kv.entries() says which values are stored sealed (docs/contract.md §4 and §10a):
 * `secret: true` on those, absent on the rest, decided by core from the stored bytes.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../../memory/src/index.js';
import { EncryptionError, type EncryptionOptions, type KeyValueRepository, type StoredKeyValueEntry } from '../src/index.js';

const material = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
const encryption: EncryptionOptions = { keys: [{ id: 'k1', key: material }], secretKvPrefixes: ['salts:'] };
/** A plain value that starts like a sealed one (a storage with encryption seals it). */
const lookalike = Uint8Array.from([...Buffer.from('mtseal'), 1, 1, 65, ...new Uint8Array(28)]);

describe('kv.entries() marks the values stored sealed', () => {
  it('with encryption: secret: true on values set with { secret: true }, under a secret prefix or looking sealed; absent on plain ones', async () => {
    const storage = new MemoryStorage({ name: 'a', encryption });
    await storage.kv.set('marked', Uint8Array.of(1), { secret: true });
    await storage.kv.set('salts:2', Uint8Array.of(2));
    await storage.kv.set('looks', lookalike);
    await storage.kv.set('plain', Uint8Array.of(3));
    await storage.kv.set('unmarked', Uint8Array.of(4), { secret: false });
    const entries = await storage.kv.entries();
    expect(entries).toEqual([
      { key: 'looks', value: lookalike, secret: true },
      { key: 'marked', value: Uint8Array.of(1), secret: true },
      { key: 'plain', value: Uint8Array.of(3) },
      { key: 'salts:2', value: Uint8Array.of(2), secret: true },
      { key: 'unmarked', value: Uint8Array.of(4) },
    ]);
    // Absent, not false (toEqual alone would not tell).
    expect(entries.filter((e) => 'secret' in e).map((e) => e.key)).toEqual(['looks', 'marked', 'salts:2']);
  });

  it('a plain value under a secret prefix (written without encryption) is not marked until it is written again', async () => {
    const store = new MemoryStore();
    await new MemoryStorage({ name: 'a', store }).kv.set('salts:2', Uint8Array.of(5));
    const sealed = new MemoryStorage({ name: 'a', store, encryption });
    expect(await sealed.kv.entries()).toEqual([{ key: 'salts:2', value: Uint8Array.of(5) }]);
    expect('secret' in ((await sealed.kv.entries())[0] ?? {})).toBe(false);
    await sealed.kv.set('salts:2', Uint8Array.of(5));
    expect(await sealed.kv.entries()).toEqual([{ key: 'salts:2', value: Uint8Array.of(5), secret: true }]);
  });

  it('without encryption: { secret: true } stores plain bytes and no entry is marked; a sealed value is EncryptionError missing-key', async () => {
    const store = new MemoryStore();
    const plain = new MemoryStorage({ name: 'a', store });
    await plain.kv.set('marked', Uint8Array.of(1), { secret: true });
    await plain.kv.set('looks', lookalike);
    const entries = await plain.kv.entries();
    expect(entries).toEqual([
      { key: 'looks', value: lookalike },
      { key: 'marked', value: Uint8Array.of(1) },
    ]);
    expect(entries.some((e) => 'secret' in e)).toBe(false);
    await new MemoryStorage({ name: 'a', store, encryption }).kv.set('sealed', Uint8Array.of(2), { secret: true });
    const error = await plain.kv.entries().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EncryptionError);
    expect((error as EncryptionError).reason).toBe('missing-key');
  });

  it('an entry copied with { secret: entry.secret } is stored as the source stored it', async () => {
    const source = new MemoryStorage({ name: 'a', encryption });
    await source.kv.set('marked', Uint8Array.of(1), { secret: true });
    await source.kv.set('plain', Uint8Array.of(2));
    const target = new MemoryStorage({ name: 'b', encryption: { keys: encryption.keys } });
    for (const entry of await source.kv.entries()) await target.kv.set(entry.key, entry.value, { secret: entry.secret });
    expect(await target.kv.entries()).toEqual(await source.kv.entries());
  });

  it("core decides: a repository's own secret field is ignored, and nothing else of its objects is handed out", async () => {
    const storage = new MemoryStorage({ name: 'a', encryption });
    await storage.kv.set('plain', Uint8Array.of(1));
    await storage.kv.set('marked', Uint8Array.of(2), { secret: true });
    // The memory adapter's repository (BaseStorage.storedRepositories of the built core: memory is built on it).
    const repository = (storage as unknown as { kvRepository: KeyValueRepository }).kvRepository;
    const listed = repository.entries.bind(repository);
    // An adapter that marks every entry, and one that marks none, with a field of its own.
    for (const mark of [true, false]) {
      repository.entries = async () => (await listed()).map((e: StoredKeyValueEntry) => ({ ...e, secret: mark, row: 7 }));
      expect(await storage.kv.entries(), `the repository says secret: ${mark}`).toEqual([
        { key: 'marked', value: Uint8Array.of(2), secret: true },
        { key: 'plain', value: Uint8Array.of(1) },
      ]);
    }
  });
});
