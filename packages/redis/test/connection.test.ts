/**
 * Who owns the connection, option checking, the adapter URL, and secrets in messages.
 */
import { inspect } from 'node:util';
import { checkServer, fullSession, minimalSession } from '@mtstore/conformance/vitest';
import { SessionSubject } from '@mtstore/core';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { adapter, REDIS_DEFAULTS, RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, clientList, dropPrefix, eventually, plain, probe, randomName, REDIS_URL } from './helpers.js';

const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

const INVALID = expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' });

describe('options', () => {
  it('rejects a client together with url, options or cluster, and a client that is not ioredis', () => {
    const client = new Redis({ lazyConnect: true });
    try {
      expect(() => new RedisStorage({ client, url: REDIS_URL })).toThrow(INVALID);
      expect(() => new RedisSessionStorage({ client, options: {} })).toThrow(INVALID);
      expect(() => new RedisSessionEventBus({ client, cluster: { nodes: [{ port: 7000 }] } })).toThrow(INVALID);
      expect(() => new RedisStorage({ client: { sadd() {} } as never })).toThrow(INVALID);
      expect(() => new RedisStorage({ cluster: { nodes: [] } })).toThrow(INVALID);
      expect(() => new RedisStorage({ cluster: { nodes: [{ port: 7000 }] }, url: REDIS_URL })).toThrow(INVALID);
      expect(() => new RedisStorage({ name: 'has space' })).toThrow(INVALID);
      expect(() => new RedisStorage(null as never)).toThrow(INVALID);
    } finally {
      client.disconnect();
    }
  });

  it('rejects a URL that is not redis:// or rediss://, without echoing a password', () => {
    for (const url of ['http://user:hunter2@host', 'redis://user:hunter2@[::1', 'not a url hunter2', 'redis://user:hunter2@host/db0']) {
      let error: unknown;
      try {
        new RedisStorage({ url });
      } catch (e) {
        error = e;
      }
      expect(error, url).toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('a parameter name or create value that may be a pasted key (hex, base64, long) is never quoted', () => {
    const hex = 'ad972859d0ca7c9d885e41c8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3';
    for (const query of [hex, `${hex}=1`, `create=${hex}`, `prefix=tg:&${hex.slice(0, 16)}=1`]) {
      let error: (Error & { code?: string }) | undefined;
      try {
        void adapter.openStorage(new URL(`redis://127.0.0.1:6379?${query}`), { name: 'default' });
      } catch (e) {
        error = e as Error & { code?: string };
      }
      expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message, query).toMatch(/not shown/);
      expect(error?.message, query).not.toContain(hex.slice(0, 16));
    }
  });

  it('a commandTimeout past Node timers (2^31 - 1 ms), negative or not a number is InvalidArgumentError before any I/O', () => {
    for (const commandTimeout of [2 ** 31, 2 ** 32, -1, Number.NaN, Number.POSITIVE_INFINITY, '5000']) {
      for (const make of [
        () => new RedisStorage({ url: REDIS_URL, options: { commandTimeout: commandTimeout as never } }),
        () => new RedisSessionStorage({ options: { commandTimeout: commandTimeout as never } }),
        () => new RedisStorage({ cluster: { nodes: [{ port: 7000 }], options: { redisOptions: { commandTimeout: commandTimeout as never } } } }),
      ]) {
        expect(make, String(commandTimeout)).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('commandTimeout') }));
      }
    }
    for (const commandTimeout of [0, 1, 2 ** 31 - 1]) void new RedisStorage({ url: REDIS_URL, options: { commandTimeout } }).close();
  });

  it('a url option with query parameters is InvalidArgumentError: nothing read them (a prefix there was ignored)', () => {
    for (const query of ['prefix=app:', 'cluster=true', 'create=false', 'db=2']) {
      for (const Make of [RedisStorage, RedisSessionStorage, RedisSessionEventBus]) {
        expect(() => new Make({ url: `redis://:hunter2@127.0.0.1:6379?${query}` }), query).toThrow(
          expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringMatching(new RegExp(`url takes no query parameters \\(got "${query.split('=')[0]}"\\)`)) }),
        );
      }
    }
    void new RedisStorage({ url: 'redis://:hunter2@127.0.0.1:6379/0' }).close();
  });

  it('option objects that are not objects are InvalidArgumentError before any I/O, without echoing them', () => {
    // A URL given as options was spread into ioredis' options as numbered keys: the storage connected to 127.0.0.1:6379.
    const url = 'redis://:hunter2@elsewhere:6380';
    for (const options of [{ options: url }, { options: [] }, { cluster: null }, { cluster: url }, { cluster: { nodes: [{ port: 7000 }], options: 5 } }, { cluster: { nodes: [{ port: 7000 }], options: { redisOptions: url } } }]) {
      for (const Make of [RedisStorage, RedisSessionStorage, RedisSessionEventBus]) {
        let error: (Error & { code?: string }) | undefined;
        try {
          void new Make(options as never).close();
        } catch (e) {
          error = e as Error & { code?: string };
        }
        expect(error?.code, JSON.stringify(options)).toBe('MTSTORE_INVALID_ARGUMENT');
        // null is refused as for every option (docs/contract.md §8), by core's check.
        expect(error?.message).toMatch(/must be an object, got (a string|an array|a number)$|: cluster must not be null: /);
        expect(error?.message).not.toContain('hunter2');
      }
    }
  });

  it("ioredis' other timer options (connectTimeout, socketTimeout, the Cluster's slot refresh and retry delays) are checked the same way before any I/O", async () => {
    const bad: [string, () => unknown][] = [];
    for (const value of [2 ** 31, -1, Number.NaN, '5000']) {
      for (const name of ['connectTimeout', 'socketTimeout']) {
        bad.push([name, () => new RedisStorage({ url: REDIS_URL, options: { [name]: value } })]);
        bad.push([name, () => new RedisSessionEventBus({ options: { [name]: value } })]);
        bad.push([name, () => new RedisStorage({ cluster: { nodes: [{ port: 7000 }], options: { redisOptions: { [name]: value } } } })]);
      }
      for (const name of ['slotsRefreshTimeout', 'slotsRefreshInterval', 'retryDelayOnFailover', 'retryDelayOnClusterDown', 'retryDelayOnTryAgain', 'retryDelayOnMoved']) {
        bad.push([name, () => new RedisSessionStorage({ cluster: { nodes: [{ port: 7000 }], options: { [name]: value } } })]);
      }
    }
    for (const [name, make] of bad) {
      expect(make, `${name}: ${String(make)}`).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining(name) }));
    }
    // The bounds are taken (an overflowing slotsRefreshTimeout failed every refresh: "None of startup nodes is available").
    await new RedisStorage({ url: REDIS_URL, options: { connectTimeout: 2 ** 31 - 1, socketTimeout: 0 } }).close();
    await new RedisStorage({ cluster: { nodes: [{ port: 7000 }], options: { slotsRefreshTimeout: 2 ** 31 - 1, retryDelayOnMoved: 0 } } }).close();
  });

  it('the defaults bound every operation: timeouts, retries, no resend of interrupted commands', () => {
    expect(REDIS_DEFAULTS).toMatchObject({ lazyConnect: true, commandTimeout: 5_000, maxRetriesPerRequest: 3, autoResendUnfulfilledCommands: false });
    expect(REDIS_DEFAULTS.retryStrategy(1)).toBe(100);
    expect(REDIS_DEFAULTS.retryStrategy(1_000)).toBe(2_000);
  });
});

describe('adapter URL', () => {
  it('reads prefix and cluster, rejects unknown parameters, never echoes the password', async () => {
    const bad = [
      'redis://user:hunter2@127.0.0.1:6379?prefx=a',
      'redis://user:hunter2@127.0.0.1:6379?prefix={a}',
      'redis://user:hunter2@127.0.0.1:6379?cluster=maybe',
      'redis://user:hunter2@127.0.0.1:7000/2?cluster=true',
      'redis://user:hunter2@127.0.0.1:6379/x',
      // Repeated: only the first was read, so this opened under a: and wrote there.
      'redis://user:hunter2@127.0.0.1:6379?prefix=a:&prefix=b:',
      'redis://user:hunter2@127.0.0.1:6379?cluster=false&cluster=true',
      // Past Redis' int database index: failed only at SELECT, on first use.
      'redis://user:hunter2@127.0.0.1:6379/99999999999999999999',
      // A password given as a parameter: refused, and its value not shown.
      'redis://127.0.0.1:6379?password=hunter2',
      'redis://127.0.0.1:6379?prefix=a:&cluster=hunter2',
    ];
    for (const url of bad) {
      const error = await Promise.resolve()
        .then(() => adapter.openStorage(new URL(url), { name: 'default' }))
        .catch((e: Error) => e);
      expect(error, url).toMatchObject({ code: 'MTSTORE_INVALID_ARGUMENT' });
      expect((error as Error).message).not.toContain('hunter2');
    }
    // No value: ?prefix= put the keys under no prefix without a word.
    for (const query of ['prefix=', 'prefix', 'cluster=true&prefix=']) {
      for (const open of [() => adapter.openStorage(new URL(`redis://user:hunter2@127.0.0.1:6379?${query}`), { name: 'default' }), () => adapter.openSessionStorage(new URL(`redis://user:hunter2@127.0.0.1:6379?${query}`))]) {
        expect(open, query).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('parameter "prefix" has no value') }));
      }
    }
    expect(() => adapter.openStorage(new URL('redis://127.0.0.1:6379?prefx=a:'), { name: 'default' })).toThrow('unknown parameter "prefx" (did you mean "prefix"?)');
    expect(() => adapter.openSessionStorage(new URL('redis://127.0.0.1:7000?clustr=true'))).toThrow('(did you mean "cluster"?)');
  });
});

describe.runIf(server.available)('connections', () => {
  const redis = admin();
  const prefixes: string[] = [];
  const newPrefix = () => {
    const prefix = `${randomName('conn')}:`;
    prefixes.push(prefix);
    return prefix;
  };
  afterEach(async () => {
    await Promise.all(prefixes.splice(0).map((p) => dropPrefix(redis, p)));
  });
  afterAll(() => redis.quit());

  const named = async (name: string) => (await clientList(redis)).filter((c) => c.name === name);

  it('connects lazily and quits the connection it owns on close', async () => {
    const connectionName = randomName('owned');
    const storage = new RedisStorage({ url: REDIS_URL, options: { connectionName }, prefix: newPrefix() });
    const sessions = new RedisSessionStorage({ url: REDIS_URL, options: { connectionName }, prefix: newPrefix() });
    expect(await named(connectionName)).toHaveLength(0);
    await storage.save(minimalSession());
    await sessions.createSession(1n, 1n);
    expect(await named(connectionName)).toHaveLength(2);
    await Promise.all([storage.close(), sessions.close()]);
    await eventually(async () => (await named(connectionName)).length === 0, 'the owned connections to close');
  });

  it('never closes a client the application owns; the bus closes only its own subscriber', async () => {
    const connectionName = randomName('app');
    const client = new Redis(REDIS_URL, { connectionName });
    try {
      const prefix = newPrefix();
      const storage = new RedisStorage({ client, prefix });
      const sessions = new RedisSessionStorage({ client, prefix });
      const bus = new RedisSessionEventBus({ client, prefix });
      const subject = new SessionSubject(sessions, { bus });
      await subject.ready();
      await storage.save(fullSession(1));
      expect(await subject.createSession(1n, 1n)).toBe(true);
      expect(await named(`${connectionName}:events`)).toHaveLength(1);
      await subject.close();
      await Promise.all([storage.close(), sessions.close(), bus.close()]);
      await eventually(async () => (await named(`${connectionName}:events`)).length === 0, 'the bus subscriber to close');
      expect(client.status).toBe('ready');
      expect(await named(connectionName)).toHaveLength(1);
      expect(plain(await new RedisStorage({ client, prefix }).load())).toEqual(fullSession(1));
    } finally {
      await client.quit();
    }
  });

  it('opens storage and { storage, bus } from a redis:// URL with ?prefix=', async () => {
    const prefix = newPrefix();
    const url = new URL(`${REDIS_URL}/0?prefix=${encodeURIComponent(prefix)}`);
    const storage = await adapter.openStorage(url, { name: 'bob' });
    const { storage: sessions, bus } = await adapter.openSessionStorage(url);
    try {
      await storage.save(fullSession(1));
      expect(plain(await new RedisStorage({ client: redis, prefix, name: 'bob' }).load())).toEqual(fullSession(1));
      expect(bus).toBeInstanceOf(RedisSessionEventBus);
      expect((bus as RedisSessionEventBus).channel).toBe(`${prefix}events`);
      expect(await sessions.createSession(1n, 2n)).toBe(true);
      expect(await redis.smembers(`${prefix}auth:{1}:sessions`)).toEqual(['2']);
    } finally {
      await Promise.all([storage.close(), sessions.close(), bus?.close()]);
    }
  });

  it('a /db the server does not have fails every call, and nothing is read or written in database 0 instead', async () => {
    // ioredis only emits 'error' when its SELECT is refused, and carries on in database 0.
    const [, count] = (await redis.config('GET', 'databases')) as [string, string];
    const prefix = newPrefix();
    const url = new URL(REDIS_URL);
    url.pathname = `/${Number(count)}`;
    url.searchParams.set('prefix', prefix);
    const storage = await adapter.openStorage(url, { name: 'default' });
    const { storage: sessions } = await adapter.openSessionStorage(url);
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['kv.set', () => storage.kv.set('k', new Uint8Array([1]))],
        ['save', () => storage.save(fullSession(1))],
        ['load', () => storage.load()],
        ['createSession', () => sessions.createSession(1n, 1n)],
      ];
      for (const [label, call] of calls) {
        const error = await call().then(
          () => new Error(`${label}: resolved`),
          (e: Error) => e,
        );
        expect(error, label).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('DB index is out of range') });
      }
      expect(await redis.keys(`${prefix}*`), 'keys written in database 0').toEqual([]);
    } finally {
      await Promise.all([storage.close(), sessions.close()]);
    }
  });

  it('a wrong password: every call, the first included, fails StorageUnavailableError saying WRONGPASS, and neither the error nor its cause holds the password', async () => {
    const url = new URL(REDIS_URL);
    url.username = randomName('nobody');
    url.password = 'Wr0ngS3cretPW';
    const sessions = new RedisSessionStorage({ url: url.href, prefix: newPrefix() });
    const storage = new RedisStorage({ url: url.href, prefix: newPrefix(), name: 'bot' });
    const bus = new RedisSessionEventBus({ url: url.href, prefix: newPrefix() });
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['hasSession', () => sessions.hasSession(1n, 1n)],
        ['hasSession again', () => sessions.hasSession(1n, 1n)],
        ['hasSession a third time', () => sessions.hasSession(1n, 1n)],
        ['load', () => storage.load()],
        ['bus.publish', () => bus.publish({ type: 'created', authKeyId: 1n, sessionId: 1n, origin: 'x' })],
      ];
      for (const [label, call] of calls) {
        const error = await call().then(
          () => new Error(`${label}: resolved`),
          (e: Error) => e,
        );
        expect(error, label).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE' });
        expect(error.message, label).toMatch(/WRONGPASS/);
        expect(String((error.cause as Error | undefined)?.message), label).toMatch(/WRONGPASS/);
        expect(inspect(error, { depth: 10, showHidden: true }), label).not.toContain('Wr0ngS3cretPW');
      }
    } finally {
      await Promise.all([sessions.close(), storage.close(), bus.close()]);
    }
  });

  it("a short wrong password leaves Redis' message as it is, and the error its code", async () => {
    // A password `a` was replaced in every word ("WRONGPASS inv***lid usern***me-p***ssword"),
    // and `e` in "connect ECONNREFUSED" turned the error into a copy without its code.
    const url = new URL(REDIS_URL);
    url.username = randomName('nobody');
    url.password = 'a';
    const storage = new RedisStorage({ url: url.href, prefix: newPrefix() });
    const refused = new RedisStorage({ url: 'redis://u:e@127.0.0.1:1', prefix: newPrefix() });
    try {
      const error = await storage.load().then(() => new Error('resolved'), (e: Error) => e);
      expect(error).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('WRONGPASS invalid username-password pair') });
      const down = await refused.load().then(() => new Error('resolved'), (e: Error) => e);
      expect(down).toMatchObject({ code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringContaining('connect ECONNREFUSED') });
      expect((down.cause as { code?: string } | undefined)?.code).toBe('ECONNREFUSED');
    } finally {
      await Promise.all([storage.close(), refused.close()]);
    }
  });

  it('util.inspect and JSON.stringify show name and prefix, never the client or a password', async () => {
    const storage = new RedisStorage({ url: 'redis://user:hunter2@127.0.0.1:1', prefix: 'app:', name: 'bot' });
    const text = inspect(storage, { depth: 8, showHidden: true });
    expect(text).toBe('RedisStorage { name: "bot", prefix: "app:", ownsConnection: true, closed: false }');
    // A logger that serializes an object holding the storage (pino, JSON logs) printed ioredis's options, password included.
    expect(JSON.stringify({ storage })).toBe('{"storage":{"type":"RedisStorage","name":"bot","prefix":"app:","ownsConnection":true,"closed":false}}');
    await storage.close();
  });
});
