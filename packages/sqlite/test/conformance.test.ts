import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { SqliteEventChannel, SqliteSessionEventBus, SqliteSessionStorage, SqliteStorage } from '../src/index.js';
import { removeDatabase, tempDir } from './helpers.js';

// Each kit namespace is its own file; every `open` is a separate connection to it.
const temp = tempDir('conformance');
/**
 * The busy timeout of every instance this process opens: the adapter's default, except
 * in `npm run mutation` (adapters-conformance/mutation/vitest.config.ts sets 1 s). The
 * interrupt hook holds the write lock in this same process and better-sqlite3 waits for
 * a lock synchronously, so each interrupted write waits out the whole timeout: with 1 s
 * the two interrupt traits take 4 s of each mutant's run instead of 20 s, and test the
 * same thing. Not lower: the race traits' worker processes write the same files.
 */
const wait = process.env.MTSTORE_KIT_SQLITE_BUSY_TIMEOUT_MS;
const timeout = wait === undefined ? {} : { busyTimeout: Number(wait) };
afterAll(temp.remove);
const fileOf = (namespace: string) => temp.file(`${namespace}.sqlite`);
const cleanup = (namespace: string) => removeDatabase(fileOf(namespace));
// The kit's worker processes (crash and race traits) open the same files through this module.
process.env.MTSTORE_SQLITE_KIT_DIR = temp.dir;
const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

/** The kit's corrupt hook: a side connection cuts the session's permanent keys to 3 bytes. */
function corrupt(namespace: string, name: string): void {
  const db = new Database(fileOf(namespace));
  try {
    const { changes } = db
      .prepare("UPDATE mtstore_auth_keys SET auth_key = x'010203' WHERE slot = -1 AND session_id = (SELECT id FROM mtstore_sessions WHERE name = ?)")
      .run(name);
    if (changes === 0) throw new Error(`corrupt: session ${name} has no stored key`);
  } finally {
    db.close();
  }
}

/**
 * The kit's interrupt hook. SQLite has no server connection to drop: it becomes
 * unavailable when another process holds the file's write lock. A side connection
 * takes an exclusive lock and lets go 300 ms later; writes in between fail after the
 * busy timeout (SQLITE_BUSY → StorageUnavailableError), and the next ones succeed.
 */
function interrupt(namespace: string): void {
  const db = new Database(fileOf(namespace));
  db.exec('BEGIN EXCLUSIVE');
  setTimeout(() => {
    db.exec('COMMIT');
    db.close();
  }, 300);
}
// What the disk holds: the database file and its write-ahead log, byte for byte.
const dumpFiles = (namespace: string) =>
  Buffer.concat([fileOf(namespace), `${fileOf(namespace)}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file)));

describeStorage('sqlite', {
  open: (namespace, name) => new SqliteStorage({ path: fileOf(namespace), name, ...timeout }),
  cleanup,
  processes,
  corrupt,
  interrupt,
  encryption: {
    open: (namespace, name, encryption) => new SqliteStorage({ path: fileOf(namespace), name, encryption, ...timeout }),
    dump: dumpFiles,
  },
});

describeSessionStorage('sqlite', {
  open: (namespace) => new SqliteSessionStorage({ path: fileOf(namespace), ...timeout }),
  openWithLifetime: (namespace, lifetime) => new SqliteSessionStorage({ path: fileOf(namespace), ...timeout, ...lifetime }),
  cleanup,
  processes,
  interrupt,
});

// SQLite cannot notify other connections: the bus is core's in-process one.
const channels = new Map<string, InstanceType<typeof SqliteEventChannel>>();
const channelOf = (namespace: string) => channels.get(namespace) ?? channels.set(namespace, new SqliteEventChannel()).get(namespace)!;

describeSessionEventBus('sqlite', {
  open: (namespace) => new SqliteSessionEventBus(channelOf(namespace)),
  openStorage: (namespace) => new SqliteSessionStorage({ path: fileOf(namespace), ...timeout }),
  cleanup: (namespace) => {
    channels.delete(namespace);
    cleanup(namespace);
  },
  capabilities: { crossProcess: false },
  // An in-process channel cannot fail by itself: interrupt() holds it down for 100 ms.
  interrupt: (bus) => {
    void (bus as InstanceType<typeof SqliteSessionEventBus>).channel.interrupt(100);
  },
});
