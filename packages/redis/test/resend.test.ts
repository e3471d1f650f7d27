/**
 * Connections killed (CLIENT KILL) under a stream of server transitions, where the
 * client library resends what was in flight: a Cluster client (it retries a command
 * that failed with "Connection is closed." after retryDelayOnFailover) and a
 * single-server client with ioredis' default autoResendUnfulfilledCommands. A resent
 * SADD / SREM would answer 0 for the transition its first run made; the per-call
 * receipts keep the answer exact: a brand-new session is never reported as existing,
 * an existing one never as already gone. Also: a command in flight on a connection
 * mtstore owns fails as soon as the connection is lost, not after commandTimeout.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, adminCluster, clusterSeed, dropPrefix, eventually, killConnections, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';
import { HoldingProxy, outcome, REDIS_PORT } from './proxies.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
/** The in-flight test's commandTimeout: twice its own timeout. */
const COMMAND_TIMEOUT = 60_000;
const WORKERS = 20;
const KILLS = 6;

/**
 * 20 workers create fresh sessions (then destroy them) while `kill` cuts the
 * connections KILLS times. Every answer must be true or StorageUnavailableError.
 */
async function underKills(sessions: RedisSessionStorage, authKeyId: bigint, kill: () => Promise<number>): Promise<{ resolved: number; failed: number }> {
  let resolved = 0;
  let failed = 0;
  const check = (id: bigint, outcome: boolean | Error, what: string) => {
    if (outcome instanceof Error) {
      expect(outcome, `${what} ${id}`).toMatchObject({ code: UNAVAILABLE });
      failed++;
    } else {
      expect(outcome, `${what} ${id}: a transition this call made`).toBe(true);
      resolved++;
    }
  };
  /** Calls `call` on ids from `ids` (until it runs out, or `stop`), killing every `step` calls KILLS times. */
  const run = async (what: string, call: (id: bigint) => Promise<boolean>, ids: () => bigint | undefined, step: number, until: () => boolean) => {
    let stop = false;
    let exhausted = false;
    let done = 0;
    let succeeded = 0;
    const next = (): bigint | undefined => {
      const id = ids();
      if (id === undefined) exhausted = true;
      return id;
    };
    const worker = async () => {
      for (let id = next(); id !== undefined && !stop; id = next()) {
        const outcome = await call(id).catch((e: Error) => e);
        check(id, outcome, what);
        done++;
        // While the connections are down, do not burn through the ids.
        if (outcome instanceof Error) await new Promise((resolve) => setTimeout(resolve, 50));
        else succeeded++;
      }
    };
    const workers = Array.from({ length: WORKERS }, worker);
    for (let k = 1; k <= KILLS; k++) {
      await eventually(() => succeeded >= (k * step) / 2 || exhausted, `${(k * step) / 2} answered ${what} calls before kill ${k}`, 20_000);
      // Calls that failed used up ids too: once none are left there is no traffic, and a
      // Cluster client reconnects a killed node only when a command needs it.
      if (exhausted) break;
      // Once the connections are back from the previous kill.
      await eventually(async () => (await kill()) > 0 || exhausted, `connections to kill at kill ${k} (${what})`, 20_000);
    }
    await eventually(until, `${what} calls after the last kill`, 20_000);
    stop = true;
    await Promise.all(workers);
    return done;
  };

  let next = 0n;
  const created = await run('createSession', (id) => sessions.createSession(authKeyId, id), () => next++, 50, () => next > BigInt((KILLS + 2) * 50));
  const stored = await sessions.listSessions(authKeyId);
  expect(stored.length).toBeGreaterThan(created / 2);
  const step = Math.floor(stored.length / (KILLS + 2));
  await run('destroySession', (id) => sessions.destroySession(authKeyId, id), () => stored.pop(), step, () => stored.length === 0);
  return { resolved, failed };
}

describe.runIf(cluster.available)('Redis Cluster resends what was in flight', () => {
  const redis = adminCluster();
  const prefix = `${randomName('resend')}:`;
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('createSession / destroySession answer true for every transition they made while connections are killed', async () => {
    const connectionName = randomName('resend-cluster');
    // The Cluster's defaults: retryDelayOnFailover 100 ms, so "Connection is closed." is retried.
    const sessions = new RedisSessionStorage({ cluster: { nodes: [clusterSeed()], options: { redisOptions: { connectionName } } }, prefix });
    await redis.connect().catch(() => {});
    // The connection to the master of auth key 77's slot, where the transitions are in
    // flight. Not every master's: the watch of node connections (connection.ts NodeWatch)
    // has each master's back at once, so killing them all would empty ioredis' pool at
    // every kill and the Cluster would reconnect as a whole, refusing every call ~100 ms
    // (no offline queue) and burning the ids; before it, only the first kill found them all.
    const slot = Number(await redis.cluster('KEYSLOT', `${prefix}auth:{77}:sessions`));
    const slots = await redis.cluster('SLOTS');
    const port = slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
    const master = redis.nodes('master').find((node) => node.options.port === port);
    if (master === undefined) throw new Error(`no master for slot ${slot}`);
    const kill = async () => (await killConnections(master, connectionName)).length;
    try {
      const { resolved } = await underKills(sessions, 77n, kill);
      expect(resolved).toBeGreaterThan(KILLS * 50);
    } finally {
      await sessions.close();
    }
  }, 120_000);
});

describe.runIf(single.available)('a single-server client that resends unfulfilled commands', () => {
  const redis = admin();
  const prefix = `${randomName('resend')}:`;
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('createSession / destroySession answer true for every transition they made while the connection is killed', async () => {
    const connectionName = randomName('resend-app');
    // ioredis' defaults, autoResendUnfulfilledCommands: true among them: the application's client.
    const client = new Redis(REDIS_URL, { connectionName });
    client.on('error', () => {});
    const sessions = new RedisSessionStorage({ client, prefix });
    try {
      const { resolved } = await underKills(sessions, 78n, async () => (await killConnections(redis, connectionName)).length);
      expect(resolved).toBeGreaterThan(KILLS * 50);
    } finally {
      await sessions.close();
      client.disconnect();
    }
  }, 120_000);
});

describe.runIf(single.available)('a command in flight when the connection is lost', () => {
  const redis = admin();
  const prefix = `${randomName('inflight')}:`;
  afterAll(async () => {
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('fails at once with StorageUnavailableError instead of waiting for commandTimeout, and the instance works on', async () => {
    const proxy = new HoldingProxy(REDIS_PORT);
    const url = `redis://127.0.0.1:${await proxy.listen()}`;
    // A commandTimeout twice this test's timeout: a call left to wait for it fails
    // the test (it did, with failInFlightOnLoss off); only noticing the loss settles it.
    const options = { commandTimeout: COMMAND_TIMEOUT };
    const storage = new RedisStorage({ url, options, prefix });
    const sessions = new RedisSessionStorage({ url, options, prefix });
    try {
      await Promise.all([storage.kv.set('k', new Uint8Array([1])), sessions.createSession(1n, 1n)]);
      proxy.hold = true;
      const calls = [storage.kv.get('k'), storage.load(), sessions.hasSession(1n, 1n), sessions.createSession(1n, 2n)].map((call) =>
        call.then(
          () => 'resolved',
          (error: Error) => error,
        ),
      );
      // Written to the socket, unanswered: in flight.
      await new Promise((resolve) => setTimeout(resolve, 100));
      proxy.hold = false;
      expect(proxy.cut()).toBe(2);
      const outcomes = await Promise.all(calls);
      // Not "Command timed out": the loss itself rejected them.
      for (const outcome of outcomes) expect(outcome).toMatchObject({ code: UNAVAILABLE, message: expect.stringContaining('connection was lost') });
      expect(await storage.kv.get('k')).toEqual(new Uint8Array([1]));
      expect(await sessions.hasSession(1n, 1n)).toBe(true);
      // Held commands never reached Redis.
      expect(await sessions.hasSession(1n, 2n)).toBe(false);
    } finally {
      await Promise.all([storage.close(), sessions.close()]);
      await proxy.close();
    }
  }, COMMAND_TIMEOUT / 2);

  /**
   * A storage through a HoldingProxy with kv `k` stored, and a `kv.get('k')` written to the
   * proxy and held there (in flight), as `call`'s outcome; `run` gets them, and the storage
   * and the proxy are closed after it.
   */
  async function withGetInFlight(run: (proxy: HoldingProxy, storage: RedisStorage, call: Promise<unknown>) => Promise<void>): Promise<void> {
    const proxy = new HoldingProxy(REDIS_PORT);
    const url = `redis://127.0.0.1:${await proxy.listen()}`;
    const storage = new RedisStorage({ url, options: { commandTimeout: COMMAND_TIMEOUT }, prefix });
    try {
      await storage.kv.set('k', new Uint8Array([1]));
      proxy.hold = true;
      const call = outcome(storage.kv.get('k'));
      while (proxy.held === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await run(proxy, storage, call);
    } finally {
      await storage.close();
      await proxy.close();
    }
  }

  it("the connection lost while close() waits for the call: it says the connection was lost with it in flight, not that close() cut it off", async () => {
    await withGetInFlight(async (proxy, storage, call) => {
      // close() lets the call finish first (CLOSE_GRACE_MS); the loss ends it meanwhile.
      const closed = storage.close();
      expect(proxy.cut()).toBe(1);
      const error = await call;
      expect(error).toMatchObject({ code: UNAVAILABLE, message: expect.stringContaining('the connection was lost with the command in flight: it may or may not have been applied') });
      expect((error as Error).message).not.toContain('the storage was closed');
      await closed;
    });
  }, COMMAND_TIMEOUT / 2);

  it('a reset connection (ECONNRESET before the close): the call says the connection was lost with it in flight, not the socket error', async () => {
    await withGetInFlight(async (proxy, storage, call) => {
      expect(proxy.reset()).toBe(1);
      // The socket's ECONNRESET is the connection's last error until it is ready again; it
      // stands in only for ioredis' bare "Connection is closed.", never for what the call said.
      expect(await call).toMatchObject({ code: UNAVAILABLE, message: expect.stringContaining('the connection was lost with the command in flight: it may or may not have been applied') });
      expect(await storage.kv.get('k')).toEqual(new Uint8Array([1]));
    });
  }, COMMAND_TIMEOUT / 2);
});
