/**
 * writeGramjsStore's folders are GramJS's own: the real StoreSession of `telegram`
 * 2.26.22 loads them (auth key, DC) and a TelegramClient that never connects resolves
 * the peers from them; for the same entities the folder holds the files GramJS writes,
 * byte for byte but the time each row was seen.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Api, extensions, helpers, sessions, TelegramClient } from 'telegram';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { AuthKey } from 'telegram/crypto/AuthKey.js';
import { authKeyBytes, type Peer, type Session } from '@mtstore/core';
import { isConvertError, parseSession, writeGramjsStore } from '../src/index.js';
import { hex, seededKey } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mtstore-write-gramjs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** A new folder path, and the name StoreSession is given for it (it opens `./<name>` from the working directory). */
function fresh(): { path: string; name: string } {
  const path = join(dir, `store-${n++}`);
  return { path, name: relative(process.cwd(), path) };
}

/** A socket that refuses every connection: a lookup that reached the network fails here. */
class OfflineSocket extends extensions.PromisedNetSockets {
  override connect(port: number, ip: string): Promise<unknown> {
    throw new Error(`tests must not connect (attempted ${ip}:${port})`);
  }
}

function offlineClient(session: sessions.StoreSession): TelegramClient {
  return new TelegramClient(session, 12345, '0123456789abcdef0123456789abcdef', { baseLogger: new extensions.Logger(LogLevel.NONE), networkSocket: OfflineSocket, connectionRetries: 0, autoReconnect: false });
}

const key = seededKey(21);
const now = Math.floor(Date.now() / 1000);

const session: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [
    { id: 2, ipv4: '149.154.167.51', port: 443, authKey: authKeyBytes(key) },
    { id: 4, ipv4: '149.154.167.91', port: 443, authKey: authKeyBytes(seededKey(22)) },
  ],
  user: { id: 777000111n, dcId: 2, bot: false },
  state: { pts: 1, qts: 2, date: 3, seq: 4 },
  channels: [{ id: 1183945448n, pts: 555 }],
};

const peers: Peer[] = [
  { type: 'user', id: 777000222n, accessHash: -5764607523034234880n, usernames: ['Alice_Interop', 'alice_alt'], phone: '15550001111', displayName: 'Alice Example', updatedAt: now - 10 },
  { type: 'channel', id: 1183945448n, accessHash: -1234567890123456789n, usernames: ['interopchannel'], displayName: 'Interop Channel', updatedAt: now - 5 },
  { type: 'chat', id: 4242n, accessHash: 0n, usernames: [], displayName: 'Basic Chat', updatedAt: now - 3 },
  { type: 'user', id: 5000000001n, accessHash: 1n, usernames: [], min: true, updatedAt: now },
];

describe('writeGramjsStore', () => {
  it('stops at 4 MiB of node-localstorage\'s 5 MiB quota (past it GramJS\'s every write throws), counting the peers left out; GramJS still stores a new entity', async () => {
    const { path, name } = fresh();
    const long = 'x'.repeat(1000);
    const many: Peer[] = Array.from({ length: 4500 }, (_, i) => ({ type: 'user', id: BigInt(1000 + i), accessHash: BigInt(i), usernames: [], displayName: long, updatedAt: now }));
    const written = await writeGramjsStore({ ...session, dcs: [session.dcs[0]!], user: undefined, state: undefined, channels: [] }, many, path, { name });
    const size = readdirSync(path).reduce((sum, f) => sum + statSync(join(path, f)).size, 0);
    expect(size).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(size).toBeGreaterThan(4 * 1024 * 1024 - 2000);
    expect(written.peers).toBeLessThan(4500);
    expect(written.warnings).toEqual([`${4500 - written.peers} peers not written: the folder holds 4 MiB of GramJS's 5 MiB quota (node-localstorage refuses every write past it), the rest is left for the client`]);
    const store = new sessions.StoreSession(name);
    await store.load();
    store.processEntities([new Api.User({ id: helpers.returnBigInt(99n), accessHash: helpers.returnBigInt(5n), firstName: 'New' })]);
    expect(String((store.getInputEntity(99) as Api.InputPeerUser).accessHash)).toBe('5');
  });

  it('writes a folder GramJS\'s StoreSession loads: its auth key and DC, and a client resolves every peer by id from it', async () => {
    const { path, name } = fresh();
    const written = await writeGramjsStore(session, [peers.slice(0, 2), peers[2]!, peers[3]!], path, { name });
    expect(written).toEqual({
      format: 'gramjs-store',
      path,
      peers: 3,
      warnings: [
        'auth keys of DC 4 not written (GramJS\'s StoreSession keeps the home DC\'s only)',
        'self user not written (GramJS\'s StoreSession keeps none: the client asks for it)',
        'update state not written (GramJS\'s StoreSession keeps none: the client fetches a fresh one)',
        'pts of 1 channel not written (GramJS\'s StoreSession keeps none)',
        '1 peer: usernames after the first not written (GramJS keeps one)',
        '1 peer: min peer not written (its access hash does not work for requests, and GramJS would use it)',
      ],
    });
    expect(statSync(path).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(path)) expect(statSync(join(path, file)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);

    const store = new sessions.StoreSession(name);
    await store.load();
    expect(hex(store.authKey?.getKey())).toBe(hex(key));
    expect(store.dcId).toBe(2);
    expect(store.serverAddress).toBe('149.154.167.51');
    expect(store.port).toBe(443);

    const client = offlineClient(store);
    const alice = await client.getInputEntity(777000222);
    expect(alice).toBeInstanceOf(Api.InputPeerUser);
    expect(String((alice as Api.InputPeerUser).accessHash)).toBe('-5764607523034234880');
    const channel = await client.getInputEntity(-1001183945448);
    expect(channel).toBeInstanceOf(Api.InputPeerChannel);
    expect(String((channel as Api.InputPeerChannel).accessHash)).toBe('-1234567890123456789');
    expect(await client.getInputEntity(-4242)).toBeInstanceOf(Api.InputPeerChat);
    // GramJS's StoreSession looks up ids only: its username and phone lookups scan rows its
    // load() never reads (the same for a folder GramJS wrote, below), so the client falls
    // back to the network, which is not there. The rows still hold them (read back here).
    await expect(client.getInputEntity('alice_interop')).rejects.toThrow(/disconnected/);
    await expect(client.getInputEntity('+15550001111')).rejects.toThrow(/disconnected/);
    await expect(client.getInputEntity(5000000001)).rejects.toThrow(/disconnected/);
    expect(client.connected).toBeFalsy();

    const back = await parseSession(path, { name });
    expect(back.peers).toEqual([
      { ...peers[0]!, usernames: ['alice_interop'] },
      peers[1]!,
      peers[2]!,
    ]);
    expect(back.session).toEqual({ version: 1, homeDcId: 2, dcs: [session.dcs[0]], channels: [] });
  });

  it('holds the files GramJS writes for the same entities (names and content, but the time seen); a folder GramJS wrote, read and written again, is the same folder', async () => {
    const theirs = fresh();
    const gram = new sessions.StoreSession(theirs.name);
    gram.setDC(2, '149.154.167.51', 443);
    const authKey = new AuthKey();
    await authKey.setKey(Buffer.from(key));
    gram.authKey = authKey;
    gram.processEntities([
      new Api.User({ id: helpers.returnBigInt(777000222n), accessHash: helpers.returnBigInt(-5764607523034234880n), username: 'Alice_Interop', phone: '15550001111', firstName: 'Alice', lastName: 'Example' }),
      new Api.Channel({ id: helpers.returnBigInt(1183945448n), accessHash: helpers.returnBigInt(-1234567890123456789n), title: 'Interop Channel', username: 'interopchannel', photo: new Api.ChatPhotoEmpty(), date: 1 }),
      new Api.Chat({ id: helpers.returnBigInt(4242n), title: 'Basic Chat', photo: new Api.ChatPhotoEmpty(), participantsCount: 1, date: 1, version: 1 }),
    ]);
    const parsed = await parseSession(theirs.path, { name: theirs.name });
    const ours = fresh();
    // The same name, so the same file names: GramJS's folder is at another path.
    const written = await writeGramjsStore(parsed.session, parsed.peers, ours.path, { name: theirs.name });
    expect(written.warnings).toEqual([]);
    const contents = (folder: string) =>
      Object.fromEntries(readdirSync(folder).sort().map((f) => [f, readFileSync(join(folder, f), 'utf8').replace(/,"\d+"\]$/, ',"<time>"]')]));
    expect(contents(ours.path)).toEqual(contents(theirs.path));
    // Seen times are kept to the second (mtstore's updatedAt).
    expect(await parseSession(ours.path, { name: theirs.name })).toEqual(parsed);
  });

  it('the default name is the folder\'s own; "session" (which GramJS refuses) and bad options are refused before any I/O', async () => {
    const { path } = fresh();
    await writeGramjsStore(session, [], path);
    expect(readdirSync(path).sort()).toEqual([`${path.split('/').pop()}%3AauthKey`, `${path.split('/').pop()}%3AdcId`, `${path.split('/').pop()}%3Aport`, `${path.split('/').pop()}%3AserverAddress`]);
    const other = fresh();
    await expect(writeGramjsStore(session, [], other.path, { name: 'session' })).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_INVALID' });
    await expect(writeGramjsStore(session, [], other.path, { nmae: 'x' } as never)).rejects.toThrow(/name/);
    await expect(writeGramjsStore({ ...session, dcs: [{ id: 2, ipv4: '149.154.167.51', port: 443 }] }, [], other.path)).rejects.toMatchObject({ code: 'MTSTORE_CONVERT_UNSUPPORTED' });
    expect(() => statSync(other.path)).toThrow();
  });

  it('refuses an existing path, even an empty folder; a source failing part-way leaves no folder and no scratch folder', async () => {
    const existing = fresh();
    await writeGramjsStore(session, [], existing.path);
    const error = await writeGramjsStore(session, peers, existing.path).catch((e: unknown) => e);
    expect(isConvertError(error) && error.code).toBe('MTSTORE_CONVERT_IO');
    expect(readdirSync(existing.path)).toHaveLength(4);
    const empty = fresh();
    mkdirSync(empty.path);
    await expect(writeGramjsStore(session, peers, empty.path)).rejects.toThrow(/already exists/);
    expect(readdirSync(empty.path)).toEqual([]);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    await expect(writeGramjsStore(session, peers, file)).rejects.toThrow(/already exists/);

    const failed = fresh();
    async function* failing(): AsyncGenerator<Peer> {
      yield peers[0]!;
      throw new Error('source lost');
    }
    await expect(writeGramjsStore(session, failing(), failed.path)).rejects.toThrow('source lost');
    expect(() => statSync(failed.path)).toThrow();
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
