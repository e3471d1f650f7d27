import { mkdtempSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStringSession, writeStringSession, type StringSessionData } from '@mtcute/core/utils.js';
import { SqliteStorage, TelegramClient } from '@mtcute/node';
import { TlBinaryWriter } from '@mtcute/tl-runtime';
import Long from 'long';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorage } from '@mtstore/core';
import { parseSession, parseSessionString, toMtcuteString } from '../src/index.js';
import { hex, seededKey } from './helpers.js';

const key = seededKey(31);

const variants: { name: string; data: StringSessionData }[] = [
  {
    name: 'user, one DC',
    data: { version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: { userId: 777000111, isBot: false, isPremium: false, usernames: [] }, authKey: key },
  },
  {
    name: 'bot, separate media DC',
    data: {
      version: 3,
      primaryDcs: { main: { id: 4, ipAddress: '149.154.167.91', port: 443 }, media: { id: 4, ipAddress: '149.154.164.250', port: 443, mediaOnly: true } },
      self: { userId: 5000000001, isBot: true, isPremium: false, usernames: [] },
      authKey: key,
    },
  },
  {
    name: 'IPv6, test mode, not logged in',
    data: { version: 3, primaryDcs: { main: { id: 1, ipAddress: '2001:b28:f23d:f001::e', ipv6: true, port: 80, testMode: true }, media: { id: 1, ipAddress: '2001:b28:f23d:f001::e', ipv6: true, port: 80, testMode: true } }, self: null, authKey: key },
  },
];

describe('mtcute string session (v3, what mtcute 0.29 writes)', () => {
  for (const v of variants) {
    it(`${v.name}: reads mtcute's string and writes the same string back`, () => {
      // mtcute writes the media DC only when it is a different object from main.
      const data = v.data.primaryDcs.media.mediaOnly ? v.data : { ...v.data, primaryDcs: { main: v.data.primaryDcs.main, media: v.data.primaryDcs.main } };
      const theirs = writeStringSession(data);
      const parsed = parseSessionString(theirs);
      expect(parsed.format).toBe('mtcute');
      expect(parsed.layout).toBe('v3');
      const { main, media } = data.primaryDcs;
      expect(parsed.session.homeDcId).toBe(main.id);
      const mainDc = parsed.session.dcs.find((d) => !d.mediaOnly)!;
      expect(main.ipv6 ? mainDc.ipv6 : mainDc.ipv4).toBe(main.ipAddress);
      expect(mainDc.port).toBe(main.port);
      expect(mainDc.testMode ?? false).toBe(main.testMode ?? false);
      expect(hex(mainDc.authKey)).toBe(hex(key));
      expect(parsed.session.dcs.length).toBe(media === main ? 1 : 2);
      if (media !== main) expect(parsed.session.dcs.find((d) => d.mediaOnly)).toMatchObject({ id: media.id, ipv4: media.ipAddress, port: media.port });
      expect(parsed.session.user).toEqual(data.self ? { id: BigInt(data.self.userId), dcId: main.id, bot: data.self.isBot } : undefined);

      const ours = toMtcuteString(parsed.session);
      expect(ours).toBe(theirs);
      const back = readStringSession(ours);
      expect(back.primaryDcs.main).toMatchObject({ id: main.id, ipAddress: main.ipAddress, port: main.port, ipv6: main.ipv6 ?? false, testMode: main.testMode ?? false });
      expect(back.self?.userId).toBe(data.self?.userId);
      expect(back.self?.isBot).toBe(data.self?.isBot);
      expect(hex(back.authKey)).toBe(hex(key));
    });
  }

  /**
   * Versions 1 and 2 (mtcute before 0.17): the DCs were TL `dcOption` objects. mtcute
   * 0.29 no longer writes them, so they are built here with mtcute's own TL writer in
   * the layout its old readStringSession read.
   */
  function oldString(version: 1 | 2, withMedia: boolean, testMode: boolean): string {
    const writer = TlBinaryWriter.manual(1024);
    writer.raw(new Uint8Array([version]));
    writer.int((1) | (testMode ? 2 : 0) | (withMedia ? 4 : 0));
    const dcOption = (ip: string, flags: number) => {
      writer.uint(0x18b7a10d);
      writer.uint(flags);
      writer.int(2);
      writer.string(ip);
      writer.int(443);
    };
    dcOption('149.154.167.51', 0);
    if (withMedia) dcOption('149.154.167.151', 2);
    writer.int53(777000111);
    writer.boolean(false);
    writer.bytes(key);
    return Buffer.from(writer.result()).toString('base64url');
  }

  for (const [version, withMedia, testMode] of [
    [1, false, false],
    [2, true, true],
  ] as const) {
    it(`reads the old v${version} layout${withMedia ? ' with a media DC' : ''}${testMode ? ' in test mode' : ''}`, () => {
      const parsed = parseSessionString(oldString(version, withMedia, testMode));
      expect(parsed.format).toBe('mtcute');
      expect(parsed.layout).toBe(`v${version}`);
      expect(parsed.session.dcs[0]).toMatchObject({ id: 2, ipv4: '149.154.167.51', port: 443 });
      expect(parsed.session.dcs[0]!.testMode ?? false).toBe(testMode);
      expect(parsed.session.dcs.length).toBe(withMedia ? 2 : 1);
      if (withMedia) expect(parsed.session.dcs[1]).toMatchObject({ id: 2, ipv4: '149.154.167.151', mediaOnly: true });
      expect(parsed.session.user).toEqual({ id: 777000111n, dcId: 2, bot: false });
      expect(hex(parsed.session.dcs[0]!.authKey)).toBe(hex(key));
      // Re-encoded as v3, mtcute 0.29 reads it.
      const back = readStringSession(toMtcuteString(parsed.session));
      expect(back.primaryDcs.main.testMode ?? false).toBe(testMode);
      expect(back.self?.userId).toBe(777000111);
    });
  }
});

describe('mtcute SQLite storage (@mtcute/node SqliteStorage)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-mtcute-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads keys, DCs, self, update state, peers and reference messages mtcute stored', async () => {
    const path = join(dir, 'mtcute.session');
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    const main = { id: 2, ipAddress: '149.154.167.51', port: 443 };
    const media = { id: 2, ipAddress: '149.154.167.222', port: 443, mediaOnly: true };
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main, media }, self: { userId: 777000111, isBot: false, isPremium: false, usernames: [] }, authKey: key }));
    const before = Date.now();
    await client.storage.peers.updatePeersFrom({
      users: [{ _: 'user', id: 777000222, accessHash: Long.fromString('-5764607523034234880'), username: 'Alice_interop', phone: '15550001111', firstName: 'Alice' }],
      chats: [
        { _: 'channel', id: 1183945448, accessHash: Long.fromString('-1234567890123456789'), title: 'Interop Channel', username: 'interopchannel', photo: { _: 'chatPhotoEmpty' }, date: 1 },
        { _: 'chat', id: 4242, title: 'Basic Chat', photo: { _: 'chatPhotoEmpty' }, participantsCount: 1, date: 1, version: 1 },
      ],
    } as never);
    await client.storage.updates.setPts(12345);
    await client.storage.updates.setQts(67);
    await client.storage.updates.setDate(1700000000);
    await client.storage.updates.setSeq(89);
    await client.storage.updates.setChannelPts(1183945448, 555);
    await client.storage.refMsgs.store(777000222, -1001183945448, 42);
    // close() flushes the pending writes (mtcute batches them) and closes the file.
    await client.storage.close();
    await client.destroy();

    const parsed = await parseSession(path);
    expect(parsed.format).toBe('mtcute-sqlite');
    const { session } = parsed;
    expect(session.homeDcId).toBe(2);
    expect(session.dcs.find((d) => !d.mediaOnly)).toMatchObject({ id: 2, ipv4: main.ipAddress, port: 443 });
    expect(session.dcs.find((d) => d.mediaOnly)).toMatchObject({ id: 2, ipv4: media.ipAddress, port: 443 });
    expect(hex(session.dcs.find((d) => !d.mediaOnly)!.authKey)).toBe(hex(key));
    expect(session.user).toMatchObject({ id: 777000111n, dcId: 2, bot: false });
    expect(session.state).toEqual({ pts: 12345, qts: 67, date: 1700000000, seq: 89 });
    expect(session.channels).toEqual([{ id: 1183945448n, pts: 555 }]);
    expect(parsed.refMessages).toEqual([{ peerId: 777000222n, chatId: -1001183945448n, messageId: 42 }]);

    const byKey = new Map(parsed.peers.map((p) => [`${p.type}:${p.id}`, p]));
    expect(parsed.peers).toHaveLength(3);
    expect(byKey.get('user:777000222')).toMatchObject({ accessHash: -5764607523034234880n, usernames: ['alice_interop'], phone: '15550001111' });
    expect(byKey.get('channel:1183945448')).toMatchObject({ accessHash: -1234567890123456789n, usernames: ['interopchannel'] });
    expect(byKey.get('chat:4242')).toMatchObject({ accessHash: 0n, usernames: [] });
    for (const p of parsed.peers) {
      expect(p.complete?.length).toBeGreaterThan(0);
      expect(Math.abs(p.updatedAt - Math.floor(before / 1000))).toBeLessThan(60);
    }
  });
});

describe('mtcute SQLite storage: a stale row still naming a username or phone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-mtcute-stale-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the peer mtcute saw last keeps the name after import (peers oldest first, by mtcute\'s updated column), as mtcute answers here', async () => {
    const path = join(dir, 'stale.session');
    const written = new SqliteStorage(path);
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: written, logLevel: 0 });
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: null, authKey: key }));
    // mtcute's own repository writes the rows (its service stamps `updated` with Date.now();
    // here an hour apart): user 200 had @alice and +15550001, gave them up, user 100 took them.
    const repo = written.peers;
    const now = Date.now();
    repo.store({ id: 200, accessHash: '11|0', isMin: false, usernames: ['alice'], updated: now - 3_600_000, phone: '15550001', complete: new Uint8Array([1]) });
    repo.store({ id: 100, accessHash: '22|0', isMin: false, usernames: ['alice'], updated: now, phone: '15550001', complete: new Uint8Array([2]) });
    await client.storage.close();
    await client.destroy();

    const mtcute = new SqliteStorage(path);
    const reopened = new TelegramClient({ apiId: 1, apiHash: 'x', storage: mtcute, logLevel: 0 });
    await reopened.prepare();
    expect(mtcute.peers.getByUsername('alice')?.id).toBe(100);
    expect(mtcute.peers.getByPhone('15550001')?.id).toBe(100);
    await reopened.storage.close();
    await reopened.destroy();

    const parsed = await parseSession(path);
    const storage = await openStorage(null, { name: 'stale' });
    await storage.peers.upsert(parsed.peers);
    expect((await storage.peers.getByUsername('alice'))?.id).toBe(100n);
    expect((await storage.peers.getByPhone('15550001'))?.id).toBe(100n);
    expect((await storage.peers.getById('user', 200n))?.usernames).toEqual([]);
    await storage.close();
  });
});

describe('mtcute SQLite storage: an update state missing a counter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-mtcute-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is no state, as mtcute reads it (it fetches a fresh one), with a warning; the channels\' pts are still read', async () => {
    const path = join(dir, 'partial.session');
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: null, authKey: key }));
    await client.storage.updates.setPts(12345);
    await client.storage.updates.setDate(1700000000);
    await client.storage.updates.setChannelPts(1183945448, 555);
    expect(await client.storage.updates.getState()).toBeNull();
    await client.storage.close();
    await client.destroy();

    const parsed = await parseSession(path);
    expect(parsed.session.state).toBeUndefined();
    expect(parsed.session.channels).toEqual([{ id: 1183945448n, pts: 555 }]);
    expect(parsed.warnings).toEqual(['update state not read: a counter is missing (the client fetches a fresh state)']);
  });
});

describe('mtcute SQLite storage: the current user', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-mtcute-self-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a username mtstore cannot store is dropped with a warning, the user and the file kept, as mtcute reads them', async () => {
    const path = join(dir, 'self.session');
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: null, authKey: key }));
    await client.storage.self.store({ userId: 777000111, isBot: false, isPremium: true, usernames: ['Alice_Interop', 'a b', 'alice_interop'] });
    await client.storage.close();
    await client.destroy();

    const reopened = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    await reopened.prepare();
    expect(await reopened.storage.self.fetch()).toMatchObject({ userId: 777000111, isPremium: true, usernames: ['Alice_Interop', 'a b', 'alice_interop'] });
    await reopened.storage.close();
    await reopened.destroy();

    const parsed = await parseSession(path);
    expect(parsed.session.user).toEqual({ id: 777000111n, dcId: 2, bot: false, premium: true, usernames: ['Alice_Interop'] });
    expect(parsed.warnings).toEqual(['current_user: username "a b" dropped (not 1-64 letters, digits or underscores)']);
  });

  it('a current_user of a version mtcute does not know is no user (mtcute reads none), with a warning, not a damaged file', async () => {
    const path = join(dir, 'self-v2.session');
    const client = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    await client.importSession(writeStringSession({ version: 3, primaryDcs: { main: { id: 2, ipAddress: '149.154.167.51', port: 443 }, media: { id: 2, ipAddress: '149.154.167.51', port: 443 } }, self: { userId: 777000111, isBot: false, isPremium: false, usernames: [] }, authKey: key }));
    await client.storage.close();
    await client.destroy();
    const db = new Database(path);
    const value = db.prepare("select value from key_value where key = 'current_user'").pluck().get() as Buffer;
    value.writeInt32LE(2, 0);
    db.prepare("update key_value set value = ? where key = 'current_user'").run(value);
    db.close();

    const reopened = new TelegramClient({ apiId: 1, apiHash: 'x', storage: new SqliteStorage(path), logLevel: 0 });
    await reopened.prepare();
    expect(await reopened.storage.self.fetch()).toBeNull();
    await reopened.storage.close();
    await reopened.destroy();

    const parsed = await parseSession(path);
    expect(parsed.session.user).toBeUndefined();
    expect(parsed.warnings).toEqual(['current_user not read: an unknown version (the client fetches its user again)']);
  });
});
