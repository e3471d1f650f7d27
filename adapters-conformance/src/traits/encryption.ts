/**
 * Encryption at rest (docs/contract.md "Encryption at rest"): with `encryption`
 * configured, auth keys and secret kv values round-trip, the database never holds
 * them in plaintext, a sealed value moved to another session / DC / slot / kv key
 * does not open there, a wrong or missing key is a typed error naming the key id,
 * and rotation keeps every session loadable.
 */
import { inspect } from 'node:util';
import {
  BaseStorage,
  rotateEncryption,
  sealedKeyId,
  type EncryptionError,
  type EncryptionOptions,
  type RotateProgress,
  type Session,
  type Storage,
} from '@mtstore/core';
import { authKey, fullSession, minimalSession } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { StorageRegistrar, StorageScope } from './context.js';

/** 32 key bytes that differ per seed. */
const material = (seed: number): Uint8Array => authKey(1000 + seed).subarray(0, 32);
const K1 = { id: 'k1', key: material(1) };
const K2 = { id: 'k2', key: material(2) };
const only = (...keys: { id: string; key: Uint8Array }[]): EncryptionOptions => ({ keys, secretKvPrefixes: ['secret:'] });

/** A session with a key on every kind of slot: main permanent and temp, media-only permanent and temp. */
function sealedSession(seed: number): Session {
  const session = fullSession(seed);
  session.dcs = session.dcs.filter((dc) => dc.mediaOnly !== true);
  session.dcs.push({ id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true, authKey: authKey(seed * 10 + 8), tempAuthKeys: [{ index: 0, key: authKey(seed * 10 + 9), expiresAt: 1_900_000_000 }] });
  return session;
}

function keysOf(session: Session): Uint8Array[] {
  return session.dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k): k is Uint8Array => k !== undefined);
}

/**
 * Where a secret shows up in `haystack`: a 32-byte window of it (start, middle, end)
 * as raw bytes, hex text (either case) or base64 text.
 */
function findIn(haystack: Buffer, secret: Uint8Array): string | undefined {
  const size = Math.min(32, secret.length);
  for (const offset of new Set([0, Math.max(0, (secret.length >> 1) - 16), secret.length - size])) {
    const window = Buffer.from(secret.subarray(offset, offset + size));
    if (haystack.includes(window)) return `raw bytes ${offset}..${offset + size}`;
    const hex = window.toString('hex');
    if (haystack.includes(Buffer.from(hex)) || haystack.includes(Buffer.from(hex.toUpperCase()))) return `hex of bytes ${offset}..${offset + size}`;
    if (haystack.includes(Buffer.from(window.toString('base64').slice(4, 36)))) return `base64 of bytes ${offset}..${offset + size}`;
  }
  return undefined;
}

const stored = (storage: Storage) => BaseStorage.storedRepositories(storage as BaseStorage);

export function encryption({ group, test, expect, options, skip }: StorageRegistrar): void {
  const option = options.encryption;
  group('encryption at rest', () => {
    const names = [
      'round trip: save / load, authKeys and secret kv values read back as written',
      'the stored bytes never contain a sealed key or secret value (and do contain a plaintext one)',
      'a sealed value moved to another session, DC, entry, slot, kind or kv key does not open',
      'a wrong or missing key is EncryptionError naming the key id, never garbage or a null session',
      'plaintext stores are read as is and sealed on the next write of each key',
      'rotation re-seals a whole backend, batched and resumable, and keeps every session loadable',
      'rotation with other material under the write key id is EncryptionError before it writes anything of the session',
      'kv.entries marks secret: true exactly the values stored sealed; a copy with { secret: entry.secret } stores each as the source does',
    ];
    if (option === undefined) {
      for (const name of names) skip(name, 'the adapter passed no `encryption` option (open with encryption, dump of stored bytes)');
      return;
    }
    const open = async (s: StorageScope, name: string, encryption: EncryptionOptions | undefined): Promise<Storage> =>
      s.scope.track(await option.open(s.namespace, name, encryption));

    test(names[0] as string, async (s) => {
      const storage = await open(s, 'main', only(K1));
      const session = sealedSession(3);
      await storage.save(session);
      expect(await storage.load()).toEqual(session);
      await storage.authKeys.set(7, authKey(70));
      const temp = { index: 3, key: authKey(71), expiresAt: 2 ** 32 - 1 };
      await storage.authKeys.setTemp(7, temp);
      expect(await storage.authKeys.get(7)).toEqual(authKey(70));
      expect(await storage.authKeys.getTemp(7, 3)).toEqual(temp);
      expect(await storage.authKeys.get(2)).toEqual(session.dcs[1]?.authKey);
      const secret = authKey(72).subarray(0, 100);
      await storage.kv.set('marked', secret, { secret: true });
      await storage.kv.set('secret:salts', authKey(73).subarray(0, 64));
      await storage.kv.set('plain', Uint8Array.of(1, 2, 3));
      await storage.kv.set('empty', new Uint8Array(0), { secret: true });
      expect(await storage.kv.get('marked')).toEqual(secret);
      expect(await storage.kv.get('empty')).toEqual(new Uint8Array(0));
      const entries = [
        { key: 'empty', value: new Uint8Array(0), secret: true },
        { key: 'marked', value: secret, secret: true },
        { key: 'plain', value: Uint8Array.of(1, 2, 3) },
        { key: 'secret:salts', value: authKey(73).subarray(0, 64), secret: true },
      ];
      expect(await storage.kv.entries()).toEqual(entries);
      // Another instance with the same keys reads all of it.
      const other = await open(s, 'main', only(K2, K1));
      const loaded = (await other.load()) as Session;
      expect(loaded.dcs.find((dc) => dc.id === 7)).toEqual({ id: 7, authKey: authKey(70), tempAuthKeys: [temp] });
      // authKeys.entries() opens every key, those of the media-only entry (sealed for that entry) included.
      const listed = await other.authKeys.entries();
      const media = session.dcs.find((dc) => dc.id === 2 && dc.mediaOnly === true);
      expect(listed.find((e) => e.dcId === 2 && e.mediaOnly)).toEqual({ dcId: 2, mediaOnly: true, authKey: media?.authKey, tempAuthKeys: media?.tempAuthKeys });
      expect(listed.find((e) => e.dcId === 7)).toEqual({ dcId: 7, mediaOnly: false, authKey: authKey(70), tempAuthKeys: [temp] });
      expect(await other.kv.entries()).toEqual(entries);
      // The storage shows the key ids, never key material.
      const shown = inspect(storage, { depth: 8, showHidden: true });
      expect(findIn(Buffer.from(shown), K1.key), 'util.inspect(storage) shows the encryption key').toBeUndefined();
    });

    test(names[1] as string, async (s) => {
      // The control: without encryption the dump holds the key, so the dump sees key storage.
      const plain = await open(s, 'plain', undefined);
      await plain.authKeys.set(2, authKey(900));
      await plain.kv.set('secret:x', authKey(901).subarray(0, 64));
      const sealed = await open(s, 'sealed', only(K1));
      const session = sealedSession(4);
      await sealed.save(session);
      await sealed.authKeys.set(9, authKey(902));
      await sealed.authKeys.setTemp(9, { index: 0, key: authKey(903), expiresAt: 5 });
      await sealed.kv.set('secret:salts', authKey(904).subarray(0, 64));
      await sealed.kv.set('marked', authKey(905).subarray(0, 64), { secret: true });
      const dump = Buffer.from(await option.dump(s.namespace));
      expect(findIn(dump, authKey(900)) !== undefined, 'the dump of the namespace contains a key stored without encryption').toBe(true);
      expect(findIn(dump, authKey(901)) !== undefined, 'the dump contains a kv value stored without encryption').toBe(true);
      const secrets: [string, Uint8Array][] = [
        ...keysOf(session).map((key, i) => [`saved key ${i}`, key] as [string, Uint8Array]),
        ['authKeys.set key', authKey(902)],
        ['authKeys.setTemp key', authKey(903)],
        ['kv value under a secret prefix', authKey(904)],
        ['kv value set with { secret: true }', authKey(905)],
      ];
      for (const [what, secret] of secrets) {
        expect(findIn(dump, secret) ?? 'not found', `${what} in the stored bytes`).toBe('not found');
      }
      // A fresh nonce for every new value (docs/contract.md §10a): the same key sealed again
      // after another value, or by another instance, is stored differently. (Writing back
      // an unchanged value may keep its sealed bytes: that says only "unchanged".)
      const first = await stored(sealed).authKeys.get(9);
      expect(sealedKeyId(first as Uint8Array)).toBe('k1');
      await sealed.authKeys.set(9, authKey(906));
      await sealed.authKeys.set(9, authKey(902));
      const again = await stored(sealed).authKeys.get(9);
      expect(Buffer.from(first as Uint8Array).equals(Buffer.from(again as Uint8Array)), 'a key sealed again after another value reuses its bytes').toBe(false);
      const other = await open(s, 'sealed', only(K1));
      await other.authKeys.set(9, authKey(902));
      const fromOther = await stored(other).authKeys.get(9);
      expect(Buffer.from(again as Uint8Array).equals(Buffer.from(fromOther as Uint8Array)), 'another instance sealing the same key reuses its bytes').toBe(false);
    });

    test(names[2] as string, async (s) => {
      const alice = await open(s, 'alice', only(K1));
      // Names of one length: binding only the length of the name would not do.
      const bob = await open(s, 'carol', only(K1));
      await alice.save(sealedSession(5));
      await alice.authKeys.set(3, authKey(53));
      await alice.kv.set('marked', authKey(54).subarray(0, 64), { secret: true });
      await bob.save(minimalSession());
      const a = stored(alice);
      const b = stored(bob);
      const perm = (await a.authKeys.get(2)) as Uint8Array;
      const temp = (await a.authKeys.getTemp(2, 0)) as { key: Uint8Array; expiresAt: number };
      const kv = (await a.kv.get('marked')) as Uint8Array;
      const rejectsMoved = async (what: string, call: () => Promise<unknown>): Promise<void> => {
        const error = (await expectRejects(expect, what, CODES.encryption, call)) as EncryptionError;
        expect(error.keyId, `${what}: the error names the key id`).toBe('k1');
        expect(error.reason, `${what}: reason`).toBe('does-not-open');
      };
      // Same DC in another session.
      await b.authKeys.set(2, perm);
      await rejectsMoved('a key moved to another session', () => bob.authKeys.get(2));
      await rejectsMoved('load of a session holding a moved key', () => bob.load());
      // Another DC of the same session.
      await a.authKeys.set(4, perm);
      await rejectsMoved('a key moved to another DC', () => alice.authKeys.get(4));
      // Another temp slot, and permanent ↔ temporary.
      await a.authKeys.setTemp(2, 1, { index: 1, key: temp.key, expiresAt: temp.expiresAt });
      await rejectsMoved('a temp key moved to another slot', () => alice.authKeys.getTemp(2, 1));
      await a.authKeys.setTemp(3, 0, { index: 0, key: (await a.authKeys.get(3)) as Uint8Array, expiresAt: 1 });
      await rejectsMoved('a permanent key stored as a temp key', () => alice.authKeys.getTemp(3, 0));
      await a.authKeys.set(6, temp.key);
      await rejectsMoved('a temp key stored as a permanent key', () => alice.authKeys.get(6));
      // Another kv key, and another session's kv.
      await a.kv.set('other', kv);
      await rejectsMoved('a kv value moved to another kv key', () => alice.kv.get('other'));
      await b.kv.set('marked', kv);
      await rejectsMoved('a kv value moved to another session', () => bob.kv.get('marked'));
      // One altered byte.
      const altered = Uint8Array.from(perm);
      altered[altered.length - 40] = (altered[altered.length - 40] as number) ^ 1;
      await a.authKeys.set(8, altered);
      await rejectsMoved('an altered sealed key', () => alice.authKeys.get(8));
      // Where it belongs, it still opens.
      expect(await alice.authKeys.get(2)).toEqual(sealedSession(5).dcs[1]?.authKey);
    });

    test(names[3] as string, async (s) => {
      const writer = await open(s, 'main', only(K1));
      await writer.save(sealedSession(6));
      await writer.kv.set('secret:salts', authKey(61).subarray(0, 64));
      const readers: [string, EncryptionOptions | undefined, string][] = [
        ['no encryption configured', undefined, 'missing-key'],
        ['only another key configured', only(K2), 'missing-key'],
        ['other key material under the same id', only({ id: 'k1', key: material(9) }), 'does-not-open'],
      ];
      for (const [what, encryption, reason] of readers) {
        const reader = await open(s, 'main', encryption);
        const calls: [string, () => Promise<unknown>][] = [
          ['load', () => reader.load()],
          ['authKeys.get', () => reader.authKeys.get(1)],
          ['authKeys.getTemp', () => reader.authKeys.getTemp(2, 0)],
          ['kv.get', () => reader.kv.get('secret:salts')],
          ['kv.entries', () => reader.kv.entries()],
        ];
        for (const [call, run] of calls) {
          const error = (await expectRejects(expect, `${call} with ${what}`, CODES.encryption, run)) as EncryptionError;
          expect(error.keyId, `${call} with ${what}: keyId`).toBe('k1');
          expect(error.reason, `${call} with ${what}: reason`).toBe(reason);
          expect(error.message.includes('"k1"'), `${call} with ${what}: the message names the key id: ${error.message}`).toBe(true);
          for (const secret of [K1.key, material(9), authKey(61)]) expect(findIn(Buffer.from(error.message), secret), 'the message shows key bytes').toBeUndefined();
        }
      }
      // The right key still opens everything.
      expect(await (await open(s, 'main', only(K2, K1))).load()).toEqual(sealedSession(6));
    });

    test(names[4] as string, async (s) => {
      const plain = await open(s, 'main', undefined);
      const session = sealedSession(7);
      await plain.save(session);
      await plain.kv.set('secret:salts', authKey(74).subarray(0, 64));
      const sealed = await open(s, 'main', only(K1));
      expect(await sealed.load()).toEqual(session);
      expect(await sealed.kv.get('secret:salts')).toEqual(authKey(74).subarray(0, 64));
      const raw = stored(sealed);
      expect((await raw.authKeys.get(1))?.length).toBe(256);
      await sealed.authKeys.set(1, authKey(75));
      expect(sealedKeyId((await raw.authKeys.get(1)) as Uint8Array)).toBe('k1');
      expect((await raw.authKeys.get(2))?.length, 'a key not written again stays as it was').toBe(256);
      expect(await sealed.load()).toEqual({ ...session, dcs: session.dcs.map((dc) => (dc.id === 1 ? { ...dc, authKey: authKey(75) } : dc)) });
    });

    test(names[5] as string, async (s) => {
      // Four sessions: plaintext, sealed with k1 (snapshot and kv), keys only (no snapshot), sealed with k2 already.
      const expected = new Map<string, Session>();
      const plain = await open(s, 'a-plain', undefined);
      expected.set('a-plain', sealedSession(8));
      await plain.save(sealedSession(8));
      await plain.kv.set('secret:salts', authKey(81).subarray(0, 64));
      const old = await open(s, 'b-old', only(K1));
      expected.set('b-old', sealedSession(9));
      await old.save(sealedSession(9));
      await old.authKeys.set(7, authKey(91));
      await old.kv.set('marked', authKey(92).subarray(0, 64), { secret: true });
      const keysOnly = await open(s, 'c-keys', only(K1));
      await keysOnly.authKeys.set(2, authKey(93));
      await keysOnly.authKeys.set(9, authKey(94));
      const current = await open(s, 'd-new', only(K2));
      expected.set('d-new', sealedSession(10));
      await current.save(sealedSession(10));
      (expected.get('b-old') as Session).dcs.push({ id: 7, authKey: authKey(91) });

      const rotate = only(K2, K1);
      const progress: RotateProgress[] = [];
      const report = await rotateEncryption({ open: (name) => open(s, name, rotate), batchSize: 2, onProgress: (p) => progress.push(p) });
      expect(progress.map((p) => [p.done, p.total, p.resumeAfter])).toEqual([
        [2, 4, 'b-old'],
        [4, 4, 'd-new'],
      ]);
      expect(report.withoutSnapshot).toEqual(['c-keys']);
      expect(report.kvEntries).toBe(2);
      // Every key of the sessions with a snapshot, and both keys of the one without (listed with authKeys.entries()).
      expect(report.keys).toBe(keysOf(sealedSession(8)).length + keysOf(sealedSession(9)).length + 1 + 2);
      // Everything with a snapshot now opens with k2 alone, and names k2.
      for (const [name, session] of expected) {
        const reader = await open(s, name, only(K2));
        expect(await reader.load(), `session ${name} after rotation`).toEqual(session);
        expect(sealedKeyId((await stored(reader).authKeys.get(1)) as Uint8Array), `session ${name}: DC 1 key`).toBe('k2');
      }
      const kvReader = await open(s, 'b-old', only(K2));
      expect(await kvReader.kv.get('marked')).toEqual(authKey(92).subarray(0, 64));
      expect(await (await open(s, 'a-plain', only(K2))).kv.get('secret:salts')).toEqual(authKey(81).subarray(0, 64));
      // Without a snapshot every key is found, also on a DC no client probes first (9): both open with k2 alone.
      expect(await (await open(s, 'c-keys', only(K2))).authKeys.get(2)).toEqual(authKey(93));
      expect(await (await open(s, 'c-keys', only(K2))).authKeys.get(9)).toEqual(authKey(94));
      // Resuming after the last name does nothing; running again finds everything current.
      expect((await rotateEncryption({ open: (name) => open(s, name, rotate), after: 'd-new' })).done).toBe(0);
      const again = await rotateEncryption({ open: (name) => open(s, name, rotate) });
      expect([again.done, again.keys, again.kvEntries]).toEqual([4, 0, 0]);
    });

    test(names[6] as string, async (s) => {
      // A session sealed with k1 except two values sealed with k2: the DC 7 key and a kv value.
      const writer = await open(s, 'main', only(K1));
      await writer.save(sealedSession(11));
      await writer.kv.set('secret:salts', authKey(111).subarray(0, 64));
      const older = await open(s, 'main', only(K2, K1));
      await older.authKeys.set(7, authKey(112));
      await older.kv.set('marked', authKey(113).subarray(0, 64), { secret: true });
      const raw = stored(older);
      const before = { dc1: await raw.authKeys.get(1), dc7: await raw.authKeys.get(7), kv: await raw.kv.entries() };
      const wrongK1 = { id: 'k1', key: material(12) };
      // Rotating to k1 with k1's id given other material (a mistyped environment variable):
      // the values sealed with k1 do not open with it, so nothing is re-sealed with it.
      const error = (await expectRejects(expect, 'rotateEncryption with other material under k1', CODES.encryption, () =>
        rotateEncryption({ open: (name) => open(s, name, only(wrongK1, K2)), names: ['main'] }),
      )) as EncryptionError;
      expect(error.keyId).toBe('k1');
      expect(error.reason).toBe('does-not-open');
      for (const secret of [K1.key, K2.key, material(12)]) expect(findIn(Buffer.from(error.message), secret), 'the message shows key bytes').toBeUndefined();
      expect(await raw.authKeys.get(1), 'DC 1 key (sealed with k1) unchanged').toEqual(before.dc1);
      expect(await raw.authKeys.get(7), 'DC 7 key (sealed with k2) not re-sealed').toEqual(before.dc7);
      expect(await raw.kv.entries(), 'kv values unchanged').toEqual(before.kv);
      // Everything still opens with the right keys, and the right k1 finishes the rotation.
      const expected = sealedSession(11);
      expected.dcs.push({ id: 7, authKey: authKey(112) });
      const report = await rotateEncryption({ open: (name) => open(s, name, only(K1, K2)), names: ['main'] });
      expect([report.keys, report.kvEntries]).toEqual([1, 1]);
      const reader = await open(s, 'main', only(K1));
      expect(await reader.load()).toEqual(expected);
      expect(await reader.kv.get('marked')).toEqual(authKey(113).subarray(0, 64));
      expect(await reader.kv.get('secret:salts')).toEqual(authKey(111).subarray(0, 64));
    });

    test(names[7] as string, async (s) => {
      // Written without encryption first: stored as plain bytes, whatever the key or the option says.
      const plain = await open(s, 'main', undefined);
      await plain.kv.set('secret:old', Uint8Array.of(1));
      await plain.kv.set('wished', Uint8Array.of(2), { secret: true });
      const sealed = await open(s, 'main', only(K1));
      await sealed.kv.set('marked', authKey(121).subarray(0, 40), { secret: true });
      await sealed.kv.set('secret:salts', authKey(122).subarray(0, 40));
      await sealed.kv.set('looks', Uint8Array.from([0x6d, 0x74, 0x73, 0x65, 0x61, 0x6c, 1, 1, 65, ...new Array<number>(28).fill(0)]));
      await sealed.kv.set('plain', Uint8Array.of(3));
      await sealed.kv.set('not-secret', Uint8Array.of(4), { secret: false });
      const marked = ['looks', 'marked', 'secret:salts'];
      // What the database holds: sealed (naming k1) exactly where an entry is marked.
      const held = new Map((await stored(sealed).kv.entries()).map((e) => [e.key, sealedKeyId(e.value)]));
      for (const [key, keyId] of held) expect(keyId, `stored value of ${key}: sealed with`).toBe(marked.includes(key) ? 'k1' : undefined);
      for (const reader of [sealed, await open(s, 'main', only(K2, K1))]) {
        const entries = await reader.kv.entries();
        expect(entries.map((e) => e.key)).toEqual(['looks', 'marked', 'not-secret', 'plain', 'secret:old', 'secret:salts', 'wished']);
        // secret: true or absent (never false, never another value).
        for (const entry of entries) expect([entry.key, 'secret' in entry, entry.secret], `entry ${entry.key}`).toEqual([entry.key, marked.includes(entry.key), marked.includes(entry.key) ? true : undefined]);
      }
      // A tool copying the session: each value lands sealed where the source held it sealed, and plain where plain.
      const target = await open(s, 'copy', { keys: [K2] });
      const source = await sealed.kv.entries();
      for (const entry of source) await target.kv.set(entry.key, entry.value, { secret: entry.secret });
      expect(await target.kv.entries()).toEqual(source);
      for (const entry of await stored(target).kv.entries()) expect(sealedKeyId(entry.value), `copied value of ${entry.key}: sealed with`).toBe(marked.includes(entry.key) ? 'k2' : undefined);
    });
  });
}
