/**
 * A key GramJS makes for another DC (an exported sender: a file download, a login
 * export) is not authorized until GramJS's _connectSender has imported the login there.
 * Stored before that, a process killed in between left a key the next start handed to
 * GramJS, whose MTProtoSender takes any key it is given as authorized (`_authenticated =
 * true`, "Already have an auth key") and skips auth.importAuthorization: the first
 * request on that DC failed with AUTH_KEY_UNREGISTERED. An attached session keeps such a
 * key in memory until that DC's connect settles.
 *
 * Real GramJS code throughout (TelegramClient, _createExportedSender, _connectSender,
 * _authKeyCallback); the network is a socket that refuses, so the import never happens
 * unless the test marks it done as _connectSender does after it (`sender._authenticated`).
 */
import { fileURLToPath } from 'node:url';
import { Api } from 'telegram';
import type { TelegramClient } from 'telegram';
import { afterAll, describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { adapters } from '@mtstore/test-adapters';
import { ChildLines, fileNamespace, processTargetsOfFile, serverAnswers } from '@mtstore/test-adapters/processes';
import { StorageSession } from '../src/index.js';
import { gramKey, offlineClient } from './client.js';
// @ts-expect-error: plain JS shared with the child, no declarations
import { crashKey } from './children/crash-data.mjs';

const key = crashKey as (i: number) => Uint8Array;
const CHILD = fileURLToPath(new URL('./children/import-crash.mjs', import.meta.url));

/** GramJS internals these tests drive, as GramJS 2.26 names them. */
interface Internals {
  _config: unknown;
  _exportedSenderPromises: Map<number, Promise<unknown>>;
  _createExportedSender(dcId: number): { authKey: { getKey(): Buffer | undefined; setKey(key: Buffer): Promise<void> }; _authenticated: boolean };
  _connectSender(sender: unknown, dcId: number): Promise<unknown>;
  _authKeyCallback(authKey: unknown, dcId: number): Promise<void>;
}
const internals = (client: TelegramClient) => client as unknown as Internals;

/** What _borrowExportedSender(4) starts, then the key MTProtoSender made going through GramJS's callback. */
async function exportedKeySet(client: TelegramClient): Promise<{ sender: ReturnType<Internals['_createExportedSender']>; connected: Promise<unknown> }> {
  const gram = internals(client);
  gram._config = new Api.Config({ dcOptions: [new Api.DcOption({ id: 4, ipAddress: '149.154.167.91', port: 443 })] } as ConstructorParameters<typeof Api.Config>[0]);
  const sender = gram._createExportedSender(4);
  const connected = gram._connectSender(sender, 4);
  gram._exportedSenderPromises.set(4, connected);
  await sender.authKey.setKey(Buffer.from(key(4)));
  await gram._authKeyCallback(sender.authKey, 4);
  return { sender, connected };
}

const targets = processTargetsOfFile('gramjs-import');
for (const target of targets) {
  const available = await serverAnswers(target.name);
  describe.skipIf(!available)(`a process killed before GramJS imported the login on another DC, on ${target.name}`, () => {
    const ns = fileNamespace('gramjs_import');
    afterAll(() => target.cleanup(ns));

    it('leaves no key of that DC: the next start makes a new one (and imports) instead of using an unauthorized one', async () => {
      const child = new ChildLines(CHILD, target.args(ns));
      try {
        await child.next(/^key-set$/);
      } finally {
        child.child.kill('SIGKILL');
      }
      await new Promise((resolve) => (child.child.exitCode !== null || child.child.signalCode !== null ? resolve(null) : child.child.once('exit', resolve)));
      expect(child.child.signalCode).toBe('SIGKILL');

      const storage = target.open(ns, 'import');
      try {
        expect(Buffer.from((await storage.authKeys.get(2)) ?? []).equals(Buffer.from(key(1))), 'the home DC key').toBe(true);
        expect(await storage.authKeys.get(4), 'the key of DC 4, never authorized').toBeNull();
        // The next start: GramJS's exported sender for DC 4 gets no key, so it makes one and imports the login.
        const session = new StorageSession(storage, { lease: { force: true } });
        const client = session.attach(offlineClient(session));
        await session.load();
        expect(session.getAuthKey(4)).toBeUndefined();
        expect(internals(client)._createExportedSender(4).authKey.getKey()).toBeUndefined();
        await client.destroy();
      } finally {
        await storage.close();
      }
    });
  });
}

for (const adapter of adapters.filter((a) => a.name === 'memory' || a.name === 'sqlite')) {
  /** A session on a fresh backend, attached to an offline client and loaded, home DC 2; the backend is disposed after `use`. */
  async function withAttachedSession(use: (s: { storage: Storage; session: StorageSession; client: TelegramClient }) => Promise<void>): Promise<void> {
    const backend = await adapter.backend();
    try {
      const storage = backend.open('import');
      const session = new StorageSession(storage);
      const client = session.attach(offlineClient(session));
      await session.load();
      session.setDC(2, '149.154.167.51', 443);
      await use({ storage, session, client });
    } finally {
      await backend.dispose();
    }
  }

  describe.skipIf(!(await adapter.available()))(`another DC's key of an attached session on ${adapter.name}`, () => {
    it('is stored once GramJS has imported the login there, kept in memory until then (a load() meanwhile included)', async () => {
      await withAttachedSession(async ({ storage, session, client }) => {
        session.setAuthKey(await gramKey(key(1)));
        const { sender, connected } = await exportedKeySet(client);
        expect(await storage.authKeys.get(4), 'not stored before the import').toBeNull();
        expect(session.getAuthKey(4)?.getKey()).toEqual(Buffer.from(key(4)));
        // A reconnect's load() meanwhile keeps it: the sender uses it.
        await session.load();
        expect(session.getAuthKey(4)?.getKey()).toEqual(Buffer.from(key(4)));
        // What _connectSender sets once auth.importAuthorization answered (no server here to answer it).
        sender._authenticated = true;
        await connected;
        await session.save();
        expect(Buffer.from((await storage.authKeys.get(4)) ?? []).equals(Buffer.from(key(4))), 'stored after the import').toBe(true);

        // A key set by hand for another DC (no connect of it under way) is stored at once, as before.
        session.setAuthKey(await gramKey(key(5)), 5);
        await session.save();
        expect(Buffer.from((await storage.authKeys.get(5)) ?? []).equals(Buffer.from(key(5)))).toBe(true);
        await client.destroy();
      });
    });

    it('a key removed before the import (GramJS dropped the sender) is never stored', async () => {
      await withAttachedSession(async ({ storage, session, client }) => {
        const { sender, connected } = await exportedKeySet(client);
        // _cleanupExportedSender: the DC's key is dropped (a broken connection, AUTH_KEY_UNREGISTERED).
        session.setAuthKey(undefined, 4);
        sender._authenticated = true;
        await connected;
        await session.save();
        expect(await storage.authKeys.get(4)).toBeNull();
        expect(session.getAuthKey(4)).toBeUndefined();
        await client.destroy();
      });
    });
  });
}
