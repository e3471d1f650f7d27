/**
 * Driver options the mongodb driver parses but cannot honour are InvalidArgumentError in
 * the constructor (no I/O), from clientOptions and from the URL alike: timers above
 * Node's 2^31-1 ms setTimeout limit (or Infinity) failed every call at once, NaN
 * disabled the timer (a call waited forever on a server that is gone), NaN pool sizes
 * made every call wait forever for a connection, minPoolSize above maxPoolSize failed
 * every call. Needs no server: the URL points at a closed port.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { MongoClientOptions } from 'mongodb';
import { openSessionStorage, openStorage, registerAdapter } from '@mtstore/core';
import { adapter, MongoSessionEventBus, MongoSessionStorage, MongoStorage } from '../src/index.js';

registerAdapter('mongodb', async () => ({ adapter }));

const SECRET = 'pa55-w0rd-secret';
const URL_BASE = `mongodb://alice:${SECRET}@127.0.0.1:1/db`;

function constructorError(build: () => unknown): Error & { code?: string } {
  try {
    build();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('the constructor accepted the options');
}

const BAD: [string, MongoClientOptions][] = [
  ['serverSelectionTimeoutMS', { serverSelectionTimeoutMS: 2 ** 31 }],
  ['serverSelectionTimeoutMS', { serverSelectionTimeoutMS: Infinity }],
  ['serverSelectionTimeoutMS', { serverSelectionTimeoutMS: NaN }],
  ['waitQueueTimeoutMS', { waitQueueTimeoutMS: 2 ** 31 }],
  ['connectTimeoutMS', { connectTimeoutMS: NaN }],
  ['socketTimeoutMS', { socketTimeoutMS: 2 ** 40 }],
  ['heartbeatFrequencyMS', { heartbeatFrequencyMS: Infinity }],
  ['maxIdleTimeMS', { maxIdleTimeMS: 2 ** 32 }],
  ['maxPoolSize', { maxPoolSize: NaN }],
  ['minPoolSize', { minPoolSize: NaN }],
  ['minPoolSize', { minPoolSize: 50, maxPoolSize: 5 }],
];

describe('driver options', () => {
  it('a timer or pool size the driver cannot honour is InvalidArgumentError naming the option, never the password', () => {
    for (const [name, clientOptions] of BAD) {
      const what = `${name} ${inspect(clientOptions)}`;
      for (const build of [
        () => new MongoStorage({ url: URL_BASE, clientOptions }),
        () => new MongoSessionStorage({ url: URL_BASE, clientOptions }),
        () => new MongoSessionEventBus({ url: URL_BASE, clientOptions }),
      ]) {
        const error = constructorError(build);
        expect(error.code, what).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error.message, what).toContain(name);
        expect(`${error.message} ${inspect(error)}`, what).not.toContain(SECRET);
      }
    }
  });

  it('a client declaring the Stable API strictly (it refuses buildInfo and distinct) is InvalidArgumentError before any I/O; the Stable API without strict is accepted', async () => {
    const { MongoClient } = await import('mongodb');
    const strict = new MongoClient(URL_BASE, { serverApi: { version: '1', strict: true } });
    const loose = new MongoClient(URL_BASE, { serverApi: { version: '1' } });
    const strictOptions: MongoClientOptions = { serverApi: { version: '1', strict: true } };
    for (const build of [
      () => new MongoStorage({ client: strict }),
      () => new MongoStorage({ db: strict.db('x') }),
      () => new MongoSessionStorage({ client: strict }),
      () => new MongoSessionEventBus({ client: strict }),
      () => new MongoStorage({ url: URL_BASE, clientOptions: strictOptions }),
    ]) {
      const error = constructorError(build);
      expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain('strict');
      expect(`${error.message} ${inspect(error)}`).not.toContain(SECRET);
    }
    // Accepted (the port is closed: nothing is sent until a call).
    await new MongoStorage({ client: loose }).close();
    await new MongoStorage({ db: loose.db('x') }).close();
    await strict.close();
    await loose.close();
  });

  it('the same values in the URL are refused by openStorage and openSessionStorage', async () => {
    for (const query of ['serverSelectionTimeoutMS=99999999999', 'waitQueueTimeoutMS=2147483648', 'minPoolSize=9&maxPoolSize=3']) {
      for (const open of [() => openStorage(`${URL_BASE}?${query}`), () => openSessionStorage(`${URL_BASE}?${query}`)]) {
        const error = (await open().then(
          () => new Error('opened'),
          (e: unknown) => e,
        )) as Error & { code?: string };
        expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error.message, query).toContain(query.split('=')[0]);
        expect(inspect(error), query).not.toContain(SECRET);
      }
    }
  });

  it('an unknown option (a typo) names it as written and the known option it is nearest to, never the password', async () => {
    const typos: [string, string][] = [
      ['authSorce=admin', 'authSource'],
      ['serverSelectionTimeout=500', 'serverSelectionTimeoutMS'],
      ['colectionPrefix=tg_', 'collectionPrefix'],
    ];
    for (const [query, guess] of typos) {
      const name = query.split('=')[0] as string;
      for (const error of [
        constructorError(() => new MongoStorage({ url: `${URL_BASE}?${query}` })),
        (await openStorage(`${URL_BASE}?${query}`).then(
          () => new Error('opened'),
          (e: unknown) => e,
        )) as Error & { code?: string },
      ]) {
        expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error.message, query).toContain(`"${name}"`);
        expect(error.message, query).toContain(`did you mean ${guess}?`);
        expect(inspect(error), query).not.toContain(SECRET);
      }
    }
    const typo = constructorError(() => new MongoStorage({ url: URL_BASE, clientOptions: { maxPoolSzie: 3 } as MongoClientOptions }));
    expect(typo.message).toContain('"maxPoolSzie" (did you mean maxPoolSize?)');
    // mtstore's own parameters mean something only to openStorage.
    const own = constructorError(() => new MongoStorage({ url: `${URL_BASE}?collectionPrefix=tg_` }));
    expect(own.message).toContain('read only from a URL given to openStorage');
  });

  it("a driver's parse error keeps its words whatever the password, and never shows it, as written or decoded", () => {
    // A one-letter password was replaced inside every word: "username and ***assword cannot be ***rovided".
    const short = constructorError(() => new MongoStorage({ url: 'mongodb://u:p@127.0.0.1:1/db?authMechanism=MONGODB-AWS' }));
    expect(short.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(short.message).toContain('username and password cannot be provided when using MONGODB-AWS');
    // The driver quotes the password decoded in none of its messages today: hidden in both forms all the same.
    const encoded = encodeURIComponent('s3cr3t/pa55@word');
    for (const password of [SECRET, encoded]) {
      const error = constructorError(() => new MongoStorage({ url: `mongodb://u:${password}@127.0.0.1:1/db?authMechanism=MONGODB-AWS` }));
      expect(error.message).toContain('username and password cannot be provided');
      for (const shown of [SECRET, encoded, 's3cr3t/pa55@word']) expect(inspect(error, { depth: 10 }), password).not.toContain(shown);
    }
  });

  it('an option name or value that may be a pasted key (hex, base64, long) is never quoted, by the driver either', async () => {
    const hex = 'ad972859d0ca7c9d885e41c8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3';
    for (const query of [hex, `${hex}=1`, `serverSelectionTimeoutMS=${hex}`, `authSource=admin&${hex.slice(0, 16)}=1`, `create=${hex}`]) {
      const errors = [
        (await openStorage(`${URL_BASE}?${query}`).then(() => new Error('opened'), (e: unknown) => e)) as Error & { code?: string },
        ...(query.startsWith('create') ? [] : [constructorError(() => new MongoStorage({ url: `${URL_BASE}?${query}` }))]),
      ];
      for (const error of errors) {
        expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error.message, query).toMatch(/not shown/);
        expect(inspect(error), query).not.toContain(hex.slice(0, 16));
      }
    }
  });

  it('?name= in an openStorage URL is refused, pointing to ?session=: the driver read it as its driverInfo name', async () => {
    // mongodb://…/db?name=alice opened session "default" and sent "alice" as the driver's name in the handshake.
    for (const open of [() => openStorage(`${URL_BASE}?name=alice`), () => openSessionStorage(`${URL_BASE}?name=alice`)]) {
      const error = (await open().then(
        () => new Error('opened'),
        (e: unknown) => e,
      )) as Error & { code?: string };
      expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain('?session=');
      expect(error.message).not.toContain(SECRET);
    }
  });

  it('?collectionPrefix= with no value is InvalidArgumentError naming it: it opened the collections without a prefix', async () => {
    for (const query of ['collectionPrefix=', 'collectionPrefix', 'session=alice&collectionPrefix=']) {
      for (const open of [() => openStorage(`${URL_BASE}?${query}`), () => openSessionStorage(`${URL_BASE}?${query.replace('session=alice&', '')}`)]) {
        const error = (await open().then(
          () => new Error(`opened with ?${query}`),
          (e: unknown) => e,
        )) as Error & { code?: string };
        expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error.message, query).toContain('URL parameter "collectionPrefix" has no value');
        expect(error.message, query).not.toContain(SECRET);
      }
    }
  });

  it('a refused URL is shown without its query: a value there may be a key pasted into the wrong place', async () => {
    // ?sealKey=<64 hex digits> was echoed whole in "invalid MongoDB url …?sealKey=…".
    const key = 'a1'.repeat(32);
    for (const query of [`sealKey=${key}`, `create=maybe&aesKey=${key}`, `maxPoolSize=x&masterKey=${key}`]) {
      for (const error of [
        constructorError(() => new MongoStorage({ url: `${URL_BASE}?${query}` })),
        (await openStorage(`${URL_BASE}?${query}`).then(
          () => new Error('opened'),
          (e: unknown) => e,
        )) as Error & { code?: string },
        (await openSessionStorage(`${URL_BASE}?${query}`).then(
          () => new Error('opened'),
          (e: unknown) => e,
        )) as Error & { code?: string },
      ]) {
        expect(error.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(`${error.message}\n${inspect(error)}`, query).not.toContain(key.slice(0, 16));
        expect(error.message, query).not.toContain(SECRET);
      }
    }
  });

  it('values at the edges stay accepted: 0 (no timeout), 2^31-1, maxPoolSize 0 (no limit) with a minPoolSize', async () => {
    for (const clientOptions of [
      { serverSelectionTimeoutMS: 2 ** 31 - 1, socketTimeoutMS: 0, connectTimeoutMS: 0, waitQueueTimeoutMS: 0 },
      { maxPoolSize: 0, minPoolSize: 5 },
      { maxPoolSize: 5, minPoolSize: 5 },
    ]) {
      const storage = new MongoStorage({ url: URL_BASE, clientOptions });
      await storage.close();
    }
    await (await openStorage(`${URL_BASE}?socketTimeoutMS=2147483647&maxPoolSize=4&minPoolSize=4`)).close();
  });
});
