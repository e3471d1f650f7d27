import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../memory/src/index.js';
import { EncryptionError, isSealed } from '../src/index.js';
import { Sealer, type SealContext } from '../src/seal.js';

const key = (seed: number) => Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + seed) & 0xff);
const encryption = { keys: [{ id: 'k2', key: Buffer.alloc(32, 2) }, { id: 'k1', key: Buffer.alloc(32, 1) }] };

describe('sealing an unchanged value again', () => {
  it('a remembered value is found only at its own place: anywhere else it must open with its associated data', () => {
    const sealer = new Sealer(encryption, 's', 'test');
    const home: SealContext = { kind: 'authKey', dcId: 1, mediaOnly: true, slot: -1 };
    const sealed = sealer.seal(key(1), home);
    expect(Buffer.from(sealer.open(sealed, home, 'home')).equals(Buffer.from(key(1)))).toBe(true);
    // Places that differ in one field each; dcId 1.5 (a corrupt stored id) and the temp kind land
    // next to the home entry in any arithmetic numbering, so none may find the remembered value.
    const elsewhere: SealContext[] = [
      { kind: 'authKey', dcId: 1.5, mediaOnly: false, slot: -1 },
      { kind: 'authKey', dcId: 1, mediaOnly: false, slot: -1 },
      { kind: 'tempAuthKey', dcId: 1, mediaOnly: true, slot: -1 },
      { kind: 'authKey', dcId: 2, mediaOnly: true, slot: -1 },
      { kind: 'authKey', dcId: 1, mediaOnly: true, slot: 0 },
      { kind: 'authKey', dcId: -1, mediaOnly: true, slot: -1 },
      { kind: 'kv', key: 'authKey\u00001\u0000media\u0000-1' },
    ];
    for (const place of elsewhere) expect(() => sealer.open(sealed, place, 'moved'), JSON.stringify(place)).toThrow(EncryptionError);
    // A value sealed at a corrupt DC id is remembered there, by its place string.
    const odd: SealContext = { kind: 'authKey', dcId: 1.5, mediaOnly: false, slot: -1 };
    const oddSealed = sealer.seal(key(2), odd);
    expect(Buffer.from(sealer.seal(key(2), odd)).equals(Buffer.from(oddSealed)), 'unchanged, same place: same bytes').toBe(true);
    expect(() => sealer.open(oddSealed, { kind: 'authKey', dcId: 1, mediaOnly: true, slot: -1 }, 'moved')).toThrow(EncryptionError);
  });

  it('an unchanged key written back by the same instance keeps its sealed bytes; a changed one gets a fresh nonce', async () => {
    const storage = new MemoryStorage({ name: 's', encryption } as never);
    const session = { version: 1 as const, homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: key(1) }], channels: [] };
    const raw = async () => Buffer.from((await (storage as unknown as { authKeyRepository: { get(dc: number): Promise<Uint8Array> } }).authKeyRepository.get(2)));
    await storage.save(session);
    const first = await raw();
    await storage.save(session);
    expect((await raw()).equals(first), 'unchanged key, same instance: same sealed bytes').toBe(true);
    await storage.save({ ...session, dcs: [{ id: 2, port: 443, authKey: key(2) }] });
    const changed = await raw();
    expect(changed.equals(first)).toBe(false);
    await storage.save({ ...session, dcs: [{ id: 2, port: 443, authKey: key(1) }] });
    const back = await raw();
    expect(back.subarray(8, 22).equals(first.subarray(8, 22)), 'a value written again after another one gets a fresh nonce').toBe(false);
    expect(Buffer.from((await storage.authKeys.get(2)) as Uint8Array).equals(Buffer.from(key(1)))).toBe(true);
  });

  it('a value opened under an older key is sealed again with the write key, not reused', async () => {
    const old = new MemoryStorage({ name: 's', encryption: { keys: [{ id: 'k1', key: Buffer.alloc(32, 1) }] } } as never);
    await old.authKeys.set(2, key(3));
    const store = (old as unknown as { store: unknown }).store;
    const rotated = new MemoryStorage({ name: 's', store, encryption } as never);
    expect(Buffer.from((await rotated.authKeys.get(2)) as Uint8Array).equals(Buffer.from(key(3)))).toBe(true);
    await rotated.authKeys.set(2, key(3));
    const sealed = Buffer.from(await (rotated as unknown as { authKeyRepository: { get(dc: number): Promise<Uint8Array> } }).authKeyRepository.get(2));
    expect(sealed.subarray(8, 10).toString('latin1')).toBe('k2');
  });

  it('the keys of a session are sealed and opened together: each in its place, in memory no other value shares', async () => {
    const storage = new MemoryStorage({ name: 's', encryption } as never);
    const dcs = [
      { id: 1, port: 443, authKey: key(1) },
      { id: 2, port: 443, authKey: key(2), tempAuthKeys: [{ index: 0, key: key(3), expiresAt: 10 }, { index: 5, key: key(4), expiresAt: 20 }] },
      { id: 2, port: 443, mediaOnly: true, authKey: key(5) },
    ];
    const session = { version: 1 as const, homeDcId: 2, dcs, channels: [] };
    await storage.save(session);
    // The caller's keys are read, never written: sealing builds its own copies.
    expect(Buffer.from(dcs[0]!.authKey).equals(Buffer.from(key(1)))).toBe(true);
    for (const fresh of [storage, new MemoryStorage({ name: 's', store: (storage as unknown as { store: unknown }).store, encryption } as never)]) {
      // A second instance opens with nothing remembered (decrypts); the first answers from what it sealed.
      const loaded = await fresh.load();
      const keys = [loaded!.dcs[0]!.authKey!, loaded!.dcs[1]!.authKey!, loaded!.dcs[1]!.tempAuthKeys![0]!.key, loaded!.dcs[1]!.tempAuthKeys![1]!.key, loaded!.dcs[2]!.authKey!];
      keys.forEach((k, i) => expect(Buffer.from(k).equals(Buffer.from(key(i + 1))), `key ${i + 1}`).toBe(true));
      // One buffer holding this session's five keys and nothing else (not a slice of Node's shared pool).
      for (const k of keys) expect(k.buffer.byteLength).toBe(5 * 256);
    }
    const single = await storage.authKeys.get(2);
    expect(single!.buffer.byteLength).toBe(256);
  });

  it('sealed bytes handed to the adapter are copies: changing them does not change what the instance remembers', async () => {
    const storage = new MemoryStorage({ name: 's', encryption } as never);
    const session = { version: 1 as const, homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: key(1) }], channels: [] };
    await storage.save(session);
    const repo = (storage as unknown as { authKeyRepository: { get(dc: number): Promise<Uint8Array> } }).authKeyRepository;
    const stored = await repo.get(2);
    stored.fill(0);
    await storage.save(session);
    const again = await repo.get(2);
    expect(isSealed(again)).toBe(true);
    expect(Buffer.from((await storage.authKeys.get(2)) as Uint8Array).equals(Buffer.from(key(1)))).toBe(true);
  });
});

describe('keys opened on load', () => {
  const session = (keys: Uint8Array[]) => ({
    version: 1 as const,
    homeDcId: 1,
    dcs: keys.map((authKey, i) => ({ id: i + 1, port: 443, authKey })),
    channels: [],
  });

  it('are the caller\'s own: changing a loaded key changes neither the store nor the next load', async () => {
    const storage = new MemoryStorage({ name: 's', encryption } as never);
    await storage.save(session([key(1), key(2)]));
    for (let round = 0; round < 2; round++) {
      const loaded = (await storage.load())!;
      const keys = loaded.dcs.map((dc) => dc.authKey!);
      keys.forEach((k, i) => {
        expect(String(k), 'redacted').toBe('[redacted auth key: 256 bytes]');
        expect(Buffer.from(k).equals(Buffer.from(key(i + 1))), `round ${round}, key ${i + 1}`).toBe(true);
        k.fill(0);
      });
    }
    const other = new MemoryStorage({ name: 's', store: (storage as unknown as { store: unknown }).store, encryption } as never);
    expect(Buffer.from((await other.load())!.dcs[1]!.authKey!).equals(Buffer.from(key(2)))).toBe(true);
  });
});
