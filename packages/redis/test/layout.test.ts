/**
 * The documented key layout, read back with plain commands the way redis-cli would;
 * the layout version; what hand-edited data turns into.
 */
import { authKey, checkServer, fullSession, minimalSession, peer } from '@mtstore/conformance/vitest';
import { fromMarkedId, SessionSubject, type Session } from '@mtstore/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, dropPrefix, keysUnder, probe, randomName, REDIS_URL } from './helpers.js';

const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

describe.runIf(server.available)('key layout', () => {
  const redis = admin();
  const prefixes: string[] = [];
  const opened: { close(): Promise<void> }[] = [];
  const newPrefix = () => {
    const prefix = `${randomName('layout')}:`;
    prefixes.push(prefix);
    return prefix;
  };
  const storage = (prefix: string, name = 'main') => {
    const s = new RedisStorage({ url: REDIS_URL, prefix, name });
    opened.push(s);
    return s;
  };
  const sessions = (prefix: string) => {
    const s = new RedisSessionStorage({ url: REDIS_URL, prefix });
    opened.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all(prefixes.splice(0).map((p) => dropPrefix(redis, p)));
  });
  afterAll(() => redis.quit());

  /** Everything a session can hold: snapshot, keys (one address-less), kv, peers with TL bytes, references. */
  async function everything(client: RedisStorage): Promise<void> {
    await client.save(fullSession(1));
    await client.authKeys.set(9, authKey(90));
    await client.kv.set('salts', new Uint8Array([1, 2, 3]));
    await client.peers.upsert([peer('user', 1, { displayName: 'One | "x"', complete: new Uint8Array([0, 255, 124]) })]);
    await client.refMessages.store(1n, -1001n, 5);
  }

  it('holds exactly the documented keys', async () => {
    const prefix = newPrefix();
    await everything(storage(prefix, 'bot'));
    await sessions(prefix).createSession(-5n, 7n);
    // Receipts of server calls come and go (see the test below).
    expect((await keysUnder(redis, prefix)).filter((key) => !key.includes(':call:')).sort()).toEqual(
      [
        'schema',
        'client:{bot}',
        'client:{bot}:keys',
        'client:{bot}:kv',
        'client:{bot}:peers',
        'client:{bot}:peers:complete',
        'client:{bot}:peers:order',
        'client:{bot}:usernames',
        'client:{bot}:phones',
        'client:{bot}:refs:seq',
        'client:{bot}:refs:index',
        'client:{bot}:refs:order',
        'client:{bot}:refs:1',
        'auth:{-5}:sessions',
        'auth:{-5}:session:7',
      ]
        .map((key) => prefix + key)
        .sort(),
    );
    expect(await redis.get(`${prefix}schema`)).toBe('3');
    for (const [key, type] of [
      ['', 'hash'],
      [':keys', 'hash'],
      [':kv', 'hash'],
      [':peers:complete', 'hash'],
      [':peers:order', 'zset'],
      [':refs:seq', 'string'],
      [':refs:index', 'zset'],
      [':refs:order', 'zset'],
      [':refs:1', 'zset'],
    ]) {
      expect(await redis.type(`${prefix}client:{bot}${key}`), key).toBe(type);
    }
    expect(await redis.smembers(`${prefix}auth:{-5}:sessions`)).toEqual(['7']);
    // No ttlSeconds: last used now, no expiry, no native expiry, not in the expiry index.
    expect(await redis.get(`${prefix}auth:{-5}:session:7`)).toMatch(/^\d{13}\|$/);
    expect(await redis.pttl(`${prefix}auth:{-5}:session:7`)).toBe(-1);
  });

  it('a server session with a lifetime: its times, a native expiry an hour after its own, an entry in the expiry index', async () => {
    const prefix = newPrefix();
    let now = 1_900_000_000_000; // the mtstore clock, not the server's
    const server = new RedisSessionStorage({ url: REDIS_URL, prefix, ttlSeconds: 60, clock: () => now });
    opened.push(server);
    await server.createSession(-5n, 7n);
    const key = `${prefix}auth:{-5}:session:7`;
    const set = `${prefix}auth:{-5}:sessions`;
    // The native expiry is relative (PX): the lifetime left on the mtstore clock and an
    // hour, counted by Redis from now, whatever Redis's clock says of the mtstore one.
    const nativeTtl = async (k: string): Promise<number> => Math.round((await redis.pttl(k)) / 1000);
    expect(await redis.get(key)).toBe(`${now}|${now + 60_000}`);
    expect(await nativeTtl(key)).toBe(3_660);
    expect(await nativeTtl(set)).toBe(3_660);
    expect(await redis.zrange(`${prefix}expiries`, 0, -1, 'WITHSCORES')).toEqual(['-5:7', String(now + 60_000)]);
    // A touch moves the session and its native expiry, and the set's; the index entry waits for the sweep.
    now += 10_000;
    await redis.pexpire(key, 5_000);
    await redis.pexpire(set, 5_000);
    expect(await server.touchSession(-5n, 7n)).toBe(true);
    expect(await redis.get(key)).toBe(`${now}|${now + 60_000}`);
    expect(await nativeTtl(key)).toBe(3_660);
    expect(await nativeTtl(set)).toBe(3_660);
    expect(await redis.zscore(`${prefix}expiries`, '-5:7')).toBe(String(now - 10_000 + 60_000));
    // A sweep after the first expiry finds it live and moves its entry; after the second it removes it.
    now += 50_000;
    expect(await server.expireSessions()).toEqual([]);
    expect(await redis.zscore(`${prefix}expiries`, '-5:7')).toBe(String(now + 10_000));
    now += 10_000;
    expect(await server.expireSessions()).toEqual([{ authKeyId: -5n, sessionId: 7n }]);
    expect(await redis.exists(key, `${prefix}auth:{-5}:sessions`, `${prefix}expiries`)).toBe(0);
    // Without ttlSeconds a session makes its auth key's set persistent.
    await server.createSession(-5n, 1n);
    const forever = new RedisSessionStorage({ url: REDIS_URL, prefix });
    opened.push(forever);
    await forever.createSession(-5n, 2n);
    expect(await redis.pttl(`${prefix}auth:{-5}:sessions`)).toBe(-1);
    expect(await redis.pttl(`${prefix}auth:{-5}:session:2`)).toBe(-1);
  });

  it('a process clock behind Redis’s (2 h, or 1970) never has Redis remove a live session: the native expiry is the lifetime left, not a time', async () => {
    for (const skew of [-2 * 3_600_000, -Date.now() + 1_000]) {
      const prefix = newPrefix();
      let now = Date.now() + skew;
      const server = new RedisSessionStorage({ url: REDIS_URL, prefix, ttlSeconds: 3_600, clock: () => now });
      opened.push(server);
      const subject = new SessionSubject(server);
      opened.push(subject);
      const events: string[] = [];
      subject.subscribe({ update: (e) => void events.push(e.type) });
      expect(await subject.createSession(-5n, 7n)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await server.hasSession(-5n, 7n), String(skew)).toBe(true);
      expect(await server.sessionInfo(-5n, 7n)).toEqual({ lastUsedAt: now, expiresAt: now + 3_600_000 });
      expect(await server.listSessions(-5n)).toEqual([7n]);
      expect(await subject.createSession(-5n, 7n)).toBe(false);
      expect(events).toEqual(['created']);
      expect(Math.round((await redis.pttl(`${prefix}auth:{-5}:session:7`)) / 1000)).toBe(7_200);
      expect(Math.round((await redis.pttl(`${prefix}auth:{-5}:sessions`)) / 1000)).toBe(7_200);
      now += 1_800_000;
      expect(await server.touchSession(-5n, 7n)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await server.hasSession(-5n, 7n)).toBe(true);
      expect(Math.round((await redis.pttl(`${prefix}auth:{-5}:session:7`)) / 1000)).toBe(7_200);
    }
  });

  it('stores the snapshot as a readable hash without key bytes: decimal ids, JSON DC addresses, ordered channels', async () => {
    const prefix = newPrefix();
    const session: Session = {
      version: 1,
      homeDcId: 2,
      dcs: [
        { id: 2, ipv4: '149.154.167.51', port: 443, testMode: false, authKey: authKey(1) },
        { id: 2, port: 443, mediaOnly: true, tempAuthKeys: [{ index: 3, key: authKey(2), expiresAt: 1_900_000_000 }] },
        { id: 4, host: 'vesta.web.telegram.org', port: 443 },
        { id: 5 },
      ],
      apiId: 12345,
      user: { id: -(2n ** 63n), dcId: 2, bot: false, usernames: ['Alice', 'alice_2'], premium: false },
      state: { pts: 1, qts: 2, date: 3, seq: 4 },
      channels: [
        { id: 2n ** 63n - 1n, pts: 10 },
        { id: 5n, pts: 11 },
      ],
      takeoutId: 2n ** 53n + 1n,
    };
    await storage(prefix).save(session);
    const key = `${prefix}client:{main}`;
    const text = await redis.hgetall(key);
    expect(text).toEqual({
      version: '1',
      homeDcId: '2',
      apiId: '12345',
      takeoutId: '9007199254740993',
      'user.id': '-9223372036854775808',
      'user.dcId': '2',
      'user.bot': '0',
      'user.usernames': 'Alice,alice_2',
      'user.premium': '0',
      'state.pts': '1',
      'state.qts': '2',
      'state.date': '3',
      'state.seq': '4',
      dcs: expect.any(String),
      channels: '9223372036854775807,5',
      'channel.9223372036854775807': '10',
      'channel.5': '11',
    });
    expect(JSON.parse(text.dcs as string)).toEqual([
      { id: 2, ipv4: '149.154.167.51', port: 443, testMode: false },
      { id: 2, port: 443, mediaOnly: true },
      { id: 4, host: 'vesta.web.telegram.org', port: 443 },
      { id: 5 },
    ]);
    // The keys, by DC id and entry, in their own hash.
    const keys = await redis.hgetallBuffer(`${key}:keys`);
    expect(Object.keys(keys).sort()).toEqual(['dc2.key', 'dc2.media.temp.3', 'dc2.media.temp.3.expiresAt']);
    expect(keys['dc2.key']?.equals(Buffer.from(authKey(1)))).toBe(true);
    expect(keys['dc2.media.temp.3']?.equals(Buffer.from(authKey(2)))).toBe(true);
    expect(keys['dc2.media.temp.3.expiresAt']?.toString()).toBe('1900000000');
  });

  it('an empty username list, absent usernames and absent premium are three different hashes', async () => {
    const prefix = newPrefix();
    const client = storage(prefix);
    const key = `${prefix}client:{main}`;
    await client.save({ ...minimalSession(), user: { id: 1n, dcId: 2, bot: true, usernames: [], premium: true } });
    expect(await redis.hmget(key, 'user.usernames', 'user.premium', 'user.bot')).toEqual(['', '1', '1']);
    await client.update({ user: { id: 1n, dcId: 2, bot: true } });
    expect(await redis.hmget(key, 'user.usernames', 'user.premium')).toEqual([null, null]);
    expect((await client.load())?.user).toEqual({ id: 1n, dcId: 2, bot: true });
  });

  it('authKeys and kv writes are one HSET / HDEL of one field; deleteByDc removes both entries of that DC only', async () => {
    const prefix = newPrefix();
    const client = storage(prefix);
    const key = `${prefix}client:{main}:keys`;
    await client.authKeys.set(12, authKey(3));
    await client.authKeys.setTemp(12, { index: 0, key: authKey(4), expiresAt: 1_900_000_001 });
    await client.authKeys.set(1, authKey(5));
    await redis.hset(key, 'dc12.media.key', Buffer.from(authKey(6)));
    expect((await redis.hkeys(key)).sort()).toEqual(['dc1.key', 'dc12.key', 'dc12.media.key', 'dc12.temp.0', 'dc12.temp.0.expiresAt']);
    // A keys-only name has no snapshot.
    expect(await client.load()).toBeNull();
    await client.authKeys.deleteByDc(12);
    expect(await redis.hkeys(key)).toEqual(['dc1.key']);
    await client.kv.set('a:b', new Uint8Array([9]));
    expect(await redis.hgetallBuffer(`${prefix}client:{main}:kv`)).toEqual({ 'a:b': Buffer.from([9]) });
    await client.kv.delete('a:b');
    expect(await redis.exists(`${prefix}client:{main}:kv`)).toBe(0);
  });

  it('peers: TL bytes in their own hash, every key in the order set; references by peer and by message', async () => {
    const prefix = newPrefix();
    const client = storage(prefix);
    await everything(client);
    const base = `${prefix}client:{main}`;
    expect(await redis.hget(`${base}:peers`, 'user:1')).toBe(`${peer('user', 1).accessHash}|${peer('user', 1).updatedAt}||10000000001|user_1|One | "x"`);
    expect(await redis.hgetBuffer(`${base}:peers:complete`, 'user:1')).toEqual(Buffer.from([0, 255, 124]));
    expect(await redis.zrange(`${base}:peers:order`, 0, -1, 'WITHSCORES')).toEqual(['user:1', '0']);
    await client.refMessages.store(1n, -1001n, 6);
    await client.refMessages.store(2n, -1001n, 6);
    expect(await redis.zrange(`${base}:refs:1`, 0, -1, 'WITHSCORES')).toEqual(['-1001:5', '1', '-1001:6', '2']);
    expect(await redis.zrange(`${base}:refs:index`, 0, -1)).toEqual(['-1001:5:1', '-1001:6:1', '-1001:6:2']);
    await client.refMessages.delete(-1001n, [6]);
    expect(await redis.zrange(`${base}:refs:index`, 0, -1)).toEqual(['-1001:5:1']);
    expect(await redis.exists(`${base}:refs:2`)).toBe(0);
    await client.refMessages.deleteByPeer(1n);
    // The sequence stays with the last reference gone (it never goes back: a cursor kept
    // across lists what is stored after it); it keeps the name listed until delete().
    expect((await keysUnder(redis, `${base}:refs`)).sort()).toEqual([`${base}:refs:seq`]);
    expect(await redis.get(`${base}:refs:seq`)).toBe('3');
    await client.refMessages.store(3n, -1001n, 7);
    await client.refMessages.clear();
    expect((await keysUnder(redis, `${base}:refs`)).sort()).toEqual([`${base}:refs:seq`]);
    expect(await redis.get(`${base}:refs:seq`)).toBe('4');
    await client.delete();
    expect((await keysUnder(redis, `${base}:refs`)).sort()).toEqual([]);
  });

  it('listNames finds every name with any key, on the single server, and not those of another prefix', async () => {
    const prefix = newPrefix();
    await storage(prefix, 'b.snapshot').save(minimalSession());
    await storage(prefix, 'a:keys').authKeys.set(2, authKey(1));
    await storage(prefix, 'c@kv').kv.set('k', new Uint8Array(1));
    await storage(prefix, 'd=refs').refMessages.store(1n, 2n, 3);
    await storage(newPrefix(), 'other').kv.set('k', new Uint8Array(1));
    expect(await storage(prefix).listNames()).toEqual(['a:keys', 'b.snapshot', 'c@kv', 'd=refs']);
    await storage(prefix, 'c@kv').kv.clear();
    expect(await storage(prefix).listNames()).toEqual(['a:keys', 'b.snapshot', 'd=refs']);
  });

  it('saveUpdateState changes the state and listed channel fields only, appending new channels to the order', async () => {
    const prefix = newPrefix();
    const client = storage(prefix);
    await client.save(fullSession(3));
    const key = `${prefix}client:{main}`;
    const before = await redis.hgetallBuffer(key);
    await client.saveUpdateState({ pts: 9, qts: 8, date: 7, seq: 6 }, [
      { id: 1_000_000_000_001n, pts: 99 },
      { id: -3n, pts: 5 },
    ]);
    const after = await redis.hgetallBuffer(key);
    const changed = Object.keys(after).filter((field) => !before[field]?.equals(after[field] as Buffer));
    expect(changed.sort()).toEqual(['channel.-3', 'channel.1000000000001', 'channels', 'state.date', 'state.pts', 'state.qts', 'state.seq']);
    expect(after.channels?.toString()).toBe(`${before.channels?.toString()},-3`);
  });

  it('stores peers as one record each, with lower-cased username and phone indexes', async () => {
    const prefix = newPrefix();
    const client = storage(prefix);
    await client.save(minimalSession());
    const channel = fromMarkedId(-1001234567890n);
    await client.peers.upsert([
      peer('user', 7, { accessHash: -(2n ** 63n), usernames: ['Durov', 'second_Name'], phone: '15550007', min: false }),
      { ...peer(channel.type, 0), id: channel.id, usernames: [], min: true },
    ]);
    const base = `${prefix}client:{main}`;
    expect(await redis.hgetall(`${base}:peers`)).toEqual({
      'user:7': `-9223372036854775808|${peer('user', 7).updatedAt}|0|15550007|Durov,second_Name`,
      'channel:1234567890': `${peer('channel', 0).accessHash}|${peer('channel', 0).updatedAt}|1||`,
    });
    expect(await redis.hgetall(`${base}:usernames`)).toEqual({ durov: 'user:7', second_name: 'user:7' });
    expect(await redis.hgetall(`${base}:phones`)).toEqual({ '15550007': 'user:7' });
  });

  it('delete removes every key of the session and nothing else', async () => {
    const prefix = newPrefix();
    const alice = storage(prefix, 'alice');
    const bob = storage(prefix, 'bob');
    for (const s of [alice, bob]) {
      await everything(s);
      await s.refMessages.store(2n, 3n, 4);
    }
    await alice.delete();
    expect((await keysUnder(redis, prefix)).filter((k) => k.includes('{alice}'))).toEqual([]);
    expect((await keysUnder(redis, prefix)).filter((k) => k.includes('{bob}'))).toHaveLength(13);
  });

  it('each server transition leaves a receipt beside the set, expiring within a minute; destroyAll keeps the ids it removed there', async () => {
    const prefix = newPrefix();
    const server = sessions(prefix);
    expect(await server.createSession(3n, 1n)).toBe(true);
    expect(await server.createSession(3n, 1n)).toBe(false);
    expect(await server.createSession(3n, 2n)).toBe(true);
    const receipts = async () => (await keysUnder(redis, `${prefix}auth:{3}:call:`)).sort();
    // Only calls that made a transition leave one.
    const created = await receipts();
    expect(created).toHaveLength(2);
    for (const key of created) {
      expect(await redis.get(key)).toBe('1');
      expect(await redis.pttl(key)).toBeGreaterThan(50_000);
      expect(await redis.pttl(key)).toBeLessThanOrEqual(60_000);
    }
    expect(await server.destroyAllSessions(3n)).toEqual(expect.arrayContaining([1n, 2n]));
    const moved = (await receipts()).filter((key) => !created.includes(key));
    expect(moved).toHaveLength(1);
    expect((await redis.smembers(moved[0] as string)).sort()).toEqual(['1', '2']);
    expect(await redis.exists(`${prefix}auth:{3}:sessions`)).toBe(0);
    expect(await server.destroyAllSessions(3n)).toEqual([]);
  });

  it('two prefixes on one server are two separate stores', async () => {
    const [a, b] = [newPrefix(), newPrefix()];
    await storage(a).save(fullSession(1));
    await sessions(a).createSession(1n, 1n);
    expect(await storage(b).load()).toBeNull();
    expect(await sessions(b).hasSession(1n, 1n)).toBe(false);
  });

  it('rejects prefixes that could escape their namespace or break hash tags', () => {
    for (const prefix of ['{tag}', 'a}b', 'has space', 'a*', 'x'.repeat(65), 42]) {
      expect(() => new RedisStorage({ url: REDIS_URL, prefix: prefix as string }), String(prefix)).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
      expect(() => new RedisSessionStorage({ url: REDIS_URL, prefix: prefix as string })).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
      expect(() => new RedisSessionEventBus({ url: REDIS_URL, prefix: prefix as string })).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
    }
    expect(new RedisStorage({ url: REDIS_URL, prefix: '' }).prefix).toBe('');
    expect(new RedisStorage({ url: REDIS_URL }).prefix).toBe('mtstore:');
  });

  describe('layout version', () => {
    it('a prefix written by a newer layout rejects every operation with MigrationError and writes nothing', async () => {
      const prefix = newPrefix();
      await redis.set(`${prefix}schema`, '4');
      const client = storage(prefix);
      const server = sessions(prefix);
      for (const call of [() => client.load(), () => client.save(minimalSession()), () => client.peers.getById('user', 1n), () => server.createSession(1n, 1n), () => server.hasSession(1n, 1n)]) {
        await expect(call()).rejects.toMatchObject({ code: 'MTSTORE_MIGRATION', message: expect.stringContaining('newer') });
      }
      expect((await keysUnder(redis, prefix)).sort()).toEqual([`${prefix}schema`]);
      // The message names the caller, as every other error of an operation does.
      await expect(client.load()).rejects.toMatchObject({ message: expect.stringMatching(/^RedisStorage: Redis keys under prefix "[^"]+" were written by a newer/) });
      await expect(server.hasSession(1n, 1n)).rejects.toMatchObject({ message: expect.stringMatching(/^RedisSessionStorage: /) });
    });

    it('a version key holding something else is MigrationError', async () => {
      const prefix = newPrefix();
      await redis.set(`${prefix}schema`, 'banana');
      await expect(storage(prefix).load()).rejects.toMatchObject({ code: 'MTSTORE_MIGRATION', message: expect.stringMatching(/^RedisStorage: Redis key \S+schema holds "banana"/) });
    });
  });

  describe('hand-edited data is CorruptDataError naming the session', () => {
    async function saved(): Promise<{ client: RedisStorage; key: string; prefix: string }> {
      const prefix = newPrefix();
      const client = storage(prefix, 'edited');
      await client.save(fullSession(1));
      await client.peers.upsert([peer('user', 1)]);
      return { client, key: `${prefix}client:{edited}`, prefix };
    }

    it.each([
      ['a truncated auth key', (r: Redis, key: string) => r.hset(`${key}:keys`, 'dc1.key', Buffer.alloc(100)), /DC 1 is 100 bytes/],
      ['DCs that are not JSON', (r: Redis, key: string) => r.hset(key, 'dcs', '[{'), /dcs is not JSON/],
      ['a missing temp key', (r: Redis, key: string) => r.hdel(`${key}:keys`, 'dc2.temp.0'), /dc2\.temp\.0 is missing/],
      ['a temp key without its expiry', (r: Redis, key: string) => r.hdel(`${key}:keys`, 'dc2.temp.1.expiresAt'), /dc2\.temp\.1\.expiresAt is missing/],
      ['a field in the keys hash that is no key field', (r: Redis, key: string) => r.hset(`${key}:keys`, 'dc2.other', 'x'), /"dc2\.other"/],
      ['a premium flag that is not 0 or 1', (r: Redis, key: string) => r.hset(key, 'user.premium', 'yes'), /user\.premium/],
      ['a channel id that is not a number', (r: Redis, key: string) => r.hset(key, 'channels', 'x', 'channel.x', '1'), /channel id/],
      ['a user id above 2^63', (r: Redis, key: string) => r.hset(key, 'user.id', '9223372036854775808'), /user\.id/],
      ['a bot flag that is not 0 or 1', (r: Redis, key: string) => r.hset(key, 'user.bot', 'yes'), /user\.bot/],
      ['a home DC that is not a number', (r: Redis, key: string) => r.hset(key, 'homeDcId', 'two'), /homeDcId/],
    ])('load with %s', async (_what, edit, message) => {
      const { client, key } = await saved();
      await edit(redis, key);
      const error = await client.load().catch((e: Error) => e);
      expect(error).toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringMatching(message) });
      expect((error as Error).message).toContain('"edited"');
    });

    it('a peer record that does not parse', async () => {
      const { client, key } = await saved();
      await redis.hset(`${key}:peers`, 'user:1', 'garbage');
      await expect(client.peers.getById('user', 1n)).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringContaining('"user:1"') });
      await expect(client.peers.getByUsername('user_1')).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA' });
      // An upsert replaces the unreadable record instead of failing halfway.
      await client.peers.upsert([peer('user', 1)]);
      expect(await client.peers.getById('user', 1n)).toEqual(peer('user', 1));
    });

    // The labels of these two checks are built only when they fail (see decodePeer): the
    // whole message is pinned, so a lazy label that named the wrong thing would show.
    it('a peer record whose access hash or id is not a 64-bit integer', async () => {
      const { client, key } = await saved();
      await redis.hset(`${key}:peers`, 'user:1', 'abc|1|||user_1');
      await expect(client.peers.getById('user', 1n)).rejects.toMatchObject({
        code: 'MTSTORE_CORRUPT_DATA',
        message: 'session "edited": peer "user:1" access hash is not a 64-bit integer (string of 3 chars)',
      });
      await redis.hset(`${key}:peers`, 'user:9223372036854775808', '1|1|||');
      await redis.hset(`${key}:usernames`, 'user_1', 'user:9223372036854775808');
      await expect(client.peers.getByUsername('user_1')).rejects.toMatchObject({
        code: 'MTSTORE_CORRUPT_DATA',
        message: 'session "edited": peer "user:9223372036854775808" id is not a 64-bit integer (string of 19 chars)',
      });
    });

    it('a key of another type under the prefix', async () => {
      const prefix = newPrefix();
      const client = storage(prefix, 'typed');
      await redis.set(`${prefix}client:{typed}`, 'not a hash');
      for (const call of [() => client.load(), () => client.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 })]) {
        await expect(call()).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringMatching(/^session "typed": .*WRONGTYPE/) });
      }
      // save replaces whatever the key held.
      await client.save(fullSession(1));
      await redis.set(`${prefix}client:{typed}:usernames`, 'not a hash');
      await expect(client.peers.upsert([peer('user', 1)])).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA' });
      await expect(client.peers.getByUsername('user_1')).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA' });
      const server = sessions(prefix);
      await redis.set(`${prefix}auth:{4}:sessions`, '1');
      await redis.sadd(`${prefix}auth:{4}:session:1`, '1');
      await expect(server.hasSession(4n, 1n)).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringContaining('auth:{4}') });
      await expect(server.destroyAllSessions(4n)).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA' });
      await redis.set(`${prefix}auth:{4}:session:2`, 'garbage');
      await expect(server.hasSession(4n, 2n)).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringContaining('auth:{4}') });
      await expect(server.sessionInfo(4n, 2n)).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringContaining('authKeyId=4') });
    });

    it('a server session id that is not a number', async () => {
      const prefix = newPrefix();
      const server = sessions(prefix);
      await server.createSession(3n, 1n);
      await redis.sadd(`${prefix}auth:{3}:sessions`, 'abc');
      await redis.set(`${prefix}auth:{3}:session:abc`, '1|');
      await expect(server.listSessions(3n)).rejects.toMatchObject({ code: 'MTSTORE_CORRUPT_DATA', message: expect.stringContaining('authKeyId=3') });
    });
  });
});
