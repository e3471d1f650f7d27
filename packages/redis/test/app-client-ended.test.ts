/**
 * The application's own client, closed by the application (disconnect() / quit())
 * while a call of mtstore's is in flight on it, at a moment where ioredis itself never
 * settles the call:
 *
 * - Cluster: a node connection drops with the command in flight; the Cluster holds the
 *   command back (retryDelayOnFailover, 100 ms) before resending it. disconnect() in
 *   that window leaves the Cluster in status `close` (its node connections' ends each
 *   set it again after its one 'end'), and the resend parks the command in its offline
 *   queue for good.
 * - Single server: the connection drops with the command in flight; ioredis waits to
 *   reconnect (retryStrategy). disconnect() in that wait only cancels the reconnect:
 *   status stays `reconnecting`, no event comes, the command stays queued for good.
 *
 * The call rejects with StorageUnavailableError "… closed by its application … it may
 * or may not have been applied", and the storage's close() resolves (docs/contract.md
 * §9). Before the fix both calls and close() hung for ever (the test timeouts below).
 * A bus's publish on such a client once it is closed for good is refused unsent: it
 * said "may or may not have been applied" after quit(), and after a disconnect() that
 * came while the client waited to reconnect (there ioredis queued it, and the watch
 * rejected it when the reconnect was due).
 */
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisSessionEventBus, RedisStorage } from '../src/index.js';
import { admin, adminCluster, causeMessages, probe, probeCluster, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';
import { HoldingProxy, outcome, proxiedCluster, REDIS_PORT, suiteResources } from './proxies.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const CLOSED_MAY_OR_MAY_NOT = {
  code: 'MTSTORE_STORAGE_UNAVAILABLE',
  message: expect.stringMatching(/closed by its application.*it may or may not have been applied/),
};

const CLOSED_NOT_SENT = {
  code: 'MTSTORE_STORAGE_UNAVAILABLE',
  message: expect.stringMatching(/closed by its application.*The call was not sent: nothing of it was applied/),
};

/** `call` rejects saying it may or may not have been applied, and the storage's close() resolves once it has. */
async function expectSettledBeforeClose(call: Promise<unknown>, storage: RedisStorage): Promise<void> {
  let settled = false;
  const outcome = call.finally(() => {
    settled = true;
  });
  await storage.close();
  expect(settled).toBe(true);
  expect(await outcome).toMatchObject(CLOSED_MAY_OR_MAY_NOT);
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe.runIf(cluster.available)("the application's Cluster client, disconnected while it holds back a command to resend", () => {
  const made = suiteResources<HoldingProxy>(adminCluster);

  it('the call rejects StorageUnavailableError (may or may not have been applied) and close() resolves', async () => {
    const nodes = await proxiedCluster((port) => made.proxy(new HoldingProxy(port)));
    const prefix = made.prefix('appended');
    // ioredis' defaults (offline queue on, retryDelayOnFailover 100 ms): the application's.
    const client = new Cluster([nodes.seed], { natMap: nodes.natMap });
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix, name: 'alice' });
    try {
      await storage.save(fullSession(2));
      const proxy = await nodes.proxyOfSession(prefix, 'alice');

      proxy.hold = true;
      const load = outcome(storage.kv.get('k'));
      await until(() => proxy.held > 0);
      // The node connection drops: "Connection is closed.", which the Cluster resends after 100 ms.
      const dropped = new Promise((resolve) => client.once('-node', resolve));
      expect(proxy.cut()).toBe(1);
      // The Cluster has seen the command fail and holds it back (its node connection ended).
      await dropped;
      client.disconnect();
      await expectSettledBeforeClose(load, storage);
    } finally {
      await storage.close();
      client.disconnect();
    }
  }, 15_000);
});

describe.runIf(single.available)("the application's single-server client, disconnected while it waits to reconnect", () => {
  const made = suiteResources<HoldingProxy>(admin);

  it('the call rejects StorageUnavailableError (may or may not have been applied) and close() resolves', async () => {
    const proxy = made.proxy(new HoldingProxy(REDIS_PORT));
    const prefix = made.prefix('appended');
    // ioredis' defaults (resend on, no commandTimeout), reconnecting 1 s after a drop.
    const client = new Redis(`redis://127.0.0.1:${await proxy.listen()}`, { retryStrategy: () => 1_000 });
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix, name: 'alice' });
    try {
      await storage.save(fullSession(2));
      proxy.hold = true;
      const load = outcome(storage.load());
      await until(() => proxy.held > 0);
      expect(proxy.cut()).toBe(1);
      await until(() => client.status === 'reconnecting');
      client.disconnect();
      await expectSettledBeforeClose(load, storage);
      // The client stays 'reconnecting' for good: a call made now is refused unsent, not queued for ever.
      expect(client.status).toBe('reconnecting');
      const other = new RedisStorage({ client, prefix, name: 'bob' });
      expect(await outcome(other.kv.get('k'))).toMatchObject(CLOSED_NOT_SENT);
      await other.close();
    } finally {
      await storage.close();
      client.disconnect();
    }
  }, 15_000);
});

describe.runIf(single.available)("the application's client, closed by the application mid-call", () => {
  const made = suiteResources<HoldingProxy>(admin);

  it('a call in flight may or may not have been applied; one made after the client ended was not sent', async () => {
    const proxy = made.proxy(new HoldingProxy(REDIS_PORT));
    const prefix = made.prefix('appended');
    const client = new Redis(`redis://127.0.0.1:${await proxy.listen()}`);
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix, name: 'alice' });
    try {
      await storage.save(fullSession(2));
      proxy.hold = true;
      const set = outcome(storage.kv.set('k', Uint8Array.of(1)));
      await until(() => proxy.held > 0);
      // Written, unanswered: ioredis rejects it "Connection is closed." when the socket closes.
      client.disconnect();
      expect(await set).toMatchObject(CLOSED_MAY_OR_MAY_NOT);
      expect(client.status).toBe('end');
      const after = await outcome(storage.kv.get('k'));
      expect(after).toMatchObject(CLOSED_NOT_SENT);
      expect((after as Error).message).not.toContain('may or may not');
      // ioredis' own error stays reachable as the cause (docs/contract.md §8).
      for (const error of [await set, after]) expect(causeMessages(error)).toContain('Connection is closed.');
    } finally {
      await storage.close();
      client.disconnect();
    }
  }, 15_000);
});

describe.runIf(single.available)("a bus's publish on the application's client once the application closed it for good", () => {
  const made = suiteResources<HoldingProxy>(admin);
  const event = { type: 'created', authKeyId: 1n, sessionId: 2n, origin: 'test' } as const;

  it('after quit() (status end): StorageUnavailableError, the call was not sent', async () => {
    const client = new Redis(REDIS_URL);
    client.on('error', () => {});
    const bus = new RedisSessionEventBus({ client, prefix: made.prefix('bus-quit') });
    try {
      await bus.publish(event);
      await client.quit();
      // QUIT is answered before the socket closes: closed for good once it has.
      await until(() => client.status === 'end');
      const refused = await outcome(bus.publish(event));
      expect(refused).toMatchObject(CLOSED_NOT_SENT);
      expect((refused as Error).message).not.toContain('may or may not');
    } finally {
      await bus.close();
      client.disconnect();
    }
  });

  it('after disconnect() while it waited to reconnect: StorageUnavailableError, the call was not sent, and close() resolves', async () => {
    const proxy = made.proxy(new HoldingProxy(REDIS_PORT));
    const client = new Redis(`redis://127.0.0.1:${await proxy.listen()}`, { retryStrategy: () => 1_000 });
    client.on('error', () => {});
    const bus = new RedisSessionEventBus({ client, prefix: made.prefix('bus-reconnecting') });
    try {
      await bus.publish(event);
      expect(proxy.cut()).toBe(1);
      await until(() => client.status === 'reconnecting');
      client.disconnect();
      // ioredis would queue it for good: the client stays 'reconnecting' and no event comes.
      const refused = await outcome(bus.publish(event));
      expect(client.status).toBe('reconnecting');
      expect(refused).toMatchObject(CLOSED_NOT_SENT);
      expect((refused as Error).message).not.toContain('may or may not');
      await bus.close();
    } finally {
      await bus.close();
      client.disconnect();
    }
  }, 15_000);
});
