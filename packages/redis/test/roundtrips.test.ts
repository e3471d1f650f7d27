/**
 * No N+1: what each operation sends, watched with MONITOR on the storage's own
 * connection. A batch of 10,000 peers is one EVALSHA; save is one MULTI; delete is
 * one DEL of the session's four keys.
 */
import { checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, clientList, dropPrefix, eventually, probe, randomName, REDIS_URL } from './helpers.js';

const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

describe.runIf(server.available)('commands per operation', () => {
  const redis = admin();
  const prefix = `${randomName('trips')}:`;
  const connectionName = randomName('trips');
  const storage = new RedisStorage({ url: REDIS_URL, prefix, options: { connectionName } });
  const sessions = new RedisSessionStorage({ url: REDIS_URL, prefix, options: { connectionName } });
  const seen: { source: string; command: string }[] = [];
  let monitor: Redis;

  beforeAll(async () => {
    // Warm up: connect, check the layout version, cache the scripts.
    await storage.save(fullSession(1));
    await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 });
    await storage.peers.upsert([peer('user', 1)]);
    await storage.peers.getByUsername('user_1');
    await sessions.createSession(1n, 1n);
    monitor = await redis.duplicate({ connectionName: 'mtstore-test-monitor' }).monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ source, command: `${args[0]?.toLowerCase()}` }));
  });
  afterAll(async () => {
    monitor.disconnect();
    await Promise.all([storage.close(), sessions.close()]);
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  /** The commands `operation` sent from our connections, in order. */
  async function commandsOf(operation: () => Promise<unknown>): Promise<string[]> {
    const ours = new Set((await clientList(redis)).filter((c) => c.name === connectionName).map((c) => c.id));
    const addresses = new Set(
      ((await redis.client('LIST')) as string)
        .split('\n')
        .filter((line) => ours.has(/id=(\d+)/.exec(line)?.[1] ?? ''))
        .map((line) => /addr=(\S+)/.exec(line)?.[1]),
    );
    seen.length = 0;
    await operation();
    // MONITOR reports in execution order: once our marker shows, the operation's commands have.
    const marker = randomName('marker');
    await redis.echo(marker);
    await eventually(() => seen.some((s) => s.command === 'echo'), 'the marker on MONITOR');
    return seen.filter((s) => addresses.has(s.source)).map((s) => s.command);
  }

  it.each([
    ['hasSession', () => sessions.hasSession(1n, 1n), ['sismember']],
    ['createSession', () => sessions.createSession(1n, 2n), ['sadd']],
    ['destroySession', () => sessions.destroySession(1n, 2n), ['srem']],
    ['listSessions', () => sessions.listSessions(1n), ['smembers']],
    ['destroyAllSessions', () => sessions.destroyAllSessions(1n), ['multi', 'smembers', 'del', 'exec']],
    ['load', () => storage.load(), ['hgetall']],
    ['save', () => storage.save(fullSession(2)), ['multi', 'del', 'hset', 'exec']],
    ['saveUpdateState with 100 channels', () => storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }, Array.from({ length: 100 }, (_, i) => ({ id: BigInt(i), pts: i }))), ['evalsha']],
    ['peers.upsert of 10,000', () => storage.peers.upsert(Array.from({ length: 10_000 }, (_, i) => peer('user', i))), ['evalsha']],
    ['peers.getById', () => storage.peers.getById('user', 5n), ['hget']],
    ['peers.getByUsername', () => storage.peers.getByUsername('USER_5'), ['evalsha']],
    ['peers.getByPhone', () => storage.peers.getByPhone('10000000005'), ['evalsha']],
    ['delete', () => storage.delete(), ['del']],
  ] as const)('%s', async (_name, operation, expected) => {
    expect(await commandsOf(operation)).toEqual(expected);
  });
});
