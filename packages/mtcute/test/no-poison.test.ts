/**
 * One value mtstore can never store must not block the writes after it (found by an
 * audit: a kv key with a space, a peer name with U+0000, an access hash that does not
 * parse each failed every later `driver.save()`, and nothing stored afterwards was
 * written). mtcute's own storages store all of these; the bridge stores what it can
 * (an escaped key, a cleaned name), drops what it cannot with a warning on mtcute's
 * log, and writes everything else. On every adapter.
 */
import { plainBytes } from '@mtstore/conformance';
import { InvalidArgumentError, isStorableText, MAX_DISPLAY_NAME, StorageUnavailableError, type Storage } from '@mtstore/core';
import { Long } from '@mtcute/core';
import { __tlWriterMap, LogManager, parseBasicDcOption, serializeBasicDcOption, TlBinaryWriter } from '@mtcute/core/utils.js';
import { createStub } from '@mtcute/test/stub.js';
import { describe, expect, it } from 'vitest';
import { displayNameOf, mtcuteKvKey, mtcuteStorage, storableName, storedKvKey, type MtcuteStorage, type PeerInfo } from '../src/index.js';
import { adapters } from '@mtstore/test-adapters';
import { backendPerTest, platform } from './helpers.js';

const serialize = (object: unknown): Uint8Array => TlBinaryWriter.serializeObject(__tlWriterMap, object as never);

function peerInfo(id: number, overrides: Partial<PeerInfo> = {}, firstName = `User ${id}`): PeerInfo {
  return {
    id,
    accessHash: `${id * 3}|0`,
    isMin: false,
    usernames: [`user_${id}`],
    updated: 1_760_000_000_123,
    complete: serialize(createStub('user', { id, accessHash: Long.fromInt(id * 3), firstName })),
    ...overrides,
  };
}

/** mtcute's logger, as its client passes it to `driver.setup`, keeping what is logged at warn and above. */
function capturingLog(): { log: LogManager; warnings: string[] } {
  const log = new LogManager(undefined, platform);
  log.level = LogManager.WARN;
  const warnings: string[] = [];
  log.handler = (_color, _level, tag, fmt, args) => warnings.push(`${tag} ${fmt.replace('%s', () => String(args[0]))}`);
  return { log, warnings };
}

describe('kv keys mtstore cannot hold as they are', () => {
  it('are escaped one to one: every mtcute key as it is, anything else behind %', () => {
    for (const key of ['salts:2', 'dc_main', 'updates_channel:123', 'a'.repeat(255), '~tilde', 'x%y']) expect(storedKvKey(key)).toBe(key);
    expect(storedKvKey('plugin key')).toBe('%plugin%20key');
    expect(storedKvKey('')).toBe('%');
    expect(storedKvKey('%literal')).toBe('%%25literal');
    expect(storedKvKey('ключ')).toBe('%%u043A%u043B%u044E%u0447');
    expect(storedKvKey('a'.repeat(256))).toBeNull();
    expect(storedKvKey(' '.repeat(84))).toBe(`%${'%20'.repeat(84)}`); // 1 + 84 × 3 = 253 fits; …
    expect(storedKvKey(' '.repeat(85))).toBeNull(); // … 1 + 85 × 3 = 256 does not
    expect(storedKvKey('é'.repeat(85))).toBeNull();
    const keys = ['plugin key', '', '%', '%%', '%literal', 'ключ', 'tab\there', 'nul\u0000', 'lone \ud800 high', 'lone \udc00 low', '😀', 'a b'.repeat(50), '%u0041', '%41', '~', 'x'.repeat(255)];
    const stored = new Set<string>();
    for (const key of keys) {
      const s = storedKvKey(key) as string;
      expect(s, key).toMatch(/^[\x21-\x7e]{1,255}$/);
      expect(mtcuteKvKey(s), key).toBe(key);
      stored.add(s);
    }
    expect(stored.size).toBe(keys.length);
    // A key the bridge did not escape reads as itself.
    expect(mtcuteKvKey('%zz')).toBe('%zz');
  });
});

describe('display names', () => {
  it('are cut at a code point boundary, never inside a surrogate pair', () => {
    const split = `${'x'.repeat(MAX_DISPLAY_NAME - 1)}😀tail`; // the pair at 1023-1024
    const name = displayNameOf(serialize(createStub('user', { id: 5, firstName: split })));
    expect(name).toBe('x'.repeat(MAX_DISPLAY_NAME - 1));
    expect(isStorableText(name as string)).toBe(true);
    const whole = `${'x'.repeat(MAX_DISPLAY_NAME - 2)}😀tail`; // the pair at 1022-1023: kept
    expect(displayNameOf(serialize(createStub('channel', { id: 5, title: whole })))).toBe(`${'x'.repeat(MAX_DISPLAY_NAME - 2)}😀`);
    expect(displayNameOf(serialize(createStub('chat', { id: 5, title: 'y'.repeat(2000) })))).toBe('y'.repeat(MAX_DISPLAY_NAME));
  });

  it('storableName drops U+0000 and unpaired surrogates and keeps pairs', () => {
    expect(storableName('Ann')).toBe('Ann');
    expect(storableName('a\u0000b')).toBe('ab');
    expect(storableName('\u0000')).toBeUndefined();
    expect(storableName('x\ud800y\udc00z😀')).toBe('xyz😀');
    expect(storableName('\ud800\ud83d\ude00\ude00')).toBe('😀');
    expect(storableName('\ud800\u0000\udc00')).toBeUndefined();
  });
});

for (const adapter of adapters) {
  describe.skipIf(!(await adapter.available()))(`writes mtstore cannot hold on ${adapter.name}`, () => {
    const open = backendPerTest(adapter, 'poison');
    let warnings: string[];
    const provider = async (storage = open()): Promise<MtcuteStorage> => {
      const p = mtcuteStorage(storage, { closeOnDestroy: false, lease: false });
      const captured = capturingLog();
      warnings = captured.warnings;
      p.driver.setup?.(captured.log, platform);
      await p.driver.load?.();
      return p;
    };
    /** What the audit did: valid writes after the bad one, a save after each; all must go through. */
    const laterWrites = async (p: MtcuteStorage): Promise<void> => {
      for (let i = 1; i <= 3; i++) {
        p.kv.set(`salts:${i}`, Uint8Array.of(i));
        p.peers.store(peerInfo(100 + i));
        await p.driver.save?.();
      }
      expect(p.pending).toBe(false);
      const raw = open();
      for (let i = 1; i <= 3; i++) {
        expect(plainBytes(await raw.kv.get(`salts:${i}`))).toEqual(Uint8Array.of(i));
        expect(await raw.peers.getById('user', BigInt(100 + i))).toMatchObject({ usernames: [`user_${100 + i}`], displayName: `User ${100 + i}` });
      }
    };


    it('kv: a key with a space (any string is an mtcute key) is stored escaped and read back; later saves go through', async () => {
      const p = await provider();
      p.kv.set('plugin key', Uint8Array.of(7));
      p.kv.set('', Uint8Array.of(8));
      p.kv.set('%literal', Uint8Array.of(9));
      p.kv.set('ключ', Uint8Array.of(10));
      expect(plainBytes(await p.kv.get('plugin key'))).toEqual(Uint8Array.of(7));
      await laterWrites(p);
      const raw = open();
      expect(plainBytes(await raw.kv.get('%plugin%20key'))).toEqual(Uint8Array.of(7));
      expect(plainBytes(await raw.kv.get('%'))).toEqual(Uint8Array.of(8));
      const again = await provider();
      expect(plainBytes(await again.kv.get('plugin key'))).toEqual(Uint8Array.of(7));
      expect(plainBytes(await again.kv.get(''))).toEqual(Uint8Array.of(8));
      expect(plainBytes(await again.kv.get('%literal'))).toEqual(Uint8Array.of(9));
      expect(plainBytes(await again.kv.get('ключ'))).toEqual(Uint8Array.of(10));
      expect(await again.kv.get('%plugin%20key'), 'the stored key is not the mtcute key').toBeNull();
      again.kv.delete('plugin key');
      await again.driver.save?.();
      expect(await raw.kv.get('%plugin%20key')).toBeNull();
      expect((await raw.kv.entries()).map((e) => mtcuteKvKey(e.key)).sort()).toEqual(['', '%literal', 'salts:1', 'salts:2', 'salts:3', 'ключ']);
      expect(warnings).toEqual([]);
    });

    it('kv: what can never be stored throws InvalidArgumentError at set(), and is never pending', async () => {
      const p = await provider();
      expect(() => p.kv.set('k'.repeat(256), Uint8Array.of(1))).toThrow(InvalidArgumentError);
      expect(() => p.kv.set('plugin:blob', new Uint8Array(65_537))).toThrow(InvalidArgumentError);
      expect(() => p.kv.set('plugin:blob', 'text' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
      expect(p.pending).toBe(false);
      expect(await p.kv.get('k'.repeat(256))).toBeNull();
      p.kv.delete('k'.repeat(256)); // nothing can be stored under it: nothing to delete
      expect(p.pending).toBe(false);
      await laterWrites(p);
    });

    it('kv: an entry core rejects at save is dropped and logged, the others written; a failed write stays pending', async () => {
      const storage = open();
      const p = await provider(storage);
      const set = storage.kv.set.bind(storage.kv);
      let unavailable = true;
      storage.kv.set = (key, value, options) => {
        if (key === 'rule:new') return Promise.reject(new InvalidArgumentError('kv.set: key must be (a rule this bridge does not know), got string "rule:new"'));
        if (key === 'flaky' && unavailable) return Promise.reject(new StorageUnavailableError('kv.set failed: connection reset'));
        return set(key, value, options);
      };
      p.kv.set('rule:new', Uint8Array.of(1));
      p.kv.set('flaky', Uint8Array.of(2));
      p.kv.set('fine', Uint8Array.of(3));
      await expect(p.driver.save?.()).rejects.toThrow(StorageUnavailableError);
      expect(warnings).toEqual(['mtstore a write mtstore can never store was dropped: kv.set: key must be (a rule this bridge does not know), got string "rule:new"']);
      expect(plainBytes(await open().kv.get('fine'))).toEqual(Uint8Array.of(3));
      expect(p.pending).toBe(true);
      unavailable = false;
      await p.driver.save?.();
      expect(p.pending).toBe(false);
      expect(plainBytes(await open().kv.get('flaky'))).toEqual(Uint8Array.of(2));
      expect(warnings).toHaveLength(1);
      await laterWrites(p);
    });

    it('typed keys: a DC option with a host name is stored as the entry\'s host and read back; one mtstore refuses stays in kv; later saves go through', async () => {
      const p = await provider();
      p.kv.set('dc_main', serializeBasicDcOption({ id: 2, ipAddress: 'localhost', port: 4430 }));
      await laterWrites(p);
      const stored = await open().load();
      expect(stored?.dcs.find((dc) => dc.id === 2 && dc.mediaOnly !== true)).toMatchObject({ host: 'localhost', port: 4430 });
      expect(stored?.dcs.find((dc) => dc.id === 2)?.ipv4).toBeUndefined();
      const again = await provider();
      expect(parseBasicDcOption((await again.kv.get('dc_main')) as Uint8Array)).toMatchObject({ id: 2, ipAddress: 'localhost', port: 4430 });

      // An address no DataCenter field takes: kept as mtcute's bytes in kv, not a save that fails for ever.
      again.kv.set('dc_main', serializeBasicDcOption({ id: 2, ipAddress: 'bad host!', port: 443 }));
      await laterWrites(again);
      expect(parseBasicDcOption((await again.kv.get('dc_main')) as Uint8Array)).toMatchObject({ ipAddress: 'bad host!' });
    });

    it('peers: a name with U+0000 is stored without it; later saves go through', async () => {
      const p = await provider();
      p.peers.store(peerInfo(42, {}, 'a\u0000b'));
      p.peers.store(peerInfo(43));
      await p.driver.save?.();
      expect(p.pending).toBe(false);
      const raw = open();
      expect(await raw.peers.getById('user', 42n)).toMatchObject({ accessHash: 126n, usernames: ['user_42'], displayName: 'ab' });
      expect(await raw.peers.getById('user', 43n)).toMatchObject({ displayName: 'User 43' });
      // mtcute still reads back its own TL bytes, the name in them included.
      expect(plainBytes((await (await provider()).peers.getById(42))?.complete)).toEqual(peerInfo(42, {}, 'a\u0000b').complete);
      await laterWrites(p);
      expect(warnings).toEqual([]);
    });

    it('peers: a name that would be cut inside a surrogate pair is cut before it', async () => {
      const p = await provider();
      p.peers.store(peerInfo(44, {}, `${'x'.repeat(MAX_DISPLAY_NAME - 1)}😀 and more`));
      await p.driver.save?.();
      expect((await open().peers.getById('user', 44n))?.displayName).toBe('x'.repeat(MAX_DISPLAY_NAME - 1));
      await laterWrites(p);
    });

    it('peers: an access hash that does not parse drops that peer (logged, without the string); the others and later saves go through', async () => {
      const p = await provider();
      p.peers.store(peerInfo(42, { accessHash: 'not-a-hash' }));
      p.peers.store(peerInfo(43));
      await p.driver.save?.();
      expect(p.pending).toBe(false);
      const raw = open();
      expect(await raw.peers.getById('user', 42n)).toBeNull();
      expect(await raw.peers.getById('user', 43n)).toMatchObject({ accessHash: 129n });
      expect(warnings).toEqual([`mtstore a write mtstore can never store was dropped: peers[id 42].accessHash must be mtcute's "low|high" int64 string, got a string of 10 chars`]);
      await laterWrites(p);
      expect(warnings, 'reported once, not at every save').toHaveLength(1);
    });

    it('peers: what filtering mends is stored mended, what core still rejects is dropped and logged', async () => {
      const p = await provider();
      p.peers.store(peerInfo(35, { usernames: ['twice', 'TWICE', '@bad'] }));
      p.peers.store(peerInfo(36, { updated: Number.NaN }));
      p.peers.store(peerInfo(37));
      await p.driver.save?.();
      expect(p.pending).toBe(false);
      const raw = open();
      expect(await raw.peers.getById('user', 35n)).toMatchObject({ usernames: ['twice'] });
      expect(await raw.peers.getById('user', 36n)).toBeNull();
      expect(await raw.peers.getById('user', 37n)).toMatchObject({ usernames: ['user_37'] });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/dropped: peers\[id 36\]\.updatedAt must be/);
      await laterWrites(p);
    });

    it('peers: a batch core rejects for a rule the bridge does not know is written peer by peer, the rejected one dropped', async () => {
      const storage = open();
      const p = await provider(storage);
      const upsert = storage.peers.upsert.bind(storage.peers);
      const calls: number[] = [];
      storage.peers.upsert = (peers) => {
        calls.push(peers.length);
        if (peers.some((peer) => peer.id === 52n)) return Promise.reject(new InvalidArgumentError('peers[1] must be (a rule this bridge does not know)'));
        return upsert(peers);
      };
      for (const id of [51, 52, 53]) p.peers.store(peerInfo(id));
      await p.driver.save?.();
      expect(calls).toEqual([3, 3, 1, 1, 1]);
      expect(p.pending).toBe(false);
      const raw = open();
      expect(await raw.peers.getById('user', 51n)).not.toBeNull();
      expect(await raw.peers.getById('user', 52n)).toBeNull();
      expect(await raw.peers.getById('user', 53n)).not.toBeNull();
      expect(warnings).toEqual(['mtstore a write mtstore can never store was dropped: peers[id 52]: peers[1] must be (a rule this bridge does not know)']);
      await laterWrites(p);
    });

    it('peers: a write that fails for another reason still stays pending, without the peers dropped', async () => {
      const storage = open();
      const p = await provider(storage);
      const upsert = storage.peers.upsert.bind(storage.peers);
      let down = true;
      const batches: bigint[][] = [];
      storage.peers.upsert = (peers) => {
        batches.push(peers.map((peer) => peer.id));
        return down ? Promise.reject(new StorageUnavailableError('peers.upsert failed: connection reset')) : upsert(peers);
      };
      p.peers.store(peerInfo(61, { accessHash: 'bad' }));
      p.peers.store(peerInfo(62));
      await expect(p.driver.save?.()).rejects.toThrow(StorageUnavailableError);
      expect(p.pending).toBe(true);
      down = false;
      await p.driver.save?.();
      expect(batches).toEqual([[62n], [62n]]);
      expect(await open().peers.getById('user', 62n)).not.toBeNull();
      expect(warnings).toHaveLength(1);
    });

    it('reference messages: a call core rejects is dropped and logged, the rest written; long deletes are split', async () => {
      const p = await provider();
      p.refMessages.store(101, -1001183945448, 0); // message id 0: not one
      p.refMessages.store(102, -1001183945448, 5);
      await p.driver.save?.();
      expect(p.pending).toBe(false);
      const raw = open();
      expect(await raw.refMessages.getByPeer(101n)).toBeNull();
      expect(await raw.refMessages.getByPeer(102n)).toEqual({ chatId: -1001183945448n, messageId: 5 });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/dropped: .*messageId must be/);
      // Core takes at most 10,000 ids a call.
      p.refMessages.delete(-1001183945448, Array.from({ length: 10_001 }, (_, i) => i + 1));
      await p.driver.save?.();
      expect(await raw.refMessages.getByPeer(102n)).toBeNull();
      expect(warnings).toHaveLength(1);
      await laterWrites(p);
    });
  });
}
