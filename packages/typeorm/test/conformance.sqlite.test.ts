import { checkServer } from '@mtstore/conformance/vitest';
import { describeSessionStorage, describeStorage, type Damage } from '@mtstore/conformance';
import { afterAll } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { corruptKeys, dumpNamespace, interruptSqlite, processesFor, sqlite, TAMPER_SQL, tamperRows } from './drivers.js';
import { kitApi } from './kit-api.js';

// Each open is a new DataSource (its own connection) on the namespace's tables.
const db = sqlite();
const server = await checkServer(db.name, db.url, () => db.probe());

if (server.available) {
  afterAll(() => db.dispose());
  const cleanup = (namespace: string) => db.cleanup(namespace);
  const processes = processesFor(db);
  const corrupt = (namespace: string, name: string) => corruptKeys(db, namespace, name);
  const interrupt = (namespace: string) => interruptSqlite(db, namespace);

  describeStorage(kitApi, 'typeorm/sqlite', {
    open: (namespace, name) => new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name }),
    openExisting: (namespace, name) => new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name, create: false }),
    processes,
    cleanup,
    corrupt,
    interrupt,
    tamper: { kinds: Object.keys(TAMPER_SQL) as Damage[], apply: (namespace, name, damage) => tamperRows(db, namespace, name, damage) },
    encryption: {
      open: (namespace, name, encryption) => new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name, encryption }),
      dump: (namespace) => dumpNamespace(db, namespace),
    },
  });

  describeSessionStorage(kitApi, 'typeorm/sqlite', {
    open: (namespace) => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace) }),
    openExisting: (namespace) => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), create: false }),
    openWithLifetime: (namespace, lifetime) => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), ...lifetime }),
    processes,
    cleanup,
    interrupt,
  });
}
