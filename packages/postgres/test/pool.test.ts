/**
 * Owned vs borrowed pools, options, type parsing that leaves the application's pg
 * settings alone, and secrets kept out of inspect output and errors.
 */
import { inspect } from 'node:util';
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession, ID_EXTREMES, minimalSession, peer } from '@mtstore/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { applicationName, backends, freshSchema, plain, probe, track, until, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

describe.runIf(server.available)('pools', () => {
  it('a borrowed pool is used but never ended; two schemas can share it', async () => {
    const pool = track(new pg.Pool({ connectionString: url, max: 2 }));
    const a = new PostgresStorage({ pool, schema: freshSchema(), name: 'a' });
    const b = new PostgresStorage({ pool, schema: freshSchema(), name: 'a' });
    const sessions = new PostgresSessionStorage({ pool, schema: freshSchema() });
    await a.save(fullSession(1));
    await b.save(fullSession(2));
    expect(await sessions.createSession(1n, 2n)).toBe(true);
    // Same statement labels, different schemas: the SQL-derived names keep them apart on one connection.
    expect(plain(await a.load())).toEqual(fullSession(1));
    expect(plain(await b.load())).toEqual(fullSession(2));
    await Promise.all([a.close(), b.close(), sessions.close()]);
    expect(pool.ended).toBe(false);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('an owned pool is ended on close: its connections go away', async () => {
    const application = applicationName('owned');
    const storage = new PostgresStorage({ config: { connectionString: url, application_name: application }, schema: freshSchema() });
    await storage.save(minimalSession());
    expect(await backends(application)).toHaveLength(1);
    await storage.close();
    await until(async () => (await backends(application)).length === 0, 'the owned pool to disconnect');
  });

  it("reads 64-bit ids exactly on a pool whose application parses int8 lossily, without changing the application's parsers", async () => {
    const globalInt8 = pg.types.getTypeParser(20, 'text');
    // The application wants int8 as a JS number on its own queries (a common, lossy setting).
    const appTypes = { getTypeParser: (oid: number, format?: string) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) };
    const pool = track(new pg.Pool({ connectionString: url, max: 1, types: appTypes as pg.CustomTypesConfig }));
    const storage = track(new PostgresStorage({ pool, schema: freshSchema() }));
    const sessions = track(new PostgresSessionStorage({ pool, schema: storage.schema }));
    const session = minimalSession();
    session.user = { id: 2n ** 63n - 1n, dcId: 2, bot: false };
    await storage.save(session);
    await storage.peers.upsert(ID_EXTREMES.map((id, i) => peer('user', i, { id, accessHash: -id - 1n })));
    expect((await storage.load())?.user?.id).toBe(2n ** 63n - 1n);
    for (const id of ID_EXTREMES) expect((await storage.peers.getById('user', id))?.accessHash).toBe(-id - 1n);
    for (const id of ID_EXTREMES) await sessions.createSession(-(2n ** 63n), id);
    expect(await sessions.listSessions(-(2n ** 63n))).toEqual([...ID_EXTREMES].sort((x, y) => (x < y ? -1 : 1)));
    // The application's own queries still get its parser, and pg's global one is unchanged.
    expect((await pool.query('SELECT 9007199254740993::int8 AS n')).rows[0].n).toBe(9007199254740992);
    expect(pg.types.getTypeParser(20, 'text')).toBe(globalInt8);
  });

  it('rejects contradictory or malformed options before connecting', () => {
    const pool = new pg.Pool({ connectionString: url });
    expect(() => new PostgresStorage({ pool, connectionString: url })).toThrow(/one of connectionString, config or pool/);
    expect(() => new PostgresStorage({ connectionString: url, config: {} })).toThrow(/one of/);
    expect(() => new PostgresStorage({ pool: {} as pg.Pool })).toThrow(/pool must be a pg Pool/);
    // A pg.Client has query and connect too, but its connect(callback) hands over no connection: the first call waited for ever.
    const client = new pg.Client({ connectionString: url });
    expect(() => new PostgresStorage({ pool: client as unknown as pg.Pool })).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('not a pg Client') }));
    expect(() => new PostgresSessionStorage({ pool: client as unknown as pg.Pool })).toThrow(/pool must be a pg Pool/);
    for (const schema of ['', 'a;drop', 'x"y', 'a.b', '1abc', 'a'.repeat(49)]) {
      expect(() => new PostgresStorage({ connectionString: url, schema }), schema).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
      expect(() => new PostgresSessionStorage({ connectionString: url, schema }), schema).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
    }
    expect(new PostgresStorage({ pool }).schema).toBe('mtstore');
    void pool.end();
  });

  it('pg options that become Node timers past 2^31 − 1 ms are InvalidArgumentError before any I/O, from the config and the connection string, without the password', async () => {
    // Past Node's timer limit pg's timers fire after 1 ms: every query failed with
    // "Query read timeout", every connect or checkout timed out at once.
    const secret = 'sup3rsecretpw';
    const withPassword = url.replace('postgres://postgres@', `postgres://postgres:${secret}@`);
    const at = (query: string): string => `${withPassword}${withPassword.includes('?') ? '&' : '?'}${query}`;
    const schema = freshSchema();
    const bad: [string, () => unknown][] = [];
    for (const name of ['query_timeout', 'connectionTimeoutMillis', 'idleTimeoutMillis']) {
      for (const value of [2 ** 31, 2 ** 32 + 5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        bad.push([name, () => new PostgresStorage({ config: { connectionString: withPassword, [name]: value }, schema })]);
        bad.push([name, () => new PostgresSessionStorage({ config: { connectionString: withPassword, [name]: value }, schema })]);
        bad.push([name, () => new PostgresSessionEventBus({ config: { connectionString: withPassword, [name]: value }, schema })]);
      }
    }
    bad.push(['maxLifetimeSeconds', () => new PostgresStorage({ config: { connectionString: withPassword, maxLifetimeSeconds: 2 ** 31 / 1000 }, schema })]);
    for (const value of [String(2 ** 31), '0', '-5', 'soon', '1e10']) {
      bad.push(['query_timeout', () => new PostgresStorage({ connectionString: at(`query_timeout=${value}`), schema })]);
      bad.push(['query_timeout', () => new PostgresSessionStorage({ connectionString: at(`query_timeout=${value}`), schema })]);
      bad.push(['query_timeout', () => new PostgresStorage({ config: { connectionString: at(`query_timeout=${value}`) }, schema })]);
      bad.push(['query_timeout', () => new PostgresSessionEventBus({ connectionString: at(`query_timeout=${value}`), schema })]);
      bad.push(['query_timeout', () => new PostgresSessionEventBus({ config: { connectionString: at(`query_timeout=${value}`) }, schema })]);
    }
    for (const [name, make] of bad) {
      let error: (Error & { code?: string }) | undefined;
      try {
        make();
      } catch (e) {
        error = e as Error & { code?: string };
      }
      expect(error?.code, `${name}: ${String(make)}`).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).toContain(name);
      expect(error?.message).not.toContain(secret);
    }
    // The bounds themselves, and pg's "none" (0, an empty parameter), are taken and work.
    const fine = [
      new PostgresStorage({ config: { connectionString: url, query_timeout: 2 ** 31 - 1, connectionTimeoutMillis: 2 ** 31 - 1, idleTimeoutMillis: 0, maxLifetimeSeconds: 2_147_483 }, schema, name: 'a' }),
      new PostgresStorage({ connectionString: at(`query_timeout=${2 ** 31 - 1}`), schema, name: 'b' }),
      new PostgresStorage({ connectionString: at('query_timeout='), schema, name: 'c' }),
    ];
    for (const storage of fine) {
      await storage.kv.set('k', new Uint8Array([1]));
      expect(await storage.kv.get('k')).toEqual(new Uint8Array([1]));
      await storage.close();
    }
    await new PostgresSessionEventBus({ connectionString: at(`query_timeout=${2 ** 31 - 1}`), schema }).close();
  });

  it("pg-pool's max and min are checked before any I/O: a negative max left every call waiting for a connection that never came", async () => {
    const schema = freshSchema();
    for (const config of [{ max: -1 }, { max: 2.5 }, { max: '4' }, { max: Number.NaN }, { min: -1 }, { min: 3, max: 2 }, { min: 11 }]) {
      expect(() => new PostgresStorage({ config: { connectionString: url, ...(config as object) }, schema }), JSON.stringify(config)).toThrow(
        expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringMatching(/config\.m(ax|in)/) }),
      );
    }
    // pg-pool's own default (0 → 10) and a min up to max are taken, and work.
    const storage = new PostgresStorage({ config: { connectionString: url, max: 0, min: 1 }, schema });
    await storage.kv.set('k', new Uint8Array([1]));
    await storage.close();
  });

  it('neither inspect nor a connection error shows the password', async () => {
    const secret = 'sup3rsecretpw';
    // Nothing listens on port 1: the connection is refused at once.
    const storage = new PostgresStorage({ connectionString: `postgres://postgres:${secret}@127.0.0.1:1/test`, schema: freshSchema() });
    expect(inspect(storage)).toContain('schema');
    expect(inspect(storage)).not.toContain(secret);
    const error = await storage.load().then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; cause: unknown },
    );
    expect(error?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(error?.cause).toBeDefined();
    expect(`${error?.message} ${inspect(error)} ${inspect(error?.cause)}`).not.toContain(secret);
    await storage.close();
  });
});
