/**
 * Opening: Telethon naming, `:memory:`, file modes, options, pragmas, a borrowed
 * Database, table prefixes.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, readFileSync, mkdirSync, readdirSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fullSession, minimalSession, peer } from '@mtstore/conformance';
import { sessionFilePath, SqliteSessionStorage, SqliteStorage, type SqliteStorageOptions } from '../src/index.js';
import { Child } from './child.js';
import { plain, tempDir } from './helpers.js';

const temp = tempDir('open');
afterAll(temp.remove);

describe('Telethon naming', () => {
  it('adds .session to a path without an extension and resolves it against the working directory', () => {
    expect(sessionFilePath('bot')).toBe(resolve(process.cwd(), 'bot.session'));
    expect(sessionFilePath('data/bot')).toBe(resolve(process.cwd(), 'data/bot.session'));
    expect(sessionFilePath('bot.session')).toBe(resolve(process.cwd(), 'bot.session'));
    expect(sessionFilePath('accounts.db')).toBe(resolve(process.cwd(), 'accounts.db'));
    expect(sessionFilePath('/srv/tg/bot')).toBe('/srv/tg/bot.session');
    expect(sessionFilePath('/srv/tg/bot.sqlite')).toBe('/srv/tg/bot.sqlite');
    expect(sessionFilePath(':memory:')).toBe(':memory:');
    // The path is fixed at construction; opening is lazy and creates nothing yet.
    const storage = new SqliteStorage('not-created-by-this-test');
    expect(storage.path).toBe(resolve(process.cwd(), 'not-created-by-this-test.session'));
    expect(existsSync(storage.path as string)).toBe(false);
  });

  it('new SqliteStorage("bot") in another process writes <its cwd>/bot.session', async () => {
    const dir = realpathSync(temp.dir);
    const child = new Child('open-path.mjs', ['bot'], { cwd: dir });
    const { path } = JSON.parse(await child.next()) as { path: string };
    expect((await child.exited).code).toBe(0);
    expect(realpathSync(path)).toBe(join(dir, 'bot.session'));
    const storage = new SqliteStorage(join(dir, 'bot'));
    expect(await storage.load()).toEqual(minimalSession());
    await storage.close();
  });

  it('an absolute path with an extension is used as given', async () => {
    const path = temp.file('explicit.sqlite3');
    const storage = new SqliteStorage({ path, name: 'alice' });
    await storage.save(minimalSession());
    await storage.close();
    expect(existsSync(path)).toBe(true);
    expect(existsSync(`${path}.session`)).toBe(false);
  });

  it(':memory: works, and is private to its instance', async () => {
    const a = new SqliteStorage(':memory:');
    const b = new SqliteStorage(':memory:');
    await a.save(fullSession(2));
    expect(plain(await a.load())).toEqual(fullSession(2));
    expect(await b.load()).toBeNull();
    expect(a.database.pragma('journal_mode', { simple: true })).toBe('memory');
    await Promise.all([a.close(), b.close()]);
  });
});

describe('file mode', () => {
  it('creates a new file owner-only (0600), and SQLite gives -wal and -shm the same mode, whatever the umask', async () => {
    const path = temp.file('private.session');
    const previous = process.umask(0);
    try {
      const storage = new SqliteStorage(path);
      await storage.save(fullSession(1));
      for (const suffix of ['', '-wal', '-shm']) {
        expect(existsSync(`${path}${suffix}`), suffix).toBe(true);
        expect(statSync(`${path}${suffix}`).mode & 0o777, `mode of ${suffix || 'the database'}`).toBe(0o600);
      }
      await storage.close();
      const server = new SqliteSessionStorage(temp.file('private-server.db'));
      await server.createSession(1n, 1n);
      expect(statSync(temp.file('private-server.db')).mode & 0o777).toBe(0o600);
      await server.close();
    } finally {
      process.umask(previous);
    }
  });

  it('leaves the mode of an existing file alone', async () => {
    const path = temp.file('shared.session');
    writeFileSync(path, '');
    chmodSync(path, 0o640);
    const storage = new SqliteStorage(path);
    await storage.save(minimalSession());
    await storage.close();
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('a directory as the path fails naming the path and what is wrong, and creates nothing', async () => {
    const dir = temp.file('a-directory.session');
    mkdirSync(dir);
    const storage = new SqliteStorage(dir);
    const error = (await storage.load().catch((e: unknown) => e)) as { code: string; message: string };
    expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error.message).toContain(`${dir} is a directory`);
    expect(readdirSync(dir)).toEqual([]);
    await storage.close();
  });

  it('a symbolic link to a file that does not exist is refused naming both, and the target is not created', async () => {
    const target = temp.file('elsewhere.session');
    const link = temp.file('dangling.session');
    symlinkSync(target, link);
    const previous = process.umask(0o022);
    try {
      const storage = new SqliteStorage(link);
      const error = (await storage.save(minimalSession()).catch((e: unknown) => e)) as { code: string; message: string };
      expect(error.code).toBe('MTSTORE_INVALID_ARGUMENT');
      expect(error.message).toContain(`${link} is a symbolic link to ${target}, which does not exist`);
      expect(existsSync(target)).toBe(false);
      await storage.close();
    } finally {
      process.umask(previous);
    }
    // A link to an existing file is followed as before.
    writeFileSync(target, '');
    chmodSync(target, 0o600);
    const storage = new SqliteStorage(link);
    await storage.save(minimalSession());
    expect(await storage.load()).toEqual(minimalSession());
    await storage.close();
  });

  it('create: false opens only an @mtstore/sqlite database that is there: anything else is NotFoundError and left byte for byte', async () => {
    const missing = temp.file('create-false-missing.session');
    const other = temp.file('create-false-other.db');
    const setup = new Database(other);
    setup.exec("CREATE TABLE app_data (x); INSERT INTO app_data VALUES ('precious')");
    setup.close();
    const empty = temp.file('create-false-empty.db');
    writeFileSync(empty, '');
    for (const [path, why] of [
      [missing, 'no database file'],
      [other, '1 table(s) of another program'],
      [empty, 'an empty database'],
    ] as const) {
      const before = existsSync(path) ? readFileSync(path) : null;
      for (const storage of [new SqliteStorage({ path, create: false }), new SqliteSessionStorage({ path, create: false })]) {
        const error = (await ('load' in storage ? storage.load() : storage.hasSession(1n, 1n)).catch((e: unknown) => e)) as { code: string; message: string };
        expect(error.code, path).toBe('MTSTORE_NOT_FOUND');
        expect(error.message).toContain(why);
        await storage.close();
      }
      if (before === null) expect(existsSync(path)).toBe(false);
      else expect(readFileSync(path).equals(before), `${path} unchanged`).toBe(true);
      for (const suffix of ['-wal', '-shm', '-journal']) expect(existsSync(path + suffix)).toBe(false);
    }
    // A store that is there opens as usual; only its own prefix counts.
    const store = temp.file('create-false-store.session');
    const writer = new SqliteStorage(store);
    await writer.save(minimalSession());
    await writer.close();
    const reader = new SqliteStorage({ path: store, create: false });
    expect(await reader.load()).toEqual(minimalSession());
    await reader.close();
    const otherPrefix = new SqliteStorage({ path: store, create: false, tablePrefix: 'tg_' });
    await expect(otherPrefix.load()).rejects.toMatchObject({ code: 'MTSTORE_NOT_FOUND' });
    await otherPrefix.close();
  });

  it("create: false with ':memory:' is NotFoundError on first use, as a missing file is, and connects nothing; an in-memory Database holding a store opens", async () => {
    const client = new SqliteStorage({ path: ':memory:', create: false });
    const server = new SqliteSessionStorage({ path: ':memory:', create: false });
    for (const call of [() => client.load(), () => client.kv.set('k', new Uint8Array(1)), () => server.createSession(1n, 2n)]) {
      const error = (await call().catch((e: unknown) => e)) as { code: string; message: string };
      expect(error.code).toBe('MTSTORE_NOT_FOUND');
      expect(error.message).toContain("no @mtstore/sqlite database in ':memory:' (create: false)");
    }
    // Not remembered, as every failed open: it is refused again, still without tables made.
    expect(() => client.database).toThrow(expect.objectContaining({ code: 'MTSTORE_NOT_FOUND' }));
    await Promise.all([client.close(), server.close()]);
    const db = new Database(':memory:');
    const writer = new SqliteStorage({ database: db });
    await writer.save(minimalSession());
    const reader = new SqliteStorage({ database: db, create: false });
    expect(await reader.load()).toEqual(minimalSession());
    await Promise.all([writer.close(), reader.close()]);
    db.close();
  });

  it('a session string given as the path is refused before any I/O, without quoting it', async () => {
    const text = `1${Buffer.from(Array.from({ length: 263 }, (_, i) => (i * 7) & 0xff)).toString('base64url')}`;
    const error = (() => {
      try {
        new SqliteStorage(text);
      } catch (e) {
        return e as { code: string; message: string };
      }
      return null;
    })();
    expect(error?.code).toBe('MTSTORE_INVALID_ARGUMENT');
    expect(error?.message).toContain('a session string given as a path?');
    expect(error?.message).not.toContain(text.slice(4, 30));
    expect(existsSync(`${text}.session`)).toBe(false);
  });

  it('a standard-base64 session string (with "/") given as the path is not quoted when its file cannot be created', async () => {
    const text = `1${Buffer.from(Array.from({ length: 263 }, (_, i) => (i * 7 + 3) & 0xff)).toString('base64')}`;
    expect(text).toContain('/');
    const error = (await new SqliteStorage(temp.file(text)).load().catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(error.message).toContain('not shown: a session string given as a path?');
    expect(error.message).toContain('ENOENT');
    for (let at = 0; at + 16 <= text.length; at += 16) expect(inspect(error)).not.toContain(text.slice(at, at + 16));
  });

  it('a file that cannot be created or opened fails naming its path', async () => {
    const missing = temp.file('no-such-dir/bot.session');
    const error = (await new SqliteStorage(missing).load().catch((e: unknown) => e)) as { code: string; message: string };
    expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(error.message).toContain(`cannot create ${missing}`);
    if (process.getuid?.() !== 0) {
      const locked = temp.file('read-only.session');
      writeFileSync(locked, '');
      chmodSync(locked, 0o000);
      const denied = (await new SqliteStorage(locked).load().catch((e: unknown) => e)) as { message: string };
      expect(denied.message).toContain(locked);
    }
  });
});

describe('options', () => {
  const bad: Array<[string, object | null]> = [
    ['no path and no database', {}],
    ['both path and database', { path: temp.file('x.db'), database: new Database(':memory:') }],
    ['an empty path', { path: '' }],
    ['a path that is not a string', { path: 42 }],
    ['a database that is not one', { database: {} }],
    ['a table prefix that could inject SQL', { path: ':memory:', tablePrefix: 'x; DROP TABLE y; --' }],
    ['a table prefix starting with a digit', { path: ':memory:', tablePrefix: '1x' }],
    // SQLite refuses such table names ("reserved for internal use"): it was a MigrationError at the first call.
    ['a table prefix SQLite reserves (sqlite_)', { path: ':memory:', tablePrefix: 'sqlite_' }],
    ['a table prefix SQLite reserves, in any case', { path: ':memory:', tablePrefix: 'SQLite_tg_' }],
    ['synchronous OFF (not durable)', { path: ':memory:', synchronous: 'OFF' }],
    ['a negative busyTimeout', { path: ':memory:', busyTimeout: -1 }],
    ['a fractional busyTimeout', { path: ':memory:', busyTimeout: 1.5 }],
    ['a negative mmapSize', { path: ':memory:', mmapSize: -1 }],
    ['an mmapSize that is not a whole number', { path: ':memory:', mmapSize: 1.5 }],
    ['an mmapSize given as a string', { path: ':memory:', mmapSize: '0' }],
    ['create given as a string', { path: ':memory:', create: 'false' }],
    ['a file name longer than any file system takes', { path: `${'A'.repeat(300)}.session` }],
    ['pragmas with a borrowed database', { database: new Database(':memory:'), synchronous: 'FULL' }],
    ['mmapSize with a borrowed database', { database: new Database(':memory:'), mmapSize: 0 }],
    ['an invalid session name', { path: ':memory:', name: 'no spaces' }],
    ['null', null],
  ];
  for (const [what, options] of bad) {
    it(`rejects ${what} with InvalidArgumentError in the constructor`, () => {
      expect(() => new SqliteStorage(options as SqliteStorageOptions)).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
      // The server has no session name; every other bad option applies to it too.
      if (options === null || !('name' in options)) {
        expect(() => new SqliteSessionStorage(options as SqliteStorageOptions)).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT' }));
      }
    });
  }
});

describe('pragmas', () => {
  it('owned files: WAL, synchronous NORMAL, foreign keys on, busy_timeout 5000, temp_store MEMORY, no memory map while small', async () => {
    const storage = new SqliteStorage(temp.file('pragmas-default'));
    const db = storage.database;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('temp_store', { simple: true })).toBe(2);
    // A file the page cache holds whole is not mapped (the map would only cost its setup).
    expect(db.pragma('mmap_size', { simple: true })).toBe(0);
    await storage.close();
    expect(db.open).toBe(false);
    expect(() => storage.database).toThrow(expect.objectContaining({ code: 'MTSTORE_STORAGE_CLOSED' }));
  });

  it('synchronous FULL and busyTimeout are configurable, on the client and on the server', async () => {
    const options = { path: temp.file('pragmas-custom'), synchronous: 'FULL', busyTimeout: 12_345 } as const;
    for (const storage of [new SqliteStorage(options), new SqliteSessionStorage(options)]) {
      expect(storage.database.pragma('synchronous', { simple: true })).toBe(2);
      expect(storage.database.pragma('busy_timeout', { simple: true })).toBe(12_345);
      expect(storage.database.pragma('journal_mode', { simple: true })).toBe('wal');
      await storage.close();
    }
  });
});

describe('a file this process cannot write', () => {
  // Root reads and writes any file whatever its mode: the child runs as nobody. CI runs
  // as root; elsewhere (not root) the test cannot drop to another user.
  const asRoot = process.getuid?.() === 0;
  it.runIf(asRoot || process.env.CI === 'true')('in rollback-journal mode, at the current schema: reads work, a write is StorageUnavailableError, the file is left as it was', async () => {
    const dir = join(temp.dir, 'read-only');
    mkdirSync(dir);
    const path = join(dir, 'journal.session');
    const storage = new SqliteStorage({ path, name: 'a' });
    await storage.save(minimalSession());
    await storage.kv.set('x', Uint8Array.of(1));
    await storage.close();
    // A file in rollback-journal mode: made through a borrowed Database kept in that mode,
    // or by another SQLite tool.
    const db = new Database(path);
    db.pragma('journal_mode = DELETE');
    db.close();
    chmodSync(path, 0o444);
    chmodSync(dir, 0o755);
    chmodSync(temp.dir, 0o755);
    const before = readFileSync(path);

    const child = new Child('read-only.mjs', [path], { uid: 65534, gid: 65534 });
    const { code } = await child.exited;
    expect(code, child.stderr).toBe(0);
    const replies = child.received.filter((line) => line !== '').map((line) => JSON.parse(line) as { name: string; value?: unknown; code?: string; message?: string });
    expect(replies.slice(0, 2)).toEqual([
      { name: 'load', value: minimalSession().homeDcId },
      { name: 'get', value: [1] },
    ]);
    expect(replies[2]).toMatchObject({ name: 'set', code: 'MTSTORE_STORAGE_UNAVAILABLE', message: expect.stringMatching(/readonly/) });
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['journal.session']);
  });

  it.runIf(asRoot || process.env.CI === 'true')('in WAL mode, in a directory it cannot write: a StorageUnavailableError that names the directory as the cause', async () => {
    const dir = join(temp.dir, 'read-only-dir');
    mkdirSync(dir);
    const path = join(dir, 'wal.session');
    const storage = new SqliteStorage({ path, name: 'a' });
    await storage.kv.set('x', Uint8Array.of(1));
    await storage.close();
    // Readable by the child (a new file is 0600), and the file itself writable: the directory is the cause.
    chmodSync(path, 0o666);
    chmodSync(dir, 0o755);
    chmodSync(temp.dir, 0o755);
    const child = new Child('read-only.mjs', [path], { uid: 65534, gid: 65534 });
    expect((await child.exited).code, child.stderr).toBe(0);
    const load = JSON.parse(child.received[0] as string) as { code?: string; message?: string };
    expect(load.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    // SQLite's own words ("attempt to write a readonly database") for a read explained nothing.
    expect(load.message).toContain(`cannot read ${path}`);
    expect(load.message).toContain('SQLITE_READONLY_DIRECTORY');
    expect(load.message).toContain('-shm');
  });

  it.runIf(asRoot || process.env.CI === 'true')('in rollback-journal mode with the journal of a writer killed mid-transaction: a StorageUnavailableError that says the rollback needs write access', async () => {
    const dir = join(temp.dir, 'hot-journal');
    mkdirSync(dir);
    const path = join(dir, 'hot.session');
    const storage = new SqliteStorage({ path, name: 'a' });
    await storage.kv.set('x', Uint8Array.of(1));
    await storage.close();
    const db = new Database(path);
    db.pragma('journal_mode = DELETE');
    db.close();
    // A writer killed inside a transaction leaves its journal beside the file (hot).
    const script = `const db = new (require('better-sqlite3'))(${JSON.stringify(path)}); db.prepare('BEGIN IMMEDIATE').run();
      db.prepare('UPDATE mtstore_kv SET value = zeroblob(5000)').run(); db.pragma('cache_size = 1'); db.prepare('UPDATE mtstore_kv SET value = zeroblob(6000)').run();
      process.kill(process.pid, 'SIGKILL');`;
    expect(spawnSync(process.execPath, ['-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)) }).signal).toBe('SIGKILL');
    expect(existsSync(`${path}-journal`)).toBe(true);
    chmodSync(path, 0o444);
    chmodSync(dir, 0o755);
    chmodSync(temp.dir, 0o755);
    const child = new Child('read-only.mjs', [path], { uid: 65534, gid: 65534 });
    expect((await child.exited).code, child.stderr).toBe(0);
    const load = JSON.parse(child.received[0] as string) as { code?: string; message?: string };
    expect(load.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(load.message).toContain('SQLITE_READONLY_ROLLBACK');
    expect(load.message).toContain('-journal');
    expect(load.message).not.toContain('creating or migrating');
  });

  it('a read-only Database whose tables would have to be created or migrated: a StorageUnavailableError that says so', async () => {
    const empty = temp.file('read-only-empty.db');
    new Database(empty).close();
    const old = temp.file('read-only-old.db');
    const db = new Database(old);
    db.exec("CREATE TABLE mtstore_meta (key TEXT PRIMARY KEY, value); INSERT INTO mtstore_meta VALUES ('schema_version', 9);");
    db.close();
    for (const path of [empty, old]) {
      const readOnly = new Database(path, { readonly: true });
      const storage = new SqliteStorage({ database: readOnly, name: 'a' });
      const error = await storage.load().then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(error?.code, path).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(error?.message).toContain('cannot be written by this connection (SQLITE_READONLY');
      expect(error?.message).toContain('creating or migrating the @mtstore/sqlite tables');
      await storage.close();
      readOnly.close();
    }
  });
});

describe('the write-ahead log after a long read', () => {
  it('grows while another process’s read holds back checkpoints, and is cut back to 16 MiB once they run again', async () => {
    const path = temp.file('long-read.session');
    const storage = new SqliteStorage({ path, name: 'a' });
    await storage.kv.set('seed', Uint8Array.of(1));
    expect(storage.database.pragma('journal_size_limit', { simple: true })).toBe(16 * 1024 * 1024);
    // A reader of another connection (a CLI reading the file, the application's own
    // statement): no checkpoint can pass its snapshot, so every commit appends to the log.
    const reader = new Database(path);
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT count(*) FROM mtstore_kv').get();
    const value = new Uint8Array(200);
    const walSize = (): number => statSync(`${path}-wal`).size;
    for (let i = 0; walSize() <= 20 * 1024 * 1024; i++) await storage.kv.set(`k${i % 100}`, value.fill(i & 255));
    reader.prepare('COMMIT').run();
    reader.close();
    // The next automatic checkpoint copies the log into the file; the commit after it starts
    // the log over and, with journal_size_limit, cuts the file back (without it, it stays
    // at its largest size for as long as any connection keeps the file open).
    for (let i = 0; i < 2_000 && walSize() > 16 * 1024 * 1024; i++) await storage.kv.set(`k${i % 100}`, value.fill(i & 255));
    expect(walSize()).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(await storage.kv.get('k1')).toBeInstanceOf(Uint8Array);
    await storage.close();
  });
});

describe('switching to WAL while another connection of this process has the file open', () => {
  /**
   * The application's own better-sqlite3 Database on the file, in rollback-journal mode
   * (a borrowed database keeps its journal mode), with the mtstore tables made through
   * it and a session saved.
   */
  async function rollbackFile(name: string): Promise<{ path: string; app: Database.Database }> {
    const path = temp.file(name);
    const app = new Database(path);
    const borrowed = new SqliteStorage({ database: app });
    await borrowed.save(fullSession(1));
    await borrowed.close();
    expect(app.pragma('journal_mode', { simple: true })).toBe('delete');
    return { path, app };
  }

  for (const [what, hold] of [
    ['a read in progress (an open iterator)', (app: Database.Database) => {
      const rows = app.prepare('SELECT name FROM sqlite_master').iterate();
      rows.next();
      return () => void rows.return?.();
    }],
    ['a write transaction in progress', (app: Database.Database) => {
      app.exec('BEGIN IMMEDIATE; CREATE TABLE app_rows (x); INSERT INTO app_rows VALUES (1)');
      return () => app.exec('COMMIT');
    }],
  ] as const) {
    it(`with ${what}: the open succeeds at once in the file's journal mode, and the next open switches it`, async () => {
      const { path, app } = await rollbackFile(`defer-${what.length}.db`);
      const release = hold(app);
      const storage = new SqliteStorage({ path, busyTimeout: 2_000 });
      const server = new SqliteSessionStorage({ path, busyTimeout: 2_000 });
      const started = Date.now();
      // Used to be StorageUnavailableError "database is locked" after busyTimeout: the
      // switch waited for a connection that could not move while this call blocked.
      expect(plain(await storage.load())).toEqual(fullSession(1));
      expect(await server.hasSession(1n, 1n)).toBe(false);
      expect(Date.now() - started).toBeLessThan(1_000);
      // Deferred: still the rollback journal, busy_timeout back to the option.
      expect(storage.database.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(storage.database.pragma('busy_timeout', { simple: true })).toBe(2_000);
      release();
      // Writes work in that mode once the application's transaction is over.
      await storage.save(fullSession(2));
      await server.createSession(1n, 1n);
      await storage.close();
      await server.close();
      const again = new SqliteStorage({ path });
      expect(plain(await again.load())).toEqual(fullSession(2));
      expect(again.database.pragma('journal_mode', { simple: true })).toBe('wal');
      await again.close();
      app.close();
    });
  }

  it('a new file the tables cannot be made in while the application holds a read: a StorageUnavailableError that says why and what to do', async () => {
    const path = temp.file('defer-fresh.db');
    const app = new Database(path);
    app.exec('CREATE TABLE app_rows (x); INSERT INTO app_rows VALUES (1), (2)');
    const rows = app.prepare('SELECT x FROM app_rows').iterate();
    rows.next();
    const storage = new SqliteStorage({ path, busyTimeout: 100 });
    const failure = await storage.load().then(
      () => undefined,
      (error: unknown) => error as { code?: unknown; message: string },
    );
    expect(failure?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    expect(failure?.message).toContain(`${path} is locked by another connection (SQLITE_BUSY after busyTimeout 100 ms): the file is in rollback-journal mode`);
    expect(failure?.message).toContain('If that connection is in this process, waiting longer cannot help');
    expect(failure?.message).toContain('PRAGMA journal_mode=WAL');
    // Not memoized: once the read is over, the same instance opens, in WAL.
    rows.return?.();
    expect(await storage.load()).toBeNull();
    expect(storage.database.pragma('journal_mode', { simple: true })).toBe('wal');
    await storage.close();
    app.close();
  });
});

describe('the memory map (mmapSize)', () => {
  const MIB = 1024 * 1024;
  const mapped = (storage: SqliteStorage | SqliteSessionStorage): unknown => storage.database.pragma('mmap_size', { simple: true });
  /** Peer batches of ~2 MB (1,000 peers with 2,000 bytes of TL each), numbered from `first`. */
  const bigBatch = (first: number) => Array.from({ length: 1000 }, (_, k) => ({ ...peer('user', first + k), complete: new Uint8Array(2000).fill(k & 0xff) }));

  it('maps a file once peer batches grow it past the 16 MiB page cache, and a large file when it is opened', async () => {
    const path = temp.file('mapped.db');
    const storage = new SqliteStorage({ path, name: 'big' });
    await storage.save(minimalSession());
    let batches = 0;
    while (mapped(storage) === 0 && batches < 30) {
      // Not mapped while the file is smaller than the cache.
      expect(statSync(path).size).toBeLessThan(16 * MIB);
      await storage.peers.upsert(bigBatch(batches * 1000 + 1));
      batches += 1;
    }
    expect(mapped(storage)).toBe(256 * MIB);
    expect(statSync(path).size).toBeGreaterThanOrEqual(16 * MIB);
    // Reads through the map see what was written.
    expect((await storage.peers.getById('user', 1n))?.complete).toEqual(new Uint8Array(2000).fill(0));
    await storage.close();

    // Opened again: mapped at once, the size as given, on the client and on the server.
    for (const again of [new SqliteStorage({ path, name: 'big', mmapSize: 64 * MIB }), new SqliteSessionStorage({ path, mmapSize: 64 * MIB })]) {
      expect(mapped(again)).toBe(64 * MIB);
      await again.close();
    }
    const defaults = new SqliteStorage({ path, name: 'big' });
    expect(mapped(defaults)).toBe(256 * MIB);
    expect((await defaults.peers.getById('user', 2n))?.complete).toEqual(new Uint8Array(2000).fill(1));
    await defaults.close();

    // mmapSize 0: never mapped, neither at open nor as batches grow the file.
    const unmapped = new SqliteStorage({ path, name: 'big', mmapSize: 0 });
    expect(mapped(unmapped)).toBe(0);
    for (let b = 0; b < 2; b++) await unmapped.peers.upsert(bigBatch((batches + b) * 1000 + 1));
    expect(mapped(unmapped)).toBe(0);
    await unmapped.close();
  });
});

describe('a borrowed Database', () => {
  it('is used as it is: no pragma changed, not closed by close()', async () => {
    const db = new Database(temp.file('borrowed.db'));
    db.exec('CREATE TABLE app_users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO app_users (name) VALUES (\'ann\')');
    const before = ['journal_mode', 'synchronous', 'foreign_keys', 'busy_timeout', 'temp_store', 'mmap_size', 'journal_size_limit'].map((p) => db.pragma(p, { simple: true }));
    const client = new SqliteStorage({ database: db, name: 'alice' });
    const server = new SqliteSessionStorage({ database: db });
    await client.save(fullSession(3));
    await client.peers.upsert([peer('user', 1), peer('channel', 2)]);
    await server.createSession(-1n, 2n ** 63n - 1n);
    expect(plain(await client.load())).toEqual(fullSession(3));
    expect(await server.listSessions(-1n)).toEqual([2n ** 63n - 1n]);
    await client.close();
    await server.close();

    expect(db.open).toBe(true);
    expect(['journal_mode', 'synchronous', 'foreign_keys', 'busy_timeout', 'temp_store', 'mmap_size', 'journal_size_limit'].map((p) => db.pragma(p, { simple: true }))).toEqual(before);
    // The connection's own default (numbers, not bigints) is untouched too.
    expect(db.prepare('SELECT 2').pluck().get()).toBe(2);
    expect(db.prepare('SELECT name FROM app_users').pluck().all()).toEqual(['ann']);
    db.close();
  });

  it('messages name the file the Database was opened on (they said only "the given database")', async () => {
    const path = temp.file('borrowed-empty.db');
    for (const [db, shown] of [
      [new Database(path), path],
      [new Database(':memory:'), ':memory:'],
    ] as const) {
      const reader = new SqliteStorage({ database: db, create: false });
      const error = (await reader.load().catch((e: unknown) => e)) as { code: string; message: string };
      expect(error.code).toBe('MTSTORE_NOT_FOUND');
      expect(error.message).toContain(`the given database (${shown}) holds no @mtstore/sqlite database`);
      await reader.close();
      db.close();
    }
  });

  it("a lock that outlasts the Database's own busy_timeout: the message gives that timeout and its journal mode (WAL), not the path option's", async () => {
    const path = temp.file('borrowed-busy.db');
    const db = new Database(path, { timeout: 50 });
    db.pragma('journal_mode = WAL');
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE; CREATE TABLE app_rows (x)');
    const storage = new SqliteStorage({ database: db });
    const error = (await storage.load().catch((e: unknown) => e)) as { code: string; message: string };
    expect(error.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
    // It said "after busyTimeout 5000 ms: the file is in rollback-journal mode (not WAL)".
    expect(error.message).toContain(`the given database (${path}) is locked by another connection (SQLITE_BUSY after its busy_timeout 50 ms): another connection held a write transaction`);
    expect(error.message).not.toContain('rollback-journal');
    other.exec('ROLLBACK');
    other.close();
    // Not remembered: the next call opens.
    expect(await storage.load()).toBeNull();
    await storage.close();
    db.close();
  });

  it("a lock's message reads the journal mode with the wait off: the failing call waits out the Database's busy_timeout once, not again for the message", async () => {
    // better-sqlite3 has no busy handler of its own to count the waits with; its verbose
    // logger shows every statement run, and the pragmas set around them. On a Database that
    // has not read the schema yet, PRAGMA journal_mode must read it first, under the lock
    // that just failed: it waited busy_timeout again (fails to prepare, so it is not logged:
    // a failed call took 817 ms with busy_timeout 400, seen; not asserted, a timing).
    for (const mode of ['wal', 'delete'] as const) {
      const path = temp.file(`borrowed-busy-${mode}.db`);
      const setup = new Database(path);
      setup.pragma(`journal_mode = ${mode}`);
      setup.close();
      const log: string[] = [];
      const db = new Database(path, { timeout: 200, verbose: (sql) => log.push(String(sql)) });
      const other = new Database(path);
      other.exec('BEGIN EXCLUSIVE; CREATE TABLE app_rows (x)');
      const storage = new SqliteStorage({ database: db });
      const error = (await storage.load().catch((e: unknown) => e)) as { code: string; message: string };
      expect(error.code, mode).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(error.message, mode).toContain(`(SQLITE_BUSY after its busy_timeout 200 ms): ${mode === 'wal' ? 'another connection held a write transaction' : 'the file is in rollback-journal mode'}`);
      // The busy_timeout in force at each statement, from the pragmas that set it.
      let timeout = 200;
      const readAt: number[] = [];
      for (const sql of log) {
        const set = /^PRAGMA busy_timeout = (\d+)$/.exec(sql);
        if (set !== null) timeout = Number(set[1]);
        else if (/^PRAGMA journal_mode$/i.test(sql)) readAt.push(timeout);
      }
      // Looked up (in WAL mode it is read; in rollback mode it cannot be without the lock), never with a wait.
      expect(log, mode).toContain('PRAGMA busy_timeout = 0');
      expect(readAt.every((t) => t === 0), `${mode}: journal_mode read with busy_timeout ${readAt.join(', ')}`).toBe(true);
      // And the Database's own setting is back.
      expect(timeout, mode).toBe(200);
      expect(db.pragma('busy_timeout', { simple: true }), mode).toBe(200);
      other.exec('ROLLBACK');
      other.close();
      expect(await storage.load()).toBeNull();
      await storage.close();
      db.close();
    }
  });

  it('closed by the application under the storage: every call is StorageUnavailableError saying so (it said "The database connection is not open", an outage a retry would end)', async () => {
    const path = temp.file('borrowed-closed.db');
    const db = new Database(path);
    const storage = new SqliteStorage({ database: db, name: 'alice' });
    const server = new SqliteSessionStorage({ database: db });
    await storage.save(minimalSession());
    await storage.kv.set('k', new Uint8Array([1]));
    await storage.peers.upsert([peer('user', 1)]);
    await storage.authKeys.set(2, new Uint8Array(256).fill(7));
    await storage.refMessages.store(1n, -1002n, 7);
    await server.createSession(1n, 2n);
    await storage.lease.acquire({ heartbeat: false });
    db.close();
    const calls: Array<[string, () => unknown]> = [
      ['load', () => storage.load()],
      ['save', () => storage.save(minimalSession())],
      ['kv.get', () => storage.kv.get('k')],
      ['kv.set', () => storage.kv.set('k', new Uint8Array([2]))],
      ['authKeys.get', () => storage.authKeys.get(2)],
      ['authKeys.set', () => storage.authKeys.set(2, new Uint8Array(256).fill(8))],
      ['peers.getById', () => storage.peers.getById('user', 1n)],
      ['peers.upsert', () => storage.peers.upsert([peer('user', 2)])],
      ['refMessages.getByPeer', () => storage.refMessages.getByPeer(1n)],
      ['lease.holder', () => storage.lease.holder()],
      ['database', () => storage.database],
      ['hasSession', () => server.hasSession(1n, 2n)],
      ['createSession', () => server.createSession(1n, 3n)],
    ];
    for (const [what, call] of calls) {
      for (let attempt = 0; attempt < 2; attempt++) {
        let error: { code?: string; message?: string } | undefined;
        try {
          await call();
        } catch (e) {
          error = e as typeof error;
        }
        expect(error?.code, what).toBe('MTSTORE_STORAGE_UNAVAILABLE');
        expect(error?.message, what).toContain(`the given database (${path}) was closed by the application (db.close())`);
      }
    }
    await storage.close();
    await server.close();
  });

  it('inside a transaction the application has open: the tables are not made there, and the peer staging and lease tables made there are made again after its rollback', async () => {
    const db = new Database(':memory:');
    const storage = new SqliteStorage({ database: db });
    const server = new SqliteSessionStorage({ database: db });
    db.exec('BEGIN');
    for (const call of [() => storage.load(), () => server.hasSession(1n, 2n)]) {
      const error = (await call().catch((e: unknown) => e)) as { code: string; message: string } | null;
      // They were made inside it, its rollback took them, and every later call failed 'no such table: mtstore_sessions'.
      expect(error?.code).toBe('MTSTORE_STORAGE_UNAVAILABLE');
      expect(error?.message).toContain('the given database (:memory:) has a transaction open');
    }
    db.exec('ROLLBACK');
    await storage.save(minimalSession());
    expect(await server.createSession(1n, 2n)).toBe(true);
    // With the store there, calls inside it work, and go with its rollback.
    const leaser = new SqliteStorage({ database: db });
    db.exec('BEGIN');
    expect(await storage.load()).toEqual(minimalSession());
    await storage.peers.upsert([peer('user', 1)]);
    await leaser.lease.acquire({ heartbeat: false });
    db.exec('ROLLBACK');
    // The peer batch's TEMP staging table and the lease table, made on first use inside
    // it, were kept as made: each later batch failed 'no such table: temp.mtstore_peers_batch'
    // and each lease call 'no such table: mtstore_leases' for as long as the instance lived.
    expect(await storage.peers.getById('user', 1n)).toBeNull();
    await storage.peers.upsert([peer('user', 2)]);
    expect(await storage.peers.getById('user', 2n)).toEqual(peer('user', 2));
    // The lease it took went with the rollback: the next acquire finds it lost, the one after takes a new one.
    await expect(leaser.lease.acquire({ heartbeat: false })).rejects.toMatchObject({ code: 'MTSTORE_LEASE_LOST' });
    await leaser.lease.acquire({ heartbeat: false, owner: { label: 'again' } });
    expect((await storage.lease.holder())?.owner.label).toBe('again');
    await Promise.all([storage.close(), server.close(), leaser.close()]);
    db.close();
  });

  it('one that is already closed is InvalidArgumentError in the constructor, not an outage at the first call', () => {
    const db = new Database(':memory:');
    db.close();
    for (const build of [() => new SqliteStorage({ database: db, name: 'alice' }), () => new SqliteSessionStorage({ database: db })]) {
      expect(build).toThrow(expect.objectContaining({ code: 'MTSTORE_INVALID_ARGUMENT', message: expect.stringContaining('already closed') }));
    }
  });

  it('delete removes every row of the session even with foreign_keys off', async () => {
    const db = new Database(':memory:');
    // better-sqlite3 turns foreign keys on by default; an application may turn them off.
    db.pragma('foreign_keys = OFF');
    const alice = new SqliteStorage({ database: db, name: 'alice' });
    const bob = new SqliteStorage({ database: db, name: 'bob' });
    for (const storage of [alice, bob]) {
      await storage.save(fullSession(2));
      await storage.peers.upsert([peer('user', 1, { usernames: ['a', 'b'] }), peer('chat', 2)]);
      await storage.kv.set('salts', new Uint8Array([1, 2]));
      await storage.refMessages.store(1n, -1002n, 7);
    }
    const count = () =>
      Object.fromEntries(
        ['sessions', 'dcs', 'auth_keys', 'auth_key_bytes', 'channels', 'peers', 'peer_usernames', 'kv', 'ref_messages'].map((t) => [t, db.prepare(`SELECT count(*) FROM mtstore_${t}`).pluck().get()]),
      );
    const both = count();
    await alice.delete();
    const left = count();
    for (const [table, n] of Object.entries(both)) expect(left[table], table).toBe((n as number) / 2);
    expect(plain(await bob.load())).toEqual(fullSession(2));
    db.close();
  });

  it('works on a connection that reads integers as bigints by default', async () => {
    const db = new Database(':memory:').defaultSafeIntegers(true);
    const client = new SqliteStorage({ database: db, name: 'alice' });
    const server = new SqliteSessionStorage({ database: db });
    await client.save(fullSession(4));
    await client.peers.upsert([peer('user', 5, { min: true, phone: '123' })]);
    expect(plain(await client.load())).toEqual(fullSession(4));
    expect(await client.peers.getById('user', 5n)).toEqual(peer('user', 5, { min: true, phone: '123' }));
    expect(await server.createSession(1n, 2n)).toBe(true);
    expect(await server.hasSession(1n, 2n)).toBe(true);
    db.close();
  });
});

describe('table prefixes', () => {
  it('two prefixes in one file are independent stores with their own tables', async () => {
    const path = temp.file('prefixes.db');
    const a = new SqliteStorage({ path, tablePrefix: 'a_' });
    const b = new SqliteStorage({ path, tablePrefix: '' });
    await a.save(fullSession(1));
    expect(await b.load()).toBeNull();
    await b.save(minimalSession());
    expect(plain(await a.load())).toEqual(fullSession(1));
    const tables = a.database.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%sessions' ORDER BY name").pluck().all();
    expect(tables).toEqual(['a_server_sessions', 'a_sessions', 'server_sessions', 'sessions']);
    await Promise.all([a.close(), b.close()]);
  });

  it('a prefix that differs only in case names the same tables (SQLite ignores the case of names): it opens that store, with create: false too', async () => {
    const path = temp.file('prefix-case.db');
    const writer = new SqliteStorage({ path, tablePrefix: 'tg_', name: 'alice' });
    await writer.save(fullSession(1));
    await writer.lease.acquire({ heartbeat: false, owner: { label: 'writer' } });
    for (const options of [{ tablePrefix: 'TG_' }, { tablePrefix: 'Tg_', create: false }]) {
      const other = new SqliteStorage({ path, name: 'alice', ...options });
      expect(plain(await other.load()), options.tablePrefix).toEqual(fullSession(1));
      expect(await other.listNames()).toEqual(['alice']);
      // The lease table is found by its name too (it was "no lease": the holder was not seen).
      expect((await other.lease.holder())?.owner.label).toBe('writer');
      await other.close();
    }
    await writer.close();
  });
});
