import { checkServer } from '@mtstore/conformance/vitest';
import { describeSessionStorage, describeStorage, type Damage } from '@mtstore/conformance';
import { afterAll } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { corruptKeys, dropKitUser, dumpNamespace, interruptMysql, kitUserOptions, pooled, processesFor, mysql, TAMPER_SQL, tamperRows } from './drivers.js';
import { kitApi } from './kit-api.js';

// Each open is a new DataSource (its own connection) on the namespace's tables, logged
// in as the namespace's own user so the interrupt hook finds its connections (kitUser).
const db = pooled(mysql());
const server = await checkServer(db.name, db.url, () => db.probe());

if (server.available) {
  afterAll(() => db.dispose());
  const cleanup = async (namespace: string) => {
    await db.cleanup(namespace);
    await dropKitUser(db, namespace);
  };
  const processes = processesFor(db);
  const options = (namespace: string) => kitUserOptions(db, namespace);
  const interrupt = (namespace: string) => interruptMysql(db, namespace);

  describeStorage(kitApi, 'typeorm/mysql', {
    open: async (namespace, name) => new TypeormStorage({ options: await options(namespace), tablePrefix: db.forOpen(namespace), name }),
    openExisting: async (namespace, name) => new TypeormStorage({ options: await options(namespace), tablePrefix: db.forExisting(namespace), name, create: false }),
    processes,
    cleanup,
    corrupt: (namespace, name) => corruptKeys(db, namespace, name),
    interrupt,
    tamper: { kinds: Object.keys(TAMPER_SQL) as Damage[], apply: (namespace, name, damage) => tamperRows(db, namespace, name, damage) },
    // Schema v3 widened the key column to VARBINARY(1024): sealed keys fit.
    encryption: {
      open: async (namespace, name, encryption) => new TypeormStorage({ options: await options(namespace), tablePrefix: db.forOpen(namespace), name, encryption }),
      dump: (namespace) => dumpNamespace(db, namespace),
    },
  });

  describeSessionStorage(kitApi, 'typeorm/mysql', {
    open: async (namespace) => new TypeormSessionStorage({ options: await options(namespace), tablePrefix: db.forOpen(namespace) }),
    openExisting: async (namespace) => new TypeormSessionStorage({ options: await options(namespace), tablePrefix: db.forExisting(namespace), create: false }),
    openWithLifetime: async (namespace, lifetime) => new TypeormSessionStorage({ options: await options(namespace), tablePrefix: db.forOpen(namespace), ...lifetime }),
    processes,
    cleanup,
    interrupt,
  });
}
