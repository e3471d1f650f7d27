import { LocalEventChannel, LocalSessionEventBus } from '@mtstore/core';
import { checkServer, describeSessionEventBus } from '@mtstore/conformance/vitest';
import { describeSessionStorage, describeStorage, type Damage } from '@mtstore/conformance';
import { afterAll } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { corruptKeys, dumpNamespace, interruptPostgres, kitApplicationName, pooled, processesFor, postgres, TAMPER_SQL, tamperRows } from './drivers.js';
import { kitApi } from './kit-api.js';

// Each open is a new DataSource (its own connection) on the namespace's tables: an
// emptied store of an earlier test where the trait does not see one created (pooled).
const db = pooled(postgres());
const server = await checkServer(db.name, db.url, () => db.probe());

if (server.available) {
  afterAll(() => db.dispose());
  const cleanup = (namespace: string) => db.cleanup(namespace);
  const processes = processesFor(db);
  // Connections of a namespace carry its name, so the interrupt hook finds them.
  const options = (namespace: string) => ({ ...db.options(namespace), applicationName: kitApplicationName(namespace) });
  const corrupt = (namespace: string, name: string) => corruptKeys(db, namespace, name);
  const interrupt = (namespace: string) => interruptPostgres(db, namespace);

  describeStorage(kitApi, 'typeorm/postgres', {
    open: (namespace, name) => new TypeormStorage({ options: options(namespace), tablePrefix: db.forOpen(namespace), name }),
    openExisting: (namespace, name) => new TypeormStorage({ options: options(namespace), tablePrefix: db.forExisting(namespace), name, create: false }),
    processes,
    cleanup,
    corrupt,
    interrupt,
    tamper: { kinds: Object.keys(TAMPER_SQL) as Damage[], apply: (namespace, name, damage) => tamperRows(db, namespace, name, damage) },
    encryption: {
      open: (namespace, name, encryption) => new TypeormStorage({ options: options(namespace), tablePrefix: db.forOpen(namespace), name, encryption }),
      dump: (namespace) => dumpNamespace(db, namespace),
    },
  });

  describeSessionStorage(kitApi, 'typeorm/postgres', {
    open: (namespace) => new TypeormSessionStorage({ options: options(namespace), tablePrefix: db.forOpen(namespace) }),
    openExisting: (namespace) => new TypeormSessionStorage({ options: options(namespace), tablePrefix: db.forExisting(namespace), create: false }),
    openWithLifetime: (namespace, lifetime) => new TypeormSessionStorage({ options: options(namespace), tablePrefix: db.forOpen(namespace), ...lifetime }),
    processes,
    cleanup,
    interrupt,
  });

  // No bus of its own: SessionSubjects over this storage use core's in-process bus (or another adapter's).
  const channels = new Map<string, LocalEventChannel>();
  describeSessionEventBus('typeorm/postgres + core in-process bus', {
    open: (namespace) => new LocalSessionEventBus(channels.get(namespace) ?? channels.set(namespace, new LocalEventChannel()).get(namespace)),
    openStorage: (namespace) => new TypeormSessionStorage({ options: options(namespace), tablePrefix: db.forOpen(namespace) }),
    cleanup: async (namespace) => {
      channels.delete(namespace);
      await db.cleanup(namespace);
    },
    capabilities: { crossProcess: false },
    // The in-process channel cannot fail by itself: interrupt() holds it down for 100 ms.
    interrupt: (bus) => {
      void (bus as LocalSessionEventBus).channel.interrupt(100);
    },
  });
}
