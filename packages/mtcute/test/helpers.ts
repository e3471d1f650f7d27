import type { ITelegramConnection, ITelegramStorageProvider, tl } from '@mtcute/core';
import type { BaseTelegramClientOptions } from '@mtcute/core/client.js';
import { getMe } from '@mtcute/core/methods.js';
import { LogManager, type BasicDcOption } from '@mtcute/core/utils.js';
import { NodePlatform } from '@mtcute/node';
import { StubTelegramClient } from '@mtcute/test/client.js';
import { StubTelegramTransport } from '@mtcute/test/transport.js';
import type { Storage } from '@mtstore/core';
import type { AdapterCase, Backend } from '@mtstore/test-adapters';
import { afterEach, beforeEach, expect } from 'vitest';
import type { MtcuteStorage } from '../src/index.js';

export const platform = new NodePlatform();

/** A logger that prints nothing (mtcute's level OFF). */
export function quietLog(): LogManager {
  const log = new LogManager(undefined, platform);
  log.level = LogManager.OFF;
  return log;
}

/**
 * A fresh backend of `adapter` for each test of the enclosing describe, and the function
 * that opens session `name` (default `defaultName`) on it. What it opened is closed after
 * each test, before the backend is disposed.
 */
export function backendPerTest(adapter: AdapterCase, defaultName: string): (name?: string) => Storage {
  let backend: Backend;
  const opened: Storage[] = [];
  beforeEach(async () => {
    backend = await adapter.backend();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await backend.dispose();
  });
  return (name = defaultName) => {
    const storage = backend.open(name);
    opened.push(storage);
    return storage;
  };
}

/**
 * @mtcute/test's transport with a connection that never answers: what mtcute writes goes
 * nowhere and a read waits until the connection is closed. @mtcute/test's own
 * (StubTelegramTransport's FakeConnection) wakes a waiting read whenever the client writes,
 * with nothing to read: the read returns 0 bytes, which mtcute's reader (@fuman/io's
 * FramedReader) takes for the end of the stream and answers null from then on, at once;
 * mtcute's read loop (PersistentConnection._onOpen: `while (true) { const msg = await
 * reader.read(); ... }`) then asks again for ever, a loop of microtasks in which no timer,
 * socket or vitest timeout runs again: the worker at 100% CPU, no output, until killed.
 * These tests answer API calls in `mt.call` and never need the connection, but mtcute's
 * client opens it on its first call and writes on its own: its first flush, 1 s after the
 * connection opened, sends a ping once one is due (performance.now() past the ping
 * interval, 60 s, which a vitest worker running several files is). A client still open
 * 1 s after its first call (a test slowed by a loaded machine) so hung the whole run:
 * caught in outage.test.ts ('save() and authKeys.set reject…') during a full run on a
 * loaded machine (stub-client.test.ts shows the mechanism).
 */
export class SilentTransport extends StubTelegramTransport {
  constructor() {
    super({});
  }

  override async connect(dc: BasicDcOption): Promise<ITelegramConnection> {
    const fake = await super.connect(dc);
    return {
      localAddress: fake.localAddress,
      remoteAddress: fake.remoteAddress,
      // Waits until close(), then throws @fuman's ConnectionClosedError (what mtcute expects).
      read: (into: Uint8Array) => fake.read(into),
      write: async () => {},
      close: () => fake.close(),
    };
  }
}

/**
 * The StubTelegramClient of these tests (mtcute's client code, never the network) on
 * `storage`, over SilentTransport: every test makes its clients here, never with `new
 * StubTelegramClient` (whose transport can hang the run, see SilentTransport).
 */
export function stubClient(storage: ITelegramStorageProvider, options: Partial<BaseTelegramClientOptions> = {}): StubTelegramClient {
  return new StubTelegramClient({ storage, logLevel: 0, platform, transport: new SilentTransport(), ...options });
}

/** An API call as the stub client's `mt.call` receives it. */
export type Call = { _: string } & Record<string, unknown>;

/**
 * A real mtcute client (StubTelegramClient: mtcute's client code over a stub transport,
 * never the network) on `storage`, whose "server" answers getMe with `self`; any other
 * API call fails the test.
 */
export function getMeClient(storage: ITelegramStorageProvider, self: tl.TypeUser, options: Pick<Partial<BaseTelegramClientOptions>, 'testMode' | 'defaultDcs' | 'network'> = {}): StubTelegramClient {
  const tg = stubClient(storage, options);
  tg.log.mgr.level = 0;
  (tg.mt as unknown as { call: (c: Call) => Promise<unknown> }).call = async (c: Call) => {
    if (c._ === 'users.getUsers') return [self];
    throw new Error(`unexpected API call ${c._}`);
  };
  return tg;
}

/** What mtcute's network layer and client do on a fresh session that logs in where it started (its default DC): a key for that DC, the user stored; then the client stops. */
export async function logInWhereStarted(tg: StubTelegramClient, authKey: Uint8Array): Promise<void> {
  await tg.prepare();
  await tg.mt.storage.provider.authKeys.set(tg.mt._defaultDcs.main.id, authKey);
  await getMe(tg);
  await tg.mt.storage.save();
  await tg.destroy();
}

/** mtcute's storages are used this way by its client: setup, then load. */
export async function loadProvider(provider: MtcuteStorage): Promise<void> {
  provider.driver.setup?.(quietLog(), platform);
  await provider.driver.load?.();
}

/**
 * An object whose properties are read from `get()` at call time: mtcute's suites
 * take their repository when the tests are collected, the backend exists only once
 * `beforeAll` ran. Methods are the target's own, bound to it.
 */
export function late<T extends object>(get: () => T): T {
  return new Proxy({} as T, {
    get(_target, prop) {
      const target = get() as Record<string | symbol, unknown>;
      const value = target[prop];
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type Tester = Parameters<typeof expect.addEqualityTesters>[0][number];

interface PeerInfoLike {
  id: number;
  accessHash: string;
  isMin: boolean;
  usernames: string[];
  updated: number;
  complete: Uint8Array;
}

function isPeerInfo(value: unknown): value is PeerInfoLike {
  return typeof value === 'object' && value !== null && 'accessHash' in value && 'isMin' in value && 'updated' in value && 'complete' in value;
}

/**
 * mtcute's PeerInfo.updated is milliseconds (`Date.now()`); mtstore stores epoch
 * seconds, so the bridge returns it rounded down to the second. mtcute's peers suite
 * compares `updated: 666` exactly: this tester compares `updated` at the precision
 * mtstore keeps (whole seconds) and every other field exactly.
 */
export function compareUpdatedInSeconds(): void {
  const peerInfoEquals: Tester = function (a, b, testers) {
    if (!isPeerInfo(a) || !isPeerInfo(b)) return undefined;
    const { updated: ua, ...ra } = a;
    const { updated: ub, ...rb } = b;
    return Math.floor(ua / 1000) === Math.floor(ub / 1000) && this.equals(ra, rb, testers);
  };
  expect.addEqualityTesters([peerInfoEquals]);
}
