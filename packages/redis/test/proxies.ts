/**
 * What the tests of calls cut off mid-flight share (aborted-pipeline, app-client-ended,
 * resend): a proxy that holds what clients send, a Cluster whose every node connection
 * goes through a proxy of the test's (ioredis' natMap), the node serving a session, and
 * a describe's prefixes and proxies, dropped and closed after it.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import type { Cluster, Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { adminCluster, clusterSeed, dropPrefix, randomName, REDIS_URL } from './helpers.js';

/** The port of the single test server (REDIS_URL). */
export const REDIS_PORT = Number(new URL(REDIS_URL).port || 6379);

/** A proxy: listens on 127.0.0.1 (any port), forwarding to one Redis node. */
export interface NodeProxy {
  listen(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of one Redis node: each client connection gets one to the node,
 * and what flows between the two is the subclass's `link`. Either side closing (or
 * `end()`) destroys both.
 */
export abstract class PairProxy implements NodeProxy {
  readonly #server = createServer((socket) => this.#accept(socket));
  readonly #pairs = new Set<[Socket, Socket]>();

  constructor(readonly target: number) {}

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  /** Wires the data of one client connection and its connection to the node; `end` drops both. */
  protected abstract link(client: Socket, upstream: Socket, end: () => void): void;

  #accept(socket: Socket): void {
    const upstream = connect(this.target, '127.0.0.1');
    const pair: [Socket, Socket] = [socket, upstream];
    this.#pairs.add(pair);
    const end = (): void => {
      this.#pairs.delete(pair);
      socket.destroy();
      upstream.destroy();
    };
    this.link(socket, upstream, end);
    socket.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  /** Drops every connection (`reset`: the client's side with a TCP RST, not a FIN); returns how many. */
  protected dropAll(reset = false): number {
    const count = this.#pairs.size;
    for (const [socket, upstream] of this.#pairs) {
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
      upstream.destroy();
    }
    return count;
  }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * Once `hold` is set, what clients send is swallowed (their commands are in flight:
 * written, never answered); `cut()` then drops every connection (a lost connection with
 * commands in flight).
 */
export class HoldingProxy extends PairProxy {
  hold = false;
  /** Chunks swallowed while holding. */
  held = 0;

  protected link(client: Socket, upstream: Socket): void {
    client.on('data', (chunk) => {
      if (this.hold) this.held++;
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
  }

  /** Drops every connection and stops holding; returns how many connections it dropped. */
  cut(): number {
    this.hold = false;
    return this.dropAll();
  }

  /** As cut(), with a TCP reset: the client's socket fails ECONNRESET before it closes. */
  reset(): number {
    this.hold = false;
    return this.dropAll(true);
  }
}

/** The outcome of `call`: 'resolved', or its rejection. */
export function outcome(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => 'resolved',
    (error: unknown) => error,
  );
}

/**
 * A describe's prefixes and proxies: made here, then after its tests the proxies are
 * closed and every key under the prefixes dropped, through `adminClient()`.
 */
export function suiteResources<P extends NodeProxy>(adminClient: () => Redis | Cluster): { prefix(label: string): string; proxy(made: P): P } {
  const prefixes: string[] = [];
  const proxies: P[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    const client = adminClient();
    try {
      for (const prefix of prefixes) await dropPrefix(client, prefix);
    } finally {
      client.disconnect();
    }
  });
  return {
    prefix(label) {
      const prefix = `${randomName(label)}:`;
      prefixes.push(prefix);
      return prefix;
    },
    proxy(made) {
      proxies.push(made);
      return made;
    },
  };
}

/** The test Cluster with a proxy (`make(port)`) in front of each master: the natMap that sends ioredis through them. */
export interface ProxiedCluster<P> {
  seed: { host: string; port: number };
  natMap: Record<string, { host: string; port: number }>;
  /** The proxy of the node that serves session `name`'s keys under `prefix` (they share one hash tag). */
  proxyOfSession(prefix: string, name: string): Promise<P>;
}

export async function proxiedCluster<P extends NodeProxy>(make: (port: number) => P): Promise<ProxiedCluster<P>> {
  const seed = clusterSeed();
  const probe = adminCluster();
  try {
    await probe.connect();
    const ports = probe.nodes('master').map((node) => node.options.port as number);
    const natMap: Record<string, { host: string; port: number }> = {};
    const byPort = new Map<number, P>();
    for (const port of ports) {
      const proxy = make(port);
      byPort.set(port, proxy);
      natMap[`${seed.host}:${port}`] = { host: '127.0.0.1', port: await proxy.listen() };
    }
    return {
      seed,
      natMap,
      async proxyOfSession(prefix, name) {
        const admin = adminCluster();
        try {
          const slots = await admin.cluster('SLOTS');
          const slot = Number(await admin.cluster('KEYSLOT', `${prefix}client:{${name}}:session`));
          const port = slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
          const proxy = byPort.get(port as number);
          if (proxy === undefined) throw new Error(`no proxy for the node of slot ${slot}`);
          return proxy;
        } finally {
          admin.disconnect();
        }
      },
    };
  } finally {
    probe.disconnect();
  }
}
