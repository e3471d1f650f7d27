/**
 * A Cluster node connection that drops later (CLIENT KILL here; a server restart or a
 * network cut alike) does not hold the calls after it for `retryDelayOnFailover`, and
 * does not fail them with MOVED. ioredis' Cluster ends a node connection that drops and
 * takes it out of its pool; until a slots refresh puts a new (lazy) one there, commands
 * for that master's slots went to another master and bounced on MOVED (an
 * auto-pipeline gave up after 16 of them: "MOVED 2843 127.0.0.1:7000"), and once the
 * new connection was there, a command for it while it was connecting was refused
 * ("Connection is closed.", enableOfflineQueue false) and resent only after
 * `retryDelayOnFailover`. Here that delay is 60 s, and every call made after the drop
 * must resolve within 10 s: not a speed bound, a "never held for the failover" one.
 * Nothing is in flight at the kill (a call in flight then is resent after the delay:
 * ioredis' failover, README).
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage } from '../src/index.js';
import { adminCluster, clientList, clusterSeed, dropPrefix, eventually, killConnections, probeCluster, randomName, REDIS_CLUSTER_URL } from './helpers.js';
import { HoldingProxy, proxiedCluster, suiteResources } from './proxies.js';

const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

/** A failover resend comes this long after the refusal: far past BOUND_MS. */
const FAILOVER_MS = 60_000;
/** Calls not settled by then were held for the failover. */
const BOUND_MS = 10_000;
/** Server sessions of this many auth keys: slots on every master. */
const AUTH_KEYS = 24;

const base = randomName('replaced');

/** How `calls` came out within BOUND_MS: 'held' if not all settled, else each one's error message or 'ok'. */
async function outcomes(calls: Promise<unknown>[]): Promise<string[] | 'held'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'held'>((resolve) => {
    timer = setTimeout(resolve, BOUND_MS, 'held');
  });
  const settled = Promise.all(
    calls.map((call) =>
      call.then(
        () => 'ok',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
    ),
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Calls on every master side by side: a create (a script) and two reads per auth key. */
function burst(storage: RedisSessionStorage, round: number): Promise<unknown>[] {
  return Array.from({ length: AUTH_KEYS }, (_, i) => [storage.createSession(BigInt(i), BigInt(round)), storage.hasSession(BigInt(i), BigInt(round)), storage.listSessions(BigInt(i))]).flat();
}

/** Every call settled within BOUND_MS and resolved: `outcome` is all 'ok'. */
function expectAllResolved(outcome: string[] | 'held', what: string): void {
  expect(outcome, `${what}: calls held past ${BOUND_MS / 1000} s`).not.toBe('held');
  expect((outcome as string[]).filter((o) => o !== 'ok'), `${what}: calls that failed`).toEqual([]);
}

/** Resolves after the next `count` `event`s of `emitter`. */
function events(emitter: Cluster, event: string, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = (): void => {
      if (++seen < count) return;
      emitter.off(event, on);
      resolve();
    };
    emitter.on(event, on);
  });
}

/** Listener counts of the events a watch over node connections would use. */
function nodeListeners(node: Redis): number[] {
  return ['ready', 'close', 'end', 'error', 'connect'].map((event) => node.listenerCount(event));
}

/** The master port serving `key`'s slot (the ports the Cluster announces). */
async function portOf(admin: Cluster, key: string): Promise<number> {
  const slot = Number(await admin.cluster('KEYSLOT', key));
  const slots = await admin.cluster('SLOTS');
  const port = slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  if (port === undefined) throw new Error(`no master for slot ${slot}`);
  return port;
}

describe.runIf(cluster.available)('a Cluster node connection replaced later: calls are not held for retryDelayOnFailover', () => {
  const admin = adminCluster();
  let masters: Redis[] = [];

  afterAll(async () => {
    try {
      await dropPrefix(admin, base);
    } finally {
      admin.disconnect();
    }
  });

  /**
   * Kills the connections named `name` on `node`; waits until the server lists none of
   * them. By id, not by name: a client that reconnects at once (an application's Cluster
   * refreshing its slots after the -node) lists a new connection of that name, and
   * waiting for the name to go failed one CI run (10 s of a new one listed).
   */
  async function kill(node: Redis, name: string): Promise<number> {
    const killed = new Set(await killConnections(node, name));
    await eventually(async () => !(await clientList(node)).some((c) => killed.has(c.id)), `${name}'s killed connections gone`);
    return killed.size;
  }

  async function connectAdmin(): Promise<void> {
    if (admin.status === 'wait') await admin.connect();
    masters = admin.nodes('master');
    expect(masters.length).toBeGreaterThan(1);
  }

  it('a Cluster mtstore opens: after each master\'s node connection is killed in turn, every call after it resolves within 10 s', async () => {
    await connectAdmin();
    const name = `${base}-owned`;
    const storage = new RedisSessionStorage({ cluster: { nodes: [clusterSeed()], options: { retryDelayOnFailover: FAILOVER_MS, redisOptions: { connectionName: name } } }, prefix: `${base}-owned:` });
    try {
      expectAllResolved(await outcomes(burst(storage, 0)), 'before any kill');
      for (const [i, master] of masters.entries()) {
        expect(await kill(master, name), `master ${i}: connections killed`).toBe(1);
        // Not a race with the machine's load: kill() returned on a CLIENT LIST reply sent
        // after the server closed the socket (CLIENT KILL ID frees it at once), so its FIN
        // on loopback is readable no later than that reply, and Node ends the socket and
        // ioredis says -node before any timer after it fires (load delays the timer, not
        // the order). With no wait at all this case passed 6 of 6 runs and the close() one 4 of
        // 4 (those 4 beside two CPU busy loops); the 200 ms is spare.
        await new Promise((resolve) => setTimeout(resolve, 200));
        expectAllResolved(await outcomes(burst(storage, i + 1)), `after master ${i}'s connection was killed`);
      }
    } finally {
      await storage.close();
    }
  }, 120_000);

  it('a Cluster mtstore opens with clusterNodeRetryStrategy (node connections reconnect instead of ending): after each master\'s node connection is killed in turn, every call after it resolves within 10 s', async () => {
    await connectAdmin();
    const name = `${base}-retry`;
    // 500 ms before each reconnect: the calls made 200 ms after the kill find the connection reconnecting.
    const options = { retryDelayOnFailover: FAILOVER_MS, clusterNodeRetryStrategy: () => 500, redisOptions: { connectionName: name } };
    const storage = new RedisSessionStorage({ cluster: { nodes: [clusterSeed()], options }, prefix: `${base}-retry:` });
    try {
      expectAllResolved(await outcomes(burst(storage, 0)), 'before any kill');
      for (const [i, master] of masters.entries()) {
        expect(await kill(master, name), `master ${i}: connections killed`).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expectAllResolved(await outcomes(burst(storage, i + 1)), `after master ${i}'s connection was killed`);
      }
    } finally {
      await storage.close();
    }
  }, 120_000);

  it("an application's Cluster without an offline queue: one master's connection killed, then every master's; no listener left behind", async () => {
    await connectAdmin();
    const name = `${base}-app`;
    const client = new Cluster([clusterSeed()], { enableOfflineQueue: false, retryDelayOnFailover: FAILOVER_MS, redisOptions: { connectionName: name } });
    client.on('error', () => {});
    // Several storages on the one client: what watches its nodes is per client.
    const storages = Array.from({ length: 12 }, () => new RedisSessionStorage({ client, prefix: `${base}-app:` }));
    const [storage] = storages as [RedisSessionStorage];
    try {
      expectAllResolved(await outcomes(storages.flatMap((s, i) => burst(s, i).slice(0, 3))), 'first calls');
      expectAllResolved(await outcomes(burst(storage, 0)), 'before any kill');
      const clusterListeners = ['+node', '-node'].map((event) => client.listenerCount(event));
      const steady = nodeListeners(client.nodes('master')[0] as Redis);
      let round = 1;
      for (let pass = 0; pass < 3; pass++) {
        for (const [i, master] of masters.entries()) {
          const gone = events(client, '-node', 1);
          expect(await kill(master, name), `master ${i}: connections killed`).toBe(1);
          await gone;
          expectAllResolved(await outcomes(burst(storage, round++)), `pass ${pass}: after master ${i}'s connection was killed`);
        }
        // Every node connection at once: the Cluster reconnects as a whole once no node is
        // left (it refuses calls meanwhile, no offline queue), unless a refresh put new ones
        // there first; one that ends while it waits to reconnect leaves its masters lazy.
        let ended = 0;
        const count = (): void => {
          ended++;
        };
        client.on('-node', count);
        const killed = await Promise.all(masters.map((master) => kill(master, name)));
        expect(killed.reduce((sum, n) => sum + n, 0)).toBe(masters.length);
        await eventually(() => ended >= masters.length && client.status === 'ready', 'every killed connection ended, the Cluster ready');
        client.off('-node', count);
        expectAllResolved(await outcomes(burst(storage, round++)), `pass ${pass}: after every master's connection was killed`);
      }
      // Many replacements later: no listener more on the client or on its node connections.
      expect(['+node', '-node'].map((event) => client.listenerCount(event))).toEqual(clusterListeners);
      for (const node of client.nodes('master')) expect(nodeListeners(node)).toEqual(steady);
      await Promise.all(storages.map((s) => s.close()));
      expect(['+node', '-node'].map((event) => client.listenerCount(event))).toEqual(clusterListeners);
      for (const node of client.nodes('master')) expect(nodeListeners(node)).toEqual(steady);
    } finally {
      client.disconnect();
      await Promise.all(storages.map((s) => s.close().catch(() => {})));
    }
  }, 180_000);

  it('close() right after a kill, with calls waiting for the new node connection: every call settles and close() resolves', async () => {
    await connectAdmin();
    const name = `${base}-close`;
    const storage = new RedisSessionStorage({ cluster: { nodes: [clusterSeed()], options: { retryDelayOnFailover: FAILOVER_MS, redisOptions: { connectionName: name } } }, prefix: `${base}-close:` });
    expectAllResolved(await outcomes(burst(storage, 0)), 'before the kill');
    expect(await kill(masters[0] as Redis, name)).toBe(1);
    // Read by the client before this timer fires, whatever the load (as in the first case).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const calls = burst(storage, 1);
    const closed = storage.close();
    const outcome = await outcomes([...calls, closed]);
    expect(outcome, 'calls or close() held').not.toBe('held');
    // close() let them finish on a cluster that answers.
    expectAllResolved(outcome, 'calls made before close()');
  }, 60_000);
});

describe.runIf(cluster.available)('a master whose new node connection never gets ready', () => {
  const resources = suiteResources<HoldingProxy>(() => adminCluster());

  it("retryDelayOnFailover 0: calls for the other masters wait the node connections' connectTimeout at most, not for ever", async () => {
    const proxies = new Map<number, HoldingProxy>();
    const nodes = await proxiedCluster((port) => {
      const proxy = resources.proxy(new HoldingProxy(port));
      proxies.set(port, proxy);
      return proxy;
    });
    const prefix = resources.prefix('replaced-silent');
    // No commandTimeout: the ready check of a connection that is never answered waits for ever.
    const client = new Cluster([nodes.seed], { natMap: nodes.natMap, enableOfflineQueue: false, retryDelayOnFailover: 0, redisOptions: { connectTimeout: 2_000 } });
    client.on('error', () => {});
    const storage = new RedisSessionStorage({ client, prefix });
    const admin = adminCluster();
    try {
      await admin.connect();
      // Auth keys on two masters: `silent`'s will not answer, `other`'s will.
      const silent = await portOf(admin, `${prefix}auth:{0}:sessions`);
      let other = 0n;
      while ((await portOf(admin, `${prefix}auth:{${other}}:sessions`)) === silent) other++;
      expectAllResolved(await outcomes(burst(storage, 0)), 'before the cut');
      const proxy = proxies.get(silent) as HoldingProxy;
      const gone = events(client, '-node', 1);
      // The master's connection dropped; the new one is accepted and never answered.
      expect(proxy.cut()).toBeGreaterThan(0);
      proxy.hold = true;
      await gone;
      expectAllResolved(await outcomes([storage.hasSession(other, 1n), storage.listSessions(other)]), "the other master's calls");
    } finally {
      for (const proxy of proxies.values()) proxy.hold = false;
      admin.disconnect();
      client.disconnect();
      await storage.close().catch(() => {});
    }
  }, 60_000);
});
