/**
 * Connection-string parameters: one that neither mtstore, pg nor libpq reads (a typo
 * such as `?shema=`) is InvalidArgumentError before any I/O, in a URL given to
 * openStorage / openSessionStorage and in a connection string given to a constructor
 * (storages and bus); the parameters pg and libpq users rely on keep working.
 */
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession } from '@mtstore/conformance';
import { openSessionStorage, openStorage, registerAdapter } from '@mtstore/core';
import { describe, expect, it } from 'vitest';
import { adapter, PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { applicationName, backends, freshSchema, plain, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

registerAdapter('postgres', async () => adapter);
registerAdapter('postgresql', async () => adapter);

const secret = 'pw-that-must-not-leak';
/** Nothing listens on port 1: had anything been opened, it would fail, not hang. */
const unreachable = `postgres://postgres:${secret}@127.0.0.1:1/test`;

function caught(make: () => unknown): (Error & { code?: string }) | undefined {
  try {
    make();
  } catch (error) {
    return error as Error & { code?: string };
  }
  return undefined;
}

async function rejected(opening: Promise<unknown>): Promise<(Error & { code?: string }) | undefined> {
  return opening.then(
    async (opened) => {
      // Old behaviour: accepted. Close what was opened so the test fails on the assertion, not a leak.
      const o = opened as { close?: () => Promise<void>; storage?: { close(): Promise<void> }; bus?: { close(): Promise<void> } };
      await o.close?.();
      await o.storage?.close();
      await o.bus?.close();
      return undefined;
    },
    (error: Error & { code?: string }) => error,
  );
}

describe('connection-string parameters', () => {
  it('a misspelt parameter in a URL is InvalidArgumentError from openStorage / openSessionStorage, naming it and the one meant, never the password', async () => {
    for (const [query, name, meant] of [
      ['shema=tg', 'shema', 'schema'],
      ['sesion=alice', 'sesion', 'session'],
      ['sslmod=require', 'sslmod', 'sslmode'],
      ['aplication_name=x', 'aplication_name', 'application_name'],
      ['schema=tg&creat=false', 'creat', 'create'],
    ] as const) {
      for (const open of [(u: string) => openStorage(u), (u: string) => openSessionStorage(u)]) {
        const error = await rejected(open(`${unreachable}?${query}`));
        expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message).toContain(`"${name}"`);
        expect(error?.message).toContain(`did you mean "${meant}"`);
        expect(error?.message).not.toContain(secret);
      }
    }
    // A name nothing is near gets no guess; one that may be a pasted secret is not echoed.
    const far = await rejected(openStorage(`${unreachable}?frobnicate=1`));
    expect(far?.message).toMatch(/unknown parameter "frobnicate" in the URL: neither/);
    const pasted = 'Zk9$x!aQ-not-a-name';
    const odd = await rejected(openStorage(`${unreachable}?${encodeURIComponent(pasted)}`));
    expect(odd?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(odd?.message).toContain(`parameter of ${pasted.length} characters`);
    expect(odd?.message).not.toContain(pasted);
    // No other parameter's value in a message either: sslpassword is a secret too.
    const badCreate = await rejected(openStorage(`${unreachable}?sslpassword=${secret}-ssl&create=maybe`));
    expect(badCreate?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(badCreate?.message).toContain('create must be true or false');
    expect(badCreate?.message).not.toContain(`${secret}-ssl`);
    // A repeated mtstore parameter: URLSearchParams takes the first, so which schema was meant is unclear.
    const twice = await rejected(openStorage(`${unreachable}?schema=a&schema=b`));
    expect(twice?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(twice?.message).toContain('"schema" is given twice');
  });

  it('a constructor refuses an unknown parameter in connectionString or config.connectionString, and mtstore\'s own (pg would drop them), before any I/O', () => {
    const constructors = [
      (connectionString: string) => new PostgresStorage({ connectionString, schema: 'tg' }),
      (connectionString: string) => new PostgresStorage({ config: { connectionString }, schema: 'tg' }),
      (connectionString: string) => new PostgresSessionStorage({ connectionString, schema: 'tg' }),
      (connectionString: string) => new PostgresSessionEventBus({ connectionString, schema: 'tg' }),
      (connectionString: string) => new PostgresSessionEventBus({ config: { connectionString }, schema: 'tg' }),
    ];
    for (const make of constructors) {
      const typo = caught(() => make(`${unreachable}?sslmode=require&statment_timeout=5000`));
      expect(typo?.code, String(make)).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(typo?.message).toContain('"statment_timeout"');
      expect(typo?.message).toContain('did you mean "statement_timeout"');
      expect(typo?.message).not.toContain(secret);
      // `?schema=` here never chose the schema: pg ignored it and mtstore used the option's (or `mtstore`).
      const own = caught(() => make(`${unreachable}?schema=other`));
      expect(own?.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(own?.message).toContain('Use the schema option');
      expect(caught(() => make(`${unreachable}?session=alice`))?.message).toContain('Use the name option');
      // pg reads the last of a repeated parameter, the query_timeout check the first: 0 would have timed every query out.
      const twice = caught(() => make(`${unreachable}?query_timeout=5000&query_timeout=0`));
      expect(twice?.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(twice?.message).toContain('"query_timeout" is given twice');
    }
  });

  it("a connection string pg would misread (libpq's keyword/value form, another scheme) is InvalidArgumentError, without echoing it", () => {
    for (const connectionString of [`host=127.0.0.1 dbname=test user=postgres password=${secret}`, `mysql://postgres:${secret}@127.0.0.1/test`, `127.0.0.1:5432/test?password=${secret}`]) {
      for (const make of [
        () => new PostgresStorage({ connectionString, schema: 'tg' }),
        () => new PostgresSessionStorage({ config: { connectionString }, schema: 'tg' }),
        () => new PostgresSessionEventBus({ connectionString, schema: 'tg' }),
      ]) {
        const error = caught(make);
        expect(error?.code, connectionString).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message).toContain('postgres:// or postgresql:// URL');
        expect(error?.message).not.toContain(secret);
      }
    }
  });

  it('every parameter pg reads, and libpq keywords pg ignores, are still taken', () => {
    const query =
      'sslmode=disable&application_name=a&fallback_application_name=b&options=-c%20search_path%3Dx&client_encoding=UTF8' +
      '&statement_timeout=1000&lock_timeout=1000&idle_in_transaction_session_timeout=1000&query_timeout=1000' +
      '&connect_timeout=10&target_session_attrs=any&channel_binding=prefer&keepalives=1&host=127.0.0.1&port=1&user=postgres';
    const instances = [
      // pg's other forms: a socket URL and a socket directory.
      new PostgresStorage({ connectionString: 'socket:/var/run/postgresql?db=test', schema: 'tg' }),
      new PostgresStorage({ connectionString: '/var/run/postgresql test', schema: 'tg' }),
      new PostgresStorage({ connectionString: `postgresql://postgres:${secret}@127.0.0.1:1/test`, schema: 'tg' }),
      new PostgresStorage({ connectionString: `${unreachable}?${query}`, schema: 'tg' }),
      new PostgresSessionStorage({ config: { connectionString: `${unreachable}?${query}` }, schema: 'tg' }),
      new PostgresSessionEventBus({ connectionString: `${unreachable}?${query}`, schema: 'tg' }),
    ];
    return Promise.all(instances.map((instance) => instance.close()));
  });

  it.runIf(server.available)('a URL with mtstore\'s and pg\'s parameters opens, and pg gets its own (application_name)', async () => {
    const schema = freshSchema();
    const application = applicationName('params');
    const target = new URL(url);
    for (const [key, value] of Object.entries({ schema, session: 'alice', application_name: application, sslmode: 'disable', connect_timeout: '10', options: '-c statement_timeout=4321' })) {
      target.searchParams.set(key, value);
    }
    const storage = track(await openStorage(target.href)) as PostgresStorage;
    expect(storage.schema).toBe(schema);
    expect(storage.name).toBe('alice');
    await storage.save(fullSession(1));
    expect(plain(await storage.load())).toEqual(fullSession(1));
    // The pool keeps its connection idle: it is there under the URL's application_name.
    expect((await backends(application)).length).toBeGreaterThan(0);
  });
});
