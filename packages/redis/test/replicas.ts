/**
 * A Redis Cluster of a test file's own with a replica per master (3 + 3 redis-server
 * processes), for failover tests. The shared test cluster (7000-7002) has masters only
 * and other files use it: nodes are killed here, so these are separate processes on
 * ports nothing else uses (RedisProcesses), without persistence. `dispose()` kills them
 * and removes their dirs (call it in afterAll).
 *
 * `--cluster-node-timeout 1000`: a killed master is marked failing after about a
 * second and its replica promoted a second or so later (measured here: 2.3 s from
 * SIGKILL to the replica answering ROLE master). `--cluster-replica-validity-factor 0`:
 * a replica always stands for election, however long since it heard its master (with
 * the default a loaded machine could leave a master's slots without one).
 * `--repl-diskless-sync-delay 0`: replicas get their first copy at once, not 5 s later.
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { eventually } from './helpers.js';
import { RedisProcesses } from './processes.js';

const run = promisify(execFile);

const HOST = '127.0.0.1';
/**
 * First port tried; a cluster bus listens on port + 10000 as well. Each test file that
 * starts a cluster passes a base of its own, 50 ports apart: two files in two workers
 * probing the same block at once would both find it free and both spawn on it.
 */
export const BASE_PORT = 7300;
/** Ports a file's search covers from its base (five blocks of ten). */
const PORT_RANGE = 50;
const NODE_TIMEOUT_MS = 1_000;

/** How a call made during a test ended (timed()). */
export interface Outcome {
  what: string;
  /** ms after `since` the call was made (negative: before). */
  at: number;
  /** How long it took; Infinity: not settled within the bound. */
  ms: number;
  error: (Error & { code?: string }) | undefined;
}

/** Runs `call`, recording when it was made (after `since`), how long it took (Infinity: not settled within `bound` ms) and how it ended; never rejects. */
export async function timed(what: string, since: number, call: () => Promise<unknown>, bound: number): Promise<Outcome> {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ what, at: start - since, ms: Infinity, error: undefined }), bound);
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

export interface NodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** A replica's master's id. */
  masterId: string | undefined;
  /** CLUSTER NODES flags include fail or pfail, or it is disconnected. */
  failing: boolean;
  /** CLUSTER NODES flags (`master`, `slave`, `myself`, `fail?`, `fail`…). */
  flags: string[];
  slots: string[];
}

/** Whether TCP `port` on 127.0.0.1 can be bound now (released at once). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports from `first` up (trying blocks 10 apart, up to PORT_RANGE
 * past it), each free with the ports `alsoFree` names for it: the servers a test starts
 * of its own (this Cluster, sentinel.ts' set) never meet another file's.
 */
export async function freePorts(first: number, count: number, what: string, alsoFree: (port: number) => number[] = () => []): Promise<number[]> {
  for (let base = first; base < first + PORT_RANGE; base += 10) {
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const free = await Promise.all(ports.flatMap((port) => [port, ...alsoFree(port)]).map(portFree));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`no ${what} from ${first} to ${first + PORT_RANGE - 1}`);
}

/** A short-lived connection to one node, never one under test. */
export function nodeClient(port: number): Redis {
  const client = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1_000, commandTimeout: 2_000, retryStrategy: () => null, connectionName: 'mtstore-test-admin' });
  client.on('error', () => {});
  return client;
}

/** `command` on node `port` over a connection of its own, closed after. */
export async function onNode<T>(port: number, command: (client: Redis) => Promise<T>): Promise<T> {
  const client = nodeClient(port);
  try {
    await client.connect();
    return await command(client);
  } finally {
    client.disconnect();
  }
}

/** Resolves once the replica of the master on `port` has acknowledged every write the master has (offsets equal). */
export async function replicated(port: number): Promise<void> {
  await eventually(async () => {
    const info = await onNode(port, (client) => client.info('replication'));
    const offset = /master_repl_offset:(\d+)/.exec(info)?.[1];
    const replica = /slave0:.*offset=(\d+)/.exec(info)?.[1];
    return offset !== undefined && offset === replica;
  }, `the replica of ${port} to catch up`);
}

/** Whether redis-server and redis-cli can be run here (for checkServer). */
export async function probeBinaries(): Promise<void> {
  await run('redis-server', ['--version']);
  await run('redis-cli', ['--version']);
}

export class ReplicatedCluster {
  readonly #processes = new RedisProcesses('replicas');

  private constructor(readonly ports: number[]) {}

  /**
   * Spawns six nodes and joins them into 3 masters + 3 replicas with
   * `redis-cli --cluster create --cluster-replicas 1`; resolves once every node sees
   * `cluster_state:ok` and every replica's link to its master is up (about 2 s).
   */
  static async start(basePort = BASE_PORT): Promise<ReplicatedCluster> {
    const cluster = new ReplicatedCluster(await freePorts(basePort, 6, 'six free ports (and their cluster bus ports)', (port) => [port + 10_000]));
    try {
      await Promise.all(cluster.ports.map((port) => cluster.startNode(port)));
      await run('redis-cli', ['--cluster', 'create', ...cluster.ports.map((port) => `${HOST}:${port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
      await cluster.waitHealthy();
      return cluster;
    } catch (error) {
      await cluster.dispose();
      throw error;
    }
  }

  /** Seed nodes as a caller passes them (`cluster.nodes`). */
  seeds(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: HOST, port }));
  }

  /** Starts (or restarts, with its nodes.conf: it rejoins) the node on `port`; resolves once it answers PING. */
  async startNode(port: number): Promise<void> {
    const dir = this.#processes.dirOf(port);
    const args = [
      '--port', String(port), '--bind', HOST, '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      '--cluster-replica-validity-factor', '0', '--repl-diskless-sync-delay', '0',
      '--save', '', '--appendonly', 'no', '--logfile', 'redis.log',
    ];
    await this.#processes.spawn(port, args, (p) => onNode(p, (client) => client.ping()), join(dir, 'redis.log'));
  }

  /** SIGKILL to the node on `port` (no shutdown, no last replication); resolves once it exited. */
  kill(port: number): Promise<void> {
    return this.#processes.kill(port);
  }

  /**
   * SIGSTOP / SIGCONT to the node on `port`: a stopped replica reads nothing its master
   * sends (the master acknowledges writes all the same: replication is asynchronous).
   */
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.#processes.signal(port, signal);
  }

  /** Resolves once the replica of the master on `port` has acknowledged every write the master has (offsets equal). */
  replicated(port: number): Promise<void> {
    return replicated(port);
  }

  /**
   * Commands received since the node started, by name (INFO commandstats; subcommands as
   * `cluster|slots`): run (`calls`) or refused before running (`rejected_calls`: a
   * replica answering MOVED, for one), so a command sent to the wrong node counts too.
   */
  async commandCalls(port: number): Promise<Map<string, number>> {
    const info = await onNode(port, (client) => client.info('commandstats'));
    const calls = new Map<string, number>();
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+).*rejected_calls=(\d+)/gm)) calls.set(match[1] as string, Number(match[2]) + Number(match[3]));
    return calls;
  }

  /** The ports of the nodes running. */
  live(): number[] {
    return this.#processes.live();
  }

  /** CLUSTER NODES as node `port` (default: the first live one) sees it. */
  async nodes(port = this.live()[0] as number): Promise<NodeInfo[]> {
    const text = (await onNode(port, (client) => client.cluster('NODES'))) as string;
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const [id = '', address = '', flags = '', master = '-', , , , link = '', ...slots] = line.split(' ');
        const flagList = flags.split(',');
        return {
          id,
          port: Number(address.split('@')[0]?.split(':')[1]),
          role: flagList.includes('master') ? 'master' : 'replica',
          masterId: master === '-' ? undefined : master,
          failing: flagList.includes('fail') || flagList.includes('fail?') || link !== 'connected',
          flags: flagList,
          slots,
        } satisfies NodeInfo;
      });
  }

  /** The port of the master serving `key`'s slot, and of its replica, as node `port` sees them. */
  async shardOf(key: string): Promise<{ master: number; replica: number }> {
    const port = this.live()[0] as number;
    const slot = Number(await onNode(port, (client) => client.cluster('KEYSLOT', key)));
    const nodes = await this.nodes(port);
    const master = nodes.find((node) => node.role === 'master' && node.slots.some((range) => inRange(slot, range)));
    const replica = nodes.find((node) => node.masterId === master?.id);
    if (master === undefined || replica === undefined) throw new Error(`slot ${slot}: no master with a replica`);
    return { master: master.port, replica: replica.port };
  }

  /**
   * Every live node answers `cluster_state:ok`, sees three masters that are not failing
   * (a failover over) and every other live node up as a replica of one of them, and
   * every live replica's replication link is up.
   */
  async waitHealthy(timeout = 20_000): Promise<void> {
    await eventually(() => this.#healthy().catch(() => false), 'the replicated cluster to be healthy', timeout);
  }

  async #healthy(): Promise<boolean> {
    for (const port of this.live()) {
      const info = (await onNode(port, (client) => client.cluster('INFO'))) as string;
      if (!info.includes('cluster_state:ok')) return false;
      const nodes = await this.nodes(port);
      const masters = nodes.filter((node) => node.role === 'master' && node.slots.length > 0 && !node.failing);
      if (masters.length !== 3) return false;
      // Every live node seen up, and each replica attached to one of those masters (a
      // master that came back is a replica only once the others have heard so).
      const up = nodes.filter((node) => this.live().includes(node.port) && !node.failing);
      if (up.length !== this.live().length) return false;
      if (!up.every((node) => node.role === 'master' ? masters.includes(node) : masters.some((master) => master.id === node.masterId))) return false;
      const replication = await onNode(port, (client) => client.info('replication'));
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
    }
    return true;
  }

  /** Kills every node and removes the temp dir. */
  dispose(): Promise<void> {
    return this.#processes.dispose();
  }
}

/** Whether `slot` is in one CLUSTER NODES slot field (`5461-10922` or `42`; migrating `[…]` ones are not). */
function inRange(slot: number, range: string): boolean {
  if (range.startsWith('[')) return false;
  const [from, to = from] = range.split('-').map(Number);
  return from !== undefined && to !== undefined && slot >= from && slot <= to;
}
