/**
 * Secrets (DESIGN §5, standards): auth key bytes never appear in an error message,
 * in `util.inspect` of the storage or of a loaded session, nor in JSON or string
 * conversions of a loaded key.
 */
import { inspect } from 'node:util';
import type { Session } from '@mtstore/core';
import { authKey, fullSession, minimalSession } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { StorageRegistrar } from './context.js';

/** The ways bytes end up in text: hex, base64, and decimal lists as inspect and join print them. */
function encodings(key: Uint8Array): string[] {
  const head = key.subarray(0, 12);
  const bytes = Array.from(head);
  return [
    Buffer.from(head).toString('hex'),
    Buffer.from(key.subarray(0, 24)).toString('base64').slice(0, 24),
    bytes.join(','),
    bytes.join(', '),
    Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' '),
  ];
}

function leaks(text: string, key: Uint8Array): string | undefined {
  return encodings(key).find((form) => text.includes(form));
}

export function secrets({ group, test, expect }: StorageRegistrar): void {
  group('secrets', () => {
    test('util.inspect of the storage and of a loaded session never shows key bytes', async (s) => {
      const storage = await s.open();
      const session = fullSession(6);
      await storage.save(session);
      const loaded = (await storage.load()) as Session;
      const keys = session.dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k): k is Uint8Array => k !== undefined);
      const texts = {
        'inspect(storage)': inspect(storage, { depth: 8, showHidden: true }),
        'inspect(loaded session)': inspect(loaded, { depth: 8 }),
        'console.log form of a loaded key': inspect(loaded.dcs[0]?.authKey),
        'JSON of the loaded session': JSON.stringify(loaded, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
        'String(loaded key)': String(loaded.dcs[0]?.authKey),
      };
      for (const [where, text] of Object.entries(texts)) {
        for (const key of keys) expect(leaks(text, key), `${where} shows key bytes`).toBe(undefined);
      }
      // The bytes are all there for whoever asks for them.
      expect(Buffer.from(loaded.dcs[0]?.authKey as Uint8Array).equals(Buffer.from(session.dcs[0]?.authKey as Uint8Array))).toBe(true);
    });

    // docs/contract.md §8: a storage "prints (util.inspect) and serializes (JSON.stringify,
    // { type, … }) as its class, name and namespace fields only, never its connection,
    // driver options or keys". The kit cannot know the namespace fields: it checks that
    // each is a plain value (no connection, pool or options object) and shows no key.
    test('JSON.stringify of a storage is { type, name, … } of plain values only; util.inspect shows the same name', async (s) => {
      const storage = await s.open('main');
      const session = fullSession(6);
      await storage.save(session);
      const json: unknown = JSON.parse(JSON.stringify(storage));
      expect(typeof json === 'object' && json !== null && !Array.isArray(json), `JSON of the storage is an object: ${JSON.stringify(json)}`).toBe(true);
      const fields = json as Record<string, unknown>;
      expect(typeof fields.type, 'its type (the class)').toBe('string');
      expect(fields.name, 'its session name').toBe('main');
      for (const [field, value] of Object.entries(fields)) {
        expect(value === null || ['string', 'number', 'boolean'].includes(typeof value), `field ${field} is a plain value, not ${JSON.stringify(value)}`).toBe(true);
      }
      const shown = inspect(storage, { depth: 8 });
      expect(shown.includes('main'), `util.inspect names the session: ${shown}`).toBe(true);
      const keys = session.dcs.flatMap((dc) => [dc.authKey, ...(dc.tempAuthKeys ?? []).map((t) => t.key)]).filter((k): k is Uint8Array => k !== undefined);
      for (const key of keys) expect(leaks(JSON.stringify(storage), key), 'JSON of the storage shows key bytes').toBe(undefined);
    });

    // docs/contract.md §3: keys come back as AuthKeyBytes "by get, getTemp, entries and load alike".
    test('keys read by authKeys.get, getTemp and entries never show their bytes in util.inspect, String or JSON', async (s) => {
      const storage = await s.open();
      const permanent = authKey(81);
      const temp = { index: 1, key: authKey(82), expiresAt: 5 };
      await storage.authKeys.set(3, permanent);
      await storage.authKeys.setTemp(3, temp);
      const got = await storage.authKeys.get(3);
      const gotTemp = await storage.authKeys.getTemp(3, 1);
      const [entry] = await storage.authKeys.entries();
      expect(got).toEqual(permanent);
      expect(gotTemp).toEqual(temp);
      expect(entry).toEqual({ dcId: 3, mediaOnly: false, authKey: permanent, tempAuthKeys: [temp] });
      const shown: Record<string, [unknown, Uint8Array]> = {
        'authKeys.get': [got, permanent],
        'authKeys.getTemp': [gotTemp, temp.key],
        'the key of authKeys.getTemp': [gotTemp?.key, temp.key],
        'authKeys.entries': [entry, permanent],
        'a temp key of authKeys.entries': [entry?.tempAuthKeys[0]?.key, temp.key],
      };
      for (const [where, [value, key]] of Object.entries(shown)) {
        for (const [how, text] of [
          ['util.inspect', inspect(value, { depth: 8 })],
          ['String', String(value)],
          ['JSON', JSON.stringify(value) ?? ''],
        ] as const) {
          expect(leaks(text, key), `${how} of ${where} shows key bytes`).toBe(undefined);
        }
      }
    });

    test('a key passed as a string, an array or a Buffer of the wrong size is never echoed', async (s) => {
      const storage = await s.open();
      const key = authKey(78);
      const hex = Buffer.from(key).toString('hex');
      const forms: [string, unknown][] = [
        ['a hex string', hex],
        ['a base64 string', Buffer.from(key).toString('base64')],
        ['an array of numbers', Array.from(key)],
        ['a 255-byte Buffer', Buffer.from(key.subarray(0, 255))],
      ];
      for (const [what, value] of forms) {
        const session = minimalSession();
        (session.dcs[0] as unknown as Record<string, unknown>).authKey = value;
        const errors = [
          await expectRejects(expect, `save with the key as ${what}`, CODES.invalid, () => storage.save(session)),
          await expectRejects(expect, `authKeys.set with the key as ${what}`, CODES.invalid, () => storage.authKeys.set(2, value as Uint8Array)),
          await expectRejects(expect, `authKeys.setTemp with the key as ${what}`, CODES.invalid, () => storage.authKeys.setTemp(2, { index: 0, key: value as Uint8Array, expiresAt: 1 })),
        ];
        for (const error of errors) {
          const text = `${error.message}\n${inspect(error, { depth: 8 })}\n${JSON.stringify(error)}`;
          expect(leaks(text, key), `an error for a key given as ${what} shows key bytes`).toBe(undefined);
          expect(text.includes(hex.slice(0, 16)) || text.includes(hex.slice(100, 116)), `an error for a key given as ${what} shows part of the hex`).toBe(false);
        }
      }
    });

    // docs/contract.md §8: bytes are recognised by the typed array's internals, and an error
    // describes a value it refuses by its type and length only, whatever the caller passed.
    test('a key in any other form (ArrayBuffer, DataView, another typed array, a Proxy, a throwing getter, a subclass printing itself) is refused and never echoed', async (s) => {
      const storage = await s.open();
      const key = authKey(79);
      const hex = Buffer.from(key).toString('hex');
      /** Prints the bytes it holds in every way it is asked to. */
      class Loud extends Uint8Array {
        override toString(): string {
          return hex;
        }
        toJSON(): string {
          return hex;
        }
        [inspect.custom](): string {
          return hex;
        }
      }
      const forms: [string, () => unknown][] = [
        ['an ArrayBuffer', () => key.slice().buffer],
        ['a DataView', () => new DataView(key.slice().buffer)],
        ['a Uint16Array of the same bytes', () => new Uint16Array(key.slice().buffer)],
        ['an Int8Array of the same bytes', () => new Int8Array(key.slice().buffer)],
        ['a Proxy of a Uint8Array', () => new Proxy(key.slice(), {})],
        ['an object inheriting from Uint8Array.prototype', () => Object.setPrototypeOf({ ...Array.from(key), length: 256 }, Uint8Array.prototype) as unknown],
        ['an array-like object', () => ({ ...Array.from(key), length: 256 })],
        ['an object whose length getter throws', () => Object.defineProperty({ ...Array.from(key) }, 'length', { get: () => { throw new Error('no length'); } })],
        ['a Uint8Array subclass of 255 bytes printing itself', () => Loud.from(key.subarray(0, 255))],
      ];
      for (const [what, make] of forms) {
        const session = minimalSession();
        (session.dcs[0] as unknown as Record<string, unknown>).authKey = make();
        const temp = minimalSession();
        (temp.dcs[0] as unknown as Record<string, unknown>).tempAuthKeys = [{ index: 0, key: make(), expiresAt: 1 }];
        const errors = [
          await expectRejects(expect, `save with the key as ${what}`, CODES.invalid, () => storage.save(session)),
          await expectRejects(expect, `save with a temp key as ${what}`, CODES.invalid, () => storage.save(temp)),
          await expectRejects(expect, `authKeys.set with the key as ${what}`, CODES.invalid, () => storage.authKeys.set(2, make() as Uint8Array)),
          await expectRejects(expect, `authKeys.setTemp with the key as ${what}`, CODES.invalid, () => storage.authKeys.setTemp(2, { index: 0, key: make() as Uint8Array, expiresAt: 1 })),
        ];
        if (!what.startsWith('a Uint8Array subclass')) {
          // A subclass is a Uint8Array: a kv value of any length up to 64 KiB.
          errors.push(await expectRejects(expect, `kv.set of a secret as ${what}`, CODES.invalid, () => storage.kv.set('salts:2', make() as Uint8Array, { secret: true })));
        }
        for (const error of errors) {
          const text = `${error.message}\n${inspect(error, { depth: 10, showHidden: true })}\n${JSON.stringify(error)}\n${String(error.stack)}`;
          expect(leaks(text, key), `an error for a key given as ${what} shows key bytes`).toBe(undefined);
          expect(text.includes(hex.slice(0, 16)), `an error for a key given as ${what} shows its hex`).toBe(false);
        }
      }
      expect(await storage.load(), 'nothing stored').toBeNull();
      expect(await storage.authKeys.get(2), 'no key stored').toBeNull();
      expect(await storage.kv.get('salts:2'), 'no kv value stored').toBeNull();
    });

    test('error messages never show key bytes', async (s) => {
      const storage = await s.open();
      const key = authKey(77);
      const long = new Uint8Array(257);
      long.set(key);
      const bad = minimalSession();
      bad.dcs = [{ id: 2, port: 443, authKey: long }];
      const error = await expectRejects(expect, 'save with a 257-byte key', CODES.invalid, () => storage.save(bad));
      const text = `${error.message}\n${inspect(error, { depth: 8 })}`;
      expect(leaks(text, key), 'the error shows key bytes').toBe(undefined);
      await storage.close();
      const closed = await expectRejects(expect, 'save after close', CODES.closed, () => storage.save(fullSession(1)));
      expect(leaks(`${closed.message}\n${inspect(closed)}`, authKey(11)), 'the error shows key bytes').toBe(undefined);
    });
  });
}
