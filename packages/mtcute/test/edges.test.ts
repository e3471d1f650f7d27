/**
 * Values at the edges through a real mtcute client (StubTelegramClient), with its
 * database unreachable where that proves a refusal made no I/O: an auth key of the
 * wrong length and a DC id mtstore cannot hold are refused with InvalidArgumentError
 * (not StorageUnavailableError) and never shown; usernames in any case, phones and
 * access hashes at both ends of int64 resolve after a restart; a logout then a new
 * login on the same session stores the new user.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { Long } from '@mtcute/core';
import { resolvePeer } from '@mtcute/core/methods.js';
import { readStringSession } from '@mtcute/core/utils.js';
import type { StubTelegramClient } from '@mtcute/test/client.js';
import { createStub } from '@mtcute/test/stub.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '@mtstore/core';
import { PostgresStorage } from '@mtstore/postgres';
import { adapters, POSTGRES_URL, type AdapterCase } from '@mtstore/test-adapters';
import { openProxy, type Proxy } from '@mtstore/test-adapters/proxy';
import { mtcuteStorage } from '../src/index.js';
import { stubClient } from './helpers.js';

const key = (length: number, seed = 5): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * seed + 11) & 0xff);
const MIN_HASH = Long.fromString('-9223372036854775808');
const MAX_HASH = Long.fromString('9223372036854775807');

type Call = { _: string } & Record<string, unknown>;
const users = [
  createStub('user', { id: 11, accessHash: MIN_HASH, firstName: 'Min', username: 'MiXeD_Case', phone: '15550011' }),
  createStub('user', { id: 12, accessHash: MAX_HASH, firstName: 'Max', username: 'max_hash' }),
];

function client(storage: Storage, testMode = false): { tg: StubTelegramClient; calls: string[] } {
  const calls: string[] = [];
  const tg = stubClient(mtcuteStorage(storage), { testMode });
  tg.log.mgr.level = 0;
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    calls.push(c._);
    if (c._ === 'users.getUsers') return [createStub('user', { id: 99, self: true, accessHash: Long.fromInt(1), username: `me_${String(c.marker ?? '')}` })];
    if (c._ === 'contacts.getContacts') return { _: 'contacts.contacts', contacts: [], savedCount: 0, users };
    throw new Error(`unexpected API call ${c._}`);
  };
  return { tg, calls };
}

const available = await (adapters.find((adapter) => adapter.name === 'postgres') as AdapterCase).available();
describe.skipIf(!available)('mtcute client edges (PostgreSQL behind a proxy)', () => {
  let proxy: Proxy;
  const schema = `mtcute_edges_${process.pid}_${randomBytes(3).toString('hex')}`;
  const opened: Storage[] = [];
  const open = (name: string): Storage => {
    const storage = new PostgresStorage({ config: { connectionString: proxy.url(), connectionTimeoutMillis: 1_000, query_timeout: 5_000 }, schema, name });
    opened.push(storage);
    return storage;
  };

  beforeAll(async () => {
    proxy = await openProxy(POSTGRES_URL);
  });
  afterAll(async () => {
    proxy?.up();
    await Promise.all(opened.map((storage) => storage.close().catch(() => undefined)));
    await proxy?.close();
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

  it('an auth key of the wrong length or a DC id out of range is refused before any I/O, without the key bytes', async () => {
    const { tg } = client(open('keys'));
    await tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(256) });
    const keys = tg.mt.storage.provider.authKeys;
    proxy.down(); // any I/O would fail with StorageUnavailableError
    const refusals: [string, Promise<unknown>][] = [
      ['0 bytes', Promise.resolve(keys.set(2, key(0)))],
      ['255 bytes', Promise.resolve(keys.set(2, key(255)))],
      ['257 bytes', Promise.resolve(keys.set(2, key(257)))],
      ['temp of 128 bytes', Promise.resolve(keys.setTemp(2, 0, key(128), 2_000_000_000))],
      ['DC 0', Promise.resolve(keys.set(0, key(256)))],
      ['DC 1001', Promise.resolve(keys.set(1001, key(256)))],
    ];
    for (const [what, refused] of refusals) {
      const error = await refused.then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code, what).toBe('MTSTORE_INVALID_ARGUMENT');
      const shown = `${String(error)} ${inspect(error, { depth: 5 })}`;
      expect(shown, what).not.toContain(Buffer.from(key(255)).toString('hex').slice(0, 24));
      expect(shown, what).not.toContain(Array.from(key(255).subarray(0, 6)).join(', '));
    }
    proxy.up();
    await tg.destroy();
    // A fresh instance: this one's pool may hold a connection the outage reset (the adapter's README, Faults).
    expect(Array.from((await open('keys').authKeys.get(2)) ?? [])).toEqual(Array.from(key(256)));
  });

  it('test DCs (testMode) and media DCs come back as mtcute wrote them, with a key for each of DCs 1-5', async () => {
    const { tg } = client(open('test-dcs'), true);
    await tg.importSession({
      primaryDcs: {
        main: { id: 2, ipAddress: '149.154.167.40', port: 443, testMode: true },
        media: { id: 2, ipAddress: '149.154.167.41', port: 443, testMode: true, mediaOnly: true },
      },
      authKey: key(256, 2),
    });
    for (const dc of [1, 3, 4, 5]) await tg.mt.storage.provider.authKeys.set(dc, key(256, dc));
    await tg.destroy();
    const again = client(open('test-dcs'), true);
    const exported = readStringSession(await again.tg.exportSession());
    expect(exported.primaryDcs.main).toMatchObject({ id: 2, ipAddress: '149.154.167.40', port: 443, testMode: true });
    expect(exported.primaryDcs.media).toMatchObject({ id: 2, ipAddress: '149.154.167.41', port: 443, testMode: true, mediaOnly: true });
    for (const dc of [1, 2, 3, 4, 5]) expect(Array.from((await again.tg.mt.storage.provider.authKeys.get(dc)) ?? []), `DC ${dc}`).toEqual(Array.from(key(256, dc)));
    await again.tg.destroy();
  });

  it('usernames in any case, phones and access hashes at both ends of int64 resolve after a restart without an API call', async () => {
    const first = client(open('peers'));
    await first.tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(256) });
    await first.tg.call({ _: 'contacts.getContacts', hash: Long.ZERO });
    await first.tg.destroy();
    const again = client(open('peers'));
    for (const name of ['MiXeD_Case', 'mixed_case', 'MIXED_CASE', '@MiXeD_cAsE']) {
      const resolved = await resolvePeer(again.tg, name).catch((error: unknown) => String(error));
      expect([name, resolved, again.calls]).toEqual([name, { _: 'inputPeerUser', userId: 11, accessHash: MIN_HASH }, []]);
    }
    // mtcute looks phones up in its storage (resolvePhoneNumber does, before asking the API).
    expect(await again.tg.storage.peers.getByPhone('15550011')).toEqual({ _: 'inputPeerUser', userId: 11, accessHash: MIN_HASH });
    expect(await resolvePeer(again.tg, 12)).toEqual({ _: 'inputPeerUser', userId: 12, accessHash: MAX_HASH });
    expect(again.calls).toEqual([]);
    await again.tg.destroy();
  });

  it('a logout (storage cleared as mtcute does) then a new login on the same session stores the new user and key', async () => {
    const { tg } = client(open('relogin'));
    await tg.importSession({ primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, authKey: key(256) });
    await tg.call({ _: 'users.getUsers', id: [{ _: 'inputUserSelf' }] });
    await tg.storage.self.store({ userId: 99, isBot: false, isPremium: false, usernames: ['me_old'] });
    await tg.mt.storage.save();
    await tg.storage.clear(true); // what mtcute's logOut() does to its storage
    await tg.mt.storage.provider.authKeys.set(4, key(256, 9));
    await tg.storage.self.store({ userId: 100, isBot: true, isPremium: false, usernames: ['me_new'] });
    await tg.mt.storage.save();
    await tg.destroy();
    const storage = open('relogin');
    const session = await storage.load();
    expect([session?.user?.id, session?.user?.bot, session?.user?.usernames]).toEqual([100n, true, ['me_new']]);
    expect(await storage.authKeys.get(2)).toBeNull();
    expect(Array.from((await storage.authKeys.get(4)) ?? [])).toEqual(Array.from(key(256, 9)));
  });
});
