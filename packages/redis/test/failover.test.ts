/**
 * Redis Cluster with a replica per master (test/replicas.ts: 3 + 3 redis-server
 * processes of this file's own, cluster-node-timeout 1 s), through storages opened the
 * way users open them (`cluster: { nodes }`, mtstore's defaults: commandTimeout 5 s,
 * retryDelayOnFailover 100 ms). The shared test cluster has no replicas; nothing else
 * exercises a failover.
 *
 * - Replicas get none of mtstore's calls (scaleReads 'master') and their connections
 *   make no slots refresh loop.
 * - A replica killed and started again changes nothing for callers.
 * - A master killed (SIGKILL): until its replica is promoted (about 2 s here; about
 *   cluster-node-timeout plus a second or two in general) a call for its slots waits
 *   and succeeds, or rejects with StorageUnavailableError saying what happened (never
 *   ioredis' bare "Connection is closed.", MOVED or CLUSTERDOWN), each settled within
 *   commandTimeout; then the same instances work again by themselves, with every write
 *   the replica had received.
 * - Replication is asynchronous: a write the master acknowledged and had not yet sent
 *   to its replica is gone once the replica takes over (README, Durability).
 */
import { authKey, checkServer, fullSession } from '@mtstore/conformance/vitest';
import type { ClusterOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import { eventually, plain, randomName } from './helpers.js';
import { onNode, probeBinaries, ReplicatedCluster, timed as timedWithin, type Outcome } from './replicas.js';

const binaries = await checkServer('redis-server and redis-cli (for a Cluster with replicas of the test\'s own)', 'redis-server', probeBinaries);

const UNAVAILABLE = 'MTSTORE_STORAGE_UNAVAILABLE';
/** mtstore's default commandTimeout (REDIS_DEFAULTS): no call may take longer, failover or not. */
const COMMAND_TIMEOUT_MS = 5_000;
/** ioredis' words as the reason the caller reads (after "<operation>(…) failed: "): what a failover must not look like. */
const RAW = /failed: (EXECABORT|MOVED|ASK|CLUSTERDOWN|TRYAGAIN|Cluster isn't ready|Too many Cluster redirections|Connection is closed\.$)/;
/** Server sessions of this many auth keys: slots on every master. */
const AUTH_KEYS = Array.from({ length: 12 }, (_, i) => BigInt(i));
/** Client sessions (one RedisStorage each). */
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

/** Commands mtstore reads with that Redis never replicates: on a replica they can only come from a client. */
const READS = ['get', 'mget', 'hget', 'hmget', 'hgetall', 'hkeys', 'hlen', 'hexists', 'exists', 'smembers', 'sismember', 'scard', 'zrange', 'zscore', 'zcard', 'scan', 'evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'pttl', 'type'];

/** A call timed as replicas.ts' timed(), taken as hung past twice commandTimeout. */
function timed(what: string, since: number, call: () => Promise<unknown>): Promise<Outcome> {
  return timedWithin(what, since, call, 2 * COMMAND_TIMEOUT_MS);
}

function sum(calls: Map<string, number>, names: readonly string[]): number {
  return names.reduce((total, name) => total + (calls.get(name) ?? 0), 0);
}

describe.runIf(binaries.available)('a Redis Cluster with a replica per master', () => {
  let cluster: ReplicatedCluster;

  beforeAll(async () => {
    cluster = await ReplicatedCluster.start();
  }, 30_000);

  afterAll(async () => {
    await cluster?.dispose();
  });

  /** Ports of masters and of replicas, as the cluster sees them now. */
  async function roles(): Promise<{ masters: number[]; replicas: number[] }> {
    const nodes = (await cluster.nodes()).filter((node) => cluster.live().includes(node.port) && !node.failing);
    return { masters: nodes.filter((node) => node.role === 'master').map((node) => node.port), replicas: nodes.filter((node) => node.role === 'replica').map((node) => node.port) };
  }

  /** The storages, on Clusters mtstore opens from the seed nodes with `options` (default: mtstore's). */
  function open(prefix: string, options: ClusterOptions = {}): { sessions: RedisSessionStorage; storages: RedisStorage[]; close: () => Promise<void> } {
    const nodes = cluster.seeds();
    const sessions = new RedisSessionStorage({ cluster: { nodes, options }, prefix });
    const storages = NAMES.map((name) => new RedisStorage({ cluster: { nodes, options }, prefix, name }));
    return { sessions, storages, close: async () => void (await Promise.all([sessions.close(), ...storages.map((storage) => storage.close())])) };
  }

  /** A round of writes and reads on every master: each client session saved and loaded, each auth key's sessions created and read. */
  async function round(sessions: RedisSessionStorage, storages: RedisStorage[], n: number): Promise<void> {
    await Promise.all([...storages.map((storage, i) => storage.save(fullSession(n * 10 + i))), ...AUTH_KEYS.map((id) => sessions.createSession(id, BigInt(n)))]);
    const loaded = await Promise.all(storages.map((storage) => storage.load()));
    expect(loaded.map(plain)).toEqual(storages.map((_, i) => fullSession(n * 10 + i)));
    expect(await Promise.all(AUTH_KEYS.map((id) => sessions.hasSession(id, BigInt(n))))).toEqual(AUTH_KEYS.map(() => true));
  }

  it('the storages work on it: no call goes to a replica, and the node connections make no slots refresh loop', async () => {
    const { sessions, storages, close } = open(`${randomName('replicas')}:`);
    try {
      const { masters, replicas } = await roles();
      expect(masters).toHaveLength(3);
      expect(replicas).toHaveLength(3);
      const before = await Promise.all(cluster.live().map((port) => cluster.commandCalls(port)));
      const started = Date.now();
      for (let n = 1; n <= 3; n++) await round(sessions, storages, n);
      // Idle for a while: a refresh loop (a node connection ending, refreshing, being added
      // and ending again) would show as CLUSTER SLOTS calls by the hundred.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const elapsed = Date.now() - started;
      const after = await Promise.all(cluster.live().map((port) => cluster.commandCalls(port)));
      const delta = (ports: number[], names: readonly string[]): number =>
        ports.reduce((total, port) => {
          const i = cluster.live().indexOf(port);
          return total + sum(after[i] as Map<string, number>, names) - sum(before[i] as Map<string, number>, names);
        }, 0);
      // The reads went to the masters (so the count below can see them) and none to a replica.
      expect(delta(masters, READS)).toBeGreaterThanOrEqual(3 * (NAMES.length + AUTH_KEYS.length));
      expect(delta(replicas, READS)).toBe(0);
      // Seven Clusters (one per instance): each refreshes at its connect and every
      // slotsRefreshInterval (5 s) after; allow twice that.
      const clusters = 1 + NAMES.length;
      console.info(`replicas: ${delta(masters, READS)} reads on the masters, ${delta(replicas, READS)} on the replicas; ${delta(cluster.live(), ['cluster|slots'])} CLUSTER SLOTS in ${elapsed} ms from ${clusters} Clusters`);
      expect(delta(cluster.live(), ['cluster|slots'])).toBeLessThanOrEqual(2 * clusters * (1 + Math.ceil(elapsed / 5_000)));
    } finally {
      await close();
    }
  });

  it('a replica killed (SIGKILL) and started again changes nothing for callers', async () => {
    const { sessions, storages, close } = open(`${randomName('replica-killed')}:`);
    try {
      await round(sessions, storages, 1);
      const { replicas } = await roles();
      const victim = replicas[0] as number;
      const since = Date.now();
      const outcomes: Outcome[] = [];
      let stop = false;
      const load = (async () => {
        for (let n = 2; !stop; n++) {
          outcomes.push(...(await Promise.all([...AUTH_KEYS.map((id) => timed(`createSession ${id}`, since, () => sessions.createSession(id, BigInt(n)))), ...storages.map((storage, i) => timed(`load ${NAMES[i]}`, since, () => storage.load()))])));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      await cluster.kill(victim);
      // Marked failed by the others (after cluster-node-timeout, 1 s), then back, synced again.
      await eventually(async () => (await cluster.nodes()).some((node) => node.port === victim && node.flags.includes('fail')), `replica ${victim} marked failed`);
      await cluster.startNode(victim);
      await cluster.waitHealthy();
      await new Promise((resolve) => setTimeout(resolve, 500));
      stop = true;
      await load;
      expect(outcomes.length).toBeGreaterThan(100);
      expect(outcomes.filter((outcome) => outcome.error !== undefined).map((outcome) => `${outcome.what}: ${outcome.error?.message}`)).toEqual([]);
      // Local round trips: nothing waited for a failover or a timeout.
      expect(Math.max(...outcomes.map((outcome) => outcome.ms))).toBeLessThan(1_000);
      await round(sessions, storages, 99);
    } finally {
      await close();
    }
  });

  // mtstore's defaults; retries 10 ms apart (ioredis gives up after 160 ms, long before
  // the promotion: every stage of the failover reaches callers as a rejection); and node
  // connections that reconnect (the killed master's keeps trying until the promotion).
  it.each([
    ['mtstore\'s defaults', {}],
    ['retryDelayOnFailover and retryDelayOnClusterDown 10 ms', { retryDelayOnFailover: 10, retryDelayOnClusterDown: 10 }],
    ['clusterNodeRetryStrategy (node connections reconnect instead of ending)', { clusterNodeRetryStrategy: (attempt: number) => Math.min(attempt * 100, 2_000) }],
  ] as [string, ClusterOptions][])('a master killed (SIGKILL), %s: calls wait or reject StorageUnavailableError within commandTimeout, then the same instances work again, with every write the replica had', async (_, options) => {
    const { sessions, storages, close } = open(`${randomName('master-killed')}:`, options);
    try {
      await round(sessions, storages, 1);
      const { master, replica } = await cluster.shardOf(`{${AUTH_KEYS[0]}}`);
      // Acknowledged and on the replica: these must survive the failover.
      const { masters } = await roles();
      await Promise.all(masters.map((port) => cluster.replicated(port)));

      const since = Date.now();
      const pending: Promise<Outcome[]>[] = [];
      let stop = false;
      // Calls on every master from before the kill until after the promotion, every 50 ms:
      // some are in flight at the kill, the others meet each stage of the failover.
      const load = (async () => {
        for (let n = 2; !stop; n++) {
          const calls = [
            ...AUTH_KEYS.map((id) => timed(`createSession ${id}`, since, () => sessions.createSession(id, BigInt(n)))),
            ...AUTH_KEYS.map((id) => timed(`hasSession ${id}`, since, () => sessions.hasSession(id, 1n))),
            ...storages.map((storage, i) => timed(`load ${NAMES[i]}`, since, () => storage.load())),
          ];
          pending.push(Promise.all(calls));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const killed = Date.now();
      await cluster.kill(master);
      await eventually(async () => (await onNode(replica, (client) => client.role()))[0] === 'master', `replica ${replica} promoted`, 20_000);
      const promoted = Date.now() - killed;
      await cluster.waitHealthy();
      // Then the same instances work by themselves: a whole round of calls on every master succeeds.
      let rounds = 0;
      await eventually(async () => {
        rounds++;
        const done = await Promise.all([...AUTH_KEYS.map((id) => timed('hasSession', since, () => sessions.hasSession(id, 1n))), ...storages.map((storage) => timed('load', since, () => storage.load()))]);
        return done.every((outcome) => outcome.error === undefined);
      }, 'every call to succeed after the failover', 10_000);
      stop = true;
      await load;
      const outcomes = (await Promise.all(pending)).flat();

      const failed = outcomes.filter((outcome) => outcome.error !== undefined);
      const during = outcomes.filter((outcome) => outcome.at >= killed - since && outcome.at <= killed - since + promoted);
      console.info(
        `failover: replica ${replica} promoted ${promoted} ms after master ${master} was killed; ${outcomes.length} calls, ${during.length} made during the failover, ${failed.length} rejected, the longest took ${Math.max(...outcomes.map((outcome) => outcome.ms))} ms; ${rounds} check rounds after it`,
      );
      expect(during.length).toBeGreaterThan(0);
      // Every call settled within commandTimeout: resolved, or StorageUnavailableError in mtstore's words.
      expect(outcomes.filter((outcome) => outcome.ms >= COMMAND_TIMEOUT_MS).map((outcome) => `${outcome.what} at ${outcome.at} ms: ${outcome.ms} ms`)).toEqual([]);
      expect(failed.filter((outcome) => outcome.error?.code !== UNAVAILABLE).map((outcome) => `${outcome.what}: ${String(outcome.error)}`)).toEqual([]);
      if (process.env.FAILOVER_MESSAGES) console.info([...new Set(failed.map((outcome) => outcome.error?.message.replace(/\(.*?\)/, '(…)')))].join('\n'));
      expect([...new Set(failed.map((outcome) => outcome.error?.message.replace(/\(.*?\) failed/, '(…) failed')).filter((message) => RAW.test(message ?? '')))]).toEqual([]);

      // What the replica had is there, read through the instances that lived through it.
      expect(await Promise.all(AUTH_KEYS.map((id) => sessions.hasSession(id, 1n)))).toEqual(AUTH_KEYS.map(() => true));
      expect((await Promise.all(storages.map((storage) => storage.load()))).every((session) => session !== null)).toBe(true);
      await round(sessions, storages, 99);

      // The old master comes back as a replica of the new one.
      await cluster.startNode(master);
      await cluster.waitHealthy();
      expect((await onNode(master, (client) => client.role()))[0]).toBe('slave');
    } finally {
      await close();
    }
  }, 60_000);

  it('a write the master acknowledged before its replica received it is lost when the replica takes over (replication is asynchronous)', async () => {
    const storage = new RedisStorage({ cluster: { nodes: cluster.seeds() }, prefix: `${randomName('write-loss')}:`, name: 'alice' });
    try {
      const { master, replica } = await cluster.shardOf('{alice}');
      await storage.save(fullSession(3));
      await storage.authKeys.set(2, authKey(21));
      await cluster.replicated(master);

      // The replica stops (SIGSTOP) and the master drops its replication link: nothing
      // the master takes from now on reaches the replica (a stopped replica alone would
      // still find the bytes in its socket buffer), and the master acknowledges every
      // write at once all the same. As a replica lagging behind or cut off by the network.
      cluster.signal(replica, 'SIGSTOP');
      try {
        expect(await onNode(master, (client) => client.client('KILL', 'TYPE', 'replica'))).toBe(1);
        await storage.authKeys.set(4, authKey(41));
        await storage.saveUpdateState({ pts: 500, qts: 1, date: 1_700_000_000, seq: 1 });
        expect(plain(await storage.authKeys.get(4))).toEqual(authKey(41));
        expect((await storage.load())?.state?.pts).toBe(500);
        await cluster.kill(master);
      } finally {
        cluster.signal(replica, 'SIGCONT');
      }
      await eventually(async () => (await onNode(replica, (client) => client.role()))[0] === 'master', `replica ${replica} promoted`, 20_000);
      await cluster.waitHealthy();

      // The same instance, once it reaches the new master: what the replica had is there;
      // the auth key and the state it had not received are gone (for a client: a new login).
      await eventually(() => storage.authKeys.get(2).then(() => true, () => false), 'a read on the new master', 10_000);
      expect(plain(await storage.authKeys.get(2))).toEqual(authKey(21));
      expect(await storage.authKeys.get(4)).toBeNull();
      expect((await storage.load())?.state?.pts).toBe(fullSession(3).state?.pts);

      await cluster.startNode(master);
      await cluster.waitHealthy();
    } finally {
      await storage.close();
    }
  }, 60_000);

  it('min-replicas-to-write on the master: a write while its replica lags is refused (StorageUnavailableError, NOREPLICAS), not acknowledged and lost', async () => {
    const storage = new RedisStorage({ cluster: { nodes: cluster.seeds() }, prefix: `${randomName('min-replicas')}:`, name: 'alice' });
    try {
      const { master, replica } = await cluster.shardOf('{alice}');
      await storage.authKeys.set(2, authKey(21));
      await onNode(master, (client) => client.config('SET', 'min-replicas-to-write', '1', 'min-replicas-max-lag', '1'));
      cluster.signal(replica, 'SIGSTOP');
      try {
        // The master counts a replica whose last acknowledgement is over 1 s old as gone.
        let refused: (Error & { code?: string }) | undefined;
        await eventually(async () => {
          refused = await storage.authKeys.set(4, authKey(41)).then(
            () => undefined,
            (error: Error) => error,
          );
          return refused !== undefined;
        }, 'a write to be refused', 10_000);
        expect(refused?.code).toBe(UNAVAILABLE);
        expect(refused?.message).toContain('NOREPLICAS');
        // Reads go on.
        expect(plain(await storage.authKeys.get(2))).toEqual(authKey(21));
      } finally {
        cluster.signal(replica, 'SIGCONT');
        await onNode(master, (client) => client.config('SET', 'min-replicas-to-write', '0'));
      }
      await cluster.waitHealthy();
    } finally {
      await storage.close();
    }
  }, 30_000);
});
