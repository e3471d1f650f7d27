import { checkServer, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { afterAll } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { corruptKeys, dumpNamespace, processesFor, mysql } from './drivers.js';

// Each open is a new DataSource (its own connection) on the namespace's tables.
const db = mysql();
const server = await checkServer(db.name, db.url, () => db.probe());

if (server.available) {
  afterAll(() => db.dispose());
  const cleanup = (namespace: string) => db.cleanup(namespace);
  const processes = processesFor(db);

  describeStorage('typeorm/mysql', {
    open: (namespace, name) => new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name }),
    processes,
    cleanup,
    corrupt: (namespace, name) => corruptKeys(db, namespace, name),
    // No interrupt hook: every test connection is root on the shared `test` database, so
    // KILL CONNECTION cannot pick out one namespace's connections without hitting others.
    // Schema v3 widened the key column to VARBINARY(1024): sealed keys fit.
    encryption: {
      open: (namespace, name, encryption) => new TypeormStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), name, encryption }),
      dump: (namespace) => dumpNamespace(db, namespace),
    },
  });

  describeSessionStorage('typeorm/mysql', {
    open: (namespace) => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace) }),
    openWithLifetime: (namespace, lifetime) => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace), ...lifetime }),
    processes,
    cleanup,
  });
}
