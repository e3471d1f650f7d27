import { checkServer, describeSessionEventBus, describeSessionStorage, describeStorage, ONE_FIELD_LEFT, type Damage, type OneFieldLeft } from '@mtstore/conformance/vitest';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { RedisSessionEventBus, RedisSessionStorage, RedisStorage } from '../src/index.js';
import { admin, corruptKeys, dropPrefix, dumpPrefix, killNamed, prefixOf, probe, randomName, REDIS_URL } from './helpers.js';

// Every `open` is a new connection the instance owns; a namespace is a key prefix.
const server = await checkServer('redis', REDIS_URL, () => probe(REDIS_URL));

if (server.available) {
  const cleaner = admin();
  afterAll(() => cleaner.quit());
  const cleanup = (namespace: string) => dropPrefix(cleaner, prefixOf(namespace));
  // Every connection opened on a namespace carries its name, so interrupt() kills those only.
  const connectionName = (namespace: string) => `mtstore-kit-${namespace}`;
  const options = (namespace: string) => ({ url: REDIS_URL, prefix: prefixOf(namespace), options: { connectionName: connectionName(namespace) } });
  const interrupt = async (namespace: string) => {
    if ((await killNamed(cleaner, connectionName(namespace))) === 0) throw new Error(`interrupt: no connection named ${connectionName(namespace)}`);
  };

  // The kit's worker processes (crash and race traits) open the same prefixes through this module.
  const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

  /**
   * The kit's tamper hook: hash fields and the layout key edited with plain commands.
   * Left out (listed as skipped): peer and kv damages (values are raw bytes, records a
   * string the peer codec owns), and version-absent / marker-absent: the layout key is
   * the only marker, and a prefix without it is claimed as new (SET NX) by design.
   */
  const TAMPER: Partial<Record<Damage, (session: string, schema: string) => Promise<unknown>>> = {
    'user-without-id': (session) => cleaner.hdel(session, 'user.id'),
    'state-without-pts': (session) => cleaner.hdel(session, 'state.pts'),
    'state-negative-pts': (session) => cleaner.hset(session, 'state.pts', '-1'),
    'dc-id-zero': async (session) => {
      const dcs = JSON.parse((await cleaner.hget(session, 'dcs')) as string) as { id: number }[];
      (dcs.find((dc) => dc.id === 1) as { id: number }).id = 0;
      return cleaner.hset(session, 'dcs', JSON.stringify(dcs));
    },
    'flag-not-boolean': (session) => cleaner.hset(session, 'user.bot', '2'),
    'user-usernames-not-list': (session) => cleaner.hset(session, 'user.usernames', 'not a list'),
    'channel-id-not-integer': async (session) => {
      const ids = ((await cleaner.hget(session, 'channels')) as string).split(',');
      return cleaner.hset(session, 'channels', ['x', ...ids.slice(1)].join(','));
    },
    'takeout-id-not-integer': (session) => cleaner.hset(session, 'takeoutId', 'x'),
    // user-only-* / state-only-*: the other fields of the user or state removed; the kept one must be there.
    ...Object.fromEntries(
      (Object.entries(ONE_FIELD_LEFT) as [Damage, OneFieldLeft][]).map(([damage, { object, keep, drop }]) => [
        damage,
        async (session: string) => {
          if ((await cleaner.hexists(session, `${object}.${keep}`)) !== 1) throw new Error(`tamper: ${damage}: no ${object}.${keep} to keep`);
          return cleaner.hdel(session, ...drop.map((field) => `${object}.${field}`));
        },
      ]),
    ),
    'version-newer': async (_session, schema) => cleaner.set(schema, String(Number(await cleaner.get(schema)) + 1)),
    'version-zero': (_session, schema) => cleaner.set(schema, '0'),
  };
  const tamper = async (namespace: string, name: string, damage: Damage) => {
    const prefix = prefixOf(namespace);
    const session = `${prefix}client:{${name}}`;
    if ((await cleaner.exists(session, `${prefix}schema`)) !== 2) throw new Error(`tamper: session ${name} or the layout key is not stored`);
    await (TAMPER[damage] as (session: string, schema: string) => Promise<unknown>)(session, `${prefix}schema`);
  };

  describeStorage('redis', {
    open: (namespace, name) => new RedisStorage({ ...options(namespace), name }),
    openExisting: (namespace, name) => new RedisStorage({ ...options(namespace), name, create: false }),
    cleanup,
    processes,
    corrupt: (namespace, name) => corruptKeys(cleaner, prefixOf(namespace), name),
    interrupt,
    tamper: { kinds: Object.keys(TAMPER) as Damage[], apply: tamper },
    encryption: {
      open: (namespace, name, encryption) => new RedisStorage({ url: REDIS_URL, prefix: prefixOf(namespace), name, encryption }),
      dump: (namespace) => dumpPrefix(cleaner, prefixOf(namespace)),
    },
  });

  describeSessionStorage('redis', {
    open: (namespace) => new RedisSessionStorage(options(namespace)),
    openExisting: (namespace) => new RedisSessionStorage({ ...options(namespace), create: false }),
    openWithLifetime: (namespace, lifetime) => new RedisSessionStorage({ ...options(namespace), ...lifetime }),
    cleanup,
    processes,
    interrupt,
  });

  // Each bus has its own connection name (its subscriber is `<name>:events`), so
  // interrupt() kills that bus's subscribed connection only, with CLIENT KILL.
  const busNames = new WeakMap<object, string>();
  describeSessionEventBus('redis', {
    open: (namespace) => {
      const name = randomName('bus');
      const bus = new RedisSessionEventBus({ url: REDIS_URL, prefix: prefixOf(namespace), options: { connectionName: name } });
      busNames.set(bus, name);
      return bus;
    },
    openStorage: (namespace) => new RedisSessionStorage({ url: REDIS_URL, prefix: prefixOf(namespace) }),
    cleanup,
    interrupt: async (bus) => {
      const name = `${busNames.get(bus)}:events`;
      const list = String(await cleaner.client('LIST'));
      const ids = [...list.matchAll(/^id=(\d+) .*\bname=(\S*)/gm)].filter((m) => m[2] === name).map((m) => m[1] as string);
      if (ids.length === 0) throw new Error(`no connection named ${name}`);
      for (const id of ids) await cleaner.client('KILL', 'ID', id);
    },
  });
}
