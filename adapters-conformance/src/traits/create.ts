/**
 * `create: false` (docs/contract.md §10), through the factory's optional `openExisting`
 * hook (the adapter opened as `open` does, with its `create: false`): only a store that
 * is there opens. On a namespace that holds none, every call — reads and writes — is
 * NotFoundError naming where it looked, and nothing is created, so a later create: false
 * instance is refused the same way; a store in another namespace does not count. A
 * store that `open` wrote opens as with `create: true`: it reads back, takes writes, and
 * a name with nothing stored in it is an empty session, not a missing store. A store of
 * a newer release is MigrationError as always.
 *
 * What only the backend can show (no file, table, index or key appeared; an older
 * schema is migrated) stays in each adapter's own tests.
 */
import type { SessionStorageProtocol, Storage } from '@mtstore/core';
import { DAMAGES } from '../api.js';
import { authKey, fullSession, peer } from '../fixtures.js';
import { CODES, expectRejects } from '../harness.js';
import type { ServerRegistrar, StorageRegistrar } from './context.js';

const NO_HOOK = 'no openExisting(namespace, name) hook given (the adapter has no `create: false`)';
const SHARED_BACKEND_REASON = 'declared capability sharedBackend: false (instances on one namespace do not share data)';
const MIGRATION = 'MTSTORE_MIGRATION';

const NAMES = {
  missingRead: 'a namespace nothing was written to: load rejects NotFoundError, on every call, and creates nothing (a second create: false instance is refused too)',
  missingWrite: 'a namespace nothing was written to: writes (save, authKeys.set, kv.set) reject NotFoundError and store nothing',
  namesWhere: 'the NotFoundError names what is missing: its message holds the namespace it looked in',
  otherNamespace: 'a store in another namespace does not count: create: false on this one is still NotFoundError',
  existing: 'a store that open wrote opens: load gives the saved session, peers, keys and kv resolve, and its writes reach open’s instances',
  newName: 'a name with nothing stored in a store that is there is not a missing store: load is null, and save creates the session',
  newer: 'a store written by a newer release is MigrationError, not NotFoundError, and is not opened',
} as const;

export function createFalse(r: StorageRegistrar): void {
  const { group, test, skip, expect, options } = r;
  group('create: false', () => {
    if (options.openExisting === undefined) {
      for (const name of Object.values(NAMES)) skip(name, NO_HOOK);
      return;
    }
    const shared = options.capabilities?.sharedBackend !== false;

    test(NAMES.missingRead, async (s) => {
      // The hook may refuse already (an async factory that looks first) or hand back an
      // instance that refuses on first use: both are the rule. Its second call too.
      let first: Storage | undefined;
      await expectRejects(expect, 'load through create: false on an empty namespace', CODES.notFound, async () => (first = await s.openExisting()).load());
      if (first !== undefined) await expectRejects(expect, 'a second load on the same create: false instance', CODES.notFound, () => (first as Storage).load());
      // Had the first instance created the store, this one would open it.
      await expectRejects(expect, 'load through a second create: false instance', CODES.notFound, async () => (await s.openExisting()).load());
    });

    test(NAMES.missingWrite, async (s) => {
      const writes: [string, (storage: Storage) => Promise<unknown>][] = [
        ['save', (storage) => storage.save(fullSession(1))],
        ['authKeys.set', (storage) => storage.authKeys.set(2, authKey(1))],
        ['kv.set', (storage) => storage.kv.set('k', Uint8Array.from([1, 2, 3]))],
      ];
      for (const [what, write] of writes) {
        await expectRejects(expect, `${what} through create: false on an empty namespace`, CODES.notFound, async () => write(await s.openExisting()));
        await expectRejects(expect, `load through create: false after a refused ${what}`, CODES.notFound, async () => (await s.openExisting()).load());
      }
      // The namespace made now (create: true) holds nothing the refused writes carried.
      const storage = await s.open();
      expect(await storage.load(), 'the session refused through create: false').toBeNull();
      expect(await storage.authKeys.get(2), 'the key refused through create: false').toBeNull();
      expect(await storage.kv.get('k'), 'the kv entry refused through create: false').toBeNull();
    });

    test(NAMES.namesWhere, async (s) => {
      const error = await expectRejects(expect, 'load through create: false on an empty namespace', CODES.notFound, async () => (await s.openExisting()).load());
      // The namespace is the file, schema, key prefix or database (part of its name): the
      // message must say where nothing was found, so a typo in it can be seen.
      expect(error.message.includes(s.namespace), `the message names the namespace ${s.namespace}: ${error.message}`).toBe(true);
    });

    test(NAMES.otherNamespace, async (s) => {
      const elsewhere = await s.openIn(s.scope.another());
      await elsewhere.save(fullSession(1));
      expect(await elsewhere.load(), 'the session in the other namespace').toEqual(fullSession(1));
      await expectRejects(expect, 'load through create: false on a namespace beside a store', CODES.notFound, async () => (await s.openExisting()).load());
      await expectRejects(expect, 'save through create: false on a namespace beside a store', CODES.notFound, async () => (await s.openExisting()).save(fullSession(2)));
      expect(await elsewhere.load(), 'the other namespace’s session after the refusals').toEqual(fullSession(1));
    });

    if (!shared) {
      for (const name of [NAMES.existing, NAMES.newName, NAMES.newer]) skip(name, SHARED_BACKEND_REASON);
      return;
    }

    test(NAMES.existing, async (s) => {
      const writer = await s.open();
      await writer.save(fullSession(1));
      await writer.peers.upsert([peer('user', 1), peer('channel', 2)]);
      await writer.kv.set('k', Uint8Array.from([1, 2, 3]));
      const reader = await s.openExisting();
      expect(await reader.load(), 'load through create: false').toEqual(fullSession(1));
      expect(await reader.peers.getById('user', 1n), 'a peer by id through create: false').toEqual(peer('user', 1));
      expect(await reader.peers.getByUsername('channel_2'), 'a peer by username through create: false').toEqual(peer('channel', 2));
      expect(await reader.authKeys.get(2), 'a key through create: false').toEqual(fullSession(1).dcs[1]?.authKey);
      expect(await reader.kv.get('k'), 'a kv entry through create: false').toEqual(Uint8Array.from([1, 2, 3]));
      expect(await reader.listNames(), 'listNames through create: false').toEqual(['main']);
      // Writes through it land in the same store: open's instances see them.
      await reader.authKeys.set(4, authKey(40));
      await reader.kv.set('j', Uint8Array.from([4]));
      await reader.peers.upsert([peer('user', 3)]);
      await reader.saveUpdateState({ pts: 1, qts: 2, date: 1_700_000_003, seq: 4 });
      const later = await s.open();
      expect(await later.authKeys.get(4), 'a key written through create: false').toEqual(authKey(40));
      expect(await later.kv.get('j'), 'a kv entry written through create: false').toEqual(Uint8Array.from([4]));
      expect(await later.peers.getById('user', 3n), 'a peer written through create: false').toEqual(peer('user', 3));
      expect((await later.load())?.state, 'the update state written through create: false').toEqual({ pts: 1, qts: 2, date: 1_700_000_003, seq: 4 });
      await reader.save(fullSession(2));
      expect(await writer.load(), 'a save through create: false, read by open’s first instance').toEqual(fullSession(2));
    });

    test(NAMES.newName, async (s) => {
      const writer = await s.open();
      await writer.save(fullSession(1));
      const fresh = await s.openExisting('other');
      expect(await fresh.load(), 'load of a name with nothing stored').toBeNull();
      expect(await fresh.authKeys.get(2), 'a key of a name with nothing stored').toBeNull();
      await fresh.save(fullSession(2));
      expect(await fresh.load(), 'the session saved through create: false').toEqual(fullSession(2));
      expect(await (await s.open('other')).load(), 'that session through open').toEqual(fullSession(2));
      expect(await writer.listNames(), 'both names').toEqual(['main', 'other']);
    });

    const tamper = options.tamper;
    if (tamper === undefined) skip(NAMES.newer, 'no tamper hook given (the kit cannot plant data the adapter never writes)');
    else if (!tamper.kinds.includes('version-newer')) skip(NAMES.newer, `the tamper hook does not plant version-newer (${DAMAGES['version-newer']})`);
    else {
      test(NAMES.newer, async (s) => {
        const writer = await s.open();
        await writer.save(fullSession(1));
        await writer.close();
        await tamper.apply(s.namespace, 'main', 'version-newer');
        const reader = await s.openExisting();
        await expectRejects(expect, 'load through create: false of a store from a newer release', MIGRATION, () => reader.load());
        await expectRejects(expect, 'save through create: false into a store from a newer release', MIGRATION, () => reader.save(fullSession(2)));
        await expectRejects(expect, 'load through a second create: false instance', MIGRATION, async () => (await s.openExisting()).load());
      });
    }
  });
}

const SERVER_NAMES = {
  missing:
    'a namespace nothing was written to: hasSession, createSession and listSessions reject NotFoundError and create nothing (a second create: false instance is refused too)',
  existing: 'a store that open wrote opens: its sessions are there, and sessions created or destroyed through it are seen by open’s instances',
} as const;

/** The same rule for the server side (docs/contract.md §10), through SessionStorageSuiteOptions.openExisting. */
export function serverCreateFalse(r: ServerRegistrar): void {
  const { group, test, skip, expect, options } = r;
  group('create: false', () => {
    if (options.openExisting === undefined) {
      for (const name of Object.values(SERVER_NAMES)) skip(name, NO_HOOK.replace('(namespace, name)', '(namespace)'));
      return;
    }

    test(SERVER_NAMES.missing, async (s) => {
      const calls: [string, (storage: SessionStorageProtocol) => Promise<unknown>][] = [
        ['hasSession', (storage) => storage.hasSession(1n, 2n)],
        ['createSession', (storage) => storage.createSession(1n, 2n)],
        ['listSessions', (storage) => storage.listSessions(1n)],
      ];
      for (const [what, call] of calls) {
        const error = await expectRejects(expect, `${what} through create: false on an empty namespace`, CODES.notFound, async () => call(await s.openExisting()));
        expect(error.message.includes(s.namespace), `the message names the namespace ${s.namespace}: ${error.message}`).toBe(true);
      }
      // Had a refused call created the store, this instance would open it.
      await expectRejects(expect, 'hasSession through a later create: false instance', CODES.notFound, async () => (await s.openExisting()).hasSession(1n, 2n));
      // The store made now (create: true) holds no session the refused createSession carried.
      expect(await (await s.open()).hasSession(1n, 2n), 'the session refused through create: false').toBe(false);
    });

    test(SERVER_NAMES.existing, async (s) => {
      const writer = await s.open();
      expect(await writer.createSession(1n, 2n), 'created through open').toBe(true);
      const reader = await s.openExisting();
      expect(await reader.hasSession(1n, 2n), 'the session open created, through create: false').toBe(true);
      expect(await reader.createSession(1n, 3n), 'a session created through create: false').toBe(true);
      expect(await reader.destroySession(1n, 2n), 'the first session destroyed through create: false').toBe(true);
      expect(await writer.listSessions(1n), 'what open sees afterwards').toEqual([3n]);
    });
  });
}
