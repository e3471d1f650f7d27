/**
 * A loopback TCP proxy to the test server, so a test can cut one client's
 * connections as a network failure would (`cut()` resets every socket through it;
 * the proxy keeps accepting, so the client reconnects by itself).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { MONGODB_URL } from './server.js';

export interface Proxy {
  /** MONGODB_URL's database and options through the proxy. */
  url(database: string): string;
  /** Resets every connection through the proxy and refuses new ones for `ms` (the driver retries a read once at once). */
  cut(ms?: number): void;
  close(): Promise<void>;
}

export async function openProxy(): Promise<Proxy> {
  const target = new URL(MONGODB_URL);
  const sockets = new Set<Socket>();
  let refuseUntil = 0;
  const server: Server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port || 27017), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const cut = (ms = 0): void => {
    refuseUntil = Date.now() + ms;
    for (const socket of sockets) socket.resetAndDestroy();
  };
  return {
    url(database) {
      const url = new URL(MONGODB_URL);
      url.host = `127.0.0.1:${port}`;
      url.pathname = `/${database}`;
      url.searchParams.set('directConnection', 'true');
      return url.href;
    },
    cut,
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
