import { fileURLToPath } from 'node:url';
import { checkServer, describeSessionEventBus, describeSessionStorage, describeStorage } from '@mtstore/conformance/vitest';
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '../src/index.js';
import { applicationName, dropSchema, gone, probe, terminate, url } from './helpers.js';

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
    openWithLifetime: (namespace, lifetime) => new PostgresSessionStorage({ config, schema: namespace, ...lifetime }),
    cleanup: dropSchema,
    processes,
  });

  // Each bus has its own application_name, so interrupt() terminates that bus's backend only.
  const busNames = new WeakMap<object, string>();
  describeSessionEventBus('postgres', {
    open: (namespace) => {
      const name = applicationName('bus');
      const bus = new PostgresSessionEventBus({ config: { connectionString: url, application_name: name }, schema: namespace, onError: () => {} });
      busNames.set(bus, name);
      return bus;
    },
    openStorage: (namespace) => new PostgresSessionStorage({ config, schema: namespace }),
    cleanup: dropSchema,
    capabilities: { crossProcess: true },
    interrupt: async (bus) => {
      const pids = await terminate(busNames.get(bus) as string);
      if (pids.length === 0) throw new Error('the bus has no connection to terminate');
      await gone(pids);
    },
  });
}
