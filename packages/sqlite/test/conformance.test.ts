import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { SqliteEventChannel, SqliteSessionEventBus, SqliteSessionStorage, SqliteStorage } from '../src/index.js';
import { removeDatabase, tempDir } from './helpers.js';

// Each kit namespace is its own file; every `open` is a separate connection to it.
const temp = tempDir('conformance');
afterAll(temp.remove);
const fileOf = (namespace: string) => temp.file(`${namespace}.sqlite`);
const cleanup = (namespace: string) => removeDatabase(fileOf(namespace));
// The kit's worker processes (crash and race traits) open the same files through this module.
process.env.MTSTORE_SQLITE_KIT_DIR = temp.dir;
const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

// What the disk holds: the database file and its write-ahead log, byte for byte.
const dumpFiles = (namespace: string) =>
  Buffer.concat([fileOf(namespace), `${fileOf(namespace)}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file)));

describeStorage('sqlite', {
  open: (namespace, name) => new SqliteStorage({ path: fileOf(namespace), name }),
  cleanup,
  processes,
  encryption: {
    open: (namespace, name, encryption) => new SqliteStorage({ path: fileOf(namespace), name, encryption }),
    dump: dumpFiles,
  },
});

describeSessionStorage('sqlite', {
  open: (namespace) => new SqliteSessionStorage(fileOf(namespace)),
  cleanup,
  processes,
});

// SQLite cannot notify other connections: the bus is core's in-process one.
const channels = new Map<string, InstanceType<typeof SqliteEventChannel>>();
const channelOf = (namespace: string) => channels.get(namespace) ?? channels.set(namespace, new SqliteEventChannel()).get(namespace)!;

describeSessionEventBus('sqlite', {
  open: (namespace) => new SqliteSessionEventBus(channelOf(namespace)),
  openStorage: (namespace) => new SqliteSessionStorage(fileOf(namespace)),
  cleanup: (namespace) => {
    channels.delete(namespace);
    cleanup(namespace);
  },
  capabilities: { crossProcess: false },
});
