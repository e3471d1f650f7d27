/**
 * The per-session key-value store (contract v2, docs/contract.md "Key-value entries"):
 * bytes, durable on resolve, kept across save(), removed by delete(), per name.
 */
import { fullSession, minimalSession } from '../fixtures.js';
import type { StorageRegistrar } from './context.js';
import { everythingKv, storedEverywhere } from './intact.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

export function keyValue({ group, test, expect, options }: StorageRegistrar): void {
  group('kv', () => {
    test('set / get / delete, with no snapshot saved; empty and 64 KiB values round-trip', async (s) => {
      const storage = await s.open();
      expect(await storage.kv.get('salts:2')).toBeNull();
      await storage.kv.set('salts:2', bytes(1, 2, 3));
      expect(await storage.kv.get('salts:2')).toEqual(bytes(1, 2, 3));
      await storage.kv.set('salts:2', bytes(4));
      expect(await storage.kv.get('salts:2')).toEqual(bytes(4));
      await storage.kv.set('empty', new Uint8Array(0));
      expect(await storage.kv.get('empty')).toEqual(new Uint8Array(0));
      const big = Uint8Array.from({ length: 65_536 }, (_, i) => (i * 31) & 0xff);
      await storage.kv.set('big', big);
      expect(await storage.kv.get('big')).toEqual(big);
      await storage.kv.delete('salts:2');
      await storage.kv.delete('never-set');
      expect(await storage.kv.get('salts:2')).toBeNull();
      expect(await storage.load()).toBeNull();
    });

    test('values that start like a sealed value ("mtseal", docs/contract.md §10a) read back as written, with get and entries', async (s) => {
      const storage = await s.open();
      const magic = [0x6d, 0x74, 0x73, 0x65, 0x61, 0x6c];
      const values = [
        bytes(...magic, 1, 1, 65, ...new Array<number>(28).fill(0)), // a well-formed sealed header naming key "A"
        bytes(...magic, 0, 1, 2), // the escape form
        bytes(...magic, 1), // too short to be sealed
        bytes(...magic),
      ];
      for (const [i, value] of values.entries()) await storage.kv.set(`v${i}`, value);
      for (const [i, value] of values.entries()) expect(await storage.kv.get(`v${i}`), `v${i}`).toEqual(value);
      expect(await storage.kv.entries()).toEqual(values.map((value, i) => ({ key: `v${i}`, value })));
      const other = await s.open();
      expect(await other.kv.get('v0'), 'another instance').toEqual(values[0]);
    });

    test('entries mark no value secret without encryption (docs/contract.md §4): { secret: true } stores the plain bytes', async (s) => {
      const storage = await s.open();
      await storage.kv.set('wished', bytes(1), { secret: true });
      await storage.kv.set('plain', bytes(2), { secret: false });
      await storage.kv.set('looks', bytes(0x6d, 0x74, 0x73, 0x65, 0x61, 0x6c, 1, 1, 65, ...new Array<number>(28).fill(0)));
      for (const instance of [storage, await s.open()]) {
        const entries = await instance.kv.entries();
        expect(entries.map((e) => e.key)).toEqual(['looks', 'plain', 'wished']);
        for (const entry of entries) expect('secret' in entry, `entry ${entry.key} has a secret field`).toBe(false);
      }
    });

    test('delete and clear on a name with nothing stored resolve and store nothing', async (s) => {
      const storage = await s.open();
      await storage.kv.delete('never-set');
      await storage.kv.clear();
      expect(await storage.kv.entries()).toEqual([]);
      expect(await storage.load()).toBeNull();
    });

    test('keys are exact: case, punctuation and the longest key are distinct entries', async (s) => {
      const storage = await s.open();
      const keys = ['a', 'A', 'pts:-1001234567890', 'x'.repeat(255), '!#$%&()*+,./;<=>?@[]^`{|}~', 'a.b', 'a:b'];
      for (const [i, key] of keys.entries()) await storage.kv.set(key, bytes(i));
      for (const [i, key] of keys.entries()) expect(await storage.kv.get(key), key).toEqual(bytes(i));
      expect((await storage.kv.entries()).map((e) => e.key)).toEqual([...keys].sort());
    });

    test('entries lists every entry sorted by key; clear removes them and nothing else: snapshot, keys, peers, references and other names stay', async (s) => {
      const { storage, expectIntactBut } = await storedEverywhere(s, expect);
      await storage.kv.set('c', bytes(3));
      await storage.kv.set('B', bytes(2));
      expect(await storage.kv.entries()).toEqual([{ key: 'B', value: bytes(2) }, ...everythingKv(1).slice(0, 2), { key: 'c', value: bytes(3) }, ...everythingKv(1).slice(2)]);
      await storage.kv.clear();
      expect(await storage.kv.entries()).toEqual([]);
      for (const { key } of everythingKv(1)) expect(await storage.kv.get(key), key).toBeNull();
      await expectIntactBut('kv', 'kv.clear()');
    });

    test('save() keeps the entries; delete() removes them; other names keep theirs', async (s) => {
      const alice = await s.open('alice');
      const bob = await s.open('bob');
      await alice.kv.set('k', bytes(1));
      await bob.kv.set('k', bytes(2));
      await alice.save(minimalSession());
      await alice.save(fullSession(2));
      expect(await alice.kv.get('k')).toEqual(bytes(1));
      await alice.delete();
      expect(await alice.kv.get('k')).toBeNull();
      expect(await alice.kv.entries()).toEqual([]);
      expect(await bob.kv.get('k')).toEqual(bytes(2));
    });

    test('values are copied in and out', async (s) => {
      const storage = await s.open();
      const value = bytes(1, 2, 3);
      const pending = storage.kv.set('k', value);
      value[0] = 9;
      await pending;
      const read = (await storage.kv.get('k')) as Uint8Array;
      read[1] = 9;
      expect(await storage.kv.get('k')).toEqual(bytes(1, 2, 3));
    });

    // §4: a driver's Buffer may be a slice of Node's shared pool, whose `.buffer` holds
    // other values read on that connection (other sessions' secrets among them).
    test('get and entries hand out each value as a plain Uint8Array over a buffer holding its bytes only', async (s) => {
      const storage = await s.open();
      const values = [bytes(1, 2, 3), new Uint8Array(0), Uint8Array.from({ length: 100 }, (_, i) => i), Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff)];
      for (const [i, value] of values.entries()) await storage.kv.set(`k${i}`, value);
      const reader = options.capabilities?.sharedBackend === false ? storage : await s.open();
      const read: [string, Uint8Array | null][] = [];
      for (const instance of [storage, reader]) {
        for (const i of values.keys()) read.push([`get(k${i})`, await instance.kv.get(`k${i}`)]);
        for (const { key, value } of await instance.kv.entries()) read.push([`entries: ${key}`, value]);
      }
      for (const [what, value] of read) {
        expect(value === null ? null : Object.getPrototypeOf(value) === Uint8Array.prototype, `${what} is a plain Uint8Array`).toBe(true);
        expect([value?.byteOffset, value?.buffer.byteLength], `${what}: offset and buffer size`).toEqual([0, value?.byteLength]);
      }
      expect(read.map(([, value]) => value)).toEqual([...values, ...values, ...values, ...values]);
    });

    // With sharedBackend: false this runs on one instance.
    {
      const shared = options.capabilities?.sharedBackend !== false;
      test(`durable on resolve: ${shared ? 'another' : 'the same'} instance reads it; concurrent writers of different keys lose none`, async (s) => {
        const a = await s.open();
        const b = shared ? await s.open() : a;
        await a.kv.set('first', bytes(1));
        expect(await b.kv.get('first')).toEqual(bytes(1));
        await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).kv.set(`key${i}`, bytes(i))));
        const entries = await a.kv.entries();
        for (let i = 0; i < 30; i++) expect(entries, `key${i}`).toContainEqual({ key: `key${i}`, value: bytes(i) });
      });
    }
  });
}
