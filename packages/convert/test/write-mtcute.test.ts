/**
 * writeMtcuteSqlite's files are mtcute's own: mtcute 0.29.7's real SqliteStorage
 * (@mtcute/node) opens them without migrating and reads the keys, DCs, self user, update
 * state and peers back through its own services; the schema is the one mtcute creates.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readStringSession, writeStringSession } from '@mtcute/core/utils.js';
import { SqliteStorage, TelegramClient } from '@mtcute/node';
import Long from 'long';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Peer, Session } from '@mtstore/core';
import { authKeyBytes } from '@mtstore/core';
import { isConvertError, parseSession, writeMtcuteSqlite } from '../src/index.js';
import { hex, seededKey } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-write-mtcute-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `w${n++}.session`);

const now = Math.floor(Date.now() / 1000);
const key = seededKey(5);
const key4 = seededKey(9);
const temp = seededKey(11);

const session: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [
    { id: 2, ipv4: '149.154.167.51', port: 443, authKey: authKeyBytes(key), tempAuthKeys: [{ index: 1, key: authKeyBytes(temp), expiresAt: now + 3600 }] },
    { id: 2, ipv4: '149.154.167.222', port: 443, mediaOnly: true },
    { id: 4, ipv4: '149.154.167.91', port: 443, authKey: authKeyBytes(key4) },
  ],
  user: { id: 777000111n, dcId: 2, bot: false, premium: true, usernames: ['Self_Interop'] },
  state: { pts: 12345, qts: 67, date: 1_700_000_000, seq: 89 },
  channels: [{ id: 1183945448n, pts: 555 }],
};

const peers: Peer[] = [
  { type: 'user', id: 777000222n, accessHash: -5764607523034234880n, usernames: ['Alice_Interop'], phone: '15550001111', updatedAt: now - 10, displayName: 'Alice' },
  { type: 'channel', id: 1183945448n, accessHash: -1234567890123456789n, usernames: ['interopchannel', 'interop_alt'], updatedAt: now - 5 },
  { type: 'chat', id: 4242n, accessHash: 0n, usernames: [], updatedAt: now - 3 },
  { type: 'user', id: 5000000001n, accessHash: 987654321987654321n, usernames: ['min_only'], min: true, updatedAt: now - 1 },
];

async function* slowly<T>(items: readonly T[]): AsyncGenerator<T[]> {
  for (let i = 0; i < items.length; i += 2) {
    await new Promise((r) => setTimeout(r, 1));
    yield items.slice(i, i + 2);
  }
}

/** mtcute's own client on the file: prepare() loads the storage (and would run any migration). */
async function openWithMtcute(path: string) {
  const storage = new SqliteStorage(path);
  const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage, logLevel: 0 });
  await client.prepare();
  return Object.assign(client, { provider: storage });
}

function schemaOf(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("select type, name, tbl_name, sql from sqlite_master where name not like 'sqlite_%' order by name").all();
  } finally {
    db.close();
  }
}

describe('writeMtcuteSqlite', () => {
  it('writes a file mtcute\'s SqliteStorage reads back: keys, DCs, self, update state, channel pts, peers by id, username and phone', async () => {
    const path = fresh();
    const written = await writeMtcuteSqlite(session, slowly(peers), path);
    expect(written).toEqual({ format: 'mtcute-sqlite', path, peers: 4, warnings: ['1 peer: display name not written (mtcute keeps a name only inside the peer\'s complete TL object, which these peers lack)'] });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.startsWith(path.split('/').pop()!))).toEqual([path.split('/').pop()]);

    const client = await openWithMtcute(path);
    try {
      const { provider } = client;
      // exportSession: mtcute's DC service, its auth key of the main DC and its current user, as mtcute reads them to log in.
      const exported = readStringSession(await client.exportSession());
      expect(hex(exported.authKey)).toBe(hex(key));
      expect(exported.primaryDcs).toMatchObject({ main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.222', port: 443, mediaOnly: true } });
      expect(exported.self).toMatchObject({ userId: 777000111, isBot: false });
      expect(hex(provider.authKeys.get(4) ?? undefined)).toBe(hex(key4));
      expect(hex(provider.authKeys.getTemp(2, 1, Date.now()) ?? undefined)).toBe(hex(temp));
      expect(await client.storage.self.fetch()).toEqual({ userId: 777000111, isBot: false, isPremium: true, usernames: ['Self_Interop'] });
      expect(await client.storage.updates.getState()).toEqual([12345, 67, 1_700_000_000, 89]);
      expect(await client.storage.updates.getChannelPts(1183945448)).toBe(555);

      const alice = await client.storage.peers.getById(777000222);
      expect(alice).toMatchObject({ _: 'inputPeerUser', userId: 777000222 });
      expect((alice as { accessHash: Long }).accessHash.toString()).toBe('-5764607523034234880');
      expect(await client.storage.peers.getByUsername('alice_interop')).toEqual(alice);
      expect(await client.storage.peers.getByUsername('ALICE_INTEROP')).toEqual(alice);
      expect(await client.storage.peers.getByPhone('15550001111')).toEqual(alice);
      const channel = await client.storage.peers.getById(-1001183945448);
      expect(channel).toMatchObject({ _: 'inputPeerChannel', channelId: 1183945448 });
      expect((channel as { accessHash: Long }).accessHash.toString()).toBe('-1234567890123456789');
      expect(await client.storage.peers.getByUsername('interop_alt')).toEqual(channel);
      expect(await client.storage.peers.getById(-4242)).toEqual({ _: 'inputPeerChat', chatId: 4242 });
      // A min peer: mtcute keeps its hash for getMinAccessHash but never answers a lookup with it.
      expect(await client.storage.peers.getById(5000000001)).toBeNull();
      expect(await client.storage.peers.getByUsername('min_only')).toBeNull();
      expect((await client.storage.peers.getMinAccessHash(5000000001))?.toString()).toBe('987654321987654321');
    } finally {
      await client.storage.close();
      await client.destroy();
    }
  });

  it('creates the schema mtcute creates, with its migration versions (mtcute opens it without migrating)', async () => {
    const ours = fresh();
    await writeMtcuteSqlite(session, [], ours);
    const theirs = fresh();
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(theirs), logLevel: 0 });
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: null, authKey: key }));
    await client.storage.close();
    await client.destroy();
    expect(schemaOf(ours)).toEqual(schemaOf(theirs));
    const versions = (path: string) => {
      const db = new Database(path, { readonly: true });
      try {
        return { migrations: db.prepare('select repo, version from mtcute_migrations order by rowid').all(), journal: db.pragma('journal_mode', { simple: true }) };
      } finally {
        db.close();
      }
    };
    expect(versions(ours)).toEqual(versions(theirs));
  });

  it('a file mtcute wrote, read and written again, reads back the same in mtcute (complete TL objects, reference messages, salts kept)', async () => {
    const source = fresh();
    const sourceStorage = new SqliteStorage(source);
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: sourceStorage, logLevel: 0 });
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: { userId: 777000111, isBot: true, isPremium: false, usernames: [] }, authKey: key }));
    await client.storage.peers.updatePeersFrom({
      users: [{ _: 'user', id: 777000222, accessHash: Long.fromString('-5764607523034234880'), username: 'Alice_interop', phone: '15550001111', firstName: 'Alice' }],
      chats: [{ _: 'channel', id: 1183945448, accessHash: Long.fromString('-1234567890123456789'), title: 'Interop Channel', username: 'interopchannel', photo: { _: 'chatPhotoEmpty' }, date: 1 }],
    } as never);
    await client.storage.refMsgs.store(777000222, -1001183945448, 42);
    sourceStorage.kv.set('salts:2', new Uint8Array([1, 2, 3]));
    await client.storage.close();
    await client.destroy();

    const parsed = await parseSession(source);
    const target = fresh();
    const written = await writeMtcuteSqlite(parsed.session, parsed.peers, target, { kv: parsed.kv, refMessages: parsed.refMessages });
    expect(written.warnings).toEqual([]);
    const again = await parseSession(target);
    expect(again).toEqual({ ...parsed, warnings: [] });

    const reopened = await openWithMtcute(target);
    try {
      expect(await reopened.storage.self.fetch()).toMatchObject({ userId: 777000111, isBot: true });
      expect(await reopened.storage.peers.getCompleteById(777000222)).toMatchObject({ _: 'user', id: 777000222, firstName: 'Alice', username: 'Alice_interop', phone: '15550001111' });
      expect(await reopened.storage.peers.getCompleteById(-1001183945448)).toMatchObject({ _: 'channel', title: 'Interop Channel' });
      expect(await reopened.storage.refMsgs.getForPeer(777000222)).toEqual([-1001183945448, 42]);
      expect(Array.from(reopened.provider.kv.get('salts:2')!)).toEqual([1, 2, 3]);
    } finally {
      await reopened.storage.close();
      await reopened.destroy();
    }
  });

  it('round trip: any session and peers written and read back are what was written (usernames lower-case, display names without complete dropped)', async () => {
    const key256 = fc.uint8Array({ minLength: 256, maxLength: 256 });
    const username = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{4,20}$/);
    const peerArb = fc.oneof(
      fc.record({ type: fc.constant('user' as const), id: fc.bigInt({ min: 1n, max: 2n ** 40n - 1n }) }),
      fc.record({ type: fc.constant('chat' as const), id: fc.bigInt({ min: 1n, max: 999_999_999_999n }) }),
      fc.record({ type: fc.constant('channel' as const), id: fc.bigInt({ min: 1n, max: 1_000_000_000_000n - 2n ** 31n }) }),
    ).chain((identity) =>
      fc.record({
        type: fc.constant(identity.type),
        id: fc.constant(identity.id),
        accessHash: identity.type === 'chat' ? fc.constant(0n) : fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        usernames: identity.type === 'chat' ? fc.constant([]) : fc.uniqueArray(username, { maxLength: 3, selector: (u) => u.toLowerCase() }),
        phone: identity.type === 'user' ? fc.option(fc.stringMatching(/^[1-9]\d{4,14}$/), { nil: undefined }) : fc.constant(undefined),
        min: identity.type === 'chat' ? fc.constant(undefined) : fc.option(fc.constant(true), { nil: undefined }),
        updatedAt: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        complete: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
      }),
    );
    const arb = fc.record({
      homeDcId: fc.integer({ min: 1, max: 5 }),
      ipv6: fc.boolean(),
      testMode: fc.boolean(),
      port: fc.integer({ min: 1, max: 65535 }),
      key: key256,
      user: fc.option(fc.record({ id: fc.bigInt({ min: 1n, max: 2n ** 40n - 1n }), bot: fc.boolean(), premium: fc.option(fc.constant(true), { nil: undefined }) }), { nil: undefined }),
      state: fc.option(fc.record({ pts: fc.integer({ min: 0, max: 2 ** 31 - 1 }), qts: fc.integer({ min: 0, max: 2 ** 31 - 1 }), date: fc.integer({ min: 0, max: 2 ** 31 - 1 }), seq: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }), { nil: undefined }),
      channels: fc.uniqueArray(fc.record({ id: fc.bigInt({ min: 1n, max: 999_999_999_999n }), pts: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }), { maxLength: 4, selector: (c) => c.id }),
      peers: fc.uniqueArray(peerArb, { maxLength: 12, selector: (p) => `${p.type}:${p.id}` }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (g) => {
        const s: Session = {
          version: 1,
          homeDcId: g.homeDcId,
          dcs: [{ id: g.homeDcId, ...(g.ipv6 ? { ipv6: '2001:b28:f23d:f001::a' } : { ipv4: '149.154.175.53' }), port: g.port, ...(g.testMode ? { testMode: true } : {}), authKey: authKeyBytes(g.key) }],
          ...(g.user ? { user: { id: g.user.id, dcId: g.homeDcId, bot: g.user.bot, ...(g.user.premium ? { premium: true } : {}) } } : {}),
          ...(g.state ? { state: g.state } : {}),
          channels: [...g.channels].sort((a, b) => (a.id < b.id ? -1 : 1)),
        };
        const ps: Peer[] = g.peers.map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as Peer);
        const path = fresh();
        await writeMtcuteSqlite(s, ps, path);
        const back = await parseSession(path);
        rmSync(path);
        expect(back.session).toEqual(s);
        const byKey = (list: Peer[]) => new Map(list.map((p) => [`${p.type}:${p.id}`, p]));
        const expected = byKey(ps.map((p) => ({ ...p, usernames: p.usernames.map((u) => u.toLowerCase()) })));
        expect(byKey(back.peers)).toEqual(expected);
        expect(back.warnings).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses an existing path (file, folder, dangling link) and a leftover journal, leaving them as they were', async () => {
    const file = fresh();
    writeFileSync(file, 'someone else\'s session');
    const error = await writeMtcuteSqlite(session, peers, file).catch((e: unknown) => e);
    expect(isConvertError(error) && error.code).toBe('MTSTORE_CONVERT_IO');
    expect((error as Error).message).toMatch(/already exists/);
    expect(statSync(file).size).toBe('someone else\'s session'.length);
    await expect(writeMtcuteSqlite(session, peers, dir)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_IO' });
    const link = fresh();
    symlinkSync(join(dir, 'nowhere'), link);
    await expect(writeMtcuteSqlite(session, peers, link)).rejects.toThrow(/already exists/);
    expect(() => statSync(join(dir, 'nowhere'))).toThrow();
    const journal = fresh();
    writeFileSync(`${journal}-journal`, 'x');
    await expect(writeMtcuteSqlite(session, peers, journal)).rejects.toThrow(/-journal of an earlier file/);
    expect(() => statSync(journal)).toThrow();
  });

  it('bad input is a typed error before any I/O; a peer failing part-way removes the file', async () => {
    const path = fresh();
    await expect(writeMtcuteSqlite({ ...session, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }] }, peers, path)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_UNSUPPORTED' });
    await expect(writeMtcuteSqlite({ ...session, homeDcId: 0 }, peers, path)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    await expect(writeMtcuteSqlite(session, peers, path, { kv: [{ key: 'dc_main', value: new Uint8Array(1) }] })).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    await expect(writeMtcuteSqlite(session, peers, path, { format: 'x' } as never)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    await expect(writeMtcuteSqlite(session, 42 as never, path)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    expect(() => statSync(path)).toThrow();

    const bad = { ...peers[0]!, accessHash: 2n ** 64n };
    const error = await writeMtcuteSqlite(session, slowly([...peers, bad]), path).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    expect((error as Error).message).toMatch(/peers\[4\]/);
    expect(readdirSync(dir).filter((f) => f.startsWith(path.split('/').pop()!))).toEqual([]);

    async function* failing(): AsyncGenerator<Peer> {
      yield peers[0]!;
      throw new Error('source lost');
    }
    await expect(writeMtcuteSqlite(session, failing(), path)).rejects.toThrow(/source lost/);
    expect(readdirSync(dir).filter((f) => f.startsWith(path.split('/').pop()!))).toEqual([]);
  });
});
