import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AdapterUnavailableError,
  InvalidArgumentError,
  knownSchemes,
  LocalSessionEventBus,
  openSessionStorage,
  openStorage,
  registerAdapter,
  type Session,
  type StorageAdapter,
} from '@mtstore/core';
import { fullSession } from '@mtstore/conformance';
import { MemorySessionStorage, MemoryStorage } from '@mtstore/memory';
import { MongoStorage } from '@mtstore/mongo';
import { SqliteSessionStorage, SqliteStorage } from '@mtstore/sqlite';

/** Loaded sessions hold keys as AuthKeyBytes; compare bytes. */
function loaded(session: Session): unknown {
  return expect.objectContaining({ ...session, dcs: session.dcs.map((dc) => expect.objectContaining({ ...dc, ...(dc.authKey ? { authKey: expect.anything() } : {}), ...(dc.tempAuthKeys ? { tempAuthKeys: expect.anything() } : {}) })) });
}

const packages = fileURLToPath(new URL('../../', import.meta.url));
const child = fileURLToPath(new URL('./fixtures/open-child.mjs', import.meta.url));
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/**
 * A directory whose node_modules holds only the named workspace packages (as
 * symlinks), run with --preserve-symlinks so nothing else in the repo resolves:
 * what an application sees when it did not install the rest.
 */
function installedOnly(names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'mtstore-open-'));
  scratch.push(dir);
  mkdirSync(join(dir, 'node_modules', '@mtstore'), { recursive: true });
  for (const name of names) symlinkSync(join(packages, name), join(dir, 'node_modules', '@mtstore', name), 'dir');
  return dir;
}

interface ChildOutcome {
  ok: boolean;
  name?: string;
  code?: string;
  message?: string;
  type?: string;
}

function runChild(cwd: string, args: object, flags: string[] = []): ChildOutcome {
  const result = spawnSync(process.execPath, [...flags, child, JSON.stringify(args)], { cwd, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(line) as ChildOutcome;
}

function runIsolated(names: string[], args: object): ChildOutcome {
  const dir = installedOnly(names);
  // The child script must resolve @mtstore/core from the isolated node_modules, so it runs from a copy there.
  const script = join(dir, 'open-child.mjs');
  symlinkSync(child, script);
  const result = spawnSync(process.execPath, ['--preserve-symlinks', '--preserve-symlinks-main', script, JSON.stringify(args)], { cwd: dir, encoding: 'utf8' });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(line) as ChildOutcome;
}

describe('openStorage: instances, memory and the registry', () => {
  it('null and undefined open a fresh memory storage, named by the option', async () => {
    const a = await openStorage(null, { name: 'alice' });
    const b = await openStorage();
    expect(a).toBeInstanceOf(MemoryStorage);
    expect(b).toBeInstanceOf(MemoryStorage);
    expect((a as MemoryStorage).name).toBe('alice');
    expect((b as MemoryStorage).name).toBe('default');
    await a.save(fullSession(1));
    expect(await a.load()).toEqual(expect.objectContaining({ homeDcId: 2 }));
    expect(await b.load()).toBeNull();
    await Promise.all([a.close(), b.close()]);
  });

  it('a Storage is returned as is; a SessionStorageProtocol comes back as { storage }', async () => {
    const storage = new MemoryStorage();
    expect(await openStorage(storage)).toBe(storage);
    const sessions = new MemorySessionStorage();
    expect(await openSessionStorage(sessions)).toEqual({ storage: sessions });
  });

  it('memory: URLs take the session name from ?session=, and the option wins over it', async () => {
    const fromUrl = (await openStorage('memory:?session=bob')) as MemoryStorage;
    const fromOption = (await openStorage('memory:?session=bob', { name: 'carol' })) as MemoryStorage;
    expect(fromUrl.name).toBe('bob');
    expect(fromOption.name).toBe('carol');
  });

  it('memory: URLs refuse a parameter nothing reads, naming the one it is nearest to', async () => {
    // ?sesion=bob opened "default" and ?store=shared a fresh store, with no sign that either was ignored.
    const typo = await openStorage('memory:?sesion=bob').catch((e: Error) => e);
    expect(typo).toBeInstanceOf(InvalidArgumentError);
    expect((typo as Error).message).toContain('unknown URL parameter "sesion" (did you mean "session"?)');
    await expect(openStorage('memory:?store=shared')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(openSessionStorage('memory:?ttl=60')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('memory: URLs take create, as every adapter does (the CLI reading commands add ?create=false)', async () => {
    const storage = await openStorage('memory:?create=false&session=bob');
    expect(await storage.load()).toBeNull();
    await storage.close();
    await (await openSessionStorage('memory:?create=true')).storage.close();
    await expect(openStorage('memory:?create=maybe')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('openSessionStorage(null) gives memory storage and an in-process bus', async () => {
    const { storage, bus } = await openSessionStorage(null);
    expect(storage).toBeInstanceOf(MemorySessionStorage);
    expect(bus).toBeInstanceOf(LocalSessionEventBus);
    expect(await storage.createSession(1n, 2n)).toBe(true);
  });

  it('an unknown scheme is InvalidArgumentError listing the known schemes, without credentials', async () => {
    const error = await openStorage('dynamo://admin:hunter2@example.test/table').catch((e: Error) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain('no adapter for "dynamo:" URLs');
    for (const scheme of ['postgres:', 'redis:', 'mongodb:', 'sqlite:', 'memory:', 'file:']) expect((error as Error).message).toContain(scheme);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('a misspelt scheme is InvalidArgumentError naming the scheme it is nearest to', async () => {
    for (const [input, guess] of [
      ['postgress://admin:hunter2@db/app', 'postgres:'],
      ['mongo://admin:hunter2@db/app', 'mongodb:'],
      ['reddis://:hunter2@cache:6379', 'redis:'],
      ['sqlite3:bot.session', 'sqlite:'],
    ] as const) {
      const error = await openStorage(input).catch((e: Error) => e);
      expect(error, input).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message, input).toContain(`did you mean "${guess}"?`);
      expect((error as Error).message, input).not.toContain('hunter2');
    }
    const far = await openSessionStorage('dynamo://example.test/table').catch((e: Error) => e);
    expect((far as Error).message).not.toContain('did you mean');
  });

  it('typeorm:, mysql: and mariadb: URLs point to the TypeORM classes, which take a DataSource', async () => {
    for (const input of ['typeorm://db/app', 'mysql://root:hunter2@127.0.0.1:3306/test', 'mariadb://root@127.0.0.1/test']) {
      const error = await openStorage(input).catch((e: Error) => e);
      expect(error, input).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message, input).toContain('@mtstore/typeorm');
      expect((error as Error).message, input).toContain('TypeormStorage');
      expect((error as Error).message, input).not.toContain('hunter2');
    }
  });

  it('a malformed URL is InvalidArgumentError and its credentials never appear', async () => {
    for (const input of ['postgres://admin:hunter2@[::1', 'redis://admin:hunter2@host:99999']) {
      const error = await openStorage(input).catch((e: Error) => e);
      expect(error, input).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).not.toContain('hunter2');
      expect((error as Error).message).toMatch(/URL is malformed/);
    }
    await expect(openStorage('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(openStorage(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(openStorage('memory:', { name: 'has space' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a stray % in a URL part (path, user name, password, parameter name) is InvalidArgumentError naming the part, never the password', async () => {
    for (const [input, part] of [
      ['sqlite:foo%zz.session', 'path'],
      ['redis://us%er@127.0.0.1:1', 'user name'],
      ['redis://admin:hunt%er2@127.0.0.1:1', 'password'],
      ['mongodb://127.0.0.1:1/db%', 'database name'],
      // The driver reads the password itself: its own parse error, the URL redacted.
      ['mongodb://admin:hunt%er2@127.0.0.1:1/db', null],
    ] as const) {
      const error = await openStorage(input).catch((e: Error) => e);
      expect(error, input).toBeInstanceOf(InvalidArgumentError);
      if (part !== null) expect((error as Error).message, input).toContain(`the ${part} of `);
      expect((error as Error).message, input).toMatch(/malformed %-escape|URI malformed/);
      expect((error as Error).message, input).not.toContain('hunt%er2');
    }
    // A URL given as options (openStorage re-encodes its query before the adapter sees it).
    const direct = (() => {
      try {
        return new MongoStorage({ url: 'mongodb://127.0.0.1:1/db?%zz=1' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(direct).toBeInstanceOf(InvalidArgumentError);
    expect((direct as Error).message).toContain('the parameter name of ');
  });

  it('registerAdapter plugs a third-party scheme in, with the URL and the resolved name', async () => {
    const seen: string[] = [];
    const custom: StorageAdapter = {
      openStorage: (url, { name }) => {
        seen.push(`${url.href} ${name}`);
        return new MemoryStorage({ name });
      },
      openSessionStorage: () => ({ storage: new MemorySessionStorage() }),
    };
    registerAdapter('acme', async () => ({ adapter: custom }));
    expect(knownSchemes()).toContain('acme');
    const storage = (await openStorage('acme://cluster-1/sessions?session=bot7')) as MemoryStorage;
    expect(storage.name).toBe('bot7');
    expect(seen).toEqual(['acme://cluster-1/sessions?session=bot7 bot7']);
    expect((await openSessionStorage('acme:x')).storage).toBeInstanceOf(MemorySessionStorage);

    registerAdapter('broken-acme:', async () => ({}) as never);
    await expect(openStorage('broken-acme://x')).rejects.toBeInstanceOf(AdapterUnavailableError);
    expect(() => registerAdapter('no spaces', async () => custom)).toThrow(InvalidArgumentError);
    expect(() => registerAdapter('acme', 'not a function' as never)).toThrow(InvalidArgumentError);
  });
});

describe('openStorage: adapter packages that are not installed', () => {
  it('names the exact npm install for a missing adapter package, without credentials', () => {
    const outcome = runIsolated(['core'], { input: 'postgres://admin:hunter2@127.0.0.1:5432/test' });
    expect(outcome.ok).toBe(false);
    expect(outcome.code).toBe('MTSTORE_ADAPTER_UNAVAILABLE');
    expect(outcome.message).toContain('Run: npm install @mtstore/postgres pg');
    expect(outcome.message).not.toContain('hunter2');
    for (const [input, install] of [
      ['redis://127.0.0.1:6379', 'npm install @mtstore/redis ioredis'],
      ['mongodb://127.0.0.1:27017', 'npm install @mtstore/mongo mongodb'],
      ['bot', 'npm install @mtstore/sqlite better-sqlite3'],
      ['memory:', 'npm install @mtstore/memory'],
    ]) {
      expect(runIsolated(['core'], { input }).message, input).toContain(`Run: ${install}`);
    }
  });

  it('names the driver when the adapter is installed without it', () => {
    for (const [adapter, input, driver] of [
      ['postgres', 'postgres://127.0.0.1:5432/test', 'pg'],
      ['redis', 'redis://127.0.0.1:6379', 'ioredis'],
      ['mongo', 'mongodb://127.0.0.1:27017', 'mongodb'],
    ]) {
      const outcome = runIsolated(['core', adapter as string], { input });
      expect(outcome.code, input).toBe('MTSTORE_ADAPTER_UNAVAILABLE');
      expect(outcome.message, input).toContain(`needs its driver ${driver}, which is not installed. Run: npm install ${driver}`);
    }
  });
});

describe('openStorage: paths and sqlite', () => {
  /** Runs `body` with the working directory in a fresh temp dir. */
  async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-open-cwd-'));
    scratch.push(dir);
    const previous = process.cwd();
    process.chdir(dir);
    try {
      await body(dir);
    } finally {
      process.chdir(previous);
    }
  }

  it('a path without an extension is ./<path>.session, relative to the working directory, session "default" as new SqliteStorage(path)', async () => {
    await inTempDir(async (dir) => {
      const storage = await openStorage('bot');
      expect(storage).toBeInstanceOf(SqliteStorage);
      expect((storage as SqliteStorage).name).toBe('default');
      await storage.save(fullSession(1));
      await storage.close();
      expect(existsSync(join(dir, 'bot.session'))).toBe(true);
      const direct = new SqliteStorage('bot');
      expect(await direct.load()).toEqual(loaded(fullSession(1)));
      await direct.close();
      const again = await openStorage(join(dir, 'bot.session'));
      expect(await again.load()).toEqual(loaded(fullSession(1)));
      await again.close();
    });
  });

  it('a path with an extension keeps it; file: URLs and sqlite: URLs open the same adapter', async () => {
    await inTempDir(async (dir) => {
      mkdirSync(join(dir, 'data'));
      const byPath = await openStorage('data/app.db', { name: 'alice' });
      await byPath.save(fullSession(2));
      await byPath.close();
      expect(existsSync(join(dir, 'data', 'app.db'))).toBe(true);
      for (const input of [pathToFileURL(join(dir, 'data', 'app.db')).href, 'sqlite:data/app.db', `sqlite://${join(dir, 'data', 'app.db')}`]) {
        const storage = await openStorage(input, { name: 'alice' });
        expect(await storage.load(), input).toEqual(loaded(fullSession(2)));
        await storage.close();
      }
      const memory = await openStorage('sqlite::memory:?session=x');
      expect((memory as SqliteStorage).name).toBe('x');
      await memory.save(fullSession(3));
      expect(await memory.load()).toEqual(loaded(fullSession(3)));
      await memory.close();
    });
  });

  it('openSessionStorage on a path gives sqlite session storage and no bus', async () => {
    await inTempDir(async () => {
      const opened = await openSessionStorage('server');
      expect(opened.storage).toBeInstanceOf(SqliteSessionStorage);
      expect(opened.bus).toBeUndefined();
      expect(await opened.storage.createSession(1n, 1n)).toBe(true);
      await opened.storage.close();
    });
  });

  it('a better-sqlite3 that cannot load its native module is explained, pointing to memory or another database', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtstore-open-native-'));
    scratch.push(dir);
    const outcome = runChild(dir, { input: 'bot', breakNative: true });
    expect(outcome.ok).toBe(false);
    expect(outcome.code).toBe('MTSTORE_ADAPTER_UNAVAILABLE');
    expect(outcome.message).toContain('better-sqlite3 failed to load its native module');
    expect(outcome.message).toContain('memory adapter');
  });
});
