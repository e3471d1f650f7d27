import { fileURLToPath } from 'node:url';
import { checkServer, describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { dropSchema, probe, url } from './helpers.js';

const server = await checkServer('postgres', url, probe);

// Each kit namespace is its own schema; each open is a new pool on it.
const config = { connectionString: url, max: 5 };
// The kit's worker processes (crash and race traits) open the same schemas through this module.
const processes = { module: fileURLToPath(new URL('./children/kit-worker.mjs', import.meta.url)) };

if (server.available) {
  describeStorage('postgres', {
    open: (namespace, name) => new PostgresStorage({ config, schema: namespace, name }),
    cleanup: dropSchema,
    processes,
  });

  describeSessionStorage('postgres', {
    open: (namespace) => new PostgresSessionStorage({ config, schema: namespace }),
    cleanup: dropSchema,
    processes,
  });

  describeSessionEventBus('postgres', {
    open: (namespace) => new PostgresSessionEventBus({ connectionString: url, schema: namespace }),
    openStorage: (namespace) => new PostgresSessionStorage({ config, schema: namespace }),
    cleanup: dropSchema,
    capabilities: { crossProcess: true },
  });
}
