/**
 * No N+1: what each operation sends, watched with MONITOR on the storage's own
 * connection. A batch of 10,000 peers is one EVALSHA; save and load are one MULTI;
 * a key or kv write is one HSET; delete is one script over every key of the session.
 */
import { connect, type Socket } from 'node:net';
import { authKey, checkServer, fullSession, peer } from '@mtstore/conformance/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, clientList, dropPrefix, eventually, probe, randomName, REDIS_URL } from './helpers.js';

const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

/** `words` as a RESP array of bulk strings. */
function resp(...words: string[]): string {
  return `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`;
}

/**
 * MONITOR on a plain socket, each command's source address and name (lower case) handed
 * to `onCommand`. Not ioredis' monitor(): on a busy server (other test files running
 * beside this one) a line of monitor output that comes in the same read as MONITOR's
 * "+OK" is parsed before ioredis has entered monitoring mode, taken for a reply to no
 * command, and thrown as an uncaught "Command queue state error" (it failed this file
 * once so). Resolves once MONITOR is acknowledged.
 */
function rawMonitor(url: string, onCommand: (source: string, command: string) => void): Promise<Socket> {
  const { hostname, port, username, password } = new URL(url);
  const socket = connect({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
  const commands = [...(password === '' ? [] : [resp('AUTH', ...(username === '' ? [] : [decodeURIComponent(username)]), decodeURIComponent(password))]), resp('CLIENT', 'SETNAME', 'mtstore-test-monitor'), resp('MONITOR')];
  let acknowledged = 0;
  let buffered = '';
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.on('connect', () => socket.write(commands.join('')));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (acknowledged < commands.length) {
          if (line !== '+OK') reject(new Error(`MONITOR set-up answered ${line}`));
          if (++acknowledged === commands.length) resolve(socket);
          continue;
        }
        // +1796609612.298930 [0 127.0.0.1:40176] "evalsha" "…" (values escaped: no CR/LF inside)
        const match = /^\+\d+\.\d+ \[\d+ (\S+)\] "([^"]*)"/.exec(line);
        if (match !== null) onCommand(match[1] as string, (match[2] as string).toLowerCase());
      }
    });
  });
}

describe.runIf(server.available)('commands per operation', () => {
  const redis = admin();
  const prefix = `${randomName('trips')}:`;
  const connectionName = randomName('trips');
  const storage = new RedisStorage({ url: REDIS_URL, prefix, options: { connectionName } });
  const sessions = new RedisSessionStorage({ url: REDIS_URL, prefix, options: { connectionName } });
  const lived = new RedisSessionStorage({ url: REDIS_URL, prefix, ttlSeconds: 60, options: { connectionName } });
  // Holds its session's lease: every write is one fenced script.
  const leased = new RedisStorage({ url: REDIS_URL, prefix, name: 'leased', options: { connectionName } });
  const seen: { source: string; command: string }[] = [];
  let monitor: Socket | undefined;

  beforeAll(async () => {
    // Warm up: connect, check the layout version, cache the scripts.
    await storage.save(fullSession(1));
    await storage.saveUpdateState({ pts: 1, qts: 1, date: 1, seq: 1 });
    await storage.peers.upsert([peer('user', 1)]);
    await storage.peers.getByUsername('user_1');
    await storage.peers.list({ limit: 1 });
    await storage.refMessages.list({ limit: 1 });
    await storage.update({ apiId: 1 });
    await storage.refMessages.store(1n, 1n, 1);
    await storage.refMessages.delete(1n, [1]);
    await storage.authKeys.deleteByDc(1);
    await storage.delete();
    await sessions.createSession(1n, 1n);
    await sessions.destroySession(1n, 3n);
    await sessions.destroyAllSessions(3n);
    await sessions.listSessions(3n);
    await sessions.touchSession(3n, 3n);
    await lived.createSession(4n, 4n);
    await lived.expireSessions();
    await leased.lease.acquire({ ttlSeconds: 3600, heartbeat: false });
    monitor = await rawMonitor(REDIS_URL, (source, command) => seen.push({ source, command }));
  });
  afterAll(async () => {
    monitor?.destroy();
    await Promise.all([storage.close(), sessions.close(), leased.close(), lived.close()]);
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
    ['hasSession', () => sessions.hasSession(1n, 1n), ['get']],
    ['sessionInfo', () => sessions.sessionInfo(1n, 1n), ['get']],
    ['touchSession', () => sessions.touchSession(1n, 1n), ['evalsha']],
    ['createSession', () => sessions.createSession(1n, 2n), ['evalsha']],
    ['destroySession', () => sessions.destroySession(1n, 2n), ['evalsha']],
    ['listSessions', () => sessions.listSessions(1n), ['evalsha']],
    ['createSession with ttlSeconds (the expiry index entry first)', () => lived.createSession(1n, 5n), ['zadd', 'evalsha']],
    ['touchSession with ttlSeconds', () => lived.touchSession(1n, 5n), ['evalsha']],
    ['expireSessions with nothing due', () => lived.expireSessions(), ['zrangebyscore']],
    ['destroyAllSessions', () => sessions.destroyAllSessions(1n), ['evalsha']],
    ['save', () => storage.save(fullSession(2)), ['multi', 'del', 'hset', 'hset', 'exec']],
    ['load', () => storage.load(), ['multi', 'hgetall', 'hgetall', 'exec']],
    ['update', () => storage.update({ apiId: null, user: { id: 1n, dcId: 2, bot: false, usernames: ['a'] } }), ['evalsha']],
    ['update of state and 5,000 channels', () => storage.update({ state: null, channels: Array.from({ length: 5000 }, (_, i) => ({ id: BigInt(i), pts: i })) }), ['evalsha']],
    ['update that logs out', () => storage.update({ user: null, state: null, channels: [] }), ['evalsha']],
    ['authKeys.set', () => storage.authKeys.set(3, authKey(3)), ['hset']],
    ['authKeys.get', () => storage.authKeys.get(3), ['hget']],
    ['authKeys.delete', () => storage.authKeys.delete(3), ['hdel']],
    ['authKeys.setTemp', () => storage.authKeys.setTemp(3, { index: 1, key: authKey(4), expiresAt: 2_000_000_000 }), ['hset']],
    ['authKeys.getTemp', () => storage.authKeys.getTemp(3, 1), ['hmget']],
    ['authKeys.deleteTemp', () => storage.authKeys.deleteTemp(3, 1), ['hdel']],
    ['authKeys.deleteByDc', () => storage.authKeys.deleteByDc(2), ['evalsha']],
    ['authKeys.entries', () => storage.authKeys.entries(), ['hgetall']],
    ['kv.set', () => storage.kv.set('k', new Uint8Array(64)), ['hset']],
    ['kv.get', () => storage.kv.get('k'), ['hget']],
    ['kv.entries', () => storage.kv.entries(), ['hgetall']],
    ['kv.delete', () => storage.kv.delete('k'), ['hdel']],
    ['refMessages.store', () => storage.refMessages.store(5n, -100n, 7), ['evalsha']],
    ['refMessages.getByPeer', () => storage.refMessages.getByPeer(5n), ['zrevrange']],
    ['refMessages.delete', () => storage.refMessages.delete(-100n, [7, 8, 9]), ['evalsha']],
    ['refMessages.list', () => storage.refMessages.list({ limit: 10_000 }), ['zrangebyscore']],
    ['saveUpdateState with 100 channels', () => storage.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }, Array.from({ length: 100 }, (_, i) => ({ id: BigInt(i), pts: i }))), ['evalsha']],
    ['peers.upsert of 10,000', () => storage.peers.upsert(Array.from({ length: 10_000 }, (_, i) => peer('user', i))), ['evalsha']],
    ['peers.getById', () => storage.peers.getById('user', 5n), ['evalsha']],
    ['peers.list of 1,000', () => storage.peers.list({ limit: 1000 }), ['evalsha']],
    ['peers.getByUsername', () => storage.peers.getByUsername('USER_5'), ['evalsha']],
    ['peers.getByPhone', () => storage.peers.getByPhone('10000000005'), ['evalsha']],
    ['peers.clear', () => storage.peers.clear(), ['del']],
    ['authKeys.clear', () => storage.authKeys.clear(), ['del']],
    ['delete', () => storage.delete(), ['evalsha']],
  ] as const)('%s', async (_name, operation, expected) => {
    expect(await commandsOf(operation)).toEqual(expected);
  });

  // Under a lease: each write is one EVALSHA (the write and its token check in one
  // script), reads are unchanged. Each runs once first so its fenced script is cached.
  it.each([
    ['save', () => leased.save(fullSession(2)), 'evalsha'],
    ['update', () => leased.update({ apiId: 5 }), 'evalsha'],
    ['saveUpdateState', () => leased.saveUpdateState({ pts: 2, qts: 2, date: 2, seq: 2 }, [{ id: 1n, pts: 1 }]), 'evalsha'],
    ['authKeys.set', () => leased.authKeys.set(3, authKey(3)), 'evalsha'],
    ['authKeys.delete', () => leased.authKeys.delete(3), 'evalsha'],
    ['authKeys.setTemp', () => leased.authKeys.setTemp(3, { index: 1, key: authKey(4), expiresAt: 2_000_000_000 }), 'evalsha'],
    ['authKeys.deleteTemp', () => leased.authKeys.deleteTemp(3, 1), 'evalsha'],
    ['authKeys.deleteByDc', () => leased.authKeys.deleteByDc(2), 'evalsha'],
    ['authKeys.clear', () => leased.authKeys.clear(), 'evalsha'],
    ['kv.set', () => leased.kv.set('k', new Uint8Array(64)), 'evalsha'],
    ['kv.delete', () => leased.kv.delete('k'), 'evalsha'],
    ['kv.clear', () => leased.kv.clear(), 'evalsha'],
    ['peers.upsert of 10,000', () => leased.peers.upsert(Array.from({ length: 10_000 }, (_, i) => peer('user', i))), 'evalsha'],
    ['peers.clear', () => leased.peers.clear(), 'evalsha'],
    ['refMessages.store', () => leased.refMessages.store(5n, -100n, 7), 'evalsha'],
    ['refMessages.delete', () => leased.refMessages.delete(-100n, [7]), 'evalsha'],
    ['refMessages.deleteByPeer', () => leased.refMessages.deleteByPeer(5n), 'evalsha'],
    ['refMessages.clear', () => leased.refMessages.clear(), 'evalsha'],
    ['delete', () => leased.delete(), 'evalsha'],
    ['kv.get (a read)', () => leased.kv.get('k'), 'hget'],
    ['load (a read)', () => leased.load(), 'multi hgetall hgetall exec'],
  ] as const)('under a lease: %s', async (_name, operation, expected) => {
    await operation();
    expect((await commandsOf(operation)).join(' ')).toBe(expected);
  });
});
