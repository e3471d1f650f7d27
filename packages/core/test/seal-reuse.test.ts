import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../memory/src/index.js';

const key = (seed: number) => Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + seed) & 0xff);
const encryption = { keys: [{ id: 'k2', key: Buffer.alloc(32, 2) }, { id: 'k1', key: Buffer.alloc(32, 1) }] };

describe('sealing an unchanged value again', () => {
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
});
