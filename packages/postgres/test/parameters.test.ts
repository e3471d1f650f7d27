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
    expect(odd?.message).toContain(`parameter (a name of ${pasted.length} characters, not shown)`);
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

  const hex = 'c0ffee00'.repeat(8);
  const base64 = Buffer.from(hex, 'hex').toString('base64url');

  it('a parameter name that may be a pasted key (64 hex digits, base64) is described by its length, from openStorage, openSessionStorage and a constructor', async () => {
    for (const pasted of [hex, base64]) {
      for (const open of [(u: string) => openStorage(u), (u: string) => openSessionStorage(u)]) {
        const name = await rejected(open(`${unreachable}?${pasted}=1`));
        expect(name?.code).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(name?.message).toContain(`unknown parameter (a name of ${pasted.length} characters, not shown) in the URL`);
        expect(name?.message).not.toContain(pasted.slice(0, 16));
      }
      // Given twice: a message about the name, too.
      const given = caught(() => new PostgresStorage({ connectionString: `${unreachable}?${pasted}=1&${pasted}=2`, schema: 'tg' }));
      expect(given?.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(given?.message).not.toContain(pasted.slice(0, 16));
    }
  });

  it('a ?prepare= value that may be a pasted key or password is described by its length; a plain one is quoted', async () => {
    for (const pasted of [hex, base64]) {
      for (const open of [(u: string) => openStorage(u), (u: string) => openSessionStorage(u)]) {
        const prepare = await rejected(open(`${unreachable}?prepare=${pasted}`));
        expect(prepare?.code).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(prepare?.message).toContain(`prepare must be true or false, got a value of ${pasted.length} characters (not shown)`);
        expect(prepare?.message).not.toContain(pasted.slice(0, 16));
      }
    }
    expect((await rejected(openStorage(`${unreachable}?prepare=no`)))?.message).toContain('got "no"');
    expect((await rejected(openStorage(`${unreachable}?prepare=`)))?.message).toContain('got ""');
    expect((await rejected(openStorage(`${unreachable}?prepare=Zk9$x!aQ`)))?.message).toContain('got a value of 8 characters (not shown)');
  });

  it('a value outside the domain of a pg or libpq parameter is InvalidArgumentError naming the parameter, before any I/O, in a URL and in a connection string', async () => {
    const bad: [query: string, name: string, shown: string][] = [
      // pg failed every call ("Port should be >= 0 and < 65536. Received type number (NaN)").
      ['port=abc', 'port', 'got "abc"'],
      ['port=0', 'port', 'got "0"'],
      ['port=65536', 'port', 'got "65536"'],
      // The server refused the connection ('invalid value for parameter "statement_timeout": "NaN"', '-5 ms is outside the valid range').
      ['statement_timeout=abc', 'statement_timeout', 'got "abc"'],
      ['statement_timeout=-5', 'statement_timeout', 'got "-5"'],
      // pg sends parseInt of it: 5 ms.
      ['statement_timeout=5s', 'statement_timeout', 'got "5s"'],
      ['lock_timeout=1.5', 'lock_timeout', 'got "1.5"'],
      ['idle_in_transaction_session_timeout=2147483648', 'idle_in_transaction_session_timeout', 'got "2147483648"'],
      // pg tried TLS for both: a non-empty string is true to it ('self-signed certificate'; ssl=false threw in pg's socket handler).
      ['sslmode=bogus', 'sslmode', 'got "bogus"'],
      ['sslmode=REQUIRE', 'sslmode', 'got "REQUIRE"'],
      ['ssl=false', 'ssl', 'got "false"'],
      ['sslnegotiation=tls', 'sslnegotiation', 'got "tls"'],
      ['uselibpqcompat=yes', 'uselibpqcompat', 'got "yes"'],
      // libpq keywords pg ignores: taken whatever they held, though psql refuses them.
      ['connect_timeout=abc', 'connect_timeout', 'got "abc"'],
      ['connect_timeout=', 'connect_timeout', 'got ""'],
      ['connect_timeout=10s', 'connect_timeout', 'got "10s"'],
      ['keepalives=maybe', 'keepalives', 'got "maybe"'],
      ['keepalives_idle=1.5', 'keepalives_idle', 'got "1.5"'],
      ['tcp_user_timeout=99999999999', 'tcp_user_timeout', 'got "99999999999"'],
      ['gssencmode=on', 'gssencmode', 'got "on"'],
      ['channel_binding=required', 'channel_binding', 'got "required"'],
      ['target_session_attrs=readwrite', 'target_session_attrs', 'got "readwrite"'],
      ['load_balance_hosts=yes', 'load_balance_hosts', 'got "yes"'],
      ['sslcertmode=verify', 'sslcertmode', 'got "verify"'],
      ['ssl_min_protocol_version=TLSv1.4', 'ssl_min_protocol_version', 'got "TLSv1.4"'],
      // A value that may be a pasted secret is described by its length.
      // (A password's punctuation, a key's 16+ hex digits, 40+ characters.)
      [`connect_timeout=${encodeURIComponent('Zk9$x!aQ')}`, 'connect_timeout', 'got a value of 8 characters (not shown)'],
      [`port=${'c0ffee00'.repeat(2)}`, 'port', 'got a value of 16 characters (not shown)'],
      [`sslmode=${'ab'.repeat(20)}`, 'sslmode', 'got a value of 40 characters (not shown)'],
    ];
    const constructors = [
      (connectionString: string) => new PostgresStorage({ connectionString, schema: 'tg' }),
      (connectionString: string) => new PostgresStorage({ config: { connectionString }, schema: 'tg' }),
      (connectionString: string) => new PostgresSessionStorage({ connectionString, schema: 'tg' }),
      (connectionString: string) => new PostgresSessionEventBus({ config: { connectionString }, schema: 'tg' }),
    ];
    for (const [query, name, shown] of bad) {
      const errors = [
        await rejected(openStorage(`${unreachable}?${query}`)),
        await rejected(openSessionStorage(`${unreachable}?schema=tg&${query}`)),
        ...constructors.map((make) => caught(() => make(`${unreachable}?${query}`))),
      ];
      for (const error of errors) {
        expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message, query).toMatch(new RegExp(`parameter "${name}" in (the URL|connectionString|config\\.connectionString) must be .*, ${shown.replace(/[()]/g, '\\$&')}$`));
        expect(error?.message).not.toContain(secret);
        for (const pasted of ['ab'.repeat(20), 'Zk9$x!aQ', 'c0ffee00c0ffee00']) expect(error?.message).not.toContain(pasted);
      }
    }
    // Combinations pg refused only when connecting.
    for (const [query, message] of [
      ['sslnegotiation=direct&sslmode=disable', 'sslnegotiation=direct in the URL starts with TLS, which sslmode=disable turns off'],
      ['sslnegotiation=direct&ssl=0', 'which ssl=0 turns off'],
      ['uselibpqcompat=true&sslmode=verify-ca', 'needs sslrootcert'],
    ] as const) {
      const error = await rejected(openStorage(`${unreachable}?${query}`));
      expect(error?.code, query).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error?.message).toContain(message);
      expect(caught(() => new PostgresStorage({ connectionString: `${unreachable}?${query}` }))?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    }
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
    // Every value pg uses as meant, and every one libpq accepts for the keywords pg ignores
    // (psql 15 connected with connect_timeout=-5, +5, %2010%20, port=%205432, ssl_min_protocol_version=tlsv1.2).
    const values = [
      'port=5432', 'port=%205432%20', 'port=', 'port=65535', 'statement_timeout=0', 'statement_timeout=', 'statement_timeout=%2010%20', 'lock_timeout=2147483647',
      'idle_in_transaction_session_timeout=60000', 'ssl=true', 'ssl=1', 'ssl=0', 'ssl=no-verify', 'sslnegotiation=postgres', 'sslnegotiation=direct',
      'uselibpqcompat=false', 'uselibpqcompat=true&sslmode=require', 'uselibpqcompat=true&sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem',
      ...['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'].map((mode) => `sslmode=${mode}`),
      'connect_timeout=-5', 'connect_timeout=0', 'connect_timeout=%2B5', 'connect_timeout=%2010%20', 'keepalives=0', 'keepalives=-1', 'keepalives_idle=30',
      'keepalives_interval=10', 'keepalives_count=3', 'tcp_user_timeout=0', 'gssencmode=disable', 'channel_binding=require', 'sslcertmode=allow',
      'target_session_attrs=prefer-standby', 'load_balance_hosts=random', 'ssl_min_protocol_version=tlsv1.2', 'ssl_max_protocol_version=TLSv1.3', 'ssl_min_protocol_version=',
    ];
    const instances = [
      ...values.map((value) => new PostgresStorage({ connectionString: `${unreachable}?${value}`, schema: 'tg' })),
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
