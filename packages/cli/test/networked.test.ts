/**
 * The built binary's reading commands on networked URLs (PostgreSQL, Redis, MongoDB):
 * they open with `create=false`, so a schema, key prefix or database that holds no
 * mtstore store is exit 6 and is left as it was — before, the first call created
 * mtstore's schema, layout key or collections there. A store that is there is read
 * without being written to. An unreachable server skips its tests locally with the
 * reason and fails them with CI=true (the kit's checkServer).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEncryptionKey, openStorage } from '@mtstore/core';
import { fullSession, randomNamespace } from '@mtstore/conformance';
import pg from 'pg';
import { keysWithPrefix } from '@mtstore/test-adapters/redis';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/index.js';
import { scratchFor, serverUrl } from '../src/check.js';
import { checkListening, checkPostgres, MONGODB_URL, mtstore, POSTGRES_URL, REDIS_URL, withParameter } from './helpers.js';


const dir = mkdtempSync(join(tmpdir(), 'mtstore-cli-networked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { MTSTORE_TEST_K1: generateEncryptionKey() };

/** Every reading command (and rotate-keys, which must find a store before it writes) on `source`. */
function readingCommands(source: string): string[][] {
  return [
    ['inspect', source],
    ['inspect', source, '--name', 'alice'],
    ['export', source, '--format', 'telethon'],
    ['migrate', source, join(dir, `target-${randomNamespace()}.session`)],
    ['rotate-keys', source, '--key', 'k1=MTSTORE_TEST_K1'],
  ];
}

/** Runs each command: exit 6, one line naming the adapter's missing store, and no migrate target file. */
function expectExit6(source: string, library: string): void {
  for (const args of readingCommands(source)) {
    const r = mtstore(args, env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(EXIT.NOT_FOUND);
    expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    expect(r.stderr, args.join(' ')).toContain(`holds no ${library} store`);
    if (args[0] === 'migrate') expect(existsSync(args[2] as string)).toBe(false);
  }
}

/** A reading open of `url` through core: still NotFoundError when the commands created nothing. */
async function stillNoStore(url: string): Promise<string | undefined> {
  const storage = await openStorage(url);
  try {
    await storage.listNames();
    return 'a store is there';
  } catch (error) {
    return (error as { code?: string }).code;
  } finally {
    await storage.close();
  }
}

const postgres = await checkPostgres();

describe.skipIf(!postgres.available)(`PostgreSQL${postgres.reason ? ` [skipped: ${postgres.reason}]` : ''}`, () => {
  const schemas: string[] = [];
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });
  const fresh = (): string => {
    const schema = randomNamespace();
    schemas.push(schema);
    return schema;
  };
  /** The schema and every relation in it, from the catalog. */
  const catalog = async (schema: string): Promise<unknown> => ({
    schema: (await admin.query('SELECT nspname FROM pg_namespace WHERE nspname = $1', [schema])).rows,
    relations: (await admin.query('SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1', [schema])).rows,
  });

  it('inspect, export, migrate and rotate-keys on a schema with no store exit 6 and leave the catalog as it was', async () => {
    const missing = fresh();
    const other = fresh();
    await admin.query(`CREATE SCHEMA "${other}"; CREATE TABLE "${other}".app_data (x text); INSERT INTO "${other}".app_data VALUES ('precious')`);
    for (const schema of [missing, other]) {
      const before = await catalog(schema);
      expectExit6(`${POSTGRES_URL}?schema=${schema}`, '@mtstore/postgres');
      expect(await catalog(schema), schema).toEqual(before);
    }
    expect((await admin.query(`SELECT x FROM "${other}".app_data`)).rows).toEqual([{ x: 'precious' }]);
  });

  it('inspect reads a store that is there and writes nothing to it (no lease table either)', async () => {
    const schema = fresh();
    const url = `${POSTGRES_URL}?schema=${schema}`;
    const writer = await openStorage(url, { name: 'alice' });
    await writer.save(fullSession(1));
    await writer.close();
    const before = await catalog(schema);
    const r = mtstore(['inspect', url]);
    expect(r.code, r.stderr).toBe(EXIT.OK);
    expect(r.stdout).toContain('session "alice":');
    expect(r.stdout).toContain('lease: free');
    expect(await catalog(schema)).toEqual(before);
  });
});

const redis = await checkListening('Redis', REDIS_URL, 6379);

describe.skipIf(!redis.available)(`Redis${redis.reason ? ` [skipped: ${redis.reason}]` : ''}`, () => {
  it('inspect, export, migrate and rotate-keys on a key prefix with no store exit 6 and write no key', async () => {
    const url = withParameter(REDIS_URL, `prefix=${randomNamespace()}:`);
    expectExit6(url, '@mtstore/redis');
    // The layout key is the first thing any open without create=false writes.
    expect(await stillNoStore(withParameter(url, 'create=false'))).toBe('MTSTORE_NOT_FOUND');
  });

  it("check's scratch namespaces are removed: its cleanup client connects to the URL's server (URL.origin is \"null\" for redis:)", async () => {
    const scratch = scratchFor(REDIS_URL);
    const ns = randomNamespace();
    const storage = await openStorage(scratch.url(ns), { name: 'alice' });
    await storage.save(fullSession(1));
    await storage.close();
    const { Redis } = await import('ioredis');
    const client = new Redis(REDIS_URL);
    const keys = (): Promise<string[]> => keysWithPrefix(client, `${ns}:`);
    try {
      expect((await keys()).length).toBeGreaterThan(0);
      await scratch.cleanup(ns);
      expect(await keys()).toEqual([]);
    } finally {
      await client.quit();
      scratch.dispose();
    }
    expect(serverUrl('redis://user:secret@127.0.0.1:6380/2?prefix=x:')).toBe('redis://user:secret@127.0.0.1:6380/2');
  });

  it('check runs the kit against Redis in scratch prefixes (--grep: a few trait groups of both suites; the whole kit is the redis package’s own test)', () => {
    const r = mtstore(['check', REDIS_URL, '--grep', '› (round trip|two instances|events) ›'], {}, 110_000);
    expect([EXIT.OK, EXIT.VERIFY], r.stderr.slice(-2000)).toContain(r.code);
    expect(r.stdout).toContain('redis · Storage');
    expect(r.stdout).toContain('redis · SessionStorage');
    expect(r.stdout).toMatch(/\n[1-9]\d* passed, \d+ failed, \d+ skipped\n/);
    expect(r.stderr).not.toContain('ENOTFOUND');
  }, 120_000);
});

const mongo = await checkListening('MongoDB', MONGODB_URL, 27017);

describe.skipIf(!mongo.available)(`MongoDB${mongo.reason ? ` [skipped: ${mongo.reason}]` : ''}`, () => {
  it('inspect, export, migrate and rotate-keys on a database with no store exit 6 and create nothing', async () => {
    const url = `${MONGODB_URL.replace(/\/$/, '')}/${randomNamespace()}`;
    expectExit6(url, '@mtstore/mongo');
    // The schema document is the first thing any open without create=false writes.
    expect(await stillNoStore(withParameter(url, 'create=false'))).toBe('MTSTORE_NOT_FOUND');
  });
});
