// One pg config field (argv[3], JSON) given to one constructor (argv[2]: storage, session
// or bus) of the built package, on the test server, in a process of its own: pg threw
// some mistakes (ssl: 'false') in its socket handler, which ended the process, so
// config-fields.test.ts sees such a crash as this child dying. Prints `refused <code>
// <message>` when the constructor throws, else `settled <code>` once the first
// operation (a load, or the bus's subscribe) settled; exits 0 either way.
import { PostgresSessionEventBus, PostgresSessionStorage, PostgresStorage } from '@mtstore/postgres';

const [, , kind, field] = process.argv;
const url = new URL(process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const config = { host: url.hostname, port: Number(url.port || 5432), user: decodeURIComponent(url.username), database: url.pathname.slice(1), ...JSON.parse(field) };
// No such schema, and create: false: nothing is created on the server.
const schema = 'mtstore_config_field_none';

let instance;
try {
  if (kind === 'storage') instance = new PostgresStorage({ config, schema, create: false });
  else if (kind === 'session') instance = new PostgresSessionStorage({ config, schema, create: false });
  else instance = new PostgresSessionEventBus({ config, schema, onError: () => {} });
} catch (error) {
  console.log(`refused ${error.code} ${error.message}`);
  process.exit(0);
}
let outcome;
try {
  if (kind === 'storage') await instance.load();
  else if (kind === 'session') await instance.hasSession(1n, 2n);
  else await (await instance.subscribe(() => {}))();
  outcome = 'ok';
} catch (error) {
  outcome = error.code ?? error.name;
}
await instance.close();
console.log(`settled ${outcome}`);
