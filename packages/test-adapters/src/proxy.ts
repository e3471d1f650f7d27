/**
 * A loopback TCP proxy in front of a real server, so a test can take the network away
 * from the clients it points at the proxy, as a failure would, while the server itself
 * (shared with other test runs) is never touched:
 *
 * - `drop()` resets every connection through it (a server restart, a killed backend);
 *   new ones are still accepted, so a client reconnects by itself.
 * - `down()` resets them and refuses new ones until `up()` (the server is gone and its
 *   host answers with RST); `cut(ms)` does the same for `ms` only.
 * - `blackhole()` keeps every connection open and accepts new ones but forwards nothing
 *   either way: a peer that went silent (a network partition, a NAT that dropped the
 *   flow, a host that vanished). Nothing tells the client: no FIN, no RST; a close by
 *   the client is not passed on either. `up()` heals it: the held connections get what
 *   was held and carry on, as TCP retransmissions would. `up({ resume: false })` is the
 *   silently dead peer: the held connections stay silent for good (what they carry is
 *   dropped) and only connections made from then on reach the server.
 * - `forget()` closes the server side of every connection open now and tells the client
 *   nothing until it sends on one: then that connection is reset (a NAT or firewall that
 *   lost the flow's state, a server host that restarted: the next segment is answered with
 *   RST). New connections are forwarded as before. An idle pooled connection so finds out
 *   it is dead only when a call uses it.
 *
 * One copy for every package's tests. It lives here, with no import beyond node:net,
 * so that the adapters' own tests can import its source by relative path: they cannot
 * depend on this package, which depends on them.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** What happens to new connections: linked to the server, reset at once, or held silent. */
export type ProxyMode = 'forward' | 'refuse' | 'blackhole';

export interface ProxyUpOptions {
  /**
   * Whether connections held by `blackhole()` carry on (default true: a partition that
   * healed). false: they stay silent for good, as on a flow a NAT forgot or to a host
   * that was replaced; the client only learns it by a timeout of its own.
   */
  resume?: boolean;
}

export interface Proxy {
  /** Where the proxy listens: always 127.0.0.1. */
  readonly host: string;
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections open through the proxy now (held and silently dead ones included). */
  readonly connections: number;
  /**
   * The target URL with the proxy as its host (only when the proxy was opened on a URL);
   * `database` replaces its path. A mongodb:// URL gets `directConnection=true`, or the
   * driver would go on to the hosts the server names, around the proxy.
   */
  url(database?: string): string;
  /** Resets every connection through the proxy now; new ones are still accepted (the mode does not change). */
  drop(): void;
  /** Resets every connection and refuses new ones for `ms` (default 0: only the reset), then forwards again. */
  cut(ms?: number): void;
  /** Resets every connection and refuses new ones until `up()`. */
  down(): void;
  /**
   * Closes the server side of every connection open now; each stays open towards its
   * client, silent, until the client sends on it: then it is reset. New connections are
   * forwarded (the mode does not change).
   */
  forget(): void;
  /** From now on forwards nothing either way on any connection, open or new, and tells nobody. */
  blackhole(): void;
  /** Forwards again (see ProxyUpOptions for the connections a blackhole held). */
  up(options?: ProxyUpOptions): void;
  /** Resets every connection and stops listening. */
  close(): Promise<void>;
}

/** Ports by URL scheme, for a target URL that names none. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  'postgres:': 5432,
  'postgresql:': 5432,
  'redis:': 6379,
  'rediss:': 6379,
  'mongodb:': 27017,
  'mysql:': 3306,
  'mariadb:': 3306,
};

/**
 * One client connection and its link to the server. `live`: bytes flow; `held`: a
 * blackhole keeps them (both sockets paused; a FIN from either side is kept and passed
 * on only if the blackhole heals); `dead`: silent for good, what arrives is dropped
 * (the sockets are read only to notice when the client gives up, so the server side is
 * freed).
 */
interface Pair {
  readonly client: Socket;
  up: Socket | undefined;
  state: 'live' | 'held' | 'dead';
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
  /** The server closed while held: the client hears it once the blackhole heals. */
  serverClosed: boolean;
  /** The client sent FIN. Node emits 'end' even on a paused socket, so a held pair must remember it. */
  clientEnded: boolean;
  /** Dead by `forget()`: the client's next bytes are answered with a reset. */
  forgotten?: boolean;
}

const ignore = (): void => {};

/**
 * Opens a proxy to `target`: a server URL (postgres://, redis://, mongodb://, mysql://…),
 * or a port (on `targetHost`, default 127.0.0.1). It starts forwarding.
 */
export async function openProxy(target: string | URL | number, targetHost = '127.0.0.1'): Promise<Proxy> {
  let targetUrl: URL | undefined;
  let targetPort: number;
  if (typeof target === 'number') {
    targetPort = target;
  } else {
    targetUrl = new URL(target);
    targetHost = targetUrl.hostname.replace(/^\[|\]$/g, '');
    const port = targetUrl.port === '' ? DEFAULT_PORTS[targetUrl.protocol] : Number(targetUrl.port);
    if (port === undefined) throw new Error(`openProxy: no port in ${targetUrl.protocol} URL and no default for it`);
    targetPort = port;
  }
  if (!Number.isInteger(targetPort) || targetPort <= 0 || targetPort > 65_535) throw new Error(`openProxy: bad target port ${targetPort}`);

  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'forward';
  let cutTimer: NodeJS.Timeout | undefined;

  const flush = (pair: Pair): void => {
    for (const data of pair.toServer.splice(0)) pair.up?.write(data);
    for (const data of pair.toClient.splice(0)) pair.client.write(data);
  };

  const link = (pair: Pair): void => {
    const up = connect(targetPort, targetHost);
    pair.up = up;
    up.on('error', ignore);
    up.on('data', (data: Buffer) => {
      if (pair.state === 'live') pair.client.write(data);
      else if (pair.state === 'held') pair.toClient.push(data);
    });
    // The server ended its side: so does the client's, unless the link is silent.
    up.on('end', () => {
      if (pair.state === 'live') pair.client.end();
    });
    up.on('close', () => {
      if (pair.state === 'live') pair.client.destroy();
      else if (pair.state === 'held') pair.serverClosed = true;
      // dead: the client never hears of it.
    });
  };

  // allowHalfOpen: a client's FIN is passed on (or not, while silent) by the handlers
  // below, not answered by Node on the proxy's behalf.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    client.on('error', ignore);
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, up: undefined, state: mode === 'forward' ? 'live' : 'held', toServer: [], toClient: [], serverClosed: false, clientEnded: false };
    pairs.add(pair);
    client.on('data', (data: Buffer) => {
      if (pair.state === 'live') pair.up?.write(data);
      else if (pair.state === 'held') pair.toServer.push(data);
      else if (pair.forgotten === true) client.resetAndDestroy();
    });
    client.on('end', () => {
      pair.clientEnded = true;
      if (pair.state === 'live') pair.up?.end();
      // A dead pair is read only to notice this: free both sides.
      else if (pair.state === 'dead') client.destroy();
      // held: passed on (or acted on) when the blackhole ends, in up().
    });
    client.on('close', () => {
      pair.up?.destroy();
      pairs.delete(pair);
    });
    if (pair.state === 'live') link(pair);
    // Accepted but never linked while held: the client's handshake goes nowhere.
    else client.pause();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;

  const clearCut = (): void => {
    clearTimeout(cutTimer);
    cutTimer = undefined;
  };
  const drop = (): void => {
    for (const pair of pairs) {
      pair.state = 'dead';
      pair.client.resetAndDestroy();
      pair.up?.destroy();
    }
    pairs.clear();
  };
  const down = (): void => {
    clearCut();
    mode = 'refuse';
    drop();
  };
  const up = (options: ProxyUpOptions = {}): void => {
    clearCut();
    mode = 'forward';
    const resume = options.resume ?? true;
    for (const pair of pairs) {
      if (pair.state !== 'held') continue;
      if (!resume) {
        // Silent for good: read both sides only to drop what comes and notice the client's close.
        pair.state = 'dead';
        pair.toServer.length = 0;
        pair.toClient.length = 0;
        pair.client.resume();
        pair.up?.resume();
        if (pair.clientEnded) pair.client.destroy();
        continue;
      }
      pair.state = 'live';
      if (pair.up === undefined) link(pair);
      flush(pair);
      pair.client.resume();
      pair.up?.resume();
      if (pair.clientEnded) pair.up?.end();
      if (pair.serverClosed) pair.client.end();
    }
  };

  return {
    host: '127.0.0.1',
    port,
    get mode() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    url(database) {
      if (targetUrl === undefined) throw new Error('Proxy.url: the proxy was opened on a port, not a URL');
      const url = new URL(targetUrl.href);
      url.hostname = '127.0.0.1';
      url.port = String(port);
      if (database !== undefined) url.pathname = `/${database}`;
      if (url.protocol === 'mongodb:') url.searchParams.set('directConnection', 'true');
      return url.href;
    },
    drop,
    forget() {
      for (const pair of pairs) {
        if (pair.state === 'dead') continue;
        pair.state = 'dead';
        pair.forgotten = true;
        pair.toServer.length = 0;
        pair.toClient.length = 0;
        pair.up?.destroy();
        pair.client.resume();
        if (pair.clientEnded) pair.client.destroy();
      }
    },
    cut(ms = 0) {
      if (ms <= 0) {
        drop();
        return;
      }
      down();
      cutTimer = setTimeout(() => {
        cutTimer = undefined;
        mode = 'forward';
      }, ms);
      cutTimer.unref();
    },
    down,
    blackhole() {
      clearCut();
      mode = 'blackhole';
      for (const pair of pairs) {
        if (pair.state !== 'live') continue;
        pair.state = 'held';
        pair.client.pause();
        pair.up?.pause();
      }
    },
    up,
    async close() {
      clearCut();
      mode = 'refuse';
      drop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * `promise`, or a rejection naming `what` if it is still pending after `ms`: what a client
 * does while a proxy is dark fails the test clearly instead of running into its timeout.
 */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
