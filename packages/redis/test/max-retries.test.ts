/**
 * Calls ioredis gives up on after `maxRetriesPerRequest` failed reconnects: it rejects
 * the commands written to the lost socket and those queued while no socket was
 * connected with one error, "Reached the max retries per request limit (which is N)".
 * Each call says which it was (docs/contract.md §9): one in flight when the connection
 * dropped "may or may not have been applied", one made while the client was
 * reconnecting "was not sent". With `maxRetriesPerRequest: 0` both come from the drop
 * itself; with mtstore's default 3 the queued call fails after the fourth refused
 * reconnect. Before the fix every one of them said only ioredis' words.
 */
import { checkServer, fullSession } from '@mtstore/conformance/vitest';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { RedisStorage } from '../src/index.js';
import { admin, causeMessages, probe, REDIS_URL } from './helpers.js';
import { HoldingProxy, outcome, REDIS_PORT, suiteResources } from './proxies.js';

const single = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

const MAY_OR_MAY_NOT = {
  code: 'MTSTORE_STORAGE_UNAVAILABLE',
  message: expect.stringMatching(/in flight.*it may or may not have been applied/),
};

const NOT_SENT = {
  code: 'MTSTORE_STORAGE_UNAVAILABLE',
  message: expect.stringMatching(/the call was not sent, nothing of it was applied/),
};

/** Reconnects every 50 ms: the test does not wait long for the refused attempts. */
/** The call in flight may or may not have been applied, the queued one was not sent, and neither says the other. */
function expectSentAndUnsent(inFlight: unknown, queued: unknown): void {
  expect(inFlight).toMatchObject(MAY_OR_MAY_NOT);
  expect((inFlight as Error).message).not.toContain('not sent');
  expect(queued).toMatchObject(NOT_SENT);
  expect((queued as Error).message).not.toContain('may or may not');
  // ioredis' own error stays reachable as the cause (docs/contract.md §8).
  for (const error of [inFlight, queued]) expect(causeMessages(error)).toContainEqual(expect.stringContaining(MAX_RETRIES));
}

const MAX_RETRIES = 'Reached the max retries per request limit';

const FAST_RETRIES = { retryStrategy: (): number => 50 } satisfies RedisOptions;

describe.runIf(single.available)('calls ioredis gives up on after maxRetriesPerRequest', () => {
  const made = suiteResources<HoldingProxy>(admin);

  /**
   * A storage through a proxy: a call written to the socket and unanswered when the
   * proxy goes away (and refuses every reconnect), then a call made while the client
   * reconnects.
   */
  async function inFlightThenQueued(open: (url: string, prefix: string) => { storage: RedisStorage; client?: Redis }, { reconnectFirst = false } = {}): Promise<[unknown, unknown]> {
    const proxy = made.proxy(new HoldingProxy(REDIS_PORT));
    const { storage, client } = open(`redis://127.0.0.1:${await proxy.listen()}`, made.prefix('retries'));
    try {
      await storage.save(fullSession(2));
      if (reconnectFirst) {
        // The connection drops and the client connects again, the proxy still there: the calls below go over its second socket.
        const ready = new Promise((resolve) => client?.once('ready', resolve));
        expect(proxy.cut()).toBe(1);
        await ready;
        await storage.load();
      }
      proxy.hold = true;
      const inFlight = outcome(storage.kv.set('k', Uint8Array.of(1)));
      while (proxy.held === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await proxy.close();
      const first = await inFlight;
      // No socket is connected now: this one waits in ioredis' offline queue until a refused reconnect fails it.
      const queued = await outcome(storage.kv.get('k'));
      return [first, queued];
    } finally {
      await storage.close();
      client?.disconnect();
    }
  }

  it('maxRetriesPerRequest 0 on a connection mtstore opens: the call in flight may or may not have been applied, the queued one was not sent', async () => {
    const [inFlight, queued] = await inFlightThenQueued((url, prefix) => ({
      storage: new RedisStorage({ url, prefix, name: 'alice', options: { maxRetriesPerRequest: 0, ...FAST_RETRIES } }),
    }));
    expectSentAndUnsent(inFlight, queued);
  }, 15_000);

  it("maxRetriesPerRequest 0 on the application's client: the same", async () => {
    const [inFlight, queued] = await inFlightThenQueued((url, prefix) => {
      const client = new Redis(url, { maxRetriesPerRequest: 0, ...FAST_RETRIES });
      client.on('error', () => {});
      return { storage: new RedisStorage({ client, prefix, name: 'alice' }), client };
    });
    expectSentAndUnsent(inFlight, queued);
  }, 15_000);

  it("maxRetriesPerRequest 0 on the application's client, after a reconnect: the call in flight on the new socket may or may not have been applied, the queued one was not sent", async () => {
    // A SocketLog that missed the 'connect' events (said the client never connected) took
    // a call run after the first 'close' as unsent, the one in flight on the second socket too.
    const [inFlight, queued] = await inFlightThenQueued(
      (url, prefix) => {
        const client = new Redis(url, { maxRetriesPerRequest: 0, ...FAST_RETRIES });
        client.on('error', () => {});
        return { storage: new RedisStorage({ client, prefix, name: 'alice' }), client };
      },
      { reconnectFirst: true },
    );
    expectSentAndUnsent(inFlight, queued);
  }, 15_000);

  it("mtstore's defaults (maxRetriesPerRequest 3): the call queued while Redis refuses connections was not sent", async () => {
    const [inFlight, queued] = await inFlightThenQueued((url, prefix) => ({
      storage: new RedisStorage({ url, prefix, name: 'alice', options: FAST_RETRIES }),
    }));
    // Failed at the drop itself, by failInFlightOnLoss.
    expect(inFlight).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('connection was lost with the command in flight') });
    expect(queued).toMatchObject(NOT_SENT);
  }, 15_000);
});
