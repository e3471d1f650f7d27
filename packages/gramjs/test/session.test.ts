/**
 * The bridge with the real `telegram` package on every backend: entities cached
 * through processEntities come back after a restart (a new StorageSession on the
 * same backend, load()) and TelegramClient.getInputEntity resolves them from there;
 * keys of several DCs, the home DC address, takeout id and self user persist;
 * delete() logs out. The client never connects.
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Api, extensions, sessions } from 'telegram';
import { authKey, plainBytes } from '@mtstore/conformance/vitest';
import type { EntityLike } from 'telegram/define.js';
import type { AuthKey } from 'telegram/crypto/AuthKey.js';
import type { Storage } from '@mtstore/core';
import { StorageSession } from '../src/index.js';
import { backends, type Backend } from './backends.js';
import { channel, chat, gramKey, offlineClient, user } from './client.js';

const CHANNEL_ID = 1_234_567_890n;

for (const factory of backends) {
  const backend = await factory.create();
  describe.skipIf(backend === null)(`StorageSession on ${factory.name}`, () => {
    const live = backend as Backend;
    let names = 0;
    let name: string;
    const errors: [unknown, string][] = [];

    /** A session as a process opening `name` would have it: a new Storage instance, load() done. */
    async function restart(options: { name?: string; completeObjects?: boolean } = {}): Promise<{ session: StorageSession; storage: Storage }> {
      const storage = await live.open(options.name ?? name);
      // A "restart" here leaves the previous session open on purpose: no lease (see the lease test).
      const session = new StorageSession(storage, { onError: (error, operation) => errors.push([error, operation]), completeObjects: options.completeObjects, lease: false });
      await session.load();
      return { session, storage };
    }

    beforeEach(() => {
      name = `gramjs-${process.pid}-${++names}`;
      errors.length = 0;
    });
    afterEach(() => {
      expect(errors.map(([error, operation]) => `${operation}: ${String(error)}`)).toEqual([]);
    });
    afterAll(() => live.dispose());

      it('takes the lease at load() and gives it back at close(): a second session on the name fails with LeaseHeldError naming the first', async () => {
        const first = new StorageSession(await live.open(name));
        await first.load();
        const probe = await live.open(name);
        expect((await probe.lease.holder())?.owner).toMatchObject({ pid: process.pid, label: 'gramjs' });
        const second = new StorageSession(await live.open(name));
        const error = await second.load().then(
          () => null,
          (e: unknown) => e as Error & { code?: string },
        );
        expect(error?.code).toBe('MTSTORE_LEASE_HELD');
        expect(error?.message).toMatch(/is in use by pid \d+ on host .* \("gramjs"\).*AUTH_KEY_DUPLICATED/s);
        await first.close();
        expect(await probe.lease.holder(), 'close() gave the lease back').toBeNull();
        await second.load();
        expect((await probe.lease.holder())?.owner.label).toBe('gramjs');
        await second.close();
      });

      it('attach(client): client.destroy() gives the lease back, so a second client starts right after the first is destroyed', async () => {
        const probe = await live.open(name);
        const first = new StorageSession(await live.open(name), { onError: (error, operation) => errors.push([error, operation]) });
        const firstClient = first.attach(offlineClient(first));
        expect(first.attach(firstClient), 'attach twice is one wrap').toBe(firstClient);
        // connect() runs the session start-up (load(): the lease), then gives up at the offline socket.
        expect(await firstClient.connect()).toBe(false);
        expect((await probe.lease.holder())?.owner.label).toBe('gramjs');
        firstClient.session.setAuthKey(await gramKey(authKey(31)), 2);

        const second = new StorageSession(await live.open(name));
        const secondClient = second.attach(offlineClient(second));
        await expect(secondClient.connect()).rejects.toMatchObject({ code: 'MTSTORE_LEASE_HELD' });

        await firstClient.destroy();
        expect(await probe.lease.holder(), 'destroy() gave the lease back').toBeNull();
        expect(plainBytes(await probe.authKeys.get(2)), 'and waited for the pending write').toEqual(authKey(31));
        expect(await secondClient.connect()).toBe(false);
        expect((await probe.lease.holder())?.owner.label).toBe('gramjs');
        expect(secondClient.session.getAuthKey(2)?.getKey()).toEqual(Buffer.from(authKey(31)));
        await secondClient.destroy();
        expect(await probe.lease.holder()).toBeNull();
        expect(() => second.attach(offlineClient(first))).toThrow(TypeError);
      });

      it('two connect() calls at once both start the session: the second load() shares the first one’s lease, not LeaseHeldError naming itself', async () => {
        const probe = await live.open(name);
        const session = new StorageSession(await live.open(name), { onError: (error, operation) => errors.push([error, operation]) });
        const client = session.attach(offlineClient(session));
        // Both run GramJS's start-up (load()), then give up at the offline socket, as with MemorySession.
        const results = await Promise.allSettled([client.connect(), client.connect(), session.load()]);
        expect(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual([false, false, undefined]);
        expect((await probe.lease.holder())?.owner).toMatchObject({ pid: process.pid, label: 'gramjs' });
        await client.destroy();
        expect(await probe.lease.holder()).toBeNull();
      });

      it('destroy() right after connect(), while load() is still taking the lease, leaves no lease held', async () => {
        const probe = await live.open(name);
        const session = new StorageSession(await live.open(name), { onError: (error, operation) => errors.push([error, operation]) });
        const client = session.attach(offlineClient(session));
        const connecting = client.connect();
        await client.destroy();
        await Promise.allSettled([connecting]);
        const holder = await probe.lease.holder();
        // Without this a failing run would leave the heartbeat renewing the lease.
        if (session.storage.lease.held !== null) await session.storage.lease.release();
        expect(holder, 'the lease the load() took was given back by close()').toBeNull();
        // The session can start again after that (a new connect() takes the lease anew).
        expect(await client.connect()).toBe(false);
        expect((await probe.lease.holder())?.owner.label).toBe('gramjs');
        await client.destroy();
        expect(await probe.lease.holder()).toBeNull();
      });

      it('destroy() while connect() waits for another process’s lease (the wait option) does not wait with it; the lease, once taken, is given back', async () => {
        const other = await live.open(name);
        await other.lease.acquire({ owner: { label: 'other' } });
        const probe = await live.open(name);
        const session = new StorageSession(await live.open(name), { onError: (error, operation) => errors.push([error, operation]), lease: { wait: 10_000 } });
        const client = session.attach(offlineClient(session));
        const connecting = client.connect();
        await new Promise((resolve) => setTimeout(resolve, 50));
        const started = performance.now();
        await client.destroy();
        expect(performance.now() - started, 'destroy() did not wait for the other holder').toBeLessThan(1_000);
        await other.lease.release();
        await Promise.allSettled([connecting]);
        await session.save();
        expect(await probe.lease.holder(), 'the lease the waiting load() took is given back').toBeNull();
        expect(session.storage.lease.held).toBeNull();
      });

      it('is a GramJS Session the TelegramClient accepts', async () => {
        const { session } = await restart();
        expect(session).toBeInstanceOf(sessions.Session);
        const client = offlineClient(session);
        expect(client.session).toBe(session);
        expect(client.connected).toBeFalsy();
      });

      it('resolves users, chats and channels by id, marked id, username and phone after a restart', async () => {
        const first = await restart();
        await first.session.load();
        first.session.setDC(2, '149.154.167.51', 443);
        first.session.processEntities(
          new Api.contacts.ResolvedPeer({
            peer: new Api.PeerUser({ userId: user({ id: 1 }).id }),
            users: [
              user({ id: 1001, username: 'Alice_Bot', phone: '15550001', firstName: 'Alice', lastName: 'Liddell' }),
              user({ id: 1002, phone: '15550002', firstName: 'Bob' }),
            ],
            chats: [chat(4242, 'Book club'), channel(CHANNEL_ID, 'newsroom')],
          }),
        );
        await first.session.save();

        const { session } = await restart();
        const client = offlineClient(session);
        const alice = new Api.InputPeerUser({ userId: user({ id: 1001 }).id, accessHash: user({ id: 1001 }).accessHash! });
        // GramJS's types leave out native bigints; its code (and this bridge) takes them.
        for (const key of [1001, '1001', 1001n as unknown as EntityLike, 'Alice_Bot', '@alice_bot', 'https://t.me/alice_bot', '+15550001', '+1 555-0001', new Api.PeerUser({ userId: alice.userId }), 'Alice Liddell']) {
          const input = await client.getInputEntity(key);
          expect(input, `key ${String(key)}`).toBeInstanceOf(Api.InputPeerUser);
          expect(String((input as Api.InputPeerUser).userId)).toBe('1001');
          expect(String((input as Api.InputPeerUser).accessHash)).toBe(String(alice.accessHash));
        }
        const bob = await client.getInputEntity('+15550002');
        expect(String((bob as Api.InputPeerUser).userId)).toBe('1002');

        for (const key of [-4242, '-4242', 4242, new Api.PeerChat({ chatId: chat(4242).id })]) {
          const input = await client.getInputEntity(key);
          expect(input, `key ${String(key)}`).toBeInstanceOf(Api.InputPeerChat);
          expect(String((input as Api.InputPeerChat).chatId)).toBe('4242');
        }
        const channelHash = String(channel(CHANNEL_ID).accessHash);
        for (const key of [`-100${CHANNEL_ID}`, Number(`-100${CHANNEL_ID}`), Number(CHANNEL_ID), 'newsroom', 't.me/NewsRoom', new Api.PeerChannel({ channelId: channel(CHANNEL_ID).id })]) {
          const input = await client.getInputEntity(key);
          expect(input, `key ${String(key)}`).toBeInstanceOf(Api.InputPeerChannel);
          expect(String((input as Api.InputPeerChannel).channelId)).toBe(String(CHANNEL_ID));
          expect(String((input as Api.InputPeerChannel).accessHash)).toBe(channelHash);
        }
        // A miss goes to GramJS's network fallback, which refuses without a connection.
        await expect(client.getInputEntity('nobody_here')).rejects.toThrow(/disconnected/);
        expect(() => session.getInputEntity('nobody_here')).toThrow('Could not find input entity with key nobody_here');
        expect(client.connected).toBeFalsy();
      });

      it('writes the peer the way other clients read it: display name, usernames, phone, TL bytes on request', async () => {
        const first = await restart({ completeObjects: true });
        first.session.processEntities([user({ id: 77, username: 'main_name', extraUsernames: ['Collectible', 'main_name'], phone: '4470000', firstName: 'Zoë' })]);
        await first.session.save();
        const { storage } = await restart();
        const peer = await storage.peers.getByUsername('collectible');
        expect(peer).toMatchObject({ type: 'user', id: 77n, accessHash: 77n * 7n + 3n, usernames: ['main_name', 'Collectible'], phone: '4470000', displayName: 'Zoë' });
        const decoded = new extensions.BinaryReader(Buffer.from(peer!.complete!)).tgReadObject();
        expect(decoded).toBeInstanceOf(Api.User);
        expect((decoded as Api.User).firstName).toBe('Zoë');
        expect(await storage.peers.getByPhone('4470000')).toMatchObject({ id: 77n });

        const plain = await restart({ name: `${name}-plain` });
        plain.session.processEntities([user({ id: 78, firstName: 'Without' })]);
        await plain.session.save();
        const stored = await plain.storage.peers.getById('user', 78n);
        expect(stored?.displayName).toBe('Without');
        expect(stored?.complete).toBeUndefined();
      });

      it('a name no database can hold (U+0000, a broken surrogate, a pair at the 1,024 cut) is stored cleaned, not failing its batch', async () => {
        const first = await restart();
        first.session.processEntities([
          user({ id: 801, username: 'nul_name', firstName: 'Ann\u0000a' }),
          user({ id: 802, username: 'lone_half', firstName: 'Bob \ud83d' }),
          user({ id: 803, username: 'long_name', firstName: `${'x'.repeat(1023)}😀` }),
          user({ id: 804, username: 'plain_name', firstName: 'Plain' }),
        ]);
        await first.session.save();
        const { storage } = await restart();
        expect((await storage.peers.getByUsername('nul_name'))?.displayName).toBe('Anna');
        expect((await storage.peers.getByUsername('lone_half'))?.displayName).toBe('Bob ');
        expect((await storage.peers.getByUsername('long_name'))?.displayName).toBe('x'.repeat(1023));
        expect((await storage.peers.getByUsername('plain_name'))?.displayName).toBe('Plain');
      });

      it('keeps the latest access hash, moves a username to its new owner and skips min entities', async () => {
        const first = await restart();
        first.session.processEntities([user({ id: 1, username: 'handle', accessHash: 10n }), user({ id: 2, accessHash: 20n })]);
        first.session.processEntities([user({ id: 1, accessHash: 11n }), user({ id: 2, username: 'HANDLE', accessHash: 20n })]);
        first.session.processEntities([user({ id: 2, accessHash: 99n, min: true, username: 'handle' }), user({ id: 3, min: true })]);
        expect(String((first.session.getInputEntity(1) as Api.InputPeerUser).accessHash)).toBe('11');
        expect(String((first.session.getInputEntity('handle') as Api.InputPeerUser).userId)).toBe('2');
        await first.session.save();

        const { session, storage } = await restart();
        expect(String((session.getInputEntity(1) as Api.InputPeerUser).accessHash)).toBe('11');
        expect(String((session.getInputEntity('@handle') as Api.InputPeerUser).userId)).toBe('2');
        expect(String((session.getInputEntity(2) as Api.InputPeerUser).accessHash)).toBe('20');
        expect(() => session.getInputEntity(3)).toThrow(/Could not find/);
        expect((await storage.peers.getById('user', 1n))?.usernames).toEqual([]);
      });

      it('stores the key of every DC from GramJS AuthKey objects, and removes one on setAuthKey(undefined)', async () => {
        const first = await restart();
        first.session.setDC(2, '149.154.167.51', 443);
        first.session.setAuthKey(await gramKey(authKey(2)));
        first.session.setAuthKey(await gramKey(authKey(4)), 4);
        first.session.setAuthKey(await gramKey(authKey(5)), 5);
        first.session.setAuthKey(await gramKey(authKey(50)), 5); // replaced
        first.session.setAuthKey(await gramKey(authKey(1)), 1);
        first.session.setAuthKey(undefined, 1); // GramJS drops an exported sender's key
        await first.session.save();

        const { session, storage } = await restart();
        expect(session.dcId).toBe(2);
        expect(session.authKey?.getKey()).toEqual(Buffer.from(authKey(2)));
        expect(session.getAuthKey()?.getKey()).toEqual(Buffer.from(authKey(2)));
        expect(session.getAuthKey(4)?.getKey()).toEqual(Buffer.from(authKey(4)));
        expect(session.getAuthKey(5)?.getKey()).toEqual(Buffer.from(authKey(50)));
        expect(session.getAuthKey(1)).toBeUndefined();
        expect(await storage.authKeys.get(1)).toBeNull();
        // The key id GramJS derives (sha1) is the one of the stored bytes.
        const keyId = (await gramKey(authKey(4))).keyId;
        expect(session.getAuthKey(4)?.keyId?.equals(keyId!)).toBe(true);
        // The client hands the loaded key to its sender for the home DC.
        expect(offlineClient(session).session.getAuthKey(2)).toBe(session.authKey);
      });

      it('stores the key bytes as they were at setAuthKey, whether the write starts at once or behind others', async () => {
        const first = await restart();
        first.session.setDC(2, '149.154.167.51', 443);
        await first.session.save();
        const home = await gramKey(authKey(2));
        const other = await gramKey(authKey(4));
        // Idle queue: the write starts inside setAuthKey.
        first.session.setAuthKey(home);
        home.getKey()!.fill(0xaa);
        // Busy queue (nothing awaited since): this write starts after the one above.
        first.session.setAuthKey(other, 4);
        other.getKey()!.fill(0xbb);
        await first.session.save();
        const { storage } = await restart();
        expect(plainBytes(await storage.authKeys.get(2))).toEqual(authKey(2));
        expect(plainBytes(await storage.authKeys.get(4))).toEqual(authKey(4));

        // The session compares a key set again with what it stored, not with GramJS's
        // buffer: the same AuthKey object with changed bytes is written; A, B, A again ends on A.
        first.session.setAuthKey(home); // now all 0xaa
        first.session.setAuthKey(await gramKey(authKey(5)), 5);
        first.session.setAuthKey(await gramKey(authKey(6)), 5);
        first.session.setAuthKey(await gramKey(authKey(5)), 5);
        await first.session.save();
        expect(plainBytes(await storage.authKeys.get(2))).toEqual(new Uint8Array(256).fill(0xaa));
        expect(plainBytes(await storage.authKeys.get(5))).toEqual(authKey(5));
      });

      it('persists the home DC whatever form its address takes (IPv4, IPv6, host name)', async () => {
        for (const [address, field] of [
          ['149.154.167.51', 'ipv4'],
          ['2001:67c:4e8:f002::a', 'ipv6'],
          ['venus.web.telegram.org', 'host'],
        ] as const) {
          const first = await restart();
          first.session.setDC(4, address, 443);
          await first.session.save();
          const { session, storage } = await restart();
          expect([session.dcId, session.serverAddress, session.port]).toEqual([4, address, 443]);
          const stored = await storage.load();
          expect(stored?.homeDcId).toBe(4);
          expect(stored?.dcs.find((dc) => dc.id === 4)).toMatchObject({ [field]: address, port: 443 });
        }
      });

      it('setDC with an address or port the storage refuses throws InvalidArgumentError and changes nothing; later calls are stored', async () => {
        const { session } = await restart();
        session.setDC(2, '149.154.167.51', 443);
        for (const [dc, address, port] of [
          [4, 'bad host!', 443],
          [4, '149.154.167.999', 443],
          [4, '2001:67c:4e8:zz::a', 443],
          [4, '149.154.167.91', 0],
          [4, '149.154.167.91', 70_000],
          [0, '149.154.167.91', 443],
        ] as const) {
          expect(() => session.setDC(dc, address, port), `${dc} ${address} ${port}`).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
          expect([session.dcId, session.serverAddress, session.port]).toEqual([2, '149.154.167.51', 443]);
        }
        session.setDC(5, '91.108.56.130', 443);
        await session.save();
        const { session: again } = await restart();
        expect([again.dcId, again.serverAddress, again.port]).toEqual([5, '91.108.56.130', 443]);
      });

      it('switching DC keeps the other DC entries and their keys', async () => {
        const first = await restart();
        first.session.setDC(2, '149.154.167.51', 443);
        first.session.setAuthKey(await gramKey(authKey(2)));
        // A new home DC, its key unset, save(): _switchDC's calls into the session (its in-place wipe of the old key is the next test's).
        first.session.setDC(4, '149.154.167.91', 443);
        first.session.setAuthKey(undefined);
        first.session.setAuthKey(await gramKey(authKey(4)));
        await first.session.save();
        const { session, storage } = await restart();
        expect(session.dcId).toBe(4);
        expect(session.getAuthKey(2)?.getKey()).toEqual(Buffer.from(authKey(2)));
        expect((await storage.load())?.dcs.map((dc) => [dc.id, dc.ipv4])).toEqual(
          expect.arrayContaining([
            [2, '149.154.167.51'],
            [4, '149.154.167.91'],
          ]),
        );
      });

      it('GramJS’s own _switchDC (a login on another DC) forgets the old DC’s key it empties, so a download there imports the login, as with MemorySession', async () => {
        const { session, storage } = await restart();
        const client = offlineClient(session);
        // A fresh session's first connect: default DC 4, the key its sender made (stored by _authKeyCallback).
        expect(await client.connect()).toBe(false);
        expect(session.dcId).toBe(4);
        // What MTProtoSender._connect does once it made a key: sets it in its AuthKey, then the callback.
        const sender = (client as unknown as { _sender: { authKey: AuthKey } })._sender;
        await sender.authKey.setKey(Buffer.from(authKey(4)));
        await (client as unknown as { _authKeyCallback(key: AuthKey, dc: number): Promise<void> })._authKeyCallback(sender.authKey, 4);
        // PHONE_MIGRATE_2: GramJS reads DC 2's address from its config, then _switchDC(2).
        (client as unknown as { _config: Api.Config })._config = new Api.Config({ dcOptions: [new Api.DcOption({ id: 2, ipAddress: '149.154.167.51', port: 443 })] } as unknown as ConstructorParameters<typeof Api.Config>[0]);
        expect(await (client as unknown as { _switchDC(dc: number): Promise<boolean> })._switchDC(2)).toBe(false);
        await session.save();
        expect(session.dcId).toBe(2);
        // The DC 4 key was made before the login: never authorized. An exported sender given it
        // would skip auth.importAuthorization and fail with AUTH_KEY_UNREGISTERED.
        const exported = (client as unknown as { _createExportedSender(dc: number): { authKey: { getKey(): unknown } } })._createExportedSender(4);
        expect(exported.authKey.getKey() === undefined, 'an exported sender for DC 4 makes a new key (and imports the login)').toBe(true);
        expect(await storage.authKeys.get(4), 'the emptied key is deleted in storage').toBeNull();
        await client.destroy();
        const again = await restart();
        expect(again.session.getAuthKey(4) === undefined, 'and a restart does not bring it back').toBe(true);
        expect(again.session.dcId).toBe(2);
      });

      it('runs the client’s own session start-up: a fresh session gets the default DC, stored', async () => {
        const first = await restart();
        const client = offlineClient(first.session);
        // The first step of connect(): load() then setDC(default) — no network involved.
        await (client as unknown as { _initSession(): Promise<void> })._initSession();
        expect(first.session.dcId).toBeGreaterThan(0);
        await first.session.save();
        const { session } = await restart();
        expect([session.dcId, session.serverAddress, session.port]).toEqual([first.session.dcId, first.session.serverAddress, first.session.port]);
      });

      it('keeps the logged-in user and the takeout id in the snapshot', async () => {
        const first = await restart();
        first.session.setDC(2, '149.154.167.51', 443);
        first.session.processEntities([user({ id: 555, username: 'me_myself', self: true, bot: false })]);
        first.session.takeoutId = 987654321n;
        await first.session.save();
        const { session, storage } = await restart();
        expect((await storage.load())?.user).toEqual({ id: 555n, dcId: 2, bot: false, usernames: ['me_myself'] });
        expect(String(session.takeoutId)).toBe('987654321');
        session.takeoutId = undefined;
        await session.save();
        expect((await storage.load())?.takeoutId).toBeUndefined();
      });

      it('delete() logs out: nothing of the session is left, in memory or in storage', async () => {
        const first = await restart();
        first.session.setDC(2, '149.154.167.51', 443);
        first.session.setAuthKey(await gramKey(authKey(2)));
        first.session.setAuthKey(await gramKey(authKey(3)), 3);
        first.session.processEntities([user({ id: 9, username: 'gone_user' })]);
        const other = await restart({ name: `${name}-other` });
        other.session.processEntities([user({ id: 9, username: 'kept_user' })]);
        await other.session.save();

        await first.session.delete(); // pending writes land first, then everything goes
        expect([first.session.dcId, first.session.authKey, first.session.getAuthKey(3)]).toEqual([0, undefined, undefined]);
        expect(() => first.session.getInputEntity('gone_user')).toThrow(/Could not find/);

        const { session, storage } = await restart();
        expect(await storage.load()).toBeNull();
        expect(await storage.authKeys.get(3)).toBeNull();
        expect((await storage.peers.list()).peers).toEqual([]);
        expect([session.dcId, session.serverAddress, session.getAuthKey(3)]).toEqual([0, undefined, undefined]);
        // Another session of the same backend is untouched.
        const still = await restart({ name: `${name}-other` });
        expect(String((still.session.getInputEntity('kept_user') as Api.InputPeerUser).userId)).toBe('9');
      });

      it('load() again (a reconnect) reads its own pending writes and what other processes wrote', async () => {
        const a = await restart();
        const b = await restart();
        a.session.setDC(2, '149.154.167.51', 443);
        a.session.processEntities([user({ id: 601, username: 'from_process_a' })]);
        await a.session.save();
        b.session.processEntities([user({ id: 602, username: 'from_process_b' })]);
        b.session.setAuthKey(await gramKey(authKey(9)), 9);
        await b.session.load(); // not awaited writes of b land before it reads
        expect(String((b.session.getInputEntity('from_process_a') as Api.InputPeerUser).userId)).toBe('601');
        expect(String((b.session.getInputEntity('from_process_b') as Api.InputPeerUser).userId)).toBe('602');
        expect(b.session.getAuthKey(9)?.getKey()).toEqual(Buffer.from(authKey(9)));
        expect([b.session.dcId, b.session.serverAddress]).toEqual([2, '149.154.167.51']);
      });

      it('load() again keeps what changed while it read: peers, keys, home DC, takeout id and self user set meanwhile', async () => {
        const { session } = await restart();
        session.setDC(2, '149.154.167.51', 443);
        session.setAuthKey(await gramKey(authKey(2)));
        session.processEntities([user({ id: 700, username: 'before_reload' })]);
        await session.save();
        const newHome = await gramKey(authKey(12));
        const exported = await gramKey(authKey(4));
        // GramJS reconnects (a DC switch, CONNECTION_NOT_INITED: connect() runs load())
        // while its other senders keep caching entities and storing keys.
        const reloading = session.load();
        session.processEntities([user({ id: 701, username: 'during_reload', phone: '15550001' }), user({ id: 1, self: true, username: 'me_myself' })]);
        session.setAuthKey(newHome);
        session.setAuthKey(exported, 4);
        session.setAuthKey(undefined, 3);
        session.setDC(2, '149.154.167.91', 443);
        session.takeoutId = 77n;
        await reloading;
        const expectState = (s: StorageSession): void => {
          expect(String((s.getInputEntity('during_reload') as Api.InputPeerUser).userId)).toBe('701');
          expect(String((s.getInputEntity('+15550001') as Api.InputPeerUser).userId)).toBe('701');
          expect(String((s.getInputEntity('before_reload') as Api.InputPeerUser).userId)).toBe('700');
          expect(s.authKey?.getKey()).toEqual(Buffer.from(authKey(12)));
          expect(s.getAuthKey(4)?.getKey()).toEqual(Buffer.from(authKey(4)));
          expect([s.dcId, s.serverAddress, s.port]).toEqual([2, '149.154.167.91', 443]);
          expect(String(s.takeoutId)).toBe('77');
        };
        expectState(session);
        expect(session.authKey, 'the AuthKey object GramJS set, not a copy').toBe(newHome);
        // What memory holds is what is stored: a restart reads the same, and setting the
        // same key again writes nothing (the session knows it is stored).
        await session.save();
        const { session: again, storage } = await restart();
        expectState(again);
        expect((await storage.load())?.user?.usernames).toEqual(['me_myself']);
        const writes = vi.spyOn(storage.authKeys, 'set');
        again.setAuthKey(await gramKey(authKey(12)));
        await again.save();
        expect(writes).not.toHaveBeenCalled();
      });

      it('keeps a key set before setDC (a session built by hand) and stores it under the DC setDC names', async () => {
        const { session } = await restart();
        const key = await gramKey(authKey(21));
        session.authKey = key;
        expect(session.authKey).toBe(key);
        await session.load(); // a new session: nothing stored replaces the waiting key
        expect(session.getAuthKey()).toBe(key);
        session.setDC(2, '149.154.167.51', 443);
        expect([session.authKey, session.getAuthKey(2)]).toEqual([key, key]);
        await session.save();
        const { session: again, storage } = await restart();
        expect(again.dcId).toBe(2);
        expect(again.authKey?.getKey()).toEqual(Buffer.from(authKey(21)));
        expect(plainBytes(await storage.authKeys.get(2))).toEqual(authKey(21));
      });

      it('setDC moves a key set before any DC to the home DC and leaves nothing under DC 0 that a reload or a later setDC could bring back', async () => {
        const { session, storage } = await restart();
        const key = await gramKey(authKey(21));
        session.setAuthKey(key);
        expect(inspect(session)).toContain('authKeys: [DC 0]');
        session.setDC(2, '149.154.167.51', 443);
        expect(session.getAuthKey(2)).toBe(key);
        expect(inspect(session), 'moved, not copied').toContain('authKeys: [DC 2]');
        // Telegram drops the key (AUTH_KEY_UNREGISTERED): GramJS unsets it.
        session.setAuthKey(undefined);
        expect(inspect(session)).toContain('authKeys: [DC none]');
        await session.save();
        // The session is logged out elsewhere; GramJS reconnects: load() finds nothing
        // stored, so no key may come back, and the default DC it then sets gets none.
        await (await live.open(name)).delete();
        await session.load();
        expect([session.dcId, session.authKey, session.getAuthKey(0)]).toEqual([0, undefined, undefined]);
        session.setDC(4, '149.154.167.91', 443);
        expect(session.authKey).toBeUndefined();
        await session.save();
        expect(await storage.authKeys.entries()).toEqual([]);
        const { session: again } = await restart();
        expect([again.dcId, again.authKey]).toEqual([4, undefined]);
      });

      it('loads keys stored before any snapshot, so a restart knows them and its setAuthKey(undefined, dc) deletes them', async () => {
        const first = await restart();
        first.session.setAuthKey(await gramKey(authKey(4)), 4);
        first.session.setAuthKey(await gramKey(authKey(5)), 5);
        await first.session.save();

        const { session, storage } = await restart();
        expect(await storage.load(), 'keys alone are no snapshot').toBeNull();
        expect(session.dcId).toBe(0);
        expect(session.getAuthKey(4)?.getKey()).toEqual(Buffer.from(authKey(4)));
        expect(session.getAuthKey(5)?.getKey()).toEqual(Buffer.from(authKey(5)));
        // Known as stored: set again unchanged (as on every connect), it is not rewritten.
        const sets = vi.spyOn(storage.authKeys, 'set');
        session.setAuthKey(await gramKey(authKey(5)), 5);
        session.setAuthKey(undefined, 4);
        session.setDC(5, '91.108.56.130', 443);
        expect(session.authKey?.getKey(), 'the stored key of the new home DC').toEqual(Buffer.from(authKey(5)));
        await session.save();
        expect(sets).not.toHaveBeenCalled();
        expect(await storage.authKeys.get(4)).toBeNull();

        const { session: again } = await restart();
        expect(again.getAuthKey(4)).toBeUndefined();
        expect([again.dcId, again.authKey?.getKey()]).toEqual([5, Buffer.from(authKey(5))]);

        // A session that has not loaded does not know what is stored: its delete is written too.
        const unloaded = new StorageSession(await live.open(name), { lease: false, onError: (error, operation) => errors.push([error, operation]) });
        unloaded.setAuthKey(undefined, 5);
        await unloaded.save();
        expect(await storage.authKeys.get(5)).toBeNull();
      });

      it('holds a takeout id set before any setDC and stores it with the snapshot setDC creates', async () => {
        const first = await restart();
        first.session.takeoutId = 123_456_789n;
        // A reconnect before any DC: still no snapshot, so the id still waits.
        await first.session.load();
        expect(String(first.session.takeoutId)).toBe('123456789');
        first.session.setDC(2, '149.154.167.51', 443);
        await first.session.save();
        const { session, storage } = await restart();
        expect((await storage.load())?.takeoutId).toBe(123_456_789n);
        expect(String(session.takeoutId)).toBe('123456789');

        // Set before the first load() of a session whose snapshot exists: written once the load finds it.
        const early = new StorageSession(await live.open(name), { lease: false, onError: (error, operation) => errors.push([error, operation]) });
        early.takeoutId = 42n;
        await early.load();
        expect(String(early.takeoutId)).toBe('42');
        await early.save();
        expect((await storage.load())?.takeoutId).toBe(42n);
        // Cleared before the first load(), then setDC: the stored id is removed, not kept.
        const cleared = new StorageSession(await live.open(name), { lease: false, onError: (error, operation) => errors.push([error, operation]) });
        cleared.takeoutId = undefined;
        cleared.setDC(2, '149.154.167.51', 443);
        await cleared.save();
        expect((await storage.load())?.takeoutId).toBeUndefined();
      });

      it('loads a peer cache larger than one page', async () => {
        const first = await restart();
        const users = Array.from({ length: 2_345 }, (_, i) => user({ id: 10_000 + i, username: `bulk_${i}` }));
        first.session.processEntities(users);
        await first.session.save();
        const { session } = await restart();
        expect(String((session.getInputEntity('bulk_2344') as Api.InputPeerUser).userId)).toBe('12344');
        expect(String((session.getInputEntity(10_000) as Api.InputPeerUser).userId)).toBe('10000');
      });

      it('writes changes in call order and does not rewrite unchanged peers', async () => {
        const { session, storage } = await restart();
        const upserts: number[] = [];
        const upsert = storage.peers.upsert.bind(storage.peers);
        vi.spyOn(storage.peers, 'upsert').mockImplementation((peers) => {
          upserts.push(peers.length);
          return upsert(peers);
        });
        session.setDC(2, '149.154.167.51', 443);
        session.setAuthKey(await gramKey(authKey(7)), 7);
        session.setAuthKey(undefined, 7);
        session.setAuthKey(await gramKey(authKey(8)), 7);
        session.setAuthKey(session.getAuthKey(7), 7); // GramJS sets the same key again on every connect
        session.processEntities([user({ id: 1 }), user({ id: 2 })]);
        session.processEntities([user({ id: 1 }), user({ id: 2 })]);
        session.processEntities([user({ id: 3 })]);
        await session.save();
        expect(plainBytes(await storage.authKeys.get(7))).toEqual(authKey(8));
        // The second batch changed nothing; the third joined the first while it waited.
        expect(upserts).toEqual([3]);
      });

      it('reports a failed write to onError (and by default to console.error), and keeps working from memory', async () => {
        const storage = await live.open(name);
        const seen: [unknown, string][] = [];
        const session = new StorageSession(storage, { onError: (error, operation) => seen.push([error, operation]) });
        await session.load();
        await storage.close();
        session.processEntities([user({ id: 5, username: 'offline' })]);
        session.setAuthKey(await gramKey(authKey(2)), 2);
        await session.save(); // resolves: GramJS calls save() without awaiting it
        expect(seen.map(([error, operation]) => [(error as Error).name, operation])).toEqual([
          ['StorageClosedError', 'peers.upsert'],
          ['StorageClosedError', 'authKeys.set(2)'],
        ]);
        expect(String((session.getInputEntity('offline') as Api.InputPeerUser).userId)).toBe('5');

        const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          const quiet = new StorageSession(storage);
          quiet.setDC(2, '149.154.167.51', 443);
          await quiet.close();
          expect(logged).toHaveBeenCalledTimes(1);
          expect(logged.mock.calls[0]?.[0]).toBe('@mtstore/gramjs: setDC(2) failed:');
        } finally {
          logged.mockRestore();
        }
        await expect(session.load()).rejects.toThrow(/closed/);
        await expect(session.delete()).rejects.toThrow(/closed/);
      });

      it('never shows key bytes in util.inspect or errors', async () => {
        const { session } = await restart();
        session.setDC(2, '149.154.167.51', 443);
        const bytes = authKey(2);
        session.setAuthKey(await gramKey(bytes));
        await session.save();
        const shown = inspect(session, { depth: 10 });
        const hex = Buffer.from(bytes).toString('hex');
        for (const form of [hex.slice(0, 16), hex.slice(0, 16).replace(/(..)/g, '$1 ').trim(), String(bytes.slice(0, 8))]) expect(shown).not.toContain(form);
        expect(shown).toContain('StorageSession');
        expect(shown).toContain('dcId: 2');
      });
  });
}
