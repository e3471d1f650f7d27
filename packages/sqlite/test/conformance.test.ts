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

describeStorage('sqlite', {
  open: (namespace, name) => new SqliteStorage({ path: fileOf(namespace), name }),
  cleanup,
  processes,
});

describeSessionStorage('sqlite', {
  open: (namespace) => new SqliteSessionStorage(fileOf(namespace)),
  openWithLifetime: (namespace, lifetime) => new SqliteSessionStorage({ path: fileOf(namespace), ...lifetime }),
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
  // An in-process channel cannot fail by itself: interrupt() holds it down for 100 ms.
  interrupt: (bus) => {
    void (bus as InstanceType<typeof SqliteSessionEventBus>).channel.interrupt(100);
  },
});
