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
 */
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import { eventually, plain, randomName } from './helpers.js';
import { probeBinaries, ReplicatedCluster } from './replicas.js';

const binaries = await checkServer('redis-server and redis-cli (for a Cluster with replicas of the test\'s own)', 'redis-server', probeBinaries);

/** mtstore's default commandTimeout (REDIS_DEFAULTS). */
const COMMAND_TIMEOUT_MS = 5_000;
/** Server sessions of this many auth keys: slots on every master. */
const AUTH_KEYS = Array.from({ length: 12 }, (_, i) => BigInt(i));
/** Client sessions (one RedisStorage each). */
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

/** Commands mtstore reads with that Redis never replicates: on a replica they can only come from a client. */
const READS = ['get', 'mget', 'hget', 'hmget', 'hgetall', 'hkeys', 'hlen', 'hexists', 'exists', 'smembers', 'sismember', 'scard', 'zrange', 'zscore', 'zcard', 'scan', 'evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'pttl', 'type'];

interface Outcome {
  what: string;
  /** ms after the kill the call was made (negative: before). */
  at: number;
  ms: number;
  error: (Error & { code?: string }) | undefined;
}

/** Runs `call`, recording when it was made, how long it took (Infinity: not settled within twice commandTimeout) and how it ended; never rejects. */
async function timed(what: string, since: number, call: () => Promise<unknown>): Promise<Outcome> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ what, at: start - since, ms: Infinity, error: undefined }), 2 * COMMAND_TIMEOUT_MS);
  });
  const settled = call().then(
    (): Outcome => ({ what, at: start - since, ms: Date.now() - start, error: undefined }),
    (error: unknown): Outcome => ({ what, at: start - since, ms: Date.now() - start, error: error as Error }),
  );
  try {
    return await Promise.race([settled, hung]);
  } finally {
    clearTimeout(timer);
  }
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

  function open(prefix: string): { sessions: RedisSessionStorage; storages: RedisStorage[]; close: () => Promise<void> } {
    const nodes = cluster.seeds();
    const sessions = new RedisSessionStorage({ cluster: { nodes }, prefix });
    const storages = NAMES.map((name) => new RedisStorage({ cluster: { nodes }, prefix, name }));
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
});
