import { checkServer, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { afterAll } from 'vitest';
import { TypeormSessionStorage, TypeormStorage } from '../src/index.js';
import { processesFor, mysql } from './drivers.js';

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
    // No `encryption`: on MySQL / MariaDB the key columns are VARBINARY(256) and a sealed
    // key (293+ bytes) does not fit (ER_DATA_TOO_LONG) until a schema version widens them.
  });

  describeSessionStorage('typeorm/mysql', {
    open: (namespace) => new TypeormSessionStorage({ options: db.options(namespace), tablePrefix: db.prefix(namespace) }),
    processes,
    cleanup,
  });
}
