/**
 * The fields of a pg config object with a fixed domain (port, ssl, the server timeouts,
 * keepAlive, binary, the startup strings …), checked by the storages' and the bus's
 * constructors before any I/O, as their connection-string forms are
 * (parameters.test.ts). Values often come straight from environment variables
 * (`ssl: process.env.PG_SSL`): pg read `ssl: 'false'` as TLS on and then threw in its
 * socket handler, ending the process, so that is tested in a child process of its own.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkServer } from '@mtstore/conformance/vitest';
import { fullSession } from '@mtstore/conformance';
import type { PoolConfig } from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { freshSchema, probe, track, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

const child = fileURLToPath(new URL('./children/config-field.mjs', import.meta.url));
const kinds = ['storage', 'session', 'bus'] as const;
type Kind = (typeof kinds)[number];

/** Runs one constructor on `field` in a child process (children/config-field.mjs, the built package). */
function inChild(kind: Kind, field: Record<string, unknown>): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [child, kind, JSON.stringify(field)], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, POSTGRES_URL: url } });
  return { status: run.status, stdout: run.stdout.trim(), stderr: run.stderr };
}

/** The test server as a config object, `field` laid over it. */
function config(field: Record<string, unknown>): PoolConfig {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), database: u.pathname.slice(1), ...field } as PoolConfig;
}

/** The error `make` throws, undefined if none; what it made is closed (no connection was opened: nothing was called). */
function caught(make: () => { close(): Promise<void> }): (Error & { code?: string }) | undefined {
  try {
    void make().close();
  } catch (error) {
    return error as Error & { code?: string };
  }
  return undefined;
}

function construct(kind: Kind, field: Record<string, unknown>): (Error & { code?: string }) | undefined {
  const options = { config: config(field), schema: 'mtstore_config_field_none' };
  if (kind === 'storage') return caught(() => new PostgresStorage(options));
  if (kind === 'session') return caught(() => new PostgresSessionStorage(options));
  return caught(() => new PostgresSessionEventBus(options));
}

describe.skipIf(!server)('pg config fields', () => {
  it('a string ssl pg would read as TLS on (ssl: "false", an environment variable) is refused by each constructor; it used to end the process', () => {
    for (const field of [{ ssl: 'false' }, { ssl: '0' }, { ssl: 1 }, { user: 5 }]) {
      for (const kind of kinds) {
        const run = inChild(kind, field);
        const name = Object.keys(field)[0] as string;
        // Old code: the child died (status 1), "TypeError: Cannot use 'in' operator to search for 'key' in false" on stderr.
        const crash = /^\w*Error\b.*$/m.exec(run.stderr)?.[0];
        expect({ status: run.status, crash }, `${kind} ${JSON.stringify(field)}`).toEqual({ status: 0, crash: undefined });
        expect(run.stderr).toBe('');
        expect(run.stdout).toMatch(new RegExp(`^refused MTSTORE_INVALID_ARGUMENT Postgres\\w+: config\\.${name} must be `));
      }
    }
    // The same child, with nothing wrong, reaches the server (the schema is not there: NotFoundError; the bus listens).
    expect(inChild('storage', {}).stdout).toBe('settled MTSTORE_NOT_FOUND');
    expect(inChild('session', { ssl: false }).stdout).toBe('settled MTSTORE_NOT_FOUND');
    expect(inChild('bus', { ssl: 'no-verify' }).stdout).toBe('settled ok');
  });

  it('a value outside the domain pg reads is InvalidArgumentError naming the field, before any I/O, from the storages and the bus', () => {
    const bad: [field: Record<string, unknown>, shown: string][] = [
      // pg failed every call: 'Port should be >= 0 and < 65536. Received type number (NaN)'.
      [{ port: 'abc' }, 'got "abc"'],
      [{ port: 99_999 }, 'got number 99999'],
      [{ port: 0 }, 'got number 0'],
      [{ port: 5432.5 }, 'got number 5432.5'],
      // pg read a non-empty string as TLS on; an array too ('self-signed certificate').
      [{ ssl: 'false' }, 'got "false"'],
      [{ ssl: 'require' }, 'got "require"'],
      [{ ssl: [] }, 'got an array of 0'],
      // pg sends parseInt: '5s' became 5 ms, 'abc' and -5 every connection refused by the server.
      [{ statement_timeout: '5s' }, 'got "5s"'],
      [{ statement_timeout: 'abc' }, 'got "abc"'],
      [{ statement_timeout: -5 }, 'got number -5'],
      [{ lock_timeout: 1.5 }, 'got number 1.5'],
      [{ idle_in_transaction_session_timeout: 2 ** 31 }, 'got number 2147483648'],
      [{ statement_timeout: true }, 'got true'],
      // pg: truthy is on, so 'false' turned keepalives on.
      [{ keepAlive: 'false' }, 'got "false"'],
      [{ enableChannelBinding: 'false' }, 'got "false"'],
      [{ keepAliveInitialDelayMillis: 'abc' }, 'got "abc"'],
      [{ keepAliveInitialDelayMillis: -1 }, 'got number -1'],
      // The startup message takes strings only (a number ended the process).
      [{ application_name: 5 }, 'got number 5'],
      [{ database: 5 }, 'got number 5'],
      [{ options: 5 }, 'got number 5'],
      // pg threw when connecting: 'Invalid sslnegotiation value'.
      [{ sslnegotiation: 'x' }, 'got "x"'],
      // Binary results: every save failed, 'Cannot convert … to a BigInt'.
      [{ binary: true }, 'got true'],
      [{ binary: 'false' }, 'got "false"'],
    ];
    for (const [field, shown] of bad) {
      const name = Object.keys(field)[0] as string;
      for (const kind of kinds) {
        const error = construct(kind, field);
        expect(error?.code, `${kind} ${name}: ${shown}`).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message).toContain(`config.${name} must be`);
        expect(error?.message).toContain(shown);
      }
    }
    expect(construct('storage', { binary: true })?.message).toContain('binary results are not supported');
    // libpq's TLS keywords in a config object: pg reads them in a connection string only and
    // dropped them here without a word (sslmode: 'require' connected without TLS).
    for (const name of ['sslmode', 'sslcert', 'sslkey', 'sslrootcert']) {
      for (const kind of kinds) {
        const error = construct(kind, { [name]: name === 'sslmode' ? 'require' : '/etc/ssl/x.pem' });
        expect(error?.code, `${kind} ${name}`).toBe('MTSTORE_INVALID_ARGUMENT');
        expect(error?.message).toContain(`config.${name} is read by pg only in a connection string`);
      }
    }
    expect(construct('bus', { sslnegotiation: 'direct' })?.message).toContain("config.sslnegotiation 'direct' starts with TLS, which needs config.ssl");
    // A value that may be a secret (a pasted key, a password in the wrong variable) is described by its length.
    const hex = 'c0ffee00'.repeat(8);
    for (const [field, length] of [
      [{ ssl: hex }, 64],
      [{ port: 'Zk9$x!aQ' }, 8],
    ] as const) {
      const error = construct('storage', field);
      expect(error?.message).toContain(`got a value of ${length} characters (not shown)`);
      expect(error?.message).not.toContain(Object.values(field)[0]?.slice(0, 8));
    }
  });

  it('the values pg reads as meant are still taken, and connect', async () => {
    const good: Record<string, unknown>[] = [
      {},
      { port: '5432' },
      { port: ' 5432 ' },
      { port: '' },
      { ssl: false },
      { ssl: '' },
      { ssl: null },
      { ssl: 0 },
      { ssl: 'no-verify' },
      { ssl: { rejectUnauthorized: false } },
      { statement_timeout: 5000, lock_timeout: '3000', idle_in_transaction_session_timeout: 0 },
      { statement_timeout: false, lock_timeout: '' },
      { keepAlive: false, keepAliveInitialDelayMillis: 1000, enableChannelBinding: false },
      { binary: false },
      { application_name: 'mtstore-config-fields', options: '-c search_path=public', fallback_application_name: 'x' },
      { ssl: { rejectUnauthorized: false }, sslnegotiation: 'postgres' },
    ];
    for (const field of good) {
      for (const kind of kinds) expect(construct(kind, field), `${kind} ${JSON.stringify(field)}`).toBeUndefined();
      // Each reaches the server: no such schema, nothing created.
      const storage = track(new PostgresStorage({ config: config(field), schema: 'mtstore_config_field_none', create: false }));
      await expect(storage.load(), JSON.stringify(field)).rejects.toMatchObject({ code: 'MTSTORE_NOT_FOUND' });
    }
    // TLS with the certificate checked: taken (this server's is self-signed, so it fails when connecting, as pg means it to).
    for (const ssl of [true, 'true']) for (const kind of kinds) expect(construct(kind, { ssl })).toBeUndefined();
  });

  it('?binary=true in a connection string is taken and changes nothing: pg 8 reads binary from the config object only', async () => {
    const storage = track(new PostgresStorage({ config: { connectionString: `${url}${url.includes('?') ? '&' : '?'}binary=true` }, schema: freshSchema() }));
    const session = fullSession();
    await storage.save(session);
    expect((await storage.load())?.user).toEqual(session.user);
  });
});
