/**
 * The commands run in-process against the memory adapter (through a registered
 * `shared://` scheme so every open of one URL sees the same data).
 */
import { readFileSync } from 'node:fs';
import { openStorage, toMarkedId } from '@mtstore/core';
import { parseSession, parseSessionString } from '@mtstore/convert';
import { describe, expect, it } from 'vitest';
import { EXIT, migrate, run } from '../src/index.js';
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

  it('inspect prints a summary without key bytes or the session string', async () => {
    const io = captureIo();
    expect(await run(['import', telethonFile, 'shared://c', '--name', 'x'], io)).toBe(EXIT.OK);
    const out = captureIo();
    expect(await run(['inspect', 'shared://c'], out)).toBe(EXIT.OK);
    expect(out.out()).toContain('session "x":');
    expect(out.out()).toContain('auth key: yes');
    expect(out.out()).toContain('peers: 6 (3 users, 1 chats, 2 channels)');
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

  it('export names the sessions there are when the name is wrong', async () => {
    await run(['import', telethonFile, 'shared://d', '--name', 'bob'], captureIo());
    const io = captureIo();
    expect(await run(['export', 'shared://d', '--format', 'telethon'], io)).toBe(EXIT.NOT_FOUND);
    expect(io.err()).toContain('No session named "default" in shared://d: it holds: bob (pick one with --name)');
    expect(io.out()).toBe('');
  });

  it('usage errors exit 2, unreadable input 3', async () => {
    expect(await run(['import', 'x'], captureIo())).toBe(EXIT.USAGE);
    expect(await run(['export', 'shared://a'], captureIo())).toBe(EXIT.USAGE);
    expect(await run(['migrate', 'shared://a', 'shared://z', '--refs', 'some'], captureIo())).toBe(EXIT.USAGE);
    const io = captureIo();
    expect(await run(['import', 'definitely-not-a-session', 'shared://e'], io)).toBe(EXIT.INPUT);
    expect(io.err().trim().split('\n')).toHaveLength(1);
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
    expect(io.err()).toContain('counts verified');
    const copy = await openStorage('shared://m2', { name: 'a' });
    expect(await copy.load()).toEqual(telethon.session);
    expect(await copy.peers.getById('user', 24_999n)).toEqual(peers[24_998]);
    expect(await copy.kv.get('salts:2')).toEqual(new Uint8Array([1, 2, 3]));
    expect(await copy.refMessages.getByPeer(11n)).toEqual({ chatId: -1001183945448n, messageId: 77 });
    expect(await copy.listNames()).toEqual(['a', 'b']);
    await copy.close();
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
