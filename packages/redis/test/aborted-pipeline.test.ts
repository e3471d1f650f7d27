/**
 * A MULTI or pipeline that Redis had partly answered when its connection closed. ioredis
 * rejects the commands after the last reply it read with its bare "Command aborted due
 * to connection close", though Redis may well have run them (here it got the whole
 * MULTI … EXEC). Callers got StorageUnavailableError "… failed: Command aborted due to
 * connection close"; now they are told, as for every other call cut off, that it may or
 * may not have been applied: a lost connection (single server, Cluster node, the
 * application's client), close() cutting off a server gone silent mid-reply, and the
 * application quitting its own client. Auto-pipelined calls (concurrent kv.set, bus
 * publish) are one pipeline too.
 */
import type { Socket } from 'node:net';
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisSessionEventBus, RedisStorage } from '../src/index.js';
import { admin, adminCluster, causeMessages, probe, probeCluster, REDIS_CLUSTER_URL, REDIS_URL } from './helpers.js';
import { outcome, PairProxy, proxiedCluster, REDIS_PORT, suiteResources } from './proxies.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));
const cluster = await checkServer('redis-cluster', REDIS_CLUSTER_URL, probeCluster);

const MAY_OR_MAY_NOT = 'it may or may not have been applied';

/**
 * A TCP proxy in front of one Redis node. Armed with `cut` or `hold`, the connection
 * that next sends something gets only the first line of Redis's next reply (the `+OK`
 * of a MULTI, the `:1` of the first HSET of a pipeline), then is cut (both sides
 * destroyed: a lost connection) or held (nothing more either way, no FIN: a server gone
 * silent mid-reply). A client closing its side closes the server's too.
 */
class PartialReplyProxy extends PairProxy {
  #armed: 'cut' | 'hold' | undefined;
  /** How many connections got a partial reply. */
  partial = 0;

  arm(mode: 'cut' | 'hold'): void {
    this.#armed = mode;
  }

  protected link(socket: Socket, upstream: Socket, end: () => void): void {
    /** This connection's next reply is cut short. */
    let target: 'cut' | 'hold' | undefined;
    let held = false;
    socket.on('data', (chunk) => {
      if (held) return;
      if (this.#armed !== undefined && target === undefined) {
        target = this.#armed;
        this.#armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (held) return;
      if (target === undefined) {
        socket.write(chunk);
        return;
      }
      socket.write(chunk.subarray(0, chunk.indexOf('\r\n') + 2));
      this.partial++;
      held = true;
      if (target === 'cut') end();
    });
  }
}

function expectMayOrMayNot(error: unknown, saying: string): void {
  expect(error).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining(MAY_OR_MAY_NOT) });
  expect((error as Error).message).toContain(saying);
  expect((error as Error).message).not.toContain('Command aborted');
  // ioredis' own error stays reachable as the cause (docs/contract.md §8).
  expect(causeMessages(error)).toContain('Command aborted due to connection close');
}

/**
 * close() while the server went silent mid-reply (the proxy holds the rest of the reply
 * to a save's MULTI after its +OK): the save it cuts off says it may or may not have been
 * applied, and has settled by the time close() resolves.
 */
async function expectSaveCutOffByClose(storage: RedisStorage, proxy: PartialReplyProxy): Promise<void> {
  proxy.arm('hold');
  let settled = false;
  const save = outcome(storage.save(fullSession(3))).finally(() => {
    settled = true;
  });
  await storage.close();
  expect(settled).toBe(true);
  expect(proxy.partial).toBe(1);
  expectMayOrMayNot(await save, 'the storage was closed');
}

describe.runIf(single.available)('a MULTI or pipeline partly answered when the connection closed (single server)', () => {
  const made = suiteResources<PartialReplyProxy>(admin);

  async function open(): Promise<{ proxy: PartialReplyProxy; url: string; prefix: string }> {
    const proxy = made.proxy(new PartialReplyProxy(REDIS_PORT));
    const prefix = made.prefix('aborted');
    return { proxy, url: `redis://127.0.0.1:${await proxy.listen()}`, prefix };
  }

  it('connection lost: a save (MULTI … EXEC after its +OK) and the second of two auto-pipelined kv.set say they may or may not have been applied', async () => {
    const { proxy, url, prefix } = await open();
    const storage = new RedisStorage({ url, prefix, name: 'alice' });
    try {
      await storage.save(fullSession(2));
      proxy.arm('cut');
      const save = await outcome(storage.save(fullSession(3)));
      expect(proxy.partial).toBe(1);
      expectMayOrMayNot(save, 'connection was lost');

      await storage.kv.set('warm', Uint8Array.of(0));
      proxy.arm('cut');
      const [first, second] = await Promise.all([outcome(storage.kv.set('a', Uint8Array.of(1))), outcome(storage.kv.set('b', Uint8Array.of(2)))]);
      expect(proxy.partial).toBe(2);
      // The first was answered before the cut.
      expect(first).toBe('resolved');
      expectMayOrMayNot(second, 'connection was lost');
      // The instance works on over a new connection.
      expect(await storage.kv.get('a')).toEqual(Uint8Array.of(1));
    } finally {
      await storage.close();
    }
  });

  it('connection lost: the second of two auto-pipelined bus publishes says it may or may not have been applied', async () => {
    const { proxy, url, prefix } = await open();
    const bus = new RedisSessionEventBus({ url, prefix });
    try {
      await bus.publish({ type: 'destroyed', authKeyId: 1n, sessionId: 1n, origin: 'test' });
      proxy.arm('cut');
      const [first, second] = await Promise.all([
        outcome(bus.publish({ type: 'destroyed', authKeyId: 1n, sessionId: 2n, origin: 'test' })),
        outcome(bus.publish({ type: 'destroyed', authKeyId: 1n, sessionId: 3n, origin: 'test' })),
      ]);
      expect(proxy.partial).toBe(1);
      expect(first).toBe('resolved');
      expectMayOrMayNot(second, 'connection was lost');
    } finally {
      await bus.close();
    }
  });

  it('close() while Redis went silent mid-reply: the save it cuts off says it may or may not have been applied, before close() resolves', async () => {
    const { proxy, url, prefix } = await open();
    const storage = new RedisStorage({ url, prefix, name: 'alice' });
    await storage.save(fullSession(2));
    await expectSaveCutOffByClose(storage, proxy);
  });

  it("the application's client: lost (ioredis resends the rest), and quit by the application mid-reply", async () => {
    const { proxy, url, prefix } = await open();
    const client = new Redis(url, { lazyConnect: true });
    client.on('error', () => {});
    const storage = new RedisStorage({ client, prefix, name: 'alice' });
    try {
      await storage.save(fullSession(2));
      proxy.arm('cut');
      expectMayOrMayNot(await outcome(storage.save(fullSession(3))), 'connection was lost');
      expect(proxy.partial).toBe(1);

      await storage.load();
      proxy.arm('hold');
      const save = outcome(storage.save(fullSession(4)));
      // Sent, its +OK read, the rest held.
      while (proxy.partial < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      client.disconnect();
      // The client's words for a command in flight, not those for a call made once the client had ended.
      expectMayOrMayNot(await save, 'the client passed in was closed by its application (quit() or disconnect()) with the command in flight');
    } finally {
      await storage.close();
      client.disconnect();
    }
  });
});

describe.runIf(cluster.available)('a MULTI partly answered when a node connection closed (Cluster, every node behind a proxy)', () => {
  const made = suiteResources<PartialReplyProxy>(adminCluster);

  /** A Cluster storage whose node connections all go through proxies (natMap), and the proxy of the node holding the session. */
  async function open(): Promise<{ storage: RedisStorage; proxy: PartialReplyProxy }> {
    const nodes = await proxiedCluster((port) => made.proxy(new PartialReplyProxy(port)));
    const prefix = made.prefix('aborted');
    const storage = new RedisStorage({ cluster: { nodes: [nodes.seed], options: { natMap: nodes.natMap } }, prefix, name: 'alice' });
    await storage.save(fullSession(2));
    const proxy = await nodes.proxyOfSession(prefix, 'alice');
    return { storage, proxy };
  }

  it('connection lost: the save says it may or may not have been applied, and the next one works', async () => {
    const { storage, proxy } = await open();
    try {
      proxy.arm('cut');
      expectMayOrMayNot(await outcome(storage.save(fullSession(3))), 'connection was lost');
      expect(proxy.partial).toBe(1);
      await storage.save(fullSession(4));
      expect((await storage.load())?.homeDcId).toBe(fullSession(4).homeDcId);
    } finally {
      await storage.close();
    }
  });

  it('close() while the node went silent mid-reply: the save says it may or may not have been applied, before close() resolves', async () => {
    const { storage, proxy } = await open();
    await expectSaveCutOffByClose(storage, proxy);
  });
});
