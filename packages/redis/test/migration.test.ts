/**
 * Layout 1 → 2 → 3: keys written the way @mtstore/redis 0.1 (layout 1) wrote them — auth
 * keys inside the snapshot hash by DC position, `user.username`, peer records without
 * a display name, no peer order set — then opened with this code, which upgrades the
 * prefix on first use and reads everything back, keys included. On the single server
 * and on the cluster (where sessions sit on different masters). Layout 2 → 3: server
 * sessions written as members of their auth key's set get their own keys.
 */
import { authKey, checkServer, peer } from '@mtstore/conformance/vitest';
import type { Peer, Session } from '@mtstore/core';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import type { RedisClient } from '../src/connection.js';
import { ensureSchema, raiseSchemaVersion, SCHEMA_VERSION } from '../src/schema.js';
import { admin, adminCluster, dropPrefix, plain, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const key = (n: number) => Buffer.from(authKey(n));

/** A v1 peer record: `<accessHash>|<updatedAt>|<min>|<phone>|<usernames>`. */
const v1Record = (p: Peer) => `${p.accessHash}|${p.updatedAt}|${p.min === undefined ? '' : p.min ? '1' : '0'}|${p.phone ?? ''}|${p.usernames.join(',')}`;

/** Writes two sessions in layout 1 with plain commands, as 0.1's codec.ts laid them out. */
async function writeLayout1(redis: Redis | Cluster, prefix: string): Promise<void> {
  await redis.set(`${prefix}schema`, '1');
  const alice = `${prefix}client:{alice}`;
  await redis.hset(alice, {
    version: '1',
    homeDcId: '2',
    apiId: '10001',
    takeoutId: '5000000001',
    'user.id': '1000000001',
    'user.dcId': '2',
    'user.bot': '0',
    'user.username': 'Alice_1',
    'state.pts': '101',
    'state.qts': '201',
    'state.date': '1700000001',
    'state.seq': '301',
    dcs: JSON.stringify([
      { id: 1, port: 443, ipv4: '149.154.175.53' },
      { id: 2, port: 443, ipv4: '149.154.167.51', ipv6: '2001:67c:4e8:f002::a', testMode: false, mediaOnly: false, temp: [{ index: 0, expiresAt: 1_900_000_001 }, { index: 5, expiresAt: 1_900_000_101 }] },
      { id: 2, port: 443, ipv4: '149.154.167.151', mediaOnly: true, temp: [{ index: 0, expiresAt: 1_900_000_201 }] },
      { id: 4, port: 80, ipv6: '2001:67c:4e8:f004::a', testMode: true, temp: [] },
    ]),
    'dc.0.authKey': key(11),
    'dc.1.authKey': key(12),
    'dc.1.temp.0': key(13),
    'dc.1.temp.5': key(14),
    'dc.2.temp.0': key(15),
    'dc.3.authKey': key(16),
    channels: '1000000000000,-5',
    'channel.1000000000000': '10',
    'channel.-5': '11',
  });
  const peers = [peer('user', 1, { usernames: ['Durov', 'durov_2'] }), peer('channel', 2, { min: true }), peer('user', 3, { min: false })];
  await redis.hset(`${alice}:peers`, Object.fromEntries(peers.map((p) => [`${p.type}:${p.id}`, v1Record(p)])));
  await redis.hset(`${alice}:usernames`, { durov: 'user:1', durov_2: 'user:1', channel_2: 'channel:2', user_3: 'user:3' });
  await redis.hset(`${alice}:phones`, { '10000000001': 'user:1', '10000000003': 'user:3' });
  // A logged-out session without keys.
  await redis.hset(`${prefix}client:{bob}`, { version: '1', homeDcId: '4', dcs: JSON.stringify([{ id: 4, port: 443, ipv4: '1.2.3.4' }]), channels: '' });
}

const aliceV2: Session = {
  version: 1,
  homeDcId: 2,
  dcs: [
    { id: 1, ipv4: '149.154.175.53', port: 443, authKey: authKey(11) },
    {
      id: 2,
      ipv4: '149.154.167.51',
      ipv6: '2001:67c:4e8:f002::a',
      port: 443,
      testMode: false,
      mediaOnly: false,
      authKey: authKey(12),
      tempAuthKeys: [
        { index: 0, key: authKey(13), expiresAt: 1_900_000_001 },
        { index: 5, key: authKey(14), expiresAt: 1_900_000_101 },
      ],
    },
    { id: 2, ipv4: '149.154.167.151', port: 443, mediaOnly: true, tempAuthKeys: [{ index: 0, key: authKey(15), expiresAt: 1_900_000_201 }] },
    { id: 4, ipv6: '2001:67c:4e8:f004::a', port: 80, testMode: true, authKey: authKey(16) },
  ],
  apiId: 10001,
  user: { id: 1_000_000_001n, dcId: 2, bot: false, usernames: ['Alice_1'] },
  state: { pts: 101, qts: 201, date: 1_700_000_001, seq: 301 },
  channels: [
    { id: 1_000_000_000_000n, pts: 10 },
    { id: -5n, pts: 11 },
  ],
  takeoutId: 5_000_000_001n,
};

function suite(open: () => Redis | Cluster, storageOptions: (redis: Redis | Cluster) => { url?: string; client?: Cluster }) {
  const redis = open();
  const prefixes: string[] = [];
  afterAll(async () => {
    await Promise.all(prefixes.map((p) => dropPrefix(redis, p)));
    await redis.quit();
  });

  it('the layout version only goes up: a process finishing an older step after another finished them all leaves it', async () => {
    const prefix = `${randomName('raise')}:`;
    prefixes.push(prefix);
    await writeLayout1(redis, prefix);
    // A slower opener read layout 1 and is still upgrading it to 2 when a faster one is done.
    await ensureSchema(redis as RedisClient, prefix);
    expect(await redis.get(`${prefix}schema`)).toBe(String(SCHEMA_VERSION));
    expect(await raiseSchemaVersion(redis as RedisClient, prefix, 2)).toBe(SCHEMA_VERSION);
    expect(await redis.get(`${prefix}schema`)).toBe(String(SCHEMA_VERSION));
    // Raising from below still raises.
    await redis.set(`${prefix}schema`, '2');
    expect(await raiseSchemaVersion(redis as RedisClient, prefix, 3)).toBe(3);
    expect(await redis.get(`${prefix}schema`)).toBe('3');
  });

  it('a step Redis refuses is MigrationError naming the caller, the prefix, the step and the session; the next call tries again', async () => {
    const prefix = `${randomName('step')}:`;
    prefixes.push(prefix);
    await redis.set(`${prefix}schema`, '1');
    await redis.hset(`${prefix}client:{alice}`, { version: '1', homeDcId: '2', dcs: JSON.stringify([{ id: 2, port: 443, ipv4: '1.2.3.4' }]), 'dc.0.authKey': key(11), channels: '' });
    // Something else's string where layout 2 puts the session's keys hash: the step's HSET fails.
    await redis.set(`${prefix}client:{alice}:keys`, 'in the way');
    const storage = new RedisStorage({ ...storageOptions(redis), prefix, name: 'alice' });
    try {
      const error = await storage.load().then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(error?.code).toBe('MTSTORE_MIGRATION');
      expect(error?.message.startsWith(`RedisStorage: could not migrate key prefix "${prefix}" from layout 1 to 2 (auth keys into the keys hash, `)).toBe(true);
      expect(error?.message).toMatch(/ at session "alice": WRONGTYPE /);
      expect(error?.message).not.toContain(key(11).toString('hex').slice(0, 16));
      expect(await redis.get(`${prefix}schema`)).toBe('1');
      // Once the key in the way is gone, the same instance migrates and reads the key.
      await redis.del(`${prefix}client:{alice}:keys`);
      expect(plain(await storage.load())).toMatchObject({ homeDcId: 2, dcs: [{ id: 2, ipv4: '1.2.3.4', port: 443, authKey: authKey(11) }] });
      expect(await redis.get(`${prefix}schema`)).toBe(String(SCHEMA_VERSION));
    } finally {
      await storage.close();
    }
  });

  it('reads everything written in layout 1, keys included, and leaves the prefix in layout 3', async () => {
    const prefix = `${randomName('v1')}:`;
    prefixes.push(prefix);
    await writeLayout1(redis, prefix);
    // Two instances open the old prefix at once: both run the (idempotent) upgrade.
    const [alice, alsoAlice] = [0, 1].map(() => new RedisStorage({ ...storageOptions(redis), prefix, name: 'alice' })) as [RedisStorage, RedisStorage];
    const bob = new RedisStorage({ ...storageOptions(redis), prefix, name: 'bob' });
    try {
      const [loaded, again] = await Promise.all([alice.load(), alsoAlice.load()]);
      expect(plain(loaded)).toEqual(aliceV2);
      expect(plain(again)).toEqual(aliceV2);
      expect(plain(await bob.load())).toEqual({ version: 1, homeDcId: 4, dcs: [{ id: 4, ipv4: '1.2.3.4', port: 443 }], channels: [] });
      expect(await redis.get(`${prefix}schema`)).toBe('3');

      // Keys through the v2 API.
      expect(plain(await alice.authKeys.get(2))).toEqual(authKey(12));
      expect(plain(await alice.authKeys.getTemp(2, 5))).toEqual({ index: 5, key: authKey(14), expiresAt: 1_900_000_101 });
      expect(await alice.authKeys.get(3)).toBeNull();
      // Peers: records read as they were, now listed and looked up.
      expect(await alice.peers.getByUsername('DUROV')).toEqual(peer('user', 1, { usernames: ['Durov', 'durov_2'] }));
      expect(await alice.peers.getById('channel', 2n)).toEqual(peer('channel', 2, { min: true }));
      const page = await alice.peers.list({ limit: 10 });
      expect(page.cursor).toBeNull();
      expect(page.peers.map((p) => `${p.type}:${p.id}`).sort()).toEqual(['channel:2', 'user:1', 'user:3']);
      expect(await alice.listNames()).toEqual(['alice', 'bob']);

      // The hash itself is in layout 2: no key bytes, no user.username, no temp lists.
      const hash = await redis.hgetall(`${prefix}client:{alice}`);
      expect(Object.keys(hash).filter((f) => f.startsWith('dc.') || f === 'user.username')).toEqual([]);
      expect(hash['user.usernames']).toBe('Alice_1');
      expect(hash.dcs).not.toContain('temp');
      expect((await redis.hkeys(`${prefix}client:{alice}:keys`)).sort()).toEqual([
        'dc1.key',
        'dc2.key',
        'dc2.media.temp.0',
        'dc2.media.temp.0.expiresAt',
        'dc2.temp.0',
        'dc2.temp.0.expiresAt',
        'dc2.temp.5',
        'dc2.temp.5.expiresAt',
        'dc4.key',
      ]);

      // And it works on: an update keeps the migrated keys, a peer gets a display name.
      await alice.update({ dcs: [{ id: 2, ipv4: '149.154.167.50', port: 443 }], homeDcId: 2 });
      expect(plain((await alice.load())?.dcs)).toEqual([
        { id: 2, ipv4: '149.154.167.50', port: 443, authKey: authKey(12), tempAuthKeys: aliceV2.dcs[1]?.tempAuthKeys },
        { id: 1, authKey: authKey(11) },
        { id: 2, mediaOnly: true, tempAuthKeys: aliceV2.dcs[2]?.tempAuthKeys },
        { id: 4, authKey: authKey(16) },
      ]);
      await alice.peers.upsert([peer('user', 3, { displayName: 'Three' })]);
      expect(await alice.peers.getByPhone('10000000003')).toEqual(peer('user', 3, { displayName: 'Three' }));
    } finally {
      await Promise.all([alice.close(), alsoAlice.close(), bob.close()]);
    }
  });

  it('layout 2 reference messages get their order set: list pages them in store order', async () => {
    const prefix = `${randomName('v2r')}:`;
    prefixes.push(prefix);
    await redis.set(`${prefix}schema`, '2');
    const base = `${prefix}client:{carol}`;
    // Stored in this order: (peer 7, -100:1), (peer 8, -100:1), (peer 7, -100:2), then (peer 7, -100:1) again.
    await redis.set(`${base}:refs:seq`, '4');
    await redis.zadd(`${base}:refs:7`, 4, '-100:1', 3, '-100:2');
    await redis.zadd(`${base}:refs:8`, 2, '-100:1');
    await redis.zadd(`${base}:refs:index`, 0, '-100:1:7', 0, '-100:1:8', 0, '-100:2:7');
    const carol = new RedisStorage({ ...storageOptions(redis), prefix, name: 'carol' });
    try {
      const first = await carol.refMessages.list({ limit: 2 });
      expect(first.refs).toEqual([
        { peerId: 8n, chatId: -100n, messageId: 1 },
        { peerId: 7n, chatId: -100n, messageId: 2 },
      ]);
      const second = await carol.refMessages.list({ limit: 2, cursor: first.cursor as string });
      expect(second).toEqual({ refs: [{ peerId: 7n, chatId: -100n, messageId: 1 }], cursor: null });
      expect(await redis.get(`${prefix}schema`)).toBe('3');
      // And it works on: a new store is the last, a delete leaves the order.
      await carol.refMessages.store(8n, -100n, 3);
      await carol.refMessages.delete(-100n, [1]);
      expect((await carol.refMessages.list({ limit: 10 })).refs).toEqual([
        { peerId: 7n, chatId: -100n, messageId: 2 },
        { peerId: 8n, chatId: -100n, messageId: 3 },
      ]);
    } finally {
      await carol.close();
    }
  });

  it('the layout 2 → 3 step stamps server sessions with the clock ensureSchema is given (the migrating instance’s), not Date.now', async () => {
    const prefix = `${randomName('v2clock')}:`;
    prefixes.push(prefix);
    await redis.set(`${prefix}schema`, '2');
    await redis.sadd(`${prefix}auth:{-5}:sessions`, '7');
    // Far from the machine's clock: only the clock given can have written it.
    await ensureSchema(redis as RedisClient, prefix, { clock: () => 1_500_000_000_000 });
    expect(await redis.get(`${prefix}schema`)).toBe(String(SCHEMA_VERSION));
    expect(await redis.get(`${prefix}auth:{-5}:session:7`)).toBe('1500000000000|');
  });

  it('a RedisSessionStorage that migrates layout 2 stamps the sessions with its clock option, as its every other write (contract §7.1)', async () => {
    const prefix = `${randomName('v2clock')}:`;
    prefixes.push(prefix);
    await redis.set(`${prefix}schema`, '2');
    await redis.sadd(`${prefix}auth:{-5}:sessions`, '7');
    const storage = new RedisSessionStorage({ ...storageOptions(redis), prefix, ttlSeconds: 60, clock: () => 1_500_000_000_000 });
    try {
      expect((await storage.sessionInfo(-5n, 7n))?.lastUsedAt).toBe(1_500_000_000_000);
    } finally {
      await storage.close();
    }
  });

  it('layout 2 server sessions (members of their auth key’s set) become session keys without expiry, and layout 1 goes through 2', async () => {
    for (const from of ['1', '2']) {
      const prefix = `${randomName(`v${from}s`)}:`;
      prefixes.push(prefix);
      await redis.set(`${prefix}schema`, from);
      await redis.sadd(`${prefix}auth:{-5}:sessions`, '7', '-12');
      await redis.sadd(`${prefix}auth:{9223372036854775807}:sessions`, '1');
      // A receipt set of a destroyAll (layout 2) is no session set.
      await redis.sadd(`${prefix}auth:{-5}:call:abc.1`, '3');
      await redis.pexpire(`${prefix}auth:{-5}:call:abc.1`, 60_000);
      const before = Date.now();
      // Two instances open the old prefix at once: both run the (idempotent) upgrade.
      const [a, b] = [0, 1].map(() => new RedisSessionStorage({ ...storageOptions(redis), prefix, ttlSeconds: 60 })) as [RedisSessionStorage, RedisSessionStorage];
      try {
        const [listed, also] = await Promise.all([a.listSessions(-5n), b.listSessions(-5n)]);
        expect([...listed].sort()).toEqual([-12n, 7n]);
        expect([...also].sort()).toEqual([-12n, 7n]);
        expect(await redis.get(`${prefix}schema`)).toBe('3');
        expect(await a.hasSession(2n ** 63n - 1n, 1n)).toBe(true);
        expect(await a.hasSession(-5n, 3n)).toBe(false);
        const info = await a.sessionInfo(-5n, 7n);
        expect(info?.expiresAt, `from layout ${from}: no expiry`).toBeNull();
        expect(info?.lastUsedAt).toBeGreaterThanOrEqual(before);
        expect(info?.lastUsedAt).toBeLessThanOrEqual(Date.now());
        expect(await redis.pttl(`${prefix}auth:{-5}:session:7`)).toBe(-1);
        // And it works on: a touch gives it this instance's expiry, a destroy removes it.
        expect(await a.touchSession(-5n, 7n)).toBe(true);
        expect((await a.sessionInfo(-5n, 7n))?.expiresAt).toBeGreaterThan(Date.now());
        expect(await b.destroySession(-5n, -12n)).toBe(true);
        expect(await a.listSessions(-5n)).toEqual([7n]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    }
  });
}

describe.runIf(single.available)('older layouts on a single server', () => {
  suite(admin, () => ({ url: REDIS_URL }));
});

describe.runIf(cluster.available)('older layouts on Redis Cluster', () => {
  suite(adminCluster, (redis) => ({ client: redis as Cluster }));
});
