import { describe, expect, it } from 'vitest';
import {
  assertAuthKey,
  assertHost,
  assertKvKey,
  assertKvValue,
  assertPeer,
  assertSession,
  assertSessionUpdate,
  describeSecret,
  InvalidArgumentError,
  mergePeer,
  normalizePeerBatch,
  type Peer,
  type Session,
} from '../src/index.js';

const base = (): Session => ({ version: 1, homeDcId: 2, dcs: [{ id: 2, port: 443 }], channels: [] });
const message = (call: () => void): string => {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('did not throw');
};

describe('contract v2 validation', () => {
  it('hosts: DNS names only, not addresses or labels with bad hyphens', () => {
    // Digits may start or end a name that is not all digits; 253 characters is the longest name.
    const longest = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    for (const ok of ['vesta.web.telegram.org', 'a', 'a-b.c', 'x'.repeat(63), 'zws2-1.web.telegram.org', '1e100.net', 'redis-2', longest]) expect(() => assertHost(ok, 'host'), ok).not.toThrow();
    expect(() => assertHost(`${longest}d`, 'host')).toThrow(InvalidArgumentError);
    for (const bad of ['', 'a..b', '-a.b', 'a-.b', 'a b', '1.2.3.4', '149.154.167.51', 'x'.repeat(64), `${'a.'.repeat(127)}a`, 'a_b.c', 5]) {
      expect(() => assertHost(bad, 'host'), String(bad)).toThrow(InvalidArgumentError);
    }
  });

  it('a DC entry may hold only keys, but an address needs its port', () => {
    expect(() => assertSession({ ...base(), dcs: [{ id: 2, port: 443 }, { id: 4 }] })).not.toThrow();
    expect(() => assertSession({ ...base(), dcs: [{ id: 2, host: 'a.b' }] as never })).toThrow('session.dcs[0].port must be a port when an address is given');
    expect(() => assertSession({ ...base(), dcs: [{ id: 2, ipv4: '1.2.3.4' }] as never })).toThrow(InvalidArgumentError);
  });

  it('DCs: one main entry per id, IPv4 addresses as dotted-quad strings only', () => {
    const dc = { id: 2, ipv4: '149.154.167.51', port: 443 };
    expect(message(() => assertSession({ ...base(), dcs: [dc, { id: 2 }] }))).toBe('session.dcs[1] must be the only main entry for DC 2, got number 2');
    expect(message(() => assertSession({ ...base(), dcs: [{ ...dc, ipv4: '256.1.1.1' }] }))).toBe('session.dcs[0].ipv4 must be a dotted-quad IPv4 address, got string "256.1.1.1"');
    // A regular expression tests any value as its String(): this list reads "149.154.167.51".
    expect(message(() => assertSession({ ...base(), dcs: [{ ...dc, ipv4: ['149.154.167.51'] }] as never }))).toBe('session.dcs[0].ipv4 must be a dotted-quad IPv4 address, got an array of 1');
  });

  it('self usernames are a list of unique (case-insensitive) usernames; premium a boolean', () => {
    const user = { id: 1n, dcId: 2, bot: false };
    expect(() => assertSession({ ...base(), user: { ...user, usernames: ['A', 'b'], premium: true } })).not.toThrow();
    expect(message(() => assertSession({ ...base(), user: { ...user, usernames: ['Ab', 'aB'] } }))).toBe(
      'session.user.usernames[1] must be unique (case-insensitively) in the list, got string "aB"',
    );
    expect(() => assertSession({ ...base(), user: { ...user, premium: 'no' } as never })).toThrow(InvalidArgumentError);
  });

  it('update patches: known fields only, homeDcId with dcs, no keys in dcs, state and channels checked', () => {
    expect(() => assertSessionUpdate({ user: null })).not.toThrow();
    expect(() => assertSessionUpdate({ homeDcId: 2, dcs: [{ id: 2, port: 443 }] })).not.toThrow();
    expect(message(() => assertSessionUpdate({}))).toBe('patch must be a patch with at least one field, got an object');
    expect(message(() => assertSessionUpdate({ homeDcId: 2 }))).toBe('patch.dcs must be given together with homeDcId and dcs, got undefined');
    expect(message(() => assertSessionUpdate({ peers: [] } as never))).toBe('patch.peers must be absent (not a field update() can change), got an array of 0');
    expect(() => assertSessionUpdate({ state: null, channels: [] })).not.toThrow();
    expect(() => assertSessionUpdate({ state: { pts: 1, qts: 2, date: 3, seq: 4 }, channels: [{ id: -1n, pts: 5 }] })).not.toThrow();
    expect(message(() => assertSessionUpdate({ state: { pts: 1, qts: 2, date: Date.now(), seq: 4 } }))).toMatch(/^patch\.state\.date must be/);
    expect(message(() => assertSessionUpdate({ channels: null as never }))).toBe('patch.channels must be an array, got null');
    expect(message(() => assertSessionUpdate({ channels: [{ id: 1n, pts: 1 }, { id: 1n, pts: 2 }] }))).toBe('patch.channels[1].id must be unique in the list, got 1n');
    expect(message(() => assertSessionUpdate({ homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: new Uint8Array(256).fill(0xab) }] }))).toBe(
      'patch.dcs[0] carries authKey: update() takes DC addresses only (id, ipv4, ipv6, port, mediaOnly); write keys through authKeys.set / authKeys.setTemp, or save() the whole session',
    );
    const temps = message(() => assertSessionUpdate({ homeDcId: 2, dcs: [{ id: 2, port: 443 }, { id: 2, port: 443, mediaOnly: true, tempAuthKeys: [{ index: 0, key: new Uint8Array(256).fill(0xab), expiresAt: 1 }] }] }));
    expect(temps).toMatch(/^patch\.dcs\[1\] carries tempAuthKeys: update\(\) takes DC addresses only/);
    expect(message(() => assertSessionUpdate({ homeDcId: 2, dcs: [{ id: 2, port: 443, authKey: new Uint8Array(256), tempAuthKeys: [] }] }))).toMatch(/carries authKey and tempAuthKeys:/);
    expect(temps, "no key bytes").not.toMatch(/171|0xab|abab|got /i);
    expect(() => assertSessionUpdate({ homeDcId: 3, dcs: [{ id: 2, port: 443 }] })).toThrow('patch.homeDcId must be the id of one of patch.dcs');
  });

  it('kv keys and values', () => {
    for (const ok of ['a', 'pts:-100123', 'x'.repeat(255), '~!']) expect(() => assertKvKey(ok, 'key')).not.toThrow();
    for (const bad of ['', ' ', 'a b', 'x'.repeat(256), 'é', 'a\nb', 1]) expect(() => assertKvKey(bad, 'key'), JSON.stringify(bad)).toThrow(InvalidArgumentError);
    // Short keys are checked by a char loop, long ones (over 32 chars) by a regex: both must agree with the rule at every edge.
    const rule = (key: string): boolean => /^[\x21-\x7e]{1,255}$/.test(key);
    const keys: string[] = [];
    for (const length of [1, 2, 31, 32, 33, 34, 254, 255, 256]) {
      for (const code of [0x20, 0x21, 0x7e, 0x7f, 0xe9, 0x2028]) {
        for (const at of [0, length >> 1, length - 1]) keys.push('k'.repeat(at) + String.fromCharCode(code) + 'k'.repeat(length - at - 1));
      }
    }
    let valid = 0;
    for (const key of keys) {
      const what = `${key.length} chars, ${JSON.stringify(key.replace(/k/g, ''))} at ${key.search(/[^k]/)}`;
      if (rule(key)) {
        valid++;
        expect(() => assertKvKey(key, 'key'), what).not.toThrow();
      } else expect(() => assertKvKey(key, 'key'), what).toThrow(InvalidArgumentError);
    }
    expect(valid).toBe(8 * 2 * 3);
    expect(() => assertKvValue(new Uint8Array(65_536), 'value')).not.toThrow();
    expect(message(() => assertKvValue(new Uint8Array(65_537), 'value'))).toBe('value must be a Uint8Array of at most 65536 bytes, got Uint8Array(65537 bytes)');
  });

  it('secret fields describe a wrong value by type and size only, whatever it is', () => {
    const hex = 'ab'.repeat(256);
    expect(message(() => assertAuthKey(hex, 'key'))).toBe('key must be a Uint8Array of 256 bytes, got a string of 512 chars (not shown)');
    expect(message(() => assertAuthKey(Array(256).fill(7), 'key'))).toBe('key must be a Uint8Array of 256 bytes, got an array of 256 (not shown)');
    expect(message(() => assertKvValue('secret-value', 'value'))).not.toContain('secret');
    expect(describeSecret({ toString: () => 'secret' })).toBe('an object (not shown)');
  });

  it('peer displayName and complete limits', () => {
    const peer: Peer = { type: 'user', id: 1n, accessHash: 1n, usernames: [], updatedAt: 1 };
    expect(() => assertPeer({ ...peer, displayName: 'x'.repeat(1024), complete: new Uint8Array(65_536) }, 'peer')).not.toThrow();
    expect(() => assertPeer({ ...peer, displayName: 'x'.repeat(1025) }, 'peer')).toThrow(InvalidArgumentError);
    expect(() => assertPeer({ ...peer, displayName: 5 } as never, 'peer')).toThrow(InvalidArgumentError);
    expect(() => assertPeer({ ...peer, complete: [1] } as never, 'peer')).toThrow(InvalidArgumentError);
  });

  it('a min peer over a non-min one keeps the stored complete object; batches copy complete bytes', () => {
    const full: Peer = { type: 'user', id: 1n, accessHash: 5n, usernames: [], updatedAt: 1, complete: Uint8Array.from([1]) };
    const min: Peer = { ...full, accessHash: 9n, min: true, complete: Uint8Array.from([2]), displayName: 'x' };
    expect(mergePeer(full, min)).toEqual({ ...full, displayName: 'x' });
    expect(mergePeer(min, full)).toEqual(full);
    const bytes = Uint8Array.from([3]);
    const [normalized] = normalizePeerBatch([{ ...full, complete: bytes }]);
    bytes[0] = 4;
    expect(normalized?.complete).toEqual(Uint8Array.from([3]));
  });

  it('batches for a repository that copies bytes itself (writesCopyBytes) share complete, and still copy every peer and username list', () => {
    const bytes = Uint8Array.from([3]);
    const first: Peer = { type: 'user', id: 1n, accessHash: 5n, usernames: ['a', 'B'], phone: '1', updatedAt: 1, complete: bytes };
    const second: Peer = { type: 'user', id: 2n, accessHash: 6n, usernames: ['b'], phone: '1', updatedAt: 1 };
    const [one, two] = normalizePeerBatch([first, second], false);
    expect(one?.complete).toBe(bytes);
    expect(one).not.toBe(first);
    // The claims still resolve on the copies only: the caller's peers keep their names and phone.
    expect(one).toMatchObject({ usernames: ['a'] });
    expect(one?.phone).toBeUndefined();
    expect(two).toMatchObject({ usernames: ['b'], phone: '1' });
    expect(first.usernames).toEqual(['a', 'B']);
    expect(first.phone).toBe('1');
    expect(normalizePeerBatch([first])[0]?.complete).not.toBe(bytes);
  });
});

describe('update({}) on a storage', () => {
  it('is InvalidArgumentError with or without a stored snapshot', async () => {
    const { MemoryStorage } = await import('../../memory/src/index.js');
    const storage = new MemoryStorage({ name: 'empty-patch' });
    await expect(storage.update({})).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await expect(storage.update({ apiId: undefined })).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    await storage.update({ homeDcId: 2, dcs: [{ id: 2, port: 443 }] });
    await expect(storage.update({})).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
    expect((await storage.load())?.homeDcId).toBe(2);
  });
});
