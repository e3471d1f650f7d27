/**
 * Byte arguments (auth keys, kv values, a peer's `complete`) are recognised by the typed
 * array's internals (validate.ts bytesLength), not by `instanceof` and a `length` the
 * caller can fake or override: a Proxy of a Uint8Array or an object on
 * Uint8Array.prototype is an InvalidArgumentError (never a raw TypeError), a subclass
 * whose `length` getter lies is judged and copied by its real length, and nothing short
 * or empty is ever stored.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../memory/src/index.js';
import { assertAuthKey, assertKvValue, assertPeer, bytesLength, describeSecret, describeValue, InvalidArgumentError, type Peer, type Session } from '../src/index.js';
import { isPeer } from '../src/validate.js';

const KEY = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
const HEX = Buffer.from(KEY).toString('hex').slice(0, 16);

/** A subclass whose `length` says what it is told, whatever it holds. */
function lying(real: number, claimed: number, fill?: Uint8Array): Uint8Array {
  class Lying extends Uint8Array {
    override get length(): number {
      return claimed;
    }
  }
  const bytes = new Lying(real);
  if (fill !== undefined) bytes.set(fill.subarray(0, real));
  return bytes;
}
const fake = (length: number) => Object.setPrototypeOf({ length }, Uint8Array.prototype) as Uint8Array;
const proxy = (bytes: Uint8Array) => new Proxy(bytes, {});

const session = (authKey: Uint8Array): Session => ({ version: 1, homeDcId: 2, dcs: [{ id: 2, ipv4: '149.154.167.50', port: 443, authKey }], channels: [] });
const peer = (complete: Uint8Array): Peer => ({ type: 'user', id: 1n, accessHash: 1n, usernames: [], updatedAt: 1, complete });

/** The rejection of `promise`, which must be an InvalidArgumentError (memory runs core's build: by its code) that shows no key bytes. */
async function invalid(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'MTSTORE_INVALID_ARGUMENT' });
  expect(inspect(error)).not.toContain(HEX);
}

describe('byte arguments are judged by the typed array internals', () => {
  it('bytesLength: the real length of a Uint8Array, a Buffer or a subclass; -1 for a Proxy, a fake, another typed array or a non-object', () => {
    expect(bytesLength(new Uint8Array(7))).toBe(7);
    expect(bytesLength(Buffer.alloc(9))).toBe(9);
    expect(bytesLength(lying(10, 256))).toBe(10);
    for (const value of [proxy(new Uint8Array(256)), fake(256), new Uint8ClampedArray(3), new Uint16Array(3), new DataView(new ArrayBuffer(4)), [1, 2], 'abc', 5, null, undefined]) {
      expect(bytesLength(value), describeValue(value)).toBe(-1);
    }
  });

  it('the validators and describers reject a Proxy or a fake with InvalidArgumentError, never a raw TypeError', () => {
    for (const value of [proxy(new Uint8Array(KEY)), fake(256), lying(10, 256)]) {
      expect(() => assertAuthKey(value, 'key')).toThrow(InvalidArgumentError);
      expect(() => describeValue(value)).not.toThrow();
      expect(() => describeSecret(value)).not.toThrow();
    }
    for (const value of [proxy(new Uint8Array(3)), fake(1), lying(70_000, 10)]) expect(() => assertKvValue(value, 'value')).toThrow(InvalidArgumentError);
    for (const complete of [proxy(new Uint8Array(3)), fake(1), lying(70_000, 10)]) {
      expect(isPeer(peer(complete))).toBe(false);
      expect(() => assertPeer(peer(complete), 'peer')).toThrow(InvalidArgumentError);
    }
    expect(describeSecret(lying(10, 256))).toBe('Lying(10 bytes)');
    expect(describeSecret(proxy(new Uint8Array(KEY)))).toBe('an object (not shown)');
    expect(describeValue(Buffer.alloc(3))).toBe('Buffer(3 bytes)');
  });

  it('authKeys.set, setTemp, kv.set, save and peers.upsert reject a Proxy, a fake and a short key whose length lies; nothing is stored', async () => {
    const storage = new MemoryStorage({ name: 'bytes' });
    for (const bad of [proxy(new Uint8Array(KEY)), fake(256), lying(10, 256), lying(0, 256)]) {
      await invalid(storage.authKeys.set(2, bad));
      await invalid(storage.authKeys.setTemp(2, { index: 0, key: bad, expiresAt: 5 }));
      await invalid(storage.save(session(bad)));
    }
    for (const bad of [proxy(new Uint8Array(3)), fake(1), lying(70_000, 1)]) {
      await invalid(storage.kv.set('k', bad));
      await invalid(storage.peers.upsert([peer(bad)]));
    }
    expect(await storage.authKeys.get(2)).toBeNull();
    expect(await storage.authKeys.getTemp(2, 0)).toBeNull();
    expect(await storage.load()).toBeNull();
    expect(await storage.kv.get('k')).toBeNull();
    expect(await storage.peers.getById('user', 1n)).toBeNull();
    await storage.close();
  });

  it('a key whose `length` lies but which holds 256 bytes is stored whole, by its real bytes (also sealed)', async () => {
    const encryption = { keys: [{ id: 'k1', key: new Uint8Array(32).fill(7) }] };
    for (const storage of [new MemoryStorage({ name: 'lies' }), new MemoryStorage({ name: 'lies', encryption })]) {
      await storage.authKeys.set(2, lying(256, 10, KEY));
      expect(Buffer.from((await storage.authKeys.get(2)) as Uint8Array).equals(Buffer.from(KEY))).toBe(true);
      await storage.authKeys.setTemp(2, { index: 0, key: lying(256, 300, KEY), expiresAt: 5 });
      expect(Buffer.from((await storage.authKeys.getTemp(2, 0))?.key as Uint8Array).equals(Buffer.from(KEY))).toBe(true);
      await storage.save(session(lying(256, 1, KEY)));
      expect(Buffer.from((await storage.load())?.dcs[0]?.authKey as Uint8Array).equals(Buffer.from(KEY))).toBe(true);
      await storage.kv.set('k', lying(5, 1, KEY), { secret: true });
      expect(Array.from((await storage.kv.get('k')) as Uint8Array)).toEqual(Array.from(KEY.subarray(0, 5)));
      await storage.close();
    }
  });
});
