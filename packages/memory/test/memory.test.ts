import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  AuthKeyBytes,
  CachedSessionStorage,
  CorruptDataError,
  InvalidArgumentError,
  LocalEventChannel,
  LocalSessionEventBus,
  normalizePeerBatch,
  StorageClosedError,
  type Peer,
  type PeerType,
  usernameHash,
} from '@mtstore/core';
import { fullSession, peer } from '@mtstore/conformance';
import { adapter, MemorySessionStorage, MemoryStorage, MemoryStore } from '../src/index.js';
import { entryKeyId } from '../src/store.js';

describe('memory adapter', () => {
  it('TL bytes whose buffer a later peer of the batch resizes are stored at the length core checked, and the batch is applied whole', async () => {
    // Memory copies each peer's bytes from the caller's array as it applies the batch,
    // after core has read every peer: a getter of a later peer can resize (or detach) an
    // earlier peer's buffer in between. A view of the checked length over a shrunk buffer
    // is out of bounds (the copy threw half-way through the batch); a length-tracking
    // array over a grown one is longer than what was checked.
    const storage = new MemoryStorage({ name: 'resized' });
    // Resizable buffers (Node 20) are past this project's ES2022 lib.
    const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(length: number): void };
    const shrunk = new Resizable(100, { maxByteLength: 400 });
    const grown = new Resizable(100, { maxByteLength: 400 });
    const a = new Uint8Array(shrunk);
    const b = new Uint8Array(grown);
    a.fill(7);
    b.fill(9);
    const later = {
      type: 'user',
      id: 3n,
      accessHash: 0n,
      usernames: ['later'],
      get updatedAt(): number {
        shrunk.resize(10);
        grown.resize(300);
        new Uint8Array(grown).fill(5, 100);
        return 0;
      },
    };
    await storage.peers.upsert([
      { type: 'user', id: 1n, accessHash: 0n, usernames: ['first'], updatedAt: 0, complete: a },
      { type: 'user', id: 2n, accessHash: 0n, usernames: ['second'], updatedAt: 0, complete: b },
      later as Peer,
    ]);
    expect(a.length).toBe(10);
    expect(b.length).toBe(300);
    expect(Array.from((await storage.peers.getById('user', 1n))?.complete ?? [])).toEqual([...Array.from({ length: 10 }, () => 7), ...Array.from({ length: 90 }, () => 0)]);
    expect(Array.from((await storage.peers.getById('user', 2n))?.complete ?? [])).toEqual(Array.from({ length: 100 }, () => 9));
    expect((await storage.peers.getByUsername('later'))?.id).toBe(3n);
    await storage.close();
  });

  it('a peer whose usernames array upserts a batch of its own while it is read keeps its names findable (core hands memory the hashes of its check)', async () => {
    // Core's check leaves each peer's name hashes in module state (peerHashes) for the
    // repository: a caller's Proxy array running a nested upsert (synchronous on memory)
    // between two element reads overwrote the first name's hash with the nested batch's.
    const storage = new MemoryStorage({ name: 'reentrant' });
    const other = new MemoryStorage({ name: 'reentrant-other' });
    let nested: Promise<void> | undefined;
    const usernames = new Proxy(['Alpha', 'beta'], {
      get(target, key, receiver) {
        if (key === '1' && nested === undefined) {
          nested = other.peers.upsert([{ type: 'user', id: 9n, accessHash: 0n, usernames: ['zeta', 'eta'], phone: '123', updatedAt: 0 }]);
        }
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    await storage.peers.upsert([{ type: 'user', id: 1n, accessHash: 0n, usernames, phone: '555', updatedAt: 0 }]);
    await nested;
    expect(nested).toBeDefined();
    expect((await storage.peers.getByUsername('alpha'))?.id).toBe(1n);
    expect((await storage.peers.getByUsername('beta'))?.id).toBe(1n);
    expect((await storage.peers.getByPhone('555'))?.id).toBe(1n);
    expect((await other.peers.getByUsername('zeta'))?.id).toBe(9n);
    expect((await other.peers.getByUsername('eta'))?.id).toBe(9n);
    await storage.close();
    await other.close();
  });

  it('a batch naming a peer twice ends as its normalized batch: a later entry dropping a name leaves it with the peer the earlier entry took it from', async () => {
    // Found by the kit's model-based trait: applied in order, the user's second entry
    // dropped "alpha" after its first took it from the channel, leaving it with nobody.
    const storage = new MemoryStorage({ name: 'repeat' });
    await storage.peers.upsert([
      { type: 'channel', id: 1n, accessHash: 0n, usernames: ['alpha'], updatedAt: 0 },
      { type: 'user', id: 1n, accessHash: 0n, usernames: ['alpha'], updatedAt: 0 },
      { type: 'user', id: 1n, accessHash: 0n, usernames: [], updatedAt: 0 },
    ]);
    expect((await storage.peers.getByUsername('alpha'))?.type).toBe('channel');
    expect((await storage.peers.getById('channel', 1n))?.usernames).toEqual(['alpha']);
    expect((await storage.peers.getById('user', 1n))?.usernames).toEqual([]);
    await storage.close();
  });

  it('usernames of one hash (the index keeps one slot for a record’s names of one hash) move between peers as any others', async () => {
    // Two valid usernames whose index hashes collide (31 bits: found within ~2^16 tries).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 10_000; pair === undefined; i++) {
      const name = `n${i}`;
      const other = seen.get(usernameHash(name));
      if (other !== undefined) pair = [other, name];
      else seen.set(usernameHash(name), name);
    }
    const [a, b] = pair;
    const user = (id: bigint, usernames: string[]): Peer => ({ type: 'user', id, accessHash: 0n, usernames, updatedAt: 0 });
    const storage = new MemoryStorage({ name: 'collisions' });
    // Peer 1 holds both (one slot); peer 2 takes `a`: peer 1 keeps answering for `b`.
    await storage.peers.upsert([user(1n, [a, b])]);
    await storage.peers.upsert([user(2n, [a])]);
    expect((await storage.peers.getByUsername(a))?.id).toBe(2n);
    expect((await storage.peers.getByUsername(b))?.id).toBe(1n);
    expect((await storage.peers.getById('user', 1n))?.usernames).toEqual([b]);
    // Peer 3 holds `b`, peer 4 then `a` (a slot after 3's); 3 takes `a` beside `b`: 4 loses it
    // (3's own slot, first on the probe, answers for `a` too: the owner's is looked for past it).
    const other = new MemoryStorage({ name: 'collisions-2' });
    await other.peers.upsert([user(3n, [b])]);
    await other.peers.upsert([user(4n, [a])]);
    await other.peers.upsert([user(3n, [b, a])]);
    expect((await other.peers.getByUsername(a))?.id).toBe(3n);
    expect((await other.peers.getById('user', 4n))?.usernames).toEqual([]);
    expect((await other.peers.getByUsername(b))?.id).toBe(3n);
    await storage.close();
    await other.close();
  });

  it('rejects options that are not an object or a store that is not a MemoryStore', () => {
    expect(() => new MemoryStorage(null as never)).toThrow(InvalidArgumentError);
    expect(() => new MemorySessionStorage('x' as never)).toThrow(InvalidArgumentError);
    expect(() => new MemoryStorage({ store: {} as never })).toThrow(InvalidArgumentError);
    expect(() => new MemoryStorage({ name: 'bad name' })).toThrow(InvalidArgumentError);
  });

  it('without a store each instance has its own data; with one they share it', async () => {
    const alone = new MemoryStorage({ name: 'a' });
    const store = new MemoryStore();
    const first = new MemoryStorage({ store, name: 'a' });
    const second = new MemoryStorage({ store, name: 'a' });
    await first.save(fullSession(1));
    expect(await alone.load()).toBeNull();
    expect((await second.load())?.user).toEqual(fullSession(1).user);
  });

  it('kv: an instance that read a session keeps no stale entry across delete() and recreation by another instance', async () => {
    // kv.ts keeps a reference to its session's entry: delete() (here by another instance)
    // must send it back to the store, or it would read and write a removed entry.
    const store = new MemoryStore();
    const a = new MemoryStorage({ store, name: 's' });
    const b = new MemoryStorage({ store, name: 's' });
    expect(await b.kv.get('k'), 'no entry yet').toBeNull();
    await a.kv.set('k', new Uint8Array([1]));
    expect(await b.kv.get('k'), 'created by another instance').toEqual(new Uint8Array([1]));
    await a.delete();
    expect(await b.kv.get('k'), 'deleted by another instance').toBeNull();
    await a.kv.set('k', new Uint8Array([2]));
    expect(await b.kv.get('k'), 'recreated by another instance').toEqual(new Uint8Array([2]));
    await b.kv.set('j', new Uint8Array([3]));
    expect(await a.kv.get('j'), 'written into the live entry').toEqual(new Uint8Array([3]));
    await b.delete();
    await b.kv.set('k', new Uint8Array([4]));
    expect(await a.kv.get('k'), 'recreated by a write after its own delete()').toEqual(new Uint8Array([4]));
    expect(await a.kv.entries()).toEqual([{ key: 'k', value: new Uint8Array([4]) }]);
  });

  it('a loaded session’s state and channels are copies with the model’s fields only: changing them changes nothing stored', async () => {
    // readSession copies them field by field (one hidden class for every load), not by spread.
    const storage = new MemoryStorage({ name: 'copies' });
    await storage.save(fullSession(2));
    const loaded = await storage.load();
    expect(Object.keys(loaded?.state ?? {})).toEqual(['pts', 'qts', 'date', 'seq']);
    expect(loaded?.channels.map((c) => Object.keys(c))).toEqual([['id', 'pts'], ['id', 'pts'], ['id', 'pts']]);
    (loaded?.state as { pts: number }).pts = 1;
    (loaded?.channels[0] as { pts: number }).pts = 1;
    const again = await storage.load();
    expect(again?.state).toEqual(fullSession(2).state);
    expect(again?.channels).toEqual(fullSession(2).channels);
    await storage.close();
  });

  it('inspects as its name and state, never the store', async () => {
    const storage = new MemoryStorage({ name: 'bot' });
    await storage.save(fullSession(1));
    expect(inspect(storage)).toBe('MemoryStorage { name: "bot", closed: false }');
  });

  it('the MemoryStore and its entries inspect and serialize as counts: no key bytes, no kv values, at any depth', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ store, name: 'bot' });
    const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
    await storage.save(fullSession(1));
    await storage.authKeys.set(4, key);
    await storage.authKeys.setTemp(4, { index: 0, key, expiresAt: 2_000_000_000 });
    await storage.kv.set('secret', key.subarray(0, 64));
    await storage.peers.upsert([peer('user', 5)]);
    const decimals = Array.from(key.subarray(0, 6)).join(', ');
    const hex = Buffer.from(key.subarray(0, 8)).toString('hex');
    for (const text of [
      inspect(store, { depth: 10 }),
      inspect({ nested: { store } }, { depth: null }),
      inspect(store.clients.get('bot'), { depth: null }),
      inspect(store.clients, { depth: null }),
      JSON.stringify({ store }),
      JSON.stringify(store.clients.get('bot')),
    ]) {
      expect(text).not.toContain(decimals);
      expect(text).not.toContain(hex);
    }
    expect(inspect(store)).toBe('MemoryStore { clients: 1, serverSessions: 0, leases: 0 }');
    expect(inspect(store.clients.get('bot'))).toBe('ClientEntry { snapshot: true, keyEntries: 3, kv: 1, peers: 1, refMessages: 0 }');
    await storage.close();
  });

  it('authKeys.entries: a truncated stored key is CorruptDataError naming the session and entry, never the bytes; good keys come back as AuthKeyBytes', async () => {
    const store = new MemoryStore();
    const storage = new MemoryStorage({ store, name: 'bot' });
    const key = Uint8Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff);
    await storage.authKeys.set(2, key);
    const [entry] = await storage.authKeys.entries();
    expect(entry?.authKey).toBeInstanceOf(AuthKeyBytes);
    store.clients.get('bot')?.keys.set(entryKeyId(4, true), { key: key.subarray(0, 200), temps: new Map() });
    const error = await storage.authKeys.entries().catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(CorruptDataError);
    expect((error as Error).message).toBe('session "bot": stored auth key (media-only entry) for DC 4 is 200 bytes, expected 256 bytes');
  });

  it('refMessages.list: the cursor is the store sequence, so a page survives deletes before it', async () => {
    const storage = new MemoryStorage();
    for (let m = 1; m <= 5; m++) await storage.refMessages.store(1n, -100n, m);
    const first = await storage.refMessages.list({ limit: 2 });
    await storage.refMessages.delete(-100n, [1, 2, 3]);
    expect(await storage.refMessages.list({ cursor: first.cursor })).toEqual({ refs: [{ peerId: 1n, chatId: -100n, messageId: 4 }, { peerId: 1n, chatId: -100n, messageId: 5 }], cursor: null });
    await expect(storage.refMessages.list({ cursor: 'x' })).rejects.toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
  });
  it('peers.upsert applies the caller’s batch in order with the same outcome as its normalized batch, and keeps none of it', async () => {
    // Memory skips core's normalizePeerBatch (peersUpsertInOrder): batches with repeated
    // ids, min entries and usernames / phones claimed twice must still end as normalized.
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const types: PeerType[] = ['user', 'channel'];
    const names = ['a', 'B', 'c', 'D', 'e'];
    const randomPeer = (): Peer => {
      const usernames: string[] = [];
      for (const name of names) if (next(4) === 0) usernames.push(next(2) === 0 ? name : name.toUpperCase());
      const peer: Peer = { type: types[next(2)] as PeerType, id: BigInt(next(4) + 1), accessHash: BigInt(next(1000)), usernames, updatedAt: 1_700_000_000 + next(100) };
      if (next(2) === 0) peer.phone = String(100 + next(4));
      if (next(3) === 0) peer.min = next(2) === 0;
      if (next(2) === 0) peer.complete = Uint8Array.from({ length: next(3) * 40 }, () => next(256));
      return peer;
    };
    const dump = async (s: MemoryStorage) => {
      const { peers } = await s.peers.list();
      const byKey = peers.map((p) => [`${p.type}:${p.id}`, p] as const).sort(([a], [b]) => (a < b ? -1 : 1));
      const lookups: unknown[] = [];
      for (const name of names) lookups.push((await s.peers.getByUsername(name))?.id);
      for (let phone = 100; phone < 104; phone++) lookups.push((await s.peers.getByPhone(String(phone)))?.id);
      return { byKey, lookups };
    };
    const inOrder = new MemoryStorage({ name: 'a' });
    const normalized = new MemoryStorage({ name: 'b' });
    for (let round = 0; round < 200; round++) {
      const batch = Array.from({ length: 1 + next(6) }, randomPeer);
      await inOrder.peers.upsert(batch);
      await normalized.peers.upsert(normalizePeerBatch(batch));
      const expected = await dump(normalized);
      // Nothing of the caller's batch is kept: changing it changes no stored peer.
      for (const peer of batch) {
        peer.usernames.reverse().push('zz');
        peer.complete?.fill(0);
      }
      expect(await dump(inOrder), `round ${round}`).toEqual(expected);
    }
  });

  it('a peer read back is a plain object of the caller’s: changing it, its usernames or its bytes changes nothing stored', async () => {
    const storage = new MemoryStorage({ name: 'copies' });
    const full = (): Peer => ({
      type: 'user',
      id: 1n,
      accessHash: 5n,
      usernames: ['Alpha'],
      updatedAt: 10,
      phone: '15550000001',
      min: false,
      displayName: 'A',
      complete: Uint8Array.of(1, 2, 3),
    });
    const many = (): Peer => ({ type: 'channel', id: 2n, accessHash: 6n, usernames: ['b1', 'B2'], updatedAt: 20, complete: new Uint8Array(100).fill(7) });
    const bare = (): Peer => ({ type: 'chat', id: 3n, accessHash: 7n, usernames: [], updatedAt: 30 });
    await storage.peers.upsert([full(), many(), bare()]);
    const reads = async (): Promise<Peer[]> => [
      (await storage.peers.getById('user', 1n)) as Peer,
      (await storage.peers.getByUsername('ALPHA')) as Peer,
      (await storage.peers.getByPhone('15550000001')) as Peer,
      (await storage.peers.getById('channel', 2n)) as Peer,
      (await storage.peers.getByUsername('b2')) as Peer,
      (await storage.peers.getById('chat', 3n)) as Peer,
      ...(await storage.peers.list()).peers,
    ];
    // list() goes by type: users, chats, channels.
    const expected = [full(), full(), full(), many(), many(), bare(), full(), bare(), many()];
    const first = await reads();
    // toStrictEqual: same prototype and constructor as a literal, absent fields absent.
    expect(first).toStrictEqual(expected);
    for (const peer of first) expect(Object.getPrototypeOf(peer)).toBe(Object.prototype);
    for (const peer of first) {
      peer.usernames.push('zz');
      if (peer.usernames.length > 1) peer.usernames[0] = 'changed';
      peer.complete?.fill(0);
      peer.accessHash = 0n;
      peer.min = true;
      delete peer.phone;
    }
    expect(await reads()).toStrictEqual(expected);
    await storage.close();
  });

  it('lookups by username and phone give back the exact id of a peer kept under a number key (safe integers, at every boundary of the int32 halves)', async () => {
    // The store keys a safe-integer id as a number and makes the bigint again on the way
    // out (core peerIdFromKey, from int32 halves): each sign, each half's boundary, both ends.
    const ids = [0n, 1n, -1n, 2n ** 31n - 1n, 2n ** 31n, -(2n ** 31n), -(2n ** 31n) - 1n, 2n ** 32n - 1n, 2n ** 32n, -(2n ** 32n), -(2n ** 32n) + 1n, 2n ** 52n + 3n, 2n ** 53n - 1n, -(2n ** 53n) + 1n, -123_456_789_012_345n];
    const storage = new MemoryStorage({ name: 'ids' });
    await storage.peers.upsert(ids.map((id, i) => ({ type: 'channel', id, accessHash: 1n, usernames: [`Id_${i}`], phone: String(100 + i), updatedAt: 0 })));
    for (const [i, id] of ids.entries()) {
      expect((await storage.peers.getByUsername(`id_${i}`))?.id).toBe(id);
      expect((await storage.peers.getByPhone(String(100 + i)))?.id).toBe(id);
    }
    await storage.close();
  });

  it('a peer with several usernames that loses all but one to others, or gains some, reads back with its list as it is', async () => {
    const storage = new MemoryStorage({ name: 'forms' });
    await storage.peers.upsert([{ type: 'user', id: 1n, accessHash: 1n, usernames: ['a1', 'A2', 'a3'], updatedAt: 1, min: true }]);
    await storage.peers.upsert([{ type: 'user', id: 2n, accessHash: 2n, usernames: ['a2', 'a3'], updatedAt: 1 }]);
    expect(await storage.peers.getById('user', 1n)).toStrictEqual({ type: 'user', id: 1n, accessHash: 1n, usernames: ['a1'], updatedAt: 1, min: true });
    await storage.peers.upsert([{ type: 'user', id: 2n, accessHash: 2n, usernames: ['a3'], updatedAt: 1 }]);
    expect((await storage.peers.getById('user', 2n))?.usernames).toEqual(['a3']);
    await storage.peers.upsert([{ type: 'user', id: 1n, accessHash: 1n, usernames: ['a1', 'a4'], updatedAt: 2, min: false }]);
    expect(await storage.peers.getById('user', 1n)).toStrictEqual({ type: 'user', id: 1n, accessHash: 1n, usernames: ['a1', 'a4'], updatedAt: 2, min: false });
    // A min peer over a full one keeps the stored hash and min flag, and takes its usernames.
    await storage.peers.upsert([{ type: 'user', id: 1n, accessHash: 9n, usernames: ['a5'], updatedAt: 3, min: true }]);
    expect(await storage.peers.getById('user', 1n)).toStrictEqual({ type: 'user', id: 1n, accessHash: 1n, usernames: ['a5'], updatedAt: 3, min: false });
    expect(await storage.peers.getByUsername('a1')).toBeNull();
    expect((await storage.peers.getByUsername('A5'))?.usernames).toEqual(['a5']);
    await storage.close();
  });

  it('TL bytes replaced again and again are compacted, and every peer keeps reading back its own', async () => {
    const storage = new MemoryStorage({ name: 'bytes' });
    const peer = (id: number, fill: number, extra: Partial<Peer> = {}): Peer => ({
      type: 'user',
      id: BigInt(id),
      accessHash: BigInt(id),
      usernames: [],
      updatedAt: 1,
      complete: new Uint8Array(30_000 + id).fill(fill),
      ...extra,
    });
    // Not toStrictEqual: vitest compares 30 KB typed arrays element by element, for seconds.
    const filled = (bytes: Uint8Array | undefined, length: number, fill: number): boolean =>
      bytes instanceof Uint8Array && bytes.length === length && bytes.every((b) => b === fill);
    for (let round = 0; round < 12; round++) {
      await storage.peers.upsert([
        peer(1, round),
        peer(2, 100 + round),
        // Unchanged bytes keep their entry; a min peer over a full one keeps the stored bytes.
        peer(3, 7),
        peer(4, round % 2 === 0 ? 200 : 201, round % 2 === 0 ? {} : { min: true }),
        // Bytes dropped, then given again.
        round % 3 === 0 ? peer(5, round) : { ...peer(5, 0), complete: undefined },
      ]);
      expect(filled((await storage.peers.getById('user', 1n))?.complete, 30_001, round), 'peer 1').toBe(true);
      expect(filled((await storage.peers.getById('user', 2n))?.complete, 30_002, 100 + round), 'peer 2').toBe(true);
      expect(filled((await storage.peers.getById('user', 3n))?.complete, 30_003, 7), 'peer 3').toBe(true);
      expect(filled((await storage.peers.getById('user', 4n))?.complete, 30_004, 200), 'peer 4').toBe(true);
      const five = await storage.peers.getById('user', 5n);
      if (round % 3 === 0) expect(filled(five?.complete, 30_005, round), 'peer 5').toBe(true);
      else expect(five !== null && 'complete' in five).toBe(false);
    }
    // Twelve rounds append ~1 MB; what is kept is at most the live entries twice over.
    const bytes = storage.store.clients.get('bytes')?.peers.bytes;
    expect(bytes?.used).toBeLessThanOrEqual(2 * 5 * 30_008);
    await storage.peers.clear();
    expect(bytes?.used).toBe(0);
    expect(await storage.peers.getById('user', 1n)).toBeNull();
    await storage.close();
  });

  it('server sessions of many auth keys in one table: expireSessions takes every expired one once while removals move the others', async () => {
    let now = 1_700_000_000_000;
    const clock = () => now;
    const store = new MemoryStore();
    const short = new MemorySessionStorage({ store, clock, ttlSeconds: 60 });
    const forever = new MemorySessionStorage({ store, clock });
    const expired = new Set<string>();
    const live = new Map<bigint, bigint[]>();
    for (let i = 0; i < 3_000; i++) {
      const authKeyId = BigInt(i % 50) << 40n;
      const sessionId = BigInt(i) * -7_919n;
      if (i % 3 === 0) {
        expect(await forever.createSession(authKeyId, sessionId)).toBe(true);
        live.set(authKeyId, [...(live.get(authKeyId) ?? []), sessionId]);
      } else {
        expect(await short.createSession(authKeyId, sessionId)).toBe(true);
        expired.add(`${authKeyId}:${sessionId}`);
      }
    }
    now += 60_000;
    const first = await short.expireSessions(7);
    expect(first).toHaveLength(7);
    // One call with room for all takes every other expired session: none skipped as places moved.
    const rest = await short.expireSessions(10_000);
    const taken = [...first, ...rest].map(({ authKeyId, sessionId }) => `${authKeyId}:${sessionId}`);
    expect(taken.length).toBe(expired.size);
    expect(new Set(taken)).toEqual(expired);
    expect(await short.expireSessions(10)).toEqual([]);
    for (const [authKeyId, ids] of live) {
      expect(await short.listSessions(authKeyId)).toEqual(ids);
      expect(await short.sessionInfo(authKeyId, ids[0] as bigint)).toEqual({ lastUsedAt: now - 60_000, expiresAt: null });
    }
    expect(await forever.destroyAllSessions(0n)).toEqual(live.get(0n));
    expect(await forever.listSessions(0n)).toEqual([]);
    expect(await forever.listSessions(1n << 40n)).toEqual(live.get(1n << 40n));
    // A key whose sessions are the last places: each removal moves another of them.
    for (let i = 1n; i <= 5n; i++) await forever.createSession(9n, i);
    expect(await forever.destroyAllSessions(9n)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(await forever.listSessions(9n)).toEqual([]);
    for (const [authKeyId, ids] of live) if (authKeyId !== 0n) expect(await forever.listSessions(authKeyId)).toEqual(ids);
    await short.close();
    await forever.close();
  });

  it('a sweep in batches looks at each session about once: 20,000 expired among 20,000 live in batches of 100', async () => {
    let now = 1_700_000_000_000;
    const clock = () => now;
    const store = new MemoryStore();
    const short = new MemorySessionStorage({ store, clock, ttlSeconds: 60 });
    const long = new MemorySessionStorage({ store, clock, ttlSeconds: 3_600 });
    // Expired ones first (the low places), live ones after: each batch used to start at
    // the last place and look at every live session again (200 batches x 20,000).
    for (let i = 0; i < 20_000; i++) await short.createSession(BigInt(i), 1n);
    for (let i = 0; i < 20_000; i++) await long.createSession(BigInt(i), 2n);
    now += 60_000;
    const table = store.server;
    const expiresAt = table.expiresAt.bind(table);
    let looked = 0;
    table.expiresAt = (place: number) => {
      looked++;
      return expiresAt(place);
    };
    const taken = new Set<bigint>();
    for (;;) {
      const batch = await short.expireSessions(100);
      for (const s of batch) {
        expect(s.sessionId).toBe(1n);
        taken.add(s.authKeyId);
      }
      if (batch.length < 100) break;
    }
    expect(taken.size).toBe(20_000);
    expect(looked).toBeLessThanOrEqual(3 * 40_000);
    // Sessions created, touched or expired after the sweep went by are found by the next round.
    await short.createSession(-1n, 1n);
    now += 3_600_000;
    let rest = 0;
    for (let batch = await long.expireSessions(10_000); batch.length > 0; batch = await long.expireSessions(10_000)) rest += batch.length;
    expect(rest).toBe(20_001);
    expect(store.server.size).toBe(0);
    await short.close();
    await long.close();
  });

  it('CachedSessionStorage over memory: misses answered at once (sessionExistsNow), the cache rules kept', async () => {
    let now = 1_700_000_000_000;
    const clock = () => now;
    const store = new MemoryStore();
    const storage = new MemorySessionStorage({ store, clock, ttlSeconds: 60 });
    const elsewhere = new MemorySessionStorage({ store, clock, ttlSeconds: 60 });
    const channel = new LocalEventChannel();
    const cache = new CachedSessionStorage(storage, { bus: new LocalSessionEventBus(channel), clock });
    await cache.ready();
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    expect(cache.stats().entries).toBe(0);
    await elsewhere.createSession(1n, 1n);
    expect(await cache.hasSession(1n, 1n), 'a no is never cached').toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 0, misses: 2 });
    expect(await cache.hasSession(1n, 1n)).toBe(true);
    expect(cache.stats().hits).toBe(1);
    // Cached with the session's expiry: once it passes, the entry answers no more.
    now += 60_000;
    expect(await cache.hasSession(1n, 1n)).toBe(false);
    await elsewhere.createSession(1n, 2n);
    const answer = cache.hasSession(1n, 2n);
    expect(cache.stats().entries, 'read and cached in one synchronous step').toBe(2);
    expect(await answer).toBe(true);
    // Destroyed on another node: its event evicts at once.
    await elsewhere.destroySession(1n, 2n);
    await new LocalSessionEventBus(channel).publish({ type: 'destroyed', authKeyId: 1n, sessionId: 2n, origin: 'node-b', reason: 'explicit' });
    expect(await cache.hasSession(1n, 2n)).toBe(false);
    // A lost subscription: nothing is cached until live again; answers still come from storage.
    await elsewhere.createSession(1n, 3n);
    const down = channel.interrupt(30);
    expect(await cache.hasSession(1n, 3n)).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 0, live: false });
    await down;
    expect(await cache.hasSession(1n, 3n)).toBe(true);
    expect(cache.stats().entries).toBe(1);
    await expect(cache.hasSession(1 as unknown as bigint, 1n)).rejects.toBeInstanceOf(InvalidArgumentError);
    await storage.close();
    await expect(cache.hasSession(1n, 4n)).rejects.toBeInstanceOf(StorageClosedError);
    await cache.close();
  });
});

describe('memory: URLs', () => {
  it('a parameter name or create value that may be a pasted key (hex, base64, long) is never quoted', () => {
    const hex = 'ad972859d0ca7c9d885e41c8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3';
    for (const query of [hex, `${hex}=1`, 'q5cjWdDKfJ2IXkHI8KGyw9Tl9gcYKTpLXG1-j5Chssw_', `create=${hex}`, `session=a&${hex.slice(0, 16)}=1`]) {
      for (const open of [() => adapter.openStorage(new URL(`memory:?${query}`), { name: 'default' }), () => adapter.openSessionStorage(new URL(`memory:?${query}`))]) {
        let error: (Error & { code?: string }) | undefined;
        try {
          void open();
        } catch (e) {
          error = e as Error & { code?: string };
        }
        expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message, query).toMatch(/not shown/);
        expect(error?.message, query).not.toMatch(/ad972859d0ca7c9d|q5cjWdDKfJ2IXkHI/);
      }
    }
  });
});
