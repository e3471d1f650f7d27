/**
 * A Redis Sentinel set-up of a test file's own: one master, one replica and three
 * sentinels (`redis-server <conf> --sentinel`), for failover tests. Nodes are killed
 * here, so these are separate processes on ports nothing else uses (RedisProcesses; the
 * shared servers, 6379 and 7000-7002, are left alone), without persistence. `dispose()`
 * kills them and removes their dirs (call it in afterAll).
 *
 * Started in well under a second: each sentinel's config names the others and the
 * replica (`sentinel myid`, `known-sentinel`, `known-replica`), so nothing waits for
 * the sentinels' hello messages (every 2 s) to find each other. `down-after-milliseconds
 * 1000`: a killed master is subjectively down after a second, objectively (quorum 2) at
 * the next exchange, and the replica promoted after a leader is elected (Sentinel adds
 * up to a second of random delay there). `failover-timeout 3000`: a failover that
 * stalled is retried soon.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { eventually } from './helpers.js';
import { RedisProcesses } from './processes.js';
import { freePorts, onNode, replicated } from './replicas.js';

const HOST = '127.0.0.1';
/** First port tried (a block of five: master, replica, three sentinels); blocks 10 apart. */
export const SENTINEL_BASE_PORT = 7600;
export const MASTER_NAME = 'mymaster';
const DOWN_AFTER_MS = 1_000;
const FAILOVER_TIMEOUT_MS = 3_000;

/** A short-lived connection to a sentinel, never one under test. */
async function onSentinel<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, commandTimeout: 2_000, retryStrategy: () => null, enableReadyCheck: false });
  client.on('error', () => {});
  try {
    await client.connect();
    return await command(client);
  } finally {
    client.disconnect();
  }
}

export class SentinelSet {
  readonly #processes = new RedisProcesses('sentinel');
  /** The port of the master when started (`master()` for the one now). */
  readonly firstMaster: number;
  readonly firstReplica: number;
  readonly sentinelPorts: number[];

  private constructor(ports: number[]) {
    [this.firstMaster, this.firstReplica] = ports as [number, number];
    this.sentinelPorts = ports.slice(2);
  }

  /** Spawns the five processes; resolves once the replica's link is up and every sentinel sees the master, the replica and the two other sentinels. */
  static async start(basePort = SENTINEL_BASE_PORT): Promise<SentinelSet> {
    const set = new SentinelSet(await freePorts(basePort, 5, 'five free ports'));
    try {
      await set.#startServer(set.firstMaster, []);
      await set.#startServer(set.firstReplica, ['--replicaof', HOST, String(set.firstMaster)]);
      const ids = set.sentinelPorts.map(() => randomBytes(20).toString('hex'));
      await Promise.all(set.sentinelPorts.map((port, i) => set.#startSentinel(port, ids, i)));
      await eventually(() => set.#healthy().catch(() => false), 'the sentinel set to be up', 10_000);
      return set;
    } catch (error) {
      await set.dispose();
      throw error;
    }
  }

  /** What a storage's `options` take to reach the master through the sentinels. */
  sentinels(): { host: string; port: number }[] {
    return this.sentinelPorts.map((port) => ({ host: HOST, port }));
  }

  #startServer(port: number, extra: string[]): Promise<void> {
    const dir = this.#processes.dirOf(port);
    const args = ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--logfile', 'redis.log', ...extra];
    return this.#processes.spawn(port, args, (p) => onNode(p, (client) => client.ping()), join(dir, 'redis.log'));
  }

  #startSentinel(port: number, ids: string[], index: number): Promise<void> {
    const dir = this.#processes.dirOf(port);
    const conf = join(dir, 'sentinel.conf');
    const others = this.sentinelPorts.flatMap((other, i) => (i === index ? [] : [`sentinel known-sentinel ${MASTER_NAME} ${HOST} ${other} ${ids[i]}`]));
    writeFileSync(
      conf,
      [
        `port ${port}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        'logfile sentinel.log',
        `sentinel myid ${ids[index]}`,
        `sentinel monitor ${MASTER_NAME} ${HOST} ${this.firstMaster} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        `sentinel known-replica ${MASTER_NAME} ${HOST} ${this.firstReplica}`,
        ...others,
        '',
      ].join('\n'),
    );
    return this.#processes.spawn(port, [conf, '--sentinel'], (p) => onSentinel(p, (client) => client.ping()), join(dir, 'sentinel.log'));
  }

  async #healthy(): Promise<boolean> {
    const replication = await onNode(this.firstReplica, (client) => client.info('replication'));
    if (!replication.includes('master_link_status:up')) return false;
    for (const port of this.sentinelPorts) {
      const master = (await onSentinel(port, (client) => client.call('SENTINEL', 'MASTER', MASTER_NAME))) as string[];
      const fields = new Map<string, string>();
      for (let i = 0; i + 1 < master.length; i += 2) fields.set(master[i] as string, master[i + 1] as string);
      if (fields.get('flags') !== 'master' || fields.get('num-slaves') !== '1' || fields.get('num-other-sentinels') !== '2') return false;
      const replicas = (await onSentinel(port, (client) => client.call('SENTINEL', 'REPLICAS', MASTER_NAME))) as string[][];
      if (!replicas.some((fieldList) => fieldList.join(' ').includes('flags slave') && !fieldList.join(' ').includes('disconnected'))) return false;
    }
    return true;
  }

  /** The master's port as sentinel `port` (default: the first live one) names it. */
  async master(port = this.sentinelPorts.find((p) => this.#processes.live().includes(p)) as number): Promise<number> {
    const [, masterPort] = (await onSentinel(port, (client) => client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME))) as [string, string];
    return Number(masterPort);
  }

  /** `SENTINEL FAILOVER`: the sentinels promote the replica with the master still up (as for maintenance). */
  async failover(): Promise<void> {
    await onSentinel(this.sentinelPorts[0] as number, (client) => client.call('SENTINEL', 'FAILOVER', MASTER_NAME));
  }

  /** Connections subscribed on the sentinels (theirs to each other are not: what ioredis' failoverDetector opens). */
  async sentinelSubscribers(): Promise<number> {
    let count = 0;
    for (const port of this.sentinelPorts) {
      const text = (await onSentinel(port, (client) => client.call('CLIENT', 'LIST'))) as string;
      count += text.split('\n').filter((line) => /\bsub=[1-9]/.test(line)).length;
    }
    return count;
  }

  /** SIGKILL to the process on `port` (no shutdown, no last replication); resolves once it exited. */
  kill(port: number): Promise<void> {
    return this.#processes.kill(port);
  }

  /** Resolves once the replica of the master on `port` has acknowledged every write the master has (offsets equal). */
  replicated(port: number): Promise<void> {
    return replicated(port);
  }

  /** Kills every process and removes the temp dir. */
  dispose(): Promise<void> {
    return this.#processes.dispose();
  }
}
