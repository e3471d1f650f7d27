/**
 * The commands run in-process against the memory adapter (through a registered
 * `shared://` scheme so every open of one URL sees the same data).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { openStorage, toMarkedId } from '@mtstore/core';
import { parseSession, parseSessionString } from '@mtstore/convert';
import { describe, expect, it } from 'vitest';
import { EXIT, migrate, run } from '../src/index.js';
import { storeIdentity } from '../src/migrate.js';
import { captureIo, convertFixtures, makePeers } from './helpers.js';

const telethonFile = `${convertFixtures}telethon/telethon.session`;

describe('import / export / inspect', () => {
  it('imports a Telethon file with its peers and exports it back as every format', async () => {
    const io = captureIo();
    expect(await run(['import', telethonFile, 'shared://a', '--name', 'alice'], io)).toBe(EXIT.OK);
    expect(io.err()).toContain('6 peers');
    const expected = await parseSession(telethonFile);
    const storage = await openStorage('shared://a', { name: 'alice' });
    expect(await storage.load()).toEqual(expected.session);
    for (const peer of expected.peers) expect(await storage.peers.getById(peer.type, peer.id)).toEqual(peer);
    await storage.close();

    for (const format of ['telethon', 'gramjs', 'pyrogram', 'mtcute'] as const) {
      const out = captureIo();
      const code = await run(['export', 'shared://a', '--name', 'alice', '--format', format, '--api-id', '12345'], out);
      expect(code, out.err()).toBe(EXIT.OK);
      expect(out.err()).toContain('anyone holding it can use the account');
      const back = parseSessionString(out.out().trim(), { format });
      expect(back.session.homeDcId).toBe(expected.session.homeDcId);
      expect(back.session.dcs[0]!.authKey).toEqual(expected.session.dcs[0]!.authKey);
    }
  });

  it('refuses to replace an existing session without --force', async () => {
    const pyrogram = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();
    const io = captureIo();
    expect(await run(['import', pyrogram, 'shared://b'], io)).toBe(EXIT.OK);
    const again = captureIo();
    expect(await run(['import', telethonFile, 'shared://b'], again)).toBe(EXIT.EXISTS);
    expect(again.err()).toMatch(/^mtstore: A session named "default" already exists .* Pass --force/);
    expect(await run(['import', telethonFile, 'shared://b', '--force'], captureIo())).toBe(EXIT.OK);
  });

  it('two imports into one name at once: one imports, the other refuses (exit 8); never one account\'s peers with the other\'s keys', async () => {
    const pyrogramFile = `${convertFixtures}pyrogram/pyrogram.session`;
    const ios = [captureIo(), captureIo()];
    const codes = await Promise.all([run(['import', telethonFile, 'shared://race'], ios[0]!), run(['import', pyrogramFile, 'shared://race'], ios[1]!)]);
    expect([...codes].sort(), ios.map((io) => io.err()).join('')).toEqual([EXIT.OK, EXIT.EXISTS]);
    const winner = await parseSession(codes[0] === EXIT.OK ? telethonFile : pyrogramFile);
    const storage = await openStorage('shared://race');
    expect(await storage.load()).toEqual(winner.session);
    expect((await storage.peers.list({ limit: 100 })).peers).toEqual(expect.arrayContaining(winner.peers));
    expect((await storage.peers.list({ limit: 100 })).peers).toHaveLength(winner.peers.length);
    // A client holding the session's lease is named, not overwritten, also with --force.
    await storage.lease.acquire({ owner: { label: 'running bot' }, ttlSeconds: 60 });
    const busy = captureIo();
    expect(await run(['import', telethonFile, 'shared://race', '--force'], busy)).toBe(EXIT.EXISTS);
    expect(busy.err()).toMatch(/^mtstore: The session "default" in shared:\/\/race is in use by .*running bot/);
    expect(await storage.load()).toEqual(winner.session);
    await storage.close();
  });

  it('inspect prints a summary without key bytes or the session string', async () => {
    const io = captureIo();
    expect(await run(['import', telethonFile, 'shared://c', '--name', 'x'], io)).toBe(EXIT.OK);
    const out = captureIo();
    expect(await run(['inspect', 'shared://c'], out)).toBe(EXIT.OK);
    expect(out.out()).toContain('session "x":');
    expect(out.out()).toContain('auth key: yes');
    expect(out.out()).toContain('peers: 6 (3 users, 1 chat, 2 channels)');
    const key = (await parseSession(telethonFile)).session.dcs[0]!.authKey!;
    expect(out.out()).not.toContain(Buffer.from(key).toString('hex').slice(0, 12));

    expect(out.out()).toContain('  lease: free');
    const holder = await openStorage('shared://c', { name: 'x' });
    await holder.lease.acquire({ owner: { host: 'bot-host', pid: 4242, label: 'bot@1' }, ttlSeconds: 60 });
    const held = captureIo();
    expect(await run(['inspect', 'shared://c'], held)).toBe(EXIT.OK);
    expect(held.out()).toMatch(/ {2}lease: held by pid 4242 on host "bot-host" \("bot@1"\), token \d+, runs out at \S+Z \(in (59|60) s\) unless renewed/);
    await holder.close();

    const text = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();
    const str = captureIo();
    expect(await run(['inspect', text], str)).toBe(EXIT.OK);
    expect(str.out()).toContain('the 362-character string: a pyrogram session');
    expect(str.out()).not.toContain(text.slice(0, 24));
  });

  it('a file that is not SQLite at all (text, JSON) given as a store is exit 6 "holds no … database", and is left as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-text-'));
    try {
      const text = join(dir, 'notes.session');
      writeFileSync(text, 'not a database\n'.repeat(20));
      const target = join(dir, 'target.session');
      for (const args of [['inspect', text], ['export', text, '--format', 'telethon'], ['migrate', text, target]]) {
        const io = captureIo();
        expect(await run(args, io), `${args[0]}: ${io.err()}`).toBe(EXIT.NOT_FOUND);
        expect(io.err()).toBe(`mtstore: ${text} holds no @mtstore/sqlite database: it is not an SQLite file. Give an mtstore storage file or a database URL (mtstore import reads session strings and other libraries' files).\n`);
      }
      expect(readFileSync(text, 'utf8')).toBe('not a database\n'.repeat(20));
      expect(readdirSync(dir)).toEqual(['notes.session']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('export names the sessions there are when the name is wrong', async () => {
    await run(['import', telethonFile, 'shared://d', '--name', 'bob'], captureIo());
    const io = captureIo();
    expect(await run(['export', 'shared://d', '--format', 'telethon'], io)).toBe(EXIT.NOT_FOUND);
    expect(io.err()).toContain('No session named "default" in shared://d: it holds: bob (pick one with --name)');
    expect(io.out()).toBe('');
  });

  it('usage errors exit 2, unreadable input 3; each is one line starting with mtstore:', async () => {
    for (const args of [['import', 'x'], ['export', 'shared://a'], ['migrate', 'shared://a', 'shared://z', '--refs', 'some'], ['inspect', 'shared://a', '--bogus'], ['nosuch']]) {
      const usage = captureIo();
      expect(await run(args, usage), args.join(' ')).toBe(EXIT.USAGE);
      expect(usage.err().trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(usage.err(), args.join(' ')).toMatch(/^mtstore: .*\(run mtstore --help for usage\)\n$/);
    }
    const io = captureIo();
    expect(await run(['import', 'definitely-not-a-session', 'shared://e'], io)).toBe(EXIT.INPUT);
    expect(io.err().trim().split('\n')).toHaveLength(1);
  });
});

describe('--help', () => {
  it("each command's --help lists the options and arguments its README row names, and says what they do", async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([a-z-]+) ([^`]*)` \|/gm)];
    expect(rows.map((r) => r[1])).toEqual(['import', 'export', 'migrate', 'inspect', 'rotate-keys', 'check']);
    for (const [, command, synopsis] of rows) {
      const io = captureIo();
      expect(await run([command!, '--help'], io)).toBe(EXIT.OK);
      const help = io.out();
      const documented = new Set(synopsis!.match(/--[a-z-]+/g) ?? []);
      const offered = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((o) => o !== '--help'));
      expect([...offered].sort(), command).toEqual([...documented].sort());
      for (const argument of synopsis!.match(/^(<[^>]+>\s*)+/)?.[0].trim().split(/\s+/) ?? []) expect(help, command).toContain(argument);
    }
    // --refs picks which reference messages are copied (every one of the session, those of
    // min peers, none), not "peers whose reference message is looked up" as it once did.
    const migrateHelp = captureIo();
    await run(['migrate', '--help'], migrateHelp);
    expect(migrateHelp.out().replace(/\s+/g, ' ')).toContain('--refs <which> which reference messages to copy: every one, only those of min peers, or none');
  });
});

describe('migrate', () => {
  it('copies every session with snapshot, keys, peers, kv and reference messages, then verifies', async () => {
    const src = 'shared://m1';
    const telethon = await parseSession(telethonFile);
    const a = await openStorage(src, { name: 'a' });
    await a.save(telethon.session);
    const peers = makePeers(25_000);
    for (let i = 0; i < peers.length; i += 10_000) await a.peers.upsert(peers.slice(i, i + 10_000));
    await a.kv.set('salts:2', new Uint8Array([1, 2, 3]));
    await a.refMessages.store(toMarkedId('user', 11n), -1001183945448n, 77);
    await a.close();
    const b = await openStorage(src, { name: 'b' });
    await b.peers.upsert(makePeers(3, 900_000)); // peers only, no snapshot
    await b.close();

    const io = captureIo();
    const report = await migrate(src, 'shared://m2', { batch: 4000 }, io);
    expect(report.sessions.map((s) => [s.name, s.snapshot, s.peers, s.kv, s.refMessages])).toEqual([
      ['a', true, 25_000, 1, 1],
      ['b', false, 3, 0, 0],
    ]);
    expect(io.err()).toMatch(/Done: 2 sessions, 25003 peers in .* counts verified/);
    const copy = await openStorage('shared://m2', { name: 'a' });
    expect(await copy.load()).toEqual(telethon.session);
    expect(await copy.peers.getById('user', 24_999n)).toEqual(peers[24_998]);
    expect(await copy.kv.get('salts:2')).toEqual(new Uint8Array([1, 2, 3]));
    expect(await copy.refMessages.getByPeer(11n)).toEqual({ chatId: -1001183945448n, messageId: 77 });
    expect(await copy.listNames()).toEqual(['a', 'b']);
    await copy.close();
  });

  it('copies every reference message in store order, several per peer, so each peer keeps its most recent one; --refs min only min peers’', async () => {
    const src = 'shared://r1';
    const a = await openStorage(src, { name: 'a' });
    const peers = makePeers(30); // every tenth is min: ids 1, 11, 21
    await a.peers.upsert(peers);
    const peerIds = [1n, 2n, 11n, 12n, toMarkedId('channel', 5n), 999_999n]; // the last two are not in the peer cache
    for (let i = 0; i < 300; i++) await a.refMessages.store(peerIds[(i * 7) % peerIds.length]!, -1000n - BigInt(i % 4), 1 + (i % 37));
    await a.refMessages.delete(-1001n, [2, 3, 5]);
    await a.refMessages.store(1n, -1000n, 1); // stored again: now the most recent of peer 1
    const all = async (storage: typeof a) => {
      const refs = [];
      let cursor: string | null = null;
      do {
        const page = await storage.refMessages.list({ cursor, limit: 10_000 });
        refs.push(...page.refs);
        cursor = page.cursor;
      } while (cursor !== null);
      return refs;
    };
    const source = await all(a);
    expect(source.length).toBeGreaterThan(100);
    expect(new Set(source.map((r) => r.peerId)).size).toBe(peerIds.length);

    const io = captureIo();
    const report = await migrate(src, 'shared://r2', { batch: 7 }, io);
    expect(report.sessions[0]!.refMessages).toBe(source.length);
    expect(io.err()).toMatch(/Done: 1 session, 30 peers in /);
    const copy = await openStorage('shared://r2', { name: 'a' });
    expect(await all(copy)).toEqual(source);
    // Exactly, also below the most recent: delete each peer's newest on both sides, twice.
    for (let round = 0; round < 2; round++) {
      for (const peer of peerIds) {
        const latest = await a.refMessages.getByPeer(peer);
        expect(await copy.refMessages.getByPeer(peer), `peer ${peer}, round ${round}`).toEqual(latest);
        if (latest === null) continue;
        await a.refMessages.delete(latest.chatId, [latest.messageId]);
        await copy.refMessages.delete(latest.chatId, [latest.messageId]);
      }
    }
    await copy.close();

    const onlyMin = await migrate(src, 'shared://r3', { refs: 'min' }, captureIo());
    const minCopy = await openStorage('shared://r3', { name: 'a' });
    const minRefs = await all(minCopy);
    const expected = (await all(a)).filter((r) => r.peerId === 1n || r.peerId === 11n);
    expect(minRefs).toEqual(expected);
    expect(onlyMin.sessions[0]!.refMessages).toBe(expected.length);
    const none = await migrate(src, 'shared://r4', { refs: 'none' }, captureIo());
    expect(none.sessions[0]!.refMessages).toBe(0);
    await minCopy.close();
    await a.close();
  });

  it('copies the keys of a session without a snapshot, whatever their DCs, and only them', async () => {
    const src = 'shared://k1';
    const key = (seed: number) => Uint8Array.from({ length: 256 }, (_, i) => (i * seed + 7) & 0xff);
    const a = await openStorage(src, { name: 'keys-only' });
    await a.authKeys.set(2, key(1));
    await a.authKeys.setTemp(2, { index: 3, key: key(2), expiresAt: 1_900_000_000 });
    await a.authKeys.set(203, key(3)); // a CDN DC: probing DCs 1-5 missed it
    await a.authKeys.setTemp(1000, { index: 0, key: key(4), expiresAt: 0 });
    const target = await openStorage('shared://k2', { name: 'keys-only' });
    await target.authKeys.set(9, key(9)); // not in the source: gone after the migration
    const io = captureIo();
    const report = await migrate(src, 'shared://k2', {}, io);
    expect(report.sessions).toEqual([{ name: 'keys-only', snapshot: false, peers: 0, kv: 0, refMessages: 0 }]);
    expect(io.err()).toContain('keys-only: 4 auth keys (no snapshot), 0 peers');
    expect(await target.load()).toBeNull();
    expect(await target.authKeys.entries()).toEqual(await a.authKeys.entries());
    expect(Uint8Array.from((await target.authKeys.get(203))!)).toEqual(key(3));
    const temp = await target.authKeys.getTemp(1000, 0);
    expect({ ...temp, key: Uint8Array.from(temp!.key) }).toEqual({ index: 0, key: key(4), expiresAt: 0 });
    expect(await target.authKeys.get(9)).toBeNull();
    await a.close();
    await target.close();
  });

  it('finishes an interrupted run when run again', async () => {
    const src = 'shared://i1';
    const a = await openStorage(src, { name: 'a' });
    await a.save((await parseSession(telethonFile)).session);
    await a.peers.upsert(makePeers(9_000));
    await a.close();
    // Interrupt: the target accepts two pages, then fails.
    const target = await openStorage('shared://i2', { name: 'a' });
    let writes = 0;
    const upsert = target.peers.upsert.bind(target.peers);
    const { registerAdapter } = await import('@mtstore/core');
    registerAdapter('flaky', async () => ({
      openStorage: () => {
        Object.defineProperty(target, 'close', { value: async () => {}, configurable: true });
        (target.peers as { upsert: typeof upsert }).upsert = async (batch) => {
          if (++writes > 2) throw new Error('connection reset');
          return upsert(batch);
        };
        return target;
      },
      openSessionStorage: () => {
        throw new Error('unused');
      },
    }));
    await expect(migrate(src, 'flaky://x', { batch: 2000 }, captureIo())).rejects.toThrow('connection reset');
    const partial = await openStorage('shared://i2', { name: 'a' });
    expect((await partial.peers.list({ limit: 10_000 })).peers).toHaveLength(4000);
    // Run again into the same data: completes and verifies.
    const report = await migrate(src, 'shared://i2', { batch: 2000 }, captureIo());
    expect(report.sessions[0]!.peers).toBe(9_000);
    expect((await partial.peers.list({ limit: 10_000 })).peers).toHaveLength(9_000);
    await partial.close();
  });

  it('shows a progress bar with counts and rate on a TTY, plain lines otherwise', async () => {
    const a = await openStorage('shared://p1', { name: 'a' });
    await a.peers.upsert(makePeers(3000));
    await a.close();
    const tty = captureIo();
    Object.assign(tty.stderr, { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    await migrate('shared://p1', 'shared://p2', { batch: 1000 }, tty);
    expect(tty.err()).toMatch(/a \[[\u2588\u2591]+\] 3000\/3000 peers \| [\d,]+\/s/);
    const plain = captureIo();
    await migrate('shared://p1', 'shared://p3', { batch: 1000 }, plain);
    expect(plain.err()).toMatch(/^a: 3000\/3000 peers \([\d,]+\/s\)$/m);
    expect(plain.err()).not.toContain('\u2588');
  });
});

describe('targets, replacing and names', () => {
  const gramjsString = async (): Promise<string> => {
    const io = captureIo();
    expect(await run(['export', readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8').trim(), '--format', 'gramjs'], io)).toBe(EXIT.OK);
    return io.out().trim();
  };

  it('a session string given as the import or migrate target is a usage error that never prints it', async () => {
    const text = await gramjsString();
    expect(text).toContain('/'); // GramJS's alphabet: it passes for a path
    for (const args of [
      ['import', telethonFile, text],
      ['import', telethonFile, `${text}.session`],
      ['migrate', 'shared://t1', text],
    ]) {
      const io = captureIo();
      expect(await run(args, io), io.err()).toBe(EXIT.USAGE);
      expect(io.err()).toContain('not a storage path or URL');
      for (let at = 0; at + 16 <= text.length; at += 16) expect(io.err()).not.toContain(text.slice(at, at + 16));
    }
  });

  it('a folder given as the import or migrate target (a path ending in a slash) is a usage error, and nothing is created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-folder-'));
    try {
      mkdirSync(join(dir, 'sessions'));
      // It created sessions/.session.session (a hidden file, .session added twice) and said
      // "Imported … into sessions/"; inspect of sessions/ then found no such file. A missing
      // folder failed exit 4 telling to check that a server runs.
      for (const target of [`${join(dir, 'sessions')}/`, `${join(dir, 'missing')}/`]) {
        for (const args of [['import', telethonFile, target], ['migrate', 'shared://t-folder', target]]) {
          const io = captureIo();
          expect(await run(args, io), io.err()).toBe(EXIT.USAGE);
          expect(io.err()).toContain(`is a folder: give a session file in it, e.g. ${target}bot.session`);
        }
      }
      expect(readdirSync(dir)).toEqual(['sessions']);
      expect(readdirSync(join(dir, 'sessions'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a path without an extension is named in the messages as the file written (Telethon\'s .session rule), also beside a folder of that name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-named-'));
    try {
      mkdirSync(join(dir, 'sessions'));
      const target = join(dir, 'sessions');
      // It said "into <dir>/sessions" and wrote <dir>/sessions.session beside the folder.
      const io = captureIo();
      expect(await run(['import', telethonFile, target], io), io.err()).toBe(EXIT.OK);
      expect(io.err()).toContain(`into ${target}.session as "default"`);
      expect(readdirSync(dir).sort()).toEqual(['sessions', 'sessions.session']);
      const again = captureIo();
      expect(await run(['import', telethonFile, target], again)).toBe(EXIT.EXISTS);
      expect(again.err()).toContain(`already exists in ${target}.session.`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('- with nothing piped in (a terminal, or no stdin) is a usage error, not a wait for input', async () => {
    for (const stdin of [Object.assign(new PassThrough(), { isTTY: true }), undefined]) {
      for (const args of [['import', '-', 'shared://t-stdin'], ['inspect', '-'], ['export', '-', '--format', 'telethon']]) {
        const io = { ...captureIo(), ...(stdin === undefined ? {} : { stdin }) };
        expect(await run(args, io), io.err()).toBe(EXIT.USAGE);
        expect(io.err()).toContain('"-" reads the session from standard input: pipe it in');
      }
    }
  });

  it('import without --force refuses a name that holds keys, peers, kv or references but no snapshot', async () => {
    const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 7 + 50) & 0xff);
    const writes: [string, (s: Awaited<ReturnType<typeof openStorage>>) => Promise<void>][] = [
      ['keys', (s) => s.authKeys.set(2, key)],
      ['peers', (s) => s.peers.upsert(makePeers(1))],
      ['kv', (s) => s.kv.set('k1', new Uint8Array([1]))],
      ['refs', (s) => s.refMessages.store(5n, -1005n, 9)],
    ];
    for (const [what, write] of writes) {
      const url = `shared://x-${what}`;
      const storage = await openStorage(url, { name: 'ko' });
      await write(storage);
      const io = captureIo();
      expect(await run(['import', telethonFile, url, '--name', 'ko'], io), what).toBe(EXIT.EXISTS);
      expect(io.err()).toContain('A session named "ko" already exists');
      expect(await storage.load(), what).toBeNull();
      if (what === 'keys') expect(Uint8Array.from((await storage.authKeys.get(2))!)).toEqual(key);
      await storage.close();
    }
  });

  it('import --force replaces the whole session: nothing of the old account stays', async () => {
    const url = 'shared://force';
    const old = await openStorage(url, { name: 'a' });
    expect(await run(['import', telethonFile, url, '--name', 'a'], captureIo())).toBe(EXIT.OK);
    await old.kv.set('salts:2', new Uint8Array([1, 2]));
    await old.refMessages.store(toMarkedId('user', 11n), -1001n, 5);
    await old.authKeys.setTemp(4, { index: 0, key: Uint8Array.from({ length: 256 }, (_, i) => i & 0xff), expiresAt: 0 });
    const other = await openStorage(url, { name: 'b' });
    await other.peers.upsert(makePeers(2));

    const pyrogram = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();
    const io = captureIo();
    expect(await run(['import', pyrogram, url, '--name', 'a', '--force'], io), io.err()).toBe(EXIT.OK);
    const expected = parseSessionString(pyrogram);
    expect(await old.load()).toEqual(expected.session);
    expect((await old.peers.list({ limit: 100 })).peers).toEqual([]);
    expect(await old.kv.entries()).toEqual([]);
    expect((await old.refMessages.list({ limit: 100 })).refs).toEqual([]);
    expect((await old.authKeys.entries()).map((e) => [e.dcId, e.tempAuthKeys.length])).toEqual(expected.session.dcs.map((dc) => [dc.id, 0]));
    // Another name is left alone.
    expect((await other.peers.list({ limit: 100 })).peers).toHaveLength(2);
    await old.close();
    await other.close();
  });

  it('import over a session sealed by rotate-keys: refused without --force (exit 8), replaced with it', async () => {
    const url = 'shared://sealed';
    expect(await run(['import', telethonFile, url], captureIo())).toBe(EXIT.OK);
    process.env.MTSTORE_TEST_SEAL_KEY = Buffer.alloc(32, 7).toString('base64');
    try {
      const sealing = captureIo();
      expect(await run(['rotate-keys', url, '--key', 'k1=MTSTORE_TEST_SEAL_KEY'], sealing), sealing.err()).toBe(EXIT.OK);
    } finally {
      delete process.env.MTSTORE_TEST_SEAL_KEY;
    }
    const pyrogram = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();
    const refused = captureIo();
    expect(await run(['import', pyrogram, url], refused), refused.err()).toBe(EXIT.EXISTS);
    expect(refused.err()).toContain('A session named "default" already exists');
    const forced = captureIo();
    expect(await run(['import', pyrogram, url, '--force'], forced), forced.err()).toBe(EXIT.OK);
    const storage = await openStorage(url);
    expect(await storage.load()).toEqual(parseSessionString(pyrogram).session);
    await storage.close();
  });

  it('export of a session sealed by rotate-keys: exit 2 naming --key and the key id without one, the same string with it', async () => {
    const url = 'shared://sealed-export';
    expect(await run(['import', telethonFile, url], captureIo())).toBe(EXIT.OK);
    const plain = captureIo();
    expect(await run(['export', url, '--format', 'telethon'], plain)).toBe(EXIT.OK);
    const key = Buffer.alloc(32, 9).toString('base64');
    process.env.MTSTORE_TEST_EXPORT_KEY = key;
    try {
      expect(await run(['rotate-keys', url, '--key', 'k2=MTSTORE_TEST_EXPORT_KEY'], captureIo())).toBe(EXIT.OK);
      const without = captureIo();
      expect(await run(['export', url, '--format', 'telethon'], without)).toBe(EXIT.USAGE);
      expect(without.err()).toBe(`mtstore: The session "default" in ${url} is sealed with encryption key "k2" (rotate-keys): pass --key k2=<ENV_VAR>, the environment variable holding that key.\n`);
      expect(without.out()).toBe('');
      const withKey = captureIo();
      expect(await run(['export', url, '--format', 'telethon', '--key', 'k2=MTSTORE_TEST_EXPORT_KEY'], withKey), withKey.err()).toBe(EXIT.OK);
      expect(withKey.out()).toBe(plain.out());
      expect(withKey.err()).not.toContain(key);
    } finally {
      delete process.env.MTSTORE_TEST_EXPORT_KEY;
    }
  });

  it('migrate of sessions sealed by rotate-keys: exit 2 naming --key without it; with it the target holds the same session, sealed', async () => {
    const from = 'shared://sealed-migrate-from';
    expect(await run(['import', telethonFile, from], captureIo())).toBe(EXIT.OK);
    process.env.MTSTORE_TEST_MIGRATE_KEY = Buffer.alloc(32, 11).toString('hex');
    try {
      expect(await run(['rotate-keys', from, '--key', 'k3=MTSTORE_TEST_MIGRATE_KEY'], captureIo())).toBe(EXIT.OK);
      const without = captureIo();
      expect(await run(['migrate', from, 'shared://sealed-migrate-to'], without)).toBe(EXIT.USAGE);
      expect(without.err()).toContain(`mtstore: The session "default" in ${from} is sealed with encryption key "k3" (rotate-keys): pass --key k3=<ENV_VAR>`);
      const withKey = captureIo();
      expect(await run(['migrate', from, 'shared://sealed-migrate-to', '--key', 'k3=MTSTORE_TEST_MIGRATE_KEY'], withKey), withKey.err()).toBe(EXIT.OK);
      const encryption = { keys: [{ id: 'k3', env: 'MTSTORE_TEST_MIGRATE_KEY' }] };
      const source = await openStorage(from, { encryption });
      const target = await openStorage('shared://sealed-migrate-to', { encryption });
      expect(await target.load()).toEqual(await source.load());
      await Promise.all([source.close(), target.close()]);
      // Sealed in the target too: without the key its snapshot does not open.
      const bare = await openStorage('shared://sealed-migrate-to');
      await expect(bare.load()).rejects.toMatchObject({ code: 'MTSTORE_ENCRYPTION', keyId: 'k3' });
      await bare.close();
    } finally {
      delete process.env.MTSTORE_TEST_MIGRATE_KEY;
    }
  });

  it('export --api-id is a usage error outside 1…2^31-1 and fills a missing api_id only', async () => {
    const pyrogram = readFileSync(`${convertFixtures}pyrogram/user.string`, 'utf8').trim();
    expect(await run(['import', pyrogram, 'shared://api', '--name', 'p'], captureIo())).toBe(EXIT.OK);
    for (const id of ['0', '2147483648', '4294967297', '99999999999', '-1']) {
      const io = captureIo();
      expect(await run(['export', 'shared://api', '--name', 'p', '--format', 'pyrogram', '--api-id', id], io), id).toBe(EXIT.USAGE);
      expect(io.out()).toBe('');
    }
    const io = captureIo();
    expect(await run(['export', 'shared://api', '--name', 'p', '--format', 'pyrogram', '--api-id', '999'], io)).toBe(EXIT.OK);
    expect(parseSessionString(io.out().trim()).session.apiId).toBe(parseSessionString(pyrogram).session.apiId);
    // A session without one (Telethon records none) needs --api-id, and the error says so by that name.
    expect(await run(['import', telethonFile, 'shared://api', '--name', 't'], captureIo())).toBe(EXIT.OK);
    const without = captureIo();
    expect(await run(['export', 'shared://api', '--name', 't', '--format', 'pyrogram'], without)).toBe(EXIT.USAGE);
    expect(without.err()).toBe("mtstore: The session records no api_id, which a Pyrogram string holds: pass --api-id <your app's api_id>.\n");
    expect(without.out()).toBe('');
  });

  it('migrate --batch 0 is a usage error, not the default', async () => {
    const a = await openStorage('shared://b0', { name: 'a' });
    await a.peers.upsert(makePeers(3));
    await a.close();
    const io = captureIo();
    expect(await run(['migrate', 'shared://b0', 'shared://b0-to', '--batch', '0'], io)).toBe(EXIT.USAGE);
    expect(io.err()).toContain('--batch must be an integer from 1 to 10000');
    const target = await openStorage('shared://b0-to', { name: 'a' });
    expect(await target.listNames()).toEqual([]);
    await target.close();
  });

  it('migrate refuses a target that is the source (its ?session= aside) before reading anything', async () => {
    const url = 'shared://same';
    const a = await openStorage(url, { name: 'mt' });
    // No references: before the refusal, copying them onto themselves never ended
    // (servers.test.ts runs that, bounded, with a link to a SQLite file).
    await a.peers.upsert(makePeers(3));
    await a.kv.set('k', new Uint8Array([1]));
    for (const target of [url, `${url}?session=mt`]) {
      const io = captureIo();
      expect(await run(['migrate', url, target, '--batch', '1'], io)).toBe(EXIT.USAGE);
      expect(io.err()).toContain('the same store');
    }
    await a.close();
    expect(storeIdentity('./x')).toBe(storeIdentity(`${process.cwd()}/x.session`));
    expect(storeIdentity('x.session')).toBe(storeIdentity(`file://${process.cwd()}/x.session?create=false`));
    expect(storeIdentity('postgres://h/db?schema=a&session=s')).toBe(storeIdentity('postgres://h/db?schema=a'));
    expect(storeIdentity('postgres://h/db?schema=a')).not.toBe(storeIdentity('postgres://h/db?schema=b'));
  });

  it('inspect --name and ?session= show that session only; an unknown name is exit 6 with the names there', async () => {
    for (const name of ['x', 'y']) expect(await run(['import', telethonFile, 'shared://names', '--name', name], captureIo())).toBe(EXIT.OK);
    const missing = captureIo();
    expect(await run(['inspect', 'shared://names', '--name', 'nosuch'], missing)).toBe(EXIT.NOT_FOUND);
    expect(missing.err()).toContain('No session named "nosuch" in shared://names: it holds: x, y.');
    expect(missing.out()).toBe('');
    const query = captureIo();
    expect(await run(['inspect', 'shared://names?session=y'], query)).toBe(EXIT.OK);
    expect(query.out()).toContain('1 session');
    expect(query.out()).toContain('session "y":');
    expect(query.out()).not.toContain('session "x":');
    expect(await run(['inspect', 'shared://names?session=nosuch'], captureIo())).toBe(EXIT.NOT_FOUND);
  });

  it('export names the ?session= it looked for', async () => {
    await run(['import', telethonFile, 'shared://q', '--name', 'bob'], captureIo());
    const io = captureIo();
    expect(await run(['export', 'shared://q?session=nosuch', '--format', 'telethon'], io)).toBe(EXIT.NOT_FOUND);
    expect(io.err()).toContain('No session named "nosuch" in shared://q?session=nosuch: it holds: bob');
  });
});

describe('inputs that need naming', () => {
  it('an ambiguous string is read as the format --from names (inspect, export); the error says so', async () => {
    // A GramJS string for host "ab" is also a valid Telethon string (DC address 0.2.97.98).
    // Built by hand: mtstore no longer writes it (GramJS itself would read it as Telethon).
    const telethon = await parseSession(readFileSync(`${convertFixtures}telethon/ipv4.string`, 'utf8').trim());
    const text = `1${Buffer.concat([Buffer.from([2, 0, 2, 0x61, 0x62, 0x01, 0xbb]), Buffer.from(telethon.session.dcs[0]!.authKey!)]).toString('base64')}`;
    const refused = captureIo();
    expect(await run(['inspect', text], refused)).toBe(EXIT.INPUT);
    expect(refused.err()).toContain('--from');
    // As a Telethon string: the GramJS reading (host "ab" of DC 2) gets DC 2's well-known address.
    for (const [from, address, ipv4] of [['gramjs', 'DC 2: ab:443', '149.154.167.51'], ['telethon', 'DC 2: 0.2.97.98:443', '0.2.97.98']] as const) {
      const io = captureIo();
      expect(await run(['inspect', text, '--from', from], io), io.err()).toBe(EXIT.OK);
      expect(io.out()).toContain(address);
      const exported = captureIo();
      expect(await run(['export', text, '--from', from, '--format', 'telethon'], exported), exported.err()).toBe(EXIT.OK);
      expect((await parseSessionString(exported.out().trim(), { format: 'telethon' })).session.dcs[0]).toMatchObject({ ipv4 });
    }
    // Back as a GramJS string it is refused: GramJS would read it as a Telethon string.
    const refusedGramjs = captureIo();
    expect(await run(['export', text, '--from', 'gramjs', '--format', 'gramjs'], refusedGramjs)).toBe(EXIT.INPUT);
    expect(refusedGramjs.err().trim().split('\n')).toEqual([expect.stringMatching(/^mtstore: .*an address of 2 characters is misread by GramJS/)]);
    expect(refusedGramjs.out()).toBe('');
  });

  it('--name picks the session of a GramJS folder that holds several (import, inspect)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-gramjs-'));
    try {
      // Two StoreSessions written by GramJS itself (each in a folder of its name), their files then put in one folder.
      const script = `
        const { StoreSession } = require('telegram/sessions');
        const { AuthKey } = require('telegram/crypto/AuthKey');
        (async () => {
          for (const [name, dc] of [['acct', 2], ['other', 4]]) {
            const s = new StoreSession(name);
            s.setDC(dc, '149.154.167.' + (40 + dc), 443);
            const key = new AuthKey();
            await key.setKey(Buffer.alloc(256, dc));
            s.authKey = key;
          }
        })();`;
      execFileSync(process.execPath, ['-e', script], { cwd: dir, env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') + ':' + join(process.cwd(), '../../node_modules') } });
      const folder = join(dir, 'both');
      mkdirSync(folder);
      for (const name of ['acct', 'other']) for (const file of readdirSync(join(dir, name))) renameSync(join(dir, name, file), join(folder, file));
      const refused = captureIo();
      expect(await run(['import', folder, 'shared://gj1'], refused)).toBe(EXIT.INPUT);
      expect(refused.err()).toContain('--name');
      const io = captureIo();
      expect(await run(['import', folder, 'shared://gj1', '--name', 'other'], io), io.err()).toBe(EXIT.OK);
      expect((await (await openStorage('shared://gj1', { name: 'other' })).load())?.homeDcId).toBe(4);
      const shown = captureIo();
      expect(await run(['inspect', folder, '--name', 'acct'], shown), shown.err()).toBe(EXIT.OK);
      expect(shown.out()).toContain('home DC: 2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a GramJS folder of one session is imported under --name, whatever GramJS called it (the README example)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-gramjs-one-'));
    try {
      // new StoreSession('gramjs_folder'): the folder and its one session are both named so.
      const script = `
        const { StoreSession } = require('telegram/sessions');
        const { AuthKey } = require('telegram/crypto/AuthKey');
        (async () => {
          const s = new StoreSession('gramjs_folder');
          s.setDC(2, '149.154.167.51', 443);
          const key = new AuthKey();
          await key.setKey(Buffer.alloc(256, 7));
          s.authKey = key;
        })();`;
      execFileSync(process.execPath, ['-e', script], { cwd: dir, env: { ...process.env, NODE_PATH: join(process.cwd(), 'node_modules') + ':' + join(process.cwd(), '../../node_modules') } });
      const io = captureIo();
      expect(await run(['import', join(dir, 'gramjs_folder'), 'shared://gj2', '--name', 'bob'], io), io.err()).toBe(EXIT.OK);
      const stored = await openStorage('shared://gj2', { name: 'bob' });
      expect((await stored.load())?.dcs[0]).toMatchObject({ id: 2, ipv4: '149.154.167.51', port: 443 });
      expect(await stored.listNames()).toEqual(['bob']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('check --grep', () => {
  it('runs only the matching tests of both suites; a pattern matching none, or not a regular expression, is exit 2', async () => {
    const given = join(mkdtempSync(join(tmpdir(), 'mtstore-grep-')), 'untouched.session');
    try {
      const some = captureIo();
      expect(await run(['check', given, '--grep', '› (round trip|events) ›'], some), some.err()).toBe(EXIT.OK);
      expect(some.err()).toMatch(/Running \d+ of \d+ conformance tests/);
      const groups = [...some.out().matchAll(/^\| ([a-z][^|]*?) +\| (ok|FAIL)/gm)].map((m) => m[1]);
      expect(new Set(groups)).toEqual(new Set(['round trip', 'events']));
      expect(some.out()).toMatch(/\n[1-9]\d* passed, 0 failed, \d+ skipped\n/);
      for (const [pattern, said] of [
        ['zzz-no-such-trait', 'no conformance test matches'],
        ['(', 'is not a regular expression'],
      ]) {
        const io = captureIo();
        // A temporary folder of this run's own (os.tmpdir() reads TMPDIR on each call; other
        // test files run in other processes): whatever check makes there must be gone after.
        const temp = mkdtempSync(join(tmpdir(), 'mtstore-grep-tmp-'));
        const saved = process.env.TMPDIR;
        process.env.TMPDIR = temp;
        try {
          expect(await run(['check', given, '--grep', pattern as string], io)).toBe(EXIT.USAGE);
        } finally {
          if (saved === undefined) delete process.env.TMPDIR;
          else process.env.TMPDIR = saved;
        }
        expect(io.err()).toContain(said);
        expect(io.out()).toBe('');
        // No scratch folder left behind (a bad --grep left an empty mtstore-check-* on every run).
        expect(readdirSync(temp)).toEqual([]);
        rmSync(temp, { recursive: true });
      }
    } finally {
      rmSync(join(given, '..'), { recursive: true, force: true });
    }
  });
});
