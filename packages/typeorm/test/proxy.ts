/**
 * A loopback TCP proxy in front of a real server, for outage tests. `blackhole()` keeps
 * accepting connections but forwards nothing either way (existing ones freeze, new
 * ones are never linked to the server), as a server or network that went silent;
 * `forward()` delivers what was held and links new connections again.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  up: Socket | undefined;
  pendingUp: Buffer[];
  pendingDown: Buffer[];
}

export interface Proxy {
  readonly port: number;
  blackhole(): void;
  forward(): void;
  /** Resets every connection and stops listening. */
  close(): Promise<void>;
}

export async function openProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<Proxy> {
  const pairs = new Set<Pair>();
  let mode: 'forward' | 'blackhole' = 'forward';
  const link = (pair: Pair): void => {
    const up = connect(targetPort, targetHost);
    pair.up = up;
    up.on('error', () => {});
    up.on('data', (data: Buffer) => {
      if (mode === 'forward') pair.client.write(data);
      else pair.pendingDown.push(data);
    });
    up.on('close', () => {
      pair.client.destroy();
      pairs.delete(pair);
    });
    for (const data of pair.pendingUp.splice(0)) up.write(data);
  };
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const pair: Pair = { client, up: undefined, pendingUp: [], pendingDown: [] };
    pairs.add(pair);
    client.on('error', () => {});
    client.on('data', (data: Buffer) => {
      if (mode === 'forward' && pair.up) pair.up.write(data);
      else pair.pendingUp.push(data);
    });
    client.on('close', () => {
      pair.up?.destroy();
      pairs.delete(pair);
    });
    if (mode === 'forward') link(pair);
    else client.pause(); // not even read: a FIN or RST from the client goes unnoticed, as on a dead link
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    blackhole() {
      mode = 'blackhole';
      for (const pair of pairs) {
        pair.client.pause();
        pair.up?.pause();
      }
    },
    forward() {
      mode = 'forward';
      for (const pair of pairs) {
        if (!pair.up) link(pair);
        else for (const data of pair.pendingUp.splice(0)) pair.up.write(data);
        for (const data of pair.pendingDown.splice(0)) pair.client.write(data);
        pair.client.resume();
        pair.up?.resume();
      }
    },
    async close() {
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.up?.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
