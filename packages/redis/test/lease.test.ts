/**
 * The lease in Redis beyond the kit: the fence is a check inside each write's script
 * (a lease key that vanished or changed refuses the write, big batches still fit one
 * script), the lease key sits in the session's slot, and an acquire script the client
 * library sends twice (ioredis resends what was in flight when a connection dropped)
 * still reports the lease this instance took.
 */
import { authKey, checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { clientKeys, RedisStorage } from '../src/index.js';
import { admin, adminCluster, dropPrefix, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const LOST = 'MTSTORE_LEASE_LOST';
const HELD = 'MTSTORE_LEASE_HELD';

/** An application client whose EVALSHA / EVAL run twice when `twice` says so, answering the second run: what a resend does. */
function resendingClient(twice: () => boolean): Redis {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectionName: 'mtstore-test-resend' });
  for (const method of ['evalsha', 'eval'] as const) {
    const original = client[method].bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => (twice() ? original(...args).then(() => original(...args)) : original(...args));
  }
  return client;
}

describe.runIf(single.available)('lease in Redis', () => {
  const redis = admin();
  const prefix = `${randomName('lease')}:`;
  const opened: { close(): Promise<void> }[] = [];
  const clients: Redis[] = [];
  const open = (name = 'bot', client?: Redis) => {
    const storage = client ? new RedisStorage({ client, prefix, name }) : new RedisStorage({ url: REDIS_URL, prefix, name });
    opened.push(storage);
    return storage;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all(clients.splice(0).map((c) => c.quit()));
  });
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('a write whose lease key vanished (run out while the write was on its way) is refused and writes nothing', async () => {
    const a = open();
    await a.kv.set('k', new Uint8Array([1]));
    await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    await redis.del(clientKeys(prefix, 'bot').lease);
    await expect(a.kv.set('k', new Uint8Array([2]))).rejects.toMatchObject({ code: LOST });
    expect(a.lease.held).toBeNull();
    expect(await a.kv.get('k')).toEqual(new Uint8Array([1]));
  });

  it('a lease key holding another token refuses the write; the holder’s own big writes fit one fenced script', async () => {
    const a = open();
    const held = await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    // The holder writes through its fenced scripts, big batches included (a script's unpack has limits).
    await a.save({ ...fullSession(1), channels: Array.from({ length: 5000 }, (_, i) => ({ id: BigInt(i + 1), pts: i })) });
    await a.peers.upsert(Array.from({ length: 10_000 }, (_, i) => peer('user', i + 1)));
    await a.saveUpdateState({ pts: 5, qts: 5, date: 5, seq: 5 }, [{ id: 1n, pts: 77 }]);
    expect((await a.load())?.channels).toHaveLength(5000);
    expect((await a.peers.list({ limit: 10_000 })).peers).toHaveLength(10_000);
    // Another token in the key (a takeover this instance has not heard of yet).
    const key = clientKeys(prefix, 'bot').lease;
    const stored = (await redis.get(key)) as string;
    await redis.set(key, `${held.token + 1n}${stored.slice(stored.indexOf('|'))}`, 'PX', 60_000);
    await expect(a.peers.upsert([peer('user', 20_001)])).rejects.toMatchObject({ code: LOST });
    expect(await a.peers.getById('user', 20_001n)).toBeNull();
    expect((await a.load())?.state?.pts).toBe(5);
  });

  it('an acquire script sent twice reports the lease this instance took, not a lease held by someone', async () => {
    let twice = false;
    const client = resendingClient(() => twice);
    clients.push(client);
    const a = open('resent', client);
    await a.kv.set('warm', new Uint8Array([1])); // the layout check is done; the scripts get cached below
    await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    await a.lease.release();
    twice = true;
    const first = await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
    const holder = await open('resent').lease.holder();
    expect(holder?.token).toBe(first.token);
    // The instance holds it: its fenced writes pass, another instance is refused.
    await a.kv.set('k', new Uint8Array([1]));
    await expect(open('resent').lease.acquire({ ttlSeconds: 60 })).rejects.toMatchObject({ code: HELD });
    await a.lease.release();
    // A forced acquire sent twice takes one token, not two.
    const forced = await a.lease.acquire({ ttlSeconds: 60, heartbeat: false, force: true });
    expect(forced.token).toBe(first.token + 1n);
    expect((await open('resent').lease.holder())?.token).toBe(forced.token);
    twice = false;
    await a.lease.release();
    // A fresh acquire after the resends is one more token: the receipts belong to their calls only.
    expect((await a.lease.acquire({ ttlSeconds: 60, heartbeat: false })).token).toBe(forced.token + 1n);
    await a.kv.set('k', new Uint8Array([2]));
  });
});

describe.runIf(cluster.available)('lease through a Cluster client', () => {
  const redis = adminCluster();
  const prefix = `${randomName('lease')}:`;
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('the lease key is in the slot of the session’s keys', async () => {
    for (const name of ['bot', 'alice', 'a.b-c_d']) {
      const keys = clientKeys(prefix, name);
      const slots = new Set(await Promise.all([keys.lease, ...keys.all].map(async (k) => Number(await redis.cluster('KEYSLOT', k)))));
      expect(slots.size, name).toBe(1);
    }
  });

  it('the holder’s writes run fenced in the session’s slot; a taken-over holder’s write is refused', async () => {
    const a = new RedisStorage({ client: redis, prefix, name: 'carol' });
    const b = new RedisStorage({ client: redis, prefix, name: 'carol' });
    try {
      await a.lease.acquire({ ttlSeconds: 60, heartbeat: false });
      await a.save(fullSession(1));
      await a.authKeys.set(3, authKey(3));
      await a.peers.upsert([peer('user', 1)]);
      await a.refMessages.store(1n, -100n, 1);
      await b.lease.acquire({ ttlSeconds: 60, heartbeat: false, force: true });
      await expect(a.refMessages.store(1n, -100n, 2)).rejects.toMatchObject({ code: LOST });
      expect(await b.refMessages.getByPeer(1n)).toEqual({ chatId: -100n, messageId: 1 });
      await b.refMessages.store(1n, -100n, 3);
      expect(await b.refMessages.getByPeer(1n)).toEqual({ chatId: -100n, messageId: 3 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
