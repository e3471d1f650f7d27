/**
 * The bus survives a kill storm: its subscriber connection killed 40 times in a row (a
 * flapping link, a failover), often right when the connection has just come back and
 * SUBSCRIBE is in flight again. The bus runs in a child process with Node's default
 * for unhandled rejections (throw: the process exits 1), so a promise anything on the
 * subscriber leaves unhandled ends it. Afterwards the child is still alive (also after
 * the old 5 s command timeout has passed), its subscribers were told `live` last, and
 * an event published by another connection reaches it. Single server and Cluster.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkServer } from '@mtstore/conformance/vitest';
import type { SessionEvent } from '@mtstore/core';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionEventBus } from '../src/index.js';
import { clientList, clusterSeed, probe, probeCluster, randomName, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const here = dirname(fileURLToPath(import.meta.url));
/** The child runs the adapter's source, bundled next to the package (its dependencies stay external). */
const bundle = join(here, '..', `.bus-storm-${process.pid}.mjs`);
const KILLS = 40;
/** Longer than any command timeout of the old subscriber (5 s): a timer left on a lost SUBSCRIBE has fired by then. */
const SETTLE_MS = 6_500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function event(n: number): SessionEvent {
  return { type: 'created', authKeyId: BigInt(n), sessionId: BigInt(-n), origin: 'bus-storm-test' };
}

/** The bus in its own process, and what it reported. */
class BusChild {
  readonly states: string[] = [];
  readonly heard: string[] = [];
  readonly #child: ChildProcess;
  #stderr = '';
  readonly #exited: Promise<number | null>;
  readonly #subscribed: Promise<void>;

  constructor(mode: 'single' | 'cluster', address: string, prefix: string, connectionName: string) {
    this.#child = fork(join(here, 'children', 'bus-storm.mjs'), [bundle, mode, address, prefix, connectionName], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.#child.stderr?.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    this.#exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    this.#subscribed = new Promise((resolve, reject) => {
      this.#child.on('message', (message: { subscribed?: boolean; state?: string; event?: string }) => {
        if (message.subscribed) resolve();
        if (message.state !== undefined) this.states.push(message.state);
        if (message.event !== undefined) this.heard.push(message.event);
      });
      void this.#exited.then((code) => reject(new Error(`the bus process exited with ${code} before subscribing: ${this.#stderr}`)));
    });
  }

  subscribed(): Promise<void> {
    return this.#subscribed;
  }

  /** Throws once the process is gone: an unhandled rejection ends it with code 1 and the error on stderr. */
  assertAlive(): void {
    const code = this.#child.exitCode ?? this.#child.signalCode;
    if (code !== null) throw new Error(`the bus process died (exit ${code}): ${this.#stderr.trim()}`);
  }

  async close(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.send('close');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Polls `check` every 20 ms, failing at once when the bus process is gone. */
async function eventually(child: BusChild, check: () => Promise<boolean> | boolean, what: string, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    child.assertAlive();
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

type Moment = 'any' | 'resubscribing' | 'subscribed';

/**
 * Kills the connections named `name` on `nodes` `kills` times, with random gaps of 0-5
 * ms between polls. Each kill waits for a moment picked at random: `any` (as soon as the
 * connection shows up, often mid-handshake), `resubscribing` (the ready check answered:
 * the client is sending SUBSCRIBE again, or has just sent it) or `subscribed`. Returns
 * when the last kill happened.
 */
async function storm(child: BusChild, nodes: Redis[], name: string, kills: number): Promise<number> {
  const moments: Moment[] = ['resubscribing', 'resubscribing', 'resubscribing', 'any', 'subscribed'];
  let moment = moments[Math.floor(Math.random() * moments.length)] as Moment;
  let done = 0;
  let lastKill = Date.now();
  const deadline = Date.now() + 60_000;
  while (done < kills) {
    child.assertAlive();
    if (Date.now() > deadline) throw new Error(`the storm made only ${done} of ${kills} kills in 60 s`);
    const found = (await Promise.all(nodes.map(async (node) => (await clientList(node)).filter((c) => c.name === name).map((c) => ({ node, c }))))).flat();
    const victims = found.filter(({ c }) => moment === 'any' || (moment === 'subscribed' ? c.sub > 0 : c.cmd === 'info' || c.cmd === 'subscribe'));
    for (const { node, c } of victims) {
      if (Number(await node.client('KILL', 'ID', c.id)) > 0) {
        done++;
        lastKill = Date.now();
        moment = moments[Math.floor(Math.random() * moments.length)] as Moment;
      }
    }
    if (Math.random() < 0.5) await sleep(Math.random() * 5);
  }
  return lastKill;
}

/** The ports of every node of the test cluster (the subscriber may sit on any master, and move). */
async function clusterPorts(): Promise<number[]> {
  const seed = new Redis({ ...clusterSeed(), lazyConnect: true, connectionName: 'mtstore-test-admin' });
  try {
    const nodes = String(await seed.cluster('NODES')).split('\n').filter((line) => line.trim() !== '');
    return nodes.map((line) => Number(/:(\d+)@/.exec(line)?.[1]));
  } finally {
    seed.disconnect();
  }
}

async function stormAndCheck(mode: 'single' | 'cluster', address: string, ports: number[], publisherOptions: ConstructorParameters<typeof RedisSessionEventBus>[0]): Promise<void> {
  const prefix = `${randomName('storm')}:`;
  const connectionName = randomName(`storm-${mode}`);
  const subscriberName = `${connectionName}:events`;
  const host = mode === 'cluster' ? clusterSeed().host : new URL(REDIS_URL).hostname;
  const nodes = ports.map((port) => new Redis({ host, port, connectionName: 'mtstore-test-admin' }));
  const publisher = new RedisSessionEventBus({ ...publisherOptions, prefix });
  const child = new BusChild(mode, address, prefix, connectionName);
  try {
    await child.subscribed();
    await publisher.publish(event(1));
    await eventually(child, () => child.heard.includes('1'), 'the first event');

    const lastKill = await storm(child, nodes, subscriberName, KILLS);

    // Back: told `live` last, and an event published by another connection arrives.
    await eventually(child, () => child.states.at(-1) === 'live', 'live after the storm');
    let n = 1_000;
    await eventually(
      child,
      async () => {
        await publisher.publish(event(++n));
        await sleep(50);
        return child.heard.some((id) => Number(id) >= 1_000);
      },
      'an event after the storm',
    );
    // Still alive once any timer armed during the storm would have fired, still delivering.
    await sleep(Math.max(0, lastKill + SETTLE_MS - Date.now()));
    child.assertAlive();
    await publisher.publish(event(2));
    await eventually(child, () => child.heard.includes('2'), 'an event once the storm settled');
    expect(child.states.at(-1)).toBe('live');
    expect(child.states.filter((s) => s === 'lost').length).toBe(child.states.filter((s) => s === 'live').length);
    // One subscriber connection is left, subscribed: none leaked along the way.
    const left = (await Promise.all(nodes.map(async (node) => (await clientList(node)).filter((c) => c.name === subscriberName)))).flat();
    expect(left.map((c) => c.sub)).toEqual([1]);
    expect(await child.close()).toBe(0);
  } finally {
    await child.close();
    await publisher.close();
    nodes.forEach((node) => node.disconnect());
  }
}

describe.runIf(single.available || cluster.available)('the bus under a kill storm of its subscriber connection', () => {
  beforeAll(async () => {
    await build({ entryPoints: [join(here, '..', 'src', 'index.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: bundle, logLevel: 'silent' });
  });
  afterAll(() => rm(bundle, { force: true }));

  it.runIf(single.available)(`single server: ${KILLS} kills, the process survives and the bus ends live and delivering`, async () => {
    await stormAndCheck('single', REDIS_URL, [Number(new URL(REDIS_URL).port || 6379)], { url: REDIS_URL });
  }, 120_000);

  it.runIf(cluster.available)(`Cluster: ${KILLS} kills, the process survives and the bus ends live and delivering`, async () => {
    await stormAndCheck('cluster', REDIS_CLUSTER_URL, await clusterPorts(), { cluster: { nodes: [clusterSeed()] } });
  }, 120_000);
});
