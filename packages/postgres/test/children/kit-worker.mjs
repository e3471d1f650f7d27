// The kit's worker processes (crash and race traits) open the adapter here
// (processes.module in kit.ts): the same server and schema as the test's
// `open`, from the built package, on the URL the test process passes down in POSTGRES_URL.
import { PostgresSessionStorage, PostgresStorage } from '@mtstore/postgres';

const url = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const config = { connectionString: url, max: 5 };

export const openStorage = (namespace, name) => new PostgresStorage({ config, schema: namespace, name });
export const openSessionStorage = (namespace) => new PostgresSessionStorage({ config, schema: namespace });
