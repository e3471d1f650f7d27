import { describe, expect, it } from 'vitest';
import { MemoryStorage, MemoryStore } from '../../memory/src/index.js';
import { entryKeyId } from '../../memory/src/store.js';
import { sealedKeyId, type Session } from '../src/index.js';
import { Sealer } from '../src/seal.js';

// Sealer remembers the last session it sealed or opened whole, to answer a save or load
// of the same keys with one comparison (Sealer.sealKeys / openKeys). These check that it
// answers only what sealing or opening each key would: never a remembered value for
// changed bytes, a moved value or a place another write has changed since.

const key = (seed: number) => Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + seed) & 0xff);
const encryption = { keys: [{ id: 'k2', key: Buffer.alloc(32, 2) }, { id: 'k1', key: Buffer.alloc(32, 1) }] };
const NONCE = [10, 22] as const; // "mtseal", version, id length, "k2": the nonce follows

function session(keys: Uint8Array[]): Session {
  return {
    version: 1,
    homeDcId: 2,
    dcs: [
      { id: 1, port: 443, authKey: keys[0] },
      { id: 2, port: 443, authKey: keys[1], tempAuthKeys: [{ index: 0, key: keys[2] as Uint8Array, expiresAt: 10 }, { index: 3, key: keys[3] as Uint8Array, expiresAt: 20 }] },
      { id: 4, port: 443, authKey: keys[4] },
    ],
    channels: [],
  };
}

const fiveKeys = () => [1, 2, 3, 4, 5].map(key);
/** The bytes the store holds for a session's permanent key of `dcId` (what the adapter was handed). */
const stored = (store: MemoryStore, name: string, dcId: number) => store.clients.get(name)!.keys.get(entryKeyId(dcId, false))!.key!;
const storedTemp = (store: MemoryStore, name: string, dcId: number, index: number) => store.clients.get(name)!.keys.get(entryKeyId(dcId, false))!.temps.get(index)!.key;
const nonce = (bytes: Uint8Array) => Buffer.from(bytes.subarray(...NONCE));
const keysOf = (loaded: Session) => [loaded.dcs[0]!.authKey!, loaded.dcs[1]!.authKey!, loaded.dcs[1]!.tempAuthKeys![0]!.key, loaded.dcs[1]!.tempAuthKeys![1]!.key, loaded.dcs[2]!.authKey!];
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('a session sealed or opened again whole', () => {
  it('a key changed through authKeys.set between two saves of the same session is sealed with a fresh nonce', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 's', store, encryption });
    const s = session(fiveKeys());
    await storage.save(s);
    const first = nonce(stored(store, 's', 2));
    const firstOne = nonce(stored(store, 's', 1));
    await storage.save(s);
    expect(nonce(stored(store, 's', 2)).equals(first), 'unchanged: same bytes').toBe(true);
    await storage.authKeys.set(2, key(9));
    await storage.save(s);
    expect(nonce(stored(store, 's', 2)).equals(first), 'written back after another value: a fresh nonce').toBe(false);
    // The other keys did not change: they keep their bytes.
    expect(nonce(stored(store, 's', 1)).equals(firstOne)).toBe(true);
    const loaded = (await new MemoryStorage({ name: 's', store, encryption }).load())!;
    keysOf(loaded).forEach((k, i) => expect(same(k, key(i + 1)), `key ${i + 1}`).toBe(true));
  });

  it('a session whose key array the caller changed in place after saving is sealed anew', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 's', store, encryption });
    const keys = fiveKeys();
    const s = session(keys);
    await storage.save(s);
    const first = nonce(storedTemp(store, 's', 2, 3));
    keys[3]!.fill(9);
    await storage.save(s);
    expect(nonce(storedTemp(store, 's', 2, 3)).equals(first)).toBe(false);
    const loaded = (await new MemoryStorage({ name: 's', store, encryption }).load())!;
    expect(same(keysOf(loaded)[3]!, new Uint8Array(256).fill(9))).toBe(true);
    expect(same(keysOf(loaded)[0]!, key(1))).toBe(true);
  });

  it('the sealed bytes a save hands the adapter are its own: changing them changes nothing the next save writes', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 's', store, encryption });
    const s = session(fiveKeys());
    await storage.save(s);
    await storage.save(s);
    // What the memory adapter keeps is exactly what the save handed it.
    stored(store, 's', 1).fill(0);
    storedTemp(store, 's', 2, 0).fill(0);
    await storage.save(s);
    const loaded = (await new MemoryStorage({ name: 's', store, encryption }).load())!;
    keysOf(loaded).forEach((k, i) => expect(same(k, key(i + 1)), `key ${i + 1}`).toBe(true));
  });

  it('a load after another instance changed one key returns that key, not the remembered one', async () => {
    const store = new MemoryStore();
    const a = new MemoryStorage({ name: 's', store, encryption });
    const b = new MemoryStorage({ name: 's', store, encryption });
    await a.save(session(fiveKeys()));
    expect(keysOf((await a.load())!).every((k, i) => same(k, key(i + 1)))).toBe(true);
    const changed = fiveKeys();
    changed[2] = key(7);
    await b.save(session(changed));
    for (let round = 0; round < 2; round++) {
      const keys = keysOf((await a.load())!);
      keys.forEach((k, i) => expect(same(k, i === 2 ? key(7) : key(i + 1)), `round ${round}, key ${i + 1}`).toBe(true));
    }
  });

  it('two stored keys swapped between places do not open, though the instance remembers both values', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 's', store, encryption });
    await storage.save(session(fiveKeys()));
    await storage.load();
    const one = stored(store, 's', 1);
    const four = stored(store, 's', 4);
    const copyOne = Uint8Array.from(one);
    one.set(four);
    four.set(copyOne);
    // (MemoryStorage runs on the built core: its EncryptionError is another class object than ../src's.)
    await expect(storage.load()).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', reason: 'does-not-open' });
  });

  it('keys loaded from the remembered session are the caller\'s own, and a save of them keeps the stored bytes', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 's', store, encryption });
    await storage.save(session(fiveKeys()));
    const before = nonce(stored(store, 's', 4));
    const loaded = (await storage.load())!;
    await storage.save(loaded);
    expect(nonce(stored(store, 's', 4)).equals(before), 'loaded and saved back unchanged: same bytes').toBe(true);
    for (const k of keysOf(loaded)) k.fill(0);
    const again = (await storage.load())!;
    keysOf(again).forEach((k, i) => expect(same(k, key(i + 1)), `key ${i + 1}`).toBe(true));
    // Saving the zeroed keys seals them anew.
    await storage.save(loaded);
    expect(nonce(stored(store, 's', 4)).equals(before)).toBe(false);
    expect(keysOf((await new MemoryStorage({ name: 's', store, encryption }).load())!).every((k) => same(k, new Uint8Array(256)))).toBe(true);
  });

  it('the same keys saved at other places are sealed for those places, not written back as remembered', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ name: 's', store, encryption });
    await storage.save(session(fiveKeys()));
    const moved = session(fiveKeys());
    moved.dcs[0]!.id = 3;
    moved.dcs[1]!.tempAuthKeys![1]!.index = 4;
    await storage.save(moved);
    const loaded = (await new MemoryStorage({ name: 's', store, encryption }).load())!;
    expect(loaded.dcs.map((dc) => dc.id)).toEqual([3, 2, 4]);
    keysOf(loaded).forEach((k, i) => expect(same(k, key(i + 1)), `key ${i + 1}`).toBe(true));
    expect(loaded.dcs[1]!.tempAuthKeys![1]!.index).toBe(4);
  });

  it('a session opened under an older key is sealed again with the write key on save, not written back as read', async () => {
    const store = new MemoryStore();
    const old = new MemoryStorage({ name: 's', store, encryption: { keys: [{ id: 'k1', key: Buffer.alloc(32, 1) }] } });
    await old.save(session(fiveKeys()));
    const rotated = new MemoryStorage({ name: 's', store, encryption });
    const loaded = (await rotated.load())!;
    await rotated.save(loaded);
    expect(Buffer.from(stored(store, 's', 1).subarray(8, 10)).toString('latin1')).toBe('k2');
    expect(Buffer.from(storedTemp(store, 's', 2, 3).subarray(8, 10)).toString('latin1')).toBe('k2');
  });

  // A load of the session this instance last saved is answered place for place from
  // memory (Sealer.reopenSession). Values with their bytes unchanged but read back at
  // another place must still be opened there, and fail, as opening each would.
  describe('sealed bytes unchanged, read back at another place', () => {
    const saved = async () => {
      const store = new MemoryStore();
      const storage = new MemoryStorage({ name: 's', store, encryption });
      await storage.save(session(fiveKeys()));
      // Loaded once from memory: the next load is the remembered-session path's.
      expect(keysOf((await storage.load())!).every((k, i) => same(k, key(i + 1)))).toBe(true);
      return { store, storage, entry: store.clients.get('s')! };
    };
    const rejects = (storage: MemoryStorage) => expect(storage.load()).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', reason: 'does-not-open' });

    it('at another DC id', async () => {
      const { storage, entry } = await saved();
      entry.snapshot!.dcs[0]!.id = 3;
      entry.keys.set(entryKeyId(3, false), entry.keys.get(entryKeyId(1, false))!);
      entry.keys.delete(entryKeyId(1, false));
      await rejects(storage);
    });

    it('in the media-only entry of its DC', async () => {
      const { storage, entry } = await saved();
      entry.snapshot!.dcs[2]!.mediaOnly = true;
      entry.keys.set(entryKeyId(4, true), entry.keys.get(entryKeyId(4, false))!);
      entry.keys.delete(entryKeyId(4, false));
      await rejects(storage);
    });

    it('in another temp key slot', async () => {
      const { storage, entry } = await saved();
      const temps = entry.keys.get(entryKeyId(2, false))!.temps;
      const temp = temps.get(3)!;
      temps.delete(3);
      temps.set(4, { ...temp, index: 4 });
      await rejects(storage);
    });

    it('as the permanent key of a DC whose temp key it was', async () => {
      const { storage, entry } = await saved();
      const keys = entry.keys.get(entryKeyId(2, false))!;
      keys.key = keys.temps.get(0)!.key;
      keys.temps.delete(0);
      await rejects(storage);
    });

    it('as a permanent key, in the same order of bytes and DC ids as saved', async () => {
      // An adapter that reads DC 2's last temp key back as the permanent key of a second
      // DC 2 entry: every value, DC id and entry in the order saved, only the slot differs.
      class Reshaped extends MemoryStorage {
        protected override async readSession(): Promise<Session | null> {
          const read = (await super.readSession())!;
          const dc2 = read.dcs[1]!;
          const last = dc2.tempAuthKeys!.pop()!;
          read.dcs.splice(2, 0, { id: 2, authKey: last.key });
          return read;
        }
      }
      const store = new MemoryStore();
      const storage = new Reshaped({ name: 's', store, encryption });
      await storage.save(session(fiveKeys()));
      await rejects(storage);
    });
  });

  it('a key deleted or added by another instance between two loads is gone or there on the next', async () => {
    const store = new MemoryStore();
    const a = new MemoryStorage({ name: 's', store, encryption });
    const b = new MemoryStorage({ name: 's', store, encryption });
    await a.save(session(fiveKeys()));
    await a.load();
    await b.authKeys.delete(4);
    let loaded = (await a.load())!;
    expect(loaded.dcs[2]!.authKey).toBeUndefined();
    expect(keysOf(loaded).slice(0, 4).every((k, i) => same(k, key(i + 1)))).toBe(true);
    await a.save(session(fiveKeys()));
    await a.load();
    await b.authKeys.set(5, key(8));
    loaded = (await a.load())!;
    expect(same(loaded.dcs.find((dc) => dc.id === 5)!.authKey!, key(8))).toBe(true);
    expect(keysOf(loaded).every((k, i) => same(k, key(i + 1)))).toBe(true);
  });
});

// A load that opens a session key by key (another instance, say another process, saved
// it) remembers it as a save does (Sealer.openKeys), but only when every key is sealed
// with the write key: a save hands a remembered session's sealed bytes back as they are.
describe('a session another instance saved, opened whole', () => {
  /** session()'s five places in the order a save or load lists them (DC id, media-only, slot). */
  const WHERE = [1, 0, -1, 2, 0, -1, 2, 0, 0, 2, 0, 3, 4, 0, -1];
  const oldKeyOnly = { keys: [{ id: 'k1', key: Buffer.alloc(32, 1) }] };
  const copies = (values: Uint8Array[]) => values.map((v) => Uint8Array.from(v));
  const what = (i: number) => `key ${i}`;

  it('is remembered: the next load and a save of it unchanged are answered with its plaintexts and stored bytes', () => {
    const sealed = new Sealer(encryption, 's', 'writer').sealKeys(fiveKeys(), WHERE);
    const reader = new Sealer(encryption, 's', 'reader');
    reader.openKeys(copies(sealed), WHERE, what).forEach((k, i) => expect(same(k, key(i + 1)), `opened key ${i + 1}`).toBe(true));
    const read = session(copies(sealed));
    const reopened = reader.reopenSession(read.dcs);
    expect(reopened, 'the next load: from memory').toBeDefined();
    keysOf(read).forEach((k, i) => expect(same(k, key(i + 1)), `reopened key ${i + 1}`).toBe(true));
    const saved = session(fiveKeys());
    expect(reader.resealSession(saved.dcs), 'a save of the same keys: from memory').toBe(true);
    keysOf(saved).forEach((k, i) => expect(same(k, sealed[i]!), `saved key ${i + 1}: the stored bytes`).toBe(true));
    // What it hands a save opens where it belongs, for an instance that remembers nothing.
    new Sealer(encryption, 's', 'third').openKeys(keysOf(saved), WHERE, what).forEach((k, i) => expect(same(k, key(i + 1))).toBe(true));
  });

  it('is not remembered when its keys are sealed with an older key: a save seals each again with the write key', () => {
    const old = new Sealer(oldKeyOnly, 's', 'old').sealKeys(fiveKeys(), WHERE);
    const reader = new Sealer(encryption, 's', 'reader');
    reader.openKeys(copies(old), WHERE, what).forEach((k, i) => expect(same(k, key(i + 1))).toBe(true));
    expect(reader.reopenSession(session(copies(old)).dcs)).toBeUndefined();
    expect(reader.resealSession(session(fiveKeys()).dcs)).toBe(false);
    const resealed = reader.sealKeys(fiveKeys(), WHERE);
    resealed.forEach((v, i) => expect(sealedKeyId(v), `key ${i + 1}`).toBe('k2'));
  });

  it('is not remembered when some of its keys are sealed with the write key and some with an older one', () => {
    const current = new Sealer(encryption, 's', 'writer').sealKeys(fiveKeys(), WHERE);
    const old = new Sealer(oldKeyOnly, 's', 'old').sealKeys(fiveKeys(), WHERE);
    // The first key current, the last old: neither end alone decides.
    const mixed = current.map((v, i) => (i % 2 === 0 && i < 4 ? v : (old[i] as Uint8Array)));
    const reader = new Sealer(encryption, 's', 'reader');
    reader.openKeys(copies(mixed), WHERE, what).forEach((k, i) => expect(same(k, key(i + 1))).toBe(true));
    expect(reader.reopenSession(session(copies(mixed)).dcs)).toBeUndefined();
    expect(reader.resealSession(session(fiveKeys()).dcs)).toBe(false);
    const resealed = reader.sealKeys(fiveKeys(), WHERE);
    resealed.forEach((v, i) => {
      expect(sealedKeyId(v), `key ${i + 1}`).toBe('k2');
      // A key already under the write key is written back as read; an old one is sealed anew.
      expect(same(v, mixed[i]!), `key ${i + 1}`).toBe(i % 2 === 0 && i < 4);
    });
  });

  it('through storages: a reader saving what it loaded writes every key under the write key, keeping those that were', async () => {
    const store = new MemoryStore();
    await new MemoryStorage({ name: 's', store, encryption: oldKeyOnly }).save(session(fiveKeys()));
    // Another instance with the new keys rewrites DC 1's permanent key only: the session is mixed.
    await new MemoryStorage({ name: 's', store, encryption }).authKeys.set(1, key(1));
    const one = Uint8Array.from(stored(store, 's', 1));
    expect(sealedKeyId(one)).toBe('k2');
    expect(sealedKeyId(stored(store, 's', 4))).toBe('k1');
    const reader = new MemoryStorage({ name: 's', store, encryption });
    const loaded = (await reader.load())!;
    await reader.save(loaded);
    expect(same(stored(store, 's', 1), one), 'already under the write key: the same bytes').toBe(true);
    for (const v of [stored(store, 's', 2), storedTemp(store, 's', 2, 0), storedTemp(store, 's', 2, 3), stored(store, 's', 4)]) expect(sealedKeyId(v)).toBe('k2');
    // A second save of the same keys by the reader (remembered now) writes the same bytes again.
    const four = Uint8Array.from(stored(store, 's', 4));
    await reader.save(loaded);
    expect(same(stored(store, 's', 4), four)).toBe(true);
    keysOf((await new MemoryStorage({ name: 's', store, encryption }).load())!).forEach((k, i) => expect(same(k, key(i + 1)), `key ${i + 1}`).toBe(true));
  });

  it('a key another instance changes after the reader\'s remembered load is read as changed, never as remembered', async () => {
    const store = new MemoryStore();
    const writer = new MemoryStorage({ name: 's', store, encryption });
    const reader = new MemoryStorage({ name: 's', store, encryption });
    await writer.save(session(fiveKeys()));
    // Loaded twice: key by key, then from the session the first load remembered.
    for (let round = 0; round < 2; round++) expect(keysOf((await reader.load())!).every((k, i) => same(k, key(i + 1)))).toBe(true);
    const changed = fiveKeys();
    changed[2] = key(7);
    await writer.save(session(changed));
    for (let round = 0; round < 2; round++) {
      keysOf((await reader.load())!).forEach((k, i) => expect(same(k, i === 2 ? key(7) : key(i + 1)), `round ${round}, key ${i + 1}`).toBe(true));
    }
    // One key through authKeys.set, the single-key path.
    await writer.authKeys.set(4, key(8));
    for (let round = 0; round < 2; round++) {
      keysOf((await reader.load())!).forEach((k, i) => expect(same(k, i === 2 ? key(7) : i === 4 ? key(8) : key(i + 1)), `after set, round ${round}, key ${i + 1}`).toBe(true));
    }
    // The reader saving its first keys back seals the two changed ones anew, under their places.
    await reader.save(session(fiveKeys()));
    keysOf((await new MemoryStorage({ name: 's', store, encryption }).load())!).forEach((k, i) => expect(same(k, key(i + 1)), `saved back, key ${i + 1}`).toBe(true));
  });
});
